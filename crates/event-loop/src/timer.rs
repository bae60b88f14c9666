//! [`Timers`]: connection deadlines in a min-heap, checked lazily.
//!
//! Every read or write pushes a connection's deadline forward; rewriting a heap entry on
//! each would cost a log-n update per event. Instead a connection keeps its current
//! deadline in a field and has at most one entry here (plus, rarely, an earlier one when a
//! deadline moves closer). When an entry fires, the loop compares it with the connection's
//! field: a stale entry is dropped, a deadline that moved later is pushed again. So a
//! slowloris costs one heap entry and a few bytes, not a thread.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// One scheduled check: when, and which connection (slab key and id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Entry {
    pub(crate) at: Instant,
    pub(crate) key: usize,
    pub(crate) id: u64,
}

/// The pending checks, earliest first.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
}

impl Timers {
    pub(crate) fn push(&mut self, at: Instant, key: usize, id: u64) {
        self.heap.push(Reverse(Entry { at, key, id }));
    }

    /// The earliest pending check.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.0.at)
    }

    /// Removes and returns the earliest check due at `now`, if any.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Entry> {
        if self.heap.peek()?.0.at <= now {
            self.heap.pop().map(|e| e.0)
        } else {
            None
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_only_what_is_due_earliest_first() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut timers = Timers::default();
        timers.push(t0 + 3 * s, 3, 30);
        timers.push(t0 + s, 1, 10);
        timers.push(t0 + 2 * s, 2, 20);
        assert_eq!(timers.next(), Some(t0 + s));
        assert_eq!(timers.pop_due(t0), None);
        let due: Vec<usize> = std::iter::from_fn(|| timers.pop_due(t0 + 2 * s))
            .map(|e| e.key)
            .collect();
        assert_eq!(due, vec![1, 2]);
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.next(), Some(t0 + 3 * s));
        let last = timers.pop_due(t0 + 10 * s).unwrap();
        assert_eq!((last.key, last.id), (3, 30));
        assert_eq!(timers.next(), None);
    }

    #[test]
    fn equal_deadlines_all_fire() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        for k in 0..1000 {
            timers.push(t0, k, k as u64);
        }
        assert_eq!(std::iter::from_fn(|| timers.pop_due(t0)).count(), 1000);
    }
}
