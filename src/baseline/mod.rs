//! The baseline file: a traffic graph plus what is needed to continue
//! observing it, in a versioned, documented format (docs/baseline-format.md).
//!
//! On disk a baseline is one JSON document, zstd-compressed with a content
//! checksum when written by flowpolicy (plain JSON is read too). The
//! `format` key comes first so a reader can tell a baseline from a flow dump
//! by its first bytes; a `checksum` of the document comes last, so a
//! flipped bit is refused as damaged instead of loaded. Nodes and edges are
//! sorted and every map is ordered, so the same graph always encodes to the
//! same bytes.
//!
//! Everything synthesis reads round-trips exactly: nodes (peer, first/last
//! seen, addresses) and, per edge and responder port, the allowed and
//! dropped tallies (connections, flows, first/last seen, sample) and the
//! audit count. So does the interpreter's memory of earlier flows
//! ([`InterpretState`]), so a continued baseline counts as one long run.
//! Merging two baselines merges their graphs (commutative, associative) and
//! adds or unites everything else.
//!
//! [`file`] keeps the file safe on disk: one writer at a time, atomic
//! writes, no temp files left behind.

pub mod file;
pub mod load;
mod seal;
pub mod shards;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::graph::{Coverage, NodeData, PortStats, TrafficGraph};
use crate::interpret::{InterpretState, InterpretStats};
use crate::peer::l4::{PortKey, Proto};
use crate::peer::Peer;
use crate::source::relay::ResumeState;
use seal::{check_seal, Seal};

/// The `format` value of every baseline.
pub const FORMAT: &str = "flowpolicy-baseline";
/// The newest format version this build reads and the one it writes.
pub const VERSION: u32 = 3;
/// The first version that always carries a `checksum`.
const SEALED_SINCE: u32 = 2;

/// A decoded baseline.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    pub graph: TrafficGraph,
    /// Interpretation counters of every flow that went into the graph.
    pub interpret: InterpretStats,
    pub meta: BaselineMeta,
    /// Loaded from a file without a checksum (written before format
    /// version 2): damage to it could not have been noticed.
    pub unchecked: bool,
}

/// Everything besides the graph and the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineMeta {
    pub observation: ObserveRuns,
    pub settings: Settings,
    /// Where the live stream stopped; the next `observe` resumes here.
    pub resume: ResumeState,
    /// Where each node's stream stopped (`observe --peer-service`), by
    /// node name; the next fan-out resumes each node from its own point.
    pub node_resume: BTreeMap<String, ResumeState>,
    /// What the interpreter remembered of earlier flows when the baseline
    /// was written; the next `observe` starts from it.
    pub state: InterpretState,
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
    pub fn decode(name: &str, reader: impl Read) -> Result<Baseline, BaselineError> {
        Baseline::read(name, reader, Keep::Everything, None)
    }

    /// [`Baseline::decode`], keeping what `keep` says; `size` is how many
    /// bytes the JSON is said to have (see
    /// [`crate::source::dump::decompressed_size`]), so that it is read into
    /// one buffer of that size instead of one that doubles as it fills.
    pub fn read(
        name: &str,
        reader: impl Read,
        keep: Keep,
        size: Option<u64>,
    ) -> Result<Baseline, BaselineError> {
        let bytes = read_all(name, reader, size)?;
        match keep {
            Keep::Everything => Baseline::parse::<InterpretState>(name, bytes),
            Keep::Graph => Baseline::parse::<Skipped>(name, bytes),
        }
    }

    /// Parses the JSON text of a baseline, checking its checksum first.
    pub fn from_json(name: &str, bytes: &[u8]) -> Result<Baseline, BaselineError> {
        Baseline::parse::<InterpretState>(name, bytes)
    }

    /// Parses the JSON text of a baseline, keeping the interpreter's state
    /// as `S` says; text it owns is freed before the graph is built.
    fn parse<S: StateRead>(name: &str, text: impl AsRef<[u8]>) -> Result<Baseline, BaselineError> {
        let bytes = text.as_ref();
        let damaged_by = |detail: String| BaselineError::Damaged {
            file: name.to_string(),
            detail,
        };
        let damaged = |e: serde_json::Error| damaged_by(e.to_string());
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(damaged_by("the file is empty".into()));
        }
        let sealed = match check_seal(bytes) {
            Seal::Verified => true,
            Seal::Absent => false,
            Seal::Mismatch(why) => return Err(damaged_by(why)),
        };
        // The whole file is parsed once; only when that fails is its header
        // read on its own, to say whether it is a baseline at all, or a
        // newer one, rather than where its JSON went wrong.
        let parsed: Result<File<S>, _> = serde_json::from_slice(bytes);
        let header = match &parsed {
            Ok(file) => Header {
                format: Some(file.format.clone()),
                version: Some(file.version),
            },
            Err(_) => serde_json::from_slice(bytes).map_err(damaged)?,
        };
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
        let version = header.version.unwrap_or(0);
        if !sealed && version >= SEALED_SINCE {
            return Err(damaged_by(
                "its checksum is missing or not where flowpolicy writes it: the end of the file is damaged, or the file was edited".into(),
            ));
        }
        let file = parsed.map_err(damaged)?;
        if !sealed && file.checksum.is_some() {
            return Err(damaged_by(
                "its checksum is not where flowpolicy writes it (the file was edited?)".into(),
            ));
        }
        drop(text);
        let mut b = file.into_baseline(version);
        b.unchecked = !sealed;
        Ok(b)
    }
}

/// What a reader of a baseline keeps of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// All of it: what continuing it (`observe`, `watch`) or writing a
    /// baseline from it (`merge`) needs.
    Everything,
    /// The graph, the counters and the run facts: the interpreter's state
    /// (most of a long baseline's bytes) is checked for well-formed JSON
    /// and skipped, `meta.state` left empty.
    Graph,
}

/// A buffer's size given in a file's header is trusted up to this (a
/// damaged header must not reserve more; the read still takes it all).
const MAX_PRESIZE: u64 = 1 << 32;

/// The decompressed bytes of a baseline, or why they cannot be had.
fn read_all(
    name: &str,
    mut reader: impl Read,
    size: Option<u64>,
) -> Result<Vec<u8>, BaselineError> {
    // One byte more than said, so that reaching the end needs no growth.
    let mut bytes = Vec::with_capacity(size.map_or(0, |n| n.min(MAX_PRESIZE) as usize + 1));
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| BaselineError::Damaged {
            file: name.to_string(),
            detail: match e.kind() {
                std::io::ErrorKind::UnexpectedEof => "the compressed data ends early".to_string(),
                _ => format!("cannot decompress it: {e}"),
            },
        })?;
    Ok(bytes)
}

/// The interpreter's state in a file: written borrowed
/// (`&InterpretState`), read whole ([`InterpretState`]) or not at all
/// ([`Skipped`]).
trait StateField {
    /// An empty state is not written.
    fn is_empty(&self) -> bool;
}

/// What a reader keeps of the interpreter's state.
trait StateRead: StateField + Default + for<'de> Deserialize<'de> {
    fn into_state(self) -> InterpretState;
}

impl StateField for InterpretState {
    fn is_empty(&self) -> bool {
        InterpretState::is_empty(self)
    }
}

impl StateField for &InterpretState {
    fn is_empty(&self) -> bool {
        InterpretState::is_empty(self)
    }
}

impl StateRead for InterpretState {
    fn into_state(self) -> InterpretState {
        self
    }
}

/// The interpreter's state of a baseline read only for its graph: parsed
/// past without building anything.
#[derive(Default)]
struct Skipped;

impl<'de> Deserialize<'de> for Skipped {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Skipped, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Skipped)
    }
}

impl StateField for Skipped {
    fn is_empty(&self) -> bool {
        true
    }
}

impl StateRead for Skipped {
    fn into_state(self) -> InterpretState {
        InterpretState::default()
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
        self.resume.merge(&o.resume);
        for (node, theirs) in &o.node_resume {
            self.node_resume
                .entry(node.clone())
                .or_default()
                .merge(theirs);
        }
        self.state.merge(&o.state);
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
/// observe loop checkpoints its live graph this way): zstd with a content
/// checksum, so damage to the compressed bytes is found too. The JSON is
/// never held whole: it is counted first (the frame's header gives its
/// size, so a reader takes it into one buffer), then written through its
/// checksum into the compressor as it is serialized.
pub fn encode(graph: &TrafficGraph, interpret: &InterpretStats, meta: &BaselineMeta) -> Vec<u8> {
    let file = file_of(graph, interpret, meta);
    let into_memory = "zstd into memory cannot fail";
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).expect(into_memory);
    enc.include_checksum(true).expect(into_memory);
    enc.set_pledged_src_size(Some(json_len(&file) as u64))
        .expect(into_memory);
    write_sealed(&file, enc).finish().expect(into_memory)
}

/// The uncompressed JSON of a baseline (pretty, deterministic), sealed with
/// its checksum: what [`encode`] compresses.
pub fn to_json(graph: &TrafficGraph, interpret: &InterpretStats, meta: &BaselineMeta) -> Vec<u8> {
    let file = file_of(graph, interpret, meta);
    write_sealed(&file, Vec::with_capacity(json_len(&file)))
}

/// Writes the file's JSON, sealed with its checksum, to `out` as it is
/// serialized (through a 64 KiB buffer) and hands `out` back.
fn write_sealed<W: Write>(file: &File<&InterpretState>, out: W) -> W {
    let fails = "writing a baseline into memory cannot fail";
    let mut sealer = std::io::BufWriter::with_capacity(1 << 16, seal::Sealer::new(out));
    serde_json::to_writer_pretty(&mut sealer, file).expect(fails);
    sealer.write_all(b"\n").expect(fails);
    let sealer = sealer
        .into_inner()
        .map_err(|e| e.into_error())
        .expect(fails);
    sealer.finish().expect(fails)
}

/// The sealed JSON's length in bytes, counted by serializing into nothing.
fn json_len(file: &File<&InterpretState>) -> usize {
    let mut counter = Counter(0);
    serde_json::to_writer_pretty(&mut counter, file).expect("a baseline always serializes");
    counter.0 + 1 + seal::SEAL_LEN
}

/// The file struct of a baseline, the state borrowed (a long baseline's
/// state is most of it).
fn file_of<'a>(
    graph: &TrafficGraph,
    interpret: &InterpretStats,
    meta: &'a BaselineMeta,
) -> File<&'a InterpretState> {
    File {
        format: FORMAT.to_string(),
        version: VERSION,
        generator: format!("flowpolicy {}", env!("CARGO_PKG_VERSION")),
        observation: meta.observation.clone(),
        settings: meta.settings.clone(),
        resume: meta.resume.clone(),
        node_resume: meta.node_resume.clone(),
        // Borrowed: a long baseline's state is most of it.
        state: &meta.state,
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
        checksum: None,
    }
}

/// A writer that only counts the bytes written to it.
struct Counter(usize);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
/// overwritten. The messages say what to do for a command that reads
/// baselines as inputs; `observe` words its own remedy ([`BaselineError::Damaged`]'s
/// fields are public for that).
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("{file}: the baseline is damaged ({detail}); it was not loaded and was left unchanged — restore it from a copy, or leave it out of the inputs")]
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

/// The file (versions 1 to 3), field by field as documented; `S` is what
/// a reader keeps of the interpreter's state ([`StateField`]).
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "S: Serialize + StateField", deserialize = "S: StateRead"))]
struct File<S = InterpretState> {
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
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    node_resume: BTreeMap<String, ResumeState>,
    #[serde(default, skip_serializing_if = "StateField::is_empty")]
    state: S,
    coverage: Coverage,
    #[serde(default)]
    interpret: InterpretStats,
    nodes: Vec<NodeData>,
    edges: Vec<EdgeRecord>,
    /// Written by [`seal`], never by serde; read only to notice a checksum
    /// that is not where it belongs.
    #[serde(default, skip_serializing)]
    checksum: Option<String>,
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

impl<S: StateRead> File<S> {
    fn into_baseline(self, version: u32) -> Baseline {
        let mut state = self.state.into_state();
        if version < 3 {
            // Before version 3 every tracked connection had been counted,
            // when last seen (one memory for all nodes).
            for e in &mut state.unnamed.connections.entries {
                e.counted.get_or_insert(e.last_seen);
            }
        }
        let mut graph = TrafficGraph::new();
        for n in &self.nodes {
            graph.insert_node(n);
        }
        for e in self.edges {
            for p in e.ports {
                let stats = PortStats {
                    allowed: p.allowed,
                    audit_flows: p.audit_flows,
                    dropped: p.dropped,
                    http: p.http,
                    dns: p.dns,
                    dropped_http: p.dropped_http,
                    dropped_dns: p.dropped_dns,
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
                node_resume: self.node_resume,
                state,
            },
            unchecked: false,
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
        assert!(!text.contains("\"state\""), "an empty state is not written");
    }

    #[test]
    fn errors_are_clear() {
        let text = json(&Baseline::default());
        let cut = &text.as_bytes()[..text.len() / 2];
        let e = Baseline::from_json("b", cut).unwrap_err().to_string();
        assert!(e.contains("the baseline is damaged"), "{e}");
        assert!(!e.contains("--baseline"), "{e}");
        // A newer version (with a checksum of its own).
        let unsealed = |t: &str| {
            let at = t.rfind(",\n  \"checksum\"").unwrap();
            format!("{}\n}}\n", &t[..at])
        };
        let newer = seal::seal(
            unsealed(&text)
                .replace("\"version\": 3", "\"version\": 4")
                .as_bytes(),
        );
        let e = Baseline::from_json("b", &newer).unwrap_err().to_string();
        assert!(e.contains("written by a newer flowpolicy"), "{e}");
        let e = Baseline::from_json("b", b"{\"flow\":{}}").unwrap_err();
        assert!(matches!(e, BaselineError::NotABaseline { .. }));
        let e = Baseline::from_json("b", b"").unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
    }

    #[test]
    fn the_checksum_guards_the_document() {
        let mut b = Baseline::default();
        b.meta.settings.conn_window_seconds.insert(120);
        let text = json(&b);
        assert!(text.ends_with("\"\n}\n") && text.contains("\"checksum\": \"xxh3:"));
        assert!(!Baseline::from_json("t", text.as_bytes()).unwrap().unchecked);
        // One changed character anywhere is refused.
        let changed = text.replacen("120", "121", 1);
        let e = Baseline::from_json("t", changed.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("do not match their checksum"), "{e}");
        // A version 3 file without its checksum is damaged.
        let at = text.rfind(",\n  \"checksum\"").unwrap();
        let stripped = format!("{}\n}}\n", &text[..at]);
        let e = Baseline::from_json("t", stripped.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("checksum is missing"), "{e}");
        // A version 1 file without one loads, marked unchecked.
        let old = stripped.replace("\"version\": 3", "\"version\": 1");
        let loaded = Baseline::from_json("t", old.as_bytes()).unwrap();
        assert!(loaded.unchecked);
        assert_eq!(loaded.meta, b.meta);
        // The compressed file has a zstd content checksum too.
        let bytes = b.encode();
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(zstd::stream::decode_all(flipped.as_slice()).is_err());
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
    fn node_resume_points_round_trip_as_version_3_and_merge_per_node() {
        let point = |secs: i64| {
            let mut r = ResumeState::default();
            let resp = crate::proto::observer::GetFlowsResponse {
                response_types: Some(
                    crate::proto::observer::get_flows_response::ResponseTypes::Flow(
                        crate::proto::flow::Flow::default(),
                    ),
                ),
                node_name: String::new(),
                time: Some(pbjson_types::Timestamp {
                    seconds: secs,
                    nanos: 0,
                }),
            };
            r.admit(&crate::source::relay::Received::new(resp));
            r
        };
        let plain = json(&Baseline::default());
        assert!(plain.contains("\"version\": 3") && !plain.contains("node_resume"));
        let mut b = Baseline::default();
        b.meta.node_resume.insert("kind/worker".into(), point(10));
        b.meta.node_resume.insert("kind/worker2".into(), point(20));
        let text = json(&b);
        assert!(
            text.contains("\"version\": 3") && text.contains("\"node_resume\""),
            "{text}"
        );
        let back = Baseline::from_json("t", text.as_bytes()).unwrap();
        assert_eq!(back.meta, b.meta);
        assert_eq!(json(&back), text);
        // A file without node points (relay or dumps) loads without them.
        let old = Baseline::from_json("t", plain.as_bytes()).unwrap();
        assert!(old.meta.node_resume.is_empty());
        // Merging keeps each node's later point.
        let mut other = Baseline::default();
        other
            .meta
            .node_resume
            .insert("kind/worker".into(), point(30));
        other
            .meta
            .node_resume
            .insert("kind/worker3".into(), point(5));
        b.merge(&other);
        let times: Vec<String> = (b.meta.node_resume.values())
            .map(|r| r.last_time.unwrap().to_string())
            .collect();
        assert_eq!(
            times,
            [
                "1970-01-01T00:00:30Z",
                "1970-01-01T00:00:20Z",
                "1970-01-01T00:00:05Z"
            ]
        );
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
