//! The self-check before anything is written: every generated document must
//! pass the CRD schema of its kind (the vendored `schemas/`, in their flat
//! form `schemas/flat/`, compiled into validators when flowpolicy is built:
//! nothing is compiled at run time) and the checks the API server
//! adds on top of it (object names, namespaces, label and selector syntax),
//! and no two documents may share a name (or, for whole texts, a file). The
//! first failure, in document order, names the document and the JSON pointer
//! of the field; nothing is written then (`--out` goes through a temporary
//! directory anyway, stdout is never started).
//!
//! Generated policies are checked as the JSON value of their typed document
//! ([`check_value`]: the exact fields the YAML emitter writes, stamps
//! included; `output` checks each file's as it stamps them), not read back
//! from their text: that the emitter
//! writes text Kubernetes reads back as the same value is the emitter's own
//! property, tested over every generated document and arbitrary strings
//! (`policy::yaml`). Rendered texts are read back first ([`check_documents`]: the
//! tests check whole streams with it).
//! Documents are checked on every core ([`super::parallel`]).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::parallel;
use super::yaml::Document;
use crate::policy::names::{
    is_dns1123_label, is_dns1123_subdomain, is_label_key, is_label_value, is_selector_key, shown,
};

/// Longest schema message shown (the schema crate quotes whole values).
const MAX_MESSAGE: usize = 300;

/// A document that would be rejected: which one, which field, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    pub path: String,
    pub kind: String,
    /// `namespace/name`, or `name` for cluster-scoped kinds.
    pub object: String,
    /// JSON pointer of the failing field (`/metadata/name`).
    pub pointer: String,
    pub message: String,
}

/// Which object a document is: kind, namespace, name.
pub type ObjectKey = (String, String, String);

/// Checks every YAML document, read back from its text (other files, e.g.
/// ROLLOUT.md, are not policies); no two may go to the same file.
pub fn check_documents(docs: &[Document]) -> Result<(), CheckError> {
    let checked = parallel::map(docs, |d| {
        let path = d.path.display().to_string();
        if d.path.extension().is_none_or(|e| e != "yaml") {
            return Ok(None);
        }
        let value: Value = serde_yaml::from_str(&d.text)
            .map_err(|e| fail(&path, "", "", "", &format!("not readable YAML: {e}")))?;
        check_value(&path, &value).map(Some)
    });
    let mut paths: BTreeSet<&Path> = BTreeSet::new();
    let mut objects: BTreeSet<ObjectKey> = BTreeSet::new();
    for (d, result) in docs.iter().zip(checked) {
        if !paths.insert(d.path.as_path()) {
            return Err(fail(
                &d.path.display().to_string(),
                "",
                "",
                "",
                "two documents would be written to this file",
            ));
        }
        if let Some(key) = result? {
            unique(&d.path, key, &mut objects)?;
        }
    }
    Ok(())
}

/// What checking one document gave: its object key, or its first problem.
pub type Checked = Result<ObjectKey, CheckError>;

/// The first failure of documents checked one by one ([`check_value`]), in
/// their order, or the first object seen twice (each with its file).
pub fn first_failure<'a>(
    checked: impl IntoIterator<Item = (&'a Path, &'a Checked)>,
) -> Result<(), CheckError> {
    let mut objects: BTreeSet<ObjectKey> = BTreeSet::new();
    for (path, result) in checked {
        unique(path, result.clone()?, &mut objects)?;
    }
    Ok(())
}

/// One document's value (going to `path`): its object key, or the first
/// problem.
pub fn check_value(path: &str, value: &Value) -> Checked {
    let kind = value["kind"].as_str().unwrap_or_default().to_string();
    let name = value["metadata"]["name"].as_str().unwrap_or_default();
    let namespace = value["metadata"]["namespace"].as_str().unwrap_or_default();
    let object = if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    };
    check_document(value, &kind).map_err(|(p, m)| fail(path, &kind, &object, &p, &m))?;
    Ok((kind, namespace.to_string(), name.to_string()))
}

/// Refuses a second document with the same kind, namespace and name.
fn unique(path: &Path, key: ObjectKey, seen: &mut BTreeSet<ObjectKey>) -> Result<(), CheckError> {
    if seen.contains(&key) {
        let (kind, namespace, name) = key;
        let object = if namespace.is_empty() {
            name
        } else {
            format!("{namespace}/{name}")
        };
        return Err(fail(
            &path.display().to_string(),
            &kind,
            &object,
            "/metadata/name",
            "another document has the same kind, namespace and name",
        ));
    }
    seen.insert(key);
    Ok(())
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.kind.is_empty() {
            write!(
                f,
                "refusing to write anything: {}: {}",
                self.path, self.message
            )
        } else {
            write!(
                f,
                "refusing to write anything: {} ({} {}) is invalid at {}: {}",
                self.path, self.kind, self.object, self.pointer, self.message
            )
        }
    }
}

impl std::error::Error for CheckError {}

impl CheckError {
    /// The same failure, in the file at `path` (for a document checked
    /// before its file was known).
    pub fn in_file(mut self, path: &str) -> CheckError {
        self.path = path.to_string();
        self
    }
}

fn fail(path: &str, kind: &str, object: &str, pointer: &str, message: &str) -> CheckError {
    CheckError {
        path: path.to_string(),
        kind: kind.to_string(),
        object: object.to_string(),
        pointer: if pointer.is_empty() {
            "/".into()
        } else {
            pointer.into()
        },
        message: message.to_string(),
    }
}

/// One document: `Err((pointer, message))` for the first problem.
pub fn check_document(doc: &Value, kind: &str) -> Result<(), (String, String)> {
    // The fast yes/no first; the error itself only for a failing document.
    let first_error = match kind {
        // The vendored CCNP schema, less its descriptions, is the CNP one
        // (a test pins it): one validator serves both while that holds.
        "CiliumNetworkPolicy" | "CiliumClusterwideNetworkPolicy" => {
            (!CiliumPolicySchema::is_valid(doc)).then(|| CiliumPolicySchema::validate(doc).err())
        }
        "NetworkPolicy" => {
            (!NetworkPolicySchema::is_valid(doc)).then(|| NetworkPolicySchema::validate(doc).err())
        }
        _ => {
            return Err((
                "/kind".into(),
                format!("no schema for kind {}", shown(kind)),
            ))
        }
    };
    if let Some(e) = first_error.flatten() {
        let mut message = e.to_string();
        if message.chars().count() > MAX_MESSAGE {
            message = message.chars().take(MAX_MESSAGE).collect::<String>() + "…";
        }
        return Err((e.instance_path().to_string(), message));
    }
    let namespaced = kind != "CiliumClusterwideNetworkPolicy";
    check_metadata(&doc["metadata"], namespaced)?;
    check_selectors(&doc["spec"], "/spec")?;
    if let Some(specs) = doc["specs"].as_array() {
        for (i, spec) in specs.iter().enumerate() {
            check_selectors(spec, &format!("/specs/{i}"))?;
        }
    }
    Ok(())
}

/// What the API server checks in `metadata` and the CRD schema does not.
fn check_metadata(meta: &Value, namespaced: bool) -> Result<(), (String, String)> {
    let name = meta["name"].as_str().unwrap_or_default();
    if !is_dns1123_subdomain(name) {
        return Err((
            "/metadata/name".into(),
            format!("{} is not an RFC 1123 subdomain (at most 253 lower-case letters, digits, '-' or '.')", shown(name)),
        ));
    }
    match (namespaced, meta["namespace"].as_str()) {
        (true, Some(ns)) if is_dns1123_label(ns) => {}
        (true, ns) => {
            return Err((
                "/metadata/namespace".into(),
                format!(
                    "{} is not an RFC 1123 label (at most 63 lower-case letters, digits or '-')",
                    shown(ns.unwrap_or_default())
                ),
            ))
        }
        (false, Some(_)) => {
            return Err((
                "/metadata/namespace".into(),
                "a cluster-scoped object has no namespace".into(),
            ))
        }
        (false, None) => {}
    }
    if let Some(labels) = meta["labels"].as_object() {
        for (k, v) in labels {
            let value = v.as_str().unwrap_or_default();
            if !is_label_key(k) || !is_label_value(value) {
                return Err((
                    format!("/metadata/labels/{}", escape_pointer(k)),
                    format!("{}={} is not a Kubernetes label", shown(k), shown(value)),
                ));
            }
        }
    }
    if let Some(annotations) = meta["annotations"].as_object() {
        for k in annotations.keys() {
            if !is_label_key(k) {
                return Err((
                    format!("/metadata/annotations/{}", escape_pointer(k)),
                    format!("{} is not an annotation key", shown(k)),
                ));
            }
        }
    }
    Ok(())
}

/// Every `matchLabels` key and value and `matchExpressions` key anywhere
/// below `v` (the schema checks values, not keys); the first problem with
/// its pointer, `base` followed by the path to it.
fn check_selectors(v: &Value, base: &str) -> Result<(), (String, String)> {
    let Some(problem) = selector_problem(v) else {
        return Ok(());
    };
    let mut pointer = base.to_string();
    for part in problem.path.iter().rev() {
        pointer.push('/');
        push_escaped(&mut pointer, part);
    }
    Err((pointer, problem.message))
}

/// A selector problem: the path to it, innermost part first (built only
/// on the way back from a problem: keeping a pointer at every step of the
/// walk was most of the check's own cost), and what is wrong.
struct SelectorProblem {
    path: Vec<String>,
    message: String,
}

fn selector_problem(v: &Value) -> Option<SelectorProblem> {
    match v {
        Value::Object(map) => map.iter().find_map(|(k, child)| {
            let mut problem = match (k.as_str(), child) {
                ("matchLabels", Value::Object(labels)) => labels.iter().find_map(|(key, value)| {
                    let value = value.as_str().unwrap_or_default();
                    (!is_selector_key(key) || !is_label_value(value)).then(|| SelectorProblem {
                        path: vec![key.clone()],
                        message: format!(
                            "{}: {} is not a label selector",
                            shown(key),
                            shown(value)
                        ),
                    })
                }),
                ("matchExpressions", Value::Array(exprs)) => {
                    exprs.iter().enumerate().find_map(|(i, e)| {
                        let key = e["key"].as_str().unwrap_or_default();
                        (!is_selector_key(key)).then(|| SelectorProblem {
                            path: vec!["key".into(), i.to_string()],
                            message: format!("{} is not a label key", shown(key)),
                        })
                    })
                }
                _ => selector_problem(child),
            }?;
            problem.path.push(k.clone());
            Some(problem)
        }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, child)| {
            let mut problem = selector_problem(child)?;
            problem.path.push(i.to_string());
            Some(problem)
        }),
        _ => None,
    }
}

/// RFC 6901: `~` → `~0`, `/` → `~1`.
fn escape_pointer(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    push_escaped(&mut out, key);
    out
}

/// [`escape_pointer`] onto the end of a pointer.
fn push_escaped(pointer: &mut String, key: &str) {
    for c in key.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// The schemas, compiled into validators when flowpolicy is built (no
/// compile at run time; `jsonschema`'s generated validators also check
/// faster than its run-time ones). The CRD schemas carry no `$schema`; they
/// use only keywords whose meaning is the same in every draft since 4
/// (type, properties, items, additionalProperties, required, enum, pattern,
/// lengths, bounds, oneOf/anyOf), so the draft is stated. They are compiled
/// in their flat form (`schema_flat`: the same meaning, a reference per
/// repeated subschema, rewritten once and kept in `schemas/flat/`): 14 KB
/// of schema instead of 400 KB to expand.
#[jsonschema::validator(
    path = "schemas/flat/ciliumnetworkpolicy_v2.json",
    draft = Draft201909
)]
struct CiliumPolicySchema;

#[jsonschema::validator(path = "schemas/flat/networkpolicy_v1.json", draft = Draft201909)]
struct NetworkPolicySchema;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    fn doc(path: &str, text: &str) -> Document {
        Document {
            path: PathBuf::from(path),
            text: text.to_string(),
        }
    }

    fn cnp(namespace: &str, name: &str, spec: &str) -> String {
        format!(
            "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n{spec}"
        )
    }

    const SPEC: &str = "  endpointSelector:\n    matchLabels:\n      app: web\n  egress:\n  - toFQDNs:\n    - matchName: api.github.com\n";

    fn refused(docs: &[Document]) -> String {
        check_documents(docs).unwrap_err().to_string()
    }

    /// One validator checks both Cilium kinds: that holds only while
    /// their schemas are the same.
    #[test]
    fn one_schema_serves_both_cilium_kinds_while_they_are_the_same() {
        assert_eq!(
            include_str!("../../schemas/flat/ciliumnetworkpolicy_v2.json"),
            include_str!("../../schemas/flat/ciliumclusterwidenetworkpolicy_v2.json")
        );
    }

    /// Each kind is checked against its own schema; a kind without one is
    /// refused by name.
    #[test]
    fn each_kind_is_checked_against_its_own_schema() {
        let np = |selector: &str| {
            format!("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  podSelector: {selector}\n  policyTypes:\n  - Ingress\n")
        };
        let ccnp = format!(
            "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata:\n  name: dns\nspec:\n{SPEC}"
        );
        assert_eq!(
            check_documents(&[
                doc("shop/web.yaml", &np("{}")),
                doc("cluster/dns.yaml", &ccnp)
            ]),
            Ok(())
        );
        let err = check_documents(&[doc("shop/web.yaml", &np("web"))]).unwrap_err();
        assert_eq!(
            (err.kind.as_str(), err.pointer.as_str()),
            ("NetworkPolicy", "/spec/podSelector"),
            "{err}"
        );
        let other =
            cnp("shop", "web", SPEC).replace("CiliumNetworkPolicy", "CiliumEgressGatewayPolicy");
        let err = check_documents(&[doc("shop/web.yaml", &other)]).unwrap_err();
        assert_eq!(err.pointer, "/kind");
        assert!(err.message.contains("no schema for kind"), "{err}");
    }

    #[test]
    fn valid_documents_pass() {
        let docs = [
            doc("shop/web.yaml", &cnp("shop", "web", SPEC)),
            doc("ROLLOUT.md", "# not a policy"),
        ];
        assert_eq!(check_documents(&docs), Ok(()));
    }

    #[test]
    fn schema_failures_name_the_document_and_the_field() {
        let spec = SPEC.replace("api.github.com", "api github.com");
        assert_eq!(
            refused(&[doc("shop/web.yaml", &cnp("shop", "web", &spec))]),
            r#"refusing to write anything: shop/web.yaml (CiliumNetworkPolicy shop/web) is invalid at /spec/egress/0/toFQDNs/0/matchName: "api github.com" does not match "^([-a-zA-Z0-9_]+[.]?)+$""#
        );
    }

    #[test]
    fn names_namespaces_and_selector_keys_are_checked() {
        assert_eq!(
            refused(&[doc("shop/web.yaml", &cnp("shop", "Web_1", SPEC))]),
            r#"refusing to write anything: shop/web.yaml (CiliumNetworkPolicy shop/Web_1) is invalid at /metadata/name: "Web_1" is not an RFC 1123 subdomain (at most 253 lower-case letters, digits, '-' or '.')"#
        );
        assert_eq!(
            refused(&[doc("x/web.yaml", &cnp("'a b'", "web", SPEC))]),
            r#"refusing to write anything: x/web.yaml (CiliumNetworkPolicy a b/web) is invalid at /metadata/namespace: "a b" is not an RFC 1123 label (at most 63 lower-case letters, digits or '-')"#
        );
        let spec = SPEC.replace("app: web", "'k8s:a b': web");
        assert_eq!(
            refused(&[doc("shop/web.yaml", &cnp("shop", "web", &spec))]),
            r#"refusing to write anything: shop/web.yaml (CiliumNetworkPolicy shop/web) is invalid at /spec/endpointSelector/matchLabels/k8s:a b: "k8s:a b": "web" is not a label selector"#
        );
    }

    /// A selector problem deep in a document is named by its whole pointer:
    /// array positions, `specs`, and keys with `/` escaped.
    #[test]
    fn selector_problems_are_named_by_their_whole_pointer() {
        let good = json!({"matchLabels": {"app.kubernetes.io/name": "db"}});
        let bad_value = json!({"matchLabels": {"app.kubernetes.io/name": "not ok"}});
        let bad_key = json!({"matchExpressions": [
            {"key": "app", "operator": "Exists"}, {"key": "a b", "operator": "Exists"}]});
        let spec = |peer: Value| json!({"ingress": [{"fromEndpoints": [good.clone()]}, {"fromEndpoints": [good.clone(), peer]}]});
        assert_eq!(check_selectors(&spec(good.clone()), "/spec"), Ok(()));
        assert_eq!(
            check_selectors(&spec(bad_value), "/spec").unwrap_err().0,
            "/spec/ingress/1/fromEndpoints/1/matchLabels/app.kubernetes.io~1name"
        );
        assert_eq!(
            check_selectors(&spec(bad_key), "/specs/2"),
            Err((
                "/specs/2/ingress/1/fromEndpoints/1/matchExpressions/1/key".to_string(),
                r#""a b" is not a label key"#.to_string()
            ))
        );
    }

    #[test]
    fn names_and_files_are_unique() {
        let a = doc("shop/web.yaml", &cnp("shop", "web", SPEC));
        let b = doc("shop/web-2.yaml", &cnp("shop", "web", SPEC));
        assert_eq!(
            refused(&[a.clone(), b]),
            "refusing to write anything: shop/web-2.yaml (CiliumNetworkPolicy shop/web) is invalid at /metadata/name: another document has the same kind, namespace and name"
        );
        assert_eq!(
            refused(&[a.clone(), a]),
            "refusing to write anything: shop/web.yaml: two documents would be written to this file"
        );
    }
}
