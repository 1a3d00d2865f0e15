//! Every real Hubble dump in ../shared/data/flows decodes with zero malformed
//! lines: field-masked exporter lines, `{"flow":…}`-only lines and all.

mod common;

use flowpolicy::source::dump::{read_dumps, DumpOptions};

#[test]
fn every_real_dump_reads_without_malformed_lines() {
    let files = common::real_dumps();
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
            |_| flows += 1,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let r = &reports[0];
        assert_eq!(r.malformed, 0, "{}: {:?}", r.file, r.first_errors);
        assert!(r.truncated.is_none());
        assert!(flows > 0, "{} gave no events", r.file);
    }
}
