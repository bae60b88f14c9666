//! One process's slot: who the process is (pid, kind, worker id, generation), its life stage
//! and its counters.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The upper bounds, in microseconds, of the request-duration histogram's buckets
/// ([`ProcessSlot::duration_buckets`]): Prometheus's default buckets, 5 ms to 10 s. A request
/// lands in the first bucket whose bound is at least its duration; a slower one in the last
/// bucket, which has no bound.
pub const DURATION_BUCKETS_US: [u64; 11] = [
    5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000,
];

/// The `pid` of a slot taken by [`Scoreboard::reserve`](crate::Scoreboard::reserve) whose
/// process is not forked yet (no Linux pid reaches it: `pid_max` is at most 2^22).
pub(crate) const RESERVED: u32 = u32::MAX;

/// The life stage of a process, as its slot's status holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ProcessStatus {
    /// No process in this slot.
    Empty = 0,
    /// Forked, loading the app or setting up its loop.
    Starting = 1,
    /// Serving requests.
    Ready = 2,
    /// Told to stop; finishing in-flight requests.
    Stopping = 3,
    /// Paused by SIGTSTP.
    Paused = 4,
    /// Recycling itself (`max-requests`, `reload-on-rss`): it accepts no more connections
    /// and finishes its requests; the master spawns its replacement when it sees this.
    Recycling = 5,
    /// Loaded and able to serve, but replacing processes that may still accept (a reload,
    /// a chain reload's step): it starts accepting when the master sets it `Ready`, once
    /// those processes have stopped accepting, so no client sees the new code and then the
    /// old one on a later connection.
    Held = 6,
}

impl ProcessStatus {
    fn from_u32(v: u32) -> ProcessStatus {
        match v {
            1 => ProcessStatus::Starting,
            2 => ProcessStatus::Ready,
            3 => ProcessStatus::Stopping,
            4 => ProcessStatus::Paused,
            5 => ProcessStatus::Recycling,
            6 => ProcessStatus::Held,
            _ => ProcessStatus::Empty,
        }
    }

    /// The lower-case name used in logs and stats (`ready`, `stopping`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ProcessStatus::Empty => "empty",
            ProcessStatus::Starting => "starting",
            ProcessStatus::Ready => "ready",
            ProcessStatus::Stopping => "stopping",
            ProcessStatus::Paused => "paused",
            ProcessStatus::Recycling => "recycling",
            ProcessStatus::Held => "held",
        }
    }
}

/// What a process does for the server, as uWSGI names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ProcessKind {
    /// A worker serving requests (`processes`).
    Worker = 1,
    /// A mule running offloaded tasks (`mule`).
    Mule = 2,
    /// A spooler working through its spool directory (`spooler`).
    Spooler = 3,
}

impl ProcessKind {
    fn from_u32(v: u32) -> Option<ProcessKind> {
        match v {
            1 => Some(ProcessKind::Worker),
            2 => Some(ProcessKind::Mule),
            3 => Some(ProcessKind::Spooler),
            _ => None,
        }
    }

    /// The lower-case name used in logs and stats (`worker`, `mule`, `spooler`).
    pub fn name(self) -> &'static str {
        match self {
            ProcessKind::Worker => "worker",
            ProcessKind::Mule => "mule",
            ProcessKind::Spooler => "spooler",
        }
    }
}

/// The place of a process slot on its board, as [`Scoreboard::claim`](crate::Scoreboard::claim)
/// returns it: a plain number, so a forked child can keep the one its parent reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessIndex(pub(crate) usize);

impl ProcessIndex {
    /// The slot's position, from 0.
    pub fn get(self) -> usize {
        self.0
    }
}

/// One process's slot. The master fills the identity when it claims the slot and clears it
/// when it reaps the process; the process writes its status and counters; anyone reads.
/// Times are microseconds since the Unix epoch ([`now_micros`](crate::now_micros)), 0
/// meaning "none". Cache-line aligned, so two processes never share a line.
///
/// Counters are read one by one (`Relaxed`): a stats reader may see `requests` of one
/// moment and `bytes_out` of the next, which stats tolerate.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct ProcessSlot {
    /// 0 when free, [`RESERVED`] between `reserve` and `set_pid`, else the pid. Taken by a
    /// compare-exchange from 0, so two claimers never take one slot.
    pid: AtomicU32,
    status: AtomicU32,
    kind: AtomicU32,
    worker_id: AtomicU32,
    generation: AtomicU64,
    /// When the process was claimed (just forked).
    pub spawned_at: AtomicU64,
    /// Requests this process served.
    pub requests: AtomicU64,
    /// Response bytes written.
    pub bytes_out: AtomicU64,
    /// Requests that ended with an app exception.
    pub exceptions: AtomicU64,
    /// Times harakiri killed a process of this worker id. A count per worker id outlives
    /// each process: the master keeps it and writes it here when it claims the slot.
    pub harakiri_count: AtomicU64,
    /// Times the master (re)spawned this worker id; kept and written like `harakiri_count`.
    pub respawns: AtomicU64,
    /// Resident set size in bytes, as the master last measured it.
    pub rss: AtomicU64,
    /// Client connections the process holds now (a worker's loop writes it; its siblings
    /// read it to keep their keep-alive connections even).
    pub connections: AtomicU64,
    /// Threads of the process with nothing to do now (written with `connections`).
    pub idle_threads: AtomicU64,
    /// Microseconds spent in requests, summed over the requests this process served (what
    /// stats call `running_time`, and divide by `requests` for `avg_rt`).
    pub request_time_us: AtomicU64,
    /// Requests by duration: `duration_buckets[i]` counts those that took at most
    /// [`DURATION_BUCKETS_US`]`[i]` and more than the bound before it; the last one those
    /// slower than every bound. Not cumulative (a Prometheus histogram sums them).
    pub duration_buckets: [AtomicU64; DURATION_BUCKETS_US.len() + 1],
}

impl ProcessSlot {
    /// The process's pid: `None` while the slot is free or reserved before its fork.
    pub fn pid(&self) -> Option<u32> {
        match self.pid.load(Ordering::Acquire) {
            0 | RESERVED => None,
            pid => Some(pid),
        }
    }

    /// Whether no process holds this slot.
    pub fn is_free(&self) -> bool {
        self.pid.load(Ordering::Acquire) == 0
    }

    /// The process's status ([`ProcessStatus::Empty`] for a free slot).
    pub fn status(&self) -> ProcessStatus {
        ProcessStatus::from_u32(self.status.load(Ordering::Acquire))
    }

    /// Sets the process's status.
    pub fn set_status(&self, status: ProcessStatus) {
        self.status.store(status as u32, Ordering::Release);
    }

    /// Sets the status to `to` if it is `from`; false (and no change) if it is not — how
    /// two processes that both move a status on never undo each other's move.
    pub fn advance(&self, from: ProcessStatus, to: ProcessStatus) -> bool {
        self.status
            .compare_exchange(from as u32, to as u32, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// What the process is (`None` for a free slot).
    pub fn kind(&self) -> Option<ProcessKind> {
        ProcessKind::from_u32(self.kind.load(Ordering::Relaxed))
    }

    /// The worker (or mule, spooler) id the process serves as, 1-based as
    /// `uwsgi.worker_id()` (0 for a free slot).
    pub fn worker_id(&self) -> usize {
        self.worker_id.load(Ordering::Relaxed) as usize
    }

    /// The generation the process belongs to (see
    /// [`Scoreboard::next_generation`](crate::Scoreboard::next_generation)).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Counts a finished request that wrote `bytes` and took `duration_us` microseconds
    /// (called by the process): its request, bytes, exception, time and duration bucket.
    /// When it ended is its thread slot's to say ([`ThreadSlot`](crate::ThreadSlot)), which
    /// keeps a clock read off this per-request path.
    pub fn request_finished(&self, bytes: u64, exception: bool, duration_us: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
        if exception {
            self.exceptions.fetch_add(1, Ordering::Relaxed);
        }
        self.request_time_us
            .fetch_add(duration_us, Ordering::Relaxed);
        let bucket = DURATION_BUCKETS_US
            .iter()
            .position(|&bound| duration_us <= bound)
            .unwrap_or(DURATION_BUCKETS_US.len());
        self.duration_buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// Takes the slot if it is free (pid 0 → [`RESERVED`]). `Acquire` pairs with the
    /// `Release` of [`ProcessSlot::clear`], so the clearing stores come before ours.
    pub(crate) fn try_take(&self) -> bool {
        self.pid
            .compare_exchange(0, RESERVED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Fills a slot just taken: identity, zeroed counters, status `Starting` last (readers
    /// that see a status see the identity).
    pub(crate) fn fill(&self, worker_id: usize, kind: ProcessKind, generation: u64, now: u64) {
        self.kind.store(kind as u32, Ordering::Relaxed);
        self.worker_id.store(worker_id as u32, Ordering::Relaxed);
        self.generation.store(generation, Ordering::Relaxed);
        self.zero_counters();
        self.spawned_at.store(now, Ordering::Relaxed);
        self.set_status(ProcessStatus::Starting);
    }

    /// Sets the pid of a reserved slot; false if the slot was not reserved.
    pub(crate) fn set_pid(&self, pid: u32) -> bool {
        self.pid
            .compare_exchange(RESERVED, pid, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    /// Whether the slot holds `pid`.
    pub(crate) fn holds(&self, pid: u32) -> bool {
        self.pid.load(Ordering::Acquire) == pid
    }

    /// Empties the slot: status first, identity and counters, then the pid with `Release`
    /// (so a later claimer's `Acquire` sees the zeroes).
    pub(crate) fn clear(&self) {
        self.set_status(ProcessStatus::Empty);
        self.kind.store(0, Ordering::Relaxed);
        self.worker_id.store(0, Ordering::Relaxed);
        self.generation.store(0, Ordering::Relaxed);
        self.zero_counters();
        self.pid.store(0, Ordering::Release);
    }

    fn zero_counters(&self) {
        for counter in [
            &self.spawned_at,
            &self.requests,
            &self.bytes_out,
            &self.exceptions,
            &self.harakiri_count,
            &self.respawns,
            &self.rss,
            &self.connections,
            &self.idle_threads,
            &self.request_time_us,
        ]
        .into_iter()
        .chain(&self.duration_buckets)
        {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

impl fmt::Display for ProcessSlot {
    /// One line for logs: `worker 2 (pid 1234, generation 1) ready requests 10 ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind().map_or("free", ProcessKind::name);
        write!(f, "{kind} {} (pid ", self.worker_id())?;
        match self.pid() {
            Some(pid) => write!(f, "{pid}")?,
            None => f.write_str("-")?,
        }
        write!(
            f,
            ", generation {}) {} requests {} respawns {} rss {}",
            self.generation(),
            self.status().name(),
            self.requests.load(Ordering::Relaxed),
            self.respawns.load(Ordering::Relaxed),
            self.rss.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem;

    fn slot() -> ProcessSlot {
        // SAFETY: all-zero bytes are a valid ProcessSlot (atomics), a fresh mapping's state.
        unsafe { mem::zeroed() }
    }

    #[test]
    fn a_slot_is_whole_cache_lines() {
        assert_eq!(mem::align_of::<ProcessSlot>(), 64);
        assert_eq!(mem::size_of::<ProcessSlot>() % 64, 0);
    }

    #[test]
    fn take_fill_set_pid_clear() {
        let slot = slot();
        assert!(slot.is_free());
        assert_eq!(slot.status(), ProcessStatus::Empty);
        assert!(slot.try_take());
        assert!(!slot.try_take(), "a taken slot cannot be taken again");
        slot.fill(3, ProcessKind::Mule, 7, 99);
        assert_eq!(slot.pid(), None, "reserved: no pid yet");
        assert!(slot.set_pid(4321));
        assert!(!slot.set_pid(1), "only a reserved slot gets a pid");
        assert_eq!(slot.pid(), Some(4321));
        assert_eq!(slot.kind(), Some(ProcessKind::Mule));
        assert_eq!((slot.worker_id(), slot.generation()), (3, 7));
        assert_eq!(slot.status(), ProcessStatus::Starting);
        slot.request_finished(42, true, 7_000);
        slot.request_finished(0, false, 60_000_000);
        assert_eq!(slot.bytes_out.load(Ordering::Relaxed), 42);
        assert_eq!(slot.request_time_us.load(Ordering::Relaxed), 60_007_000);
        let buckets: Vec<u64> = slot
            .duration_buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        assert_eq!(
            buckets,
            [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            "7 ms, then over 10 s"
        );
        assert_eq!(
            slot.to_string(),
            "mule 3 (pid 4321, generation 7) starting requests 2 respawns 0 rss 0"
        );
        assert!(slot.advance(ProcessStatus::Starting, ProcessStatus::Held));
        assert!(!slot.advance(ProcessStatus::Starting, ProcessStatus::Ready));
        assert_eq!(slot.status(), ProcessStatus::Held);
        assert!(slot.advance(ProcessStatus::Held, ProcessStatus::Ready));
        assert_eq!(slot.status().name(), "ready");
        slot.clear();
        assert!(slot.is_free());
        assert_eq!(slot.kind(), None);
        assert_eq!(slot.requests.load(Ordering::Relaxed), 0);
        assert_eq!(slot.duration_buckets[1].load(Ordering::Relaxed), 0);
    }
}
