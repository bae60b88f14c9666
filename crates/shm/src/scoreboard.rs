//! The scoreboard: one slot per worker and per thread in a shared `memfd` mapping.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use std::{io, mem, ptr};

use crate::error::{Error, ErrorKind};

/// The life stage of a worker, as its slot's `status` holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum WorkerStatus {
    /// No process in this slot (never started, or dead and not yet respawned).
    Empty = 0,
    /// Forked, loading the app or setting up its loop.
    Starting = 1,
    /// Serving requests.
    Ready = 2,
    /// Told to stop; finishing in-flight requests.
    Stopping = 3,
    /// Paused by SIGTSTP.
    Paused = 4,
}

impl WorkerStatus {
    fn from_u32(v: u32) -> WorkerStatus {
        match v {
            1 => WorkerStatus::Starting,
            2 => WorkerStatus::Ready,
            3 => WorkerStatus::Stopping,
            4 => WorkerStatus::Paused,
            _ => WorkerStatus::Empty,
        }
    }

    /// The lower-case name used in logs and stats (`ready`, `stopping`, ...).
    pub fn name(self) -> &'static str {
        match self {
            WorkerStatus::Empty => "empty",
            WorkerStatus::Starting => "starting",
            WorkerStatus::Ready => "ready",
            WorkerStatus::Stopping => "stopping",
            WorkerStatus::Paused => "paused",
        }
    }
}

/// One worker's counters. Written by the worker (and by the master at spawn and death),
/// read by anyone. Times are microseconds since the Unix epoch, 0 meaning "none".
#[derive(Debug, Default)]
#[repr(C, align(64))]
pub struct WorkerSlot {
    /// The worker's pid (0 when the slot is empty).
    pub pid: AtomicU32,
    status: AtomicU32,
    /// Requests served by the current process of this slot.
    pub requests: AtomicU64,
    /// When the request in progress started (0 when idle).
    pub current_request_start: AtomicU64,
    /// When the last request ended.
    pub last_request_end: AtomicU64,
    /// Response bytes written.
    pub bytes_out: AtomicU64,
    /// Requests that ended with an app exception.
    pub exceptions: AtomicU64,
    /// Times harakiri killed this slot's process.
    pub harakiri_count: AtomicU64,
    /// Times the master (re)spawned this slot.
    pub respawns: AtomicU64,
    /// Resident set size in bytes, as last measured.
    pub rss: AtomicU64,
    /// When the current process of this slot was forked.
    pub spawned_at: AtomicU64,
}

impl WorkerSlot {
    /// The worker's status.
    pub fn status(&self) -> WorkerStatus {
        WorkerStatus::from_u32(self.status.load(Ordering::Acquire))
    }

    /// Sets the worker's status.
    pub fn set_status(&self, status: WorkerStatus) {
        self.status.store(status as u32, Ordering::Release);
    }

    /// Records the start of a request (called by the worker).
    pub fn request_started(&self) {
        self.current_request_start
            .store(now_micros(), Ordering::Relaxed);
    }

    /// Records the end of a request that wrote `bytes` (called by the worker).
    pub fn request_finished(&self, bytes: u64, exception: bool) {
        self.current_request_start.store(0, Ordering::Relaxed);
        self.last_request_end.store(now_micros(), Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
        if exception {
            self.exceptions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Resets the per-process counters for a newly forked process `pid` (called by the
    /// master at spawn; `respawns` and `harakiri_count` survive).
    pub fn reset_for(&self, pid: u32) {
        self.requests.store(0, Ordering::Relaxed);
        self.current_request_start.store(0, Ordering::Relaxed);
        self.last_request_end.store(0, Ordering::Relaxed);
        self.bytes_out.store(0, Ordering::Relaxed);
        self.exceptions.store(0, Ordering::Relaxed);
        self.rss.store(0, Ordering::Relaxed);
        self.spawned_at.store(now_micros(), Ordering::Relaxed);
        self.pid.store(pid, Ordering::Release);
        self.set_status(WorkerStatus::Starting);
    }
}

/// One thread's counters (the Python threads of a worker).
#[derive(Debug, Default)]
#[repr(C, align(64))]
pub struct ThreadSlot {
    /// Requests served by this thread.
    pub requests: AtomicU64,
    /// When the request in progress started (0 when idle).
    pub current_request_start: AtomicU64,
    /// When the last request ended.
    pub last_request_end: AtomicU64,
    /// Response bytes written.
    pub bytes_out: AtomicU64,
    /// Requests that ended with an app exception.
    pub exceptions: AtomicU64,
}

#[repr(C, align(64))]
struct Header {
    magic: AtomicU64,
    workers: AtomicU64,
    threads: AtomicU64,
}

const MAGIC: u64 = 0x7275_7773_6769_5342; // "ruwsgiSB"

/// The shared scoreboard. Create it in the master before forking; every forked process
/// sees the same memory. `Send + Sync`: all fields are atomics.
#[derive(Debug)]
pub struct Scoreboard {
    base: *mut u8,
    len: usize,
    workers: usize,
    threads: usize,
    fd: OwnedFd,
}

// SAFETY: the mapping is only accessed through atomics, and it lives as long as the value.
unsafe impl Send for Scoreboard {}
// SAFETY: as above; shared references only hand out `&` to atomic fields.
unsafe impl Sync for Scoreboard {}

impl Scoreboard {
    /// Maps a new zeroed scoreboard for `workers` workers of `threads` threads each.
    pub fn create(workers: usize, threads: usize) -> Result<Scoreboard, Error> {
        let threads = threads.max(1);
        let len = Self::size(workers, threads);
        // SAFETY: the name is a valid C string; flags are valid.
        let raw = unsafe { libc::memfd_create(c"ruwsgi-scoreboard".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(Error::new(ErrorKind::Create, io::Error::last_os_error()));
        }
        // SAFETY: memfd_create returned a fresh fd we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: ftruncate on a valid fd.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } < 0 {
            return Err(Error::new(ErrorKind::Resize, io::Error::last_os_error()));
        }
        let board = Self::map(fd, len, workers, threads)?;
        board
            .header()
            .workers
            .store(workers as u64, Ordering::Relaxed);
        board
            .header()
            .threads
            .store(threads as u64, Ordering::Relaxed);
        board.header().magic.store(MAGIC, Ordering::Release);
        Ok(board)
    }

    fn size(workers: usize, threads: usize) -> usize {
        mem::size_of::<Header>()
            + (workers + 1) * mem::size_of::<WorkerSlot>()
            + (workers + 1) * threads * mem::size_of::<ThreadSlot>()
    }

    fn map(fd: OwnedFd, len: usize, workers: usize, threads: usize) -> Result<Scoreboard, Error> {
        // SAFETY: a shared mapping of `len` bytes of a file at least that long; the result is
        // checked against MAP_FAILED.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Error::new(ErrorKind::Map, io::Error::last_os_error()));
        }
        Ok(Scoreboard {
            base: base.cast(),
            len,
            workers,
            threads,
            fd,
        })
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping starts with a Header, page-aligned, zero-initialised (a valid
        // bit pattern for atomics) and lives as long as `self`.
        unsafe { &*(self.base as *const Header) }
    }

    /// How many worker slots (ids `1..=workers()`).
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// How many thread slots each worker has.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The slot of worker `id` (1-based, as `uwsgi.worker_id()`).
    ///
    /// # Panics
    /// If `id` is 0 or above [`Scoreboard::workers`].
    pub fn worker(&self, id: usize) -> &WorkerSlot {
        assert!(
            id >= 1 && id <= self.workers,
            "worker id {id} out of 1..={}",
            self.workers
        );
        let offset = mem::size_of::<Header>() + id * mem::size_of::<WorkerSlot>();
        // SAFETY: in bounds (checked above), aligned (64-byte slots after a 64-byte header in
        // a page-aligned mapping), zero-initialised atomics, lives as long as `self`.
        unsafe { &*(self.base.add(offset) as *const WorkerSlot) }
    }

    /// The slot of thread `thread` (0-based) of worker `id` (1-based).
    ///
    /// # Panics
    /// If either index is out of range.
    pub fn thread(&self, id: usize, thread: usize) -> &ThreadSlot {
        assert!(
            id >= 1 && id <= self.workers,
            "worker id {id} out of 1..={}",
            self.workers
        );
        assert!(
            thread < self.threads,
            "thread {thread} out of 0..{}",
            self.threads
        );
        let offset = mem::size_of::<Header>()
            + (self.workers + 1) * mem::size_of::<WorkerSlot>()
            + (id * self.threads + thread) * mem::size_of::<ThreadSlot>();
        // SAFETY: in bounds (checked above), aligned and zero-initialised as in `worker`.
        unsafe { &*(self.base.add(offset) as *const ThreadSlot) }
    }

    /// The worker id whose slot holds `pid`, if any.
    pub fn find_pid(&self, pid: u32) -> Option<usize> {
        (1..=self.workers).find(|&id| self.worker(id).pid.load(Ordering::Acquire) == pid)
    }

    /// The memfd behind the mapping (for passing it across a re-exec).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Scoreboard {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region `map` created; no references outlive `self`.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// Microseconds since the Unix epoch (the scoreboard's clock).
pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_cache_line_aligned_and_disjoint() {
        let board = Scoreboard::create(3, 2).unwrap();
        let a = board.worker(1) as *const WorkerSlot as usize;
        let b = board.worker(2) as *const WorkerSlot as usize;
        assert_eq!(a % 64, 0);
        assert!(b - a >= 64);
        let t = board.thread(3, 1) as *const ThreadSlot as usize;
        assert_eq!(t % 64, 0);
        assert!(t + mem::size_of::<ThreadSlot>() <= board.base as usize + board.len);
    }

    #[test]
    fn a_forked_child_writes_what_the_parent_reads() {
        let board = Scoreboard::create(2, 1).unwrap();
        // SAFETY: the test process forks; the child only touches atomics and calls _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let slot = board.worker(2);
            slot.request_finished(42, true);
            slot.set_status(WorkerStatus::Ready);
            // SAFETY: _exit is async-signal-safe and skips the parent's destructors.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let slot = board.worker(2);
        assert_eq!(slot.requests.load(Ordering::Relaxed), 1);
        assert_eq!(slot.bytes_out.load(Ordering::Relaxed), 42);
        assert_eq!(slot.exceptions.load(Ordering::Relaxed), 1);
        assert_eq!(slot.status(), WorkerStatus::Ready);
        assert_eq!(board.worker(1).requests.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn reset_for_keeps_respawns_and_finds_the_pid() {
        let board = Scoreboard::create(2, 1).unwrap();
        let slot = board.worker(1);
        slot.respawns.fetch_add(3, Ordering::Relaxed);
        slot.requests.store(9, Ordering::Relaxed);
        slot.reset_for(1234);
        assert_eq!(slot.requests.load(Ordering::Relaxed), 0);
        assert_eq!(slot.respawns.load(Ordering::Relaxed), 3);
        assert_eq!(slot.status(), WorkerStatus::Starting);
        assert_eq!(board.find_pid(1234), Some(1));
        assert_eq!(board.find_pid(99), None);
    }

    #[test]
    #[should_panic(expected = "out of")]
    fn worker_zero_is_not_a_slot() {
        let board = Scoreboard::create(1, 1).unwrap();
        let _ = board.worker(0);
    }
}
