//! `observe --record FILE`: the raw responses, one `GetFlowsResponse` per
//! line in the jsonpb mapping (what `hubble observe -o jsonpb` writes),
//! zstd-compressed, appended. Every checkpoint ends a zstd frame (with a
//! content checksum), so the file is a valid dump up to the last
//! checkpoint at any moment; the dump reader replays it like any other.
//!
//! A recording that fails (disk full, permissions) never takes the baseline
//! with it: the caller warns and stops recording, and the file is cut back
//! to the end of its last complete frame.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::proto::observer::GetFlowsResponse;

type Encoder = zstd::stream::write::Encoder<'static, File>;

/// An open recording.
pub struct Recorder {
    path: PathBuf,
    /// The frame being written, if any.
    encoder: Option<Encoder>,
    /// The file between frames.
    idle: Option<File>,
    /// Another handle on the file, to cut it back after a failure.
    handle: File,
    /// Where the last complete frame ends (the file is valid up to here).
    complete_len: u64,
    /// Responses written.
    pub lines: u64,
    /// Responses in complete frames.
    pub complete_lines: u64,
}

impl Recorder {
    /// Opens (appends to) the file.
    pub fn open(path: &Path) -> Result<Recorder> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let complete_len = file.seek(SeekFrom::End(0)).unwrap_or(0);
        let handle = file
            .try_clone()
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Recorder {
            path: path.to_path_buf(),
            encoder: None,
            idle: Some(file),
            handle,
            complete_len,
            lines: 0,
            complete_lines: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one response as a line.
    pub fn write(&mut self, resp: &GetFlowsResponse) -> Result<()> {
        let mut line = serde_json::to_vec(resp)?;
        line.push(b'\n');
        if self.encoder.is_none() {
            let file = self.idle.take().expect("a recorder holds its file");
            let mut enc = Encoder::new(file, 3)
                .with_context(|| format!("cannot start zstd for {}", self.path.display()))?;
            enc.include_checksum(true)
                .with_context(|| format!("cannot start zstd for {}", self.path.display()))?;
            self.encoder = Some(enc);
        }
        let enc = self.encoder.as_mut().expect("just set");
        enc.write_all(&line)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.lines += 1;
        Ok(())
    }

    /// Ends the frame being written, so everything recorded so far is in
    /// the file, complete (a reader decodes it even if the process dies
    /// before [`Recorder::finish`]).
    pub fn end_frame(&mut self) -> Result<()> {
        let Some(enc) = self.encoder.take() else {
            return Ok(());
        };
        let mut file = enc
            .finish()
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        file.flush()
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.complete_len = file.seek(SeekFrom::End(0)).unwrap_or(self.complete_len);
        self.complete_lines = self.lines;
        self.idle = Some(file);
        Ok(())
    }

    /// Ends the last frame and closes the file. On failure the file is cut
    /// back to its last complete frame ([`Recorder::complete_lines`]).
    pub fn finish(mut self) -> Result<()> {
        if let Err(e) = self.end_frame() {
            self.abandon();
            return Err(e);
        }
        if let Some(f) = self.idle.take() {
            f.sync_all()
                .with_context(|| format!("cannot write {}", self.path.display()))?;
        }
        Ok(())
    }

    /// After a failure: drops what was not written completely, cutting the
    /// file back to the end of its last complete frame (best effort; a
    /// device such as /dev/full is left alone).
    pub fn abandon(mut self) {
        // The encoder's unwritten output is dropped with it (a zstd writer
        // writes nothing when dropped).
        drop(self.encoder.take());
        let file = &self.handle;
        if file
            .metadata()
            .is_ok_and(|m| m.is_file() && m.len() > self.complete_len)
        {
            let _ = file.set_len(self.complete_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::observer::get_flows_response::ResponseTypes;

    fn response(i: u32) -> GetFlowsResponse {
        GetFlowsResponse {
            node_name: format!("node-{i}"),
            response_types: Some(ResponseTypes::Flow(Default::default())),
            ..GetFlowsResponse::default()
        }
    }

    #[test]
    fn every_checkpoint_ends_a_frame_and_an_abandoned_recording_keeps_the_complete_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.jsonpb.zst");
        let mut rec = Recorder::open(&path).unwrap();
        for i in 0..3 {
            rec.write(&response(i)).unwrap();
        }
        rec.end_frame().unwrap();
        let after_frame = std::fs::metadata(&path).unwrap().len();
        // Enough incompressible lines that the encoder writes some out.
        for i in 0..20_000 {
            let mut r = response(i);
            r.node_name = format!(
                "{:x}",
                (u64::from(i) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            );
            rec.write(&r).unwrap();
        }
        assert_eq!((rec.lines, rec.complete_lines), (20_003, 3));
        assert!(std::fs::metadata(&path).unwrap().len() > after_frame);
        // A failure now (as on a full disk): the file is cut back to its
        // last complete frame, which decodes.
        rec.abandon();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, after_frame);
        let text = String::from_utf8(zstd::stream::decode_all(bytes.as_slice()).unwrap()).unwrap();
        assert_eq!(text.lines().count(), 3);

        // Appending again adds frames after it.
        let mut rec = Recorder::open(&path).unwrap();
        rec.write(&response(9)).unwrap();
        rec.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8(zstd::stream::decode_all(bytes.as_slice()).unwrap()).unwrap();
        assert_eq!(text.lines().count(), 4);
    }
}
