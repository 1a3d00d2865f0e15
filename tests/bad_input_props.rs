//! Bad input never panics: arbitrary bytes, and real dump lines cut or
//! corrupted at random points, decode to an event or a line error.

use flowpolicy::source::dump::decode_line;
use proptest::prelude::*;

const REAL: &str =
    include_str!("../../shared/data/flows/cilium_hubble-otel__basic-sample-10-flows.json");

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_line(&bytes);
    }

    #[test]
    fn corrupted_real_lines_never_panic(line in 0usize..10, cut in 0usize..4000, byte in any::<u8>(), at in 0usize..4000) {
        let real = REAL.lines().nth(line).unwrap().as_bytes();
        let mut corrupted = real.to_vec();
        let at = at % corrupted.len();
        corrupted[at] = byte;
        let _ = decode_line(&corrupted);
        let _ = decode_line(&real[..cut % real.len()]);
    }
}
