//! The baseline file: a traffic graph plus what is needed to continue
//! observing it, in a versioned, documented format (docs/baseline-format.md).
//!
//! On disk a baseline is one JSON document, zstd-compressed when written by
//! flowpolicy (plain JSON is read too). The `format` key comes first so a
//! reader can tell a baseline from a flow dump by its first bytes. Nodes and
//! edges are sorted and every map is ordered, so the same graph always
//! encodes to the same bytes.
//!
//! Everything synthesis reads round-trips exactly: nodes (peer, first/last
//! seen, addresses) and, per edge and responder port, the allowed and
//! dropped tallies (connections, flows, first/last seen, sample) and the
//! audit count. Merging two baselines merges their graphs (commutative,
//! associative) and adds or unites everything else.

pub mod load;

use std::collections::BTreeSet;
use std::io::Read;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::graph::{Coverage, NodeData, PortStats, TrafficGraph};
use crate::interpret::InterpretStats;
use crate::peer::l4::{PortKey, Proto};
use crate::peer::Peer;
use crate::source::relay::ResumeState;

/// The `format` value of every baseline.
pub const FORMAT: &str = "flowpolicy-baseline";
/// The newest format version this build reads and the one it writes.
pub const VERSION: u32 = 1;

/// A decoded baseline.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    pub graph: TrafficGraph,
    /// Interpretation counters of every flow that went into the graph.
    pub interpret: InterpretStats,
    pub meta: BaselineMeta,
}

/// Everything besides the graph and the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineMeta {
    pub observation: ObserveRuns,
    pub settings: Settings,
    /// Where the live stream stopped; the next `observe` resumes here.
    pub resume: ResumeState,
}

/// Facts about the `observe` runs (wall clock; not part of the graph).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ObserveRuns {
    /// Number of `observe` runs that wrote into this baseline.
    pub runs: u64,
    /// Wall time spent observing, summed over the runs (and over merged
    /// baselines); `observe --duration` counts it.
    pub observed_seconds: u64,
    /// Stream reconnections, summed.
    pub reconnects: u64,
}

/// The interpretation settings the flows were read with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// `--cidr-group` prefixes (united when merging).
    pub cidr_groups: BTreeSet<IpNet>,
    /// `--conn-window` values in seconds (united when merging; more than
    /// one means the inputs were read with different windows).
    pub conn_window_seconds: BTreeSet<u64>,
}

impl Baseline {
    /// Folds another baseline into this one; commutative and associative.
    pub fn merge(&mut self, other: &Baseline) {
        self.graph.merge(&other.graph);
        add_stats(&mut self.interpret, &other.interpret);
        self.meta.merge(&other.meta);
    }

    /// The baseline as zstd-compressed JSON.
    pub fn encode(&self) -> Vec<u8> {
        encode(&self.graph, &self.interpret, &self.meta)
    }

    /// Reads a baseline from its (already decompressed) JSON. `name` is used
    /// in messages.
    pub fn decode(name: &str, mut reader: impl Read) -> Result<Baseline, BaselineError> {
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| BaselineError::Damaged {
                file: name.to_string(),
                detail: match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => {
                        "the compressed data ends early".to_string()
                    }
                    _ => e.to_string(),
                },
            })?;
        Baseline::from_json(name, &bytes)
    }

    /// Parses the JSON text of a baseline.
    pub fn from_json(name: &str, bytes: &[u8]) -> Result<Baseline, BaselineError> {
        let damaged = |e: serde_json::Error| BaselineError::Damaged {
            file: name.to_string(),
            detail: e.to_string(),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(BaselineError::Damaged {
                file: name.to_string(),
                detail: "the file is empty".into(),
            });
        }
        let header: Header = serde_json::from_slice(bytes).map_err(damaged)?;
        if header.format.as_deref() != Some(FORMAT) {
            return Err(BaselineError::NotABaseline {
                file: name.to_string(),
            });
        }
        match header.version {
            Some(v) if v > VERSION => {
                return Err(BaselineError::Newer {
                    file: name.to_string(),
                    version: v,
                })
            }
            Some(v) if v >= 1 => {}
            _ => {
                return Err(BaselineError::Damaged {
                    file: name.to_string(),
                    detail: "missing or invalid \"version\"".into(),
                })
            }
        }
        let file: FileV1 = serde_json::from_slice(bytes).map_err(damaged)?;
        Ok(file.into_baseline())
    }
}

impl BaselineMeta {
    /// Merges run facts, settings and resume points; commutative and
    /// associative.
    pub fn merge(&mut self, o: &BaselineMeta) {
        self.observation.runs += o.observation.runs;
        self.observation.observed_seconds += o.observation.observed_seconds;
        self.observation.reconnects += o.observation.reconnects;
        self.settings
            .cidr_groups
            .extend(o.settings.cidr_groups.iter().copied());
        self.settings
            .conn_window_seconds
            .extend(o.settings.conn_window_seconds.iter().copied());
        merge_resume(&mut self.resume, &o.resume);
    }
}

/// The later resume point wins; at equal times the boundary sets unite.
fn merge_resume(mine: &mut ResumeState, theirs: &ResumeState) {
    match (mine.last_time, theirs.last_time) {
        (_, None) => {}
        (None, Some(_)) => *mine = theirs.clone(),
        (Some(a), Some(b)) if b > a => *mine = theirs.clone(),
        (Some(a), Some(b)) if a == b => mine.boundary.extend(theirs.boundary.iter().copied()),
        _ => {}
    }
}

/// Adds interpretation counters.
pub fn add_stats(mine: &mut InterpretStats, o: &InterpretStats) {
    mine.flows += o.flows;
    mine.observations += o.observations;
    mine.replies_inverted += o.replies_inverted;
    mine.dropped += o.dropped;
    mine.audit += o.audit;
    for (k, v) in &o.basis {
        *mine.basis.entry(k.clone()).or_default() += v;
    }
    for (k, v) in &o.skipped {
        *mine.skipped.entry(*k).or_default() += v;
    }
    mine.undecided.merge(&o.undecided);
    mine.undecided_resolved += o.undecided_resolved;
}

/// Encodes a graph and its metadata without copying the graph (the
/// observe loop checkpoints its live graph this way).
pub fn encode(graph: &TrafficGraph, interpret: &InterpretStats, meta: &BaselineMeta) -> Vec<u8> {
    let json = to_json(graph, interpret, meta);
    zstd::stream::encode_all(json.as_slice(), 3).expect("zstd into memory cannot fail")
}

/// The uncompressed JSON of a baseline (pretty, deterministic).
pub fn to_json(graph: &TrafficGraph, interpret: &InterpretStats, meta: &BaselineMeta) -> Vec<u8> {
    let file = FileV1 {
        format: FORMAT.to_string(),
        version: VERSION,
        generator: format!("flowpolicy {}", env!("CARGO_PKG_VERSION")),
        observation: meta.observation.clone(),
        settings: meta.settings.clone(),
        resume: meta.resume.clone(),
        coverage: graph.coverage.clone(),
        interpret: interpret.clone(),
        nodes: graph.nodes_sorted().into_iter().cloned().collect(),
        edges: graph
            .edges_sorted()
            .into_iter()
            .map(|(from, to, e)| {
                let ports: Vec<PortRecord> = e
                    .ports
                    .iter()
                    .map(|(k, s)| PortRecord {
                        protocol: k.proto,
                        port: k.port,
                        allowed: s.allowed.clone(),
                        audit_flows: s.audit_flows,
                        dropped: s.dropped.clone(),
                        http: s.http.clone(),
                        dns: s.dns.clone(),
                        dropped_http: s.dropped_http.clone(),
                        dropped_dns: s.dropped_dns.clone(),
                    })
                    .collect();
                let (first_seen, last_seen) = crate::graph::stability::edge_span(e);
                EdgeRecord {
                    from: from.clone(),
                    to: to.clone(),
                    first_seen,
                    last_seen,
                    ports,
                }
            })
            .collect(),
    };
    let mut out = serde_json::to_vec_pretty(&file).expect("a baseline always serializes");
    out.push(b'\n');
    out
}

/// Whether the first decompressed bytes of an input are a baseline's:
/// `{"format": "flowpolicy-baseline"` (whitespace ignored).
pub fn looks_like_baseline(head: &[u8]) -> bool {
    let compact: Vec<u8> = head
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .take(40)
        .collect();
    let want = format!("{{\"format\":\"{FORMAT}\"");
    compact.starts_with(want.as_bytes())
}

/// Why a baseline could not be read. A baseline that fails to load is never
/// overwritten.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("{file}: the baseline is truncated or corrupt ({detail}); it was left unchanged. Restore it from a copy or a checkpoint, or pass a new --baseline path")]
    Damaged { file: String, detail: String },
    #[error("{file} was written by a newer flowpolicy (baseline format version {version}; this flowpolicy reads versions up to {VERSION}); upgrade flowpolicy. The file was left unchanged")]
    Newer { file: String, version: u32 },
    #[error("{file} is not a flowpolicy baseline (no \"format\": \"{FORMAT}\"); refusing to use or overwrite it")]
    NotABaseline { file: String },
}

#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u32>,
}

/// Version 1 of the file, field by field as documented.
#[derive(Serialize, Deserialize)]
struct FileV1 {
    format: String,
    version: u32,
    #[serde(default)]
    generator: String,
    #[serde(default)]
    observation: ObserveRuns,
    #[serde(default)]
    settings: Settings,
    #[serde(default)]
    resume: ResumeState,
    coverage: Coverage,
    #[serde(default)]
    interpret: InterpretStats,
    nodes: Vec<NodeData>,
    edges: Vec<EdgeRecord>,
}

#[derive(Serialize, Deserialize)]
struct EdgeRecord {
    from: Peer,
    to: Peer,
    /// Derived from the ports (written for readers; ignored on load).
    #[serde(default)]
    first_seen: i64,
    #[serde(default)]
    last_seen: i64,
    ports: Vec<PortRecord>,
}

#[derive(Serialize, Deserialize)]
struct PortRecord {
    protocol: Proto,
    port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allowed: Option<crate::graph::Tally>,
    #[serde(default, skip_serializing_if = "is_zero")]
    audit_flows: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dropped: Option<crate::graph::Tally>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http: Option<crate::graph::HttpSeen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dns: Option<crate::graph::DnsSeen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dropped_http: Option<crate::graph::HttpSeen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dropped_dns: Option<crate::graph::DnsSeen>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl FileV1 {
    fn into_baseline(self) -> Baseline {
        let mut graph = TrafficGraph::new();
        for n in &self.nodes {
            graph.insert_node(n);
        }
        for e in &self.edges {
            for p in &e.ports {
                let stats = PortStats {
                    allowed: p.allowed.clone(),
                    audit_flows: p.audit_flows,
                    dropped: p.dropped.clone(),
                    http: p.http.clone(),
                    dns: p.dns.clone(),
                    dropped_http: p.dropped_http.clone(),
                    dropped_dns: p.dropped_dns.clone(),
                };
                let key = PortKey {
                    proto: p.protocol,
                    port: p.port,
                };
                graph.insert_port(&e.from, &e.to, key, &stats);
            }
        }
        graph.coverage = self.coverage;
        Baseline {
            graph,
            interpret: self.interpret,
            meta: BaselineMeta {
                observation: self.observation,
                settings: self.settings,
                resume: self.resume,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(b: &Baseline) -> String {
        String::from_utf8(to_json(&b.graph, &b.interpret, &b.meta)).unwrap()
    }

    #[test]
    fn empty_round_trip_and_sniff() {
        let b = Baseline::default();
        let text = json(&b);
        assert!(looks_like_baseline(text.as_bytes()), "{text}");
        assert!(!looks_like_baseline(br#"{"flow":{}}"#));
        let back = Baseline::from_json("t", text.as_bytes()).unwrap();
        assert_eq!(json(&back), text);
        let raw = zstd::stream::decode_all(b.encode().as_slice()).unwrap();
        assert_eq!(raw, text.as_bytes());
    }

    #[test]
    fn errors_are_clear() {
        let text = json(&Baseline::default());
        let cut = &text.as_bytes()[..text.len() / 2];
        let e = Baseline::from_json("b", cut).unwrap_err().to_string();
        assert!(e.contains("truncated or corrupt"), "{e}");
        let newer = text.replace("\"version\": 1", "\"version\": 2");
        let e = Baseline::from_json("b", newer.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("written by a newer flowpolicy"), "{e}");
        let e = Baseline::from_json("b", b"{\"flow\":{}}").unwrap_err();
        assert!(matches!(e, BaselineError::NotABaseline { .. }));
        let e = Baseline::from_json("b", b"").unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
    }

    #[test]
    fn l7_evidence_round_trips_and_is_absent_without_it() {
        let mut b = Baseline::default();
        let (from, to) = (
            Peer::Entity(crate::peer::Entity::Host),
            Peer::Fqdn("api.example".into()),
        );
        let key = PortKey {
            proto: Proto::Tcp,
            port: 80,
        };
        b.graph.insert_port(&from, &to, key, &PortStats::default());
        assert!(!json(&b).contains("\"http\""));
        let mut stats = PortStats::default();
        let mut http = crate::graph::HttpSeen::default();
        http.record(&crate::interpret::http::HttpRequest {
            method: "GET".into(),
            path: "/users/7",
            query: Some("a=b"),
            host: None,
        });
        stats.http = Some(http);
        let mut dns = crate::graph::DnsSeen::default();
        dns.record("api.example");
        stats.dns = Some(dns);
        b.graph.insert_port(&from, &to, key, &stats);
        let text = json(&b);
        assert!(
            text.contains("/users/{int}") && text.contains("/users/7?a=b"),
            "{text}"
        );
        let back = Baseline::from_json("t", text.as_bytes()).unwrap();
        assert_eq!(json(&back), text);
    }

    #[test]
    fn stats_with_enum_keys_round_trip() {
        let mut b = Baseline::default();
        b.interpret
            .skipped
            .insert(crate::interpret::SkipReason::NoL4, 3);
        b.interpret.basis.insert("is_reply".into(), 2);
        b.meta
            .settings
            .cidr_groups
            .insert("10.0.0.0/8".parse().unwrap());
        b.meta.settings.conn_window_seconds.insert(120);
        let text = json(&b);
        let back = Baseline::from_json("t", text.as_bytes()).unwrap();
        assert_eq!(json(&back), text);
        assert_eq!(back.meta, b.meta);
    }
}
