//! [`Load`]: how busy a worker's pool of Python threads is, shared by the handler (which
//! decides on the loop thread whether the worker takes another connection or request) and
//! each request (which says when it is done).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Requests a worker queues at most beyond one per Python thread: a thread that finishes then
/// finds its next request already queued instead of sleeping until the loop hands it one
/// (the batching the handoff relies on). Each batch costs a condvar wake and two context
/// switches; with 8 a hello-world worker under `wrk -c32` parked its thread every ~4.5
/// requests (0.23 switches per request) and spent about 0.5 µs more CPU per request than
/// with 32 (0.14 switches per request). Past it the queue only adds latency.
///
/// What is queued comes from connections the worker already holds: it accepts a new
/// connection into an idle thread ([`Load::idle`]), or, when no sibling has one either,
/// one at a time (docs/architecture.md, "Balance"), so a queue here never takes work a
/// sibling could start sooner. (An earlier rule also let a worker whose threads kept
/// finishing accept while it queued; at 2 workers on 2 cores it made one worker take nearly
/// every keep-alive connection, see docs/architecture.md.)
pub(crate) const QUEUED_MAX: usize = 32;

/// How recently some thread must have finished a request for the pool to count as moving
/// ([`Load::flowing`]): past this, its threads may all be held by slow requests.
const FLOWING: Duration = Duration::from_millis(5);

/// `Load::last_done` before the first request finished: not flowing.
const NEVER: u64 = u64::MAX;

/// How busy the pool is: shared by the handler (on the loop thread) and the requests.
#[derive(Debug)]
pub(crate) struct Load {
    /// Requests handed to the pool and not yet done: running or queued.
    busy: AtomicUsize,
    /// When a request last finished, in µs since `epoch`; [`NEVER`] before the first.
    last_done: AtomicU64,
    epoch: Instant,
}

impl Default for Load {
    fn default() -> Load {
        Load {
            busy: AtomicUsize::new(0),
            last_done: AtomicU64::new(NEVER),
            epoch: Instant::now(),
        }
    }
}

impl Load {
    /// A request was queued for the pool (called by the loop thread).
    pub(crate) fn started(&self) {
        self.busy.fetch_add(1, Ordering::AcqRel);
    }

    /// How many requests are being served or queued right now.
    pub(crate) fn busy(&self) -> usize {
        self.busy.load(Ordering::Acquire)
    }

    /// Threads of `threads` with nothing to run or to take from the queue.
    pub(crate) fn idle(&self, threads: usize) -> usize {
        threads.saturating_sub(self.busy())
    }

    /// A request ended (called right before its reply's last message).
    pub(crate) fn done(&self) {
        let now = self.epoch.elapsed().as_micros() as u64;
        self.last_done.store(now, Ordering::Release);
        self.busy.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether some thread finished a request within [`FLOWING`]: the pool is moving.
    pub(crate) fn flowing(&self) -> bool {
        let now = self.epoch.elapsed().as_micros() as u64;
        let last = self.last_done.load(Ordering::Acquire);
        last != NEVER && now.saturating_sub(last) < FLOWING.as_micros() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_threads_are_the_ones_no_request_holds() {
        let load = Load::default();
        assert_eq!(load.idle(2), 2);
        load.started();
        load.started();
        load.started();
        assert_eq!(
            (load.busy(), load.idle(2)),
            (3, 0),
            "one queued beyond two threads"
        );
        load.done();
        load.done();
        assert_eq!(load.idle(2), 1);
    }

    #[test]
    fn a_pool_flows_only_right_after_a_request_finished() {
        let load = Load::default();
        assert!(!load.flowing(), "nothing finished yet");
        load.started();
        load.done();
        assert!(load.flowing());
        std::thread::sleep(FLOWING + Duration::from_millis(2));
        assert!(!load.flowing(), "no request finished within FLOWING");
    }
}
