//! YAML output that Kubernetes reads back exactly as written.
//!
//! `serde_yaml` (serde_norway) quotes only what YAML 1.2 would misread:
//! it writes the label value `"on"` as plain `on`, and likewise `yes`,
//! `y`, `off`, `no` and dates. Kubernetes decodes YAML with YAML 1.1 rules,
//! reads those as booleans or timestamps, and rejects the object. This
//! emitter writes block-style YAML in the field order of the structs and
//! leaves a string unquoted only when it cannot be read as anything but a
//! string; everything else is single- or double-quoted.

use std::fmt::Write as _;

use serde::Serialize;
use serde_yaml::Value;

/// Serializes one value as a YAML document (no leading `---`).
pub fn to_yaml<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_yaml::Error> {
    let v = serde_yaml::to_value(value)?;
    let mut out = String::new();
    match &v {
        Value::Mapping(m) if !m.is_empty() => emit_mapping(m, 0, &mut out),
        Value::Sequence(s) if !s.is_empty() => emit_sequence(s, 0, &mut out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    Ok(out)
}

/// Serializes several values as one multi-document stream, each document
/// introduced by `---`.
pub fn to_yaml_stream<'a, T, I>(values: I) -> Result<String, serde_yaml::Error>
where
    T: Serialize + 'a,
    I: IntoIterator<Item = &'a T>,
{
    let mut out = String::new();
    for v in values {
        out.push_str("---\n");
        out.push_str(&to_yaml(v)?);
    }
    Ok(out)
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Mapping(m) => !m.is_empty(),
        Value::Sequence(s) => !s.is_empty(),
        Value::Tagged(t) => is_block(&t.value),
        _ => false,
    }
}

fn emit_mapping(m: &serde_yaml::Mapping, indent: usize, out: &mut String) {
    for (k, v) in m {
        out.push_str(&" ".repeat(indent));
        out.push_str(&scalar(k));
        out.push(':');
        emit_value_after_key(v, indent, out);
    }
}

fn emit_value_after_key(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Mapping(m) if !m.is_empty() => {
            out.push('\n');
            emit_mapping(m, indent + 2, out);
        }
        Value::Sequence(s) if !s.is_empty() => {
            out.push('\n');
            emit_sequence(s, indent, out);
        }
        Value::Tagged(t) if is_block(&t.value) => emit_value_after_key(&t.value, indent, out),
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn emit_sequence(s: &[Value], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for item in s {
        let item = match item {
            Value::Tagged(t) => &t.value,
            other => other,
        };
        match item {
            Value::Mapping(m) if !m.is_empty() => {
                // Render at indent+2, then put "- " over the first indent.
                let mut inner = String::new();
                emit_mapping(m, indent + 2, &mut inner);
                out.push_str(&pad);
                out.push_str("- ");
                out.push_str(&inner[indent + 2..]);
            }
            Value::Sequence(inner_seq) if !inner_seq.is_empty() => {
                out.push_str(&pad);
                out.push_str("-\n");
                emit_sequence(inner_seq, indent + 2, out);
            }
            other => {
                let _ = writeln!(out, "{pad}- {}", scalar(other));
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Sequence(_) => "[]".to_owned(),
        Value::Mapping(_) => "{}".to_owned(),
        Value::Tagged(t) => scalar(&t.value),
    }
}

/// Words YAML 1.1 (and so Kubernetes) reads as booleans or null.
const RESERVED: [&str; 12] = [
    "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~", "nan", "inf",
];

/// True if `s` can be written without quotes and still read back as this
/// exact string by YAML 1.1 and 1.2 parsers.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '/')
        && !s.ends_with(':')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':'))
        && !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s))
}

fn string(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_owned()
    } else if s.chars().all(|c| !c.is_control()) {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        // JSON string syntax is valid YAML double-quoted syntax.
        serde_json::to_string(s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn ambiguous_strings_are_quoted() {
        let words = [
            "true",
            "on",
            "1",
            "y",
            "Y",
            "yes",
            "no",
            "NO",
            "off",
            "null",
            "~",
            "1.0",
            "0x1",
            "08",
            "1e3",
            "",
            "-",
            "2024-01-01",
            "*.example.com",
            "a: b",
            "it's",
            "line\nbreak",
            "tab\t",
            ".inf",
            "a:",
        ];
        let m: BTreeMap<String, String> = words
            .iter()
            .map(|w| (format!("k{w}"), w.to_string()))
            .collect();
        let yaml = to_yaml(&m).unwrap();
        for bad in [
            "on",
            "yes",
            "y",
            "Y",
            "no",
            "NO",
            "off",
            "true",
            "1",
            "2024-01-01",
        ] {
            assert!(
                yaml.contains(&format!(": '{bad}'\n")),
                "{bad} must be quoted:\n{yaml}"
            );
        }
        let back: BTreeMap<String, String> = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn plain_where_safe_and_block_layout() {
        let v = serde_json::json!({
            "metadata": {"name": "a-b", "labels": {}},
            "spec": {"endpointSelector": {}, "ingress": [{}, {"fromEndpoints": [{"matchLabels": {"k8s:app": "web"}}],
                "toPorts": [{"ports": [{"port": "80"}, {"port": "http"}]}]}]},
        });
        let yaml = to_yaml(&v).unwrap();
        assert_eq!(
            yaml,
            "metadata:\n  labels: {}\n  name: a-b\nspec:\n  endpointSelector: {}\n  ingress:\n  - {}\n  - fromEndpoints:\n    - matchLabels:\n        k8s:app: web\n    toPorts:\n    - ports:\n      - port: '80'\n      - port: http\n"
        );
        let back: serde_json::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, v);
    }
}
