//! The CRD schemas rewritten for a cheap compile, with the same meaning
//! (the self-check's validators are compiled from them when flowpolicy is
//! built: `render::check`).
//!
//! The vendored CNP and CCNP schemas are 400 KB of deeply nested,
//! repetitive subschemas (every selector, port rule and CIDR rule spelled
//! out again under `ingress`, `ingressDeny`, `egress`, `egressDeny`, `spec`
//! and `specs`). `jsonschema` validates a schema against its meta-schema
//! before compiling it, and on a tree that deep that costs ~0.2 s and ~50 MB
//! (measured: `docs/performance.md`). Rewritten here, the same schema is
//! 14 KB and compiles in a fifth of the time and memory:
//!
//! - `description` is dropped (an annotation: no effect on validation);
//! - every subschema that itself contains subschemas is moved to the root's
//!   `$defs` (identical ones once) and replaced by `{"$ref": "#/$defs/dN"}`.
//!
//! Only schema positions are walked (`properties`, `items`, `allOf`, …);
//! values such as `enum`, `const` or `default` are kept verbatim. A `$ref`
//! to a subschema means that subschema when it carries no identifier or
//! reference of its own, which the rewrite checks first: a schema that
//! has any (`$id`, `$ref`, `$anchor`, …, or `id`) is only stripped of its
//! descriptions. The unit tests expand the references of the rewritten
//! vendored schemas and get the originals back, less their descriptions.
//!
//! The rewrite runs here, in the tests, not in the build: `schemas/flat/`
//! holds the rewritten schemas the self-check is compiled from (a test
//! fails when they are not exactly the rewrite of `schemas/`, and writes
//! them anew with `FLOWPOLICY_BLESS=1`), so the build compiles 14 KB of
//! schema, with one function per shared subschema, instead of expanding
//! 400 KB.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// Keywords whose value is one subschema.
const ONE: &[&str] = &[
    "additionalProperties",
    "additionalItems",
    "items",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
];
/// Keywords whose value is an array of subschemas.
const MANY: &[&str] = &["allOf", "anyOf", "oneOf", "items", "prefixItems"];
/// Keywords whose value is a map of subschemas.
const MAP: &[&str] = &[
    "properties",
    "patternProperties",
    "dependentSchemas",
    "definitions",
];
/// Keywords that would give a moved subschema another meaning.
const IDENTIFIERS: &[&str] = &[
    "$id",
    "id",
    "$ref",
    "$anchor",
    "$recursiveRef",
    "$recursiveAnchor",
    "$dynamicRef",
    "$dynamicAnchor",
    "$defs",
];

/// The rewritten schema (see the module documentation).
pub fn flatten(schema: &Value) -> Value {
    let mut root = schema.clone();
    strip(&mut root);
    if !movable(&root) {
        return root;
    }
    let mut defs = Defs::default();
    if let Value::Object(map) = &mut root {
        for_each_child(map, &mut |child| defs.replace(child));
        map.insert("$defs".into(), Value::Object(defs.entries));
    }
    root
}

/// Applies `f` to the subschemas of a schema object, in place.
fn for_each_child(map: &mut Map<String, Value>, f: &mut dyn FnMut(&mut Value)) {
    for (key, value) in map.iter_mut() {
        let k = key.as_str();
        match value {
            Value::Object(_) if ONE.contains(&k) => f(value),
            Value::Array(items) if MANY.contains(&k) => items.iter_mut().for_each(&mut *f),
            Value::Object(children) if MAP.contains(&k) => children.values_mut().for_each(&mut *f),
            // `dependencies`: a subschema, or a list of property names.
            Value::Object(children) if k == "dependencies" => children
                .values_mut()
                .filter(|v| v.is_object())
                .for_each(&mut *f),
            _ => {}
        }
    }
}

/// The subschemas of a schema object.
fn children(map: &Map<String, Value>) -> Vec<&Value> {
    let mut out = Vec::new();
    for (key, value) in map {
        let k = key.as_str();
        match value {
            Value::Object(_) if ONE.contains(&k) => out.push(value),
            Value::Array(items) if MANY.contains(&k) => out.extend(items),
            Value::Object(children) if MAP.contains(&k) => out.extend(children.values()),
            Value::Object(children) if k == "dependencies" => {
                out.extend(children.values().filter(|v| v.is_object()))
            }
            _ => {}
        }
    }
    out
}

/// Drops every `description` of every schema position.
fn strip(schema: &mut Value) {
    if let Value::Object(map) = schema {
        map.remove("description");
        for_each_child(map, &mut strip);
    }
}

/// No identifier or reference anywhere (the root may name its draft
/// with `$schema`).
fn movable(schema: &Value) -> bool {
    let Value::Object(map) = schema else {
        return true;
    };
    !IDENTIFIERS.iter().any(|k| map.contains_key(*k)) && children(map).into_iter().all(movable)
}

/// Whether a subschema holds other subschemas (a leaf stays inline).
fn is_container(map: &Map<String, Value>) -> bool {
    children(map).iter().any(|c| c.is_object())
}

#[derive(Default)]
struct Defs {
    entries: Map<String, Value>,
    /// Serialized subschema → its name.
    names: HashMap<String, String>,
}

impl Defs {
    /// Replaces `schema` (children first) by a reference when it is a container.
    fn replace(&mut self, schema: &mut Value) {
        let Value::Object(map) = schema else {
            return;
        };
        for_each_child(map, &mut |c| self.replace(c));
        if !is_container(map) {
            return;
        }
        let key = serde_json::to_string(&*map).unwrap_or_default();
        let n = self.names.len();
        let name = self
            .names
            .entry(key)
            .or_insert_with(|| format!("d{n}"))
            .clone();
        let body = std::mem::take(map);
        self.entries
            .entry(name.clone())
            .or_insert(Value::Object(body));
        map.insert("$ref".into(), Value::String(format!("#/$defs/{name}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replaces every reference by its definition (the inverse of
    /// [`flatten`]).
    fn expand(v: &Value, defs: &Map<String, Value>) -> Value {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    let name = r.strip_prefix("#/$defs/").unwrap();
                    return expand(&defs[name], defs);
                }
                let mut out = map.clone();
                out.remove("$defs");
                for_each_child(&mut out, &mut |c| *c = expand(c, defs));
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    fn vendored(file: &str) -> Value {
        let path = format!("{}/schemas/{file}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    const FILES: [&str; 3] = [
        "ciliumnetworkpolicy_v2.json",
        "ciliumclusterwidenetworkpolicy_v2.json",
        "networkpolicy_v1.json",
    ];

    #[test]
    fn the_vendored_schemas_come_back_from_their_flat_form() {
        for file in FILES {
            let original = vendored(file);
            let mut stripped = original.clone();
            strip(&mut stripped);
            let flat = flatten(&original);
            let defs = flat["$defs"].as_object().expect("rewritten").clone();
            assert!(!defs.is_empty());
            assert_eq!(expand(&flat, &defs), stripped, "{file}");
            // Values are kept verbatim: the enums are all still there.
            let count = |v: &Value| {
                serde_json::to_string(v)
                    .unwrap()
                    .matches("\"enum\"")
                    .count()
            };
            assert_eq!(count(&stripped), count(&expand(&flat, &defs)));
            let size = serde_json::to_string(&flat).unwrap().len();
            assert!(size < 60_000, "{file}: {size} bytes");
        }
    }

    /// `schemas/flat/` is the rewrite of `schemas/`, as the self-check
    /// compiles it; `FLOWPOLICY_BLESS=1` writes it anew.
    #[test]
    fn the_committed_flat_schemas_are_the_rewrite_of_the_vendored_ones() {
        for file in FILES {
            let flat = flatten(&vendored(file));
            let path = format!("{}/schemas/flat/{file}", env!("CARGO_MANIFEST_DIR"));
            if std::env::var_os("FLOWPOLICY_BLESS").is_some() {
                let text = serde_json::to_string_pretty(&flat).unwrap() + "\n";
                std::fs::write(&path, text).unwrap();
            }
            let committed: Value = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(Value::Null);
            assert!(
                committed == flat,
                "{path} is not the rewrite of schemas/{file}: run FLOWPOLICY_BLESS=1 cargo test --lib schema_flat"
            );
        }
    }

    #[test]
    fn schemas_with_identifiers_are_only_stripped() {
        let s = serde_json::json!({"description": "d", "properties": {"a": {"$ref": "#/definitions/x", "description": "e"}}, "definitions": {"x": {"properties": {"b": {"type": "string"}}}}});
        assert_eq!(
            flatten(&s),
            serde_json::json!({"properties": {"a": {"$ref": "#/definitions/x"}}, "definitions": {"x": {"properties": {"b": {"type": "string"}}}}})
        );
    }

    #[test]
    fn enum_and_default_values_are_not_schemas() {
        let s = serde_json::json!({"properties": {"a": {"type": "object", "default": {"properties": {"x": {}}}, "enum": [{"description": "kept"}], "properties": {"b": {"type": "string", "description": "gone"}}}}});
        let flat = flatten(&s);
        let defs = flat["$defs"].as_object().unwrap();
        assert_eq!(defs.len(), 1);
        let d = &defs["d0"];
        assert_eq!(d["default"], serde_json::json!({"properties": {"x": {}}}));
        assert_eq!(d["enum"], serde_json::json!([{"description": "kept"}]));
        assert_eq!(d["properties"]["b"], serde_json::json!({"type": "string"}));
    }
}
