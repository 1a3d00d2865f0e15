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
        Value::Mapping(m) if !m.is_empty() => emit_mapping(m, 0, false, &mut out),
        Value::Sequence(s) if !s.is_empty() => emit_sequence(s, 0, &mut out),
        other => {
            scalar(other, &mut out);
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

/// Longest key written as `key: value`; longer ones are written `? key`.
const MAX_IMPLICIT_KEY: usize = 1000;

fn pad(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A block mapping at `indent`; `after_dash`: the first key goes on the line
/// a sequence's `- ` already started.
fn emit_mapping(m: &serde_yaml::Mapping, indent: usize, after_dash: bool, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !after_dash {
            pad(indent, out);
        }
        let start = out.len();
        scalar(k, out);
        if out.len() - start > MAX_IMPLICIT_KEY && out[start..].chars().count() > MAX_IMPLICIT_KEY {
            // YAML reads at most 1024 characters as an implicit key.
            let key = out.split_off(start);
            out.push_str("? ");
            out.push_str(&key);
            out.push('\n');
            pad(indent, out);
        }
        out.push(':');
        emit_value_after_key(v, indent, out);
    }
}

fn emit_value_after_key(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Mapping(m) if !m.is_empty() => {
            out.push('\n');
            emit_mapping(m, indent + 2, false, out);
        }
        Value::Sequence(s) if !s.is_empty() => {
            out.push('\n');
            emit_sequence(s, indent, out);
        }
        Value::Tagged(t) if is_block(&t.value) => emit_value_after_key(&t.value, indent, out),
        other => {
            out.push(' ');
            scalar(other, out);
            out.push('\n');
        }
    }
}

fn emit_sequence(s: &[Value], indent: usize, out: &mut String) {
    for item in s {
        let item = match item {
            Value::Tagged(t) => &t.value,
            other => other,
        };
        pad(indent, out);
        match item {
            Value::Mapping(m) if !m.is_empty() => {
                out.push_str("- ");
                emit_mapping(m, indent + 2, true, out);
            }
            Value::Sequence(inner_seq) if !inner_seq.is_empty() => {
                out.push_str("-\n");
                emit_sequence(inner_seq, indent + 2, out);
            }
            other => {
                out.push_str("- ");
                scalar(other, out);
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => string(s, out),
        Value::Sequence(_) => out.push_str("[]"),
        Value::Mapping(_) => out.push_str("{}"),
        Value::Tagged(t) => scalar(&t.value, out),
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

/// Characters a single-quoted scalar holds as themselves: printable, and
/// none a YAML reader folds as a line break (NEL, LS, PS) or drops (BOM).
fn single_quote_safe(c: char) -> bool {
    matches!(c, ' '..='~')
        || (c >= '\u{a0}'
            && !matches!(
                c,
                '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
            ))
}

fn string(s: &str, out: &mut String) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if s.chars().all(single_quote_safe) {
        out.push('\'');
        for part in s.split_inclusive('\'') {
            out.push_str(part);
            if part.ends_with('\'') {
                out.push('\'');
            }
        }
        out.push('\'');
    } else {
        double_quoted(s, out);
    }
}

/// A double-quoted scalar: every character that is not printable ASCII or
/// single-quote safe escaped (`\n`, `\t`, `\uXXXX`, `\UXXXXXXXX`).
fn double_quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if single_quote_safe(c) => out.push(c),
            c if u32::from(c) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a string holds, as a key or a value, at any depth, it
        /// reads back as itself: the self-check validates the typed value,
        /// and this is what makes that the written text's value.
        #[test]
        fn any_string_reads_back_as_itself(
            key in prop_oneof![any::<String>(), "[a-z\u{2028}\u{85}\u{feff} ']{900,1100}"],
            value in any::<String>(),
            ascii in "[ -~]{0,12}",
            list in proptest::collection::vec("[a-zA-Z0-9:./_'\" #*-]{0,10}", 0..4),
        ) {
            let doc = serde_json::json!({
                "metadata": {"labels": {key.clone(): value.clone(), ascii.clone(): ascii.clone()}},
                "spec": [{"toFQDNs": list.clone(), "k": {"deep": [value.clone(), key.clone()]}}],
            });
            let text = to_yaml(&doc).unwrap();
            let back: serde_json::Value = serde_yaml::from_str(&text)
                .unwrap_or_else(|e| panic!("{e}:\n{text}"));
            prop_assert_eq!(back, doc, "{}", text);
        }
    }
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
