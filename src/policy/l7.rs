//! Layer-7 rules under `toPorts[].rules` (DNS, HTTP; Kafka and generic L7
//! kept opaque) and the FQDN selector shared by `toFQDNs` and DNS rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `rules:` of a port rule. Cilium allows one protocol family per rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L7Rules {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpRule>,
    /// Kafka rules (kept opaque).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kafka: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<FqdnSelector>,
    #[serde(default, rename = "l7proto", skip_serializing_if = "Option::is_none")]
    pub l7_proto: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub l7: Vec<BTreeMap<String, String>>,
}

/// `{matchName, matchPattern}`, used by `toFQDNs` and by DNS L7 rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FqdnSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_pattern: Option<String>,
}

impl FqdnSelector {
    pub fn name(name: impl Into<String>) -> Self {
        Self {
            match_name: Some(name.into()),
            match_pattern: None,
        }
    }

    pub fn pattern(pattern: impl Into<String>) -> Self {
        Self {
            match_name: None,
            match_pattern: Some(pattern.into()),
        }
    }
}

/// One HTTP rule; every field is optional and `{}` allows all requests
/// (the L7-visibility idiom). `path` and `method` are regular expressions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub header_matches: Vec<HeaderMatch>,
}

/// `headerMatches` entry: a header that must (or must not) carry a value,
/// possibly read from a Secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HeaderMatch {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mismatch: Option<String>,
}

/// `{name, namespace}` reference to a Kubernetes Secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SecretRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}
