//! How L7 evidence becomes parts of a workload's rules: which ports of a
//! peer carry `rules.http` (and with what), `toPorts` entries with them, the
//! DNS selectors of a rule to a resolver, and the warnings when evidence
//! could not be used.

use std::collections::{BTreeMap, BTreeSet};

use crate::graph::PortStats;
use crate::peer::l4::{PortKey, Proto};
use crate::peer::{Peer, WorkloadKey};
use crate::policy::{FqdnSelector, HttpRule, L7Rules, PortProtocol, PortRule, Protocol};
use crate::synth::ports::{l4_rules, L4Rules};
use crate::synth::resolver::is_dns_port;
use crate::synth::{Context, Warning, WarningKind};

/// HTTP rules per port for one peer: on each of `l7_ports` it used, its own
/// requests, or allow-all when it has none usable.
pub type HttpPorts = BTreeMap<PortKey, Vec<HttpRule>>;

/// A sortable key of [`HttpPorts`], to group world peers by identical rules.
pub type HttpKey = Vec<(
    PortKey,
    Vec<(Option<String>, Option<String>, Option<String>)>,
)>;

pub fn http_key(http: &HttpPorts) -> HttpKey {
    http.iter()
        .map(|(p, rules)| {
            let r = rules
                .iter()
                .map(|r| (r.method.clone(), r.path.clone(), r.host.clone()))
                .collect();
            (*p, r)
        })
        .collect()
}

/// The HTTP rules of a peer's ports: on every port of `l7_ports` the peer
/// used, the rules for its own requests (allow-all when it has none
/// usable: a selector without L7 rules on a port another selector
/// redirects must still get every request through).
pub fn http_ports(
    ctx: &Context<'_>,
    ports: &BTreeMap<PortKey, &PortStats>,
    l7_ports: &BTreeSet<PortKey>,
) -> HttpPorts {
    let mut out = HttpPorts::new();
    for (p, stats) in ports {
        if !l7_ports.contains(p) {
            continue;
        }
        let rules = super::http::usable(stats.http.as_ref())
            .map(|seen| super::http::rules(seen, ctx.cfg.l7.collapse))
            .filter(|r| !r.is_empty())
            .unwrap_or_else(super::http::allow_all);
        out.insert(*p, rules);
    }
    out
}

/// Ports with usable HTTP evidence among `ports` (TCP only), when `--l7 http`.
pub fn usable_http_ports<'a>(
    ctx: &Context<'_>,
    ports: impl IntoIterator<Item = (&'a PortKey, &'a &'a PortStats)>,
) -> BTreeSet<PortKey> {
    if !ctx.cfg.l7.http {
        return BTreeSet::new();
    }
    ports
        .into_iter()
        .filter(|(p, s)| p.proto == Proto::Tcp && super::http::usable(s.http.as_ref()).is_some())
        .map(|(p, _)| *p)
        .collect()
}

/// Warns about ports whose HTTP evidence overflowed (kept without rules).
pub fn warn_overflow(
    ctx: &Context<'_>,
    w: &WorkloadKey,
    direction: &str,
    peer: &Peer,
    ports: &BTreeMap<PortKey, &PortStats>,
    warnings: &mut Vec<Warning>,
) {
    if !ctx.cfg.l7.http {
        return;
    }
    for (p, stats) in ports {
        if let Some(seen) = stats.http.as_ref().filter(|h| h.overflow > 0) {
            warnings.push(Warning::new(
                WarningKind::L7Overflow,
                format!(
                    "{}/{}: {direction} {peer} on {p}: {} of {} HTTP requests not recorded (too many distinct request classes); no HTTP rule for them",
                    w.namespace,
                    w.display_name(),
                    seen.overflow,
                    seen.requests()
                ),
            ));
        }
    }
}

/// `toPorts` and `icmps` for a port set, with `rules.http` on the ports of
/// `http` (one `toPorts` entry each, after the plain ones).
pub fn port_rules(set: &BTreeSet<PortKey>, http: &HttpPorts) -> L4Rules {
    let mut l4 = if http.is_empty() {
        l4_rules(set)
    } else {
        let plain: BTreeSet<PortKey> = set
            .iter()
            .filter(|p| !http.contains_key(p))
            .copied()
            .collect();
        l4_rules(&plain)
    };
    for (p, rules) in http {
        l4.to_ports.push(PortRule {
            ports: vec![PortProtocol::new(p.port, Protocol::TCP)],
            rules: Some(L7Rules {
                http: rules.clone(),
                ..L7Rules::default()
            }),
            ..PortRule::default()
        });
    }
    l4
}

/// The DNS selectors of a workload's rule to a resolver: `*`, or with
/// `--l7 dns` the names it queried there plus its `toFQDNs` names.
pub fn dns_selectors(
    ctx: &Context<'_>,
    w: &WorkloadKey,
    peer: &Peer,
    ports: &BTreeMap<PortKey, &PortStats>,
    fqdns: &BTreeSet<String>,
    warnings: &mut Vec<Warning>,
) -> Vec<FqdnSelector> {
    if !ctx.cfg.l7.dns {
        return vec![FqdnSelector::pattern("*")];
    }
    let dns_stats = ports
        .iter()
        .filter(|(p, _)| is_dns_port(p))
        .map(|(_, s)| *s);
    match super::dns::selectors(dns_stats, fqdns, ctx.cfg.fqdn_collapse) {
        Ok(list) => list,
        Err(why) => {
            warnings.push(Warning::new(
                WarningKind::DnsWildcard,
                format!(
                    "{}/{}: DNS to {peer} keeps matchPattern \"*\": {}",
                    w.namespace,
                    w.display_name(),
                    why.describe()
                ),
            ));
            vec![FqdnSelector::pattern("*")]
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::{HttpSeen, PortStats, Tally, TrafficGraph};
    use crate::interpret::http::HttpRequest;
    use crate::peer::l4::{PortKey, Proto};
    use crate::peer::{Peer, WorkloadKey};
    use crate::policy::{CiliumNetworkPolicy, HttpRule, IngressRule};
    use crate::synth::l7::L7Config;
    use crate::synth::{synthesize, SynthConfig, WarningKind};

    fn app(name: &str) -> Peer {
        Peer::Workload(WorkloadKey::from_pairs("shop", &[("app", name)]))
    }

    fn tcp(port: u16) -> PortKey {
        PortKey {
            proto: Proto::Tcp,
            port,
        }
    }

    fn stats(requests: &[(&str, &'static str)], overflow: u64) -> PortStats {
        let mut http = HttpSeen::default();
        for (m, p) in requests {
            http.record(&HttpRequest {
                method: (*m).into(),
                path: p,
                query: None,
                host: None,
            });
        }
        http.overflow = overflow;
        PortStats {
            allowed: Some(Tally {
                connections: 1,
                flows: 1,
                ..Tally::default()
            }),
            http: (!requests.is_empty() || overflow > 0).then_some(http),
            ..PortStats::default()
        }
    }

    fn from<'p>(cnp: &'p CiliumNetworkPolicy, name: &str) -> &'p IngressRule {
        cnp.spec
            .as_ref()
            .unwrap()
            .ingress
            .iter()
            .find(|r| {
                r.from_endpoints[0]
                    .match_labels
                    .get("app")
                    .map(String::as_str)
                    == Some(name)
            })
            .unwrap()
    }

    fn http_on(rule: &IngressRule, port: &str) -> Option<Vec<HttpRule>> {
        rule.to_ports
            .iter()
            .find(|p| p.ports.iter().any(|pp| pp.port == port))
            .and_then(|p| p.rules.as_ref())
            .map(|r| r.http.clone())
    }

    #[test]
    fn l7_port_rules_per_peer_allow_all_for_l4_only_and_overflowed_peers() {
        let mut g = TrafficGraph::new();
        let api = app("api");
        g.insert_port(
            &app("web"),
            &api,
            tcp(8080),
            &stats(&[("GET", "/users/7")], 0),
        );
        g.insert_port(&app("batch"), &api, tcp(8080), &stats(&[], 0));
        g.insert_port(&app("bulk"), &api, tcp(8080), &stats(&[("GET", "/x")], 3));
        g.insert_port(&app("bulk"), &api, tcp(9090), &stats(&[], 0));
        let cfg = SynthConfig {
            l7: L7Config {
                http: true,
                ..L7Config::default()
            },
            ..SynthConfig::default()
        };
        let set = synthesize(&g, &cfg);
        let cnp = set
            .namespaced
            .iter()
            .find(|p| p.metadata.name == "api")
            .unwrap();
        let web = http_on(from(cnp, "web"), "8080").unwrap();
        assert_eq!(web.len(), 1);
        assert_eq!(web[0].path.as_deref(), Some(r"/users/[0-9]+(\?.*)?"));
        assert_eq!(web[0].method.as_deref(), Some("GET"));
        assert_eq!(
            http_on(from(cnp, "batch"), "8080"),
            Some(vec![HttpRule::default()])
        );
        assert_eq!(
            http_on(from(cnp, "bulk"), "8080"),
            Some(vec![HttpRule::default()])
        );
        assert_eq!(http_on(from(cnp, "bulk"), "9090"), None);
        assert!(set
            .warnings
            .iter()
            .any(|w| w.kind == WarningKind::L7Overflow && w.contains("3 of 4")));
        // the client's egress carries its own requests
        let web_cnp = set
            .namespaced
            .iter()
            .find(|p| p.metadata.name == "web")
            .unwrap();
        let egress = &web_cnp.spec.as_ref().unwrap().egress[0];
        let rules = egress.to_ports[0].rules.as_ref().unwrap();
        assert_eq!(rules.http, web);
        // without --l7 nothing of it
        let plain = synthesize(&g, &SynthConfig::default());
        assert!(!serde_yaml::to_string(&plain.namespaced)
            .unwrap()
            .contains("http:"));
    }
}
