//! Decoding the lines of one input on several threads while the caller still
//! sees them one at a time, in their original order.
//!
//! ```text
//!                     ┌─▶ worker 0 ─┐
//!  reader ─ batch k ──┼─▶ worker 1 ─┼─ decoded batch k ─▶ caller: consume(line)…
//!                     └─▶ worker … ─┘
//! ```
//!
//! One reader thread cuts the (already decompressed) input into batches of
//! whole lines and deals batch `k` to worker `k % N`; each worker decodes its
//! batches in the order it got them; the caller's thread takes decoded batch
//! `k` back from worker `k % N`. Dealing and collecting round-robin keeps the
//! original order with no reorder buffer, and `consume` runs only on the
//! caller's thread, so whatever it does (interpretation, the graph) stays
//! single-threaded and deterministic.
//!
//! Memory is bounded: each worker's in and out channel holds one batch, so a
//! few small batches per worker are alive however long the input is. Spent
//! buffers travel back to the thread that allocated them (raw batches to the
//! reader, decoded ones to their worker) to be reused and freed there: glibc
//! frees across threads slowly, and freeing every decoded flow on the caller's
//! thread cost more than the decoding saved.
//!
//! Endings travel in order with the lines: a read error ends the input after
//! the lines read before it ([`Item::ReadError`]), and a panic in the reader
//! or a worker is re-raised on the caller's thread at the batch where it
//! happened. When `consume` breaks (strict mode's first bad line) the caller
//! returns at once; the threads are detached, not scoped, so that a reader
//! blocked on a pipe (stdin) cannot hold it up, and each stops at its next
//! send to a dropped receiver.
//!
//! Sizes (measured with `cargo bench --bench replay` on 2 cores): batches of
//! 128 lines beat 512–2048 (a decoded batch still fits in cache when the
//! caller reads it), and since the fast decoding path (issue #10) as many
//! decoders as cores beat one more (693–727 vs 604–686 MB/s, and 4 MiB less
//! peak RSS): fewer threads contend for the cores with the reader and the
//! caller.

use std::any::Any;
use std::io::{self, BufRead, Read};
use std::ops::ControlFlow;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::thread;

/// More decoders than this gain nothing: the caller's single-threaded
/// interpretation is the limit by then.
const MAX_WORKERS: usize = 4;

/// How the input is cut and decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Decoder threads; 0 decodes on the caller's thread, with no threads at all.
    pub workers: usize,
    /// A batch is sent when it has this many lines…
    pub batch_lines: usize,
    /// …or this many bytes (a longer line still travels whole).
    pub batch_bytes: usize,
}

impl Shape {
    /// As many decoders as cores (at most [`MAX_WORKERS`]); none
    /// on a single core, where threads would only add switching.
    pub fn for_this_machine() -> Shape {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        Shape {
            workers: if cores < 2 { 0 } else { cores.min(MAX_WORKERS) },
            batch_lines: 128,
            batch_bytes: 256 * 1024,
        }
    }
}

/// What `consume` is given, in input order.
#[derive(Debug)]
pub enum Item<T> {
    /// One line (with its newline, if it had one), decoded.
    Line(T),
    /// Reading stopped here; no item follows.
    ReadError(io::Error),
}

/// Reads `reader` to its end (or its first read error), decodes every line
/// with `decode` and hands the results to `consume` in order, until `consume`
/// breaks. Each result is then given back to `recycle` on the thread that
/// decoded it (to free it there, or to reuse its parts).
pub fn for_each_line<R, T, D, C, E>(
    reader: R,
    shape: Shape,
    decode: D,
    recycle: C,
    consume: impl FnMut(Item<&T>) -> ControlFlow<E>,
) -> ControlFlow<E>
where
    R: BufRead + Send + 'static,
    T: Send + 'static,
    D: Fn(&[u8]) -> T + Clone + Send + 'static,
    C: Fn(T) + Clone + Send + 'static,
{
    if shape.workers == 0 {
        on_this_thread(reader, decode, recycle, consume)
    } else {
        pipelined(reader, shape, decode, recycle, consume)
    }
}

fn on_this_thread<T, E>(
    mut reader: impl BufRead,
    decode: impl Fn(&[u8]) -> T,
    recycle: impl Fn(T),
    mut consume: impl FnMut(Item<&T>) -> ControlFlow<E>,
) -> ControlFlow<E> {
    let mut line = Vec::with_capacity(16 * 1024);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return ControlFlow::Continue(()),
            Ok(_) => {
                let decoded = decode(&line);
                consume(Item::Line(&decoded))?;
                recycle(decoded);
            }
            Err(e) => return consume(Item::ReadError(e)),
        }
    }
}

/// Why the lines of a batch are the last ones.
enum End {
    Read(io::Error),
    Panic(Box<dyn Any + Send>),
}

/// Raw lines: `data` cut at `ends` (the bytes after the last end are not
/// part of the batch).
#[derive(Default)]
struct Batch {
    /// A buffer zeroed once, when it grows, and reused batch after batch.
    data: Vec<u8>,
    ends: Vec<usize>,
    end: Option<End>,
}

/// Bytes asked of the reader at once: at least the input's `BufReader`
/// capacity (src/source/dump/open.rs), so that reads bypass its buffer and land
/// here directly (one copy of every byte fewer; for compressed input the
/// decompressor writes here).
const MIN_READ: usize = 256 * 1024;

impl Batch {
    /// Starts with `tail` (the partial line the previous batch ended with),
    /// then reads blocks until the batch holds `batch_lines` lines or
    /// `batch_bytes` bytes of whole lines; the partial line it ends with goes
    /// back to `tail`. True when the input is over (its end, or a read
    /// error: a partial line before the error is dropped, as it is when
    /// reading on one thread).
    fn fill(&mut self, reader: &mut impl Read, tail: &mut Vec<u8>, shape: Shape) -> bool {
        self.ends.clear();
        let room = tail.len() + MIN_READ;
        if self.data.len() < room {
            self.data.resize(room, 0);
        }
        self.data[..tail.len()].copy_from_slice(tail);
        let mut filled = tail.len();
        tail.clear();
        let mut scanned = 0;
        loop {
            let found = memchr::memchr_iter(b'\n', &self.data[scanned..filled]);
            self.ends.extend(found.map(|i| scanned + i + 1));
            scanned = filled;
            let whole = self.ends.last().copied().unwrap_or(0);
            if !self.ends.is_empty()
                && (self.ends.len() >= shape.batch_lines || whole >= shape.batch_bytes)
            {
                tail.extend_from_slice(&self.data[whole..filled]);
                return false;
            }
            if self.data.len() - filled < MIN_READ {
                // Only a line longer than a read grows the buffer.
                self.data.resize(filled + MIN_READ, 0);
            }
            match reader.read(&mut self.data[filled..]) {
                Ok(0) => {
                    if whole < filled {
                        self.ends.push(filled); // a last line without newline
                    }
                    return true;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.end = Some(End::Read(e));
                    return true;
                }
            }
        }
    }

    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let line = &self.data[start..end];
            start = end;
            line
        })
    }
}

/// A batch after decoding, one result per line.
struct Decoded<T> {
    lines: Vec<T>,
    end: Option<End>,
}

fn pipelined<R, T, D, C, E>(
    reader: R,
    shape: Shape,
    decode: D,
    recycle: C,
    mut consume: impl FnMut(Item<&T>) -> ControlFlow<E>,
) -> ControlFlow<E>
where
    R: BufRead + Send + 'static,
    T: Send + 'static,
    D: Fn(&[u8]) -> T + Clone + Send + 'static,
    C: Fn(T) + Clone + Send + 'static,
{
    let (free_tx, free_rx) = channel::<Batch>();
    let mut to_workers = Vec::with_capacity(shape.workers);
    let mut results = Vec::with_capacity(shape.workers);
    let mut spent = Vec::with_capacity(shape.workers);
    for i in 0..shape.workers {
        let (batch_tx, batch_rx) = sync_channel(1);
        let (done_tx, done_rx) = sync_channel(1);
        let (spent_tx, spent_rx) = channel();
        let (decode, recycle, free_tx) = (decode.clone(), recycle.clone(), free_tx.clone());
        spawn(format!("decode-{i}"), move || {
            decode_batches(decode, recycle, batch_rx, done_tx, spent_rx, free_tx)
        });
        to_workers.push(batch_tx);
        results.push(done_rx);
        spent.push(spent_tx);
    }
    drop(free_tx);
    spawn("read".to_string(), move || {
        deal(reader, shape, to_workers, free_rx)
    });

    // Batch k comes from worker k % N; a worker hanging up instead means
    // there is no batch k: the input is over.
    for k in 0.. {
        let Ok(decoded) = results[k % shape.workers].recv() else {
            break;
        };
        for line in &decoded.lines {
            consume(Item::Line(line))?;
        }
        match decoded.end {
            None => {}
            Some(End::Read(e)) => consume(Item::ReadError(e))?,
            Some(End::Panic(panic)) => panic::resume_unwind(panic),
        }
        // If the worker is gone, the batch is simply dropped here.
        let _ = spent[k % shape.workers].send(decoded.lines);
    }
    ControlFlow::Continue(())
}

/// The reader thread: batch `k` goes to worker `k % N`.
fn deal(
    mut reader: impl BufRead,
    shape: Shape,
    to_workers: Vec<SyncSender<Batch>>,
    free: Receiver<Batch>,
) {
    let mut tail = Vec::new();
    for k in 0.. {
        let mut batch = free.try_recv().unwrap_or_default();
        let filled = panic::catch_unwind(AssertUnwindSafe(|| {
            batch.fill(&mut reader, &mut tail, shape)
        }));
        let over = match filled {
            Ok(over) => over,
            Err(panic) => {
                batch.end = Some(End::Panic(panic));
                true
            }
        };
        if batch.ends.is_empty() && batch.end.is_none() {
            return; // the input ended right after the previous batch
        }
        if to_workers[k % to_workers.len()].send(batch).is_err() || over {
            return; // the caller stopped early, or that was the last batch
        }
    }
}

/// A decoder thread.
fn decode_batches<T>(
    decode: impl Fn(&[u8]) -> T,
    recycle: impl Fn(T),
    batches: Receiver<Batch>,
    done: SyncSender<Decoded<T>>,
    spent: Receiver<Vec<T>>,
    free: Sender<Batch>,
) {
    let mut spare = Vec::new();
    for mut batch in batches {
        // The caller is done with these: drop their contents here, where
        // they were allocated, and reuse the vector.
        for mut old in spent.try_iter() {
            old.drain(..).for_each(&recycle);
            spare = old;
        }
        let mut lines = std::mem::take(&mut spare);
        let decoded = panic::catch_unwind(AssertUnwindSafe(|| {
            lines.extend(batch.lines().map(&decode));
        }));
        let (end, last) = match decoded {
            Ok(()) => (batch.end.take(), false),
            Err(panic) => (Some(End::Panic(panic)), true),
        };
        let _ = free.send(batch);
        if done.send(Decoded { lines, end }).is_err() || last {
            return;
        }
    }
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) {
    thread::Builder::new()
        .name(name)
        .spawn(f)
        .expect("cannot start a dump-reading thread");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Read};

    /// Numbered lines `0\n1\n…`.
    fn numbered(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| format!("{i}\n"))
            .collect::<String>()
            .into_bytes()
    }

    fn parse(line: &[u8]) -> u64 {
        std::str::from_utf8(line).unwrap().trim().parse().unwrap()
    }

    fn shapes() -> Vec<Shape> {
        let mut all = vec![Shape {
            workers: 0,
            batch_lines: 1,
            batch_bytes: 1,
        }];
        for workers in 1..=4 {
            for batch_lines in [1, 2, 3, 7, 1024] {
                all.push(Shape {
                    workers,
                    batch_lines,
                    batch_bytes: 1 << 20,
                });
            }
            all.push(Shape {
                workers,
                batch_lines: 1024,
                batch_bytes: 10,
            });
        }
        all
    }

    fn collect(input: impl BufRead + Send + 'static, shape: Shape) -> (Vec<u64>, Option<String>) {
        let mut lines = Vec::new();
        let mut error = None;
        let flow = for_each_line(input, shape, parse, drop, |item| {
            match item {
                Item::Line(&n) => lines.push(n),
                Item::ReadError(e) => {
                    assert!(error.is_none(), "nothing follows a read error");
                    error = Some(e.to_string());
                }
            }
            ControlFlow::<()>::Continue(())
        });
        assert_eq!(flow, ControlFlow::Continue(()));
        (lines, error)
    }

    #[test]
    fn lines_arrive_in_order_across_batches_and_workers() {
        for n in [0, 1, 2, 3, 6, 7, 100, 5000] {
            for shape in shapes() {
                let (lines, error) = collect(Cursor::new(numbered(n)), shape);
                assert_eq!(lines, (0..n as u64).collect::<Vec<_>>(), "{n} {shape:?}");
                assert!(error.is_none());
            }
        }
    }

    #[test]
    fn lines_longer_than_a_read_arrive_whole() {
        // Reads are MIN_READ at a time: these lines span several reads.
        let long = |n: usize| format!("{}\n", n.to_string().repeat(MIN_READ / 2 + 7));
        let data: String = [long(1), "2\n".into(), long(3), long(4), "5".into()].concat();
        for shape in shapes() {
            let mut got = Vec::new();
            let flow = for_each_line(
                Cursor::new(data.clone().into_bytes()),
                shape,
                |l: &[u8]| l.to_vec(),
                drop,
                |item| {
                    let Item::Line(l) = item else { panic!() };
                    got.push(l.clone());
                    ControlFlow::<()>::Continue(())
                },
            );
            assert_eq!(flow, ControlFlow::Continue(()));
            let want: Vec<Vec<u8>> = data
                .split_inclusive('\n')
                .map(|l| l.as_bytes().to_vec())
                .collect();
            assert_eq!(got.len(), 5, "{shape:?}");
            assert!(got == want, "{shape:?}");
        }
    }

    #[test]
    fn a_last_line_without_newline_is_a_line() {
        for shape in shapes() {
            let (lines, _) = collect(Cursor::new(b"1\n2\n3".to_vec()), shape);
            assert_eq!(lines, [1, 2, 3], "{shape:?}");
        }
    }

    /// Yields `good` bytes, then fails.
    struct FailsAfter {
        good: Cursor<Vec<u8>>,
    }
    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.good.read(buf)? {
                0 => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "cut")),
                n => Ok(n),
            }
        }
    }

    #[test]
    fn a_read_error_mid_batch_ends_the_input_after_the_lines_before_it() {
        // 10 whole lines and half of the 11th, then an error: batches of 4
        // put the error in the middle of the third batch.
        let mut data = numbered(10);
        data.extend_from_slice(b"1234");
        for shape in shapes() {
            let reader = io::BufReader::with_capacity(
                3,
                FailsAfter {
                    good: Cursor::new(data.clone()),
                },
            );
            let (lines, error) = collect(reader, shape);
            assert_eq!(lines, (0..10).collect::<Vec<_>>(), "{shape:?}");
            assert_eq!(error.as_deref(), Some("cut"), "{shape:?}");
        }
    }

    #[test]
    fn breaking_stops_at_that_line_and_returns() {
        for shape in shapes() {
            let mut seen = Vec::new();
            let flow = for_each_line(Cursor::new(numbered(5000)), shape, parse, drop, |item| {
                let Item::Line(&n) = item else { panic!() };
                if n == 2500 {
                    return ControlFlow::Break(n);
                }
                seen.push(n);
                ControlFlow::Continue(())
            });
            assert_eq!(flow, ControlFlow::Break(2500), "{shape:?}");
            assert_eq!(seen, (0..2500).collect::<Vec<_>>(), "{shape:?}");
        }
    }

    /// Runs `f`, expecting it to panic with `message`.
    fn panics_with(message: &str, f: impl FnOnce()) {
        let payload = panic::catch_unwind(AssertUnwindSafe(f)).expect_err("no panic");
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        assert_eq!(text, message);
    }

    #[test]
    fn a_decoder_panic_reaches_the_caller_after_the_lines_before_it() {
        for shape in shapes() {
            let mut seen = Vec::new();
            let decode = |line: &[u8]| {
                assert!(line != b"7\n", "bad line");
                parse(line)
            };
            panics_with("bad line", || {
                let _ = for_each_line(Cursor::new(numbered(20)), shape, decode, drop, |item| {
                    let Item::Line(&n) = item else { panic!() };
                    seen.push(n);
                    ControlFlow::<()>::Continue(())
                });
            });
            assert_eq!(seen, (0..7).collect::<Vec<_>>(), "{shape:?}");
        }
    }

    /// Yields `good` bytes, then panics.
    struct PanicsAfter(Cursor<Vec<u8>>);
    impl Read for PanicsAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.read(buf)? {
                0 => panic!("reader broke"),
                n => Ok(n),
            }
        }
    }

    #[test]
    fn a_reader_panic_reaches_the_caller_after_the_lines_before_it() {
        for shape in shapes() {
            let mut seen = Vec::new();
            let reader = io::BufReader::with_capacity(4, PanicsAfter(Cursor::new(numbered(9))));
            panics_with("reader broke", || {
                let _ = for_each_line(reader, shape, parse, drop, |item| {
                    let Item::Line(&n) = item else { panic!() };
                    seen.push(n);
                    ControlFlow::<()>::Continue(())
                });
            });
            assert_eq!(seen, (0..9).collect::<Vec<_>>(), "{shape:?}");
        }
    }
}
