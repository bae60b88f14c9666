//! The master: forks the workers, watches them from a single-threaded mio loop (signals
//! through signal-hook's self-pipe, a 1-second tick), respawns the dead with a back-off,
//! stops them on TERM (draining) or INT/QUIT (at once), and reloads on HUP by re-executing
//! itself (`reexec.rs`): the new image's workers start beside the previous image's, which
//! are told to drain once every new worker is ready. Beside the workers it forks and
//! respawns the mules and spoolers (`mules.rs`, `spooler.rs`), runs cron lines and attached daemons (`cron.rs`,
//! `daemons.rs`) and raises the uWSGI signals of the board's timers (`signal_timers.rs`).
//!
//! The master never starts a thread: it forks again at every respawn, and a
//! fork copies only the forking thread (docs/architecture.md, "Founding decisions"). So it
//! writes its log lines directly; each child starts a log writer of its own
//! (`ruwsgi_logging::start_writer`) as soon as it is forked.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::unistd::ForkResult;
use ruwsgi_shm::{Cache, ProcessIndex, ProcessKind, ProcessStatus, Scoreboard};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP, SIGUSR1};
use signal_hook::SigId;

use crate::bind::Bound;
use crate::cheaper::{self, Cheaper, Decision, Sample, WorkerLoad};
use crate::cron::Crons;
use crate::daemons::Daemons;
use crate::early_signals;
use crate::error::{Error, ErrorKind};
use crate::fifo::{Command, Fifos};
use crate::ksm::Ksm;
use crate::mules::{MuleQueues, MuleSpec};
use crate::options::Options;
use crate::proctitle;
use crate::reexec::{self, Handover};
use crate::service::{MuleContext, Service, SpoolerContext, WorkerContext};
use crate::signal_timers::{self, SignalTimers};
use crate::spooler::{Spool, SpoolerLoop, SpoolerSpec};
use crate::stats::{log_stats, memory_usage, rss_bytes};
use crate::stats_report::{listen_queue, Carried, Report, WorkerEntry};
use crate::stats_server::{Page, StatsServer};
use crate::subscribe::{Announce, Subscriptions};
use crate::sys::{describe_status, kill, reap_one, reaped_now};
use crate::touch::{Action, Touched};
use crate::vassal::{self, EmperorLink, Order};
use crate::worker;

const SIGNAL_TOKEN: Token = Token(0);
/// The master FIFOs' tokens: `FIFO_TOKEN + index`.
const FIFO_TOKEN: usize = 1;
/// The stats server's tokens: its listener's, then one per connection (`stats_server.rs`).
const STATS_TOKEN: usize = 1 << 16;
/// The emperor's line, when this master is a vassal (`vassal.rs`).
const EMPEROR_TOKEN: Token = Token(STATS_TOKEN - 1);
const TICK: Duration = Duration::from_secs(1);
/// How often a reload in progress looks whether the new workers are ready.
const READY_POLL: Duration = Duration::from_millis(10);
/// How often a hand-over looks whether the replaced processes stopped accepting: the new
/// workers wait that long at most, with connections in the listen queue.
const RELEASE_POLL: Duration = Duration::from_millis(1);
/// The longest new workers wait for the processes they replace to stop accepting: those
/// say so within a loop turn, or a second at most (`worker.rs`); a previous image of
/// another build may not say so at all.
const RELEASE_WAIT: Duration = Duration::from_millis(1500);
/// A worker that dies sooner than this after its fork counts as a quick death.
const QUICK_DEATH: Duration = Duration::from_secs(5);
/// The longest pause between respawns of a crash-looping worker, or between fork retries.
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// The pause before retry `step` (0, 1, ...): 125 ms, doubling, up to [`MAX_BACKOFF`].
fn backoff(step: u32) -> Duration {
    (Duration::from_millis(125) * 2u32.saturating_pow(step)).min(MAX_BACKOFF)
}

/// How long to wait before respawning a process that died after living `lived`, counting
/// its quick deaths in a row in `quick_deaths`. The first death respawns at once; a crash
/// loop waits 125 ms, 250 ms, ... up to [`MAX_BACKOFF`], so it cannot spin the CPU. Workers,
/// mules and spoolers alike.
fn respawn_delay(quick_deaths: &mut u32, lived: Duration) -> Duration {
    *quick_deaths = if lived < QUICK_DEATH {
        *quick_deaths + 1
    } else {
        0
    };
    match *quick_deaths {
        0 | 1 => Duration::ZERO,
        n => backoff(n - 2),
    }
}

/// Debug builds only: `RUWSGI_TEST_FAIL_FORKS=N` makes the first N forks of respawns fail
/// with EAGAIN, as fork does when RLIMIT_NPROC or memory runs out (the integration tests run
/// as root in CI, where RLIMIT_NPROC does not bind). Release builds never read it.
fn injected_fork_failures() -> u32 {
    if cfg!(debug_assertions) {
        std::env::var("RUWSGI_TEST_FAIL_FORKS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    } else {
        0
    }
}

const SIGNALS: [libc::c_int; 7] = [SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGTSTP];

#[derive(Debug, Default)]
struct WorkerState {
    pid: Option<u32>,
    /// The scoreboard slot of the running process (set while `pid` is).
    slot: Option<ProcessIndex>,
    /// Times this worker id was spawned: kept here, since a slot belongs to one process,
    /// and copied into each new process's slot for stats.
    respawns: u64,
    spawned: Option<Instant>,
    quick_deaths: u32,
    /// Failed forks in a row (reset by a successful one).
    fork_failures: u32,
    respawn_at: Option<Instant>,
    /// Stopped by a brutal reload of the workers (FIFO `W`) or killed by
    /// `evil-reload-on-rss`: respawn at once, no back-off.
    restarting: bool,
    /// Times harakiri cut a request of this worker id (kept here and copied into each new
    /// process's slot, as `respawns`).
    harakiri_count: u64,
    /// What this worker id's exited processes served (the stats' totals outlive respawns).
    carried: Carried,
    /// Not running on purpose (cheaper mode): not spawned, not respawned.
    cheap: bool,
    /// A graceful harakiri's signal went to the running process: its stuck requests are
    /// cut at this time (microseconds since the epoch) if they still run.
    graceful_cut_at: Option<u64>,
}

/// A worker process told to finish its requests and exit: killed if it has not by
/// `kill_at` (`worker-reload-mercy` and a second's slack: a stuck thread may keep it from
/// exiting).
#[derive(Debug, Clone, Copy)]
struct Draining {
    pid: u32,
    kill_at: Instant,
    /// Why it goes, for the log: "previous", "replaced", "recycled", "cheaped".
    why: &'static str,
    /// The worker index it served as (none for a previous generation's): what it served
    /// is added to that worker's stats totals when it exits.
    worker: Option<usize>,
}

/// A worker process serving on until the new process of its worker id is ready (a chain
/// reload's step, a worker past `max-worker-lifetime`): then it is told to drain.
#[derive(Debug, Clone, Copy)]
struct Handoff {
    /// The worker's index in `Master::workers`.
    idx: usize,
    /// The process being replaced (`None` once it exited on its own).
    old: Option<u32>,
}

/// New workers held back from accepting until the processes they replace have stopped
/// accepting (or `by` has passed): the reload's hand-over (docs/architecture.md, "a reload
/// hands over").
#[derive(Debug)]
struct Release {
    /// The scoreboard slots of the held workers.
    held: Vec<ProcessIndex>,
    /// The processes they replace, told to drain.
    replaced: Vec<u32>,
    by: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Stopping {
    deadline: Instant,
    killed: bool,
}

/// What the master knows of how the server started: how to re-execute itself on a reload,
/// what the image before it handed over, and the pidfiles (FIFO `P` writes them again).
#[derive(Debug)]
pub(crate) struct Startup {
    /// The binary to execute (resolved when the server started, so an upgraded binary at
    /// the same path is the one a reload runs, as in uWSGI).
    pub(crate) binary: PathBuf,
    /// The directory the server started in.
    pub(crate) start_dir: PathBuf,
    /// stdout and stderr go to the log already.
    pub(crate) detached: bool,
    /// What the previous image handed over, when this one was re-executed.
    pub(crate) previous: Option<Handover>,
    /// The pidfiles this server wrote.
    pub(crate) pidfiles: Vec<PathBuf>,
    /// `safe-pidfile` and `safe-pidfile2`: written once the first workers are spawned
    /// ([`Master::run`]), not again by a reloaded image.
    pub(crate) safe_pidfiles: Vec<PathBuf>,
    /// The master FIFOs, created.
    pub(crate) fifos: Fifos,
    /// The stats server's socket (`stats`), bound.
    pub(crate) stats: Option<Bound>,
    /// The log files (FIFO `l`/`L`, `log-maxsize`, file loggers' `maxsize`).
    pub(crate) log_files: Option<crate::logfile::LogFiles>,
    /// The emperor's line, when this server is a vassal.
    pub(crate) emperor: Option<EmperorLink>,
}

/// The master's signal handling: a flag per signal and a self-pipe that wakes its loop.
/// Installed as soon as the server knows it runs a master ([`MasterSignals::install`]), so a
/// stop or reload signal that comes while the app imports is acted on once the loop runs,
/// instead of killing the process with the default action.
/// The emperor (`emperor.rs`) handles the same signals the same way.
pub(crate) struct MasterSignals {
    /// Readable when a signal came: registered in the loop's poll.
    pub(crate) read: mio::net::UnixStream,
    _write: OwnedFd,
    flags: Vec<(libc::c_int, Arc<AtomicBool>)>,
    ids: Vec<SigId>,
}

impl MasterSignals {
    pub(crate) fn install() -> Result<MasterSignals, Error> {
        let (read, write) = UnixStream::pair().map_err(|e| Error::os("socketpair", e))?;
        read.set_nonblocking(true)
            .map_err(|e| Error::os("set_nonblocking", e))?;
        write
            .set_nonblocking(true)
            .map_err(|e| Error::os("set_nonblocking", e))?;
        let mut flags = Vec::new();
        let mut ids = Vec::new();
        for sig in SIGNALS {
            let flag = Arc::new(AtomicBool::new(false));
            let reg = |e: io::Error| Error::os(format!("cannot handle signal {sig}"), e);
            ids.push(signal_hook::flag::register(sig, flag.clone()).map_err(reg)?);
            let w = write.try_clone().map_err(reg)?;
            ids.push(signal_hook::low_level::pipe::register(sig, w).map_err(reg)?);
            flags.push((sig, flag));
        }
        Ok(MasterSignals {
            read: mio::net::UnixStream::from_std(read),
            _write: OwnedFd::from(write),
            flags,
            ids,
        })
    }

    /// Empties the self-pipe (the flags say which signals came).
    pub(crate) fn drain(&mut self) {
        let mut buf = [0u8; 64];
        while let Ok(n) = self.read.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }

    /// Whether `sig` came since the last call.
    pub(crate) fn take(&self, sig: libc::c_int) -> bool {
        self.flags
            .iter()
            .any(|(s, f)| *s == sig && f.swap(false, Ordering::AcqRel))
    }

    /// Whether a stop signal (TERM, INT, QUIT) came and waits for the loop (the flag stays).
    pub(crate) fn stop_pending(&self) -> bool {
        self.flags
            .iter()
            .any(|(s, f)| matches!(*s, SIGTERM | SIGINT | SIGQUIT) && f.load(Ordering::Acquire))
    }

    /// Removes the handlers (a forked child sets up its own).
    fn unregister(&mut self) {
        for sid in self.ids.drain(..) {
            signal_hook::low_level::unregister(sid);
        }
    }
}

/// What the master runs beside its workers, set up before the app was imported.
pub(crate) struct Extras {
    /// The mules, by id from 1.
    pub(crate) mules: Vec<MuleSpec>,
    /// Their message queues (when there are mules).
    pub(crate) mule_queues: Option<Arc<MuleQueues>>,
    /// The spooler processes, by id from 1.
    pub(crate) spoolers: Vec<SpoolerSpec>,
    /// Where `uwsgi.spool()` queues jobs (when there are spoolers).
    pub(crate) spool: Option<Arc<Spool>>,
    /// The caches (`cache`, `cache2`), handed to every worker and mule and across a reload.
    pub(crate) caches: Vec<Arc<Cache>>,
}

/// What a process beside the workers is.
#[derive(Debug, Clone)]
enum Role {
    Mule(MuleSpec),
    Spooler(SpoolerSpec),
}

impl Role {
    fn kind(&self) -> ProcessKind {
        match self {
            Role::Mule(_) => ProcessKind::Mule,
            Role::Spooler(_) => ProcessKind::Spooler,
        }
    }

    fn name(&self) -> &'static str {
        self.kind().name()
    }
}

/// A mule's or spooler's process, as the master supervises it.
#[derive(Debug)]
struct Extra {
    role: Role,
    /// The mule or spooler id, from 1 within its kind.
    id: usize,
    pid: Option<u32>,
    slot: Option<ProcessIndex>,
    spawned: Option<Instant>,
    quick_deaths: u32,
    respawn_at: Option<Instant>,
    /// Times this id was spawned (copied into each new slot, as for workers).
    respawns: u64,
}

/// The master process's state.
pub(crate) struct Master<'a> {
    service: &'a mut dyn Service,
    opts: &'a Options,
    /// The listening sockets, until the server stops for good (closed then, so that
    /// connections are refused rather than queued where no worker will take them).
    sockets: Vec<Bound>,
    board: Arc<Scoreboard>,
    workers: Vec<WorkerState>,
    poll: Poll,
    signals: MasterSignals,
    stopping: Option<Stopping>,
    exit_code: i32,
    paused: bool,
    pid: u32,
    warned_threads: bool,
    /// systemd's notification socket (`NOTIFY_SOCKET`), and whether this image has said
    /// `READY=1` yet.
    notify: Option<crate::notify::Notifier>,
    notified_ready: bool,
    /// Respawn forks still to fail on purpose ([`injected_fork_failures`]).
    fail_forks: u32,
    /// The first workers are forked; respawns follow.
    started: bool,
    startup: Startup,
    /// Workers of the generation being replaced (by a reload, or `w`): they serve until
    /// every new worker is ready, then are told to drain and move to `draining`.
    previous: Vec<u32>,
    /// Workers told to finish their in-flight requests and exit, no longer counted as
    /// serving.
    draining: Vec<Draining>,
    /// The new workers could not load the app: the previous ones keep serving, and no new
    /// worker is spawned until the next reload.
    reload_failed: bool,
    /// A reload was asked for while one was in progress: it runs once that one is done.
    reload_pending: bool,
    /// Processes serving until their worker's new process is ready.
    replacing: Vec<Handoff>,
    /// New workers waiting for the processes they replace to stop accepting.
    releases: Vec<Release>,
    /// A chain reload in progress: the index of the worker being replaced (its hand-off is
    /// in `replacing`).
    chain: Option<usize>,
    /// A brutal reload (`R`): the master re-executes once every worker has stopped.
    reexec_when_stopped: bool,
    fifos: Fifos,
    touched: Touched,
    /// The stats server (`stats`).
    stats: Option<StatsServer>,
    /// Cheaper mode's algorithm, when `cheaper` is set.
    cheaper: Option<Cheaper>,
    /// When the master started (cheaper mode's clock).
    born: Instant,
    /// `harakiri-graceful-signal`.
    graceful_signal: Signal,
    /// `cron`, `unique-cron`, `cron2`.
    crons: Crons,
    /// `attach-daemon` and its kin.
    daemons: Daemons,
    /// The mules (`mule`, `mules`), then the spoolers (`spooler`, `spooler-processes`).
    extras: Vec<Extra>,
    mule_queues: Option<Arc<MuleQueues>>,
    spool: Option<Arc<Spool>>,
    /// The caches.
    caches: Vec<Arc<Cache>>,
    /// The board's timers, cron entries and file monitors, raised as uWSGI signals.
    timers: SignalTimers,
    /// `ksm`: the master's own mappings, marked every N seconds.
    ksm: Option<Ksm>,
    /// `subscribe-to`.
    subscriptions: Subscriptions,
}

impl<'a> Master<'a> {
    pub(crate) fn new(
        service: &'a mut dyn Service,
        opts: &'a Options,
        sockets: Vec<Bound>,
        board: Arc<Scoreboard>,
        mut startup: Startup,
        mut signals: MasterSignals,
        extras: Extras,
    ) -> Result<Master<'a>, Error> {
        let poll = Poll::new().map_err(|e| Error::os("cannot create the master's poll", e))?;
        poll.registry()
            .register(&mut signals.read, SIGNAL_TOKEN, Interest::READABLE)
            .map_err(|e| Error::os("cannot register the signal pipe", e))?;
        let fifos = std::mem::take(&mut startup.fifos);
        for (i, fd) in fifos.fds() {
            poll.registry()
                .register(
                    &mut mio::unix::SourceFd(&fd),
                    Token(FIFO_TOKEN + i),
                    Interest::READABLE,
                )
                .map_err(|e| Error::os("cannot register the master FIFO", e))?;
        }
        if let Some(link) = &startup.emperor {
            poll.registry()
                .register(
                    &mut mio::unix::SourceFd(&link.raw_fd()),
                    EMPEROR_TOKEN,
                    Interest::READABLE,
                )
                .map_err(|e| Error::os("cannot register the emperor's line", e))?;
        }
        let stats = startup
            .stats
            .take()
            .map(|bound| {
                StatsServer::new(bound, poll.registry(), STATS_TOKEN, opts.stats_http)
                    .map_err(|e| Error::os("cannot serve the stats", e))
            })
            .transpose()?;
        let touched = Touched::new(
            &opts.touch_reload,
            &opts.touch_workers_reload,
            &opts.touch_chain_reload,
            &opts.touch_logreopen,
        )
        .with_fs(&opts.fs_reload, &opts.fs_brutal_reload)
        .with_touches(&opts.touch_logrotate, &opts.touch_exec, &opts.touch_signal)
        .map_err(|e| Error::new(ErrorKind::Config(e)))?;
        let previous = match &startup.previous {
            Some(h) => {
                // Copies of what is kept were adopted; the rest is closed here.
                h.close_fds();
                board.next_generation();
                h.workers.clone()
            }
            None => Vec::new(),
        };
        let graceful_signal = opts.harakiri_graceful_signal.unwrap_or(libc::SIGTERM);
        let graceful_signal = Signal::try_from(graceful_signal).map_err(|_| {
            Error::new(ErrorKind::Config(format!(
                "harakiri-graceful-signal: {graceful_signal} is not a signal number"
            )))
        })?;
        let config = |e: String| Error::new(ErrorKind::Config(e));
        let crons =
            Crons::from_options(&opts.cron, &opts.unique_cron, &opts.cron2).map_err(config)?;
        let daemons = Daemons::from_options(
            &opts.attach_daemon,
            &opts.smart_attach_daemon,
            &opts.smart_attach_daemon2,
            &opts.attach_daemon2,
        )
        .map_err(config)?;
        for spec in signal_timers::from_options(&opts.timer, &opts.rbtimer).map_err(config)? {
            board
                .signals()
                .add_timer(&spec)
                .map_err(|e| config(format!("timer: {e}")))?;
        }
        let extra = |(i, role): (usize, Role)| Extra {
            role,
            id: i + 1,
            pid: None,
            slot: None,
            spawned: None,
            quick_deaths: 0,
            respawn_at: None,
            respawns: 0,
        };
        let mules = extras.mules.into_iter().map(Role::Mule).enumerate();
        let spoolers = extras.spoolers.into_iter().map(Role::Spooler).enumerate();
        let extra_processes = mules.map(extra).chain(spoolers.map(extra)).collect();
        let subscriptions = Subscriptions::new(
            &opts.subscribe_to,
            &sockets,
            opts.processes * opts.threads,
            opts.subscribe_freq,
            opts.unsubscribe_on_graceful_reload,
        )
        .map_err(config)?;
        let cheaper = cheaper::Settings::from_options(opts)
            .map_err(|e| Error::new(ErrorKind::Config(e)))?
            .map(Cheaper::new);
        // In cheaper mode, the workers past `cheaper-initial` start cheaped.
        let initial = cheaper
            .as_ref()
            .map_or(opts.processes, |c| c.settings().initial);
        let workers = (0..opts.processes)
            .map(|idx| WorkerState {
                cheap: idx >= initial,
                ..WorkerState::default()
            })
            .collect();
        Ok(Master {
            service,
            opts,
            sockets,
            board,
            workers,
            poll,
            signals,
            stopping: None,
            exit_code: 0,
            paused: false,
            pid: std::process::id(),
            warned_threads: false,
            notify: crate::notify::Notifier::from_env(),
            notified_ready: false,
            fail_forks: injected_fork_failures(),
            started: false,
            startup,
            previous,
            draining: Vec::new(),
            reload_failed: false,
            reload_pending: false,
            replacing: Vec::new(),
            releases: Vec::new(),
            chain: None,
            reexec_when_stopped: false,
            fifos,
            touched,
            stats,
            cheaper,
            born: Instant::now(),
            graceful_signal,
            crons,
            daemons,
            extras: extra_processes,
            mule_queues: extras.mule_queues,
            spool: extras.spool,
            caches: extras.caches,
            timers: SignalTimers::default(),
            ksm: opts.ksm.and_then(Ksm::every),
            subscriptions,
        })
    }

    /// Forks every worker, then watches them until the server stops; returns the exit status.
    pub(crate) fn run(mut self) -> Result<i32, Error> {
        if self.startup.previous.is_some() {
            log::info!(
                "master process reloaded (pid {}); spawning {} workers, the {} previous ones \
                 serve until they are ready",
                self.pid,
                self.opts.processes,
                self.previous.len()
            );
        } else {
            log::info!(
                "master process started with pid {}; spawning {} workers",
                self.pid,
                self.opts.processes
            );
        }
        if let Some(n) = &self.notify {
            n.send(&format!(
                "STATUS=initializing: {} workers",
                self.opts.processes
            ));
        }
        proctitle::name(self.opts, proctitle::Role::Master);
        crate::hooks::run("master-start", &self.opts.hooks.master_start, false)?;
        if let Some(c) = &self.cheaper {
            let s = c.settings();
            log::info!(
                "cheaper mode ({:?}): {} of {} workers at start, at least {}",
                s.algo,
                s.initial,
                s.max,
                s.min
            );
        }
        for id in 1..=self.opts.processes {
            if !self.workers[id - 1].cheap {
                self.spawn_or_retry(id);
            }
        }
        for idx in 0..self.extras.len() {
            self.spawn_extra_or_retry(idx);
        }
        self.started = true;
        self.write_safe_pidfile();
        self.subscriptions.tick(Instant::now());
        self.daemons.start_all();
        self.crons.run_due(ruwsgi_logging::now_secs());
        let mut events = Events::with_capacity(8);
        let mut last_tick = Instant::now();
        loop {
            let timeout = self.next_timeout();
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(Error::os("the master's poll failed", e));
                }
            }
            self.signals.drain();
            self.handle_signals();
            for event in events.iter() {
                if self.stats.as_ref().is_some_and(|s| s.owns(event.token())) {
                    self.serve_stats(event.token());
                } else if event.token() == EMPEROR_TOKEN {
                    self.obey_emperor();
                } else if let Some(i) = event.token().0.checked_sub(FIFO_TOKEN) {
                    for command in self.fifos.read(i) {
                        self.act(command);
                    }
                }
            }
            if let Some(stats) = &mut self.stats {
                stats.expire(self.poll.registry(), Instant::now());
            }
            // Before reaping: a worker that recycled itself and already exited is a
            // replaced worker, not a death.
            if self.stopping.is_none() {
                self.replace_recycling();
            }
            self.reap();
            self.kill_overdue();
            if let Some(stop) = self.stopping {
                let all_gone = self.workers.iter().all(|w| w.pid.is_none())
                    && self.previous.is_empty()
                    && self.draining.is_empty()
                    && self.extras.iter().all(|x| x.pid.is_none())
                    && !self.daemons.any_attached();
                if all_gone && self.reexec_when_stopped {
                    self.reexec();
                    log::error!("the brutal reload could not re-execute; stopping");
                    return Ok(1);
                }
                if all_gone {
                    log::info!("all workers stopped; goodbye");
                    return Ok(self.exit_code);
                }
                if !stop.killed && Instant::now() >= stop.deadline {
                    for (i, w) in self.workers.iter().enumerate() {
                        if let Some(pid) = w.pid {
                            log::warn!(
                                "worker {} (pid {pid}) did not stop in time; killing it",
                                i + 1
                            );
                            kill(pid, Signal::SIGKILL);
                        }
                    }
                    let draining = self.draining.iter().map(|d| d.pid);
                    for pid in self.previous.iter().copied().chain(draining) {
                        log::warn!("previous worker (pid {pid}) did not stop in time; killing it");
                        kill(pid, Signal::SIGKILL);
                    }
                    for x in &self.extras {
                        if let Some(pid) = x.pid {
                            log::warn!(
                                "{} {} (pid {pid}) did not stop in time; killing it",
                                x.role.name(),
                                x.id
                            );
                            kill(pid, Signal::SIGKILL);
                        }
                    }
                    self.daemons.kill_attached();
                    self.stopping = Some(Stopping {
                        killed: true,
                        ..stop
                    });
                }
                continue;
            }
            self.respawn_due();
            self.subscriptions.tick(Instant::now());
            self.timers
                .run(&self.board, Instant::now(), ruwsgi_logging::now_secs());
            self.daemons.check();
            self.retire_previous();
            self.advance_handoffs();
            self.release_held();
            self.notify_ready();
            if self.reload_pending && self.may_reexec() {
                self.reload_pending = false;
                self.reexec();
            }
            if last_tick.elapsed() >= TICK {
                last_tick = Instant::now();
                self.tick();
                for (path, action) in self.touched.changed() {
                    log::info!("{} changed", path.display());
                    self.on_touch(action);
                }
            }
        }
    }

    /// Once a second: rotate the log past `log-maxsize`, refresh each process's rss in the
    /// scoreboard (for stats),
    /// kill a worker over `evil-reload-on-rss`, cut requests past their harakiri, replace
    /// workers past `max-worker-lifetime`.
    fn tick(&mut self) {
        if let Some(files) = &self.startup.log_files {
            files.check_sizes();
        }
        if let Some(ksm) = &mut self.ksm {
            ksm.tick();
        }
        let now = ruwsgi_shm::now_micros();
        for x in &self.extras {
            if let (Some(pid), Some(slot)) = (x.pid, x.slot) {
                if let Some(rss) = rss_bytes(pid) {
                    self.board.process(slot).rss.store(rss, Ordering::Relaxed);
                }
            }
        }
        for idx in 0..self.workers.len() {
            let (Some(pid), Some(slot)) = (self.workers[idx].pid, self.workers[idx].slot) else {
                continue;
            };
            let usage = memory_usage(pid);
            if let Some((rss, _)) = usage {
                self.board.process(slot).rss.store(rss, Ordering::Relaxed);
            }
            if self.stopping.is_some() || self.paused {
                continue;
            }
            // `evil-reload-on-rss` and `evil-reload-on-as`: killed at once, respawned.
            let over = usage.and_then(|(rss, size)| {
                [
                    (
                        "resident memory",
                        "evil-reload-on-rss",
                        rss,
                        self.opts.evil_reload_on_rss,
                    ),
                    (
                        "address space",
                        "evil-reload-on-as",
                        size,
                        self.opts.evil_reload_on_as,
                    ),
                ]
                .into_iter()
                .find(|&(.., bytes, mb)| mb.is_some_and(|mb| mb > 0 && bytes > mb << 20))
            });
            if let Some((what, option, bytes, Some(mb))) = over {
                log::warn!(
                    "worker {} (pid {pid}) uses {} MB of {what}, over {option} ({mb} MB); \
                     killing it",
                    idx + 1,
                    bytes >> 20
                );
                self.workers[idx].restarting = true;
                kill(pid, Signal::SIGKILL);
                continue;
            }
            if self.board.process(slot).status() != ProcessStatus::Ready {
                continue;
            }
            if self.harakiri(idx, pid, slot, now) {
                continue;
            }
            // Worker N (from 1) lives `delta` seconds longer than worker N - 1.
            let delta = self.opts.max_worker_lifetime_delta.unwrap_or(0);
            let lifetime = match self.opts.max_worker_lifetime {
                0 => 0,
                base => base + idx as u64 * delta,
            };
            let lived = self.workers[idx].spawned.map(|s| s.elapsed());
            let replacing = self.replacing.iter().any(|h| h.idx == idx);
            if lifetime > 0 && lived.is_some_and(|l| l.as_secs() >= lifetime) && !replacing {
                log::info!(
                    "worker {} (pid {pid}) reached max-worker-lifetime ({lifetime} s); \
                     replacing it",
                    idx + 1
                );
                self.replace(idx);
            }
        }
        self.cheaper_cycle();
        self.crons.run_due(ruwsgi_logging::now_secs());
    }

    /// Cheaper mode, once a second: the algorithm's decision on what the scoreboard and
    /// the listen queues show. Not while stopping, paused, or replacing a generation.
    fn cheaper_cycle(&mut self) {
        let steady = self.stopping.is_none()
            && !self.paused
            && self.previous.is_empty()
            && !self.reload_failed
            && self.replacing.is_empty();
        if !steady || self.cheaper.is_none() {
            return;
        }
        let sample = self.cheaper_sample();
        let now = self.born.elapsed().as_micros() as u64;
        let decision = match &mut self.cheaper {
            Some(c) => c.decide(now, &sample),
            None => return,
        };
        match decision {
            Decision::Hold => {}
            Decision::Spawn(n) => self.decheap(n),
            Decision::CheapOne => self.cheap_one(),
        }
    }

    /// What cheaper mode decides on: each running worker's load, the cheaped ones, the
    /// listen queues.
    fn cheaper_sample(&self) -> Sample {
        let mut sample = Sample {
            backlog: self.sockets.iter().map(|b| listen_queue(b).0).sum(),
            ..Sample::default()
        };
        for (index, w) in self.workers.iter().enumerate() {
            if w.cheap {
                sample.cheaped += 1;
                continue;
            }
            let (Some(pid), Some(slot)) = (w.pid, w.slot) else {
                continue;
            };
            let busy = self
                .board
                .threads_of(slot)
                .iter()
                .any(|t| t.snapshot().is_some());
            sample.workers.push(WorkerLoad {
                index,
                pid,
                busy,
                busy_us: self
                    .board
                    .process(slot)
                    .request_time_us
                    .load(Ordering::Relaxed),
            });
        }
        sample
    }

    /// Spawns up to `n` cheaped workers.
    fn decheap(&mut self, n: usize) {
        let cheaped: Vec<usize> = (0..self.workers.len())
            .filter(|&i| self.workers[i].cheap)
            .take(n)
            .collect();
        for idx in cheaped {
            log::info!("cheaper: spawning worker {}", idx + 1);
            self.workers[idx].cheap = false;
            self.spawn_or_retry(idx + 1);
        }
    }

    /// Stops the oldest idle worker (a busy one if none is idle), keeping one at least: it
    /// retires as a recycled worker does, finishing its requests.
    fn cheap_one(&mut self) {
        let running = |w: &WorkerState| w.pid.is_some() && w.slot.is_some();
        if self.workers.iter().filter(|w| running(w)).count() <= 1 {
            return;
        }
        let idle = |w: &WorkerState| {
            w.slot.is_some_and(|s| {
                self.board
                    .threads_of(s)
                    .iter()
                    .all(|t| t.snapshot().is_none())
            })
        };
        let pick = (0..self.workers.len())
            .filter(|&i| running(&self.workers[i]))
            .min_by_key(|&i| (!idle(&self.workers[i]), self.workers[i].spawned));
        let Some(idx) = pick else {
            return;
        };
        let w = &mut self.workers[idx];
        let Some(pid) = w.pid.take() else {
            return;
        };
        w.slot = None;
        w.cheap = true;
        w.respawn_at = None;
        log::info!("cheaper: stopping worker {} (pid {pid})", idx + 1);
        // SIGUSR2: retire (no request of it is marked cut).
        kill(pid, Signal::SIGUSR2);
        self.drain(pid, "cheaped", Some(idx));
    }

    /// Harakiri: cuts the requests of worker `idx` that ran past their limit (`harakiri`,
    /// or the request's own `uwsgi.set_user_harakiri`) and replaces the worker. The worker
    /// answers each cut request at once (504, or a close on a uwsgi socket) and logs its
    /// Python stack (SIGUSR2, `worker.rs`); it accepts nothing more, its other requests
    /// finish within `worker-reload-mercy`, and it is killed if it has not exited by then.
    /// Returns whether it cut anything.
    fn harakiri(&mut self, idx: usize, pid: u32, slot: ProcessIndex, now: u64) -> bool {
        let limit = self.opts.harakiri;
        let overdue: Vec<usize> = self
            .board
            .threads_of(slot)
            .iter()
            .enumerate()
            .filter(|(_, ts)| {
                ts.snapshot().is_some_and(|running| {
                    let deadline = match (ts.user_deadline(), limit) {
                        (Some(at), _) => at,
                        (None, 0) => return false,
                        (None, secs) => running.started_us.saturating_add(secs * 1_000_000),
                    };
                    now >= deadline && !ts.is_cut(&running)
                })
            })
            .map(|(thread, _)| thread)
            .collect();
        if overdue.is_empty() {
            // A graceful attempt whose request ended meanwhile is over.
            self.workers[idx].graceful_cut_at = None;
            return false;
        }
        let threshold = self.opts.harakiri_queue_threshold;
        if threshold > 0 {
            let backlog: u64 = self.sockets.iter().map(|b| listen_queue(b).0).sum();
            if backlog < threshold {
                log::debug!(
                    "HARAKIRI: skipping harakiri on worker {}: the listen queue is smaller than \
                     the threshold ({backlog} < {threshold})",
                    idx + 1
                );
                return false;
            }
        }
        let grace = self.opts.harakiri_graceful_timeout;
        if grace > 0 {
            match self.workers[idx].graceful_cut_at {
                None => {
                    let signal = self.graceful_signal;
                    log::error!(
                        "HARAKIRI: graceful termination attempt on worker {} (pid {pid}) with \
                         signal {signal}; its stuck request is cut in {grace} s if it still runs",
                        idx + 1
                    );
                    kill(pid, signal);
                    self.workers[idx].graceful_cut_at = Some(now + grace * 1_000_000);
                    return false;
                }
                Some(at) if now < at => return false,
                Some(_) => {}
            }
        }
        let mut cut = 0;
        for thread in overdue {
            let ts = &self.board.threads_of(slot)[thread];
            let Some(running) = ts.snapshot() else {
                continue;
            };
            ts.mark_cut(running.started_us);
            cut += 1;
            log::error!(
                "*** HARAKIRI ON WORKER {} (pid: {pid}, thread: {thread}) *** {} {}{} has run \
                 for {:.1} s (limit {}); answering it 504 (on a uwsgi socket: closing its \
                 connection) and replacing the worker",
                idx + 1,
                String::from_utf8_lossy(running.method()),
                String::from_utf8_lossy(running.uri()),
                if running.uri_truncated() { "..." } else { "" },
                now.saturating_sub(running.started_us) as f64 / 1e6,
                match ts.user_deadline() {
                    Some(_) => "set by uwsgi.set_user_harakiri".to_string(),
                    None => format!("harakiri {limit} s"),
                },
            );
        }
        if cut == 0 {
            return false;
        }
        if self.opts.harakiri_verbose {
            log_thread_waits(pid);
        }
        let w = &mut self.workers[idx];
        w.harakiri_count += cut;
        w.pid = None;
        w.slot = None;
        w.respawn_at = None;
        w.graceful_cut_at = None;
        self.board
            .process(slot)
            .harakiri_count
            .fetch_add(cut, Ordering::Relaxed);
        kill(pid, Signal::SIGUSR2);
        self.drain(pid, "replaced", Some(idx));
        self.spawn_or_retry(idx + 1);
        true
    }

    /// A worker that recycles itself (`max-requests`, `reload-on-rss`: its slot says
    /// `Recycling`, and it sent SIGCHLD) is draining on its own: its replacement is spawned
    /// at once.
    fn replace_recycling(&mut self) {
        if self.reload_failed {
            return;
        }
        for idx in 0..self.workers.len() {
            let (Some(pid), Some(slot)) = (self.workers[idx].pid, self.workers[idx].slot) else {
                continue;
            };
            if self.board.process(slot).status() != ProcessStatus::Recycling {
                continue;
            }
            log::info!(
                "worker {} (pid {pid}) is recycling: it finishes its requests while its \
                 replacement starts",
                idx + 1
            );
            let w = &mut self.workers[idx];
            w.pid = None;
            w.slot = None;
            self.drain(pid, "recycled", Some(idx));
            self.spawn_or_retry(idx + 1);
        }
    }

    /// Counts `pid` as draining (it was told to finish its requests and exit, or does so
    /// on its own): killed if it has not exited within `worker-reload-mercy` and a second.
    fn drain(&mut self, pid: u32, why: &'static str, worker: Option<usize>) {
        let kill_at = Instant::now() + self.opts.worker_reload_mercy + Duration::from_secs(1);
        self.draining.push(Draining {
            pid,
            kill_at,
            why,
            worker,
        });
    }

    /// Kills the draining workers past their deadline.
    fn kill_overdue(&mut self) {
        let now = Instant::now();
        for d in &mut self.draining {
            if now >= d.kill_at {
                log::warn!(
                    "worker pid {} did not finish within worker-reload-mercy ({} s); killing it",
                    d.pid,
                    self.opts.worker_reload_mercy.as_secs()
                );
                kill(d.pid, Signal::SIGKILL);
                // Reaped soon; not killed again meanwhile.
                d.kill_at = now + MAX_BACKOFF;
            }
        }
    }

    fn next_timeout(&self) -> Duration {
        let now = Instant::now();
        let mut t = TICK;
        for w in &self.workers {
            if let Some(at) = w.respawn_at {
                t = t.min(at.saturating_duration_since(now));
            }
        }
        if let Some(stop) = self.stopping {
            if !stop.killed {
                t = t.min(stop.deadline.saturating_duration_since(now));
            }
        }
        for d in &self.draining {
            t = t.min(d.kill_at.saturating_duration_since(now));
        }
        if let Some(at) = self.stats.as_ref().and_then(StatsServer::next_deadline) {
            t = t.min(at.saturating_duration_since(now));
        }
        if let Some(at) = self.daemons.next_start() {
            t = t.min(at.saturating_duration_since(now));
        }
        let extra_respawns = self.extras.iter().filter_map(|x| x.respawn_at);
        for at in extra_respawns.chain(self.timers.next_due()) {
            t = t.min(at.saturating_duration_since(now));
        }
        if (!self.previous.is_empty() && !self.reload_failed) || !self.replacing.is_empty() {
            // A worker's readiness is no event the loop wakes for: look every 10 ms.
            t = t.min(READY_POLL);
        }
        // A held worker outside a reload may be an orphan (see `release_held`).
        let orphan_held = self.previous.is_empty() && self.held().next().is_some();
        if !self.releases.is_empty() || orphan_held {
            t = t.min(RELEASE_POLL);
        }
        t
    }

    fn handle_signals(&mut self) {
        let _ = self.signals.take(SIGCHLD); // reaping happens on every wake anyway
        if self.signals.take(SIGINT) || self.signals.take(SIGQUIT) {
            log::info!("SIGINT/SIGQUIT received");
            self.act(Command::Halt);
        }
        if self.signals.take(SIGTERM) {
            log::info!("SIGTERM received");
            self.act(Command::Stop);
        }
        if self.signals.take(SIGHUP) {
            log::info!("SIGHUP received");
            self.act(Command::Reload);
        }
        if self.signals.take(SIGUSR1) {
            self.act(Command::Stats);
        }
        if self.signals.take(SIGTSTP) {
            self.act(Command::Pause);
        }
    }

    /// Does what a touched file asks: a command ([`Master::act`]), or, unless the server is
    /// stopping, `touch-exec`'s command or `touch-signal`'s signal.
    fn on_touch(&mut self, action: Action) {
        match action {
            Action::Command(command) => self.act(command),
            _ if self.stopping.is_some() => log::info!("stopping: {action:?} ignored"),
            Action::Exec(command) => self.touched.exec(&command),
            Action::Signal(num) => match self.board.signals().raise(num) {
                Ok(_) => log::info!("[uwsgi-touch-signal] raising {num}"),
                Err(e) => log::warn!("[uwsgi-touch-signal] cannot raise {num}: {e}"),
            },
        }
    }

    /// Does what a signal, a FIFO byte or a touched file asks.
    fn act(&mut self, command: Command) {
        let stopping = self.stopping.is_some();
        match command {
            Command::Halt => {
                log::info!("stopping the workers at once");
                self.begin_stop(false);
            }
            Command::Stop => {
                log::info!("stopping gracefully (finishing in-flight requests)");
                self.begin_stop(true);
            }
            Command::Stats => self.log_stats(),
            _ if stopping => log::info!("stopping: {command:?} ignored"),
            Command::Reload | Command::BrutalReload if self.opts.exit_on_reload => {
                log::info!("exit-on-reload: stopping instead of reloading");
                self.begin_stop(command == Command::Reload);
            }
            Command::Reload if self.may_reexec() => self.reexec(),
            Command::Reload => {
                if !self.reload_pending {
                    self.reload_pending = true;
                    log::info!(
                        "a reload was asked for during a reload: it runs once the previous \
                         workers have exited"
                    );
                }
            }
            Command::BrutalReload => {
                log::info!("brutal reload: stopping the workers at once, then re-executing");
                self.reexec_when_stopped = true;
                self.begin_stop(false);
            }
            Command::ReloadWorkers => self.replace_workers(),
            Command::BrutalReloadWorkers => {
                log::info!("brutal reload of the workers: stopping them at once, then respawning");
                for w in &mut self.workers {
                    if let Some(pid) = w.pid {
                        w.restarting = true;
                        kill(pid, Signal::SIGINT);
                    }
                }
            }
            Command::ChainReload => self.start_chain(),
            Command::Pause => self.toggle_pause(),
            Command::WritePidfiles => {
                for p in &self.startup.pidfiles {
                    match crate::daemon::write_pidfile(p) {
                        Ok(()) => log::info!("pidfile {} written", p.display()),
                        Err(e) => log::error!("{e}"),
                    }
                }
            }
            Command::AddWorker | Command::RemoveWorker if self.cheaper.is_none() => {
                log::warn!("master FIFO: + and - need cheaper mode (--cheaper)");
            }
            Command::AddWorker => {
                if self.workers.iter().any(|w| w.cheap) {
                    self.decheap(1);
                } else {
                    log::info!("master FIFO +: all {} workers run", self.workers.len());
                }
            }
            Command::RemoveWorker => self.cheap_one(),
            Command::Select(_) => {}
            Command::ReopenLog => self.startup.log_files.iter().for_each(|f| f.reopen()),
            Command::RotateLog => match &self.startup.log_files {
                Some(files) if files.has_main() => files.rotate_main(),
                _ => log::warn!(
                    "rotating the log (FIFO L, touch-logrotate) needs a log file (logto or \
                     daemonize)"
                ),
            },
        }
    }

    /// SIGTSTP, FIFO `p`: pauses the workers (SIGSTOP) or resumes them.
    fn toggle_pause(&mut self) {
        self.paused = !self.paused;
        let (sig, from, to, what) = if self.paused {
            (
                Signal::SIGSTOP,
                ProcessStatus::Ready,
                ProcessStatus::Paused,
                "paused",
            )
        } else {
            (
                Signal::SIGCONT,
                ProcessStatus::Paused,
                ProcessStatus::Ready,
                "resumed",
            )
        };
        for w in &self.workers {
            if let (Some(pid), Some(slot)) = (w.pid, w.slot) {
                kill(pid, sig);
                // Only a serving worker's status changes: a held one stays held (the
                // hand-over releases it), a starting one says ready itself.
                self.board.process(slot).advance(from, to);
            }
        }
        log::info!("workers {what}");
    }

    fn begin_stop(&mut self, graceful: bool) {
        let (sig, wait) = if graceful {
            // A second of slack over the workers' own mercy, so they can exit cleanly.
            (
                Signal::SIGTERM,
                self.opts.worker_reload_mercy + Duration::from_secs(1),
            )
        } else {
            (Signal::SIGINT, self.opts.reload_mercy)
        };
        let deadline = Instant::now() + wait;
        // An immediate stop during a graceful one shortens it; never lengthen.
        let deadline = match self.stopping {
            Some(s) => s.deadline.min(deadline),
            None => deadline,
        };
        if self.stopping.is_none() {
            if let Some(n) = &self.notify {
                n.send("STOPPING=1\nSTATUS=stopping");
            }
            // The subscription servers stop routing here before the sockets close.
            self.subscriptions.send_all(Announce::Unsubscribe, true);
        }
        self.stopping = Some(Stopping {
            deadline,
            killed: false,
        });
        if !self.reexec_when_stopped && !self.sockets.is_empty() {
            // The server goes away: the master's copies close first, and each worker takes
            // what is queued before closing its own (docs/architecture.md, "stopping
            // drains"), so a new connection is refused (nginx tries its next server)
            // instead of waiting in a queue that dies with the last process.
            log::info!("closing the listening sockets");
            self.sockets.clear();
        }
        for w in &mut self.workers {
            w.respawn_at = None;
            if let (Some(pid), Some(slot)) = (w.pid, w.slot) {
                if self.paused {
                    kill(pid, Signal::SIGCONT);
                }
                self.board.process(slot).set_status(ProcessStatus::Stopping);
                kill(pid, sig);
            }
        }
        let draining = self.draining.iter().map(|d| d.pid);
        for pid in self.previous.iter().copied().chain(draining) {
            if let Some(slot) = self.board.find_pid(pid) {
                self.board.process(slot).set_status(ProcessStatus::Stopping);
            }
            kill(pid, Signal::SIGCONT);
            kill(pid, sig);
        }
        self.chain = None;
        self.stop_extras();
        self.daemons.stop_attached();
        for h in std::mem::take(&mut self.replacing) {
            if let Some(pid) = h.old {
                kill(pid, Signal::SIGCONT);
                kill(pid, sig);
                self.drain(pid, "replaced", Some(h.idx));
            }
        }
        self.paused = false;
    }

    /// HUP: re-executes the master in place (`reexec.rs`), handing over the sockets, the
    /// scoreboard and every running worker, which serve until the new image's workers are
    /// ready. Returns only if `exec` failed: then nothing changed, and that is logged.
    fn reexec(&mut self) {
        let mut workers: Vec<u32> = self.workers.iter().filter_map(|w| w.pid).collect();
        workers.extend(&self.previous);
        workers.extend(self.draining.iter().map(|d| d.pid));
        let board = self
            .board
            .keep_across_exec()
            .map_err(|e| log::warn!("the reload starts a new scoreboard: {e}"))
            .ok();
        let caches = self
            .caches
            .iter()
            .filter_map(|c| {
                let fd = c
                    .keep_across_exec()
                    .map_err(|e| {
                        log::warn!("the reload starts a new, empty cache {:?}: {e}", c.name())
                    })
                    .ok()?;
                Some((c.name().to_string(), fd))
            })
            .collect();
        let handover = Handover {
            start_dir: self.startup.start_dir.clone(),
            detached: self.startup.detached,
            sockets: self
                .sockets
                .iter()
                .filter(|b| !b.passed)
                .map(|b| (b.spec.address.clone(), b.fd.as_raw_fd()))
                .collect(),
            passed: self
                .sockets
                .iter()
                .filter(|b| b.passed)
                .map(|b| (b.spec.address.clone(), b.fd.as_raw_fd()))
                .collect(),
            board,
            caches,
            workers,
        };
        log::info!(
            "reloading ({} re-executes as pid {}; the {} running workers serve until the new \
             ones are ready)",
            self.startup.binary.display(),
            self.pid,
            handover.workers.len()
        );
        // The new image starts the mules, spoolers and attach-daemon processes again.
        self.stop_extras_for_reload();
        self.daemons.stop_for_reload();
        if let Some(n) = &self.notify {
            n.reloading();
        }
        if self.subscriptions.on_reload {
            self.subscriptions.send_all(Announce::Unsubscribe, true);
        }
        if let Some(Err(e)) = self.startup.emperor.as_ref().map(|l| l.keep_across_exec()) {
            log::warn!("the reloaded image will not hear the emperor: {e}");
        }
        let e = reexec::exec(&self.startup.binary, &handover);
        if let Some(link) = &self.startup.emperor {
            link.close_on_exec();
        }
        log::error!(
            "cannot re-execute {}: {e}; the reload is skipped, the workers keep serving",
            self.startup.binary.display()
        );
        if let Some(n) = &self.notify {
            n.send("READY=1\nSTATUS=the reload failed; the workers keep serving");
        }
        // The mules and spoolers were stopped for the new image: this one starts them again.
        for x in &mut self.extras {
            x.respawn_at = Some(Instant::now());
        }
    }

    /// Whether a reload may start now: no workers of an older generation are still running
    /// (a reload hands over one generation, for which the scoreboard has room) and no
    /// worker is being replaced (a chain reload, `max-worker-lifetime`); or the last reload
    /// failed and its workers are gone (the previous ones serve alone).
    fn may_reexec(&self) -> bool {
        let one_generation = self.previous.is_empty()
            && self.draining.is_empty()
            && self.replacing.is_empty()
            && self.releases.is_empty()
            && self.chain.is_none();
        let failed_alone = self.reload_failed
            && self.draining.is_empty()
            && self.workers.iter().all(|w| w.pid.is_none());
        one_generation || failed_alone
    }

    /// FIFO `w`, `touch-workers-reload`: new workers forked from this master (under preload
    /// they serve the code the master imported, as in uWSGI), the current ones serving until
    /// every new one is ready, then draining — the reload's hand-over without the re-exec.
    fn replace_workers(&mut self) {
        if !self.may_reexec() || self.reload_failed {
            log::warn!("a reload is in progress: the workers' reload is skipped");
            return;
        }
        log::info!("reloading the workers; the running ones serve until the new ones are ready");
        for idx in 0..self.workers.len() {
            let w = &mut self.workers[idx];
            if w.cheap {
                continue;
            }
            w.respawn_at = None;
            w.slot = None;
            if let Some(pid) = w.pid.take() {
                self.previous.push(pid);
            }
            self.spawn_or_retry(idx + 1);
        }
    }

    /// FIFO `c`, `touch-chain-reload`: the workers replaced one at a time, each new one ready
    /// before the one it replaces drains. It needs `lazy-apps` (a new worker forked from a
    /// master that preloaded would serve the old code): without it, a graceful reload.
    fn start_chain(&mut self) {
        if !self.opts.lazy_apps {
            log::info!("a chain reload needs lazy-apps; reloading gracefully instead");
            self.act(Command::Reload);
            return;
        }
        if !self.may_reexec() || self.reload_failed {
            log::warn!("a reload is in progress: the chain reload is skipped");
            return;
        }
        log::info!("chain reload: replacing the workers one at a time");
        self.chain_step(0);
    }

    /// Replaces the first running worker from index `from` as a chain reload's step, or
    /// ends the chain when none is left.
    fn chain_step(&mut self, from: usize) {
        match (from..self.workers.len()).find(|&i| !self.workers[i].cheap) {
            Some(idx) => {
                self.chain = Some(idx);
                self.replace(idx);
            }
            None => {
                self.chain = None;
                log::info!("chain reload done");
            }
        }
    }

    /// Replaces worker `idx + 1`: its process serves on until the new one is ready
    /// ([`Master::advance_handoffs`]).
    fn replace(&mut self, idx: usize) {
        let w = &mut self.workers[idx];
        w.respawn_at = None;
        w.slot = None;
        let old = w.pid.take();
        self.replacing.push(Handoff { idx, old });
        self.spawn_or_retry(idx + 1);
    }

    /// Tells each replaced process to drain once its worker's new process is ready, and
    /// moves a chain reload on when its step is done.
    fn advance_handoffs(&mut self) {
        let mut i = 0;
        while i < self.replacing.len() {
            let h = self.replacing[i];
            let Some(slot) = self.workers[h.idx].slot.filter(|&s| self.loaded(s)) else {
                i += 1;
                continue;
            };
            self.replacing.swap_remove(i);
            let replaced: Vec<u32> = h.old.into_iter().collect();
            for &pid in &replaced {
                kill(pid, Signal::SIGTERM);
                self.drain(pid, "replaced", Some(h.idx));
            }
            self.releases.push(Release {
                held: vec![slot],
                replaced,
                by: Instant::now() + RELEASE_WAIT,
            });
        }
        let Some(idx) = self.chain else {
            return;
        };
        if !self.replacing.iter().any(|h| h.idx == idx) {
            self.chain_step(idx + 1);
        }
    }

    /// Tells systemd `READY=1`, and the emperor that this vassal is up and accepting, once
    /// per image, when every worker (not held back by cheaper mode) accepts.
    fn notify_ready(&mut self) {
        if self.notified_ready || (self.notify.is_none() && self.startup.emperor.is_none()) {
            return;
        }
        let running: Vec<_> = self.workers.iter().filter(|w| !w.cheap).collect();
        let ready = running.iter().all(|w| {
            w.slot
                .is_some_and(|s| self.board.process(s).status() == ProcessStatus::Ready)
        });
        if !ready {
            return;
        }
        self.notified_ready = true;
        if let Some(n) = &self.notify {
            n.send(&format!(
                "READY=1\nSTATUS=ready: {} workers accepting",
                running.len()
            ));
        }
        if let Some(link) = &self.startup.emperor {
            link.tell(vassal::byte::RELOAD_OR_SPAWNED);
            link.tell(vassal::byte::ACCEPTING);
        }
    }

    /// Acts on what the emperor's line says: its orders, or its closing, which stops this
    /// vassal at once with exit status 1 (as uWSGI's "lost connection with my emperor").
    fn obey_emperor(&mut self) {
        let Some(link) = &self.startup.emperor else {
            return;
        };
        for order in link.orders() {
            match order {
                Order::Do(command) => self.act(command),
                Order::Lost => {
                    log::error!("lost connection with my emperor; stopping");
                    if let Some(link) = self.startup.emperor.take() {
                        let _ = self
                            .poll
                            .registry()
                            .deregister(&mut mio::unix::SourceFd(&link.raw_fd()));
                    }
                    self.exit_code = 1;
                    self.act(Command::Halt);
                    return;
                }
            }
        }
    }

    /// Once every new worker is ready, tells the previous image's workers to drain (SIGTERM:
    /// they stop accepting, finish their in-flight requests and exit).
    fn retire_previous(&mut self) {
        if self.previous.is_empty() || self.reload_failed {
            return;
        }
        let running = || self.workers.iter().filter(|w| !w.cheap);
        if !running().all(|w| w.slot.is_some_and(|s| self.loaded(s))) {
            return;
        }
        log::info!(
            "the new workers are ready; the {} previous workers stop accepting, finish their \
             requests and exit",
            self.previous.len()
        );
        let held = running().filter_map(|w| w.slot).collect();
        let replaced = std::mem::take(&mut self.previous);
        for &pid in &replaced {
            // A paused server was paused before the reload: its previous workers resume to
            // drain.
            kill(pid, Signal::SIGCONT);
            kill(pid, Signal::SIGTERM);
            self.drain(pid, "previous", None);
        }
        self.releases.push(Release {
            held,
            replaced,
            by: Instant::now() + RELEASE_WAIT,
        });
    }

    /// Whether the new worker `idx` replaces processes that may still accept: a reload's
    /// previous workers, or its own predecessor in a hand-off (a chain reload's step,
    /// `max-worker-lifetime`). Such a worker waits as `Held` until they have stopped.
    fn replaces_accepting(&self, idx: usize) -> bool {
        (!self.previous.is_empty() && !self.reload_failed)
            || self
                .replacing
                .iter()
                .any(|h| h.idx == idx && h.old.is_some())
    }

    /// The workers waiting as `Held`: their index and scoreboard slot.
    fn held(&self) -> impl Iterator<Item = (usize, ProcessIndex)> + use<'_, 'a> {
        self.workers.iter().enumerate().filter_map(|(idx, w)| {
            let slot = w.slot?;
            (self.board.process(slot).status() == ProcessStatus::Held).then_some((idx, slot))
        })
    }

    /// Whether the worker in `slot` has loaded the app and set up its loop: it accepts, or
    /// will once the processes it replaces stop accepting.
    fn loaded(&self, slot: ProcessIndex) -> bool {
        matches!(
            self.board.process(slot).status(),
            ProcessStatus::Ready | ProcessStatus::Held
        )
    }

    /// Lets held workers accept once every process they replace has stopped accepting
    /// (its slot left `Ready`, or it exited), or at the hand-over's deadline; and at once a
    /// held worker left with nothing to wait for (the processes it was to replace exited
    /// before it was ready, so no hand-over names it).
    fn release_held(&mut self) {
        let now = Instant::now();
        let board = &self.board;
        for (idx, slot) in self.held() {
            let waits = self.replaces_accepting(idx)
                || self.releases.iter().any(|r| r.held.contains(&slot));
            if !waits {
                board
                    .process(slot)
                    .advance(ProcessStatus::Held, ProcessStatus::Ready);
            }
        }
        let stopped_accepting = |pid: &u32| {
            board.find_pid(*pid).is_none_or(|s| {
                !matches!(
                    board.process(s).status(),
                    ProcessStatus::Ready | ProcessStatus::Paused | ProcessStatus::Held
                )
            })
        };
        self.releases.retain(|r| {
            let stopped = r.replaced.iter().all(stopped_accepting);
            if !stopped && now < r.by {
                return true;
            }
            if !stopped {
                log::warn!(
                    "the replaced workers did not say they stopped accepting within {} ms; \
                     the new ones accept anyway",
                    RELEASE_WAIT.as_millis()
                );
            }
            for &slot in &r.held {
                board
                    .process(slot)
                    .advance(ProcessStatus::Held, ProcessStatus::Ready);
            }
            false
        });
    }

    fn log_stats(&self) {
        log_stats(&self.board, "master", self.pid);
    }

    /// Answers the stats client behind `token` (`stats_server.rs`), with the stats of the
    /// current workers (`stats_report.rs`).
    fn serve_stats(&mut self, token: Token) {
        let Some(mut server) = self.stats.take() else {
            return;
        };
        let mut answer = |page| {
            let workers: Vec<WorkerEntry> = self
                .workers
                .iter()
                .enumerate()
                .map(|(i, w)| WorkerEntry {
                    id: i + 1,
                    slot: w.slot,
                    respawns: w.respawns,
                    harakiri_count: w.harakiri_count,
                    cheap: w.cheap,
                    carried: w.carried,
                })
                .collect();
            let report = Report::gather(&self.board, &self.sockets, &workers, self.pid);
            match page {
                Page::Json => report.to_json(self.opts.stats_minified),
                Page::Metrics => report.to_prometheus().into_bytes(),
            }
        };
        server.ready(self.poll.registry(), token, Instant::now(), &mut answer);
        self.stats = Some(server);
    }

    fn reap(&mut self) {
        while let Some((pid, status)) = reap_one() {
            if self.crons.reaped(pid, status, ruwsgi_logging::now_secs()) {
                continue;
            }
            if self.touched.reaped(pid, status) {
                continue;
            }
            if let Some(control) = self.daemons.reaped(pid, status, self.stopping.is_some()) {
                if control {
                    self.begin_stop(true);
                }
                continue;
            }
            if self.extra_reaped(pid, status) {
                continue;
            }
            if let Some(i) = self.draining.iter().position(|d| d.pid == pid) {
                let d = self.draining.swap_remove(i);
                if let (Some(idx), Some(slot)) = (d.worker, self.board.find_pid(pid)) {
                    self.workers[idx].carried.add(self.board.process(slot));
                }
                self.board.release(pid);
                log::info!(
                    "{} worker (pid {pid}) finished: {}",
                    d.why,
                    describe_status(status)
                );
                continue;
            }
            let handoff = self.replacing.iter().position(|h| h.old == Some(pid));
            if let Some(i) = handoff {
                self.replacing[i].old = None;
            }
            let previous = self.previous.iter().position(|&p| p == pid);
            if let Some(i) = previous {
                self.previous.swap_remove(i);
            }
            if handoff.is_some() || previous.is_some() {
                self.board.release(pid);
                if self.stopping.is_none() {
                    log::warn!(
                        "previous worker (pid {pid}) exited before its replacement was ready \
                         ({}); not replaced by the previous code",
                        describe_status(status)
                    );
                }
                continue;
            }
            let Some(idx) = self.workers.iter().position(|w| w.pid == Some(pid)) else {
                continue;
            };
            let id = idx + 1;
            if let Some(slot) = self.workers[idx].slot {
                self.workers[idx].carried.add(self.board.process(slot));
            }
            // A worker that recycled itself between the look at the slots and now.
            let recycled = self.workers[idx]
                .slot
                .is_some_and(|s| self.board.process(s).status() == ProcessStatus::Recycling);
            self.board.release(pid);
            let w = &mut self.workers[idx];
            w.pid = None;
            w.slot = None;
            let lived = w.spawned.map(|s| s.elapsed()).unwrap_or_default();
            if self.stopping.is_some() {
                log::info!(
                    "worker {id} (pid {pid}) stopped: {}",
                    describe_status(status)
                );
                continue;
            }
            if self.reload_failed {
                log::info!(
                    "worker {id} (pid {pid}) stopped ({}); not respawned until a reload \
                     succeeds",
                    describe_status(status)
                );
                continue;
            }
            if recycled {
                log::info!(
                    "worker {id} (pid {pid}) recycled itself ({}); respawning",
                    describe_status(status)
                );
                w.quick_deaths = 0;
                w.respawn_at = Some(Instant::now());
                continue;
            }
            if std::mem::take(&mut w.restarting) {
                log::info!(
                    "worker {id} (pid {pid}) restarted ({})",
                    describe_status(status)
                );
                w.quick_deaths = 0;
                w.respawn_at = Some(Instant::now());
                continue;
            }
            let no_app = libc::WIFEXITED(status)
                && libc::WEXITSTATUS(status) == worker::EXIT_NO_APP
                && self.opts.need_app;
            let handoff = self.replacing.iter().position(|h| h.idx == idx);
            if let (true, Some(i)) = (no_app, handoff) {
                // The process it replaces serves on.
                if self.chain.take().is_some() {
                    log::error!(
                        "the chain reload stopped: worker {id} (pid {pid}) could not load the \
                         app; the workers not yet replaced keep serving the previous code"
                    );
                } else {
                    log::error!(
                        "worker {id} (pid {pid}) could not load the app; the process it was \
                         to replace serves on"
                    );
                }
                let old = self.replacing.swap_remove(i).old;
                let slot = old.and_then(|p| self.board.find_pid(p));
                let w = &mut self.workers[idx];
                w.pid = old;
                w.slot = slot;
                continue;
            }
            if no_app && !self.previous.is_empty() {
                log::error!(
                    "the reload failed: worker {id} (pid {pid}) could not load the app; the \
                     {} previous workers keep serving the previous code until a reload succeeds",
                    self.previous.len()
                );
                self.reload_failed = true;
                for w in &mut self.workers {
                    w.respawn_at = None;
                    if let Some(pid) = w.pid {
                        kill(pid, Signal::SIGINT);
                    }
                }
                continue;
            }
            if no_app {
                log::error!(
                    "worker {id} (pid {pid}) could not load the app; need-app is on, stopping the server"
                );
                self.exit_code = worker::EXIT_NO_APP;
                self.begin_stop(false);
                continue;
            }
            let delay = respawn_delay(&mut w.quick_deaths, lived);
            log::warn!(
                "worker {id} (pid {pid}) died after {:.1}s: {}; respawning{}",
                lived.as_secs_f64(),
                describe_status(status),
                if delay.is_zero() {
                    String::new()
                } else {
                    format!(
                        " in {}ms ({} quick deaths in a row)",
                        delay.as_millis(),
                        w.quick_deaths
                    )
                }
            );
            w.respawn_at = Some(Instant::now() + delay);
        }
    }

    fn respawn_due(&mut self) {
        let now = Instant::now();
        for idx in 0..self.workers.len() {
            if self.workers[idx].respawn_at.is_some_and(|at| at <= now) {
                self.workers[idx].respawn_at = None;
                self.spawn_or_retry(idx + 1);
            }
        }
        for idx in 0..self.extras.len() {
            if self.extras[idx].respawn_at.is_some_and(|at| at <= now) {
                self.extras[idx].respawn_at = None;
                self.spawn_extra_or_retry(idx);
            }
        }
    }

    /// Forks worker `id`. A failure (fork's EAGAIN or ENOMEM, no free scoreboard slot) never
    /// stops the server: it is logged with its cause, and the fork is tried again after a
    /// back-off ([`backoff`]) while the master and the workers that live keep serving.
    fn spawn_or_retry(&mut self, id: usize) {
        let Err(e) = self.spawn(id) else {
            self.workers[id - 1].fork_failures = 0;
            return;
        };
        // The cause (fork's errno) is the error's source.
        let mut why = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            why = format!("{why}: {cause}");
            source = cause.source();
        }
        let w = &mut self.workers[id - 1];
        let delay = backoff(w.fork_failures);
        w.fork_failures += 1;
        log::error!(
            "{why}; worker {id} is not running, trying again in {} ms ({} failed in a row)",
            delay.as_millis(),
            w.fork_failures
        );
        w.respawn_at = Some(Instant::now() + delay);
    }

    fn spawn(&mut self, id: usize) -> Result<(), Error> {
        let preload = !self.opts.lazy_apps;
        if preload && !self.warned_threads {
            self.warned_threads = true;
            let threads = self.service.app_threads();
            if !threads.is_empty() {
                log::warn!(
                    "the app started threads at import ({}); they do not exist in the forked workers. \
                     Use --lazy-apps, a @postfork hook, a mule or a timer to run them in workers",
                    threads.join(", ")
                );
            }
        }
        // The slot is reserved before the fork, so the child knows it from its first moment.
        let slot = self
            .board
            .reserve(id, ProcessKind::Worker, self.board.generation())
            .map_err(|e| Error::with(ErrorKind::Os(format!("cannot spawn worker {id}")), e))?;
        let pid = match self.fork_into(slot, &format!("worker {id}"))? {
            Forked::Parent(pid) => pid,
            Forked::Child(mask) => {
                let code = self.become_worker(id, slot, mask);
                exit_child(code)
            }
        };
        let w = &mut self.workers[id - 1];
        w.respawns += 1;
        let process = self.board.process(slot);
        process.respawns.store(w.respawns, Ordering::Relaxed);
        process
            .harakiri_count
            .store(w.harakiri_count, Ordering::Relaxed);
        w.pid = Some(pid);
        w.slot = Some(slot);
        w.spawned = Some(Instant::now());
        w.graceful_cut_at = None;
        log::info!("spawned worker {id} (pid {pid})");
        Ok(())
    }

    /// Forks a child for the reserved `slot` (`what` names it in errors): the parent gets
    /// the child's pid (set in the slot); the child gets the signal mask to restore once it
    /// has its own handlers ([`Master::enter_child`]). A failed fork frees the slot.
    fn fork_into(&mut self, slot: ProcessIndex, what: &str) -> Result<Forked, Error> {
        self.service.before_fork();
        // Signals stay blocked across the fork until the child has its own handlers: a
        // SIGINT that reached the child while it still had the master's (which only set a
        // flag in the master's loop) would be lost, and the child would not stop.
        let mask = SignalMask::block_all();
        let fork = if self.started && self.fail_forks > 0 {
            self.fail_forks -= 1;
            Err(nix::errno::Errno::EAGAIN)
        } else {
            // SAFETY: the master runs one thread (module doc), and `Service::before_fork`
            // has readied the app's runtime, so the child holds no lock another thread left
            // taken.
            unsafe { nix::unistd::fork() }
        }
        .map_err(|e| Error::os(format!("cannot fork {what}"), e.into()));
        match fork {
            Err(e) => {
                mask.restore();
                // Undo `before_fork` (the interpreter's fork locks) as after a fork.
                self.service.after_fork_parent();
                self.board.release_slot(slot);
                Err(e)
            }
            Ok(ForkResult::Child) => {
                // Before anything logs: a child serves, so its lines go through a log
                // writer thread of its own (the master writes directly).
                ruwsgi_logging::start_writer();
                proctitle::restore();
                Ok(Forked::Child(mask))
            }
            Ok(ForkResult::Parent { child }) => {
                mask.restore();
                self.service.after_fork_parent();
                let pid = child.as_raw() as u32;
                self.board.set_pid(slot, pid);
                Ok(Forked::Parent(pid))
            }
        }
    }

    /// The child side of a fork, for workers, mules and spoolers alike: drop the master's signal
    /// handling, die with the master, ready the app's runtime, run the `hook-post-fork`
    /// commands. False when the master is already gone (the child exits).
    fn enter_child(&mut self, mask: SignalMask) -> bool {
        // Until the child's own signal handling runs, TERM/INT/QUIT end it at once (nothing
        // is in flight yet); registered before the master's handlers go so none is lost.
        early_signals::exit_at_once();
        self.signals.unregister();
        // The stats socket is the master's: closed here (not deregistered, which would
        // remove it from the epoll the child shares with the master).
        drop(self.stats.take());
        // The emperor's line is the master's alone: its closing tells the emperor the
        // master is gone.
        drop(self.startup.emperor.take());
        // A stop signal sent since the fork is delivered now, to the early handlers.
        mask.restore();
        // Die with the master (PR_SET_PDEATHSIG), and do not outlive a master that died
        // between fork and prctl.
        let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
        if nix::unistd::getppid().as_raw() as u32 != self.pid {
            return false;
        }
        self.service.after_fork_child();
        // `master-as-root`: the master kept its privileges; its children drop them, before
        // the post-fork hooks, as uWSGI's.
        if self.opts.master_as_root {
            if let Err(e) = crate::drop_to_user(self.opts) {
                log::error!("master-as-root: {e}");
                return false;
            }
        }
        // Not fatal (logged), as in uWSGI.
        let _ = crate::hooks::run("post-fork", &self.opts.hooks.post_fork, false);
        true
    }

    /// Writes `safe-pidfile` and `safe-pidfile2` (uWSGI writes them once its start-up is
    /// done, workers spawned, and not at a reload: a re-executed master keeps its pid, so the
    /// files stay true). From then on FIFO `P` writes them again with the other pidfiles.
    fn write_safe_pidfile(&mut self) {
        for path in std::mem::take(&mut self.startup.safe_pidfiles) {
            if self.startup.previous.is_none() {
                if let Err(e) = crate::daemon::write_pidfile(&path) {
                    log::error!("safe-pidfile: {e}");
                    continue;
                }
            }
            self.startup.pidfiles.push(path);
        }
    }

    /// The child side of a worker's fork: run the worker.
    fn become_worker(&mut self, id: usize, slot: ProcessIndex, mask: SignalMask) -> i32 {
        if !self.enter_child(mask) {
            return 1;
        }
        proctitle::name(self.opts, proctitle::Role::Worker(id));
        if let Some(n) = self.opts.cpu_affinity.filter(|&n| n > 0) {
            let cpus = crate::sys::affinity_cpus(id, n, crate::sys::online_cpus());
            match crate::sys::pin_to_cpus(&cpus) {
                Ok(()) => log::info!("mapping worker {id} to CPUs {cpus:?}"),
                Err(e) => log::warn!("cpu-affinity: cannot pin worker {id} to CPUs {cpus:?}: {e}"),
            }
        }
        let ctx = WorkerContext {
            id,
            master_pid: Some(self.pid),
            numproc: self.opts.processes,
            scoreboard: self.board.clone(),
            slot,
            recycling: self.opts.recycling(id),
            reaper: self.opts.reaper,
            ksm: self.opts.ksm.unwrap_or(0),
            mules: self.mule_queues.clone(),
            spool: self.spool.clone(),
            caches: self.caches.clone(),
        };
        // A worker that replaces processes still accepting waits for them to stop before
        // it accepts.
        let held = self.replaces_accepting(id - 1);
        let hooks = &self.opts.hooks;
        let worker_hooks = worker::WorkerHooks {
            load: self
                .opts
                .lazy_apps
                .then(|| (hooks.pre_app(), hooks.post_app())),
            // The first spawn of this id by this image (the parent counts this spawn in
            // `respawns` after the fork, so the child sees the earlier count).
            accepting: hooks.accepting(id, self.workers[id - 1].respawns == 0),
        };
        worker::run(
            self.service,
            &ctx,
            std::mem::take(&mut self.sockets),
            worker_hooks,
            self.opts.need_app,
            self.opts.worker_reload_mercy,
            held,
        )
    }
}

/// Mules and spoolers: spawned after the workers, respawned when they die (with the
/// workers' back-off), stopped with the server and before a re-exec (the new image spawns
/// its own).
impl Master<'_> {
    fn spawn_extra_or_retry(&mut self, idx: usize) {
        let Err(e) = self.spawn_extra(idx) else {
            return;
        };
        let x = &mut self.extras[idx];
        x.quick_deaths += 1;
        let delay = backoff(x.quick_deaths);
        log::error!(
            "{e}; {} {} is not running, trying again in {} ms",
            x.role.name(),
            x.id,
            delay.as_millis()
        );
        x.respawn_at = Some(Instant::now() + delay);
    }

    fn spawn_extra(&mut self, idx: usize) -> Result<(), Error> {
        let (kind, name, id) = {
            let x = &self.extras[idx];
            (x.role.kind(), x.role.name(), x.id)
        };
        let slot = self
            .board
            .reserve(id, kind, self.board.generation())
            .map_err(|e| Error::with(ErrorKind::Os(format!("cannot spawn {name} {id}")), e))?;
        let pid = match self.fork_into(slot, &format!("{name} {id}"))? {
            Forked::Parent(pid) => pid,
            Forked::Child(mask) => {
                let code = self.become_extra(idx, slot, mask);
                exit_child(code)
            }
        };
        let x = &mut self.extras[idx];
        x.respawns += 1;
        self.board
            .process(slot)
            .respawns
            .store(x.respawns, Ordering::Relaxed);
        x.pid = Some(pid);
        x.slot = Some(slot);
        x.spawned = Some(Instant::now());
        match &x.role {
            Role::Mule(MuleSpec { patch: Some(patch) }) => {
                log::info!("spawned mule {id} (pid {pid}) running {patch}")
            }
            Role::Spooler(spec) => {
                log::info!("spawned spooler {id} (pid {pid}) on {}", spec.dir.display())
            }
            Role::Mule(_) => log::info!("spawned mule {id} (pid {pid})"),
        }
        Ok(())
    }

    /// The child side of a mule's or spooler's fork: run it; its exit status.
    fn become_extra(&mut self, idx: usize, slot: ProcessIndex, mask: SignalMask) -> i32 {
        if !self.enter_child(mask) {
            return 1;
        }
        // Mules and spoolers accept no connection: holding the listening sockets would
        // keep them open after the workers closed theirs at a stop.
        drop(std::mem::take(&mut self.sockets));
        let (role, id) = (self.extras[idx].role.clone(), self.extras[idx].id);
        let title = match role {
            Role::Mule(_) => proctitle::Role::Mule(id),
            Role::Spooler(_) => proctitle::Role::Spooler,
        };
        proctitle::name(self.opts, title);
        self.board.process(slot).set_status(ProcessStatus::Ready);
        match role {
            Role::Mule(spec) => {
                let Some(queues) = self.mule_queues.clone() else {
                    return 1;
                };
                let ctx = MuleContext {
                    id,
                    patch: spec.patch,
                    master_pid: self.pid,
                    scoreboard: self.board.clone(),
                    slot,
                    queues,
                    spool: self.spool.clone(),
                    caches: self.caches.clone(),
                };
                match self.service.mule(&ctx) {
                    Ok(()) => 0,
                    Err(e) => {
                        log::error!("mule {id}: {e}");
                        1
                    }
                }
            }
            Role::Spooler(spec) => {
                let ctx = SpoolerContext {
                    id,
                    dir: spec.dir.clone(),
                    master_pid: self.pid,
                    scoreboard: self.board.clone(),
                    slot,
                    imports: self.opts.spooler_import.clone(),
                    mules: self.mule_queues.clone(),
                    spool: self.spool.clone(),
                    caches: self.caches.clone(),
                };
                let runner = match self.service.spooler(&ctx) {
                    Ok(runner) => runner,
                    Err(e) => {
                        log::error!("spooler {id}: {e}");
                        return 1;
                    }
                };
                SpoolerLoop {
                    dir: spec.dir,
                    frequency: Duration::from_secs(self.opts.spooler_frequency),
                    quiet: self.opts.spooler_quiet,
                    chdir: self.opts.spooler_chdir.clone(),
                    board: self.board.clone(),
                    slot,
                    runner,
                }
                .run()
            }
        }
    }

    /// Whether `pid` was a mule or spooler (then it is handled: respawned unless the
    /// server stops).
    fn extra_reaped(&mut self, pid: u32, status: libc::c_int) -> bool {
        let Some(idx) = self.extras.iter().position(|x| x.pid == Some(pid)) else {
            return false;
        };
        self.board.release(pid);
        let x = &mut self.extras[idx];
        let (name, id) = (x.role.name(), x.id);
        x.pid = None;
        x.slot = None;
        if self.stopping.is_some() {
            log::info!(
                "{name} {id} (pid {pid}) stopped: {}",
                describe_status(status)
            );
            return true;
        }
        let lived = x.spawned.map(|s| s.elapsed()).unwrap_or_default();
        let delay = respawn_delay(&mut x.quick_deaths, lived);
        log::warn!(
            "{name} {id} (pid {pid}) ended after {:.1}s: {}; respawning{}",
            lived.as_secs_f64(),
            describe_status(status),
            if delay.is_zero() {
                String::new()
            } else {
                format!(" in {}ms", delay.as_millis())
            }
        );
        x.respawn_at = Some(Instant::now() + delay);
        true
    }

    /// Tells every mule and spooler to stop (they end at once on TERM, as uWSGI's; a job
    /// cut short stays queued and runs again).
    fn stop_extras(&mut self) {
        for x in &mut self.extras {
            x.respawn_at = None;
            if let Some(pid) = x.pid {
                kill(pid, Signal::SIGTERM);
            }
        }
    }

    /// Before a re-exec: stops the mules and spoolers and waits for them (killing them
    /// after `reload-mercy`), so none outlives the image that started it.
    fn stop_extras_for_reload(&mut self) {
        self.stop_extras();
        let mut deadline = Instant::now() + self.opts.reload_mercy;
        let mut killed = false;
        while self.extras.iter().any(|x| x.pid.is_some()) {
            for x in &mut self.extras {
                if let Some(pid) = x.pid {
                    if reaped_now(pid) {
                        self.board.release(pid);
                        x.pid = None;
                        x.slot = None;
                    }
                }
            }
            if Instant::now() >= deadline {
                if killed {
                    log::error!(
                        "mules or spoolers still running after SIGKILL; re-executing without them"
                    );
                    return;
                }
                for pid in self.extras.iter().filter_map(|x| x.pid) {
                    kill(pid, Signal::SIGKILL);
                }
                killed = true;
                deadline = Instant::now() + Duration::from_secs(1);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// What [`Master::fork_into`] returns on each side of the fork.
enum Forked {
    /// In the master: the child's pid.
    Parent(u32),
    /// In the child: the mask to restore once it has its own signal handlers.
    Child(SignalMask),
}

/// Ends a forked child with `code`, its output flushed.
fn exit_child(code: i32) -> ! {
    use std::io::Write;
    ruwsgi_logging::flush(LOG_FLUSH);
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}

/// How long an exiting or re-executing process waits for its log lines to be written (a
/// wedged log must not keep it from going).
pub(crate) const LOG_FLUSH: Duration = Duration::from_secs(2);

/// The signal mask of the calling thread before [`SignalMask::block_all`] blocked everything.
#[derive(Clone, Copy)]
struct SignalMask(SigSet);

impl SignalMask {
    /// Blocks every signal in the calling thread; returns the mask to restore.
    fn block_all() -> SignalMask {
        let mut old = SigSet::empty();
        // Only an invalid `how` fails (EINVAL).
        let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), Some(&mut old));
        SignalMask(old)
    }

    /// Restores the mask; pending signals are delivered.
    fn restore(self) {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.0), None);
    }
}

/// `harakiri-verbose`: what each thread of process `pid` waits in, from
/// `/proc/PID/task/*/{comm,wchan}` (the Python threads are named `ruwsgi-py-N`).
fn log_thread_waits(pid: u32) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for task in tasks.flatten() {
        let read = |name: &str| {
            std::fs::read_to_string(task.path().join(name))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let wchan = match read("wchan") {
            w if w.is_empty() || w == "0" => "running".to_string(),
            w => w,
        };
        log::error!(
            "HARAKIRI: pid {pid} thread {} ({}) waits in {wchan}",
            task.file_name().to_string_lossy(),
            read("comm"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_loop_backs_off_and_a_long_life_resets_it() {
        let mut quick = 0;
        let soon = Duration::from_millis(100);
        let delays: Vec<u128> = (0..7)
            .map(|_| respawn_delay(&mut quick, soon).as_millis())
            .collect();
        assert_eq!(delays, [0, 125, 250, 500, 1000, 2000, 4000]);
        assert_eq!(respawn_delay(&mut quick, soon), MAX_BACKOFF);
        assert_eq!(
            respawn_delay(&mut quick, Duration::from_secs(60)),
            Duration::ZERO
        );
        assert_eq!(quick, 0);
    }
}
