//! [`Layout`]: what a board is sized for, and where each part of it lies:
//!
//! ```text
//! | Header | ProcessSlot × process_slots | ThreadSlot × threads (slot 0) | … (slot n-1) |
//! | signal table (256 words) | TimerSlot × TIMER_SLOTS | SignalBox × process_slots |
//! | LockSlot × locks |
//! ```

use std::fmt;
use std::mem;
use std::sync::atomic::AtomicU64;

use crate::locks::LockSlot;
use crate::process_slot::ProcessSlot;
use crate::signals::{SignalBox, TimerSlot, SIGNALS, TIMER_SLOTS};
use crate::thread_slot::ThreadSlot;

/// What the board is sized for: `processes` workers of `threads` threads, `extra`
/// processes (mules and spoolers) beside them, and `locks` user locks.
///
/// The board holds `2 * processes + extra` process slots ([`Layout::process_slots`]): a
/// reload spawns the new generation of workers while the old one is still finishing, and
/// both must have slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Layout {
    pub(crate) processes: usize,
    pub(crate) threads: usize,
    pub(crate) extra: usize,
    pub(crate) locks: usize,
}

impl Layout {
    /// A layout for `processes` workers of `threads` threads each (at least 1) and `extra`
    /// mules and spoolers, with one lock (uWSGI's lock 0 always exists).
    pub fn new(processes: usize, threads: usize, extra: usize) -> Layout {
        Layout {
            processes,
            threads: threads.max(1),
            extra,
            locks: 1,
        }
    }

    /// The same layout with `count` locks (at least 1: `locks N` makes N + 1, 0 to N).
    pub fn with_locks(self, count: usize) -> Layout {
        Layout {
            locks: count.max(1),
            ..self
        }
    }

    /// The number of locks.
    pub fn locks(&self) -> usize {
        self.locks
    }

    /// The number of workers of one generation.
    pub fn processes(&self) -> usize {
        self.processes
    }

    /// The number of thread slots of each process slot.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The number of mules and spoolers.
    pub fn extra(&self) -> usize {
        self.extra
    }

    /// The number of process slots: two generations of workers, and the extra processes.
    pub fn process_slots(&self) -> usize {
        2 * self.processes + self.extra
    }

    /// The byte offset of the thread slots.
    pub(crate) fn threads_offset(&self) -> usize {
        mem::size_of::<Header>() + self.process_slots() * mem::size_of::<ProcessSlot>()
    }

    /// The byte offset of the signal table (one word per signal number).
    pub(crate) fn signals_offset(&self) -> usize {
        self.threads_offset() + self.process_slots() * self.threads * mem::size_of::<ThreadSlot>()
    }

    /// The byte offset of the timer table.
    pub(crate) fn timers_offset(&self) -> usize {
        self.signals_offset() + SIGNALS * mem::size_of::<AtomicU64>()
    }

    /// The byte offset of the signal boxes (one per process slot).
    pub(crate) fn boxes_offset(&self) -> usize {
        self.timers_offset() + TIMER_SLOTS * mem::size_of::<TimerSlot>()
    }

    /// The byte offset of the locks.
    pub(crate) fn locks_offset(&self) -> usize {
        self.boxes_offset() + self.process_slots() * mem::size_of::<SignalBox>()
    }

    /// The size of the board in bytes.
    pub(crate) fn len(&self) -> usize {
        self.locks_offset() + self.locks * mem::size_of::<LockSlot>()
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} processes of {} threads, {} mules and spoolers, {} locks",
            self.processes, self.threads, self.extra, self.locks
        )
    }
}

/// The first two cache lines of the board: what a re-exec'd master checks before adopting
/// it.
#[repr(C, align(64))]
pub(crate) struct Header {
    pub(crate) magic: AtomicU64,
    pub(crate) version: AtomicU64,
    pub(crate) processes: AtomicU64,
    pub(crate) threads: AtomicU64,
    pub(crate) extra: AtomicU64,
    /// The size of the board in bytes.
    pub(crate) len: AtomicU64,
    /// The newest generation the master started ([`Scoreboard::next_generation`]).
    pub(crate) generation: AtomicU64,
    /// The newest change a reload was asked for ([`Scoreboard::ask_reload`]).
    pub(crate) reload_asked: AtomicU64,
    pub(crate) locks: AtomicU64,
    /// How many times the master reopened or rotated the log file
    /// ([`Scoreboard::log_reopened`]).
    pub(crate) log_epoch: AtomicU64,
}
