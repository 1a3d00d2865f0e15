//! The fan-out's merge: responses of every node's stream, held in a
//! min-heap by flow time until no node still being waited for can send an
//! older one, then handed on oldest first — what Hubble Relay's sort buffer
//! does, so the one interpreter sees flows in time order as from a relay.
//!
//! Each node's stream is in time order, so a node whose newest flow (its
//! *frontier*) is at or past a buffered flow's time will not send an older
//! one. The *watermark* is the lowest frontier over the nodes still
//! streaming; a node that has said nothing for `max_wait` (idle, cut,
//! never answering) is not waited for, so it never blocks the others. A
//! node's stream is paused ([`Gate`]) while it has `per_node` responses
//! buffered, so memory stays bounded while a slow node catches up.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::endpoints::Received;
use super::follow::Pause;
use super::resume::FlowTime;

/// One buffered response of node `node`.
pub(super) struct Held {
    pub time: Option<FlowTime>,
    seq: u64,
    pub node: usize,
    pub received: Received,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.time, self.seq).cmp(&(other.time, other.seq))
    }
}

/// The heap of held responses, oldest first; equal times keep arrival
/// order.
#[derive(Default)]
pub(super) struct Reorder {
    heap: BinaryHeap<Reverse<Held>>,
    seq: u64,
}

impl Reorder {
    pub fn push(&mut self, node: usize, time: Option<FlowTime>, received: Received) {
        self.seq += 1;
        self.heap.push(Reverse(Held {
            time,
            seq: self.seq,
            node,
            received,
        }));
    }

    /// The oldest held response's time (`Some(None)`: one without a time).
    pub fn oldest(&self) -> Option<Option<FlowTime>> {
        self.heap.peek().map(|h| h.0.time)
    }

    pub fn pop(&mut self) -> Option<Held> {
        self.heap.pop().map(|h| h.0)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

/// Whether a buffered response at `time` may go: every waited-for node's
/// frontier is at or past it (`watermark` is their lowest; `None` inside:
/// a waited-for node has sent nothing yet, `None` outside: no node is
/// waited for).
pub(super) fn may_release(time: Option<FlowTime>, watermark: Option<Option<FlowTime>>) -> bool {
    match watermark {
        None => true,
        Some(mark) => time <= mark && (mark.is_some() || time.is_none()),
    }
}

/// Pauses one node's stream while it has too much buffered.
#[derive(Default)]
pub(super) struct Gate {
    /// Shared with the node's follow loop ([`FollowOptions::pause`]), which
    /// yields after the response that closed it.
    closed: Pause,
    waker: RefCell<Option<Waker>>,
}

impl Gate {
    pub fn close(&self) {
        self.closed.set(true);
    }

    pub fn open(&self) {
        if self.closed.is_set() {
            self.closed.set(false);
            if let Some(w) = self.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.is_set()
    }

    /// The flag the node's follow loop watches.
    pub fn pause(&self) -> Pause {
        self.closed.clone()
    }
}

/// A node's follow loop behind its gate: not polled while the gate is
/// closed.
pub(super) struct Gated<F> {
    pub inner: Pin<Box<F>>,
    pub gate: Rc<Gate>,
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if self.gate.is_closed() {
            *self.gate.waker.borrow_mut() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        self.inner.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::observer::GetFlowsResponse;

    fn t(s: i64) -> Option<FlowTime> {
        Some(FlowTime::from_timestamp(&pbjson_types::Timestamp {
            seconds: s,
            nanos: 0,
        }))
    }

    #[test]
    fn oldest_first_and_arrival_order_at_equal_times() {
        let mut r = Reorder::default();
        let empty = || Received::new(GetFlowsResponse::default());
        r.push(0, t(5), empty());
        r.push(1, t(3), empty());
        r.push(2, t(5), empty());
        r.push(3, None, empty());
        let order: Vec<usize> = std::iter::from_fn(|| r.pop().map(|h| h.node)).collect();
        assert_eq!(order, [3, 1, 0, 2]);
    }

    #[test]
    fn the_watermark_holds_what_a_node_may_still_send() {
        assert!(may_release(t(5), None), "nobody to wait for");
        assert!(
            !may_release(t(5), Some(None)),
            "a node has sent nothing yet"
        );
        assert!(
            may_release(None, Some(None)),
            "untimed responses go at once"
        );
        assert!(may_release(t(5), Some(t(5))));
        assert!(!may_release(t(6), Some(t(5))));
    }
}
