//! Issue #10, live path: the stream decoder (`src/source/relay/endpoints.rs`:
//! endpoints checked once per distinct encoding, unused fields skipped when
//! slim) and prost's generated decoding agree on every message built from
//! the demo fixture, the benchmark's generated lines and the real dumps
//! (when the corpus is present), and on damaged messages: same error or
//! not, the same response (less the skipped fields when slim), the same
//! fingerprint, the same door check and the same interpreted observation —
//! also when the slim decoder's endpoints are spares the sink gave back.

use crate::common;
use crate::lines;
use crate::mutate;

use crate::mutate::Rng;
use flowpolicy::interpret::{InterpretConfig, Interpreter};
use flowpolicy::proto::observer::get_flows_response::ResponseTypes;
use flowpolicy::proto::observer::GetFlowsResponse;
use flowpolicy::source::checked::CheckedEndpoints;
use flowpolicy::source::event::EndpointHint;
use flowpolicy::source::event::SourceEvent;
use flowpolicy::source::relay::{EndpointCache, EndpointId, Received, Recycler};
use flowpolicy::source::validate;
use prost::Message;

/// The lines that are responses, encoded as the relay would send them.
fn encoded(lines: &[Vec<u8>]) -> Vec<Vec<u8>> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_slice::<GetFlowsResponse>(l).ok())
        .map(|r| r.encode_to_vec())
        .collect()
}

/// A response less the fields a slim decoder skips.
fn slimmed(mut r: GetFlowsResponse) -> GetFlowsResponse {
    if let Some(ResponseTypes::Flow(f)) = &mut r.response_types {
        f.uuid.clear();
        f.ethernet = None;
        f.node_labels.clear();
        f.summary.clear();
    }
    r
}

fn observation(
    interp: &mut Interpreter,
    event: &Option<SourceEvent>,
    hint: EndpointHint,
) -> String {
    match event {
        Some(SourceEvent::Flow(f)) => format!(
            "{:?}",
            interp.interpret_hinted(f, hint).map(|o| {
                (
                    o.time_ns,
                    format!("{:?} {:?}", o.initiator, o.responder),
                    (o.initiator_ip, o.responder_ip, o.port),
                    format!("{:?} {} {:?}", o.verdict, o.new_connection, o.basis),
                )
            })
        ),
        other => format!("{other:?}"),
    }
}

/// Decodes every message both ways (full and slim, one cache each for the
/// whole run, as a stream does) and compares; returns how many took the
/// cached-endpoint path.
fn agree(messages: &[Vec<u8>], what: &str) -> usize {
    let mut full = EndpointCache::new(false);
    let recycler = Recycler::default();
    let mut slim = EndpointCache::new(true).with_recycler(Some(recycler.clone()));
    let (mut a, mut b) = (
        Interpreter::new(InterpretConfig::default()),
        Interpreter::new(InterpretConfig::default()),
    );
    let mut checks = CheckedEndpoints::default();
    let mut cached = 0;
    for (i, bytes) in messages.iter().enumerate() {
        let at = format!("{what} message {}", i + 1);
        let reference = Received::from_wire(bytes);
        let (f, s) = (full.decode(bytes), slim.decode(bytes));
        let (reference, f, s) = match (reference, f, s) {
            (Ok(r), Ok(f), Ok(s)) => (r, f, s),
            (Err(r), Err(f), Err(s)) => {
                assert_eq!(
                    (r.to_string(), r.to_string()),
                    (f.to_string(), s.to_string())
                );
                continue;
            }
            other => panic!("{at}: decoders disagree: {other:?}"),
        };
        assert_eq!(f.response, reference.response, "{at}");
        // What prost decodes alone (the uncommon shapes) comes whole.
        let slim_want = match s.endpoint_checks {
            Some(_) => slimmed(reference.response.clone()),
            None => reference.response.clone(),
        };
        assert_eq!(s.response, slim_want, "{at}");
        assert_eq!(f.fingerprint, reference.fingerprint, "{at}");
        assert_eq!(s.fingerprint, reference.fingerprint, "{at}");
        assert_eq!(f.endpoint_checks, s.endpoint_checks, "{at}");
        cached += usize::from(f.endpoint_checks.is_some());

        let ids = s.endpoint_ids;
        let want = SourceEvent::from_response(reference.response);
        let got = SourceEvent::from_response(s.response);
        if let (Some(SourceEvent::Flow(w)), Some(SourceEvent::Flow(g))) = (&want, &got) {
            assert_eq!(
                validate::check_flow(w),
                checks.check_decoded(g, s.endpoint_checks),
                "{at}: door check"
            );
        }
        assert_eq!(
            observation(&mut a, &want, EndpointHint::default()),
            observation(&mut b, &got, EndpointId::hint(ids)),
            "{at}"
        );
        if let Some(SourceEvent::Flow(mut f)) = got {
            recycler.give_back(&mut f, ids);
        }
    }
    assert_eq!(format!("{:?}", a.stats), format!("{:?}", b.stats), "{what}");
    if cached > 100 {
        assert!(
            slim.spares_used() * 2 > cached as u64,
            "{what}: spares taken back"
        );
    }
    cached
}

#[test]
fn demo_fixture_messages_agree_and_take_the_cached_path() {
    let messages = encoded(&mutate::demo_lines());
    let cached = agree(&messages, "demo");
    // Only node_status / lost_events messages are left to prost alone.
    assert!(
        messages.len() - cached <= 10,
        "{cached} of {}",
        messages.len()
    );
}

#[test]
fn benchmark_messages_agree() {
    let mut g = lines::Generator::new();
    let mut text = Vec::new();
    while text.len() < 3000 {
        g.connection(&mut |l| text.push(l.to_vec()));
    }
    let messages = encoded(&text);
    assert_eq!(agree(&messages, "bench"), messages.len());
}

#[test]
fn every_real_dump_agrees() {
    let Some(lines) = mutate::corpus_lines() else {
        common::real_dumps("the live decoder agrees on every real dump");
        return;
    };
    let messages = encoded(&lines);
    assert!(messages.len() > 1000, "{}", messages.len());
    agree(&messages, "corpus");
}

#[test]
fn damaged_messages_get_prosts_answer() {
    let mut messages = encoded(&mutate::demo_lines());
    messages.truncate(3000);
    let mut rng = Rng::new(10);
    let mut damaged = Vec::new();
    for m in &messages {
        let mut d = m.clone();
        match rng.below(4) {
            0 => d.truncate(rng.below(d.len().max(1))),
            1 => {
                let i = rng.below(d.len());
                d[i] ^= 1 << rng.below(8);
            }
            2 => {
                let i = rng.below(d.len());
                d[i] = 0xff;
            }
            _ => {
                // A field repeated: the whole message twice.
                d.extend_from_slice(m);
            }
        }
        damaged.push(d);
    }
    agree(&damaged, "damaged");
}
