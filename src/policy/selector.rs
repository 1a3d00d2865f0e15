//! Label selectors: Cilium's `EndpointSelector` (also used for nodes,
//! `fromRequires`, CIDR groups) and the Kubernetes `LabelSelector`, which
//! have the same shape.
//!
//! An empty selector serializes as `{}` and means "select everything in
//! scope"; it is never written as `null`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// `{matchLabels, matchExpressions}`. Keys may carry a Cilium source prefix
/// (`k8s:app`, `any:app`, `reserved:host`); they are kept verbatim.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// The Kubernetes name for the same structure.
pub type LabelSelector = EndpointSelector;

impl EndpointSelector {
    /// The empty selector `{}`.
    pub fn all() -> Self {
        Self::default()
    }

    /// A selector made of `matchLabels` only.
    pub fn from_labels<K, V>(labels: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            match_labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            match_expressions: Vec::new(),
        }
    }

    /// True for `{}` (no labels, no expressions).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: SelectorOperator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// `In | NotIn | Exists | DoesNotExist`. Input is matched case-insensitively
/// (Cilium's own docs contain `operator: in`); output is always canonical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl SelectorOperator {
    pub const ALL: [SelectorOperator; 4] =
        [Self::In, Self::NotIn, Self::Exists, Self::DoesNotExist];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "In",
            Self::NotIn => "NotIn",
            Self::Exists => "Exists",
            Self::DoesNotExist => "DoesNotExist",
        }
    }
}

impl fmt::Display for SelectorOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SelectorOperator {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(&s))
            .ok_or_else(|| {
                serde::de::Error::unknown_variant(&s, &["In", "NotIn", "Exists", "DoesNotExist"])
            })
    }
}
