//! Fingerprints of what a policy allows, so a refresh can tell "the same
//! intent" from "changed" without looking at evidence counters or
//! descriptions, and tell generated rules from rules added by hand.
//!
//! Everything works on JSON values with keys sorted at every level (so it
//! does not depend on serde_json's map order), hashed with 64-bit FNV-1a:
//! stable across runs, platforms and Rust versions.

use std::collections::BTreeSet;

use serde_json::Value;

/// Annotation holding the hash of the generated allowed set.
pub const ALLOWED_HASH: &str = "flowpolicy.io/allowed-hash";
/// Annotation listing the hashes of the generated rules.
pub const GENERATED_RULES: &str = "flowpolicy.io/generated-rules";
/// The label that marks a document as written by flowpolicy.
pub const MANAGED_BY: (&str, &str) = crate::synth::MANAGED_BY;

/// Rule lists a policy document can carry, in each spec.
pub const RULE_KEYS: [&str; 4] = ["ingress", "ingressDeny", "egress", "egressDeny"];

/// Compact JSON with object keys sorted at every level. serde_json's maps
/// are sorted (`BTreeMap`: the `preserve_order` feature is off, which a unit
/// test below guards), so its compact text already is canonical.
pub fn canonical(v: &Value) -> String {
    serde_json::to_string(v).expect("a JSON value always serializes")
}

/// 64-bit FNV-1a.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = Fnv::new();
    h.add(bytes);
    h.0
}

/// 64-bit FNV-1a of everything written to it (JSON streams straight in,
/// with no text built).
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn add(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The compact JSON text of a value (canonical, see [`canonical`]),
    /// written out in `buf` first: one call instead of a write per token.
    fn text<T: serde::Serialize + ?Sized>(&mut self, buf: &mut Vec<u8>, v: &T) {
        write_json(buf, v);
        self.add(buf);
    }
}

impl std::io::Write for Fnv {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.add(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The specs of a policy document: `spec` and every `specs[]` entry.
pub fn specs(doc: &Value) -> Vec<&Value> {
    let mut out: Vec<&Value> = doc.get("spec").into_iter().collect();
    if let Some(Value::Array(a)) = doc.get("specs") {
        out.extend(a.iter());
    }
    out
}

/// The hash of what a document allows: kind, namespace, name and its specs
/// without `description` (which carries evidence counters); the canonical
/// text of `{"kind":…,"name":…,"namespace":…,"specs":[…]}`, written without
/// copying the specs.
pub fn allowed_hash(doc: &Value) -> String {
    fingerprints(doc).0
}

/// [`allowed_hash`] and [`rule_hashes`] of a document in one walk: each rule
/// is written out once, into a reused buffer, and that text feeds both its
/// own hash and the document's (the same bytes, so the same hashes, as the
/// two walks gave: a unit test checks both against their texts).
pub fn fingerprints(doc: &Value) -> (String, Vec<String>) {
    let null = Value::Null;
    let mut buf = Vec::with_capacity(1024);
    let mut h = Fnv::new();
    h.add(b"{\"kind\":");
    h.text(&mut buf, doc.get("kind").unwrap_or(&null));
    h.add(b",\"name\":");
    h.text(&mut buf, doc.pointer("/metadata/name").unwrap_or(&null));
    h.add(b",\"namespace\":");
    h.text(
        &mut buf,
        doc.pointer("/metadata/namespace").unwrap_or(&null),
    );
    h.add(b",\"specs\":[");
    let mut rules = Vec::new();
    for (i, spec) in specs(doc).into_iter().enumerate() {
        if i > 0 {
            h.add(b",");
        }
        let Value::Object(m) = spec else {
            h.text(&mut buf, spec);
            continue;
        };
        // Rule hashes go in RULE_KEYS order; the map's keys are sorted.
        let mut by_key: [Vec<String>; RULE_KEYS.len()] = Default::default();
        h.add(b"{");
        for (n, (k, v)) in m.iter().filter(|(k, _)| *k != "description").enumerate() {
            if n > 0 {
                h.add(b",");
            }
            h.text(&mut buf, k);
            h.add(b":");
            let slot = RULE_KEYS.iter().position(|r| r == k);
            match (slot, v) {
                (Some(slot), Value::Array(list)) => {
                    h.add(b"[");
                    for (j, rule) in list.iter().enumerate() {
                        if j > 0 {
                            h.add(b",");
                        }
                        write_json(&mut buf, rule);
                        let mut r = rule_hasher(i, RULE_KEYS[slot]);
                        add_to_both(&mut h, &mut r, &buf);
                        by_key[slot].push(rule_hash_text(&r));
                    }
                    h.add(b"]");
                }
                _ => h.text(&mut buf, v),
            }
        }
        h.add(b"}");
        rules.extend(by_key.into_iter().flatten());
    }
    h.add(b"]}");
    (format!("{:016x}", h.0), rules)
}

/// The compact (canonical) JSON text of a value, in `buf` (emptied first).
fn write_json(buf: &mut Vec<u8>, v: &(impl serde::Serialize + ?Sized)) {
    buf.clear();
    serde_json::to_writer(&mut *buf, v).expect("a JSON value always serializes");
}

/// A rule's hasher, fed its prefix `{spec_index}/{key}/`.
fn rule_hasher(spec_index: usize, key: &str) -> Fnv {
    use std::io::Write as _;
    let mut h = Fnv::new();
    let _ = write!(h, "{spec_index}/{key}/");
    h
}

/// A rule hash as written: the low 32 bits, in hex.
fn rule_hash_text(h: &Fnv) -> String {
    format!("{:08x}", h.0 as u32)
}

/// The same bytes into two hashers in one pass: their two chains of
/// multiplications overlap in the core, so a rule's text costs the time of
/// one hash, not two (the document's and its own).
fn add_to_both(a: &mut Fnv, b: &mut Fnv, bytes: &[u8]) {
    let (mut x, mut y) = (a.0, b.0);
    for byte in bytes {
        x = (x ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        y = (y ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
    }
    (a.0, b.0) = (x, y);
}

/// The hash of one rule under its list's key (`ingress`, `egress`, …) and
/// spec index: of the text `{spec_index}/{key}/{canonical rule}`.
pub fn rule_hash(spec_index: usize, key: &str, rule: &Value) -> String {
    let mut h = rule_hasher(spec_index, key);
    h.add(canonical(rule).as_bytes());
    rule_hash_text(&h)
}

/// One rule of a document, with where it sits.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleRef {
    pub spec_index: usize,
    pub key: &'static str,
    pub rule: Value,
    pub hash: String,
}

/// Every rule of a document, in order.
pub fn rules(doc: &Value) -> Vec<RuleRef> {
    let mut out = Vec::new();
    for (i, spec) in specs(doc).into_iter().enumerate() {
        for key in RULE_KEYS {
            if let Some(Value::Array(list)) = spec.get(key) {
                for r in list {
                    out.push(RuleRef {
                        spec_index: i,
                        key,
                        hash: rule_hash(i, key, r),
                        rule: r.clone(),
                    });
                }
            }
        }
    }
    out
}

/// The hashes of every rule of a document, in order ([`rules`] without
/// copying them).
pub fn rule_hashes(doc: &Value) -> Vec<String> {
    fingerprints(doc).1
}

/// The rule hashes recorded in a document's annotation.
pub fn recorded_rules(doc: &Value) -> BTreeSet<String> {
    annotation(doc, GENERATED_RULES)
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// A document's annotation.
pub fn annotation<'a>(doc: &'a Value, key: &str) -> Option<&'a str> {
    doc.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// Whether flowpolicy wrote this document (its `managed-by` label).
pub fn is_generated(doc: &Value) -> bool {
    doc.pointer("/metadata/labels")
        .and_then(|l| l.get(MANAGED_BY.0))
        .and_then(Value::as_str)
        == Some(MANAGED_BY.1)
}

/// What one rule allows, as `(peer, port)` atoms for a change summary:
/// every peer entry (selectors, entities, CIDRs, names, ipBlocks) times every
/// port entry (or `any port`).
pub fn atoms(key: &str, rule: &Value) -> BTreeSet<String> {
    let Value::Object(m) = rule else {
        return BTreeSet::new();
    };
    let mut peers: Vec<String> = Vec::new();
    let mut ports: Vec<String> = Vec::new();
    for (k, v) in m {
        match k.as_str() {
            "toPorts" => {
                for pr in v.as_array().into_iter().flatten() {
                    for p in pr
                        .get("ports")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        ports.push(port_text(p));
                    }
                    if let Some(r) = pr.get("rules") {
                        ports.push(format!("L7 {}", canonical(r)));
                    }
                }
            }
            "ports" => ports.extend(v.as_array().into_iter().flatten().map(port_text)),
            "icmps" => {
                for i in v.as_array().into_iter().flatten() {
                    for f in i
                        .get("fields")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        ports.push(format!("ICMP {}", canonical(f)));
                    }
                }
            }
            _ => match v {
                Value::Array(list) => {
                    peers.extend(list.iter().map(|x| format!("{k} {}", short(x))))
                }
                other => peers.push(format!("{k} {}", short(other))),
            },
        }
    }
    if peers.is_empty() {
        peers.push("any peer".into());
    }
    if ports.is_empty() {
        ports.push("any port".into());
    }
    let mut out = BTreeSet::new();
    for peer in &peers {
        for port in &ports {
            out.insert(format!("{key} {peer} {port}"));
        }
    }
    out
}

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => canonical(other),
    }
}

fn port_text(p: &Value) -> String {
    let get = |k: &str| p.get(k).map(short);
    let port = get("port").unwrap_or_else(|| "any".into());
    let proto = get("protocol").unwrap_or_else(|| "ANY".into());
    match get("endPort") {
        Some(end) => format!("{port}-{end}/{proto}"),
        None => format!("{port}/{proto}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hashes_ignore_key_order_and_descriptions() {
        let a = json!({"kind": "K", "metadata": {"name": "a", "annotations": {"flowpolicy.io/flows": "1"}},
            "spec": {"description": "one", "ingress": [{"fromEntities": ["world"], "toPorts": []}]}});
        let b = json!({"metadata": {"name": "a", "annotations": {"flowpolicy.io/flows": "9"}}, "kind": "K",
            "spec": {"ingress": [{"toPorts": [], "fromEntities": ["world"]}], "description": "two"}});
        assert_eq!(allowed_hash(&a), allowed_hash(&b));
        let c = json!({"kind": "K", "metadata": {"name": "a"}, "spec": {"ingress": [{"fromEntities": ["host"]}]}});
        assert_ne!(allowed_hash(&a), allowed_hash(&c));
        assert_eq!(rules(&a)[0].hash, rules(&b)[0].hash);
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }

    #[test]
    fn canonical_text_sorts_keys_whatever_their_insertion_order() {
        // Fails if serde_json's `preserve_order` feature is ever switched on
        // (by any crate in the build): every stored hash would then change.
        let mut m = serde_json::Map::new();
        for k in ["z", "b\"q", "a"] {
            m.insert(k.into(), json!({"y": [1, "x"], "c": null}));
        }
        assert_eq!(
            canonical(&Value::Object(m)),
            r#"{"a":{"c":null,"y":[1,"x"]},"b\"q":{"c":null,"y":[1,"x"]},"z":{"c":null,"y":[1,"x"]}}"#
        );
        let doc = json!({"kind": "CiliumNetworkPolicy", "metadata": {"name": "a", "namespace": "n"},
            "spec": {"description": "d", "egress": [{"toEntities": ["world"]}]}});
        // The hash stored in trees written before (pinned).
        assert_eq!(allowed_hash(&doc), "46e683f2dac647b2");
    }

    /// The one-walk hashes are those of their texts: the document's
    /// canonical `{"kind","name","namespace","specs"}` less spec
    /// descriptions, and each rule's `{spec}/{key}/{canonical rule}`, in
    /// spec then RULE_KEYS order.
    #[test]
    fn one_walk_gives_the_hashes_of_the_texts() {
        let docs = [
            json!({"kind": "CiliumNetworkPolicy", "metadata": {"name": "a", "namespace": "n"},
                "spec": {"description": "d", "endpointSelector": {"matchLabels": {"app": "a"}},
                    "ingress": [{"fromEntities": ["world"]}, {"fromEndpoints": [{}], "toPorts": [{"ports": [{"port": "80"}]}]}],
                    "egressDeny": [{"toEntities": ["host"]}], "egress": [{"toEntities": ["cluster"]}],
                    "ingressDeny": [], "enableDefaultDeny": {"egress": false}}}),
            json!({"kind": "CiliumClusterwideNetworkPolicy", "metadata": {"name": "c"},
                "specs": [{"egress": [{"toEntities": ["kube-apiserver"]}]}, "odd", {"ingress": "not a list"}]}),
            json!({"kind": "NetworkPolicy", "metadata": {"name": "k", "namespace": "n"}, "spec": {"podSelector": {}}}),
        ];
        for doc in &docs {
            let mut specs_text: Vec<Value> = Vec::new();
            let mut want_rules = Vec::new();
            for (i, spec) in specs(doc).into_iter().enumerate() {
                let mut spec = spec.clone();
                if let Value::Object(m) = &mut spec {
                    m.remove("description");
                }
                for key in RULE_KEYS {
                    if let Some(Value::Array(list)) = spec.get(key) {
                        for r in list {
                            let text = format!("{i}/{key}/{}", canonical(r));
                            want_rules.push(format!("{:08x}", fnv1a(text.as_bytes()) as u32));
                        }
                    }
                }
                specs_text.push(spec);
            }
            let whole = json!({"kind": doc["kind"], "name": doc["metadata"]["name"],
                "namespace": doc["metadata"]["namespace"], "specs": specs_text});
            let want_allowed = format!("{:016x}", fnv1a(canonical(&whole).as_bytes()));
            assert_eq!(
                fingerprints(doc),
                (want_allowed, want_rules.clone()),
                "{doc}"
            );
            let refs: Vec<String> = rules(doc).into_iter().map(|r| r.hash).collect();
            assert_eq!(refs, want_rules);
        }
        assert_eq!(rule_hashes(&docs[0]).len(), 4);
    }

    #[test]
    fn atoms_cross_peers_and_ports() {
        let r = json!({"toEndpoints": [{"matchLabels": {"app": "db"}}],
            "toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}, {"port": "6432", "protocol": "TCP"}]}]});
        let a = atoms("egress", &r);
        assert_eq!(a.len(), 2);
        assert!(
            a.contains("egress toEndpoints {\"matchLabels\":{\"app\":\"db\"}} 5432/TCP"),
            "{a:?}"
        );
        let k = json!({"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 80, "endPort": 90, "protocol": "TCP"}]});
        assert!(atoms("ingress", &k)
            .contains("ingress from {\"ipBlock\":{\"cidr\":\"10.0.0.0/8\"}} 80-90/TCP"));
    }
}
