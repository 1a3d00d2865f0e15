//! Every real Hubble dump in ../shared/data/flows decodes with zero malformed
//! lines: field-masked exporter lines, `{"flow":…}`-only lines and all.

use std::path::PathBuf;

use flowpolicy::source::dump::{read_dumps, DumpOptions};

fn shared_flows() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/flows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json" || x == "jsonl"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_real_dump_reads_without_malformed_lines() {
    let files = shared_flows();
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
