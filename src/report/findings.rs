//! Risk findings: typed, each naming the workload (or node), the peer, the
//! ports and the evidence (counts, first/last seen), with a severity. What
//! each kind means and why it matters: docs/report.md.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::Serialize;

use super::classify::{self, Role};
use super::names::Names;
use crate::graph::evidence::format_time;
use crate::graph::{EdgeData, Tally, TrafficGraph};
use crate::interpret::undecided::Undecided;
use crate::peer::{Entity, Peer};
use crate::synth::selector::choose_selectors;

/// How urgent a finding is (most severe first when sorted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

/// The kinds of finding, in the order the report lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A client outside the cluster reached a secret store.
    WorldToSecretStore,
    /// A client outside the cluster reached a database or cache.
    WorldToDatastore,
    /// A CI runner or GitOps controller talked to the world.
    AdminEgressToWorld,
    /// Hubble saw DROPPED flows on this edge.
    DroppedFlows,
    /// Hubble lost events on a node: the capture has gaps.
    LostEvents,
    /// A node was unavailable to the relay: its flows may be missing.
    NodeUnavailable,
    /// No label set selects exactly this workload.
    NoStableSelector,
    /// Nothing decided which end initiated: not in the policy.
    UndecidedDirection,
    /// An edge port seen in at most one connection.
    SeenOnce,
}

impl FindingKind {
    pub const ALL: [FindingKind; 9] = [
        FindingKind::WorldToSecretStore,
        FindingKind::WorldToDatastore,
        FindingKind::AdminEgressToWorld,
        FindingKind::DroppedFlows,
        FindingKind::LostEvents,
        FindingKind::NodeUnavailable,
        FindingKind::NoStableSelector,
        FindingKind::UndecidedDirection,
        FindingKind::SeenOnce,
    ];

    /// The kebab-case name (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::WorldToSecretStore => "world-to-secret-store",
            FindingKind::WorldToDatastore => "world-to-datastore",
            FindingKind::AdminEgressToWorld => "admin-egress-to-world",
            FindingKind::DroppedFlows => "dropped-flows",
            FindingKind::LostEvents => "lost-events",
            FindingKind::NodeUnavailable => "node-unavailable",
            FindingKind::NoStableSelector => "no-stable-selector",
            FindingKind::UndecidedDirection => "undecided-direction",
            FindingKind::SeenOnce => "seen-once",
        }
    }

    /// A heading.
    pub fn title(self) -> &'static str {
        match self {
            FindingKind::WorldToSecretStore => "Secret stores reached from outside the cluster",
            FindingKind::WorldToDatastore => "Databases reached from outside the cluster",
            FindingKind::AdminEgressToWorld => {
                "CI runners and GitOps controllers talking to the world"
            }
            FindingKind::DroppedFlows => "Traffic Hubble saw DROPPED",
            FindingKind::LostEvents => "Events lost by Hubble",
            FindingKind::NodeUnavailable => "Nodes unavailable to the relay",
            FindingKind::NoStableSelector => "Workloads without a stable selector",
            FindingKind::UndecidedDirection => "Peer pairs whose direction was undecided",
            FindingKind::SeenOnce => "Edges seen only once",
        }
    }

    /// Why a reviewer should care, in one or two sentences.
    pub fn why(self) -> &'static str {
        match self {
            FindingKind::WorldToSecretStore => "A secret store should only be reached by the controllers that sync secrets from it; a client outside the cluster reaching it bypasses that boundary. The generated policy will allow this peer: confirm it is intended.",
            FindingKind::WorldToDatastore => "Databases exposed outside the cluster (LoadBalancer, hostPort) are reached by every client the network lets through; the generated policy keeps allowing this peer. Wide CIDRs (IPv4 shorter than /16, IPv6 shorter than /48) and `world` are critical.",
            FindingKind::AdminEgressToWorld => "CI runners and GitOps controllers turn outside input into cluster changes, usually with cluster-admin rights; their egress should be limited to the code hosts and registries they need. Check every destination below.",
            FindingKind::DroppedFlows => "Something was already dropped: either a policy in place blocks traffic a workload needs, or something tried to reach what it must not. Dropped traffic is not learned unless `recommend --include-dropped`.",
            FindingKind::LostEvents => "Hubble's ring buffer overflowed: flows of this node are missing from the capture, so the policies may miss connections. Capture longer or raise the buffer before enforcing.",
            FindingKind::NodeUnavailable => "The relay could not reach this node for part of the capture: its pods' flows may be missing.",
            FindingKind::NoStableSelector => "No well-known label set selects exactly this workload, so its policy uses every stable pod label and may also select (or miss) other pods.",
            FindingKind::UndecidedDirection => "No evidence showed which end opened these connections, so they are not in the policies (enforcing would drop them). `--guess-direction` learns them by port order.",
            FindingKind::SeenOnce => "One connection is thin evidence: a one-off (a job, a probe, a human) or a rare path that may not recur in the next capture. Review before allowing it for good.",
        }
    }
}

/// Direction of the traffic, seen from the finding's subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The peer initiated, the subject responded.
    Ingress,
    /// The subject initiated.
    Egress,
    /// Unknown (an undecided pair).
    Either,
}

impl Direction {
    pub fn arrow(self) -> &'static str {
        match self {
            Direction::Ingress => "←",
            Direction::Egress => "→",
            Direction::Either => "↔",
        }
    }
}

/// Counts and time span behind a finding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub connections: u64,
    pub flows: u64,
    pub first_seen: String,
    pub last_seen: String,
}

impl Evidence {
    fn of<'a>(tallies: impl IntoIterator<Item = &'a Tally>) -> Evidence {
        let mut sum = Tally::default();
        for t in tallies {
            sum.merge(t);
        }
        Evidence {
            connections: sum.connections,
            flows: sum.flows,
            first_seen: format_time(sum.first_seen),
            last_seen: format_time(sum.last_seen),
        }
    }
}

/// A policy file a finding concerns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PolicyFile {
    /// The path as the policy set was read (`policies/shop/web.yaml`).
    pub path: String,
    /// Listed in `--changed-files`.
    pub changed: bool,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    /// The workload (`namespace/name`), node or peer the finding is about.
    pub subject: String,
    /// The other end, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    pub direction: Option<Direction>,
    pub ports: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// What exactly was seen, in one sentence.
    pub detail: String,
    /// Policy files (of `--policies`) selecting the subject (filled by `files.rs`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PolicyFile>,
}

/// Most undecided peer pairs listed (most flows first); the rest are counted
/// in one more finding.
pub const UNDECIDED_LISTED: usize = 50;

/// A world peer wider than verify's `broad-peer` limit (IPv4 shorter than
/// /16, IPv6 shorter than /48), or `world` itself.
pub fn is_wide(p: &Peer) -> bool {
    match p {
        Peer::Cidr(IpNet::V4(n)) => n.prefix_len() < 16,
        Peer::Cidr(IpNet::V6(n)) => n.prefix_len() < 48,
        Peer::Entity(Entity::World) => true,
        _ => false,
    }
}

/// The subject of an edge finding (the responder when it is a workload,
/// else the initiator), the other end, and the direction seen from it.
fn oriented<'a>(from: &'a Peer, to: &'a Peer) -> (&'a Peer, &'a Peer, Direction) {
    if to.as_workload().is_some() {
        (to, from, Direction::Ingress)
    } else {
        (from, to, Direction::Egress)
    }
}

/// What kind of outside peer this is, in words.
fn world_kind(p: &Peer) -> &'static str {
    match p {
        Peer::Entity(Entity::World) => "world: any address outside the cluster",
        Peer::Cidr(_) if is_wide(p) => "a wide range outside the cluster",
        Peer::Cidr(n) if n.prefix_len() < n.max_prefix_len() => "a range outside the cluster",
        Peer::Cidr(_) => "one address outside the cluster, no DNS name seen",
        Peer::Fqdn(_) => "a DNS name outside the cluster (toFQDNs can pin it)",
        _ => "outside the cluster",
    }
}

/// Every finding of a graph (and the undecided pairs of its run), sorted by
/// severity, kind, subject, peer.
pub fn analyse(graph: &TrafficGraph, undecided: &Undecided, names: &Names) -> Vec<Finding> {
    let name = |p: &Peer| names.peer(p);
    let mut out = Vec::new();
    for (from, to, e) in graph.edges_sorted() {
        edge_findings(names, from, to, e, &mut out);
    }
    for (w, sel) in choose_selectors(graph.workloads()) {
        if let Some(warning) = sel.warning {
            out.push(Finding {
                kind: FindingKind::NoStableSelector,
                severity: Severity::Medium,
                subject: name(&Peer::Workload(w)),
                peer: None,
                direction: None,
                ports: Vec::new(),
                evidence: None,
                detail: warning,
                files: Vec::new(),
            });
        }
    }
    coverage_findings(graph, &mut out);
    undecided_findings(names, undecided, &mut out);
    out.sort_by(|a, b| {
        (a.severity, a.kind, &a.subject, &a.peer, &a.ports)
            .cmp(&(b.severity, b.kind, &b.subject, &b.peer, &b.ports))
    });
    out
}

fn edge_findings(names: &Names, from: &Peer, to: &Peer, e: &EdgeData, out: &mut Vec<Finding>) {
    let name = |p: &Peer| names.peer(p);
    let allowed: Vec<(String, &Tally)> = e
        .ports
        .iter()
        .filter_map(|(k, s)| s.allowed.as_ref().map(|t| (k.to_string(), t)))
        .collect();
    let dropped: Vec<(String, &Tally)> = e
        .ports
        .iter()
        .filter_map(|(k, s)| s.dropped.as_ref().map(|t| (k.to_string(), t)))
        .collect();
    let ports = |v: &[(String, &Tally)]| v.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    let evidence = |v: &[(String, &Tally)]| Some(Evidence::of(v.iter().map(|(_, t)| *t)));
    if !allowed.is_empty() {
        if let (true, Some(w)) = (from.is_world(), to.as_workload()) {
            let numbers: Vec<u16> = e
                .ports
                .iter()
                .filter(|(_, s)| s.allowed.is_some())
                .map(|(k, _)| k.port)
                .collect();
            let roles = classify::roles(w, &numbers);
            let wide = is_wide(from);
            let kind = if roles.contains(&Role::SecretStore) {
                Some((FindingKind::WorldToSecretStore, Severity::Critical))
            } else if roles.contains(&Role::Datastore) {
                let sev = if wide {
                    Severity::Critical
                } else {
                    Severity::High
                };
                Some((FindingKind::WorldToDatastore, sev))
            } else {
                None
            };
            if let Some((kind, severity)) = kind {
                out.push(Finding {
                    kind,
                    severity,
                    subject: name(to),
                    peer: Some(name(from)),
                    direction: Some(Direction::Ingress),
                    ports: ports(&allowed),
                    evidence: evidence(&allowed),
                    files: Vec::new(),
                    detail: format!(
                        "{}; {}",
                        roles
                            .iter()
                            .filter(|r| **r != Role::ClusterAdmin)
                            .map(|r| r.describe())
                            .collect::<Vec<_>>()
                            .join(", "),
                        world_kind(from)
                    ),
                });
            }
        }
        if let (Some(w), true) = (from.as_workload(), to.is_world()) {
            if classify::roles(w, &[]).contains(&Role::ClusterAdmin) {
                out.push(Finding {
                    kind: FindingKind::AdminEgressToWorld,
                    severity: Severity::High,
                    subject: name(from),
                    peer: Some(name(to)),
                    direction: Some(Direction::Egress),
                    ports: ports(&allowed),
                    evidence: evidence(&allowed),
                    detail: world_kind(to).to_string(),
                    files: Vec::new(),
                });
            }
        }
        let (subject, peer, dir) = oriented(from, to);
        for (port, t) in allowed.iter().filter(|(_, t)| t.connections <= 1) {
            out.push(Finding {
                kind: FindingKind::SeenOnce,
                severity: Severity::Low,
                subject: name(subject),
                peer: Some(name(peer)),
                direction: Some(dir),
                ports: vec![port.clone()],
                evidence: evidence(&[(port.clone(), *t)]),
                files: Vec::new(),
                detail: format!(
                    "{} → {}: {} connection, {} flows",
                    name(from),
                    name(to),
                    t.connections,
                    t.flows
                ),
            });
        }
    }
    if !dropped.is_empty() {
        let ev = Evidence::of(dropped.iter().map(|(_, t)| *t));
        let (subject, peer, dir) = oriented(from, to);
        out.push(Finding {
            kind: FindingKind::DroppedFlows,
            severity: Severity::Medium,
            subject: name(subject),
            peer: Some(name(peer)),
            direction: Some(dir),
            ports: ports(&dropped),
            detail: format!("{} → {}: {} flows DROPPED", name(from), name(to), ev.flows),
            files: Vec::new(),
            evidence: Some(ev),
        });
    }
}

fn coverage_findings(graph: &TrafficGraph, out: &mut Vec<Finding>) {
    let c = &graph.coverage;
    for (node, lost) in &c.lost_events {
        out.push(Finding {
            kind: FindingKind::LostEvents,
            severity: Severity::Medium,
            subject: node.clone(),
            peer: None,
            direction: None,
            ports: Vec::new(),
            evidence: None,
            detail: format!("{lost} events lost on {node}"),
            files: Vec::new(),
        });
    }
    for node in &c.unavailable_nodes {
        out.push(Finding {
            kind: FindingKind::NodeUnavailable,
            severity: Severity::Medium,
            subject: node.clone(),
            peer: None,
            direction: None,
            ports: Vec::new(),
            evidence: None,
            detail: format!("{node} was reported NODE_UNAVAILABLE by the relay"),
            files: Vec::new(),
        });
    }
}

fn undecided_findings(names: &Names, u: &Undecided, out: &mut Vec<Finding>) {
    let name = |p: &Peer| names.peer(p);
    let ranked = u.ranked();
    for (e, t) in ranked.iter().take(UNDECIDED_LISTED) {
        let mut ports: Vec<String> = t
            .ports
            .iter()
            .map(|(a, b)| format!("{a}↔{b}/{}", e.proto.as_str()))
            .collect();
        if t.more_ports > 0 {
            ports.push(format!("+{} more", t.more_ports));
        }
        let why: Vec<String> = t.why.iter().map(ToString::to_string).collect();
        out.push(Finding {
            kind: FindingKind::UndecidedDirection,
            severity: Severity::Low,
            subject: name(&e.a),
            peer: Some(name(&e.b)),
            direction: Some(Direction::Either),
            ports,
            evidence: Some(Evidence {
                connections: 0,
                flows: t.flows,
                first_seen: format_time(t.first_seen),
                last_seen: format_time(t.last_seen),
            }),
            detail: why.join("; "),
            files: Vec::new(),
        });
    }
    let rest: u64 = ranked
        .iter()
        .skip(UNDECIDED_LISTED)
        .map(|(_, t)| t.flows)
        .sum::<u64>()
        + u.overflow_flows;
    if rest > 0 {
        out.push(Finding {
            kind: FindingKind::UndecidedDirection,
            severity: Severity::Low,
            subject: "(more peer pairs)".to_string(),
            peer: None,
            direction: None,
            ports: Vec::new(),
            evidence: None,
            files: Vec::new(),
            detail: format!(
                "{rest} more undecided flows in {} more peer pairs, not listed",
                ranked.len().saturating_sub(UNDECIDED_LISTED)
            ),
        });
    }
}

/// Findings per kind, every kind present (zero when none).
pub fn counts(findings: &[Finding]) -> BTreeMap<FindingKind, usize> {
    let mut m: BTreeMap<FindingKind, usize> = FindingKind::ALL.iter().map(|k| (*k, 0)).collect();
    for f in findings {
        *m.entry(f.kind).or_default() += 1;
    }
    m
}
