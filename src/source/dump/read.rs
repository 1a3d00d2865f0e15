//! The read loop of one dump: lines decoded on a few threads
//! ([`crate::source::parallel`]) and handed to the [`FlowSink`] in file
//! order, bad lines counted with their position, `--strict` honoured.

use std::io::{self, BufRead};
use std::ops::ControlFlow;
use std::path::PathBuf;

use super::decode::{decode_line_checked, recycle, Fault};
use super::error::{DumpError, LineError};
use super::open::{display_name, open_input};
use crate::source::event::SourceEvent;
use crate::source::parallel::{self, Item, Shape};
use crate::source::sink::{At, FlowSink};
use crate::source::validate::Rejections;

/// How many bad lines per file are kept verbatim for the report.
const KEPT_ERRORS: usize = 5;

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

/// Options for reading dumps.
#[derive(Debug, Clone, Copy, Default)]
pub struct DumpOptions {
    /// Fail on the first malformed line or truncated input instead of counting it.
    pub strict: bool,
}

/// Reads every input in order into `sink`.
pub fn read_dumps(
    paths: &[PathBuf],
    opts: DumpOptions,
    sink: &mut impl FlowSink,
) -> Result<Vec<FileReport>, DumpError> {
    let mut reports = Vec::with_capacity(paths.len());
    for path in paths {
        let reader = open_input(path)?;
        reports.push(read_one(&display_name(path), reader, opts, sink)?);
    }
    Ok(reports)
}

/// Reads one already-opened input into `sink` (see [`FlowSink`] for the
/// contract: file order, door check done, events lent for the call). A sink
/// that breaks ends the read early with the report so far.
pub fn read_one(
    name: &str,
    reader: impl BufRead + Send + 'static,
    opts: DumpOptions,
    sink: &mut impl FlowSink,
) -> Result<FileReport, DumpError> {
    read_with(name, reader, opts, Shape::for_this_machine(), sink)
}

/// [`read_one`] with a given batch size and decoder count.
fn read_with(
    name: &str,
    reader: impl BufRead + Send + 'static,
    opts: DumpOptions,
    shape: Shape,
    sink: &mut impl FlowSink,
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
                    return ControlFlow::Break(Some(DumpError::StrictTruncated {
                        file: name.to_string(),
                        line: report.lines,
                        message,
                    }));
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
                let at = At::Line {
                    file: name,
                    line: report.lines,
                };
                if sink.event(event, at, line.hint()).is_break() {
                    return ControlFlow::Break(None);
                }
            }
            Err(Fault::Rejected(rejection)) => {
                decoded += 1;
                if opts.strict {
                    return ControlFlow::Break(Some(DumpError::StrictRejected {
                        file: name.to_string(),
                        line: report.lines,
                        rejection: rejection.clone(),
                    }));
                }
                let line = report.lines;
                report
                    .rejected
                    .add(|| format!("{name}:{line}"), rejection.clone());
                if sink
                    .rejected(At::Line { file: name, line }, rejection)
                    .is_break()
                {
                    return ControlFlow::Break(None);
                }
            }
            Err(Fault::Malformed(message)) => {
                let err = LineError {
                    file: name.to_string(),
                    line: report.lines,
                    message: message.clone(),
                };
                if opts.strict {
                    return ControlFlow::Break(Some(DumpError::Strict(err)));
                }
                report.malformed += 1;
                if report.first_errors.len() < KEPT_ERRORS {
                    report.first_errors.push(err);
                }
            }
        }
        ControlFlow::Continue(())
    });
    match outcome {
        ControlFlow::Break(Some(err)) => return Err(err),
        ControlFlow::Break(None) => return Ok(report),
        ControlFlow::Continue(()) => {}
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
    use crate::proto::flow;
    use crate::source::sink::EachEvent;
    use crate::source::validate::Rejection;
    use std::io::BufReader;

    fn events(input: &str) -> (FileReport, Vec<SourceEvent>) {
        let mut out = Vec::new();
        let reader = io::Cursor::new(input.as_bytes().to_vec());
        let mut sink = EachEvent(|e: &SourceEvent| out.push(e.clone()));
        let rep = read_one("t", reader, DumpOptions::default(), &mut sink).unwrap();
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
        let err = read_one(
            "f",
            reader,
            DumpOptions { strict: true },
            &mut EachEvent(|_: &SourceEvent| {}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("f:2:"), "{err}");
    }

    /// A sink that keeps where events and refusals came from, and stops
    /// after `stop_after` events.
    struct Positions {
        events: Vec<String>,
        rejected: Vec<String>,
        stop_after: usize,
    }

    impl FlowSink for Positions {
        fn event(
            &mut self,
            _: &SourceEvent,
            at: At<'_>,
            _: crate::source::event::EndpointHint,
        ) -> ControlFlow<()> {
            self.events.push(at.to_string());
            if self.events.len() >= self.stop_after {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }

        fn rejected(&mut self, at: At<'_>, r: &Rejection) -> ControlFlow<()> {
            self.rejected.push(format!("{at}: {}", r.reason.describe()));
            ControlFlow::Continue(())
        }
    }

    #[test]
    fn the_sink_hears_each_event_and_refusal_with_its_line_and_can_stop_the_read() {
        let bad_ns = r#"{"flow":{"verdict":"FORWARDED","source":{"namespace":"a b","labels":["k8s:io.kubernetes.pod.namespace=a b"]}}}"#;
        let good = r#"{"flow":{"verdict":"FORWARDED","node_name":"n1"}}"#;
        let input = format!("{good}\n{bad_ns}\n{good}\n{good}\n{good}\n");
        let mut sink = Positions {
            events: Vec::new(),
            rejected: Vec::new(),
            stop_after: 2,
        };
        let reader = io::Cursor::new(input.into_bytes());
        let report = read_one("f", reader, DumpOptions::default(), &mut sink).unwrap();
        assert_eq!(sink.events, ["f:1", "f:3"]);
        assert_eq!(sink.rejected.len(), 1, "{:?}", sink.rejected);
        assert!(sink.rejected[0].starts_with("f:2: "), "{:?}", sink.rejected);
        assert_eq!(report.rejected.total(), 1);
        assert!(report.lines < 5, "the read stopped when the sink broke");
    }

    #[test]
    fn a_file_with_no_decodable_line_is_rejected() {
        let reader = io::Cursor::new(b"apiVersion: v1\nkind: Pod\n".to_vec());
        let err = read_one(
            "pod.yaml",
            reader,
            DumpOptions::default(),
            &mut EachEvent(|_: &SourceEvent| {}),
        )
        .unwrap_err();
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
            &mut EachEvent(|e: &SourceEvent| match e {
                SourceEvent::Flow(f) => nodes.push(f.node_name.clone()),
                _ => nodes.push("other".into()),
            }),
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
