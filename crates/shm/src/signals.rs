//! uWSGI's signal framework in shared memory (`uwsgi.register_signal`, `uwsgi.signal`,
//! `add_timer` and their kin): where each of the 256 signals goes, what each process has
//! received and not yet run, and the timers the master raises signals from.
//!
//! Three parts of the board ([`Layout`](crate::Layout) places them after the thread slots),
//! reached through [`Scoreboard::signals`](crate::Scoreboard::signals):
//!
//! - The **signal table**: one word per signal number, its [`SignalTarget`] (0 when nobody
//!   registered it). Any process registers; any process raises.
//! - A **signal box** per process slot: a count per signal number, a bitmap of the numbers
//!   with a count, and a wake word the receiving process waits on with a futex. Raising a
//!   signal ([`Signals::raise`]) bumps the counts of the receivers and wakes them; no pipe, no lock, no master in
//!   between (uWSGI routes through the master's pipes). A process runs a signal once per
//!   raise, on a thread of its own, never inside a Unix signal handler. The box lives as
//!   long as the slot: a signal raised for a worker that is still starting waits there.
//! - The **timer table**: [`TIMER_SLOTS`] timers, cron entries and file monitors
//!   ([`TimerSpec`]) that any process adds and the master runs, raising their signal when
//!   due. An entry equal to a live one is not added twice, so an app imported in every
//!   worker (`lazy-apps`) or again in a respawned one does not multiply its timers.
//!
//! A re-executed master clears the table and the timers ([`Signals::clear`]): its
//! new image imports the app again, which registers them again, as a reloaded uWSGI does.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::process_slot::{ProcessIndex, ProcessKind, ProcessSlot, ProcessStatus};

/// The number of signal numbers (0 to 255, as uWSGI's `uint8_t`).
pub const SIGNALS: usize = 256;
/// How many timers, cron entries and file monitors the timer table holds.
pub const TIMER_SLOTS: usize = 64;
/// The longest path a file monitor keeps, in bytes.
pub const TIMER_PATH_CAPACITY: usize = PATH_WORDS * 8;
const PATH_WORDS: usize = 31;

/// Where a signal goes, in uWSGI's words (`register_signal(num, target, fn)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalTarget {
    /// `""`, `worker`, `worker0`: one worker (the lowest-numbered ready one).
    AnyWorker,
    /// `workers`: every worker.
    Workers,
    /// `active-workers`: every live worker that is not paused (SIGTSTP) or stopping, as in
    /// uWSGI (a worker still starting gets it once it serves).
    ActiveWorkers,
    /// `workerN`: worker N.
    Worker(u16),
    /// `mule`, `mule0`: one mule (the lowest-numbered ready one).
    AnyMule,
    /// `mules`: every mule.
    Mules,
    /// `muleN`: mule N.
    Mule(u16),
    /// `spooler`: one spooler.
    Spooler,
    /// `spoolers`: every spooler.
    Spoolers,
}

impl SignalTarget {
    /// Reads uWSGI's target words; `None` for a target uWSGI does not route (farms and
    /// `subscribed` included: this server has neither).
    pub fn parse(s: &str) -> Option<SignalTarget> {
        let numbered = |prefix: &str| -> Option<u16> {
            let n = s.strip_prefix(prefix)?;
            (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .then(|| n.parse().ok())
                .flatten()
        };
        Some(match s {
            "" | "worker" | "worker0" => SignalTarget::AnyWorker,
            "workers" => SignalTarget::Workers,
            "active-workers" => SignalTarget::ActiveWorkers,
            "mule" | "mule0" => SignalTarget::AnyMule,
            "mules" => SignalTarget::Mules,
            "spooler" => SignalTarget::Spooler,
            "spoolers" => SignalTarget::Spoolers,
            _ => {
                if let Some(n) = numbered("worker") {
                    SignalTarget::Worker(n)
                } else {
                    SignalTarget::Mule(numbered("mule")?)
                }
            }
        })
    }

    /// The kind of process the signal goes to.
    pub fn kind(self) -> ProcessKind {
        match self {
            SignalTarget::AnyWorker
            | SignalTarget::Workers
            | SignalTarget::ActiveWorkers
            | SignalTarget::Worker(_) => ProcessKind::Worker,
            SignalTarget::AnyMule | SignalTarget::Mules | SignalTarget::Mule(_) => {
                ProcessKind::Mule
            }
            SignalTarget::Spooler | SignalTarget::Spoolers => ProcessKind::Spooler,
        }
    }

    /// The table word: a tag in bits 0..8 (never 0), the number in bits 8..24.
    fn encode(self) -> u64 {
        let (tag, n) = match self {
            SignalTarget::AnyWorker => (1, 0),
            SignalTarget::Workers => (2, 0),
            SignalTarget::ActiveWorkers => (3, 0),
            SignalTarget::Worker(n) => (4, n),
            SignalTarget::AnyMule => (5, 0),
            SignalTarget::Mules => (6, 0),
            SignalTarget::Mule(n) => (7, n),
            SignalTarget::Spooler => (8, 0),
            SignalTarget::Spoolers => (9, 0),
        };
        tag | (u64::from(n) << 8)
    }

    fn decode(word: u64) -> Option<SignalTarget> {
        let n = (word >> 8) as u16;
        Some(match word & 0xff {
            1 => SignalTarget::AnyWorker,
            2 => SignalTarget::Workers,
            3 => SignalTarget::ActiveWorkers,
            4 => SignalTarget::Worker(n),
            5 => SignalTarget::AnyMule,
            6 => SignalTarget::Mules,
            7 => SignalTarget::Mule(n),
            8 => SignalTarget::Spooler,
            9 => SignalTarget::Spoolers,
            _ => return None,
        })
    }
}

impl fmt::Display for SignalTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalTarget::AnyWorker => f.write_str("worker"),
            SignalTarget::Workers => f.write_str("workers"),
            SignalTarget::ActiveWorkers => f.write_str("active-workers"),
            SignalTarget::Worker(n) => write!(f, "worker{n}"),
            SignalTarget::AnyMule => f.write_str("mule"),
            SignalTarget::Mules => f.write_str("mules"),
            SignalTarget::Mule(n) => write!(f, "mule{n}"),
            SignalTarget::Spooler => f.write_str("spooler"),
            SignalTarget::Spoolers => f.write_str("spoolers"),
        }
    }
}

/// Why a raised signal reached nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalError {
    /// Nobody registered the signal.
    NotRegistered(u8),
    /// No live process matches its target (no mule configured, worker 7 of 4, ...).
    NoReceiver(u8, SignalTarget),
}

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalError::NotRegistered(n) => write!(f, "signal {n} is not registered"),
            SignalError::NoReceiver(n, target) => {
                write!(f, "signal {n} has no receiver: no live process is {target}")
            }
        }
    }
}

impl std::error::Error for SignalError {}

/// A process slot's signal box (see the module doc). All atomics: any bytes are valid.
#[repr(C, align(64))]
pub(crate) struct SignalBox {
    /// Bumped at every delivery; the receiver waits on it with a futex.
    wake: AtomicU32,
    _line: [AtomicU32; 15],
    /// Bit `n` set: `counts[n]` may be above 0.
    pending: [AtomicU64; 4],
    _line2: [AtomicU64; 4],
    counts: [AtomicU32; SIGNALS],
}

impl SignalBox {
    fn deliver(&self, num: u8) {
        // The count before the bit: a receiver that sees the bit finds the count.
        self.counts[usize::from(num)].fetch_add(1, Ordering::AcqRel);
        self.pending[usize::from(num) / 64].fetch_or(1 << (num % 64), Ordering::AcqRel);
        self.wake.fetch_add(1, Ordering::Release);
        futex_wake(&self.wake);
    }

    fn take(&self) -> Vec<(u8, u32)> {
        let mut out = Vec::new();
        for (w, word) in self.pending.iter().enumerate() {
            let mut bits = word.swap(0, Ordering::AcqRel);
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let num = w * 64 + bit;
                // A delivery between the swap above and this one is counted here and
                // sets its bit again: taken next time with a count of 0, skipped.
                let count = self.counts[num].swap(0, Ordering::AcqRel);
                if count > 0 {
                    out.push((num as u8, count));
                }
            }
        }
        out
    }

    fn clear(&self) {
        for word in &self.pending {
            word.store(0, Ordering::Relaxed);
        }
        for count in &self.counts {
            count.store(0, Ordering::Relaxed);
        }
    }
}

/// A timer-table entry: what to raise, and when (see [`Signals::add_timer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerSpec {
    /// `add_timer(num, secs)`, the `timer` option: every `secs` seconds.
    Timer {
        /// The signal raised.
        signum: u8,
        /// The period, at least 1.
        secs: u64,
    },
    /// `add_rb_timer(num, secs, iterations)`, the `rbtimer` option: every `secs` seconds,
    /// `iterations` times (0: for ever).
    RbTimer {
        /// The signal raised.
        signum: u8,
        /// The period, at least 1.
        secs: u64,
        /// How many times; 0 for ever.
        iterations: u32,
    },
    /// `add_cron(num, minute, hour, day, month, weekday)`: uWSGI's cron fields (-1 any,
    /// -N every N).
    Cron {
        /// The signal raised.
        signum: u8,
        /// minute, hour, day of month, month, day of week.
        fields: [i16; 5],
    },
    /// `add_file_monitor(num, path)`: when the file's modification time or size changes.
    FileMonitor {
        /// The signal raised.
        signum: u8,
        /// The watched path (at most [`TIMER_PATH_CAPACITY`] bytes).
        path: Vec<u8>,
    },
}

impl TimerSpec {
    /// The signal the entry raises.
    pub fn signum(&self) -> u8 {
        match self {
            TimerSpec::Timer { signum, .. }
            | TimerSpec::RbTimer { signum, .. }
            | TimerSpec::Cron { signum, .. }
            | TimerSpec::FileMonitor { signum, .. } => *signum,
        }
    }
}

/// One timer-table entry, five cache lines of atomics.
#[repr(C, align(64))]
pub(crate) struct TimerSlot {
    /// [`FREE`], [`WRITING`] or [`LIVE`].
    state: AtomicU64,
    /// Tag in bits 0..8, signal in bits 8..16, iterations in bits 32..64.
    what: AtomicU64,
    /// The period of a timer; a cron entry's weekday.
    secs: AtomicU64,
    /// A cron entry's minute, hour, day and month, 16 bits each.
    cron: AtomicU64,
    path_len: AtomicU64,
    path: [AtomicU64; PATH_WORDS],
}

const FREE: u64 = 0;
const WRITING: u64 = 1;
const LIVE: u64 = 2;

impl TimerSlot {
    fn write(&self, spec: &TimerSpec) {
        let (tag, iterations) = match spec {
            TimerSpec::Timer { .. } => (1, 0),
            TimerSpec::RbTimer { iterations, .. } => (2, *iterations),
            TimerSpec::Cron { .. } => (3, 0),
            TimerSpec::FileMonitor { .. } => (4, 0),
        };
        let what = tag | (u64::from(spec.signum()) << 8) | (u64::from(iterations) << 32);
        self.what.store(what, Ordering::Relaxed);
        match spec {
            TimerSpec::Timer { secs, .. } | TimerSpec::RbTimer { secs, .. } => {
                self.secs.store(*secs, Ordering::Relaxed)
            }
            TimerSpec::Cron { fields, .. } => {
                let packed = fields[..4]
                    .iter()
                    .enumerate()
                    .fold(0u64, |acc, (i, &f)| acc | (u64::from(f as u16) << (16 * i)));
                self.cron.store(packed, Ordering::Relaxed);
                self.secs
                    .store(u64::from(fields[4] as u16), Ordering::Relaxed);
            }
            TimerSpec::FileMonitor { path, .. } => {
                self.path_len.store(path.len() as u64, Ordering::Relaxed);
                for (word, chunk) in self.path.iter().zip(path.chunks(8)) {
                    let mut bytes = [0u8; 8];
                    bytes[..chunk.len()].copy_from_slice(chunk);
                    word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
                }
            }
        }
    }

    fn read(&self) -> Option<TimerSpec> {
        let what = self.what.load(Ordering::Relaxed);
        let signum = (what >> 8) as u8;
        let secs = self.secs.load(Ordering::Relaxed);
        Some(match what & 0xff {
            1 => TimerSpec::Timer { signum, secs },
            2 => TimerSpec::RbTimer {
                signum,
                secs,
                iterations: (what >> 32) as u32,
            },
            3 => {
                let cron = self.cron.load(Ordering::Relaxed);
                let field = |i: u32| (cron >> (16 * i)) as u16 as i16;
                TimerSpec::Cron {
                    signum,
                    fields: [field(0), field(1), field(2), field(3), secs as u16 as i16],
                }
            }
            4 => {
                let len = (self.path_len.load(Ordering::Relaxed) as usize).min(TIMER_PATH_CAPACITY);
                let mut path: Vec<u8> = self
                    .path
                    .iter()
                    .flat_map(|w| w.load(Ordering::Relaxed).to_le_bytes())
                    .collect();
                path.truncate(len);
                TimerSpec::FileMonitor { signum, path }
            }
            _ => return None,
        })
    }

    fn clear(&self) {
        self.state.store(FREE, Ordering::Release);
    }
}

/// Why a timer-table entry was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerError {
    /// Every entry is taken.
    Full,
    /// A timer period of 0 seconds.
    ZeroPeriod,
    /// A file monitor's path is longer than [`TIMER_PATH_CAPACITY`].
    PathTooLong,
}

impl fmt::Display for TimerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimerError::Full => write!(f, "all {TIMER_SLOTS} timer entries are taken"),
            TimerError::ZeroPeriod => f.write_str("a timer needs a period of at least 1 second"),
            TimerError::PathTooLong => write!(
                f,
                "a monitored path may be at most {TIMER_PATH_CAPACITY} bytes long"
            ),
        }
    }
}

impl std::error::Error for TimerError {}

/// The signal framework's parts of a board (see the module doc), as
/// [`Scoreboard::signals`](crate::Scoreboard::signals) lends them.
#[derive(Clone, Copy)]
pub struct Signals<'a> {
    pub(crate) table: &'a [AtomicU64],
    pub(crate) timer_slots: &'a [TimerSlot],
    pub(crate) boxes: &'a [SignalBox],
    pub(crate) processes: &'a [ProcessSlot],
}

impl fmt::Debug for Signals<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registered = self.table.iter().filter(|w| w.load(Ordering::Relaxed) != 0);
        f.debug_struct("Signals")
            .field("registered", &registered.count())
            .field("process_slots", &self.boxes.len())
            .finish_non_exhaustive()
    }
}

impl Signals<'_> {
    /// Records where signal `num` goes (`uwsgi.register_signal`); a later registration
    /// replaces it.
    pub fn register(&self, num: u8, target: SignalTarget) {
        self.table[usize::from(num)].store(target.encode(), Ordering::Release);
    }

    /// Where signal `num` goes, if anyone registered it (`uwsgi.signal_registered`).
    pub fn target(&self, num: u8) -> Option<SignalTarget> {
        SignalTarget::decode(self.table[usize::from(num)].load(Ordering::Acquire))
    }

    /// Raises signal `num`: puts it in the box of each process its target names and wakes
    /// them. Returns how many processes got it.
    ///
    /// Receivers are the live processes of the target's kind that are not stopping, the
    /// newest generation's one for each id (during a reload the new workers, even while
    /// they start: the signal waits in their box). "One of them" targets pick the
    /// lowest-numbered ready one, or the lowest-numbered one when none is ready yet.
    pub fn raise(&self, num: u8) -> Result<usize, SignalError> {
        let target = self.target(num).ok_or(SignalError::NotRegistered(num))?;
        let receivers = self.signal_receivers(target);
        if receivers.is_empty() {
            return Err(SignalError::NoReceiver(num, target));
        }
        for &index in &receivers {
            self.boxes[index.0].deliver(num);
        }
        Ok(receivers.len())
    }

    fn signal_receivers(&self, target: SignalTarget) -> Vec<ProcessIndex> {
        // (id, index, generation, status), the newest generation per id, by id.
        let mut newest: Vec<(usize, ProcessIndex, u64, ProcessStatus)> = Vec::new();
        let live = self.processes.iter().enumerate();
        for (index, slot) in live.filter(|(_, slot)| !slot.is_free()) {
            let index = ProcessIndex(index);
            let status = slot.status();
            if slot.kind() != Some(target.kind()) || status == ProcessStatus::Stopping {
                continue;
            }
            let (id, generation) = (slot.worker_id(), slot.generation());
            match newest.iter_mut().find(|e| e.0 == id) {
                Some(e) if e.2 >= generation => {}
                Some(e) => *e = (id, index, generation, status),
                None => newest.push((id, index, generation, status)),
            }
        }
        newest.sort_by_key(|e| e.0);
        let ready = |e: &&(usize, ProcessIndex, u64, ProcessStatus)| e.3 == ProcessStatus::Ready;
        let picked: Vec<_> = match target {
            SignalTarget::AnyWorker | SignalTarget::AnyMule | SignalTarget::Spooler => newest
                .iter()
                .find(ready)
                .or(newest.first())
                .into_iter()
                .collect(),
            SignalTarget::Workers | SignalTarget::Mules | SignalTarget::Spoolers => {
                newest.iter().collect()
            }
            SignalTarget::ActiveWorkers => newest
                .iter()
                .filter(|e| e.3 != ProcessStatus::Paused)
                .collect(),
            SignalTarget::Worker(n) | SignalTarget::Mule(n) => {
                newest.iter().filter(|e| e.0 == usize::from(n)).collect()
            }
        };
        picked.into_iter().map(|e| e.1).collect()
    }

    /// A number that changes whenever a signal reaches the box of `index`: read it, take
    /// the signals ([`Signals::take`]), then wait with it
    /// ([`Signals::wait`]), and no signal is missed.
    pub fn seq(&self, index: ProcessIndex) -> u32 {
        self.boxes[index.0].wake.load(Ordering::Acquire)
    }

    /// Takes the signals that reached the box of `index`: each number with how many times
    /// it was raised since the last take, by number.
    pub fn take(&self, index: ProcessIndex) -> Vec<(u8, u32)> {
        self.boxes[index.0].take()
    }

    /// Blocks the calling thread until a signal reaches the box of `index` after `seen`
    /// was read ([`Signals::seq`]), or `timeout` passes.
    pub fn wait(&self, index: ProcessIndex, seen: u32, timeout: Duration) {
        futex_wait(&self.boxes[index.0].wake, seen, timeout);
    }

    /// Wakes every live process of `kind` that waits on its box, with no signal (a spooler
    /// told that a job was queued).
    pub fn wake_kind(&self, kind: ProcessKind) {
        let live = self.processes.iter().zip(self.boxes);
        for (_, signal_box) in live.filter(|(slot, _)| !slot.is_free() && slot.kind() == Some(kind))
        {
            signal_box.wake.fetch_add(1, Ordering::Release);
            futex_wake(&signal_box.wake);
        }
    }

    /// Adds a timer, cron entry or file monitor for the master to run. `Ok(false)` when an
    /// equal entry is there already (see the module doc).
    pub fn add_timer(&self, spec: &TimerSpec) -> Result<bool, TimerError> {
        match spec {
            TimerSpec::Timer { secs: 0, .. } | TimerSpec::RbTimer { secs: 0, .. } => {
                return Err(TimerError::ZeroPeriod)
            }
            TimerSpec::FileMonitor { path, .. } if path.len() > TIMER_PATH_CAPACITY => {
                return Err(TimerError::PathTooLong)
            }
            _ => {}
        }
        if self.timers().iter().any(|(_, live)| live == spec) {
            return Ok(false);
        }
        for slot in self.timer_slots {
            if slot
                .state
                .compare_exchange(FREE, WRITING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                slot.write(spec);
                slot.state.store(LIVE, Ordering::Release);
                return Ok(true);
            }
        }
        Err(TimerError::Full)
    }

    /// The timer-table entries, with their place (stable for the entry's life).
    pub fn timers(&self) -> Vec<(usize, TimerSpec)> {
        self.timer_slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.state.load(Ordering::Acquire) == LIVE)
            .filter_map(|(i, slot)| slot.read().map(|spec| (i, spec)))
            .collect()
    }

    /// Forgets every registered signal and every timer (a re-executed master, before its
    /// image imports the app again).
    pub fn clear(&self) {
        for word in self.table {
            word.store(0, Ordering::Relaxed);
        }
        for slot in self.timer_slots {
            slot.clear();
        }
    }

    /// Empties the signal box of a slot being freed.
    pub(crate) fn clear_box(&self, index: ProcessIndex) {
        self.boxes[index.0].clear();
    }
}

/// Wakes every thread waiting on `word` in any process (a shared, not private, futex).
fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE reads no memory but the word's address, valid for the call.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0,
        );
    }
}

/// Sleeps while `word` holds `seen`, at most `timeout` (a shared futex: the waker may be
/// another process). Spurious and early returns are harmless: callers loop.
fn futex_wait(word: &AtomicU32, seen: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: the word and the timespec outlive the call; the kernel reads both.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            seen,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Layout, Scoreboard};
    use std::mem;
    use std::sync::Arc;

    fn board() -> Scoreboard {
        Scoreboard::create(Layout::new(2, 1, 2)).unwrap()
    }

    #[test]
    fn parts_are_whole_cache_lines() {
        assert_eq!(mem::size_of::<SignalBox>() % 64, 0);
        assert_eq!(mem::size_of::<TimerSlot>() % 64, 0);
    }

    #[test]
    fn targets_read_as_uwsgi_writes_them() {
        for (s, t) in [
            ("", SignalTarget::AnyWorker),
            ("worker", SignalTarget::AnyWorker),
            ("worker0", SignalTarget::AnyWorker),
            ("workers", SignalTarget::Workers),
            ("active-workers", SignalTarget::ActiveWorkers),
            ("worker3", SignalTarget::Worker(3)),
            ("mule", SignalTarget::AnyMule),
            ("mule0", SignalTarget::AnyMule),
            ("mules", SignalTarget::Mules),
            ("mule2", SignalTarget::Mule(2)),
            ("spooler", SignalTarget::Spooler),
        ] {
            assert_eq!(SignalTarget::parse(s), Some(t), "{s:?}");
            assert_eq!(SignalTarget::decode(t.encode()), Some(t));
        }
        for bad in [
            "farm1",
            "subscribed",
            "worker-1",
            "workerx",
            "mule 1",
            "Workers",
        ] {
            assert_eq!(SignalTarget::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_signal_reaches_the_boxes_its_target_names_once_per_raise() {
        let board = board();
        let w1 = board.claim(101, 1, ProcessKind::Worker, 0).unwrap();
        let w2 = board.claim(102, 2, ProcessKind::Worker, 0).unwrap();
        let m1 = board.claim(201, 1, ProcessKind::Mule, 0).unwrap();
        board.process(w2).set_status(ProcessStatus::Ready);
        assert_eq!(board.signals().raise(5), Err(SignalError::NotRegistered(5)));
        board.signals().register(5, SignalTarget::AnyWorker);
        board.signals().register(6, SignalTarget::Workers);
        board.signals().register(7, SignalTarget::Mule(2));
        assert_eq!(board.signals().raise(5), Ok(1));
        assert_eq!(board.signals().raise(5), Ok(1));
        assert_eq!(board.signals().raise(6), Ok(2));
        assert_eq!(
            board.signals().raise(7),
            Err(SignalError::NoReceiver(7, SignalTarget::Mule(2)))
        );
        assert_eq!(
            board.signals().take(w1),
            vec![(6, 1)],
            "worker 1 is not ready"
        );
        assert_eq!(board.signals().take(w2), vec![(5, 2), (6, 1)]);
        assert_eq!(board.signals().take(w2), vec![]);
        assert_eq!(board.signals().take(m1), vec![]);
        board.signals().raise(6).unwrap();
        board.release(101);
        let again = board.claim(103, 1, ProcessKind::Worker, 0).unwrap();
        assert_eq!(again, w1, "the freed slot is taken again");
        assert_eq!(
            board.signals().take(again),
            vec![],
            "a freed slot's box is emptied"
        );
    }

    #[test]
    fn the_newest_generation_gets_the_signal_and_stopping_processes_none() {
        let board = board();
        let old = board.claim(101, 1, ProcessKind::Worker, 0).unwrap();
        let new = board.claim(111, 1, ProcessKind::Worker, 1).unwrap();
        let stopping = board.claim(102, 2, ProcessKind::Worker, 0).unwrap();
        board.process(stopping).set_status(ProcessStatus::Stopping);
        board.signals().register(1, SignalTarget::Workers);
        assert_eq!(board.signals().raise(1), Ok(1));
        assert_eq!(board.signals().take(new), vec![(1, 1)]);
        assert_eq!(board.signals().take(old), vec![]);
        assert_eq!(board.signals().take(stopping), vec![]);
    }

    #[test]
    fn active_workers_are_every_worker_but_a_paused_one() {
        let board = board();
        let starting = board.claim(101, 1, ProcessKind::Worker, 0).unwrap();
        let ready = board.claim(102, 2, ProcessKind::Worker, 0).unwrap();
        let paused = board.claim(103, 3, ProcessKind::Worker, 0).unwrap();
        board.process(ready).set_status(ProcessStatus::Ready);
        board.process(paused).set_status(ProcessStatus::Paused);
        board.signals().register(9, SignalTarget::ActiveWorkers);
        assert_eq!(board.signals().raise(9), Ok(2));
        assert_eq!(board.signals().take(starting), vec![(9, 1)]);
        assert_eq!(board.signals().take(ready), vec![(9, 1)]);
        assert_eq!(board.signals().take(paused), vec![]);
    }

    #[test]
    fn a_waiting_thread_wakes_when_a_signal_arrives() {
        let board = Arc::new(board());
        let w = board.claim(101, 1, ProcessKind::Worker, 0).unwrap();
        board.signals().register(9, SignalTarget::Worker(1));
        let waiter = {
            let board = board.clone();
            std::thread::spawn(move || {
                let started = std::time::Instant::now();
                loop {
                    let seen = board.signals().seq(w);
                    let got = board.signals().take(w);
                    if !got.is_empty() {
                        return (got, started.elapsed());
                    }
                    board.signals().wait(w, seen, Duration::from_secs(10));
                }
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        board.signals().raise(9).unwrap();
        let (got, waited) = waiter.join().unwrap();
        assert_eq!(got, vec![(9, 1)]);
        assert!(waited < Duration::from_secs(5), "woken, not timed out");
    }

    #[test]
    fn timers_round_trip_are_not_doubled_and_are_cleared() {
        let board = board();
        let specs = [
            TimerSpec::Timer { signum: 1, secs: 3 },
            TimerSpec::RbTimer {
                signum: 2,
                secs: 1,
                iterations: 5,
            },
            TimerSpec::Cron {
                signum: 3,
                fields: [-1, -2, 5, 12, 0],
            },
            TimerSpec::FileMonitor {
                signum: 4,
                path: b"/tmp/some/file.txt".to_vec(),
            },
        ];
        for spec in &specs {
            assert_eq!(board.signals().add_timer(spec), Ok(true));
            assert_eq!(board.signals().add_timer(spec), Ok(false), "{spec:?} twice");
        }
        let live: Vec<TimerSpec> = board
            .signals()
            .timers()
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        assert_eq!(live, specs);
        assert_eq!(
            board
                .signals()
                .add_timer(&TimerSpec::Timer { signum: 1, secs: 0 }),
            Err(TimerError::ZeroPeriod)
        );
        let long = TimerSpec::FileMonitor {
            signum: 1,
            path: vec![b'a'; TIMER_PATH_CAPACITY + 1],
        };
        assert_eq!(
            board.signals().add_timer(&long),
            Err(TimerError::PathTooLong)
        );
        board.signals().register(1, SignalTarget::Mules);
        board.signals().clear();
        assert!(board.signals().timers().is_empty());
        assert_eq!(board.signals().target(1), None);
        for n in 0..TIMER_SLOTS as u64 {
            let spec = TimerSpec::Timer {
                signum: 0,
                secs: n + 1,
            };
            assert_eq!(board.signals().add_timer(&spec), Ok(true));
        }
        let one_more = TimerSpec::Timer { signum: 1, secs: 1 };
        assert_eq!(board.signals().add_timer(&one_more), Err(TimerError::Full));
    }
}
