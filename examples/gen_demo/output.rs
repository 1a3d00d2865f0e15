//! Output: the simulated events in time order as `hubble observe -o jsonpb` lines, their
//! counts, and the zstd compression of the dump.

use std::io::Write;

use anyhow::Result;
use flowpolicy::proto::observer::get_flows_response::ResponseTypes;

use super::sim::Sim;

/// zstd level: slow but small; the generator runs rarely.
const ZSTD_LEVEL: i32 = 19;

/// Line counts of a generated dump.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DumpStats {
    pub lines: usize,
    pub flows: usize,
    pub node_status: usize,
    pub lost_events: usize,
}

impl<'c> Sim<'c> {
    /// All events sorted by time (generation order breaks ties), one jsonpb line each.
    pub(crate) fn render(mut self) -> Result<(Vec<u8>, DumpStats)> {
        self.events.sort_by_key(|(t, seq, _)| (*t, *seq));
        let mut out = Vec::with_capacity(self.events.len() * 1200);
        let mut stats = DumpStats::default();
        for (_, _, resp) in &self.events {
            let line = serde_json::to_string(resp)?;
            // Hubble prints UTC timestamps with a `Z` suffix; pbjson writes `+00:00`.
            out.write_all(line.replace("+00:00\"", "Z\"").as_bytes())?;
            out.write_all(b"\n")?;
            stats.lines += 1;
            match resp.response_types {
                Some(ResponseTypes::Flow(_)) => stats.flows += 1,
                Some(ResponseTypes::NodeStatus(_)) => stats.node_status += 1,
                Some(ResponseTypes::LostEvents(_)) => stats.lost_events += 1,
                None => {}
            }
        }
        Ok((out, stats))
    }
}

/// zstd-compress the rendered lines.
pub(crate) fn compress(jsonl: &[u8]) -> Result<Vec<u8>> {
    Ok(zstd::stream::encode_all(jsonl, ZSTD_LEVEL)?)
}
