//! [`Load`]: how busy a worker's pool of Python threads is, shared by the handler (which
//! decides on the loop thread whether the worker takes more connections) and each request
//! (which says when it is done).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How recently some thread must have finished a request for the worker to queue more than
/// it can start: past this, a thread may be stuck on a slow request, and the worker takes
/// only what it can start at once, leaving connections to idle siblings (docs/architecture.md:
/// a worker accepts only what it can start).
const FLOWING: Duration = Duration::from_millis(5);

/// How busy the pool is: shared by the handler (on the loop thread) and the requests.
#[derive(Debug)]
pub(crate) struct Load {
    busy: AtomicUsize,
    /// When a request last finished, in µs since `epoch`; [`NEVER`] before the first.
    last_done: AtomicU64,
    epoch: Instant,
}

impl Load {
    /// An idle pool that has not finished a request yet.
    pub(crate) fn new() -> Load {
        Load {
            busy: AtomicUsize::new(0),
            last_done: AtomicU64::new(NEVER),
            epoch: Instant::now(),
        }
    }

    /// A request was queued for the pool (called by the loop thread).
    pub(crate) fn started(&self) {
        self.busy.fetch_add(1, Ordering::AcqRel);
    }

    /// How many requests are being served or queued right now.
    pub(crate) fn busy(&self) -> usize {
        self.busy.load(Ordering::Acquire)
    }

    /// A request ended (called right before its reply's last message).
    pub(crate) fn done(&self) {
        let now = self.epoch.elapsed().as_micros() as u64;
        self.last_done.store(now, Ordering::Release);
        self.busy.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether some thread finished a request within [`FLOWING`]: the pool is moving, so
    /// what the worker queues beyond its threads will start soon.
    pub(crate) fn flowing(&self) -> bool {
        let now = self.epoch.elapsed().as_micros() as u64;
        let last = self.last_done.load(Ordering::Acquire);
        last != NEVER && now.saturating_sub(last) < FLOWING.as_micros() as u64
    }
}

/// `Load::last_done` of a worker that has not finished a request yet: it is not flowing, so a
/// new worker takes only what it can start (otherwise for its first 5 ms it would queue
/// behind a slow first request while a sibling sits idle).
const NEVER: u64 = u64::MAX;
