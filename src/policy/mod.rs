//! The Cilium and Kubernetes network-policy language as typed serde
//! structs, and a loader for policy files.
//!
//! Ownership: `synth` builds these values and `render` serializes them;
//! `verify` reads them back from real-world YAML with [`load_paths`]. This
//! module only describes and parses policies — it decides nothing about
//! what to allow.
//!
//! Serialization is deterministic and minimal: maps are `BTreeMap`s,
//! fields follow the CRD order, empty and absent fields are omitted,
//! keys are spelled as in the CRDs, ports are written as strings and an
//! empty selector is written `{}`. Parsing is lenient where Cilium is
//! (integer ports, lowercase protocols and operators, unknown entities),
//! and every such leniency is reported in [`LoadedPolicy::notes`].

pub mod any;
pub mod cilium;
pub(crate) mod documents;
mod drift;
pub mod emit;
pub mod entity;
pub mod k8s;
pub mod l7;
pub mod load;
pub mod meta;
pub mod names;
pub mod ports;
pub mod rule;
pub mod scalar;
pub mod selector;
pub mod yaml;

pub use any::{AnyPolicy, PolicyKind};
pub use cilium::{CiliumClusterwideNetworkPolicy, CiliumNetworkPolicy};
pub use entity::Entity;
pub use k8s::NetworkPolicy;
pub use l7::{FqdnSelector, HttpRule, L7Rules};
pub use load::{
    load_file, load_paths, load_str, DocumentSource, InvalidDocument, LoadError, LoadedPolicies,
    LoadedPolicy, SkipReason, SkippedDocument,
};
pub use meta::ObjectMeta;
pub use ports::{IcmpField, IcmpRule, PortProtocol, PortRule, Protocol};
pub use rule::{CidrRule, DefaultDenyConfig, EgressRule, IngressRule, Rule};
pub use scalar::IntOrString;
pub use selector::{EndpointSelector, LabelSelectorRequirement, SelectorOperator};
pub use yaml::{to_yaml, to_yaml_stream};
