//! Bad input never panics: arbitrary bytes, and dump lines (the in-repo
//! sample, and a real dump when the corpus is present) cut or corrupted at
//! random points, decode to an event or a line error.

use crate::common;

use std::sync::OnceLock;

use flowpolicy::source::dump::decode_line;
use proptest::prelude::*;

const SAMPLE: &str = include_str!("data/flows/ten.jsonpb");

/// The real 10-flow dump, read once (one skip line without the corpus).
fn real() -> Option<&'static str> {
    static REAL: OnceLock<Option<String>> = OnceLock::new();
    REAL.get_or_init(|| {
        let name = "cilium_hubble-otel__basic-sample-10-flows.json";
        let path = common::real_dump("corrupted real dump lines", name)?;
        Some(std::fs::read_to_string(path).unwrap())
    })
    .as_deref()
}

fn corrupt(text: &str, line: usize, cut: usize, byte: u8, at: usize) {
    let lines: Vec<&str> = text.lines().collect();
    let real = lines[line % lines.len()].as_bytes();
    let mut corrupted = real.to_vec();
    let at = at % corrupted.len();
    corrupted[at] = byte;
    let _ = decode_line(&corrupted);
    let _ = decode_line(&real[..cut % real.len()]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_line(&bytes);
    }

    #[test]
    fn corrupted_sample_lines_never_panic(line in 0usize..10, cut in 0usize..4000, byte in any::<u8>(), at in 0usize..4000) {
        corrupt(SAMPLE, line, cut, byte, at);
    }

    #[test]
    fn corrupted_real_lines_never_panic(line in 0usize..10, cut in 0usize..4000, byte in any::<u8>(), at in 0usize..4000) {
        if let Some(real) = real() {
            corrupt(real, line, cut, byte, at);
        }
    }
}
