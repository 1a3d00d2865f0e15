//! A baseline file on disk: one writer at a time, atomic writes, no temp
//! files left behind.
//!
//! - [`WriterLock`]: an advisory lock (`flock`) on `NAME.lock` beside the
//!   baseline, taken before the baseline is read and held until the writer
//!   exits. The kernel releases it when the process dies, however it dies,
//!   so a crash never leaves a stale lock; the file says who holds it (PID,
//!   host, since when, which command), for the message a second writer gets.
//! - [`write_file_atomic`]: a temp file `.NAME.tmp-PID` in the same
//!   directory, fsync, rename over the file, fsync of the directory. The
//!   temp file is removed on every failure, and [`abandon`] removes the one
//!   being written (and the lock file) when the process must exit at once.
//! - [`remove_stale_temp_files`]: temp files of earlier writers of the same
//!   baseline (killed mid-write), removed by the next writer once it holds
//!   the lock.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

/// The lock file of a baseline: `NAME.lock` beside it.
pub fn lock_path(baseline: &Path) -> PathBuf {
    let mut name = baseline
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".lock");
    baseline.with_file_name(name)
}

/// Why a baseline's writer lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("{file} is being written by another flowpolicy ({holder}; it holds the lock {lock})")]
    Held {
        file: String,
        lock: String,
        holder: String,
    },
    /// The lock file could not be created or locked.
    #[error("cannot lock {file} for writing: {lock}: {source}")]
    Io {
        file: String,
        lock: String,
        source: std::io::Error,
    },
}

/// The exclusive right to write one baseline, held until dropped (then the
/// lock file is removed) or until the process dies (then the kernel drops
/// the lock and the next writer takes over the file).
#[derive(Debug)]
pub struct WriterLock {
    lock: PathBuf,
    file: fs::File,
}

impl WriterLock {
    /// Takes the lock of `baseline` for `command` (shown to a second
    /// writer), without waiting: a held lock is an error naming its holder.
    pub fn acquire(baseline: &Path, command: &str) -> Result<WriterLock, LockError> {
        let lock = lock_path(baseline);
        let io = |source| LockError::Io {
            file: baseline.display().to_string(),
            lock: lock.display().to_string(),
            source,
        };
        // As for the baseline itself, a missing directory is created.
        let _ = fs::create_dir_all(parent_dir(baseline));
        // A holder that just finished removes the file after we opened it:
        // then the lock we got is on a file nobody else will open. Try again
        // on the new file (a few times; each round means another writer
        // came and went).
        for _ in 0..16 {
            let mut file = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock)
                .map_err(io)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    return Err(LockError::Held {
                        file: baseline.display().to_string(),
                        lock: lock.display().to_string(),
                        holder: describe_holder(&text),
                    });
                }
                Err(fs::TryLockError::Error(e)) => return Err(io(e)),
            }
            if !same_file(&file, &lock) {
                continue;
            }
            let line = format!(
                "pid={} host={} since={} command={command}\n",
                std::process::id(),
                host_name(),
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            );
            file.set_len(0).map_err(io)?;
            file.write_all(line.as_bytes()).map_err(io)?;
            file.flush().map_err(io)?;
            held().push(lock.clone());
            return Ok(WriterLock { lock, file });
        }
        Err(io(std::io::Error::other(
            "the lock file kept being replaced while taking it",
        )))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.lock
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // Removed while still locked: a writer that opened this file in the
        // meantime sees it replaced and retries on the new one (`acquire`).
        held().retain(|p| p != &self.lock);
        let _ = fs::remove_file(&self.lock);
        let _ = self.file.unlock();
    }
}

/// Lock files held now, removed by [`abandon`].
static HELD: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// For an exit that skips destructors (`std::process::exit`, such as a
/// second Ctrl-C): removes the temp files being written and the lock files
/// held. The locks themselves go with the process.
pub fn abandon() {
    for tmp in pending().drain(..) {
        let _ = fs::remove_file(tmp);
    }
    for lock in held().drain(..) {
        let _ = fs::remove_file(lock);
    }
}

/// Whether the open file is still the one at `path`.
fn same_file(file: &fs::File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

/// "PID 123 on host, since …, flowpolicy observe" from the lock file.
fn describe_holder(text: &str) -> String {
    let field = |key: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .filter(|v| !v.is_empty())
    };
    match field("pid") {
        Some(pid) => format!(
            "PID {pid} on {}, since {}, flowpolicy {}",
            field("host").unwrap_or("an unknown host"),
            field("since").unwrap_or("an unknown time"),
            field("command").unwrap_or("(unknown command)"),
        ),
        None => "a process that has not written its name into the lock file yet".into(),
    }
}

/// This machine's name, for the lock file.
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| fs::read_to_string(p).ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && !h.contains(char::is_whitespace))
        .unwrap_or_else(|| "unknown-host".into())
}

/// Temp files being written now, removed by [`remove_pending_temp_files`].
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn pending() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// A temp file that is removed unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    kept: bool,
}

impl TempFile {
    fn new(path: PathBuf) -> TempFile {
        pending().push(path.clone());
        TempFile { path, kept: false }
    }

    fn renamed(mut self) {
        self.kept = true;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = fs::remove_file(&self.path);
        }
        pending().retain(|p| p != &self.path);
    }
}

/// The temp file name prefix for `path`: `.NAME.tmp-`.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.tmp-")
}

fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Writes one file atomically: temp file `.NAME.tmp-PID` in the same
/// directory, fsync, rename, fsync of the directory. On any failure the temp
/// file is removed and `path` is unchanged; the error names the file that
/// failed.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!("{}{}", temp_prefix(path), std::process::id()));
    let guard = TempFile::new(tmp.clone());
    let writing = || format!("writing {} (the new {})", tmp.display(), path.display());
    {
        let mut f = fs::File::create(&tmp).with_context(writing)?;
        f.write_all(bytes).with_context(writing)?;
        f.sync_all().with_context(writing)?;
    }
    fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    guard.renamed();
    if let Ok(d) = fs::File::open(dir) {
        d.sync_all().ok();
    }
    Ok(())
}

/// Removes the temp files earlier writers of `path` left behind (killed
/// mid-write: `.NAME.tmp-PID`, any PID). Only for the holder of the
/// baseline's [`WriterLock`]: no other writer of it can be running. Returns
/// the files removed.
pub fn remove_stale_temp_files(path: &Path) -> Vec<PathBuf> {
    let prefix = temp_prefix(path);
    let Ok(entries) = fs::read_dir(parent_dir(path)) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if e.file_type().is_ok_and(|t| t.is_file()) && fs::remove_file(e.path()).is_ok() {
            removed.push(e.path());
        }
    }
    removed.sort();
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holder_and_the_lock_file_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().join("main.baseline");
        let first = WriterLock::acquire(&b, "observe").unwrap();
        assert_eq!(first.path(), dir.path().join("main.baseline.lock"));
        let err = WriterLock::acquire(&b, "merge").unwrap_err().to_string();
        assert!(
            err.contains(&format!("PID {} on ", std::process::id()))
                && err.contains("flowpolicy observe")
                && err.contains("since "),
            "{err}"
        );
        drop(first);
        assert!(!dir.path().join("main.baseline.lock").exists());
        let again = WriterLock::acquire(&b, "merge").unwrap();
        drop(again);
    }

    #[test]
    fn a_lock_file_left_by_a_dead_writer_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().join("main.baseline");
        fs::write(
            lock_path(&b),
            "pid=999999 host=gone since=2020-01-01T00:00:00Z command=observe\n",
        )
        .unwrap();
        let lock = WriterLock::acquire(&b, "observe").unwrap();
        let text = fs::read_to_string(lock.path()).unwrap();
        assert!(
            text.starts_with(&format!("pid={} ", std::process::id())),
            "{text}"
        );
    }

    #[test]
    fn failed_writes_leave_no_temp_file_and_stale_ones_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming over a non-empty directory fails after the temp file is written.
        let target = dir.path().join("taken");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("x"), "x").unwrap();
        let err = write_file_atomic(&target, b"data").unwrap_err();
        assert!(format!("{err:#}").contains("renaming"), "{err:#}");
        let names = |d: &Path| -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(dir.path()), ["taken"]);
        assert!(pending().is_empty());

        let b = dir.path().join("main.baseline");
        for stale in [".main.baseline.tmp-1", ".main.baseline.tmp-424242"] {
            fs::write(dir.path().join(stale), "half").unwrap();
        }
        // Not ours: other baselines' temp files and look-alikes stay.
        fs::write(dir.path().join(".other.baseline.tmp-1"), "x").unwrap();
        fs::write(dir.path().join(".main.baseline.tmp-x"), "x").unwrap();
        let removed = remove_stale_temp_files(&b);
        assert_eq!(removed.len(), 2, "{removed:?}");
        write_file_atomic(&b, b"new").unwrap();
        assert_eq!(
            names(dir.path()),
            [
                ".main.baseline.tmp-x",
                ".other.baseline.tmp-1",
                "main.baseline",
                "taken"
            ]
        );
    }
}
