//! Per-document work spread over the machine's cores: stamping, rendering
//! and checking hundreds of policies after the read is pure CPU work with
//! no order between documents, so it runs on scoped threads taking one
//! item at a time, and comes back in input order (the output stays
//! byte-identical whatever the thread count).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;

/// Fewer items than this per thread are not worth a thread.
const MIN_PER_THREAD: usize = 16;

/// Threads used at most.
const MAX_THREADS: usize = 8;

/// `items.iter().map(f).collect()`, on up to one thread per core; results in
/// input order. Items are handed out one at a time (documents differ in size
/// by orders of magnitude: fixed chunks would leave a core idle). A panic in
/// `f` is resumed on the caller.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(MAX_THREADS).min(items.len() / MIN_PER_THREAD);
    map_on(threads, items, f)
}

/// [`map`] on up to `threads` threads whatever the cores (work that waits
/// on the disk rather than computes, e.g. one `fsync` an item).
pub fn map_on<T: Sync, R: Send>(threads: usize, items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.min(items.len()).max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(item)));
        }
    };
    let parts: Vec<Vec<(usize, R)>> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut out: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    for (i, r) in parts.into_iter().flatten() {
        out[i] = Some(r);
    }
    out.into_iter()
        .map(|r| r.expect("every item was mapped"))
        .collect()
}

/// [`map`] taking the items by value (each moved to the thread that maps it).
pub fn map_owned<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let cells: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    map(&cells, |cell| {
        let item = cell
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .expect("each item is taken once");
        f(item)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_input_order() {
        for n in [0, 1, 15, 16, 33, 1000] {
            let items: Vec<usize> = (0..n).collect();
            let want: Vec<usize> = items.iter().map(|i| i * 3).collect();
            assert_eq!(map(&items, |i| i * 3), want);
            assert_eq!(map_on(16, &items, |i| i * 3), want);
            assert_eq!(map_owned(items, |i| i * 3), want);
        }
    }

    #[test]
    #[should_panic(expected = "boom")]
    fn a_panic_reaches_the_caller() {
        let items: Vec<usize> = (0..100).collect();
        map(&items, |&i| if i == 77 { panic!("boom") } else { i });
    }
}
