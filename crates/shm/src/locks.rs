//! uWSGI's user locks (`locks N`, `uwsgi.lock(n)` / `uwsgi.unlock(n)`): mutexes every
//! process of the server shares, the last part of the board.
//!
//! Each lock is a process-shared, robust POSIX mutex in its own cache line
//! ([`crate::robust`]; glibc's `pthread_mutex_t`, which uWSGI uses too). Robust: when a process dies holding one (a
//! harakiri kill, SIGKILL, a crash) the kernel marks it, and the next [`Locks::lock`] gets it
//! with `EOWNERDEAD`, makes it consistent and goes on — logged, never held for ever. A
//! mutex belongs to the thread that locked it: that thread unlocks it, as with uWSGI's.
//!
//! Unlike the rest of the board, a lock is no atomic: [`Scoreboard::create`] initializes
//! each one before any process can see it, and a re-executed master that adopts the board
//! keeps them (its previous workers may hold one).
//!
//! [`Scoreboard::create`]: crate::Scoreboard::create

use std::cell::UnsafeCell;
use std::fmt;

use crate::robust;

/// One lock, alone in its cache line.
#[repr(C, align(64))]
pub(crate) struct LockSlot {
    mutex: UnsafeCell<libc::pthread_mutex_t>,
}

impl LockSlot {
    /// Initializes the mutex: process-shared and robust. Only on a fresh mapping, before
    /// any other process or thread can reach it.
    pub(crate) fn init(&self) -> Result<(), LockError> {
        // SAFETY: the mutex lies in memory that lives as long as the mapping, and nobody
        // uses it yet.
        unsafe { robust::init(self.mutex.get()) }.map_err(os_error)
    }
}

fn os_error(e: std::io::Error) -> LockError {
    LockError::Os(e.raw_os_error().unwrap_or(libc::EINVAL))
}

/// Why a lock call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockError {
    /// No lock of that number (`locks N` makes 0 to N).
    NoSuchLock(usize),
    /// The calling thread does not hold the lock it unlocks.
    NotHeld(usize),
    /// The mutex call failed with this errno.
    Os(i32),
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::NoSuchLock(n) => write!(f, "invalid lock number {n}"),
            LockError::NotHeld(n) => write!(f, "lock {n} is not held by this thread"),
            LockError::Os(e) => write!(f, "{}", std::io::Error::from_raw_os_error(*e)),
        }
    }
}

impl std::error::Error for LockError {}

/// The board's locks, as [`Scoreboard::locks`](crate::Scoreboard::locks) lends them.
#[derive(Clone, Copy)]
pub struct Locks<'a> {
    pub(crate) slots: &'a [LockSlot],
}

impl fmt::Debug for Locks<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Locks")
            .field("count", &self.slots.len())
            .finish()
    }
}

impl Locks<'_> {
    /// How many locks there are (numbered from 0).
    pub fn count(&self) -> usize {
        self.slots.len()
    }

    fn slot(&self, n: usize) -> Result<&LockSlot, LockError> {
        self.slots.get(n).ok_or(LockError::NoSuchLock(n))
    }

    /// Takes lock `n`, waiting as long as another thread or process holds it. A lock whose
    /// holder died is taken over (see the module doc); `Ok(true)` says so.
    pub fn lock(&self, n: usize) -> Result<bool, LockError> {
        // SAFETY: the mutex was initialized by `LockSlot::init` and lives with the mapping.
        unsafe { robust::lock(self.slot(n)?.mutex.get()) }.map_err(os_error)
    }

    /// Gives lock `n` back; an error when this thread does not hold it.
    pub fn unlock(&self, n: usize) -> Result<(), LockError> {
        // SAFETY: the mutex was initialized by `LockSlot::init` and lives with the mapping.
        match unsafe { robust::unlock(self.slot(n)?.mutex.get()) } {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => Err(LockError::NotHeld(n)),
            Err(e) => Err(os_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Layout, Scoreboard};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::LockError;

    #[test]
    fn a_lock_makes_read_modify_write_exact_across_threads() {
        let board = Arc::new(Scoreboard::create(Layout::new(1, 1, 0).with_locks(2)).unwrap());
        assert_eq!(board.locks().count(), 2);
        let value = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (board, value) = (board.clone(), value.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        board.locks().lock(1).unwrap();
                        let v = value.load(Ordering::Relaxed);
                        std::thread::yield_now();
                        value.store(v + 1, Ordering::Relaxed);
                        board.locks().unlock(1).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(value.load(Ordering::Relaxed), 200);
        assert_eq!(board.locks().lock(2), Err(LockError::NoSuchLock(2)));
        assert_eq!(board.locks().unlock(0), Err(LockError::NotHeld(0)));
    }

    #[test]
    fn a_lock_held_by_a_dead_process_is_recovered() {
        let board = Scoreboard::create(Layout::new(1, 1, 0)).unwrap();
        // SAFETY: the child only takes the lock and exits (no allocation, no other lock).
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let _ = board.locks().lock(0);
                // SAFETY: _exit is always safe to call.
                unsafe { libc::_exit(0) };
            }
            nix::unistd::ForkResult::Parent { child } => {
                nix::sys::wait::waitpid(child, None).unwrap();
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let board = Arc::new(board);
        let b = board.clone();
        std::thread::spawn(move || tx.send(b.locks().lock(0)).unwrap());
        let got = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("not held for ever");
        assert_eq!(got, Ok(true), "taken over from the dead holder");
    }
}
