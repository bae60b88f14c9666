//! One worker: load the app under `lazy-apps`, build the loop, stop it on signals, run it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ruwsgi_shm::{ProcessIndex, ProcessStatus, Scoreboard};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

use crate::bind::Bound;
use crate::service::{Service, ServiceErrorKind, Stop, ThreadStacks, WorkerContext};

/// How a worker run ended: the process exit status.
pub(crate) const EXIT_OK: i32 = 0;
/// uWSGI's `UWSGI_FAILED_APP_CODE`.
pub(crate) const EXIT_NO_APP: i32 = 22;
/// How often a held worker looks whether the master let it accept, and a leaving one
/// whether its loop closed its listeners.
const LOOK: Duration = Duration::from_millis(1);
/// The longest a leaving worker waits for its loop to close its listeners: the loop thread
/// does it on its next turn, which no Python code delays.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The hooks a worker runs ([`crate::hooks`]).
#[derive(Debug, Default)]
pub(crate) struct WorkerHooks {
    /// `Some((pre-app, post-app))`: the worker loads the app itself (lazy-apps), between
    /// these actions; the caller has already loaded it otherwise.
    pub(crate) load: Option<(Vec<String>, Vec<String>)>,
    /// The `accepting` actions, run once it can serve, before its loop accepts.
    pub(crate) accepting: Vec<String>,
}

/// Runs a worker to its end and returns its exit status. `hooks` says whether the app must
/// be loaded here (lazy-apps) and what runs before it accepts; a failing hook ends the
/// worker with status 1. `sockets` are this process's copies of the listening sockets: the loop takes
/// its own and these are closed, so a loop that closes its listeners leaves the sockets to
/// the processes still accepting (docs/architecture.md, "stopping drains"). A `held` worker
/// replaces processes that may still accept: ready, it waits as `Held` until the master
/// sets it `Ready` (docs/architecture.md, "a reload hands over").
pub(crate) fn run(
    service: &mut dyn Service,
    ctx: &WorkerContext,
    sockets: Vec<Bound>,
    hooks: WorkerHooks,
    need_app: bool,
    mercy: Duration,
    held: bool,
) -> i32 {
    let slot = ctx.scoreboard.process(ctx.slot);
    if let Some((pre_app, post_app)) = &hooks.load {
        if let Err(err) = crate::hooks::run("pre-app", pre_app, true) {
            log::error!("worker {}: {err}", ctx.id);
            return 1;
        }
        let kept = crate::kept_handlers::KeptHandlers::save(&crate::SERVER_SIGNALS);
        let loaded = service.load();
        kept.restore(&format!("worker {}", ctx.id));
        if let Err(err) = loaded {
            if err.kind() == ServiceErrorKind::AppLoad && need_app {
                log::error!("worker {}: cannot load the app: {err}", ctx.id);
                return EXIT_NO_APP;
            }
            log::warn!(
                "worker {}: no app loaded ({err}); serving without it",
                ctx.id
            );
        }
        if let Err(err) = crate::hooks::run("post-app", post_app, true) {
            log::error!("worker {}: {err}", ctx.id);
            return 1;
        }
    }
    // Before the loop and the service's threads allocate request bodies.
    crate::sys::keep_freed_memory();
    let mut serving = match service.serve(ctx, &sockets) {
        Ok(s) => s,
        Err(err) => {
            log::error!("worker {}: cannot start serving: {err}", ctx.id);
            return 1;
        }
    };
    drop(sockets);
    if let Err(err) = crate::hooks::run("accepting", &hooks.accepting, true) {
        log::error!("worker {}: {err}", ctx.id);
        return 1;
    }
    // A worker may have threads (the Python pool), so a thread of its own turns signals
    // into calls on the loop's stopper. TERM and HUP drain (docs/architecture.md: "Stopping
    // drains"; HUP is how uWSGI gracefully kills one worker); INT and QUIT stop at once; USR1
    // logs the stats and goes on (the master's, when there is one, covers every worker);
    // USR2 is the master's harakiri notice.
    let stopper = serving.stopper();
    let stacks = serving.take_stacks();
    let mut signals = match Signals::new([SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2]) {
        Ok(s) => s,
        Err(err) => {
            log::error!("worker {}: cannot handle signals: {err}", ctx.id);
            return 1;
        }
    };
    let handle = signals.handle();
    let id = ctx.id;
    let (board, index) = (ctx.scoreboard.clone(), ctx.slot);
    let alone = ctx.master_pid.is_none();
    // Set by the signal thread when the worker is told to go: a held worker stops waiting.
    let asked_to_go = Arc::new(AtomicBool::new(false));
    let going = asked_to_go.clone();
    let signal_thread = std::thread::Builder::new()
        .name("ruwsgi-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                match sig {
                    SIGTERM => {
                        log::info!("worker {id}: SIGTERM, finishing in-flight requests");
                        leave(&*stopper, server_stops(&board, index, alone), mercy);
                        stopped_accepting(&board, index, &*stopper, &going);
                    }
                    SIGHUP => {
                        let pid = std::process::id();
                        log::info!("Gracefully killing worker {id} (pid: {pid})...");
                        leave(&*stopper, server_stops(&board, index, alone), mercy);
                        stopped_accepting(&board, index, &*stopper, &going);
                    }
                    SIGUSR1 => {
                        let pid = std::process::id();
                        if let Some(rss) = crate::stats::rss_bytes(pid) {
                            board.process(index).rss.store(rss, Ordering::Relaxed);
                        }
                        crate::stats::log_stats(&board, "worker", pid);
                    }
                    SIGUSR2 => {
                        let notice = MasterNotice {
                            id,
                            board: &board,
                            slot: index,
                            stopper: &*stopper,
                            stacks: stacks.as_deref(),
                        };
                        notice.run(mercy);
                        stopped_accepting(&board, index, &*stopper, &going);
                    }
                    _ => {
                        stopper.immediate();
                        going.store(true, Ordering::Release);
                        board
                            .process(index)
                            .advance(ProcessStatus::Held, ProcessStatus::Stopping);
                    }
                }
            }
        });
    let signal_thread = match signal_thread {
        Ok(t) => t,
        Err(err) => {
            log::error!("worker {}: cannot start the signal thread: {err}", ctx.id);
            return 1;
        }
    };
    crate::early_signals::clear();
    crate::early_signals::replay();
    if !held {
        slot.advance(ProcessStatus::Starting, ProcessStatus::Ready);
    } else if slot.advance(ProcessStatus::Starting, ProcessStatus::Held) {
        // The processes this one replaces stop accepting first; the master then sets this
        // one `Ready` (or `Stopping`). Connections meanwhile wait in the listen queue.
        while slot.status() == ProcessStatus::Held && !asked_to_go.load(Ordering::Acquire) {
            std::thread::sleep(LOOK);
        }
    }
    let result = serving.run();
    // A recycling worker's slot keeps saying so until the master has seen it.
    if slot.status() != ProcessStatus::Recycling {
        slot.set_status(ProcessStatus::Stopping);
    }
    // The signal thread may be logging a harakiri'd thread's stack (bounded by its wait
    // for the GIL): the worker exits after it.
    handle.close();
    let _ = signal_thread.join();
    match result {
        Ok(()) => EXIT_OK,
        Err(err) => {
            log::error!("worker {}: {err}", ctx.id);
            1
        }
    }
}

/// SIGUSR2 from the master: retire (harakiri, cheaper mode), already counted as draining
/// by the master, which is spawning the replacement if there is one. The worker accepts
/// nothing more, its requests finish within `worker-reload-mercy`, then it exits (the
/// master kills it if a stuck thread keeps it from exiting). Harakiri first marked the
/// stuck requests in their thread slots: each is answered without its thread (504, or a
/// close on a uwsgi socket) and its Python stack is logged.
struct MasterNotice<'a> {
    id: usize,
    board: &'a Scoreboard,
    slot: ProcessIndex,
    stopper: &'a dyn Stop,
    stacks: Option<&'a dyn ThreadStacks>,
}

impl MasterNotice<'_> {
    fn run(&self, mercy: Duration) {
        // Retire first: the loop stops accepting in the same turn as it answers the cut
        // requests, so no client that saw the 504 reaches this worker again.
        self.stopper.retire(mercy);
        let threads = self.board.threads_of(self.slot);
        let cut: Vec<_> = threads
            .iter()
            .enumerate()
            .filter_map(|(thread, slot)| {
                let running = slot.snapshot()?;
                slot.is_cut(&running).then_some((thread, running))
            })
            .collect();
        for (_, running) in &cut {
            self.stopper.cut(running.ticket);
        }
        // No marked request: cheaper mode stops this worker, or the request harakiri named
        // ended between the master's look and this one.
        log::info!(
            "worker {}: asked to stop by the master{}: accepting no more requests; the others \
             finish within {} s, then the worker exits",
            self.id,
            if cut.is_empty() { "" } else { " (harakiri)" },
            mercy.as_secs()
        );
        for (thread, running) in &cut {
            let what = format!(
                "worker {} thread {thread} ({} {})",
                self.id,
                String::from_utf8_lossy(running.method()),
                String::from_utf8_lossy(running.uri())
            );
            match self.stacks.map(|s| s.stack(*thread)) {
                Some(Ok(stack)) => log::error!(
                    "HARAKIRI: {what} was running this Python stack (most recent call last):\n{}",
                    stack.trim_end()
                ),
                Some(Err(why)) => log::error!("HARAKIRI: {what}: {why}"),
                None => {}
            }
        }
    }
}

/// Whether the whole server stops (rather than this worker alone leaving while its siblings,
/// or a reload's new workers, keep accepting): a worker with no master is the server; with
/// one, the master marks the slot of every worker it stops as `Stopping` before signalling.
fn server_stops(board: &Scoreboard, index: ProcessIndex, alone: bool) -> bool {
    alone || board.process(index).status() == ProcessStatus::Stopping
}

/// Once a worker was told to go: a held one stops waiting (it never accepted), and a
/// serving one sets its status `Stopping` once its loop has closed its listeners — what
/// the master waits for before the replacement starts accepting.
fn stopped_accepting(
    board: &Scoreboard,
    index: ProcessIndex,
    stopper: &dyn Stop,
    going: &AtomicBool,
) {
    going.store(true, Ordering::Release);
    let slot = board.process(index);
    slot.advance(ProcessStatus::Held, ProcessStatus::Stopping);
    let by = Instant::now() + CLOSE_WAIT;
    while !stopper.closed() && Instant::now() < by {
        std::thread::sleep(LOOK);
    }
    if stopper.closed() && !slot.advance(ProcessStatus::Ready, ProcessStatus::Stopping) {
        slot.advance(ProcessStatus::Paused, ProcessStatus::Stopping);
    }
}

/// Leaves gracefully: when the server stops, taking every connection queued on the
/// listeners (nobody else will); otherwise leaving them to the processes that stay.
fn leave(stopper: &dyn Stop, server_stops: bool, mercy: Duration) {
    if server_stops {
        stopper.graceful(mercy);
    } else {
        stopper.retire(mercy);
    }
}
