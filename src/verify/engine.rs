//! The decision for one observed connection (initiator → responder on a
//! port): egress at the initiator when it is a pod, ingress at the
//! responder when it is a pod; the connection passes when both do.
//! Replies are never evaluated: Cilium is stateful, and graph edges are
//! already oriented from initiator to responder.
//!
//! Per direction, at a pod `E` talking to peer `P` on port `K`:
//! 1. the rules whose subject selects `E` are collected;
//! 2. `E` is in default-deny for the direction if one of them enforces it;
//! 3. a matching deny section denies (deny wins over allow);
//! 4. otherwise a matching allow section, the absence of enforcement, or
//!    (ingress only) `P` being the local host allows it.
//!
//! Each step is three-valued ([`Tri`]); the deciding policy section (or
//! the reason) is kept for the report, with hints for near misses.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::graph::TrafficGraph;
use crate::peer::l4::PortKey;
use crate::peer::Peer;

use super::model::{CompiledRule, Direction, Model, PeerMatcher, Section, SectionRef};
use super::peers::{entity_matches, fqdn_matches, PeerInfo};
use super::selectors::{namespace_selects, selects, Scope};
use super::tri::{Tri, Why};

/// What one direction decided.
#[derive(Debug, Clone)]
pub struct DirDecision {
    pub direction: Direction,
    /// The pod whose policy was evaluated.
    pub endpoint: Peer,
    pub verdict: Tri,
    pub allowed_by: Option<SectionRef>,
    /// Allowed only because host → local pod is always allowed.
    pub host_default: bool,
    pub denied_by: Option<SectionRef>,
    /// Policies putting the endpoint into default-deny for this direction.
    pub enforced_by: BTreeSet<usize>,
    /// Why the answer is `Unknown`.
    pub unknown: Vec<String>,
    /// Near misses: right peer, wrong port; toFQDNs without a DNS rule.
    pub hints: Vec<String>,
    /// L7 protocols restricting requests on the allowing section.
    pub l7: Vec<String>,
    /// Every allow section that matched (`Yes`) or may match (`Unknown`),
    /// with its match: what L7 evaluation consults.
    pub matched: Vec<(SectionRef, Tri)>,
}

/// The decision for one connection.
#[derive(Debug, Clone)]
pub struct Decision {
    pub verdict: Tri,
    pub egress: Option<DirDecision>,
    pub ingress: Option<DirDecision>,
    /// Every allow section that matched (for usage analysis).
    pub used: Vec<SectionRef>,
}

/// Evaluates connections against a compiled model.
pub struct Engine<'a> {
    pub model: &'a Model,
    pub graph: &'a TrafficGraph,
    no_addresses: BTreeSet<IpAddr>,
}

impl<'a> Engine<'a> {
    pub fn new(model: &'a Model, graph: &'a TrafficGraph) -> Engine<'a> {
        Engine {
            model,
            graph,
            no_addresses: BTreeSet::new(),
        }
    }

    fn info<'p>(&'p self, peer: &'p Peer) -> PeerInfo<'p> {
        let addresses = self
            .graph
            .node_data(peer)
            .map(|n| &n.addresses)
            .unwrap_or(&self.no_addresses);
        PeerInfo { peer, addresses }
    }

    /// Decides one connection.
    pub fn decide(&self, initiator: &Peer, responder: &Peer, port: PortKey) -> Decision {
        let mut used = Vec::new();
        let egress = matches!(initiator, Peer::Workload(_)).then(|| {
            self.direction(
                Direction::Egress,
                initiator,
                self.info(responder),
                port,
                &mut used,
            )
        });
        let ingress = matches!(responder, Peer::Workload(_)).then(|| {
            self.direction(
                Direction::Ingress,
                responder,
                self.info(initiator),
                port,
                &mut used,
            )
        });
        let verdict = [&egress, &ingress]
            .into_iter()
            .flatten()
            .fold(Tri::Yes, |acc, d| acc.and(d.verdict));
        Decision {
            verdict,
            egress,
            ingress,
            used,
        }
    }

    fn subject(&self, rule: &CompiledRule, endpoint: &Peer, why: &mut Why) -> Tri {
        match &rule.subject {
            Some((sel, scope)) => selects(sel, scope, endpoint, why),
            None => Tri::No,
        }
    }

    fn direction(
        &self,
        dir: Direction,
        endpoint: &Peer,
        other: PeerInfo<'_>,
        port: PortKey,
        used: &mut Vec<SectionRef>,
    ) -> DirDecision {
        let mut d = DirDecision {
            direction: dir,
            endpoint: endpoint.clone(),
            verdict: Tri::No,
            allowed_by: None,
            host_default: false,
            denied_by: None,
            enforced_by: BTreeSet::new(),
            unknown: Vec::new(),
            hints: Vec::new(),
            l7: Vec::new(),
            matched: Vec::new(),
        };
        let (mut enforced, mut allow, mut deny) = (Tri::No, Tri::No, Tri::No);
        let mut why = Why::default();
        for (ri, rule) in self.model.rules.iter().enumerate() {
            let s = self.subject(rule, endpoint, &mut why);
            if s == Tri::No {
                continue;
            }
            if rule.enforces(dir) {
                enforced = enforced.or(s);
                if s.is_yes() {
                    d.enforced_by.insert(rule.policy);
                }
            }
            for deny_section in [true, false] {
                for (si, section) in rule.sections(dir, deny_section).iter().enumerate() {
                    let (m, entry) =
                        self.section(rule, section, endpoint, other, port, &mut why, &mut d.hints);
                    let m = s.and(m);
                    let r = SectionRef {
                        rule: ri,
                        direction: dir,
                        deny: deny_section,
                        section: si,
                        entry,
                    };
                    if deny_section {
                        deny = deny.or(m);
                        if m.is_yes() && d.denied_by.is_none() {
                            d.denied_by = Some(r);
                        }
                    } else {
                        allow = allow.or(m);
                        if m != Tri::No {
                            d.matched.push((r, m));
                        }
                        if m.is_yes() {
                            used.push(r);
                            if d.allowed_by.is_none() {
                                d.allowed_by = Some(r);
                                d.l7 = section.l7.clone();
                            }
                        }
                    }
                }
            }
        }
        // Identity 1, whatever else its label union carries.
        if dir == Direction::Ingress && matches!(other.peer, Peer::Entity(e) if e.is_host()) {
            d.host_default = allow != Tri::Yes;
            allow = Tri::Yes;
        }
        d.verdict = enforced.negate().or(allow).and(deny.negate());
        if d.verdict == Tri::Unknown {
            d.unknown = why.0;
        }
        if d.verdict == Tri::Yes {
            d.hints.clear();
        } else {
            self.selector_near_misses(dir, endpoint, other, port, &mut d.hints);
        }
        d
    }

    /// Hints for rules that would allow the connection if their subject
    /// selected the endpoint (a wrong `endpointSelector` label).
    fn selector_near_misses(
        &self,
        dir: Direction,
        endpoint: &Peer,
        other: PeerInfo<'_>,
        port: PortKey,
        hints: &mut Vec<String>,
    ) {
        let Peer::Workload(w) = endpoint else { return };
        for rule in &self.model.rules {
            let Some((sel, scope)) = &rule.subject else {
                continue;
            };
            let in_scope = match scope {
                Scope::Namespace(ns) => *ns == w.namespace,
                Scope::Cluster => true,
            };
            let mut why = Why::default();
            if !in_scope || selects(sel, scope, endpoint, &mut why) != Tri::No {
                continue;
            }
            for section in rule.sections(dir, false) {
                let mut scratch = Vec::new();
                let (m, _) =
                    self.section(rule, section, endpoint, other, port, &mut why, &mut scratch);
                if m.is_yes() {
                    push_hint(
                        hints,
                        format!(
                            "{} {} would allow it, but its endpointSelector {} does not select {endpoint}",
                            self.model.policies[rule.policy],
                            section.path,
                            serde_json::to_string(sel).unwrap_or_default()
                        ),
                    );
                }
            }
        }
    }

    /// Whether a section matches the peer and port, with the port entry.
    #[allow(clippy::too_many_arguments)]
    fn section(
        &self,
        rule: &CompiledRule,
        section: &Section,
        endpoint: &Peer,
        other: PeerInfo<'_>,
        port: PortKey,
        why: &mut Why,
        hints: &mut Vec<String>,
    ) -> (Tri, Option<usize>) {
        let mut peer = if cidrs_cover_every_address(section, other) {
            Tri::Yes
        } else {
            Tri::No
        };
        for pm in &section.peers {
            if peer.is_yes() {
                break;
            }
            peer = peer.or(self.peer(rule, section, pm, endpoint, other, why, hints));
        }
        if peer == Tri::No {
            return (Tri::No, None);
        }
        let (ports, entry) = section.ports.matches(port, why);
        if peer.is_yes() && ports == Tri::No && !matches!(section.peers[..], [PeerMatcher::Any]) {
            let list: Vec<String> = section
                .ports
                .entries
                .iter()
                .map(ToString::to_string)
                .collect();
            push_hint(
                hints,
                format!(
                    "{} {} allows {} only on {}",
                    self.model.policies[rule.policy],
                    section.path,
                    other.peer,
                    list.join(", ")
                ),
            );
        }
        (peer.and(ports), entry)
    }

    #[allow(clippy::too_many_arguments)]
    fn peer(
        &self,
        rule: &CompiledRule,
        section: &Section,
        pm: &PeerMatcher,
        endpoint: &Peer,
        other: PeerInfo<'_>,
        why: &mut Why,
        hints: &mut Vec<String>,
    ) -> Tri {
        match pm {
            PeerMatcher::Any => Tri::Yes,
            PeerMatcher::Endpoints { selector, scope } => selects(selector, scope, other.peer, why),
            PeerMatcher::K8sNamespaces { namespaces, pods } => {
                let ns = namespace_selects(namespaces, other.peer, why);
                let pods = match pods {
                    Some(p) => selects(p, &Scope::Cluster, other.peer, why),
                    None => Tri::Yes,
                };
                ns.and(pods)
            }
            PeerMatcher::Entity(e) => entity_matches(e, other, why),
            PeerMatcher::Cidr(c) => c.matches(other, why),
            PeerMatcher::Unresolvable(what) => why.unknown(what.clone()),
            PeerMatcher::Fqdn(sel) => {
                let Peer::Fqdn(name) = other.peer else {
                    return Tri::No;
                };
                if !fqdn_matches(sel, name) {
                    return Tri::No;
                }
                let dns = self.dns_covers(endpoint, name, why);
                if dns != Tri::Yes {
                    push_hint(
                        hints,
                        format!(
                            "{} {} names {name} in toFQDNs, but no egress DNS rule (toPorts[].rules.dns) of a policy selecting {endpoint} covers it: Cilium's DNS proxy never learns its addresses",
                            self.model.policies[rule.policy], section.path
                        ),
                    );
                }
                dns
            }
        }
    }

    /// Whether some rule selecting `endpoint` has an egress DNS L7 rule
    /// covering `name` (what makes `toFQDNs` effective).
    pub fn dns_covers(&self, endpoint: &Peer, name: &str, why: &mut Why) -> Tri {
        let mut out = Tri::No;
        for rule in &self.model.rules {
            if rule.dns.iter().any(|s| fqdn_matches(s, name)) {
                out = out.or(self.subject(rule, endpoint, why));
                if out.is_yes() {
                    break;
                }
            }
        }
        out
    }
}

fn push_hint(hints: &mut Vec<String>, h: String) {
    if !hints.contains(&h) {
        hints.push(h);
    }
}

/// A DNS-named peer stands for connections to each of its addresses; a
/// section whose CIDR peers together cover every one of them (one `ipBlock`
/// or `toCIDR` entry per address, as NetworkPolicy output writes them)
/// allows all of those connections.
fn cidrs_cover_every_address(section: &Section, other: PeerInfo<'_>) -> bool {
    if !matches!(other.peer, Peer::Fqdn(_)) || other.addresses.is_empty() {
        return false;
    }
    let cidrs: Vec<&super::peers::CidrMatch> = section
        .peers
        .iter()
        .filter_map(|pm| match pm {
            PeerMatcher::Cidr(c) => Some(c),
            _ => None,
        })
        .collect();
    !cidrs.is_empty()
        && other
            .addresses
            .iter()
            .all(|a| cidrs.iter().any(|c| c.covers(*a)))
}
