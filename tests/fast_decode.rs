//! Issue #10: the fast path of dump decoding (`src/source/fast.rs`) and the
//! full proto3 JSON decoder agree on every line — real dumps (when the
//! corpus is present), the demo fixture, the benchmark's generated lines,
//! respellings a proto3 JSON writer may produce (lowerCamel names, enums as
//! numbers, numbers as strings, nulls, escapes, spaces, duplicates) and
//! damaged lines: same malformed-or-not, same rejection, the same flow
//! (less `uuid`, `node_labels` and `Summary`, which the fast path leaves
//! empty) and the same interpreted observation, also when a flow's
//! endpoints are spares taken back from earlier flows and interpretation
//! goes by the fast path's endpoint numbers. Lines the fast path
//! declines are decoded by the full decoder, so agreement there is by
//! construction; the test also makes sure the fast path takes real lines.

use crate::common;
use crate::lines;
use crate::mutate;

use crate::mutate::{mutate, Rng};
use flowpolicy::interpret::{InterpretConfig, Interpreter};
use flowpolicy::proto::flow;
use flowpolicy::source::dump::{decode_line_checked, decode_line_checked_full, recycle, Fault};
use flowpolicy::source::event::SourceEvent;
use proptest::prelude::*;
use serde_json::Value;

/// What the fast path leaves out of a flow.
fn without_unread(mut f: flow::Flow) -> flow::Flow {
    f.uuid.clear();
    f.ethernet = None;
    f.node_labels.clear();
    f.summary.clear();
    f
}

/// The outcome of one line, comparable across both decoders.
fn comparable(outcome: &Result<Option<SourceEvent>, Fault>) -> String {
    match outcome {
        Ok(Some(SourceEvent::Flow(f))) => format!("flow {:?}", without_unread((**f).clone())),
        other => format!("{other:?}"),
    }
}

/// Counts of a run of lines through both decoders.
#[derive(Debug, Default)]
struct Agreed {
    lines: usize,
    fast: usize,
    /// A few lines that decoded as flows but not on the fast path.
    declined: Vec<String>,
}

/// Asserts both decoders agree on every line, and that both interpreters
/// (fed the flows of each) make the same observations.
fn agree(lines: &[Vec<u8>], what: &str) -> Agreed {
    let mut full_interp = Interpreter::new(InterpretConfig::default());
    let mut fast_interp = Interpreter::new(InterpretConfig::default());
    let mut n = Agreed::default();
    for (i, line) in lines.iter().enumerate() {
        let full = decode_line_checked_full(line);
        let fast = decode_line_checked(line);
        n.lines += 1;
        n.fast += usize::from(fast.fast);
        if !fast.fast && matches!(full, Ok(Some(SourceEvent::Flow(_)))) && n.declined.len() < 3 {
            n.declined.push(String::from_utf8_lossy(line).into_owned());
        }
        if let (Ok(Some(SourceEvent::Flow(a))), Ok(Some(SourceEvent::Flow(b)))) =
            (&full, &fast.outcome)
        {
            let seen = |o: Option<flowpolicy::interpret::Observation<'_>>| {
                o.map(|o| {
                    format!(
                        "{} {:?} {:?} {:?} {:?} {:?} {:?} {} {:?}",
                        o.time_ns,
                        o.initiator,
                        o.responder,
                        o.initiator_ip,
                        o.responder_ip,
                        o.port,
                        o.verdict,
                        o.new_connection,
                        o.basis
                    )
                })
            };
            assert_eq!(
                seen(full_interp.interpret(a)),
                // With the fast path's endpoint numbers, as `recommend` does.
                seen(fast_interp.interpret_hinted(b, fast.hint())),
                "{what} line {}: observations differ",
                i + 1
            );
        }
        assert_eq!(
            comparable(&full),
            comparable(&fast.outcome),
            "{what} line {}: {}",
            i + 1,
            String::from_utf8_lossy(line)
        );
        // As the reader does: later flows reuse this one's endpoints.
        recycle(fast);
    }
    assert_eq!(
        format!("{:?}", full_interp.stats),
        format!("{:?}", fast_interp.stats),
        "{what}: interpretation counters differ"
    );
    n
}

fn demo() -> Vec<Vec<u8>> {
    mutate::demo_lines()
}

#[test]
fn demo_fixture_agrees_and_takes_the_fast_path() {
    let lines = demo();
    let n = agree(&lines, "demo");
    // Only the few node_status / lost_events lines go to the full decoder.
    assert!(n.declined.is_empty(), "{n:#?}");
    assert!(n.lines - n.fast <= 10, "{n:#?}");
}

#[test]
fn every_real_dump_agrees() {
    let Some(files) = common::real_dumps("the fast path agrees on every real dump") else {
        return;
    };
    let mut all = Agreed::default();
    for file in files {
        let text = std::fs::read(&file).unwrap();
        let lines: Vec<Vec<u8>> = text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
        let n = agree(&lines, &file.display().to_string());
        all.lines += n.lines;
        all.fast += n.fast;
        all.declined.extend(n.declined);
    }
    // Real agents' lines are what the fast path is for.
    assert!(all.fast * 10 >= all.lines * 9, "{all:#?}");
}

#[test]
fn generated_benchmark_lines_agree() {
    let mut g = lines::Generator::new();
    let mut out = Vec::new();
    while out.len() < 3000 {
        g.connection(&mut |l| out.push(l.to_vec()));
    }
    let n = agree(&out, "generated");
    assert_eq!(n.fast, n.lines);
}

/// Replaces the first `from` after `after` in `line`.
fn replace_after(line: &[u8], after: &str, from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(line.to_vec()).unwrap();
    let start = text.find(after).unwrap();
    let at = start + text[start..].find(from).unwrap();
    format!("{}{to}{}", &text[..at], &text[at + from.len()..]).into_bytes()
}

#[test]
fn remembered_texts_are_reused_only_for_the_same_bytes() {
    // A line, then the same line with its source's last label changed (its
    // first 48 bytes, by which it is looked up, unchanged), then with one
    // node label of the same node no longer a string: neither may take the
    // remembered text's place.
    let mut g = lines::Generator::new();
    let mut first = None;
    g.connection(&mut |l| {
        first.get_or_insert_with(|| l.to_vec());
    });
    let line = first.unwrap();
    let label = replace_after(
        &line,
        r#""source":{"#,
        r#""k8s:version=v"#,
        r#""k8s:version=x"#,
    );
    let node = replace_after(
        &line,
        r#""node_labels":["#,
        r#""kubernetes.io/os=linux""#,
        "100000000000000000000000", // same length: a mistaken step over would land exactly past it
    );
    let lines = [line.clone(), line.clone(), label.clone(), node, label, line];
    let n = agree(&lines, "variants");
    assert_eq!(n.fast, 5, "{n:#?}"); // all but the damaged node labels
}

#[test]
fn damaged_lines_agree() {
    let mut base = demo();
    if let Some(real) = mutate::corpus_lines() {
        base.extend(real);
    }
    let mut rng = Rng::new(10);
    let damaged: Vec<Vec<u8>> = (0..20_000)
        .map(|i| {
            let line = &base[(i * 7919) % base.len()];
            let other = &base[rng.below(base.len())];
            mutate(line, other, &mut rng).0
        })
        .collect();
    agree(&damaged, "damaged");
}

/// Proto3 JSON respellings of a line, as another writer may produce them.
fn respell(v: &mut Value, rng: &mut Rng, depth: usize) {
    const ENUMS: &[&str] = &[
        "verdict",
        "Type",
        "traffic_direction",
        "trace_observation_point",
        "drop_reason_desc",
        "ipVersion",
        "type",
    ];
    let Value::Object(map) = v else { return };
    let keys: Vec<String> = map.keys().cloned().collect();
    for k in keys {
        let mut value = map.remove(&k).unwrap();
        let mut key = k.clone();
        match rng.below(12) {
            // lowerCamel name
            0 if k.contains('_') => {
                let mut up = false;
                key = k
                    .chars()
                    .filter_map(|c| {
                        if c == '_' {
                            up = true;
                            None
                        } else if up {
                            up = false;
                            Some(c.to_ascii_uppercase())
                        } else {
                            Some(c)
                        }
                    })
                    .collect();
            }
            // enum as a number (known or not)
            1 if ENUMS.contains(&k.as_str()) && value.is_string() => {
                value = Value::from(rng.below(12) as u64);
            }
            // number as a string, or negative, or a float
            2 if value.is_u64() => {
                value = match rng.below(3) {
                    0 => Value::String(value.to_string()),
                    1 => Value::from(-(value.as_u64().unwrap() as i64) - 1),
                    _ => Value::from(value.as_u64().unwrap() as f64 + 0.5),
                }
            }
            3 => value = Value::Null,
            4 => value = Value::Bool(true),
            5 => value = Value::String("x".into()),
            6 if value.is_string() => {
                value = Value::from(u64::from(u32::MAX) + 1);
            }
            _ => {}
        }
        if depth < 4 {
            if let Value::Array(items) = &mut value {
                for item in items {
                    respell(item, rng, depth + 1);
                }
            } else {
                respell(&mut value, rng, depth + 1);
            }
        }
        map.insert(key, value);
    }
}

/// Textual changes a JSON value cannot express.
fn retext(line: &str, rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => line.replacen("\":", "\": ", 1 + rng.below(40)),
        1 => line.replacen("\"a", "\"\\u0061", 1),
        2 => line.replacen("{\"", "{\"verdict\":\"DROPPED\",\"", 1 + rng.below(3)),
        3 => line.replacen(
            "{\"",
            "{\"unknown\":{\"a\":[1,-2,3.5e2,null,true,{}]},\"",
            2,
        ),
        4 => format!(" {line}  "),
        _ => line.to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Respelled and retexted lines (some still valid, some not): both
    /// decoders agree on each.
    #[test]
    fn respelled_lines_agree(seed in any::<u64>()) {
        let base = demo();
        let mut rng = Rng::new(seed);
        let lines: Vec<Vec<u8>> = (0..200)
            .map(|_| {
                let line = &base[rng.below(base.len())];
                let mut v: Value = serde_json::from_slice(line).unwrap();
                if rng.chance(70) {
                    respell(&mut v, &mut rng, 0);
                }
                retext(&v.to_string(), &mut rng).into_bytes()
            })
            .collect();
        agree(&lines, "respelled");
    }
}
