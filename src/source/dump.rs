//! Saved Hubble dumps: `hubble observe -o jsonpb` files, Hubble exporter files,
//! the legacy bare-flow JSON lines and `{"flow":…}`-only lines; plain, gzip or
//! zstd (detected by magic bytes, not by name), or `-` for stdin.
//!
//! Lines are decoded with the generated proto3 JSON mapping (proto and
//! lowerCamel names, unknown fields ignored), in batches on a few threads
//! ([`super::parallel`]) but handed to the sink one at a time in file order,
//! so memory does not grow with the file and the result does not depend on
//! the thread count. Bad lines are counted and the first few are kept with
//! file:line for the report; `strict` turns them into an error.
//!
//! Most lines take the fast path ([`super::fast`]): only what is read
//! downstream is built, each distinct endpoint is decoded and checked once.
//! Any line it declines is decoded by the full decoder ([`decode_line`]),
//! which then decides; the report counts both.
//!
//! Each decoded flow is also checked at the door
//! ([`crate::interpret::validate`], on the decoder threads): a flow with a
//! damaged name or an absurd number is never handed on; it is counted by
//! reason with its file:line, like a malformed line, and fatal with `strict`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::interpret::validate::{self, Rejection, Rejections};
use crate::interpret::EndpointHint;
use crate::proto::{flow, observer};
use crate::source::event::SourceEvent;
use crate::source::fast::{EndpointIds, FastDecoder};
use crate::source::parallel::{self, Item, Shape};

/// An opened, decompressed input. `Send`, so that it can be read on a thread
/// of its own while the lines are decoded.
pub type Input = Box<dyn BufRead + Send>;

/// How many bad lines per file are kept verbatim for the report.
const KEPT_ERRORS: usize = 5;

/// Compression of an input, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Detects gzip (1f 8b) and zstd (28 b5 2f fd) frames; anything else is plain.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// A line that could not be decoded.
#[derive(Debug, Clone)]
pub struct LineError {
    pub file: String,
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// What was read from one input.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    pub file: String,
    pub lines: u64,
    pub flows: u64,
    pub lost_event_lines: u64,
    pub node_status_lines: u64,
    pub malformed: u64,
    /// The first few malformed lines, with their position.
    pub first_errors: Vec<LineError>,
    /// Set when the input ended early (truncated or corrupt compression, I/O error).
    pub truncated: Option<String>,
    /// Flows that decoded but failed validation (not counted in `flows`).
    pub rejected: Rejections,
    /// Lines decoded by the fast path.
    pub fast_path: u64,
    /// Lines the fast path declined that the full decoder turned into an
    /// event or a fault (other responses, unusual lines, malformed ones).
    pub full_decoder: u64,
}

/// Everything that went wrong in a way the user must hear about.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("cannot open {file}: {cause}")]
    Open { file: String, cause: io::Error },
    #[error("{0} (--strict: malformed lines are errors)")]
    Strict(LineError),
    #[error("{file}:{line}: rejected flow: {rejection} (--strict: flows with invalid names or values are errors)")]
    StrictRejected {
        file: String,
        line: u64,
        rejection: Rejection,
    },
    #[error("{file}: input ends early after line {line}: {message} (--strict)")]
    StrictTruncated {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file} does not look like a Hubble flow dump (`hubble observe -o jsonpb`): no line decoded; first problem: {first}")]
    NotADump { file: String, first: String },
}

/// Options for reading dumps.
#[derive(Debug, Clone, Copy, Default)]
pub struct DumpOptions {
    /// Fail on the first malformed line or truncated input instead of counting it.
    pub strict: bool,
}

/// The display name of an input path (`-` is stdin).
pub fn display_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}

/// Opens an input (file or `-`), sniffing and undoing its compression.
pub fn open_input(path: &Path) -> Result<Input, DumpError> {
    open_input_counted(path, None)
}

/// Counts the bytes read through it into a shared counter: one atomic add
/// per read call (the buffered reader above asks for 256 KiB at a time), so
/// progress costs nothing per line.
struct CountingReader<R> {
    inner: R,
    consumed: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Like [`open_input`], and adds the raw (still compressed) bytes read from
/// the file or stdin to `consumed`, for a progress bar over the file sizes.
pub fn open_input_counted(
    path: &Path,
    consumed: Option<Arc<AtomicU64>>,
) -> Result<Input, DumpError> {
    let mut raw: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path).map_err(|cause| DumpError::Open {
            file: display_name(path),
            cause,
        })?)
    };
    if let Some(consumed) = consumed {
        raw = Box::new(CountingReader {
            inner: raw,
            consumed,
        });
    }
    let mut buffered = BufReader::with_capacity(256 * 1024, raw);
    let head = buffered.fill_buf().map_err(|cause| DumpError::Open {
        file: display_name(path),
        cause,
    })?;
    let reader: Input = match Compression::sniff(head) {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::bufread::MultiGzDecoder::new(buffered),
        )),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(buffered).map_err(|cause| {
                DumpError::Open {
                    file: display_name(path),
                    cause,
                }
            })?;
            Box::new(BufReader::with_capacity(256 * 1024, decoder))
        }
    };
    Ok(reader)
}

/// Decodes one line with the full decoder (the generated proto3 JSON
/// mapping): a `GetFlowsResponse`, or a bare flow (legacy JSON output).
/// `Ok(None)` for blank lines and empty responses.
pub fn decode_line(line: &[u8]) -> Result<Option<SourceEvent>, String> {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed[0] != b'{' {
        return Err(format!(
            "not a JSON object (starts with {:?})",
            String::from_utf8_lossy(&trimmed[..trimmed.len().min(24)])
        ));
    }
    let resp: observer::GetFlowsResponse =
        serde_json::from_slice(trimmed).map_err(|e| e.to_string())?;
    if resp.response_types.is_some() {
        return Ok(SourceEvent::from_response(resp));
    }
    // No `flow`/`lost_events`/`node_status` key: the legacy bare-flow form.
    let bare: flow::Flow = serde_json::from_slice(trimmed).map_err(|e| e.to_string())?;
    if bare == flow::Flow::default() {
        return Ok(None);
    }
    Ok(Some(SourceEvent::Flow(Box::new(bare))))
}

/// Why a line gave no event.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    Malformed(String),
    Rejected(Rejection),
}

/// One line, decoded and checked.
#[derive(Debug)]
pub struct Decoded {
    pub outcome: Result<Option<SourceEvent>, Fault>,
    /// Taken by the fast path (else by the full decoder, or blank).
    pub fast: bool,
    /// For [`recycle`]: the fast path's endpoints the flow holds copies of.
    endpoints: EndpointIds,
}

impl Decoded {
    /// The fast path's numbers for the flow's endpoints, for interpretation.
    pub fn hint(&self) -> EndpointHint {
        self.endpoints.hint()
    }
}

/// Gives a decoded line back to the fast path of the thread that decoded
/// it (called there by [`super::parallel`]), which keeps its endpoints as
/// spares; anything else is simply dropped.
pub fn recycle(decoded: Decoded) {
    if let (true, Ok(Some(SourceEvent::Flow(f)))) = (decoded.fast, decoded.outcome) {
        FAST.with(|fast| fast.borrow_mut().recycle(f, decoded.endpoints));
    }
}

thread_local! {
    /// Each decoding thread's fast path (its endpoint cache).
    static FAST: std::cell::RefCell<FastDecoder> = std::cell::RefCell::new(FastDecoder::default());
}

/// Whether the fast path is used: `FLOWPOLICY_FULL_DECODE=1` sends every
/// line through the full decoder instead (to compare, or to rule it out;
/// the output is the same either way).
fn fast_path_on() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var_os("FLOWPOLICY_FULL_DECODE").is_none_or(|v| v.is_empty() || v == "0")
    })
}

/// Decodes and checks one line: the fast path when it takes the line, else
/// [`decode_line_checked_full`].
pub fn decode_line_checked(line: &[u8]) -> Decoded {
    let trimmed = line.trim_ascii();
    if trimmed.first() == Some(&b'{') && fast_path_on() {
        if let Some(fast) = FAST.with(|f| f.borrow_mut().decode(trimmed)) {
            return Decoded {
                outcome: match fast.check {
                    Ok(()) => Ok(Some(SourceEvent::Flow(fast.flow))),
                    Err(r) => Err(Fault::Rejected(r)),
                },
                fast: true,
                endpoints: fast.endpoints,
            };
        }
    }
    Decoded {
        outcome: decode_line_checked_full(line),
        fast: false,
        endpoints: EndpointIds::default(),
    }
}

/// [`decode_line`] (the full decoder), then the door check of a flow.
pub fn decode_line_checked_full(line: &[u8]) -> Result<Option<SourceEvent>, Fault> {
    let event = decode_line(line).map_err(Fault::Malformed)?;
    if let Some(SourceEvent::Flow(f)) = &event {
        validate::check_flow(f).map_err(Fault::Rejected)?;
    }
    Ok(event)
}

/// Reads every input in order and hands each event to `sink`.
pub fn read_dumps(
    paths: &[PathBuf],
    opts: DumpOptions,
    mut sink: impl FnMut(&SourceEvent),
) -> Result<Vec<FileReport>, DumpError> {
    let mut reports = Vec::with_capacity(paths.len());
    for path in paths {
        let reader = open_input(path)?;
        reports.push(read_one(&display_name(path), reader, opts, &mut sink)?);
    }
    Ok(reports)
}

/// Reads one already-opened input. The sink borrows each event: it is freed
/// later on the thread that decoded it (see [`super::parallel`]).
pub fn read_one(
    name: &str,
    reader: impl BufRead + Send + 'static,
    opts: DumpOptions,
    sink: &mut impl FnMut(&SourceEvent),
) -> Result<FileReport, DumpError> {
    read_one_at(name, reader, opts, &mut |_, event, _| sink(event))
}

/// [`read_one`], also handing the sink each event's line number.
pub fn read_one_at(
    name: &str,
    reader: impl BufRead + Send + 'static,
    opts: DumpOptions,
    sink: &mut impl FnMut(u64, &SourceEvent, EndpointHint),
) -> Result<FileReport, DumpError> {
    read_with(name, reader, opts, Shape::for_this_machine(), sink)
}

/// [`read_one`] with a given batch size and decoder count.
fn read_with(
    name: &str,
    reader: impl BufRead + Send + 'static,
    opts: DumpOptions,
    shape: Shape,
    sink: &mut impl FnMut(u64, &SourceEvent, EndpointHint),
) -> Result<FileReport, DumpError> {
    let mut report = FileReport {
        file: name.to_string(),
        ..FileReport::default()
    };
    let mut decoded = 0u64;
    let outcome = parallel::for_each_line(reader, shape, decode_line_checked, recycle, |item| {
        let line = match item {
            Item::Line(line) => line,
            Item::ReadError(e) => {
                let message = describe_io_error(&e);
                if opts.strict {
                    return ControlFlow::Break(DumpError::StrictTruncated {
                        file: name.to_string(),
                        line: report.lines,
                        message,
                    });
                }
                report.truncated = Some(message);
                return ControlFlow::Continue(());
            }
        };
        report.lines += 1;
        if line.fast {
            report.fast_path += 1;
        } else if !matches!(line.outcome, Ok(None)) {
            report.full_decoder += 1;
        }
        match &line.outcome {
            Ok(None) => {}
            Ok(Some(event)) => {
                decoded += 1;
                match event {
                    SourceEvent::Flow(_) => report.flows += 1,
                    SourceEvent::Lost { .. } => report.lost_event_lines += 1,
                    SourceEvent::NodeStatus { .. } => report.node_status_lines += 1,
                }
                sink(report.lines, event, line.hint());
            }
            Err(Fault::Rejected(rejection)) => {
                decoded += 1;
                if opts.strict {
                    return ControlFlow::Break(DumpError::StrictRejected {
                        file: name.to_string(),
                        line: report.lines,
                        rejection: rejection.clone(),
                    });
                }
                let line = report.lines;
                report
                    .rejected
                    .add(|| format!("{name}:{line}"), rejection.clone());
            }
            Err(Fault::Malformed(message)) => {
                let err = LineError {
                    file: name.to_string(),
                    line: report.lines,
                    message: message.clone(),
                };
                if opts.strict {
                    return ControlFlow::Break(DumpError::Strict(err));
                }
                report.malformed += 1;
                if report.first_errors.len() < KEPT_ERRORS {
                    report.first_errors.push(err);
                }
            }
        }
        ControlFlow::Continue(())
    });
    if let ControlFlow::Break(err) = outcome {
        return Err(err);
    }
    if decoded == 0 && report.malformed > 0 {
        return Err(DumpError::NotADump {
            file: name.to_string(),
            first: report.first_errors[0].to_string(),
        });
    }
    Ok(report)
}

fn describe_io_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            "compressed stream is truncated (the file was cut short)".into()
        }
        io::ErrorKind::InvalidData => format!("corrupt data: {e}"),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(input: &str) -> (FileReport, Vec<SourceEvent>) {
        let mut out = Vec::new();
        let reader = io::Cursor::new(input.as_bytes().to_vec());
        let rep = read_one("t", reader, DumpOptions::default(), &mut |e| {
            out.push(e.clone())
        })
        .unwrap();
        (rep, out)
    }

    #[test]
    fn wrapper_bare_and_flow_only_lines_decode() {
        let input = concat!(
            r#"{"flow":{"verdict":"FORWARDED","source":{"namespace":"a"}},"node_name":"n1","time":"2024-01-01T00:00:00Z"}"#,
            "\n",
            r#"{"verdict":"DROPPED","node_name":"n2"}"#,
            "\n\n",
            r#"{"flow":{"trafficDirection":"EGRESS","isReply":true}}"#,
            "\n"
        );
        let (rep, ev) = events(input);
        assert_eq!(rep.flows, 3);
        assert_eq!(rep.malformed, 0);
        let SourceEvent::Flow(f) = &ev[0] else {
            panic!()
        };
        assert_eq!(f.node_name, "n1");
        assert!(f.time.is_some());
        let SourceEvent::Flow(f) = &ev[2] else {
            panic!()
        };
        assert_eq!(f.traffic_direction(), flow::TrafficDirection::Egress);
        assert_eq!(f.is_reply.as_ref().map(|b| b.value), Some(true));
    }

    #[test]
    fn lost_events_and_node_status_are_events() {
        let input = concat!(
            r#"{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":"12"},"node_name":"n1"}"#,
            "\n",
            r#"{"node_status":{"state_change":"NODE_UNAVAILABLE","node_names":["k8s-3"]}}"#,
            "\n",
            r#"{"flow":{"verdict":"FORWARDED"}}"#,
            "\n"
        );
        let (rep, ev) = events(input);
        assert_eq!((rep.lost_event_lines, rep.node_status_lines), (1, 1));
        assert!(matches!(&ev[0], SourceEvent::Lost { count: 12, node, .. } if node == "n1"));
        assert!(
            matches!(&ev[1], SourceEvent::NodeStatus { state, .. } if state == "NODE_UNAVAILABLE")
        );
    }

    #[test]
    fn malformed_lines_are_counted_with_position() {
        let input = "{\"flow\":{}}\nnot json\n{\"flow\": {\"verdict\": 5\n{\"flow\":{\"verdict\":\"FORWARDED\"}}\n";
        let (rep, _) = events(input);
        assert_eq!(rep.malformed, 2);
        assert_eq!(rep.first_errors[0].line, 2);
        assert_eq!(rep.first_errors[1].line, 3);
        assert!(rep.first_errors[0].to_string().starts_with("t:2: "));
    }

    #[test]
    fn strict_fails_on_first_bad_line() {
        let reader = io::Cursor::new(b"{}\n[1]\n".to_vec());
        let err = read_one("f", reader, DumpOptions { strict: true }, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("f:2:"), "{err}");
    }

    #[test]
    fn a_file_with_no_decodable_line_is_rejected() {
        let reader = io::Cursor::new(b"apiVersion: v1\nkind: Pod\n".to_vec());
        let err = read_one("pod.yaml", reader, DumpOptions::default(), &mut |_| {}).unwrap_err();
        assert!(err
            .to_string()
            .contains("does not look like a Hubble flow dump"));
    }

    #[test]
    fn unknown_fields_and_enum_values_are_tolerated() {
        let input = r#"{"flow":{"verdict":"SOMETHING_NEW","brand_new":{"x":1},"drop_reason_desc":"NEW_REASON"}}"#;
        let (rep, _) = events(input);
        assert_eq!((rep.flows, rep.malformed), (1, 0));
    }

    /// Every way of cutting and decoding, including on the caller's thread.
    fn shapes() -> Vec<Shape> {
        let mut all = vec![Shape {
            workers: 0,
            batch_lines: 1,
            batch_bytes: 1,
        }];
        for workers in 1..=4 {
            for batch_lines in [1, 3, 4, 7, 1000] {
                all.push(Shape {
                    workers,
                    batch_lines,
                    batch_bytes: 1 << 20,
                });
            }
        }
        all
    }

    /// Reads `input` with `shape`: the report (or error) and each flow's node.
    fn read_shaped(
        input: Vec<u8>,
        strict: bool,
        shape: Shape,
    ) -> (Result<FileReport, DumpError>, Vec<String>) {
        let mut nodes = Vec::new();
        let reader = flate2::bufread::MultiGzDecoder::new(io::Cursor::new(input));
        let result = read_with(
            "f",
            BufReader::with_capacity(64, reader),
            DumpOptions { strict },
            shape,
            &mut |_, e, _| match e {
                SourceEvent::Flow(f) => nodes.push(f.node_name.clone()),
                _ => nodes.push("other".into()),
            },
        );
        (result, nodes)
    }

    fn gzip(text: &str) -> Vec<u8> {
        use std::io::Write;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(text.as_bytes()).unwrap();
        z.finish().unwrap()
    }

    /// Line `i` (1-based) is a flow from node `n{i}`, or `bad` when listed.
    fn flow_lines(n: usize, bad: &[usize]) -> String {
        (1..=n)
            .map(|i| {
                if bad.contains(&i) {
                    format!("{{\"flow\": {i}\n")
                } else if i % 10 == 0 {
                    "\n".to_string()
                } else {
                    format!("{{\"flow\":{{\"verdict\":\"FORWARDED\",\"node_name\":\"n{i}\"}}}}\n")
                }
            })
            .collect()
    }

    #[test]
    fn events_keep_file_order_across_batches_and_decoders() {
        let bad = [2, 9, 11, 12, 13, 14, 15, 41];
        let input = gzip(&flow_lines(100, &bad));
        let want: Vec<String> = (1..=100)
            .filter(|i| !bad.contains(i) && i % 10 != 0)
            .map(|i| format!("n{i}"))
            .collect();
        for shape in shapes() {
            let (report, nodes) = read_shaped(input.clone(), false, shape);
            let report = report.unwrap();
            assert_eq!(nodes, want, "{shape:?}");
            assert_eq!((report.lines, report.flows), (100, want.len() as u64));
            assert_eq!(report.malformed, 8, "{shape:?}"); // every 10th line is blank
            let first: Vec<u64> = report.first_errors.iter().map(|e| e.line).collect();
            assert_eq!(first, [2, 9, 11, 12, 13], "{shape:?}");
            assert!(report.truncated.is_none());
        }
    }

    #[test]
    fn strict_fails_at_the_first_bad_line_even_when_a_later_one_decodes_first() {
        // Line 7 starts a batch (of 3), ends one (of 7) or sits mid-batch
        // (of 4); line 13 is in a later batch that another decoder may well
        // finish first.
        let input = gzip(&flow_lines(30, &[7, 13]));
        for shape in shapes() {
            let (result, nodes) = read_shaped(input.clone(), true, shape);
            let err = result.unwrap_err();
            assert!(
                matches!(&err, DumpError::Strict(e) if e.line == 7),
                "{shape:?}"
            );
            assert!(err.to_string().starts_with("f:7: "), "{err}");
            assert_eq!(nodes, ["n1", "n2", "n3", "n4", "n5", "n6"], "{shape:?}");
        }
    }

    #[test]
    fn input_cut_mid_batch_keeps_the_lines_before_it() {
        let mut input = gzip(&flow_lines(200, &[]));
        input.truncate(input.len() * 3 / 5);
        let (sequential, want) = read_shaped(input.clone(), false, shapes()[0]);
        let sequential = sequential.unwrap();
        assert!(sequential.lines > 20 && sequential.lines < 200);
        assert_eq!(
            sequential.truncated.as_deref(),
            Some("compressed stream is truncated (the file was cut short)")
        );
        for shape in shapes() {
            let (report, nodes) = read_shaped(input.clone(), false, shape);
            let report = report.unwrap();
            assert_eq!(
                format!("{report:?}"),
                format!("{sequential:?}"),
                "{shape:?}"
            );
            assert_eq!(nodes, want, "{shape:?}");
            let (result, nodes) = read_shaped(input.clone(), true, shape);
            let err = result.unwrap_err();
            assert!(
                matches!(&err, DumpError::StrictTruncated { line, .. } if *line == sequential.lines),
                "{shape:?}: {err}"
            );
            assert_eq!(nodes, want, "{shape:?}");
        }
    }
}
