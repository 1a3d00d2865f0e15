//! Validation at the door: a decoded flow whose names or numbers could not
//! come from a real cluster (a flipped byte, a cut line, a concatenated file)
//! is rejected before anything learns from it, so damage never becomes a
//! workload, a policy or an entry in a cache.
//!
//! Pure functions over [`flow::Flow`]; the sources call [`check_flow`] where
//! the position is known (file:line, or the relay node) and count the
//! [`Rejection`]s by [`Reason`]. The rules (see `docs/interpretation.md`):
//!
//! | field | rule |
//! |---|---|
//! | `namespace`, `k8s:io.kubernetes.pod.namespace=` | RFC 1123 label, and the same name (also as the namespace's `kubernetes.io/metadata.name` label) |
//! | `pod_name`, `workloads[].name`, `k8s:io.cilium.k8s.policy.serviceaccount=` | RFC 1123 subdomain |
//! | `workloads[].kind` | letters and digits, starting with a letter, ≤ 63 |
//! | labels | a known source; `k8s`-like: Kubernetes label key and value; `reserved`: RFC 1123 label; `cidr`: a prefix; `fqdn`: a DNS pattern |
//! | `identity` | below 3·2²⁴ (cluster, local and remote-node scopes) |
//! | TCP/UDP/SCTP ports | ≤ 65535 (0 is "no port", not an error) |
//! | ICMP type and code | ≤ 255 |
//! | `time` | 2000-01-01 ≤ t < 2100-01-01, nanos < 10⁹ |
//! | `IP.source/destination`, DNS answer IPs | an IP address when present |
//! | `source_names`, `destination_names`, DNS query | DNS name |
//! | `node_name` | `[cluster/]` + RFC 1123 subdomain |
//!
//! Empty strings are "absent", never an error: field-masked exporters omit
//! whatever they were not asked for.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::peer::labels::{self, NAMESPACE_LABEL, SERVICE_ACCOUNT_LABEL};
use crate::policy::names::{
    is_dns1123_label, is_dns1123_subdomain, is_dns_name, is_dns_pattern, is_label_key,
    is_label_value, shown, NAMESPACE_LABELS_PREFIX,
};
use crate::proto::flow::{self, layer4::Protocol, layer7::Record};

/// Identities at or above this are neither reserved (0–255), cluster-scoped
/// (< 2²⁴, ClusterMesh cluster ID included), locally scoped (bit 24: CIDR,
/// FQDN) nor remote-node scoped (2·2²⁴ …).
pub const MAX_IDENTITY: u32 = 3 << 24;
/// 2000-01-01T00:00:00Z: Hubble did not exist before.
pub const MIN_TIME_SECONDS: i64 = 946_684_800;
/// 2100-01-01T00:00:00Z.
pub const MAX_TIME_SECONDS: i64 = 4_102_444_800;

/// Why a flow was rejected, as counted in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    Namespace,
    NamespaceMismatch,
    PodName,
    Workload,
    LabelSource,
    LabelKey,
    LabelValue,
    Identity,
    Port,
    Icmp,
    Time,
    Address,
    DnsName,
    NodeName,
}

impl Reason {
    /// How the summary counts it: "3 invalid namespace".
    pub fn describe(self) -> &'static str {
        match self {
            Reason::Namespace => "invalid namespace",
            Reason::NamespaceMismatch => "namespace label disagreeing with the namespace",
            Reason::PodName => "invalid pod name",
            Reason::Workload => "invalid workload name or kind",
            Reason::LabelSource => "unknown label source",
            Reason::LabelKey => "invalid label key",
            Reason::LabelValue => "invalid label value",
            Reason::Identity => "identity out of range",
            Reason::Port => "port out of range",
            Reason::Icmp => "ICMP type or code out of range",
            Reason::Time => "time out of range",
            Reason::Address => "invalid IP address",
            Reason::DnsName => "invalid DNS name",
            Reason::NodeName => "invalid node name",
        }
    }

    /// What is wrong, and the rule the value broke, as the user reads it.
    pub fn rule(self) -> &'static str {
        match self {
            Reason::Namespace => "not a namespace name: an RFC 1123 label is at most 63 lower-case letters, digits or '-', starting and ending with a letter or digit",
            Reason::NamespaceMismatch => "disagrees with the endpoint's namespace: a pod's namespace, its io.kubernetes.pod.namespace label and its namespace's kubernetes.io/metadata.name label are one name",
            Reason::PodName => "not a pod name: an RFC 1123 subdomain is at most 253 characters of dot-separated RFC 1123 labels (lower-case letters, digits, '-')",
            Reason::Workload => "not a workload name or kind: names are RFC 1123 subdomains, kinds are letters and digits",
            Reason::LabelSource => "unknown label source: Cilium writes k8s, reserved, cidr, fqdn, any, container, unspec, cidrgroup, node, kvstore or cilium-generated",
            Reason::LabelKey => "not a label key for its source: k8s keys are [prefix/]name (an RFC 1123 subdomain prefix; a name of at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit), reserved keys RFC 1123 labels, cidr keys address prefixes, fqdn keys DNS patterns",
            Reason::LabelValue => "not a label value: empty, or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
            Reason::Identity => "not a security identity: identities are below 50331648 (3 << 24)",
            Reason::Port => "not a port: ports are at most 65535",
            Reason::Icmp => "not an ICMP type or code: both are at most 255",
            Reason::Time => "not a flow time: times lie between 2000-01-01 and 2100-01-01, nanoseconds below 1000000000",
            Reason::Address => "not an IP address",
            Reason::NodeName => "not a node name: an RFC 1123 subdomain, after the relay's optional cluster-name/ prefix",
            Reason::DnsName => "not a DNS name: dot-separated labels of 1 to 63 letters, digits, '-' or '_', at most 253 characters",
        }
    }
}

/// One rejected flow: the reason, the field (`source.labels[2]`) and the
/// offending value, already escaped and shortened for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub field: String,
    pub value: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} = {}: {}", self.field, self.value, self.reason.rule())
    }
}

fn reject(reason: Reason, field: impl Into<String>, value: &str) -> Rejection {
    Rejection {
        reason,
        field: field.into(),
        value: shown(value),
    }
}

fn reject_number(reason: Reason, field: impl Into<String>, value: impl ToString) -> Rejection {
    Rejection {
        reason,
        field: field.into(),
        value: value.to_string(),
    }
}

/// Checks every field of a flow that interpretation or a policy could use.
pub fn check_flow(f: &flow::Flow) -> Result<(), Rejection> {
    check_flow_with(f, &mut check_endpoint)
}

/// [`check_flow`] with the check of each endpoint (`"source"` or
/// `"destination"`, and the endpoint) supplied by the caller, which may
/// remember [`check_endpoint`]'s answer per distinct endpoint.
pub fn check_flow_with(
    f: &flow::Flow,
    endpoint: &mut dyn FnMut(&str, &flow::Endpoint) -> Result<(), Rejection>,
) -> Result<(), Rejection> {
    check_time(f.time.as_ref())?;
    if !f.node_name.is_empty() && !is_node_name(&f.node_name) {
        return Err(reject(Reason::NodeName, "node_name", &f.node_name));
    }
    for (side, ep) in [("source", &f.source), ("destination", &f.destination)] {
        if let Some(ep) = ep {
            endpoint(side, ep)?;
        }
    }
    if let Some(ip) = &f.ip {
        check_address("IP.source", &ip.source)?;
        check_address("IP.destination", &ip.destination)?;
    }
    if let Some(proto) = f.l4.as_ref().and_then(|l4| l4.protocol.as_ref()) {
        check_l4(proto)?;
    }
    for (field, names) in [
        ("source_names", &f.source_names),
        ("destination_names", &f.destination_names),
    ] {
        for (i, n) in names.iter().enumerate() {
            if !n.is_empty() && !is_dns_name(n) {
                return Err(reject(Reason::DnsName, format!("{field}[{i}]"), n));
            }
        }
    }
    if let Some(Record::Dns(dns)) = f.l7.as_ref().and_then(|l7| l7.record.as_ref()) {
        if !dns.query.is_empty() && !is_dns_name(&dns.query) {
            return Err(reject(Reason::DnsName, "l7.dns.query", &dns.query));
        }
        for (i, ip) in dns.ips.iter().enumerate() {
            check_address(&format!("l7.dns.ips[{i}]"), ip)?;
        }
    }
    Ok(())
}

fn check_time(t: Option<&pbjson_types::Timestamp>) -> Result<(), Rejection> {
    let Some(t) = t else { return Ok(()) };
    if !(MIN_TIME_SECONDS..MAX_TIME_SECONDS).contains(&t.seconds) {
        return Err(reject_number(Reason::Time, "time.seconds", t.seconds));
    }
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(reject_number(Reason::Time, "time.nanos", t.nanos));
    }
    Ok(())
}

fn check_address(field: &str, s: &str) -> Result<(), Rejection> {
    if s.is_empty() || s.parse::<IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(reject(Reason::Address, field, s))
    }
}

fn check_l4(proto: &Protocol) -> Result<(), Rejection> {
    let ports = |name: &str, src: u32, dst: u32| {
        for (which, p) in [("source_port", src), ("destination_port", dst)] {
            if p > u32::from(u16::MAX) {
                return Err(reject_number(Reason::Port, format!("l4.{name}.{which}"), p));
            }
        }
        Ok(())
    };
    let icmp = |name: &str, ty: u32, code: u32| {
        for (which, v) in [("type", ty), ("code", code)] {
            if v > 255 {
                return Err(reject_number(Reason::Icmp, format!("l4.{name}.{which}"), v));
            }
        }
        Ok(())
    };
    match proto {
        Protocol::Tcp(t) => ports("TCP", t.source_port, t.destination_port),
        Protocol::Udp(u) => ports("UDP", u.source_port, u.destination_port),
        Protocol::Sctp(s) => ports("SCTP", s.source_port, s.destination_port),
        Protocol::IcmPv4(i) => icmp("ICMPv4", i.r#type, i.code),
        Protocol::IcmPv6(i) => icmp("ICMPv6", i.r#type, i.code),
    }
}

/// The endpoint rules of [`check_flow`]; `side` names the field in the rejection.
pub fn check_endpoint(side: &str, ep: &flow::Endpoint) -> Result<(), Rejection> {
    if ep.identity >= MAX_IDENTITY {
        return Err(reject_number(
            Reason::Identity,
            format!("{side}.identity"),
            ep.identity,
        ));
    }
    if !ep.namespace.is_empty() && !is_dns1123_label(&ep.namespace) {
        return Err(reject(
            Reason::Namespace,
            format!("{side}.namespace"),
            &ep.namespace,
        ));
    }
    if !ep.pod_name.is_empty() && !is_dns1123_subdomain(&ep.pod_name) {
        return Err(reject(
            Reason::PodName,
            format!("{side}.pod_name"),
            &ep.pod_name,
        ));
    }
    for (i, w) in ep.workloads.iter().enumerate() {
        if !w.name.is_empty() && !is_dns1123_subdomain(&w.name) {
            return Err(reject(
                Reason::Workload,
                format!("{side}.workloads[{i}].name"),
                &w.name,
            ));
        }
        if !w.kind.is_empty() && !is_kind(&w.kind) {
            return Err(reject(
                Reason::Workload,
                format!("{side}.workloads[{i}].kind"),
                &w.kind,
            ));
        }
    }
    for (i, raw) in ep.labels.iter().enumerate() {
        check_label(raw).map_err(|reason| reject(reason, format!("{side}.labels[{i}]"), raw))?;
        if !ep.namespace.is_empty() && names_other_namespace(raw, &ep.namespace) {
            return Err(reject(
                Reason::NamespaceMismatch,
                format!("{side}.labels[{i}]"),
                raw,
            ));
        }
    }
    Ok(())
}

/// The label names the pod's namespace, and another one than `namespace`.
fn names_other_namespace(raw: &str, namespace: &str) -> bool {
    const NS_NAME_LABEL: &str = "io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name";
    let l = labels::parse(raw);
    l.source == "k8s"
        && (l.key == NAMESPACE_LABEL || l.key == NS_NAME_LABEL)
        && l.value != namespace
}

/// `kind-worker`, or `cluster/node` as Hubble Relay writes it.
fn is_node_name(s: &str) -> bool {
    match s.split_once('/') {
        Some((cluster, node)) => is_dns1123_subdomain(cluster) && is_dns1123_subdomain(node),
        None => is_dns1123_subdomain(s),
    }
}

/// A Kubernetes kind: `Deployment`, `StatefulSet`, `Cluster`.
fn is_kind(s: &str) -> bool {
    s.len() <= 63
        && s.bytes().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.bytes().all(|c| c.is_ascii_alphanumeric())
}

/// Label sources Cilium writes (`pkg/labels`).
const SOURCES: &[&str] = &[
    "k8s",
    "reserved",
    "cidr",
    "fqdn",
    "any",
    "container",
    "unspec",
    "cidrgroup",
    "node",
    "kvstore",
    "cilium-generated",
];

/// One identity label, `source:key=value`.
pub fn check_label(raw: &str) -> Result<(), Reason> {
    let l = labels::parse(raw);
    if !SOURCES.contains(&l.source) {
        return Err(Reason::LabelSource);
    }
    match l.source {
        "reserved" => {
            if !is_dns1123_label(l.key) {
                return Err(Reason::LabelKey);
            }
        }
        "cidr" => {
            if !l.value.is_empty() || !is_cidr_label(l.key) {
                return Err(Reason::LabelKey);
            }
            return Ok(());
        }
        "fqdn" => {
            if !l.value.is_empty() || !is_dns_pattern(l.key) {
                return Err(Reason::LabelKey);
            }
            return Ok(());
        }
        _ => {
            let key = l.key.strip_prefix(NAMESPACE_LABELS_PREFIX).unwrap_or(l.key);
            if !is_label_key(key) {
                return Err(Reason::LabelKey);
            }
        }
    }
    if !is_label_value(l.value) {
        return Err(Reason::LabelValue);
    }
    if l.source == "k8s" {
        match l.key {
            NAMESPACE_LABEL if !is_dns1123_label(l.value) => return Err(Reason::Namespace),
            SERVICE_ACCOUNT_LABEL if !is_dns1123_subdomain(l.value) => {
                return Err(Reason::LabelValue)
            }
            _ => {}
        }
    }
    Ok(())
}

/// `10.0.0.0/8`, `2001:db8::/32`, or Cilium's label spelling of IPv6 with
/// `-` for `:` (`2001-db8--/32`).
fn is_cidr_label(key: &str) -> bool {
    key.parse::<IpNet>().is_ok() || key.replace('-', ":").parse::<IpNet>().is_ok()
}

/// Rejected flows of one input (or of the relay stream): counted by reason,
/// with the first few of each reason and where they were, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rejections {
    pub counts: BTreeMap<Reason, u64>,
    /// Per reason, the first [`Rejections::KEPT`]: position (`file:line`,
    /// `relay node k8s-1`) and what was wrong.
    pub first: BTreeMap<Reason, Vec<(String, Rejection)>>,
}

impl Rejections {
    /// Examples kept per reason.
    pub const KEPT: usize = 3;

    /// Counts one rejection; `at` is only called for the kept examples.
    pub fn add(&mut self, at: impl FnOnce() -> String, r: Rejection) {
        *self.counts.entry(r.reason).or_default() += 1;
        let kept = self.first.entry(r.reason).or_default();
        if kept.len() < Self::KEPT {
            kept.push((at(), r));
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Adds another input's rejections (keeping at most `KEPT` examples).
    pub fn merge(&mut self, other: &Rejections) {
        for (reason, n) in &other.counts {
            *self.counts.entry(*reason).or_default() += n;
        }
        for (reason, examples) in &other.first {
            let kept = self.first.entry(*reason).or_default();
            let room = Self::KEPT.saturating_sub(kept.len());
            kept.extend(examples.iter().take(room).cloned());
        }
    }
}

#[cfg(test)]
mod tests;
