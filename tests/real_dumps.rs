//! Every real Hubble dump of the corpus (`<corpus>/flows`, skipped when the
//! corpus is absent) decodes with zero malformed lines: field-masked exporter
//! lines, `{"flow":…}`-only lines and all. The in-repo samples are checked by
//! `tests/sample_flows.rs`.

use crate::common;

use flowpolicy::source::dump::{read_dumps, DumpOptions};
use flowpolicy::source::sink::EachEvent;

#[test]
fn every_real_dump_reads_without_malformed_lines() {
    let Some(files) = common::real_dumps("every real dump reads without malformed lines") else {
        return;
    };
    assert!(
        files.len() >= 14,
        "expected the real dumps, found {}",
        files.len()
    );
    for file in files {
        let mut flows = 0;
        let reports = read_dumps(
            std::slice::from_ref(&file),
            DumpOptions { strict: true },
            &mut EachEvent(|_: &flowpolicy::source::event::SourceEvent| flows += 1),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let r = &reports[0];
        assert_eq!(r.malformed, 0, "{}: {:?}", r.file, r.first_errors);
        assert!(r.truncated.is_none());
        assert!(flows > 0, "{} gave no events", r.file);
    }
}
