//! Opening a dump: a file or stdin, its compression (gzip, zstd or none)
//! sniffed from the first bytes, and an optional byte counter for progress.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::error::DumpError;

/// An opened, decompressed input. `Send`, so that it can be read on a thread
/// of its own while the lines are decoded.
pub type Input = Box<dyn BufRead + Send>;

/// Compression of an input, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Detects gzip (1f 8b) and zstd (28 b5 2f fd) frames; anything else is plain.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// The display name of an input path (`-` is stdin).
pub fn display_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}

/// Opens an input (file or `-`), sniffing and undoing its compression.
pub fn open_input(path: &Path) -> Result<Input, DumpError> {
    open_input_counted(path, None)
}

/// How many bytes an input holds once decompressed, when the file says so
/// without being read: a plain file's length, or the content size a zstd
/// frame's header gives (flowpolicy writes it into its baselines). `None`
/// for stdin, gzip, a zstd frame without it, or anything but a regular
/// file (a pipe, `<(…)`: reading its first bytes here would take them from
/// the reader). A hint for sizing a buffer, not a promise: the file can
/// change or lie.
pub fn decompressed_size(path: &Path) -> Option<u64> {
    if path.as_os_str() == "-" || !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let mut file = File::open(path).ok()?;
    // A zstd frame header is at most 18 bytes.
    let mut head = Vec::with_capacity(18);
    file.by_ref().take(18).read_to_end(&mut head).ok()?;
    match Compression::sniff(&head) {
        Compression::None => file.metadata().ok().map(|m| m.len()),
        Compression::Zstd => zstd::zstd_safe::get_frame_content_size(&head).ok()?,
        Compression::Gzip => None,
    }
}

/// Counts the bytes read through it into a shared counter: one atomic add
/// per read call (the buffered reader above asks for 256 KiB at a time), so
/// progress costs nothing per line.
struct CountingReader<R> {
    inner: R,
    consumed: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Like [`open_input`], and adds the raw (still compressed) bytes read from
/// the file or stdin to `consumed`, for a progress bar over the file sizes.
pub fn open_input_counted(
    path: &Path,
    consumed: Option<Arc<AtomicU64>>,
) -> Result<Input, DumpError> {
    let mut raw: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path).map_err(|cause| DumpError::Open {
            file: display_name(path),
            cause,
        })?)
    };
    if let Some(consumed) = consumed {
        raw = Box::new(CountingReader {
            inner: raw,
            consumed,
        });
    }
    open_reader(&display_name(path), raw)
}

/// Sniffs and undoes the compression of an already opened input; `name`
/// is used in errors.
pub fn open_reader(name: &str, raw: Box<dyn Read + Send>) -> Result<Input, DumpError> {
    let mut buffered = BufReader::with_capacity(256 * 1024, raw);
    let head = buffered.fill_buf().map_err(|cause| DumpError::Open {
        file: name.to_string(),
        cause,
    })?;
    let reader: Input = match Compression::sniff(head) {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::bufread::MultiGzDecoder::new(buffered),
        )),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(buffered).map_err(|cause| {
                DumpError::Open {
                    file: name.to_string(),
                    cause,
                }
            })?;
            Box::new(BufReader::with_capacity(256 * 1024, decoder))
        }
    };
    Ok(reader)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The size is a plain file's length or what a zstd frame's header
    /// says; nothing for gzip, stdin, a frame that does not say, or a file
    /// that is not there.
    #[test]
    fn the_decompressed_size_is_known_only_where_the_file_says_it() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"{\"format\": \"flowpolicy-baseline\"}\n".repeat(100);
        let file = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let n = Some(text.len() as u64);
        assert_eq!(decompressed_size(&file("plain", &text)), n);
        let mut sized = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        sized.set_pledged_src_size(n).unwrap();
        sized.write_all(&text).unwrap();
        assert_eq!(
            decompressed_size(&file("sized.zst", &sized.finish().unwrap())),
            n
        );
        let mut unsized_ = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        unsized_.write_all(&text).unwrap();
        assert_eq!(
            decompressed_size(&file("unsized.zst", &unsized_.finish().unwrap())),
            None
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).unwrap();
        assert_eq!(decompressed_size(&file("gz", &gz.finish().unwrap())), None);
        assert_eq!(decompressed_size(Path::new("-")), None);
        assert_eq!(decompressed_size(&dir.path().join("missing")), None);
        // A header cut short says nothing.
        assert_eq!(
            decompressed_size(&file("cut.zst", &[0x28, 0xb5, 0x2f, 0xfd])),
            None
        );
        // Nor does a directory, or a pipe (its bytes are the reader's).
        assert_eq!(decompressed_size(dir.path()), None);
        #[cfg(unix)]
        {
            let fifo = dir.path().join("fifo");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            assert!(made.is_ok_and(|s| s.success()));
            assert_eq!(decompressed_size(&fifo), None);
        }
    }
}
