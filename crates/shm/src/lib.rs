//! ruwsgi-shm: the memory every process of one ruwsgi server shares.
//!
//! # The scoreboard
//! [`Scoreboard`] is one shared mapping of a `memfd`, created by the master before it forks
//! and sized by a [`Layout`] (`processes`, `threads`, and the mules and spoolers). A header
//! records the layout, so a master that re-execs itself passes the fd on
//! ([`Scoreboard::keep_across_exec`]) and the new program adopts the board
//! ([`Scoreboard::from_fd`]) — or, when a reload changed the layout, maps a new one.
//!
//! # Process slots
//! A [`ProcessSlot`] belongs to a process, not to a worker id: the master
//! [claims](Scoreboard::claim) one for each process it forks (by pid, with its worker id,
//! [`ProcessKind`] and generation) and [releases](Scoreboard::release) it when it reaps the
//! pid. The board has `2 * processes + extra` of them, so during a reload the old
//! generation and the new one hold slots side by side. A slot holds the process's
//! [`ProcessStatus`] and counters (requests, bytes, exceptions, request time and a
//! request-duration histogram, rss, ...); stats read them
//! with [`Scoreboard::live`]. A [`ProcessIndex`] names a slot; a child that must know its
//! slot before its parent returns from `fork` gets one [reserved](Scoreboard::reserve)
//! before the fork.
//!
//! # Thread slots
//! Each process slot has one [`ThreadSlot`] per thread ([`Scoreboard::threads_of`]). The
//! thread writes the request it runs (start, method, URI) and the master reads a consistent
//! [`RunningRequest`] from another process without locks, through a seqlock
//! ([`ThreadSlot::snapshot`]): what harakiri and stats show.
//!
//! # Signals and timers
//! uWSGI's signal framework lives here too: the signal table (where each of the 256
//! signals goes, [`SignalTarget`]), a signal box per process slot that
//! [`Signals::raise`] fills and the receiver waits on with a futex ([`Signals::wait`]), and
//! the timer table the master runs ([`Signals::add_timer`], [`TimerSpec`]), all reached
//! through [`Scoreboard::signals`].
//!
//! # Locks
//! uWSGI's user locks ([`Scoreboard::locks`], [`Locks`]): robust process-shared mutexes, so
//! a process that dies holding one does not hold it for ever.
//!
//! Every slot is cache-line aligned and every field an atomic, so two processes or threads
//! writing their own slots never share a cache line and never lock. Times are microseconds
//! since the Unix epoch ([`now_micros`]).
//!
//! # Caches
//! uWSGI's cache (`cache2`, `cache`) is a [`Cache`]: a mapping of its own per cache, with a
//! fixed number of items of at most one block each, a hash index and a process-shared,
//! robust lock, created by the master before it forks and handed across a re-exec like the
//! board ([`Cache::keep_across_exec`], [`Cache::from_fd`]).
//!
//! Both the user locks and each cache's lock are the one robust mutex of `robust.rs`.

#![deny(missing_docs)]

mod board;
mod cache;
mod clock;
mod error;
mod geometry;
mod layout;
mod locks;
mod mapping;
mod process_slot;
mod robust;
mod signals;
mod thread_slot;

pub use board::Scoreboard;
pub use cache::{
    Cache, CacheError, CacheStats, DEFAULT_BLOCKSIZE, DEFAULT_KEYSIZE, MAX_ITEMS, MAX_KEYSIZE,
};
pub use clock::now_micros;
pub use error::{Error, ErrorKind};
pub use geometry::CacheGeometry;
pub use layout::Layout;
pub use locks::{LockError, Locks};
pub use process_slot::{
    ProcessIndex, ProcessKind, ProcessSlot, ProcessStatus, DURATION_BUCKETS_US,
};
pub use signals::{
    SignalError, SignalTarget, Signals, TimerError, TimerSpec, SIGNALS, TIMER_PATH_CAPACITY,
    TIMER_SLOTS,
};
pub use thread_slot::{RunningRequest, ThreadSlot, METHOD_CAPACITY, URI_CAPACITY};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
