//! HTTP rules from request classes: sibling collapse of templated paths,
//! then one `{method, path, host}` rule per class, each an RE2 expression
//! for Envoy's full-match header matchers (`:method`, `:path`,
//! `:authority`).
//!
//! The `path` regex is the template's regex followed by `(\?.*)?`: Envoy's
//! `:path` holds the query string too, and a query never becomes part of a
//! rule. gRPC paths stay exact and are never collapsed. A host that is an
//! IP literal (a pod or node address, which changes) is not written.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::graph::{HttpSeen, RequestClass};
use crate::interpret::path_template::{self, Param};
use crate::policy::HttpRule;

/// Default `--l7-collapse`: this many distinct literal siblings (same
/// method, host, and every other segment) become one `{seg}` segment.
pub const DEFAULT_COLLAPSE: usize = 10;

/// What a rule may match after templating and collapse.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleClass {
    pub method: String,
    /// Template (see [`path_template`]).
    pub path: String,
    pub host: Option<String>,
}

/// Whether a port's evidence may be turned into HTTP rules: requests were
/// recorded and none were lost to the cap.
pub fn usable(seen: Option<&HttpSeen>) -> Option<&HttpSeen> {
    seen.filter(|s| !s.classes.is_empty() && s.overflow == 0)
}

/// The host written in a rule: the observed `:authority`, unless it is an
/// address literal (`10.0.0.4:8080`, `[fd00::1]:80`).
fn rule_host(host: Option<&str>) -> Option<String> {
    let h = host?;
    let bare = match h.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => h.rsplit_once(':').map_or(h, |(a, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                a
            } else {
                h
            }
        }),
    };
    if bare.parse::<IpAddr>().is_ok() || h.parse::<IpAddr>().is_ok() {
        return None;
    }
    Some(h.to_string())
}

/// Classes after sibling collapse (`collapse: None` or < 2: never).
pub fn collapse<'a>(
    classes: impl IntoIterator<Item = &'a RequestClass>,
    threshold: Option<usize>,
) -> BTreeSet<RuleClass> {
    let mut groups: BTreeMap<(String, Option<String>), BTreeSet<String>> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for c in classes {
        let host = rule_host(c.host.as_deref());
        if path_template::is_grpc(&c.path) {
            out.insert(RuleClass {
                method: c.method.clone(),
                path: c.path.clone(),
                host,
            });
            continue;
        }
        groups
            .entry((c.method.clone(), host))
            .or_default()
            .insert(c.path.clone());
    }
    for ((method, host), paths) in groups {
        let paths = match threshold.filter(|t| *t >= 2) {
            Some(t) => collapse_paths(paths, t),
            None => paths,
        };
        out.extend(paths.into_iter().map(|path| RuleClass {
            method: method.clone(),
            path,
            host: host.clone(),
        }));
    }
    out
}

/// Whether a template segment is plain literal text (no placeholder).
fn is_literal(seg: &str) -> bool {
    path_template::parse(seg).is_some_and(|parts| {
        parts
            .iter()
            .all(|p| matches!(p, path_template::Part::Literal(_)))
    })
}

/// Collapses, position by position from the last segment, every group of
/// templates that differ only at that position and have ≥ `threshold`
/// distinct non-empty literal segments there: all their non-empty segments
/// at that position become `{seg}`.
fn collapse_paths(paths: BTreeSet<String>, threshold: usize) -> BTreeSet<String> {
    let mut paths: BTreeSet<Vec<String>> = paths
        .iter()
        .map(|p| p.split('/').map(str::to_string).collect())
        .collect();
    let longest = paths.iter().map(Vec::len).max().unwrap_or(0);
    let seg = Param::Seg.placeholder();
    for i in (1..longest).rev() {
        let mut groups: BTreeMap<(usize, Vec<String>), BTreeSet<String>> = BTreeMap::new();
        for p in paths.iter().filter(|p| p.len() > i) {
            let mut rest = p.clone();
            let at = rest.remove(i);
            if !at.is_empty() && is_literal(&at) {
                groups.entry((p.len(), rest)).or_default().insert(at);
            }
        }
        let wide: BTreeSet<(usize, Vec<String>)> = groups
            .into_iter()
            .filter(|(_, lits)| lits.len() >= threshold)
            .map(|(k, _)| k)
            .collect();
        if wide.is_empty() {
            continue;
        }
        paths = paths
            .into_iter()
            .map(|mut p| {
                if p.len() > i && !p[i].is_empty() {
                    let mut rest = p.clone();
                    rest.remove(i);
                    if wide.contains(&(p.len(), rest)) {
                        p[i] = seg.clone();
                    }
                }
                p
            })
            .collect();
    }
    paths.into_iter().map(|p| p.join("/")).collect()
}

/// The `:path` regex of a template: its path, then any query string.
pub fn path_regex(template: &str) -> Option<String> {
    Some(format!("{}(\\?.*)?", path_template::path_regex(template)?))
}

/// The HTTP rule of one class (`None` if its template does not parse,
/// which only a hand-edited baseline can cause).
pub fn rule(c: &RuleClass) -> Option<HttpRule> {
    Some(HttpRule {
        method: Some(path_template::regex_escape(&c.method)),
        path: Some(path_regex(&c.path)?),
        host: c.host.as_deref().map(path_template::regex_escape),
        ..HttpRule::default()
    })
}

/// The HTTP rules for what one peer sent to one port.
pub fn rules(seen: &HttpSeen, threshold: Option<usize>) -> Vec<HttpRule> {
    collapse(seen.classes.keys(), threshold)
        .iter()
        .filter_map(rule)
        .collect()
}

/// The allow-all HTTP rule (`{}`): a peer on an L7 port without request
/// evidence of its own.
pub fn allow_all() -> Vec<HttpRule> {
    vec![HttpRule::default()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(method: &str, path: &str, host: Option<&str>) -> RequestClass {
        RequestClass {
            method: method.into(),
            path: path.into(),
            host: host.map(str::to_string),
        }
    }

    fn paths(classes: &[RequestClass], t: Option<usize>) -> Vec<String> {
        collapse(classes, t).into_iter().map(|c| c.path).collect()
    }

    #[test]
    fn siblings_collapse_at_the_threshold_only() {
        let mut cs: Vec<RequestClass> = (0..3)
            .map(|i| class("GET", &format!("/docs/page{}", (b'a' + i) as char), None))
            .collect();
        cs.push(class("GET", "/docs/page{int}", None));
        assert_eq!(paths(&cs, Some(3)), ["/docs/{seg}"]);
        assert_eq!(paths(&cs, Some(4)).len(), 4);
        assert_eq!(paths(&cs, None).len(), 4);
        // other methods, hosts and parents are other groups
        cs.push(class("POST", "/docs/pagea", None));
        cs.push(class("GET", "/other/pagea", None));
        assert_eq!(
            paths(&cs, Some(3)),
            ["/docs/{seg}", "/other/pagea", "/docs/pagea"]
        );
    }

    #[test]
    fn collapse_works_inside_paths_and_keeps_grpc_exact() {
        let mut cs: Vec<RequestClass> = ["alice", "bob", "carol"]
            .iter()
            .map(|u| class("GET", &format!("/users/{u}/avatar"), None))
            .collect();
        cs.extend(
            ["A", "B", "C"]
                .iter()
                .map(|m| class("POST", &format!("/pkg.Svc/{m}"), None)),
        );
        assert_eq!(
            paths(&cs, Some(3)),
            [
                "/users/{seg}/avatar",
                "/pkg.Svc/A",
                "/pkg.Svc/B",
                "/pkg.Svc/C"
            ]
        );
    }

    #[test]
    fn address_hosts_are_not_written() {
        assert_eq!(rule_host(Some("10.0.0.4:8080")), None);
        assert_eq!(rule_host(Some("10.0.0.4")), None);
        assert_eq!(rule_host(Some("[fd00::1]:80")), None);
        assert_eq!(rule_host(Some("fd00::1")), None);
        assert_eq!(
            rule_host(Some("api.shop:8080")).as_deref(),
            Some("api.shop:8080")
        );
        assert_eq!(rule_host(None), None);
    }

    #[test]
    fn rules_are_escaped_regexes_with_optional_query() {
        let r = rule(&RuleClass {
            method: "POST".into(),
            path: "/payments.Billing/Charge".into(),
            host: Some("billing.shop:50051".into()),
        })
        .unwrap();
        assert_eq!(r.method.as_deref(), Some("POST"));
        assert_eq!(r.path.as_deref(), Some(r"/payments\.Billing/Charge(\?.*)?"));
        assert_eq!(r.host.as_deref(), Some(r"billing\.shop:50051"));
    }
}
