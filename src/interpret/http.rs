//! HTTP requests seen by Cilium's L7 proxy: the `l7.http` record of a flow
//! of L7 type REQUEST, normalized to what an HTTP policy rule matches.
//!
//! Hubble writes the request URL as the proxy saw it: usually absolute
//! (`http://host:port/path?query`), sometimes origin-form (`/path?query`).
//! Cilium's Envoy filter matches a rule's `path` against the `:path` header
//! (path *and* query string, no fragment — fragments never leave the
//! client), `method` against `:method`, `host` against `:authority` (the
//! Host header, port included when the client sent one). This module splits
//! the URL into exactly those parts; deciding what to allow is synthesis'
//! job, checking it is verify's.

use crate::proto::flow::{self, layer7::Record};

/// One observed HTTP request, split the way policy rules see it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpRequest<'f> {
    /// Upper-cased method (`get` → `GET`); HTTP methods are case-sensitive
    /// tokens, and every client sends them upper-case, so this only repairs
    /// how an exporter spelled them.
    pub method: String,
    /// The path alone, without query string or fragment; `/` when the URL
    /// has none.
    pub path: &'f str,
    /// The query string without its `?`, when the URL had one.
    pub query: Option<&'f str>,
    /// The `:authority` (Host) as written in an absolute URL, port included;
    /// `None` for an origin-form URL.
    pub host: Option<&'f str>,
}

impl<'f> HttpRequest<'f> {
    /// The request of `f`, when it is an L7 HTTP *request* record with a
    /// method. Responses (and records without a method) are not requests a
    /// rule is written for.
    pub fn of(f: &'f flow::Flow) -> Option<HttpRequest<'f>> {
        let l7 = f.l7.as_ref()?;
        if flow::L7FlowType::try_from(l7.r#type) != Ok(flow::L7FlowType::Request) {
            return None;
        }
        let Some(Record::Http(http)) = l7.record.as_ref() else {
            return None;
        };
        let method = http.method.trim();
        if method.is_empty() {
            return None;
        }
        let (host, target) = split_url(&http.url);
        let target = target.split('#').next().unwrap_or_default();
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        Some(HttpRequest {
            method: method.to_ascii_uppercase(),
            path: if path.is_empty() { "/" } else { path },
            query,
            host,
        })
    }

    /// What Envoy matches a rule's `path` against: the path, then `?query`
    /// when there was one.
    pub fn target(&self) -> String {
        match self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.to_string(),
        }
    }
}

/// `(authority, rest)` of an absolute URL (`scheme://authority/rest`), or
/// `(None, url)` for an origin-form one.
fn split_url(url: &str) -> (Option<&str>, &str) {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return (None, url);
    };
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return (None, url);
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // userinfo never reaches the Host header
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = (!authority.is_empty()).then_some(authority);
    (host, &rest[end..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::flow::{Http, Layer7};

    fn flow(kind: flow::L7FlowType, method: &str, url: &str) -> flow::Flow {
        flow::Flow {
            l7: Some(Layer7 {
                r#type: kind as i32,
                record: Some(Record::Http(Http {
                    method: method.into(),
                    url: url.into(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn req(method: &str, url: &str) -> Option<(String, String, Option<String>, Option<String>)> {
        let f = flow(flow::L7FlowType::Request, method, url);
        HttpRequest::of(&f).map(|r| {
            (
                r.method.clone(),
                r.path.to_string(),
                r.query.map(str::to_string),
                r.host.map(str::to_string),
            )
        })
    }

    #[test]
    fn absolute_urls_split_into_host_path_and_query() {
        assert_eq!(
            req(
                "get",
                "http://api.shop.svc:8080/v1/users/42?expand=true#top"
            ),
            Some((
                "GET".into(),
                "/v1/users/42".into(),
                Some("expand=true".into()),
                Some("api.shop.svc:8080".into())
            ))
        );
        assert_eq!(
            req("GET", "http://10.128.0.4:9990/metrics"),
            Some((
                "GET".into(),
                "/metrics".into(),
                None,
                Some("10.128.0.4:9990".into())
            ))
        );
        assert_eq!(
            req("POST", "https://user:pw@example.com"),
            Some(("POST".into(), "/".into(), None, Some("example.com".into())))
        );
        assert_eq!(
            req("GET", "http://h?x=1"),
            Some((
                "GET".into(),
                "/".into(),
                Some("x=1".into()),
                Some("h".into())
            ))
        );
    }

    #[test]
    fn origin_form_and_grpc_paths_have_no_host() {
        assert_eq!(
            req("POST", "/payments.Billing/Charge"),
            Some(("POST".into(), "/payments.Billing/Charge".into(), None, None))
        );
        assert_eq!(
            req("GET", "/search?q=a%20b"),
            Some(("GET".into(), "/search".into(), Some("q=a%20b".into()), None))
        );
    }

    #[test]
    fn responses_and_methodless_records_are_not_requests() {
        let f = flow(flow::L7FlowType::Response, "GET", "http://h/x");
        assert!(HttpRequest::of(&f).is_none());
        assert_eq!(req("", "http://h/x"), None);
        assert!(HttpRequest::of(&flow::Flow::default()).is_none());
    }

    #[test]
    fn target_is_path_then_query() {
        let f = flow(flow::L7FlowType::Request, "GET", "http://h/a/b?c=d#e");
        assert_eq!(HttpRequest::of(&f).unwrap().target(), "/a/b?c=d");
        let f = flow(flow::L7FlowType::Request, "GET", "http://h/a/b");
        assert_eq!(HttpRequest::of(&f).unwrap().target(), "/a/b");
    }
}
