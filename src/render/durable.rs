//! Making a whole tree of freshly written files durable at once. One
//! `fsync` per file costs a journal commit each (about 1.4 ms on the
//! project's machine: 0.4 s for 300 policy files one after the other; issued
//! from many threads the file system folds them into fewer commits: 34–36 ms
//! for 302 files from 16 threads). On Linux the files are written first and
//! then made durable together with one `syncfs(2)` on their file system (one
//! commit, 9–11 ms for the same files).
//!
//! `syncfs` also waits for every other process's unwritten data on that file
//! system: with 1.5 GB of someone else's writes pending, it took 2.2 s where
//! one `fsync` per file took 0.06 s. So it is used only when the page cache
//! holds little besides these files (`Dirty` and `Writeback` in
//! `/proc/meminfo`, for the whole machine, at most [`FOREIGN_PENDING_LIMIT`]
//! beyond the bytes just written); otherwise, elsewhere than on Linux, or if
//! `syncfs` fails, each file and then each of their directories is synced,
//! from several threads. The files are created from one thread: creating
//! files in a few directories from several threads only contends on the
//! directories' locks (302 policy files: 2.3 ms from one thread, 12–17 ms
//! from two or four on the project's machine). Nothing here is `unsafe`
//! (`rustix` wraps the call).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::parallel;

/// Threads issuing `fsync` at once when each file is synced: enough for the
/// file system to batch the commits.
const SYNC_THREADS: usize = 16;

/// Unwritten data of others (bytes) above which one `fsync` per file is
/// cheaper than waiting for `syncfs`: the files' own fsyncs cost ~25 ms more
/// than one `syncfs` of them alone, which is the time to write ~8 MB at the
/// ~300 MB/s of the project's disk; twice that leaves room for faster disks.
pub const FOREIGN_PENDING_LIMIT: u64 = 16 << 20;

/// The error of a failed write, naming its file.
pub fn failed((path, e): (PathBuf, io::Error)) -> anyhow::Error {
    anyhow::Error::new(e).context(format!("writing {}", path.display()))
}

/// Creates (or truncates) every file, writes its bytes and makes it durable
/// (their directories exist). The first failure is returned with the path
/// of its file; files already written stay (the caller removes its
/// temporary files or tree).
pub fn write_synced(files: &[(PathBuf, &[u8])]) -> Result<(), (PathBuf, io::Error)> {
    write_unsynced(files)?;
    sync(files).map(|_| ())
}

/// Creates (or truncates) every file and writes its bytes, durable only
/// once [`sync`] is called on them (with whatever else is written meanwhile).
pub fn write_unsynced(files: &[(PathBuf, &[u8])]) -> Result<(), (PathBuf, io::Error)> {
    for (path, bytes) in files {
        let mut f = File::create(path).map_err(|e| (path.clone(), e))?;
        f.write_all(bytes).map_err(|e| (path.clone(), e))?;
    }
    Ok(())
}

/// How files were made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synced {
    /// One `syncfs` of their file system.
    FileSystem,
    /// Each file, then each directory.
    Each,
}

/// Makes files already written durable: their file system at once when
/// little else waits to be written, or each file and directory.
pub fn sync(files: &[(PathBuf, &[u8])]) -> Result<Synced, (PathBuf, io::Error)> {
    sync_with_pending(files, pending_now())
}

/// [`sync`], given the unwritten data the machine holds (if known).
fn sync_with_pending(
    files: &[(PathBuf, &[u8])],
    pending: Option<u64>,
) -> Result<Synced, (PathBuf, io::Error)> {
    let ours = files.iter().map(|(_, bytes)| bytes.len() as u64).sum();
    if little_else(pending, ours) && sync_file_system(files) {
        crate::timings::mark("synced (the file system)");
        Ok(Synced::FileSystem)
    } else {
        sync_each(files)?;
        crate::timings::mark("synced (each file and directory)");
        Ok(Synced::Each)
    }
}

/// Syncs every file (written, closed) on its own, from several threads,
/// then their directories (so that their entries are durable too).
fn sync_each(files: &[(PathBuf, &[u8])]) -> Result<(), (PathBuf, io::Error)> {
    parallel::map_on(SYNC_THREADS, files, |(path, _)| {
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.sync_all())
            .map_err(|e| (path.clone(), e))
    })
    .into_iter()
    .collect::<Result<(), _>>()?;
    let mut dirs: Vec<&Path> = files.iter().filter_map(|(p, _)| p.parent()).collect();
    dirs.sort_unstable();
    dirs.dedup();
    parallel::map_on(SYNC_THREADS, &dirs, |dir| {
        sync_dir(dir).map_err(|e| (dir.to_path_buf(), e))
    })
    .into_iter()
    .collect()
}

/// Syncs a directory's entries (where a directory can be opened as a file).
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_: &Path) -> io::Result<()> {
    Ok(())
}

/// The unwritten data in the page cache (`Dirty` and `Writeback` of
/// `/proc/meminfo`, for the whole machine), if known.
#[cfg(target_os = "linux")]
fn pending_now() -> Option<u64> {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| pending_bytes(&text))
}

#[cfg(not(target_os = "linux"))]
fn pending_now() -> Option<u64> {
    None
}

/// Whether `pending` bytes of unwritten data (if known; unknown counts as
/// little) are at most [`FOREIGN_PENDING_LIMIT`] beyond `ours` (what was
/// just written), so that a `syncfs` waits for little but them.
fn little_else(pending: Option<u64>, ours: u64) -> bool {
    pending.is_none_or(|p| p.saturating_sub(ours) <= FOREIGN_PENDING_LIMIT)
}

/// `Dirty` plus `Writeback` of a `/proc/meminfo` text, in bytes.
#[cfg(any(target_os = "linux", test))]
fn pending_bytes(meminfo: &str) -> Option<u64> {
    let kib = |name: &str| {
        meminfo.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
        })
    };
    Some((kib("Dirty")? + kib("Writeback")?) * 1024)
}

/// One `syncfs` on the file system of the first file (all of a tree are on
/// one); false when that is not possible here, so each file is synced.
#[cfg(target_os = "linux")]
fn sync_file_system(files: &[(PathBuf, &[u8])]) -> bool {
    files
        .first()
        .is_some_and(|(path, _)| File::open(path).is_ok_and(|f| rustix::fs::syncfs(&f).is_ok()))
}

#[cfg(not(target_os = "linux"))]
fn sync_file_system(_: &[(PathBuf, &[u8])]) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_file_and_names_the_one_that_failed() {
        let dir = tempfile::tempdir().unwrap();
        let texts: Vec<String> = (0..600).map(|i| format!("n: {i}\n")).collect();
        let files: Vec<(PathBuf, &[u8])> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| (dir.path().join(format!("{i}.yaml")), t.as_bytes()))
            .collect();
        write_synced(&files).unwrap();
        for (i, (p, _)) in files.iter().enumerate() {
            assert_eq!(std::fs::read_to_string(p).unwrap(), format!("n: {i}\n"));
        }
        let mut bad = files.clone();
        let missing = dir.path().join("no-such-dir/x.yaml");
        bad.insert(150, (missing.clone(), b"x"));
        let (path, _) = write_synced(&bad).unwrap_err();
        assert_eq!(path, missing);
    }

    #[test]
    fn pending_data_is_read_from_meminfo() {
        let text = "MemTotal:       24000000 kB\nDirty:              1536 kB\nWriteback:           512 kB\nWritebackTmp:          7 kB\n";
        assert_eq!(pending_bytes(text), Some(2048 * 1024));
        assert_eq!(pending_bytes("MemTotal: 1 kB\n"), None);
        assert_eq!(pending_bytes("Dirty: lots\nWriteback: 0 kB\n"), None);
        // Our own bytes do not count against the limit; others' do.
        let mib = 1 << 20;
        assert!(little_else(None, 0));
        assert!(little_else(Some(40 * mib), 30 * mib));
        assert!(little_else(Some(FOREIGN_PENDING_LIMIT), 0));
        assert!(!little_else(Some(FOREIGN_PENDING_LIMIT + 1), 0));
        assert!(!little_else(Some(1536 * mib), 2 * mib));
    }

    /// `n` small files written (not synced) in `dir`.
    fn written(dir: &Path, n: usize) -> Vec<(PathBuf, &'static [u8])> {
        let files: Vec<(PathBuf, &[u8])> = (0..n)
            .map(|i| (dir.join(format!("{i}.yaml")), b"n: 1\n" as &[u8]))
            .collect();
        write_unsynced(&files).unwrap();
        files
    }

    /// With much of others' data pending, each file is synced; with
    /// little, the file system at once (on Linux).
    #[test]
    fn others_pending_data_decides_the_way() {
        let dir = tempfile::tempdir().unwrap();
        let files = written(dir.path(), 4);
        let busy = Some(FOREIGN_PENDING_LIMIT + 1024);
        assert_eq!(sync_with_pending(&files, busy).unwrap(), Synced::Each);
        let quiet = if cfg!(target_os = "linux") {
            Synced::FileSystem
        } else {
            Synced::Each
        };
        assert_eq!(sync_with_pending(&files, Some(0)).unwrap(), quiet);
    }

    /// Where `syncfs` is not available, or would wait for others' data,
    /// each file is synced, then each directory; a file that is not there
    /// is named.
    #[test]
    fn syncing_each_file_names_the_one_that_failed() {
        let dir = tempfile::tempdir().unwrap();
        let files = written(dir.path(), 40);
        sync_each(&files).unwrap();
        let mut bad = files.clone();
        let missing = dir.path().join("gone.yaml");
        bad.insert(20, (missing.clone(), b"x"));
        assert_eq!(sync_each(&bad).unwrap_err().0, missing);
    }
}
