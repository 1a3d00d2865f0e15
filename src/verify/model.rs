//! The policy model verification runs on: every loaded CNP, CCNP (`spec`
//! and each `specs[]` entry) and Kubernetes NetworkPolicy compiled into
//! flat [`CompiledRule`]s with Cilium's semantics made explicit —
//! namespace scoping, per-direction default-deny (with `enableDefaultDeny`
//! opt-outs and Kubernetes `policyTypes`), L4-only sections that match any
//! peer, the egress DNS rules that make `toFQDNs` work, and the parts that
//! cannot be evaluated offline (noted, and matched as `Unknown`).

use serde::Serialize;

use crate::peer::Peer;

use crate::policy::k8s::{NetworkPolicy, NetworkPolicyPeer, PolicyType};
use crate::policy::{
    AnyPolicy, CidrRule, EgressRule, EndpointSelector, Entity, FqdnSelector, IngressRule,
    LoadedPolicies, LoadedPolicy, PolicyKind, PortRule, Rule,
};

use super::http::RegexCache;
use super::peers::{parse_cidr, CidrMatch};
use super::port_l7::PortL7;
use super::ports::PortMatcher;
use super::selectors::Scope;

/// Which way a connection crosses an endpoint's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// A loaded policy, as reports name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyInfo {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// `file:line (document n)`.
    pub source: String,
}

impl std::fmt::Display for PolicyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One peer alternative of a section.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerMatcher {
    /// Any peer: an L4-only section, or a Kubernetes rule with no `from`/`to`.
    Any,
    /// `fromEndpoints`/`toEndpoints` (and Kubernetes `podSelector` peers).
    Endpoints {
        selector: EndpointSelector,
        scope: Scope,
    },
    /// A Kubernetes peer with a `namespaceSelector` (and optional `podSelector`).
    K8sNamespaces {
        namespaces: EndpointSelector,
        pods: Option<EndpointSelector>,
    },
    Entity(Entity),
    Cidr(CidrMatch),
    Fqdn(FqdnSelector),
    /// Something that cannot be matched offline (Services, cloud groups,
    /// CIDR groups, node selectors, bad CIDRs): always `Unknown`.
    Unresolvable(String),
}

/// One `ingress`/`egress`/`…Deny` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Field path inside the policy, e.g. `spec.ingress[2]`.
    pub path: String,
    pub peers: Vec<PeerMatcher>,
    pub ports: PortMatcher,
    /// L7 protocols restricting requests on these ports (`http`, `kafka`, …).
    pub l7: Vec<String>,
    /// Per `toPorts` entry, its ports and compiled L7 rules (empty for
    /// sections without `toPorts` and for Kubernetes rules).
    pub port_l7: Vec<PortL7>,
}

/// One Cilium rule (or one Kubernetes NetworkPolicy) with everything the
/// engine needs.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledRule {
    /// Index into [`Model::policies`].
    pub policy: usize,
    /// `spec`, `specs[1]`.
    pub path: String,
    /// Which pods it applies to; `None` for host policies (`nodeSelector`).
    pub subject: Option<(EndpointSelector, Scope)>,
    pub ingress: Vec<Section>,
    pub ingress_deny: Vec<Section>,
    pub egress: Vec<Section>,
    pub egress_deny: Vec<Section>,
    pub enforces_ingress: bool,
    pub enforces_egress: bool,
    /// DNS L7 selectors of egress rules (`toPorts[].rules.dns`).
    pub dns: Vec<FqdnSelector>,
}

impl CompiledRule {
    pub fn sections(&self, dir: Direction, deny: bool) -> &[Section] {
        match (dir, deny) {
            (Direction::Ingress, false) => &self.ingress,
            (Direction::Ingress, true) => &self.ingress_deny,
            (Direction::Egress, false) => &self.egress,
            (Direction::Egress, true) => &self.egress_deny,
        }
    }

    pub fn enforces(&self, dir: Direction) -> bool {
        match dir {
            Direction::Ingress => self.enforces_ingress,
            Direction::Egress => self.enforces_egress,
        }
    }
}

/// All policies, compiled.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub policies: Vec<PolicyInfo>,
    pub rules: Vec<CompiledRule>,
    /// What the model cannot evaluate, per policy: `(policy, note)`.
    pub notes: Vec<(usize, String)>,
    /// HTTP rule regexes, compiled once per pattern.
    pub regexes: RegexCache,
}

impl Model {
    pub fn compile(loaded: &LoadedPolicies) -> Model {
        let mut m = Model::default();
        for lp in &loaded.policies {
            m.add(lp);
        }
        m
    }

    fn add(&mut self, lp: &LoadedPolicy) {
        let p = &lp.policy;
        let idx = self.policies.len();
        let namespace = match p.kind() {
            PolicyKind::Ccnp => None,
            _ => Some(p.namespace().unwrap_or("default").to_string()),
        };
        if p.kind() != PolicyKind::Ccnp && p.namespace().is_none() {
            self.notes.push((
                idx,
                "no metadata.namespace: evaluated in namespace default".into(),
            ));
        }
        self.policies.push(PolicyInfo {
            kind: p.kind().to_string(),
            namespace: namespace.clone(),
            name: p.name().to_string(),
            source: lp.source.to_string(),
        });
        let scope = namespace.map_or(Scope::Cluster, Scope::Namespace);
        match p {
            AnyPolicy::K8s(np) => {
                let r = self.k8s_rule(idx, np, &scope);
                self.rules.push(r);
            }
            _ => {
                let spec_count = usize::from(match p {
                    AnyPolicy::Cnp(c) => c.spec.is_some(),
                    AnyPolicy::Ccnp(c) => c.spec.is_some(),
                    AnyPolicy::K8s(_) => false,
                });
                for (i, rule) in p.rules().enumerate() {
                    let path = if i < spec_count {
                        "spec".to_string()
                    } else {
                        format!("specs[{}]", i - spec_count)
                    };
                    let r = self.cilium_rule(idx, path, rule, &scope);
                    self.rules.push(r);
                }
            }
        }
    }

    fn cilium_rule(
        &mut self,
        idx: usize,
        path: String,
        rule: &Rule,
        scope: &Scope,
    ) -> CompiledRule {
        let subject = match (&rule.endpoint_selector, &rule.node_selector) {
            (Some(s), _) => Some((s.clone(), scope.clone())),
            (None, Some(_)) => {
                self.notes.push((
                    idx,
                    format!("{path}: host policy (nodeSelector) is not evaluated: it selects nodes, not pods"),
                ));
                None
            }
            (None, None) => {
                self.notes.push((
                    idx,
                    format!("{path}: no endpointSelector: the rule selects nothing"),
                ));
                None
            }
        };
        let ing = |deny: bool, v: &[IngressRule], me: &mut Model| -> Vec<Section> {
            let field = if deny { "ingressDeny" } else { "ingress" };
            v.iter()
                .enumerate()
                .map(|(i, r)| me.ingress_section(idx, format!("{path}.{field}[{i}]"), r, scope))
                .collect()
        };
        let eg = |deny: bool, v: &[EgressRule], me: &mut Model| -> Vec<Section> {
            let field = if deny { "egressDeny" } else { "egress" };
            v.iter()
                .enumerate()
                .map(|(i, r)| me.egress_section(idx, format!("{path}.{field}[{i}]"), r, scope))
                .collect()
        };
        let ingress = ing(false, &rule.ingress, self);
        let ingress_deny = ing(true, &rule.ingress_deny, self);
        let egress = eg(false, &rule.egress, self);
        let egress_deny = eg(true, &rule.egress_deny, self);
        let dns = rule
            .egress
            .iter()
            .flat_map(|e| &e.to_ports)
            .filter_map(|pr| pr.rules.as_ref())
            .flat_map(|r| r.dns.iter().cloned())
            .collect();
        CompiledRule {
            policy: idx,
            path,
            subject,
            ingress,
            ingress_deny,
            egress,
            egress_deny,
            enforces_ingress: rule.enforces_ingress(),
            enforces_egress: rule.enforces_egress(),
            dns,
        }
    }

    fn ingress_section(
        &mut self,
        idx: usize,
        path: String,
        r: &IngressRule,
        scope: &Scope,
    ) -> Section {
        let mut peers = Vec::new();
        endpoint_peers(&r.from_endpoints, scope, &mut peers);
        self.cidr_peers(idx, &path, &r.from_cidr, &r.from_cidr_set, &mut peers);
        peers.extend(r.from_entities.iter().cloned().map(PeerMatcher::Entity));
        self.deprecated(idx, &path, "fromRequires", r.from_requires.len());
        opaque_peer(&mut peers, "fromGroups", r.from_groups.len());
        opaque_peer(&mut peers, "fromNodes", r.from_nodes.len());
        self.section(
            path,
            peers,
            &r.to_ports,
            PortMatcher::cilium(&r.to_ports, &r.icmps),
        )
    }

    fn egress_section(
        &mut self,
        idx: usize,
        path: String,
        r: &EgressRule,
        scope: &Scope,
    ) -> Section {
        let mut peers = Vec::new();
        endpoint_peers(&r.to_endpoints, scope, &mut peers);
        self.cidr_peers(idx, &path, &r.to_cidr, &r.to_cidr_set, &mut peers);
        peers.extend(r.to_entities.iter().cloned().map(PeerMatcher::Entity));
        peers.extend(r.to_fqdns.iter().cloned().map(PeerMatcher::Fqdn));
        self.deprecated(idx, &path, "toRequires", r.to_requires.len());
        opaque_peer(&mut peers, "toServices", r.to_services.len());
        opaque_peer(&mut peers, "toGroups", r.to_groups.len());
        opaque_peer(&mut peers, "toNodes", r.to_nodes.len());
        self.section(
            path,
            peers,
            &r.to_ports,
            PortMatcher::cilium(&r.to_ports, &r.icmps),
        )
    }

    fn section(
        &mut self,
        path: String,
        mut peers: Vec<PeerMatcher>,
        to_ports: &[PortRule],
        ports: PortMatcher,
    ) -> Section {
        // No peer at all: an L4-only rule applies to every peer; an empty
        // rule (`{}`) allows nothing.
        if peers.is_empty() && !ports.all {
            peers.push(PeerMatcher::Any);
        }
        let mut l7 = Vec::new();
        for r in to_ports.iter().filter_map(|p| p.rules.as_ref()) {
            if !r.http.is_empty() {
                l7.push("http".to_string());
            }
            if !r.kafka.is_empty() {
                l7.push("kafka".to_string());
            }
            if !r.l7.is_empty() || r.l7_proto.is_some() {
                l7.push(r.l7_proto.clone().unwrap_or_else(|| "l7".into()));
            }
            if !r.dns.is_empty() {
                l7.push("dns".to_string());
            }
        }
        l7.dedup();
        let port_l7 = PortL7::compile(to_ports, &mut self.regexes);
        Section {
            path,
            peers,
            ports,
            l7,
            port_l7,
        }
    }

    fn deprecated(&mut self, idx: usize, path: &str, field: &str, n: usize) {
        if n > 0 {
            self.notes.push((
                idx,
                format!("{path}.{field} is deprecated and not evaluated"),
            ));
        }
    }

    fn cidr_peers(
        &mut self,
        idx: usize,
        path: &str,
        cidrs: &[String],
        sets: &[CidrRule],
        out: &mut Vec<PeerMatcher>,
    ) {
        for c in cidrs {
            out.push(match parse_cidr(c) {
                Some(net) => PeerMatcher::Cidr(CidrMatch {
                    net,
                    except: Vec::new(),
                }),
                None => {
                    self.notes
                        .push((idx, format!("{path}: invalid CIDR {c:?}")));
                    PeerMatcher::Unresolvable(format!("invalid CIDR {c:?}"))
                }
            });
        }
        for s in sets {
            out.push(match &s.cidr {
                Some(c) => match parse_cidr(c) {
                    Some(net) => PeerMatcher::Cidr(CidrMatch {
                        net,
                        except: s.except.iter().filter_map(|e| parse_cidr(e)).collect(),
                    }),
                    None => PeerMatcher::Unresolvable(format!("invalid CIDR {c:?}")),
                },
                None => PeerMatcher::Unresolvable("CiliumCIDRGroup reference".into()),
            });
        }
    }

    fn k8s_rule(&mut self, idx: usize, np: &NetworkPolicy, scope: &Scope) -> CompiledRule {
        let types = np.spec.effective_policy_types();
        let ns = match scope {
            Scope::Namespace(ns) => ns.clone(),
            Scope::Cluster => "default".to_string(),
        };
        let mut ingress = Vec::new();
        for (i, r) in np.spec.ingress.iter().enumerate() {
            let peers = self.k8s_peers(idx, &r.from, &ns);
            ingress.push(Section {
                path: format!("spec.ingress[{i}]"),
                peers,
                ports: PortMatcher::k8s(&r.ports),
                l7: Vec::new(),
                port_l7: Vec::new(),
            });
        }
        let mut egress = Vec::new();
        for (i, r) in np.spec.egress.iter().enumerate() {
            let peers = self.k8s_peers(idx, &r.to, &ns);
            egress.push(Section {
                path: format!("spec.egress[{i}]"),
                peers,
                ports: PortMatcher::k8s(&r.ports),
                l7: Vec::new(),
                port_l7: Vec::new(),
            });
        }
        CompiledRule {
            policy: idx,
            path: "spec".into(),
            subject: Some((np.spec.pod_selector.clone(), scope.clone())),
            ingress,
            ingress_deny: Vec::new(),
            egress,
            egress_deny: Vec::new(),
            enforces_ingress: types.contains(&PolicyType::Ingress),
            enforces_egress: types.contains(&PolicyType::Egress),
            dns: Vec::new(),
        }
    }

    fn k8s_peers(&mut self, idx: usize, peers: &[NetworkPolicyPeer], ns: &str) -> Vec<PeerMatcher> {
        if peers.is_empty() {
            return vec![PeerMatcher::Any];
        }
        let mut out = Vec::new();
        for p in peers {
            if let Some(b) = &p.ip_block {
                let set = CidrRule {
                    cidr: Some(b.cidr.clone()),
                    except: b.except.clone(),
                    ..CidrRule::default()
                };
                self.cidr_peers(idx, "spec", &[], &[set], &mut out);
            }
            match (&p.namespace_selector, &p.pod_selector) {
                (Some(n), pods) => out.push(PeerMatcher::K8sNamespaces {
                    namespaces: n.clone(),
                    pods: pods.clone(),
                }),
                (None, Some(pods)) => out.push(PeerMatcher::Endpoints {
                    selector: pods.clone(),
                    scope: Scope::Namespace(ns.to_string()),
                }),
                (None, None) => {}
            }
        }
        out
    }
}

fn endpoint_peers(sels: &[EndpointSelector], scope: &Scope, out: &mut Vec<PeerMatcher>) {
    out.extend(sels.iter().map(|s| PeerMatcher::Endpoints {
        selector: s.clone(),
        scope: scope.clone(),
    }));
}

fn opaque_peer(out: &mut Vec<PeerMatcher>, field: &str, n: usize) {
    if n > 0 {
        out.push(PeerMatcher::Unresolvable(format!(
            "{field} cannot be resolved offline"
        )));
    }
}

/// A section of a compiled rule, and the port entry that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SectionRef {
    pub rule: usize,
    pub direction: Direction,
    pub deny: bool,
    pub section: usize,
    /// Index of the matching port entry (`None`: the section has no port list).
    pub entry: Option<usize>,
}

/// The named policy rule a decision came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    pub policy: PolicyInfo,
    /// Field path of the deciding section, e.g. `spec.ingress[1]`.
    pub rule: String,
    /// The port entry that matched, e.g. `5432/TCP`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
}

/// A peer as reports show it: `ns/name` for pods, `entity:host`, `cidr:…`.
pub fn peer_name(p: &Peer) -> String {
    p.to_string()
}

pub(crate) fn rule_ref(model: &Model, r: &SectionRef) -> RuleRef {
    let rule = &model.rules[r.rule];
    let section = &rule.sections(r.direction, r.deny)[r.section];
    RuleRef {
        policy: model.policies[rule.policy].clone(),
        rule: section.path.clone(),
        port: r.entry.map(|i| section.ports.entries[i].to_string()),
    }
}
