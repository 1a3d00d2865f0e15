//! What a typed parse changed: compares a document as written with the
//! same document re-serialized from the typed structs, and describes each
//! difference (unknown fields that were ignored, integers written as
//! strings, spellings that were canonicalized). Absent, `null`, `[]` and
//! `{}` are treated as equal, as Cilium does.

use serde_json::Value;

fn is_emptyish(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_emptyish),
        _ => false,
    }
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(57).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

/// Differences between `written` and `canonical`, one sentence each,
/// prefixed with the path of the field (`spec.ingress[0].toPorts`).
pub(crate) fn describe(written: &Value, canonical: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", written, canonical, &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(path: &str, w: &Value, c: &Value, out: &mut Vec<String>) {
    match (w, c) {
        (Value::Object(wo), Value::Object(co)) => {
            for (k, wv) in wo {
                let p = join(path, k);
                match co.get(k) {
                    Some(cv) => walk(&p, wv, cv, out),
                    None if is_emptyish(wv) => {}
                    None => out.push(format!("{p}: unknown field ignored")),
                }
            }
            for (k, cv) in co {
                if !wo.contains_key(k) && !is_emptyish(cv) {
                    out.push(format!("{}: added as {}", join(path, k), show(cv)));
                }
            }
        }
        (Value::Array(wa), Value::Array(ca)) if wa.len() == ca.len() => {
            for (i, (wv, cv)) in wa.iter().zip(ca).enumerate() {
                walk(&format!("{path}[{i}]"), wv, cv, out);
            }
        }
        (Value::Number(n), Value::String(s)) if n.to_string() == *s => {
            out.push(format!("{path}: integer {n} read as string \"{s}\""));
        }
        (Value::String(a), Value::String(b)) if a != b && a.eq_ignore_ascii_case(b) => {
            out.push(format!("{path}: \"{a}\" read as \"{b}\""));
        }
        _ if w == c || (is_emptyish(w) && is_emptyish(c)) => {}
        _ => out.push(format!("{path}: {} read as {}", show(w), show(c))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_unknown_fields_ints_and_case() {
        let w = json!({"spec": {"endpointSelector": {"matchLabel": {"a": "b"}, "matchLabels": {}},
            "ingress": [{"toPorts": [{"ports": [{"port": 80, "protocol": "tcp"}]}]}], "egress": []}});
        let c = json!({"spec": {"endpointSelector": {},
            "ingress": [{"toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]}]}});
        assert_eq!(
            describe(&w, &c),
            vec![
                "spec.endpointSelector.matchLabel: unknown field ignored",
                "spec.ingress[0].toPorts[0].ports[0].port: integer 80 read as string \"80\"",
                "spec.ingress[0].toPorts[0].ports[0].protocol: \"tcp\" read as \"TCP\"",
            ]
        );
        assert!(describe(&c, &c).is_empty());
    }
}
