//! The in-repo flow files (`tests/data/flows`) are what `tests/samples`
//! generates, byte for byte, and each reads as a clean Hubble dump.
//! `FLOWPOLICY_BLESS=1 cargo test --test tests sample_flows::` rewrites them.

use crate::common;
use crate::samples;

use flowpolicy::source::dump::{read_dumps, DumpOptions};
use flowpolicy::source::sink::EachEvent;

#[test]
fn committed_samples_are_the_generated_ones() {
    let bless = std::env::var_os("FLOWPOLICY_BLESS").is_some();
    let files = samples::files();
    for (name, responses) in &files {
        let text = samples::render(responses);
        let path = common::sample(name);
        if bless {
            std::fs::write(&path, &text).unwrap();
        }
        let committed =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            committed == text,
            "{} differs from a fresh generation; rerun with FLOWPOLICY_BLESS=1 (see tests/data/flows/README.md)",
            path.display()
        );
    }
    let names: Vec<&str> = files.iter().map(|f| f.0).collect();
    let on_disk: Vec<String> = common::sample_dumps()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(on_disk, sorted, "every sample file is generated");
}

#[test]
fn samples_read_cleanly_with_increasing_times() {
    for (name, responses) in samples::files() {
        let times: Vec<_> = responses
            .iter()
            .map(|r| {
                let t = r.time.unwrap();
                (t.seconds, t.nanos)
            })
            .collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{name}");
        let mut flows = 0;
        let reports = read_dumps(
            &[common::sample(name)],
            DumpOptions { strict: true },
            &mut EachEvent(|_: &flowpolicy::source::event::SourceEvent| flows += 1),
        )
        .unwrap();
        assert_eq!(reports[0].malformed, 0, "{name}");
        assert_eq!(flows, responses.len(), "{name}");
    }
    let count = |n: &str| {
        samples::files()
            .into_iter()
            .find(|f| f.0 == n)
            .unwrap()
            .1
            .len()
    };
    assert_eq!(count("ten.jsonpb"), 10);
    assert_eq!(count("tcp-400.jsonpb"), 400);
}
