//! Synthesis: the traffic graph → a least-privilege [`PolicySet`].
//!
//! One CiliumNetworkPolicy per observed workload, allowing exactly its
//! observed ingress and egress (and putting it into default-deny in both
//! directions), plus the foundation rules of the rollout plan as
//! CiliumClusterwideNetworkPolicies that never flip pods into default-deny by
//! themselves. Pure: no I/O, deterministic for a given graph and config.

pub mod egress;
pub mod foundation;
pub mod k8s;
pub mod l7;
pub mod peers;
pub mod ports;
pub mod resolver;
pub mod roles;
pub mod selector;
pub mod view;
pub mod workload;

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use rustc_hash::FxHashMap;

use crate::graph::stability::NextWeek;
use crate::graph::{PortStats, TrafficGraph};
use crate::peer::l4::PortKey;
use crate::peer::{Peer, WorkloadKey};
use crate::policy::{CiliumClusterwideNetworkPolicy, CiliumNetworkPolicy};
pub use resolver::Resolver;
use selector::Selector;

/// Label put on every generated object.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "flowpolicy");
/// Annotation prefix for evidence on generated objects.
pub const ANNOTATION_PREFIX: &str = "flowpolicy.io/";
/// The evidence annotations of a workload's policy (after
/// [`ANNOTATION_PREFIX`]): what was seen, which changes with every capture
/// while what the policy allows may not (a refresh keeps a file that
/// differs only in them).
pub const EVIDENCE_ANNOTATIONS: [&str; 4] = ["connections", "first-seen", "flows", "last-seen"];
/// How a workload policy's description starts; the rest of it repeats the
/// evidence (connections, flows, first and last seen) and counts the peers.
pub const DESCRIPTION_PREFIX: &str = "flowpolicy: least privilege for ";

/// Choices the user makes about what to generate.
#[derive(Debug, Clone, Default)]
pub struct SynthConfig {
    /// Also allow traffic that was DROPPED when observed.
    pub include_dropped: bool,
    /// Collapse ≥ N sibling names into `*.parent` (`None`: never).
    pub fqdn_collapse: Option<usize>,
    /// Emit the foundation CCNPs (DNS, kube-apiserver).
    pub foundation: bool,
    /// kube-apiserver foundation for every endpoint, not only the observed users.
    pub apiserver_cluster_wide: bool,
    /// Also emit a same-namespace allow (per namespace, really scoped to it).
    pub same_namespace: bool,
    /// Only emit per-workload policies for these namespaces (empty: all).
    pub namespaces: BTreeSet<String>,
    /// Prefixes world peers were grouped into (shown in descriptions only).
    pub cidr_groups: Vec<IpNet>,
    /// L7 rules (`--l7`); none by default.
    pub l7: l7::L7Config,
    /// One policy per workload instance, never per role (`--per-instance`).
    pub per_instance: bool,
}

/// Everything synthesis produced.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    /// Foundation rules, clusterwide.
    pub clusterwide: Vec<CiliumClusterwideNetworkPolicy>,
    /// Per-workload (and optional same-namespace) policies, sorted by namespace and name.
    pub namespaced: Vec<CiliumNetworkPolicy>,
    pub resolvers: Vec<Resolver>,
    /// Families of instances written as one policy per role.
    pub families: Vec<roles::Family>,
    pub warnings: Vec<Warning>,
    /// The workload behind each per-workload policy, by `(namespace, name)`
    /// (what [`policy_workloads`] gives, without a second synthesis pass).
    pub workloads: BTreeMap<(String, String), WorkloadKey>,
    /// The "next week" measure on the graph as this synthesis read it
    /// (`NextWeek::of(&policy_view(…))`, without reading it again).
    pub next_week: NextWeek,
}

/// Something the user should know about the generated set. Warnings of one
/// kind are printed together, a handful at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub kind: WarningKind,
    pub message: String,
}

/// The kinds of [`Warning`], in the order they are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WarningKind {
    /// A selector also matches other observed workloads.
    SelectorOverlap,
    /// No DNS resolver was seen.
    NoResolver,
    /// A `toFQDNs` companion DNS rule had to assume kube-dns.
    AssumedKubeDns,
    /// Learned edge ports without a port (old baselines): never allowed.
    Portless,
    /// A port kept L4 (or allow-all at L7) because its HTTP evidence overflowed.
    L7Overflow,
    /// A DNS rule kept `matchPattern: "*"` under `--l7 dns`.
    DnsWildcard,
}

impl WarningKind {
    /// Plural description for "and N more …".
    pub fn describe(self) -> &'static str {
        match self {
            WarningKind::SelectorOverlap => "workloads whose selector also selects others",
            WarningKind::NoResolver => "missing-resolver warnings",
            WarningKind::AssumedKubeDns => "workloads whose DNS rule assumes kube-system/kube-dns",
            WarningKind::Portless => "port-less edge warnings",
            WarningKind::L7Overflow => "ports whose HTTP requests were too varied for rules",
            WarningKind::DnsWildcard => "DNS rules kept at matchPattern \"*\"",
        }
    }
}

impl Warning {
    pub fn new(kind: WarningKind, message: impl Into<String>) -> Warning {
        Warning {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A warning reads as its message.
impl std::ops::Deref for Warning {
    type Target = str;
    fn deref(&self) -> &str {
        &self.message
    }
}

impl PolicySet {
    pub fn len(&self) -> usize {
        self.clusterwide.len() + self.namespaced.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What one workload did, as synthesis needs it.
#[derive(Debug, Default)]
pub struct Neighbourhood<'g> {
    /// Initiators → (port, evidence) they used on this workload.
    pub ingress: BTreeMap<&'g Peer, BTreeMap<PortKey, &'g PortStats>>,
    /// Responders → (port, evidence) this workload used.
    pub egress: BTreeMap<&'g Peer, BTreeMap<PortKey, &'g PortStats>>,
}

/// The shared view every generator reads.
pub struct Context<'g> {
    pub graph: &'g TrafficGraph,
    pub cfg: &'g SynthConfig,
    /// Each workload's selector (found by address: a sorted map's dozen
    /// label-by-label comparisons per lookup were a quarter of synthesis).
    pub selectors: selector::Selectors<'g>,
    pub resolvers: Vec<Resolver>,
    pub neighbourhoods: BTreeMap<&'g WorkloadKey, Neighbourhood<'g>>,
    /// Learned edge ports without a port (only in baselines written before
    /// flowpolicy refused them): never allowed, since `port: "0"` or a
    /// missing `toPorts` would allow every port.
    pub portless: usize,
}

/// Neighbourhoods by workload key; two gathered under equal keys (a graph
/// holds one node per peer, so only ever by mistake) are merged.
fn by_key<'g>(
    gathered: impl IntoIterator<Item = (&'g WorkloadKey, Neighbourhood<'g>)>,
) -> BTreeMap<&'g WorkloadKey, Neighbourhood<'g>> {
    let mut out: BTreeMap<&WorkloadKey, Neighbourhood> = BTreeMap::new();
    for (w, hood) in gathered {
        let mine = match out.entry(w) {
            // Nearly always: moved whole, not rebuilt entry by entry.
            Entry::Vacant(v) => {
                v.insert(hood);
                continue;
            }
            Entry::Occupied(o) => o.into_mut(),
        };
        for (peer, ports) in hood.ingress {
            mine.ingress.entry(peer).or_default().extend(ports);
        }
        for (peer, ports) in hood.egress {
            mine.egress.entry(peer).or_default().extend(ports);
        }
    }
    out
}

impl<'g> Context<'g> {
    /// The context over `graph`, which is already the synthesis view of the
    /// traffic ([`view::of`]).
    pub fn new(graph: &'g TrafficGraph, cfg: &'g SynthConfig) -> Context<'g> {
        let selectors = selector::Selectors::choose(graph.workloads());
        let resolvers = resolver::detect(graph);
        // Gathered by each graph node's address, sorted once at the end: a
        // workload key hashes and compares label by label.
        let mut neighbourhoods: FxHashMap<*const WorkloadKey, (&WorkloadKey, Neighbourhood)> =
            FxHashMap::default();
        let mut portless = 0;
        // Into sorted maps: in the graph's own order.
        for (from, to, edge) in graph.edges() {
            for (port, stats) in &edge.ports {
                let learned =
                    stats.allowed.is_some() || (cfg.include_dropped && stats.dropped.is_some());
                if !learned {
                    continue;
                }
                if port.port == 0 && !port.proto.is_icmp() {
                    portless += 1;
                    continue;
                }
                if let Some(w) = to.as_workload() {
                    neighbourhoods
                        .entry(w as *const WorkloadKey)
                        .or_insert_with(|| (w, Neighbourhood::default()))
                        .1
                        .ingress
                        .entry(from)
                        .or_default()
                        .insert(*port, stats);
                }
                if let Some(w) = from.as_workload() {
                    neighbourhoods
                        .entry(w as *const WorkloadKey)
                        .or_insert_with(|| (w, Neighbourhood::default()))
                        .1
                        .egress
                        .entry(to)
                        .or_default()
                        .insert(*port, stats);
                }
            }
        }
        Context {
            graph,
            cfg,
            selectors,
            resolvers,
            neighbourhoods: by_key(neighbourhoods.into_values()),
            portless,
        }
    }

    pub fn selector(&self, w: &WorkloadKey) -> &Selector {
        self.selectors.get(w)
    }

    pub fn is_resolver(&self, p: &Peer) -> bool {
        self.resolvers.iter().any(|r| &r.peer == p)
    }
}

/// The roles synthesis reads the graph with (none with `per_instance`).
pub fn roles(graph: &TrafficGraph, cfg: &SynthConfig) -> roles::Roles {
    if cfg.per_instance {
        roles::Roles::default()
    } else {
        roles::Roles::detect(graph.workloads())
    }
}

/// The graph as synthesis reads it ([`view::of`]): instances as their role,
/// reserved identities as the entity a policy names. What "next week" is
/// measured on: a new instance of a known role is no new policy class.
pub fn policy_view<'g>(
    graph: &'g TrafficGraph,
    cfg: &SynthConfig,
) -> std::borrow::Cow<'g, TrafficGraph> {
    view::of(graph, &roles(graph, cfg), cfg.include_dropped)
}

/// The workload behind each per-workload policy, by `(namespace, name)`:
/// the same names [`synthesize`] and [`k8s::synthesize_k8s`] give (a role's
/// policy has the role's key).
pub fn policy_workloads(
    graph: &TrafficGraph,
    cfg: &SynthConfig,
) -> BTreeMap<(String, String), WorkloadKey> {
    let view = view::of(graph, &roles(graph, cfg), cfg.include_dropped);
    let ctx = Context::new(&view, cfg);
    let mut names = workload::PolicyNames::default();
    let mut out = BTreeMap::new();
    for w in ctx.neighbourhoods.keys() {
        if !cfg.namespaces.is_empty() && !cfg.namespaces.contains(&w.namespace) {
            continue;
        }
        let name = workload::policy_name(&ctx, w, &mut names);
        out.insert((w.namespace.clone(), name), (*w).clone());
    }
    out
}

/// Runs synthesis.
pub fn synthesize(graph: &TrafficGraph, cfg: &SynthConfig) -> PolicySet {
    let mut namespaced = Vec::new();
    let mut set = synthesize_into(graph, cfg, &mut |cnp| namespaced.push(cnp));
    namespaced.sort_by(|a, b| {
        (a.metadata.namespace.as_deref(), a.metadata.name.as_str())
            .cmp(&(b.metadata.namespace.as_deref(), b.metadata.name.as_str()))
    });
    set.namespaced = namespaced;
    set
}

/// Runs synthesis, handing each namespaced policy to `made` as soon as it
/// is made (workload by workload, in no order to rely on) instead of
/// keeping it in the set, whose `namespaced` stays empty: a consumer can
/// work on each on another core while the next is made.
pub fn synthesize_into(
    graph: &TrafficGraph,
    cfg: &SynthConfig,
    made: &mut dyn FnMut(CiliumNetworkPolicy),
) -> PolicySet {
    let roles = roles(graph, cfg);
    let view = view::of(graph, &roles, cfg.include_dropped);
    let ctx = Context::new(&view, cfg);
    crate::timings::mark("synthesis context");
    let mut set = PolicySet {
        resolvers: ctx.resolvers.clone(),
        families: roles.families().to_vec(),
        next_week: NextWeek::of(&view),
        ..PolicySet::default()
    };
    for warning in ctx.selectors.iter().filter_map(|s| s.warning.as_ref()) {
        set.warnings
            .push(Warning::new(WarningKind::SelectorOverlap, warning.clone()));
    }
    if ctx.resolvers.is_empty() {
        set.warnings.push(Warning::new(
            WarningKind::NoResolver,
            "no DNS resolver seen in the flows (no answers on UDP/TCP 53 or 5353): DNS rules and toFQDNs cannot be scoped to it",
        ));
    }
    if ctx.portless > 0 {
        set.warnings.push(Warning::new(
            WarningKind::Portless,
            format!(
                "{} learned edge ports have no port (port 0, from a baseline written by an older flowpolicy): not allowed, since port \"0\" means every port",
                ctx.portless
            ),
        ));
    }
    let mut names = workload::PolicyNames::default();
    for (w, hood) in &ctx.neighbourhoods {
        if !cfg.namespaces.is_empty() && !cfg.namespaces.contains(&w.namespace) {
            continue;
        }
        let (cnp, warnings) = workload::workload_policy(&ctx, w, hood, &mut names);
        set.workloads.insert(
            (w.namespace.clone(), cnp.metadata.name.clone()),
            (*w).clone(),
        );
        made(cnp);
        set.warnings.extend(warnings);
    }
    crate::timings::mark("workload policies");
    if cfg.same_namespace {
        let namespaces: BTreeSet<&str> = ctx
            .neighbourhoods
            .keys()
            .map(|w| w.namespace.as_str())
            .filter(|ns| cfg.namespaces.is_empty() || cfg.namespaces.contains(*ns))
            .collect();
        for ns in namespaces {
            made(foundation::same_namespace(ns));
        }
    }
    if cfg.foundation {
        set.clusterwide = foundation::clusterwide(&ctx);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::l4::Proto;

    /// Neighbourhoods gathered under equal keys held apart are one, with
    /// every peer and port of both.
    #[test]
    fn neighbourhoods_under_equal_keys_are_merged() {
        let (w1, w2) = (
            WorkloadKey::from_pairs("shop", &[("app", "web")]),
            WorkloadKey::from_pairs("shop", &[("app", "web")]),
        );
        let (db, cache) = (
            Peer::Workload(WorkloadKey::from_pairs("shop", &[("app", "db")])),
            Peer::Workload(WorkloadKey::from_pairs("shop", &[("app", "cache")])),
        );
        let stats = PortStats::default();
        let port = |port| PortKey {
            proto: Proto::Tcp,
            port,
        };
        let hood = |peer, p| {
            let mut h = Neighbourhood::default();
            h.egress.insert(peer, BTreeMap::from([(port(p), &stats)]));
            h
        };
        let merged = by_key([
            (&w1, hood(&db, 5432)),
            (&w2, hood(&db, 5433)),
            (&w2, hood(&cache, 6379)),
        ]);
        assert_eq!(merged.len(), 1);
        let egress = &merged[&w1].egress;
        assert_eq!(egress.len(), 2);
        assert_eq!(
            egress[&db].keys().copied().collect::<Vec<_>>(),
            [port(5432), port(5433)]
        );
    }
}
