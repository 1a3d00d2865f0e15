//! Making a whole tree of freshly written files durable at once. One
//! `fsync` per file, one after the other, costs a journal commit each (about
//! 1.4 ms on the project's machine: 0.4 s for 300 policy files); issued from
//! several threads at once the file system folds them into a few commits
//! (0.09 s for the same 300). Nothing here is `unsafe` or platform-specific.

use std::fs::File;
use std::io;
use std::path::PathBuf;

/// Threads issuing `fsync` at once: enough for the file system to batch
/// the commits, few enough to cost nothing when there are only a few files.
const SYNC_THREADS: usize = 16;

/// Files held open at once before they are synced and closed: well under
/// the usual limit of 1024 open files.
const BATCH: usize = 256;

/// Collects written files and makes them durable in parallel batches.
#[derive(Default)]
pub struct Syncer {
    open: Vec<(PathBuf, File)>,
}

impl Syncer {
    /// Takes a file whose writing is done; syncs a full batch.
    pub fn add(&mut self, path: PathBuf, file: File) -> Result<(), (PathBuf, io::Error)> {
        self.open.push((path, file));
        if self.open.len() >= BATCH {
            self.finish()?;
        }
        Ok(())
    }

    /// Syncs (and closes) every file not yet synced.
    pub fn finish(&mut self) -> Result<(), (PathBuf, io::Error)> {
        let r = sync_all(&self.open);
        self.open.clear();
        r
    }
}

/// The error of a failed sync, naming its file.
pub fn failed((path, e): (PathBuf, io::Error)) -> anyhow::Error {
    anyhow::Error::new(e).context(format!("writing {}", path.display()))
}

/// `sync_all` on every file, from up to [`SYNC_THREADS`] threads; the first
/// failure is returned with the path of its file.
pub fn sync_all(files: &[(PathBuf, File)]) -> Result<(), (PathBuf, io::Error)> {
    if files.len() <= 1 {
        for (path, f) in files {
            f.sync_all().map_err(|e| (path.clone(), e))?;
        }
        return Ok(());
    }
    let threads = files.len().min(SYNC_THREADS);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    files
                        .iter()
                        .skip(t)
                        .step_by(threads)
                        .try_for_each(|(path, f)| f.sync_all().map_err(|e| (path.clone(), e)))
                })
            })
            .collect();
        // The scope joins the others when one has failed.
        handles
            .into_iter()
            .try_for_each(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn syncs_every_file_and_keeps_their_contents() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<(PathBuf, File)> = (0..300)
            .map(|i| {
                let p = dir.path().join(format!("{i}.yaml"));
                let mut f = File::create(&p).unwrap();
                writeln!(f, "n: {i}").unwrap();
                (p, f)
            })
            .collect();
        let paths: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
        let mut syncer = Syncer::default();
        for (p, f) in files {
            syncer.add(p, f).unwrap();
        }
        syncer.finish().unwrap();
        for (i, p) in paths.iter().enumerate() {
            assert_eq!(std::fs::read_to_string(p).unwrap(), format!("n: {i}\n"));
        }
    }
}
