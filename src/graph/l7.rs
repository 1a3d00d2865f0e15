//! L7 evidence of one edge port: the HTTP request classes a client sent
//! (method, templated path, host — see [`crate::interpret::path_template`])
//! and the DNS names a workload queried. Recorded on every run from allowed
//! L7 records (evidence, whether or not `--l7` is asked for).
//!
//! Memory is bounded per edge port: at most [`MAX_CLASSES`] request classes
//! with [`MAX_SAMPLES`] raw targets each, at most [`MAX_DNS_NAMES`] names.
//! What does not fit is counted in `overflow`; a port with overflow gets no
//! HTTP (or DNS name) rule, since the rule would miss requests. Which
//! classes/names are kept does not depend on arrival order or on merge
//! order: always the smallest ones (by their sort order), so recording and
//! merging stay deterministic, commutative and associative.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::interpret::http::HttpRequest;
use crate::interpret::path_template;

/// Most request classes kept per edge port.
pub const MAX_CLASSES: usize = 256;
/// Most raw request targets kept per class.
pub const MAX_SAMPLES: usize = 4;
/// Longest request target (`path?query`) recorded; longer ones overflow.
pub const MAX_TARGET_LEN: usize = 2048;
/// Most DNS names kept per edge port.
pub const MAX_DNS_NAMES: usize = 256;

/// HTTP requests seen on one edge port (client → server port).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpSeen {
    /// Request classes and how often each was seen (serialized as a list
    /// of `{method, path, host?, requests, samples}`, sorted by class).
    #[serde(with = "class_list")]
    pub classes: BTreeMap<RequestClass, ClassStats>,
    /// Requests not recorded because the class cap was reached (or their
    /// target was longer than [`MAX_TARGET_LEN`]); then no HTTP rule may be
    /// written for this port.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub overflow: u64,
}

/// What an HTTP rule is written for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestClass {
    /// Upper-case method (`GET`).
    pub method: String,
    /// The templated path, without query string (`/users/{int}`); syntax in
    /// [`crate::interpret::path_template`] (`parse`, `path_regex`).
    pub path: String,
    /// The `:authority` as the client sent it in an absolute URL (port
    /// included), exactly as sent (Envoy matches it case-sensitively);
    /// `None` when the URL was origin-form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// Counts and samples of one class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassStats {
    /// Requests seen.
    pub requests: u64,
    /// Up to [`MAX_SAMPLES`] distinct raw request targets (`path?query`, as
    /// Envoy's `:path` holds them), the smallest ones; for verify and explain.
    pub samples: BTreeSet<String>,
}

/// DNS names a workload queried on one edge port (workload → resolver).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsSeen {
    /// Queried names, lower case, without the trailing dot (search-list
    /// expansions and NXDOMAIN answers included: the client did ask them).
    pub names: BTreeSet<String>,
    /// Names dropped because [`MAX_DNS_NAMES`] were kept already (a name
    /// queried again after being dropped counts again); non-zero means the
    /// list is incomplete and no DNS name rule may be written from it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub overflow: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// JSON object keys must be strings: the class map is written as a list.
mod class_list {
    use super::*;
    use serde::{Deserializer, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Entry {
        #[serde(flatten)]
        class: RequestClass,
        #[serde(flatten)]
        stats: ClassStats,
    }

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<RequestClass, ClassStats>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter().map(|(class, stats)| Entry {
            class: class.clone(),
            stats: stats.clone(),
        }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<RequestClass, ClassStats>, D::Error> {
        let entries: Vec<Entry> = Vec::deserialize(d)?;
        let mut out: BTreeMap<RequestClass, ClassStats> = BTreeMap::new();
        for e in entries {
            out.entry(e.class).or_default().merge(&e.stats);
        }
        Ok(out)
    }
}

impl RequestClass {
    /// The class of a request.
    pub fn of(r: &HttpRequest<'_>) -> RequestClass {
        RequestClass {
            method: r.method.clone(),
            path: path_template::template(r.path),
            host: r.host.map(str::to_string),
        }
    }
}

impl HttpSeen {
    /// Records one request.
    pub fn record(&mut self, r: &HttpRequest<'_>) {
        let target = r.target();
        if target.len() > MAX_TARGET_LEN {
            self.overflow += 1;
            return;
        }
        let mut one = ClassStats {
            requests: 1,
            samples: BTreeSet::new(),
        };
        one.samples.insert(target);
        self.add(RequestClass::of(r), &one);
    }

    /// Adds a class's evidence, keeping the [`MAX_CLASSES`] smallest classes.
    fn add(&mut self, class: RequestClass, stats: &ClassStats) {
        match self.classes.get_mut(&class) {
            Some(mine) => mine.merge(stats),
            None => {
                self.classes.insert(class, stats.clone());
                while self.classes.len() > MAX_CLASSES {
                    if let Some((_, dropped)) = self.classes.pop_last() {
                        self.overflow += dropped.requests;
                    }
                }
            }
        }
    }

    /// Folds another port's evidence in; commutative and associative.
    pub fn merge(&mut self, other: &HttpSeen) {
        self.overflow += other.overflow;
        for (class, stats) in &other.classes {
            self.add(class.clone(), stats);
        }
    }

    /// Total requests seen (recorded or not).
    pub fn requests(&self) -> u64 {
        self.classes.values().map(|c| c.requests).sum::<u64>() + self.overflow
    }
}

impl ClassStats {
    /// Adds counts and unites samples (the smallest [`MAX_SAMPLES`] kept).
    pub fn merge(&mut self, other: &ClassStats) {
        self.requests += other.requests;
        self.samples.extend(other.samples.iter().cloned());
        while self.samples.len() > MAX_SAMPLES {
            self.samples.pop_last();
        }
    }
}

impl DnsSeen {
    /// Records one query for `name` (already normalized); empty names and
    /// names longer than 253 characters are not DNS names and are ignored.
    pub fn record(&mut self, name: &str) {
        if name.is_empty() || name.len() > 253 {
            return;
        }
        if self.names.contains(name) {
            return;
        }
        self.names.insert(name.to_string());
        self.trim();
    }

    fn trim(&mut self) {
        while self.names.len() > MAX_DNS_NAMES {
            self.names.pop_last();
            self.overflow += 1;
        }
    }

    /// Folds another port's names in; commutative and associative.
    pub fn merge(&mut self, other: &DnsSeen) {
        self.overflow += other.overflow;
        self.names.extend(other.names.iter().cloned());
        self.trim();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &'static str, query: Option<&'static str>) -> HttpRequest<'static> {
        HttpRequest {
            method: method.into(),
            path,
            query,
            host: Some("API.shop:8080"),
        }
    }

    #[test]
    fn requests_are_classed_with_samples() {
        let mut seen = HttpSeen::default();
        seen.record(&req("GET", "/users/1", Some("x=1")));
        seen.record(&req("GET", "/users/2", None));
        seen.record(&req("POST", "/users", None));
        assert_eq!(seen.classes.len(), 2);
        let class = RequestClass {
            method: "GET".into(),
            path: "/users/{int}".into(),
            host: Some("API.shop:8080".into()),
        };
        let stats = &seen.classes[&class];
        assert_eq!(stats.requests, 2);
        assert_eq!(
            stats.samples.iter().collect::<Vec<_>>(),
            ["/users/1?x=1", "/users/2"]
        );
        assert_eq!(seen.requests(), 3);
    }

    #[test]
    fn caps_keep_the_smallest_whatever_the_order() {
        let paths: Vec<&'static str> = (0..MAX_CLASSES + 10)
            .map(|i| &*Box::leak(format!("/p{i:04}").into_boxed_str()))
            .collect();
        let mut fwd = HttpSeen::default();
        for p in &paths {
            fwd.record(&req("GET", p, None));
        }
        let mut back = HttpSeen::default();
        for p in paths.iter().rev() {
            back.record(&req("GET", p, None));
        }
        assert_eq!(fwd, back);
        assert_eq!(fwd.classes.len(), MAX_CLASSES);
        assert_eq!(fwd.overflow, 10);
        let mut long = HttpSeen::default();
        let huge: &'static str = Box::leak("/x".repeat(MAX_TARGET_LEN).into_boxed_str());
        long.record(&req("GET", huge, None));
        assert!(long.classes.is_empty());
        assert_eq!(long.overflow, 1);
    }

    #[test]
    fn merge_is_commutative_and_associative() {
        let mk = |range: std::ops::Range<usize>| {
            let mut s = HttpSeen::default();
            for i in range {
                let p: &'static str = Box::leak(format!("/p{i:04}/{i}").into_boxed_str());
                s.record(&req("GET", p, Some("q")));
                let p: &'static str = Box::leak(format!("/q/{i}").into_boxed_str());
                s.record(&req("GET", p, None));
            }
            s
        };
        let (a, b, c) = (mk(0..200), mk(150..300), mk(290..320));
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab, ba);
        let mut ab_c = ab.clone();
        ab_c.merge(&c);
        let mut bc = b.clone();
        bc.merge(&c);
        let mut a_bc = a.clone();
        a_bc.merge(&bc);
        assert_eq!(ab_c, a_bc);
        assert_eq!(ab_c.requests(), a.requests() + b.requests() + c.requests());
    }

    #[test]
    fn dns_names_are_capped_deterministically() {
        let mut a = DnsSeen::default();
        let mut b = DnsSeen::default();
        for i in 0..MAX_DNS_NAMES + 5 {
            a.record(&format!("n{i:04}.example.com"));
            b.record(&format!("n{:04}.example.com", MAX_DNS_NAMES + 4 - i));
        }
        a.record("");
        assert_eq!(a, b);
        assert_eq!(a.names.len(), MAX_DNS_NAMES);
        assert_eq!(a.overflow, 5);
        let mut m = a.clone();
        m.merge(&b);
        assert_eq!(m.names, a.names);
    }
}
