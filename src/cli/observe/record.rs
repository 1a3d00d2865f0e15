//! `observe --record FILE`: the raw responses, one `GetFlowsResponse` per
//! line in the jsonpb mapping (what `hubble observe -o jsonpb` writes),
//! zstd-compressed, appended as a new zstd frame on every run. The dump
//! reader replays the file like any other dump.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::proto::observer::GetFlowsResponse;

/// An open recording.
pub struct Recorder {
    path: PathBuf,
    encoder: zstd::stream::write::Encoder<'static, BufWriter<File>>,
    pub lines: u64,
}

impl Recorder {
    /// Opens (appends to) the file.
    pub fn open(path: &Path) -> Result<Recorder> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening --record {}", path.display()))?;
        let encoder = zstd::stream::write::Encoder::new(BufWriter::new(file), 3)
            .with_context(|| format!("starting zstd for {}", path.display()))?;
        Ok(Recorder {
            path: path.to_path_buf(),
            encoder,
            lines: 0,
        })
    }

    /// Appends one response as a line.
    pub fn write(&mut self, resp: &GetFlowsResponse) -> Result<()> {
        let mut line = serde_json::to_vec(resp)?;
        line.push(b'\n');
        self.encoder
            .write_all(&line)
            .with_context(|| format!("writing --record {}", self.path.display()))?;
        self.lines += 1;
        Ok(())
    }

    /// Pushes everything written so far to the file (a reader can decode
    /// it even if the process dies before [`Recorder::finish`]).
    pub fn flush(&mut self) -> Result<()> {
        self.encoder
            .flush()
            .with_context(|| format!("flushing --record {}", self.path.display()))
    }

    /// Ends the zstd frame and closes the file.
    pub fn finish(self) -> Result<()> {
        let path = self.path;
        let mut inner = self
            .encoder
            .finish()
            .with_context(|| format!("finishing --record {}", path.display()))?;
        inner
            .flush()
            .with_context(|| format!("flushing --record {}", path.display()))?;
        Ok(())
    }
}
