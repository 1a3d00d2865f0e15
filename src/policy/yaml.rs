//! YAML output that Kubernetes reads back exactly as written.
//!
//! `serde_yaml` (serde_norway) quotes only what YAML 1.2 would misread:
//! it writes the label value `"on"` as plain `on`, and likewise `yes`,
//! `y`, `off`, `no` and dates. Kubernetes decodes YAML with YAML 1.1 rules,
//! reads those as booleans or timestamps, and rejects the object. This
//! emitter writes block-style YAML in the field order of the structs and
//! leaves a string unquoted only when it cannot be read as anything but a
//! string; everything else is single- or double-quoted.

use serde::Serialize;

pub use super::emit::EmitError;

/// Serializes one value as a YAML document (no leading `---`), written
/// directly as the value is walked ([`super::emit`]).
pub fn to_yaml<T: Serialize + ?Sized>(value: &T) -> Result<String, EmitError> {
    super::emit::to_string(value)
}

/// Serializes several values as one multi-document stream, each document
/// introduced by `---`.
pub fn to_yaml_stream<'a, T, I>(values: I) -> Result<String, EmitError>
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

        /// Any shape — mappings and sequences nested in each other, empty
        /// ones, scalars of every kind — reads back as the value written.
        #[test]
        fn any_shape_reads_back_as_itself(doc in json_value()) {
            let text = to_yaml(&doc).unwrap();
            let back: serde_json::Value = serde_yaml::from_str(&text)
                .unwrap_or_else(|e| panic!("{e}:\n{text}"));
            prop_assert_eq!(back, doc, "{}", text);
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[a-z0-9 :'\"#-]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map("[a-zA-Z0-9 ._/:-]{0,6}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
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
