//! The scoreboard: a header, the process slots and their thread slots, in one shared
//! `memfd` mapping.
//!
//! ```text
//! | Header | ProcessSlot × process_slots | ThreadSlot × threads (slot 0) | … (slot n-1) |
//! | signal table (256 words) | TimerSlot × TIMER_SLOTS | SignalBox × process_slots |
//! | LockSlot × locks |
//! ```
//!
//! The signal table, timers and boxes are the signal framework's (`signals.rs`); the locks
//! are uWSGI's user locks (`locks.rs`).
//!
//! Every part is a whole number of 64-byte cache lines and the mapping is page-aligned, so
//! every slot is cache-line aligned. Every field is an atomic and every bit pattern is a
//! valid atomic, so references into the mapping are sound whatever another process wrote.

use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::slice;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::now_micros;
use crate::error::{Error, ErrorKind};
use crate::layout::{Header, Layout};
use crate::locks::{LockSlot, Locks};
use crate::mapping::Mapping;
use crate::process_slot::{ProcessIndex, ProcessKind, ProcessSlot, RESERVED};
use crate::signals::{SignalBox, Signals, TimerSlot, SIGNALS, TIMER_SLOTS};
use crate::thread_slot::ThreadSlot;

const MAGIC: u64 = 0x7275_7773_6769_5342; // "ruwsgiSB"
/// Bumped whenever the memory layout of the board changes, so a re-exec'd master of another
/// build maps a new board instead of misreading an old one. Version 1 had a slot per worker
/// id; version 3 counts each process's connections; version 4 records reloads asked for;
/// version 5 adds harakiri's words to the thread slots; version 6 sums each process's
/// request time and counts its requests by duration; version 7 adds the signal table, the
/// timer table and the signal boxes; version 8 the user locks (and a second header line).
const VERSION: u64 = 9;

/// The shared scoreboard. The master creates it before forking (every forked process sees
/// the same memory) and may pass it on to the program it re-execs.
///
/// `Send + Sync`: the mapping is only read and written through atomics.
#[derive(Debug)]
pub struct Scoreboard {
    map: Mapping,
    layout: Layout,
}

// SAFETY: the mapping is owned by the value and only accessed through atomics.
unsafe impl Send for Scoreboard {}
// SAFETY: shared references only hand out `&` to atomics in the mapping.
unsafe impl Sync for Scoreboard {}

impl Scoreboard {
    /// Maps a new, empty board for `layout` (close-on-exec until
    /// [`Scoreboard::keep_across_exec`]).
    pub fn create(layout: Layout) -> Result<Scoreboard, Error> {
        let board = Scoreboard {
            map: Mapping::create(c"ruwsgi-scoreboard", layout.len())?,
            layout,
        };
        let header = board.header();
        header.version.store(VERSION, Ordering::Relaxed);
        header
            .processes
            .store(layout.processes() as u64, Ordering::Relaxed);
        header
            .threads
            .store(layout.threads() as u64, Ordering::Relaxed);
        header.extra.store(layout.extra() as u64, Ordering::Relaxed);
        header.locks.store(layout.locks() as u64, Ordering::Relaxed);
        header.len.store(layout.len() as u64, Ordering::Relaxed);
        for lock in board.lock_slots() {
            lock.init()
                .map_err(|e| Error::os(ErrorKind::InitLock, std::io::Error::other(e)))?;
        }
        header.magic.store(MAGIC, Ordering::Release);
        Ok(board)
    }

    /// Maps the board an earlier master passed on across `exec`, if it holds `wanted`'s
    /// layout: an [`ErrorKind::Layout`] error says a reload changed `processes` or
    /// `threads` (or the mules and spoolers), and the caller maps a new board with
    /// [`Scoreboard::create`]. The fd is made close-on-exec again, so commands the new
    /// master runs do not inherit it.
    pub fn from_fd(fd: OwnedFd, wanted: Layout) -> Result<Scoreboard, Error> {
        let map = Mapping::open(fd)?;
        if map.len() < mem::size_of::<Header>() {
            return Err(Error::new(ErrorKind::NotABoard));
        }
        // SAFETY: the mapping is at least one header long (checked above), page-aligned,
        // and any bytes are valid atomics; the reference lives no longer than `map`.
        let header = unsafe { map.base().cast::<Header>().as_ref() };
        let load = |word: &AtomicU64| word.load(Ordering::Relaxed);
        if header.magic.load(Ordering::Acquire) != MAGIC || load(&header.version) != VERSION {
            return Err(Error::new(ErrorKind::NotABoard));
        }
        let found = Layout {
            processes: load(&header.processes) as usize,
            threads: load(&header.threads) as usize,
            extra: load(&header.extra) as usize,
            locks: load(&header.locks) as usize,
        };
        if found != wanted {
            return Err(Error::new(ErrorKind::Layout { found, wanted }));
        }
        if load(&header.len) != map.len() as u64 || found.len() != map.len() {
            return Err(Error::new(ErrorKind::NotABoard));
        }
        map.set_close_on_exec(true)?;
        Ok(Scoreboard { map, layout: found })
    }

    /// What the board is sized for.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The `memfd` behind the board (to pass it across a re-exec).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.map.fd()
    }

    /// Clears `FD_CLOEXEC` on the board's `memfd` so the program the master is about to
    /// `exec` inherits it, and returns its number (to tell that program, which adopts it
    /// with [`Scoreboard::from_fd`]).
    pub fn keep_across_exec(&self) -> Result<RawFd, Error> {
        self.map.set_close_on_exec(false)?;
        Ok(self.map.fd().as_raw_fd())
    }

    /// The newest generation the master started (0 until the first
    /// [`Scoreboard::next_generation`]). Kept in the board, so a re-exec'd master continues
    /// the count.
    pub fn generation(&self) -> u64 {
        self.header().generation.load(Ordering::Acquire)
    }

    /// Starts a new generation (a reload) and returns its number.
    pub fn next_generation(&self) -> u64 {
        self.header().generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Records that a process saw a change made at `changed_at` (any clock that only moves
    /// forward, such as a file's mtime in microseconds) and wants a reload for it: true the
    /// first time a change that recent is asked for, false when one as recent or newer was
    /// asked already. Several workers that see the same change (py-autoreload) thus ask the
    /// master once; a later change asks again.
    pub fn ask_reload(&self, changed_at: u64) -> bool {
        self.header()
            .reload_asked
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |asked| {
                (changed_at > asked).then_some(changed_at)
            })
            .is_ok()
    }

    /// The master reopened or rotated the log file: every process's log writer reopens it
    /// too when it sees the count change ([`Scoreboard::log_epoch`]).
    pub fn log_reopened(&self) {
        self.header().log_epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// How many times the log file was reopened or rotated.
    pub fn log_epoch(&self) -> u64 {
        self.header().log_epoch.load(Ordering::Acquire)
    }

    /// Every process slot, free or not, in board order.
    pub fn slots(&self) -> &[ProcessSlot] {
        let count = self.layout.process_slots();
        // SAFETY: `count` process slots follow the header inside the mapping (its length
        // is `layout.len()`, checked at `create`/`from_fd`), cache-line aligned, any bytes
        // valid atomics; the slice lives no longer than `self`.
        unsafe {
            slice::from_raw_parts(
                self.map
                    .base()
                    .add(mem::size_of::<Header>())
                    .cast::<ProcessSlot>()
                    .as_ptr(),
                count,
            )
        }
    }

    /// The process slot at `index`.
    ///
    /// # Panics
    /// If `index` comes from another board with more slots.
    pub fn process(&self, index: ProcessIndex) -> &ProcessSlot {
        &self.slots()[index.0]
    }

    /// The thread slots of the process slot at `index` (`layout().threads()` of them,
    /// indexed by the thread's number from 0).
    ///
    /// # Panics
    /// If `index` comes from another board with more slots.
    pub fn threads_of(&self, index: ProcessIndex) -> &[ThreadSlot] {
        assert!(
            index.0 < self.layout.process_slots(),
            "{index:?} is off the board"
        );
        let threads = self.layout.threads();
        let offset =
            self.layout.threads_offset() + index.0 * threads * mem::size_of::<ThreadSlot>();
        // SAFETY: `threads` thread slots at `offset` lie inside the mapping (index checked
        // above, length `layout.len()`), cache-line aligned, any bytes valid atomics; the
        // slice lives no longer than `self`.
        unsafe {
            slice::from_raw_parts(
                self.map.base().add(offset).cast::<ThreadSlot>().as_ptr(),
                threads,
            )
        }
    }

    /// The slots that hold a process (reserved ones included), with their index: what
    /// stats list.
    pub fn live(&self) -> impl Iterator<Item = (ProcessIndex, &ProcessSlot)> {
        self.slots()
            .iter()
            .enumerate()
            .filter(|(_, slot)| !slot.is_free())
            .map(|(i, slot)| (ProcessIndex(i), slot))
    }

    /// The slot that holds `pid`.
    pub fn find_pid(&self, pid: u32) -> Option<ProcessIndex> {
        if pid == 0 || pid == RESERVED {
            return None;
        }
        self.slots()
            .iter()
            .position(|slot| slot.holds(pid))
            .map(ProcessIndex)
    }

    /// The slot of the `kind` process with `worker_id` in `generation` (the one that
    /// replaced worker `worker_id` after a respawn, for example).
    pub fn find(
        &self,
        kind: ProcessKind,
        worker_id: usize,
        generation: u64,
    ) -> Option<ProcessIndex> {
        self.live()
            .find(|(_, slot)| {
                slot.kind() == Some(kind)
                    && slot.worker_id() == worker_id
                    && slot.generation() == generation
            })
            .map(|(index, _)| index)
    }

    /// Takes a free slot for the process `pid` just forked (the master calls it right
    /// after `fork`): identity set, counters zeroed, status
    /// [`Starting`](crate::ProcessStatus::Starting). Two claims, from any threads or
    /// processes, never take one slot.
    ///
    /// `respawns` and `harakiri_count` start at 0: they count per worker id across its
    /// processes, so the master keeps them and stores them into the new slot.
    ///
    /// A child that must know its slot before its parent returns from `fork` uses
    /// [`Scoreboard::reserve`] before the fork instead.
    ///
    /// # Panics
    /// If `pid` is 0 or `u32::MAX` (not a process).
    pub fn claim(
        &self,
        pid: u32,
        worker_id: usize,
        kind: ProcessKind,
        generation: u64,
    ) -> Result<ProcessIndex, Error> {
        assert!(pid != 0 && pid != RESERVED, "{pid} is not a pid");
        let index = self.reserve(worker_id, kind, generation)?;
        let filled = self.set_pid(index, pid);
        debug_assert!(filled, "a slot just reserved is reserved");
        Ok(index)
    }

    /// Takes a free slot for a process about to be forked, so the child inherits the index
    /// and writes its slot from its first instruction; the parent then gives the slot its
    /// pid with [`Scoreboard::set_pid`] (or frees it with [`Scoreboard::release_slot`] if
    /// `fork` failed). Until then the slot is live with no pid.
    pub fn reserve(
        &self,
        worker_id: usize,
        kind: ProcessKind,
        generation: u64,
    ) -> Result<ProcessIndex, Error> {
        let now = now_micros();
        for (i, slot) in self.slots().iter().enumerate() {
            if slot.try_take() {
                slot.fill(worker_id, kind, generation, now);
                return Ok(ProcessIndex(i));
            }
        }
        Err(Error::new(ErrorKind::Full))
    }

    /// Gives the reserved slot at `index` the pid of its now forked process; false (and no
    /// change) if the slot was not reserved.
    ///
    /// # Panics
    /// If `pid` is 0 or `u32::MAX` (not a process).
    pub fn set_pid(&self, index: ProcessIndex, pid: u32) -> bool {
        assert!(pid != 0 && pid != RESERVED, "{pid} is not a pid");
        self.process(index).set_pid(pid)
    }

    /// Frees the slot of `pid` (the master calls it when it reaps `pid`): the slot and its
    /// thread slots are zeroed. Returns where it was.
    pub fn release(&self, pid: u32) -> Option<ProcessIndex> {
        let index = self.find_pid(pid)?;
        self.release_slot(index);
        Some(index)
    }

    /// Frees the slot at `index`, reserved or not; its process must be gone (reaped, or
    /// never forked).
    pub fn release_slot(&self, index: ProcessIndex) {
        for thread in self.threads_of(index) {
            thread.clear();
        }
        self.signals().clear_box(index);
        // Last, so the slot is free only once its threads are zeroed.
        self.process(index).clear();
    }

    /// uWSGI's user locks on this board (`locks.rs`).
    pub fn locks(&self) -> Locks<'_> {
        Locks {
            slots: self.lock_slots(),
        }
    }

    fn lock_slots(&self) -> &[LockSlot] {
        // SAFETY: `locks` lock slots at `locks_offset` lie inside the mapping (its length is
        // `layout.len()`), cache-line aligned; they were initialized by `create` before the
        // board was shared; the slice lives no longer than `self`.
        unsafe {
            slice::from_raw_parts(
                self.map
                    .base()
                    .add(self.layout.locks_offset())
                    .cast::<LockSlot>()
                    .as_ptr(),
                self.layout.locks(),
            )
        }
    }

    /// uWSGI's signal framework on this board: the signal table, the timer table and the
    /// signal boxes (`signals.rs`).
    pub fn signals(&self) -> Signals<'_> {
        let layout = &self.layout;
        let base = self.map.base();
        // SAFETY: each part lies inside the mapping at its offset (its length is
        // `layout.len()`, checked at `create`/`from_fd`), aligned for its type (words at
        // 8-byte offsets, the rest at cache-line offsets), any bytes valid atomics; the
        // slices live no longer than `self`.
        unsafe {
            Signals {
                table: slice::from_raw_parts(
                    base.add(layout.signals_offset())
                        .cast::<AtomicU64>()
                        .as_ptr(),
                    SIGNALS,
                ),
                timer_slots: slice::from_raw_parts(
                    base.add(layout.timers_offset())
                        .cast::<TimerSlot>()
                        .as_ptr(),
                    TIMER_SLOTS,
                ),
                boxes: slice::from_raw_parts(
                    base.add(layout.boxes_offset()).cast::<SignalBox>().as_ptr(),
                    layout.process_slots(),
                ),
                processes: self.slots(),
            }
        }
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping starts with a Header (its length was checked at
        // `create`/`from_fd`), page-aligned, any bytes valid atomics; the reference lives
        // no longer than `self`.
        unsafe { self.map.base().cast::<Header>().as_ref() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProcessStatus;
    use std::collections::HashSet;
    use std::sync::Arc;

    fn board(processes: usize, threads: usize, extra: usize) -> Scoreboard {
        Scoreboard::create(Layout::new(processes, threads, extra)).unwrap()
    }

    #[test]
    fn a_change_asks_for_one_reload() {
        let board = board(2, 1, 0);
        assert!(board.ask_reload(100), "the first worker that sees it");
        assert!(!board.ask_reload(100), "another worker, the same change");
        assert!(!board.ask_reload(90), "an older change");
        assert!(board.ask_reload(101), "a later change");
        assert_eq!(
            mem::size_of::<Header>(),
            128,
            "the header is two cache lines"
        );
    }

    #[test]
    fn slots_are_cache_line_aligned_and_inside_the_mapping() {
        let board = board(3, 2, 1);
        assert_eq!(board.slots().len(), 7);
        let end = board.map.base().as_ptr() as usize + board.map.len();
        for (i, slot) in board.slots().iter().enumerate() {
            assert_eq!(slot as *const ProcessSlot as usize % 64, 0);
            let threads = board.threads_of(ProcessIndex(i));
            assert_eq!(threads.len(), 2);
            for thread in threads {
                let at = thread as *const ThreadSlot as usize;
                assert_eq!(at % 64, 0);
                assert!(at + mem::size_of::<ThreadSlot>() <= end);
            }
        }
        let last = board.threads_of(ProcessIndex(6));
        let after_last = last.as_ptr_range().end as usize;
        let signals = board.signals();
        let table = signals.table.as_ptr_range();
        assert_eq!(after_last, table.start as usize, "the signal table follows");
        let timers = signals.timer_slots.as_ptr_range();
        assert_eq!(timers.start as usize, table.end as usize, "then the timers");
        let boxes = signals.boxes.as_ptr_range();
        assert_eq!(
            boxes.start as usize, timers.end as usize,
            "then the signal boxes"
        );
        assert_eq!(signals.boxes.len(), 7);
        assert_eq!(boxes.start as usize % 64, 0);
        let locks = board.lock_slots().as_ptr_range();
        assert_eq!(locks.start as usize, boxes.end as usize, "then the locks");
        assert_eq!(locks.end as usize, end, "the locks end the board");
    }

    #[test]
    fn claim_release_and_refill_across_generations() {
        let board = board(2, 1, 1);
        assert_eq!(board.next_generation(), 1);
        let old: Vec<_> = (1..=2)
            .map(|id| {
                board
                    .claim(100 + id as u32, id, ProcessKind::Worker, 1)
                    .unwrap()
            })
            .collect();
        let mule = board.claim(200, 1, ProcessKind::Mule, 0).unwrap();
        // A reload: the new generation is spawned while the old one still runs.
        assert_eq!(board.next_generation(), 2);
        let new: Vec<_> = (1..=2)
            .map(|id| {
                board
                    .claim(300 + id as u32, id, ProcessKind::Worker, 2)
                    .unwrap()
            })
            .collect();
        assert_eq!(board.live().count(), 5);
        assert_eq!(
            board
                .claim(999, 3, ProcessKind::Worker, 2)
                .unwrap_err()
                .kind(),
            ErrorKind::Full
        );
        assert_eq!(board.find(ProcessKind::Worker, 2, 1), Some(old[1]));
        assert_eq!(board.find(ProcessKind::Worker, 2, 2), Some(new[1]));
        assert_eq!(board.find_pid(200), Some(mule));

        // The old generation is reaped: its slots are free and zeroed, threads included.
        board.threads_of(old[0])[0].request_started(5, 0, b"GET", b"/slow");
        board.process(old[0]).requests.store(9, Ordering::Relaxed);
        for pid in [101, 102] {
            assert!(board.release(pid).is_some());
        }
        assert_eq!(board.release(101), None, "released once");
        assert!(board.process(old[0]).is_free());
        assert_eq!(board.process(old[0]).status(), ProcessStatus::Empty);
        assert!(board.threads_of(old[0])[0].snapshot().is_none());
        assert_eq!(board.find(ProcessKind::Worker, 1, 1), None);

        // A respawn takes a freed slot, zeroed but for what the claim sets.
        let again = board.claim(401, 1, ProcessKind::Worker, 2).unwrap();
        assert_eq!(again, old[0]);
        let slot = board.process(again);
        assert_eq!(slot.pid(), Some(401));
        assert_eq!(slot.requests.load(Ordering::Relaxed), 0);
        assert_eq!(slot.status(), ProcessStatus::Starting);
        assert_eq!((slot.worker_id(), slot.generation()), (1, 2));
        assert_eq!(board.live().count(), 4);
    }

    #[test]
    fn a_reserved_slot_gets_its_pid_after_the_fork() {
        let board = board(1, 1, 0);
        let index = board.reserve(1, ProcessKind::Worker, 0).unwrap();
        assert_eq!(board.process(index).pid(), None);
        assert_eq!(board.live().count(), 1, "a reserved slot is taken");
        assert!(board.set_pid(index, 77));
        assert!(!board.set_pid(index, 78), "the pid is set once");
        assert_eq!(board.find_pid(77), Some(index));
        // A fork that failed gives its reservation back.
        let failed = board.reserve(1, ProcessKind::Worker, 1).unwrap();
        board.release_slot(failed);
        assert!(board.process(failed).is_free());
    }

    #[test]
    fn concurrent_claimers_never_share_a_slot() {
        let board = Arc::new(board(8, 1, 4)); // 20 slots
        let claimers: Vec<_> = (0..4u32)
            .map(|t| {
                let board = board.clone();
                std::thread::spawn(move || {
                    (0..10u32)
                        .filter_map(|i| {
                            let pid = 1 + t * 100 + i;
                            board.claim(pid, i as usize, ProcessKind::Worker, 0).ok()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let taken: Vec<_> = claimers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        assert_eq!(taken.len(), 20, "40 claims for 20 slots: 20 succeed");
        let distinct: HashSet<_> = taken.iter().collect();
        assert_eq!(distinct.len(), 20, "no slot taken twice");
        let pids: HashSet<_> = board.slots().iter().map(|s| s.pid().unwrap()).collect();
        assert_eq!(pids.len(), 20, "each slot holds the pid that took it");
    }

    #[test]
    fn a_forked_child_writes_what_the_parent_reads() {
        use nix::sys::wait::{waitpid, WaitStatus};
        use nix::unistd::{fork, ForkResult};

        let board = board(2, 2, 0);
        let index = board.reserve(2, ProcessKind::Worker, 0).unwrap();
        // SAFETY: the child only stores to atomics of the shared mapping and calls `_exit`,
        // which is all a child of a multi-threaded test binary may do.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let slot = board.process(index);
                slot.set_status(crate::ProcessStatus::Ready);
                slot.request_finished(42, true, 1);
                board.threads_of(index)[1].request_started(now_micros(), 0, b"POST", b"/upload");
                // SAFETY: `_exit` ends the child at once, skipping the parent's destructors.
                unsafe { libc::_exit(0) };
            }
            ForkResult::Parent { child } => {
                assert!(board.set_pid(index, child.as_raw() as u32));
                let status = waitpid(child, None).unwrap();
                assert_eq!(status, WaitStatus::Exited(child, 0));
                let slot = board.process(index);
                assert_eq!(slot.status(), crate::ProcessStatus::Ready);
                assert_eq!(slot.requests.load(Ordering::Relaxed), 1);
                assert_eq!(slot.bytes_out.load(Ordering::Relaxed), 42);
                assert_eq!(slot.exceptions.load(Ordering::Relaxed), 1);
                let running = board.threads_of(index)[1].snapshot().unwrap();
                assert_eq!(
                    (running.method(), running.uri()),
                    (&b"POST"[..], &b"/upload"[..])
                );
                assert!(board.threads_of(index)[0].snapshot().is_none());
                assert_eq!(board.release(child.as_raw() as u32), Some(index));
            }
        }
    }

    #[test]
    fn from_fd_maps_the_same_memory() {
        let layout = Layout::new(2, 3, 1);
        let board = Scoreboard::create(layout).unwrap();
        board.next_generation();
        let index = board.claim(4242, 2, ProcessKind::Spooler, 1).unwrap();
        let fd = board.fd().try_clone_to_owned().unwrap();
        let adopted = Scoreboard::from_fd(fd, layout).unwrap();
        assert_eq!(adopted.layout(), layout);
        assert_eq!(adopted.generation(), 1);
        assert_eq!(adopted.find_pid(4242), Some(index));
        assert_eq!(adopted.process(index).kind(), Some(ProcessKind::Spooler));
        // Writes through one mapping show through the other.
        adopted.threads_of(index)[2].request_started(3, 0, b"GET", b"/shared");
        let running = board.threads_of(index)[2].snapshot().unwrap();
        assert_eq!(running.uri(), b"/shared");
        drop(board);
        assert_eq!(adopted.release(4242), Some(index));
    }

    #[test]
    fn from_fd_refuses_another_layout_and_other_files() {
        let board = board(2, 1, 0);
        let fd = board.fd().try_clone_to_owned().unwrap();
        let err = Scoreboard::from_fd(fd, Layout::new(4, 1, 0)).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Layout {
                found: Layout::new(2, 1, 0),
                wanted: Layout::new(4, 1, 0)
            }
        );
        assert!(err.to_string().contains("map a new one"), "{err}");

        let file = tempfile::tempfile().unwrap();
        file.set_len(4096).unwrap();
        let err = Scoreboard::from_fd(file.into(), Layout::new(2, 1, 0)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotABoard);
        let empty = tempfile::tempfile().unwrap();
        let err = Scoreboard::from_fd(empty.into(), Layout::new(2, 1, 0)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotABoard);
    }

    #[test]
    fn the_memfd_can_be_kept_across_exec() {
        use nix::fcntl::{fcntl, FcntlArg, FdFlag};
        use std::process::Command;

        let board = board(1, 1, 0);
        let raw = board.fd().as_raw_fd();
        let child_has_fd = || {
            Command::new("sh")
                .arg("-c")
                .arg(format!("[ -e /proc/$$/fd/{raw} ]"))
                .status()
                .unwrap()
                .success()
        };
        assert!(board.map.closes_on_exec(), "closed on exec by default");
        assert!(!child_has_fd());
        assert_eq!(board.keep_across_exec().unwrap(), raw);
        assert!(!board.map.closes_on_exec());
        assert!(child_has_fd(), "an exec'd program inherits the board");

        // Adopting an inherited fd closes it on exec again (hooks' commands do not get it).
        let fd = board.fd().try_clone_to_owned().unwrap();
        fcntl(&fd, FcntlArg::F_SETFD(FdFlag::empty())).unwrap();
        let adopted = Scoreboard::from_fd(fd, board.layout()).unwrap();
        assert!(adopted.map.closes_on_exec());
    }
}
