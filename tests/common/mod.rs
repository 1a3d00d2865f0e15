//! Helpers shared by integration tests.
//!
//! `validate_policy_yaml` checks a policy document (already parsed into a
//! JSON value) against the JSON schema of its kind from
//! `../shared/data/schemas`: CiliumNetworkPolicy and
//! CiliumClusterwideNetworkPolicy (Cilium 1.18 CRDs) and Kubernetes
//! NetworkPolicy. Schema validation lives in tests only.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

/// `../shared` beside the checkout.
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

fn schema_file(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "CiliumNetworkPolicy" => "datreeio_CRDs-catalog__cilium.io__ciliumnetworkpolicy_v2.json",
        "CiliumClusterwideNetworkPolicy" => {
            "datreeio_CRDs-catalog__cilium.io__ciliumclusterwidenetworkpolicy_v2.json"
        }
        "NetworkPolicy" => "ctrl-research_k8s-schemas__networking.k8s.io__networkpolicy_v1.json",
        _ => return None,
    })
}

fn validator(kind: &str) -> Result<&'static jsonschema::Validator, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static jsonschema::Validator>>> =
        OnceLock::new();
    let file = schema_file(kind).ok_or_else(|| format!("no schema for kind {kind:?}"))?;
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    if let Some(v) = cache.get(file) {
        return Ok(v);
    }
    let path = shared_dir().join("data/schemas").join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let schema: Value = serde_json::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
    let v = jsonschema::validator_for(&schema).map_err(|e| format!("{file}: {e}"))?;
    let v: &'static jsonschema::Validator = Box::leak(Box::new(v));
    cache.insert(file.to_owned(), v);
    Ok(v)
}

/// Validates one policy document against the schema chosen by its `kind`.
/// Errors are `"<instance path>: <message>"`.
pub fn validate_policy_yaml(doc: &Value) -> Result<(), Vec<String>> {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    let v = validator(kind).map_err(|e| vec![e])?;
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Every real Hubble dump in `../shared/data/flows`, sorted.
pub fn real_dumps() -> Vec<PathBuf> {
    let dir = shared_dir().join("data/flows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json" || x == "jsonl"))
        .collect();
    files.sort();
    files
}
