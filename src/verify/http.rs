//! HTTP policy rules (`toPorts[].rules.http[]`) compiled into matchers
//! that decide one request the way Cilium's Envoy filter does.
//!
//! Cilium turns each rule into Envoy header matchers (pkg/envoy/server.go,
//! `getHTTPRule`): `path`, `method` and `host` become `safe_regex` (RE2)
//! matchers on `:path` (path *and* query string), `:method` and
//! `:authority`; Envoy matches a regex against the **whole** value, so each
//! pattern is compiled here as `^(?:…)$`. An empty or omitted field matches
//! anything, and `{}` allows every request. `headers` entries are `Name`
//! (presence) or `Name: value` (exact value); `headerMatches` without a
//! `mismatch` action require the value (or presence), with a `mismatch`
//! action they only log or rewrite and never reject. What the request does
//! not show (no header list, a Secret's value) is `Unknown`, never guessed.
//! A pattern the `regex` crate (RE2 syntax, like Go's `regexp`, which
//! Cilium validates with) cannot compile is `Unknown` with the error:
//! Cilium would reject the policy.

use std::collections::HashMap;
use std::sync::Arc;

use regex::Regex;

use crate::policy::HttpRule;

use super::tri::{Tri, Why};

/// One request as a rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestView<'a> {
    /// `:method`, upper-case.
    pub method: &'a str,
    /// `:path`: path, then `?query` when there is one.
    pub target: &'a str,
    /// `:authority` (the Host header), when the flow recorded it.
    pub host: Option<&'a str>,
    /// Request headers `(name, value)`, when the flow recorded them.
    pub headers: Option<&'a [(String, String)]>,
}

/// A compiled `method`, `path` or `host` field.
#[derive(Debug, Clone)]
pub enum FieldMatch {
    /// Omitted or empty: any value.
    Any,
    Regex {
        pattern: String,
        re: Arc<Regex>,
    },
    /// The pattern does not compile.
    Invalid {
        pattern: String,
        error: String,
    },
}

impl PartialEq for FieldMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (FieldMatch::Any, FieldMatch::Any) => true,
            (FieldMatch::Regex { pattern: a, .. }, FieldMatch::Regex { pattern: b, .. }) => a == b,
            (FieldMatch::Invalid { pattern: a, .. }, FieldMatch::Invalid { pattern: b, .. }) => {
                a == b
            }
            _ => false,
        }
    }
}

impl FieldMatch {
    /// Whether `value` fully matches; `field` names it in reasons.
    fn matches(&self, field: &str, value: Option<&str>, why: &mut Why) -> Tri {
        match (self, value) {
            (FieldMatch::Any, _) => Tri::Yes,
            (FieldMatch::Invalid { pattern, error }, _) => why.unknown(format!(
                "http {field} {pattern:?} is not a valid RE2 regex (Cilium rejects the policy): {error}"
            )),
            (FieldMatch::Regex { .. }, None) => why.unknown(format!(
                "the rule matches {field}, which the flow did not record"
            )),
            (FieldMatch::Regex { re, .. }, Some(v)) => Tri::from_bool(re.is_match(v)),
        }
    }
}

/// Compiled regexes of one model, by pattern (a policy set repeats them).
#[derive(Debug, Clone, Default)]
pub struct RegexCache(HashMap<String, Result<Arc<Regex>, String>>);

impl RegexCache {
    /// The full-match matcher of an optional pattern.
    pub fn field(&mut self, pattern: Option<&str>) -> FieldMatch {
        let Some(p) = pattern.filter(|p| !p.is_empty()) else {
            return FieldMatch::Any;
        };
        let compiled = self
            .0
            .entry(p.to_string())
            .or_insert_with(|| {
                Regex::new(&format!("^(?:{p})$"))
                    .map(Arc::new)
                    .map_err(|e| {
                        e.to_string()
                            .lines()
                            .last()
                            .unwrap_or("")
                            .trim()
                            .to_string()
                    })
            })
            .clone();
        match compiled {
            Ok(re) => FieldMatch::Regex {
                pattern: p.to_string(),
                re,
            },
            Err(error) => FieldMatch::Invalid {
                pattern: p.to_string(),
                error,
            },
        }
    }
}

/// One header requirement of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderCheck {
    /// The header must be present.
    Present(String),
    /// The header must carry exactly this value.
    Equals(String, String),
    /// Cannot be checked offline (a value read from a Secret).
    Unresolvable(String),
}

impl HeaderCheck {
    fn name(&self) -> &str {
        match self {
            HeaderCheck::Present(n) | HeaderCheck::Equals(n, _) | HeaderCheck::Unresolvable(n) => n,
        }
    }

    fn matches(&self, headers: Option<&[(String, String)]>, why: &mut Why) -> Tri {
        if let HeaderCheck::Unresolvable(n) = self {
            return why.unknown(format!(
                "header {n} must match a Secret's value, which is not available offline"
            ));
        }
        let Some(headers) = headers else {
            return why.unknown(format!(
                "the rule requires header {}, and the flows do not record request headers",
                self.name()
            ));
        };
        let mut values = headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(self.name()))
            .map(|(_, v)| v.as_str());
        match self {
            HeaderCheck::Present(_) => Tri::from_bool(values.next().is_some()),
            HeaderCheck::Equals(_, want) => Tri::from_bool(values.any(|v| v == want)),
            HeaderCheck::Unresolvable(_) => Tri::Unknown,
        }
    }
}

/// One compiled HTTP rule.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpMatcher {
    /// The rule as written (for reports).
    pub rule: HttpRule,
    pub method: FieldMatch,
    pub path: FieldMatch,
    pub host: FieldMatch,
    pub headers: Vec<HeaderCheck>,
}

/// How one request fared against one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleOutcome {
    pub verdict: Tri,
    /// Fields that did not match (`method`, `path`, `host`, `header X`).
    pub missed: Vec<String>,
}

impl HttpMatcher {
    pub fn compile(rule: &HttpRule, cache: &mut RegexCache) -> HttpMatcher {
        let mut headers: Vec<HeaderCheck> = rule
            .headers
            .iter()
            .filter_map(|h| {
                let h = h.trim();
                match h.split_once(' ') {
                    Some((k, v)) => Some(HeaderCheck::Equals(
                        k.trim_end_matches(':').to_string(),
                        v.to_string(),
                    )),
                    None if h.is_empty() => None,
                    None => Some(HeaderCheck::Present(h.to_string())),
                }
            })
            .collect();
        for m in &rule.header_matches {
            // LOG / ADD / DELETE / REPLACE act on a mismatch, never reject.
            if m.mismatch.as_deref().is_some_and(|a| !a.is_empty()) {
                continue;
            }
            headers.push(match (&m.secret, &m.value) {
                (Some(_), _) => HeaderCheck::Unresolvable(m.name.clone()),
                (None, Some(v)) if !v.is_empty() => HeaderCheck::Equals(m.name.clone(), v.clone()),
                (None, _) => HeaderCheck::Present(m.name.clone()),
            });
        }
        HttpMatcher {
            rule: rule.clone(),
            method: cache.field(rule.method.as_deref()),
            path: cache.field(rule.path.as_deref()),
            host: cache.field(rule.host.as_deref()),
            headers,
        }
    }

    /// Whether the rule allows the request (all its fields match).
    pub fn matches(&self, req: &RequestView<'_>, why: &mut Why) -> RuleOutcome {
        let mut verdict = Tri::Yes;
        let mut missed = Vec::new();
        let mut check = |name: String, t: Tri| {
            if t == Tri::No {
                missed.push(name);
            }
            verdict = verdict.and(t);
        };
        check(
            "method".into(),
            self.method.matches("method", Some(req.method), why),
        );
        check(
            "path".into(),
            self.path.matches("path", Some(req.target), why),
        );
        check("host".into(), self.host.matches("host", req.host, why));
        for h in &self.headers {
            check(format!("header {}", h.name()), h.matches(req.headers, why));
        }
        RuleOutcome { verdict, missed }
    }
}

impl std::fmt::Display for HttpMatcher {
    /// `GET /api/v1/users/[0-9]+ host=… headers=[…]`; `{}` for the empty rule.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.rule;
        let mut parts = Vec::new();
        fn set(v: &Option<String>) -> Option<&str> {
            v.as_deref().filter(|s| !s.is_empty())
        }
        if let Some(m) = set(&r.method) {
            parts.push(m.to_string());
        }
        if let Some(p) = set(&r.path) {
            parts.push(p.to_string());
        }
        if let Some(h) = set(&r.host) {
            parts.push(format!("host={h}"));
        }
        if !self.headers.is_empty() {
            let names: Vec<&str> = self.headers.iter().map(HeaderCheck::name).collect();
            parts.push(format!("headers=[{}]", names.join(", ")));
        }
        if parts.is_empty() {
            write!(f, "{{}}")
        } else {
            write!(f, "{}", parts.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::l7::HeaderMatch;

    fn rule(method: Option<&str>, path: Option<&str>, host: Option<&str>) -> HttpMatcher {
        let r = HttpRule {
            method: method.map(Into::into),
            path: path.map(Into::into),
            host: host.map(Into::into),
            ..HttpRule::default()
        };
        HttpMatcher::compile(&r, &mut RegexCache::default())
    }

    fn req<'a>(method: &'a str, target: &'a str, host: Option<&'a str>) -> RequestView<'a> {
        RequestView {
            method,
            target,
            host,
            headers: None,
        }
    }

    fn check(m: &HttpMatcher, r: RequestView<'_>) -> Tri {
        m.matches(&r, &mut Why::default()).verdict
    }

    #[test]
    fn path_is_a_full_match_including_the_query() {
        let m = rule(None, Some("/api"), None);
        assert_eq!(check(&m, req("GET", "/api", None)), Tri::Yes);
        assert_eq!(check(&m, req("GET", "/api/x", None)), Tri::No);
        assert_eq!(check(&m, req("GET", "/v1/api", None)), Tri::No);
        assert_eq!(check(&m, req("GET", "/api?x=1", None)), Tri::No);
        let q = rule(None, Some(r"/api(\?.*)?"), None);
        assert_eq!(check(&q, req("GET", "/api?x=1", None)), Tri::Yes);
        assert_eq!(check(&q, req("GET", "/api", None)), Tri::Yes);
        assert_eq!(check(&q, req("GET", "/apix", None)), Tri::No);
        // an alternation is anchored as a whole
        let alt = rule(None, Some("/a|/b"), None);
        assert_eq!(check(&alt, req("GET", "/b", None)), Tri::Yes);
        assert_eq!(check(&alt, req("GET", "/a/b", None)), Tri::No);
        let templ = rule(None, Some("/api/v1/users/[0-9]+"), None);
        assert_eq!(
            check(&templ, req("GET", "/api/v1/users/42", None)),
            Tri::Yes
        );
        assert_eq!(check(&templ, req("GET", "/api/v1/users/me", None)), Tri::No);
    }

    #[test]
    fn method_regex_and_case() {
        let m = rule(Some("GET|HEAD"), None, None);
        assert_eq!(check(&m, req("GET", "/", None)), Tri::Yes);
        assert_eq!(check(&m, req("HEAD", "/", None)), Tri::Yes);
        assert_eq!(check(&m, req("POST", "/", None)), Tri::No);
        assert_eq!(check(&m, req("GETX", "/", None)), Tri::No);
        // methods are case-sensitive tokens
        assert_eq!(
            check(&rule(Some("get"), None, None), req("GET", "/", None)),
            Tri::No
        );
    }

    #[test]
    fn host_with_port_and_escaped_dots() {
        let m = rule(None, None, Some(r"api\.shop\.svc(:8080)?"));
        assert_eq!(check(&m, req("GET", "/", Some("api.shop.svc"))), Tri::Yes);
        assert_eq!(
            check(&m, req("GET", "/", Some("api.shop.svc:8080"))),
            Tri::Yes
        );
        assert_eq!(check(&m, req("GET", "/", Some("apiXshop.svc"))), Tri::No);
        assert_eq!(
            check(&m, req("GET", "/", Some("api.shop.svc:9090"))),
            Tri::No
        );
        // an unescaped dot matches any character
        let loose = rule(None, None, Some("api.shop.svc"));
        assert_eq!(
            check(&loose, req("GET", "/", Some("apiXshop.svc"))),
            Tri::Yes
        );
        // a host without port does not match a Host header with one
        let bare = rule(None, None, Some(r"example\.com"));
        assert_eq!(
            check(&bare, req("GET", "/", Some("example.com:80"))),
            Tri::No
        );
        // the flow did not record the Host
        let mut why = Why::default();
        assert_eq!(
            m.matches(&req("GET", "/", None), &mut why).verdict,
            Tri::Unknown
        );
        assert!(why.0[0].contains("host"), "{why:?}");
    }

    #[test]
    fn invalid_regex_is_unknown_with_the_reason() {
        let m = rule(None, Some("/api/(unclosed"), None);
        let mut why = Why::default();
        assert_eq!(
            m.matches(&req("GET", "/api/x", None), &mut why).verdict,
            Tri::Unknown
        );
        assert!(why.0[0].contains("not a valid RE2 regex"), "{why:?}");
        // RE2 has no backreferences or lookaround
        let back = rule(None, Some(r"/(a)\1"), None);
        assert_eq!(check(&back, req("GET", "/aa", None)), Tri::Unknown);
        let look = rule(None, Some("/(?!admin).*"), None);
        assert_eq!(check(&look, req("GET", "/x", None)), Tri::Unknown);
        // a mismatch elsewhere still decides: No wins over Unknown
        let both = rule(Some("POST"), Some("(("), None);
        assert_eq!(check(&both, req("GET", "/", None)), Tri::No);
    }

    #[test]
    fn empty_rule_and_empty_fields_allow_all() {
        let m = rule(None, None, None);
        assert_eq!(check(&m, req("DELETE", "/anything?x", None)), Tri::Yes);
        assert_eq!(m.to_string(), "{}");
        let e = rule(Some(""), Some(""), Some(""));
        assert_eq!(check(&e, req("PUT", "/x", None)), Tri::Yes);
    }

    #[test]
    fn headers_presence_value_and_secrets() {
        let r = HttpRule {
            headers: vec!["X-Token".into(), "X-Env: prod".into()],
            header_matches: vec![
                HeaderMatch {
                    name: "X-Logged".into(),
                    value: Some("1".into()),
                    secret: None,
                    mismatch: Some("LOG".into()),
                },
                HeaderMatch {
                    name: "X-Tenant".into(),
                    value: Some("a".into()),
                    secret: None,
                    mismatch: None,
                },
            ],
            ..HttpRule::default()
        };
        let m = HttpMatcher::compile(&r, &mut RegexCache::default());
        assert_eq!(m.headers.len(), 3, "the LOG header match never rejects");
        let h = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let ok = h(&[("x-token", "t"), ("X-Env", "prod"), ("X-Tenant", "a")]);
        let wrong = h(&[("x-token", "t"), ("X-Env", "dev"), ("X-Tenant", "a")]);
        fn with(hs: &[(String, String)]) -> RequestView<'_> {
            RequestView {
                method: "GET",
                target: "/",
                host: None,
                headers: Some(hs),
            }
        }
        assert_eq!(check(&m, with(&ok)), Tri::Yes);
        let out = m.matches(&with(&wrong), &mut Why::default());
        assert_eq!(out.verdict, Tri::No);
        assert_eq!(out.missed, vec!["header X-Env".to_string()]);
        assert_eq!(check(&m, req("GET", "/", None)), Tri::Unknown);
        let secret = HttpRule {
            header_matches: vec![HeaderMatch {
                name: "Authorization".into(),
                value: None,
                secret: Some(crate::policy::l7::SecretRef {
                    name: "token".into(),
                    namespace: None,
                }),
                mismatch: None,
            }],
            ..HttpRule::default()
        };
        let s = HttpMatcher::compile(&secret, &mut RegexCache::default());
        assert_eq!(check(&s, with(&ok)), Tri::Unknown);
    }

    #[test]
    fn cache_shares_compiled_patterns() {
        let mut cache = RegexCache::default();
        let a = cache.field(Some("/x"));
        let b = cache.field(Some("/x"));
        match (a, b) {
            (FieldMatch::Regex { re: a, .. }, FieldMatch::Regex { re: b, .. }) => {
                assert!(Arc::ptr_eq(&a, &b))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(cache.field(None), FieldMatch::Any);
    }
}
