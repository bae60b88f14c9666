//! One worker: load the app under `lazy-apps`, build the loop, stop it on signals, run it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ruwsgi_shm::ProcessStatus;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

use crate::bind::Bound;
use crate::service::{Service, ServiceErrorKind, WorkerContext};

/// How a worker run ended: the process exit status.
pub(crate) const EXIT_OK: i32 = 0;
/// uWSGI's `UWSGI_FAILED_APP_CODE`.
pub(crate) const EXIT_NO_APP: i32 = 22;

/// Runs a worker to its end and returns its exit status. `load` says the app must be loaded
/// here (lazy-apps), after the given `hook-pre-app` actions; the caller has already loaded it
/// otherwise.
pub(crate) fn run(
    service: &mut dyn Service,
    ctx: &WorkerContext,
    sockets: &[Bound],
    load: Option<&[String]>,
    need_app: bool,
    mercy: Duration,
) -> i32 {
    let slot = ctx.scoreboard.process(ctx.slot);
    if let Some(pre_app) = load {
        if let Err(err) = crate::hooks::run("pre-app", pre_app, true) {
            log::error!("worker {}: {err}", ctx.id);
            return 1;
        }
        if let Err(err) = service.load() {
            if err.kind() == ServiceErrorKind::AppLoad && need_app {
                log::error!("worker {}: cannot load the app: {err}", ctx.id);
                return EXIT_NO_APP;
            }
            log::warn!(
                "worker {}: no app loaded ({err}); serving without it",
                ctx.id
            );
        }
    }
    // Before the loop and the service's threads allocate request bodies.
    crate::sys::keep_freed_memory();
    let serving = match service.serve(ctx, sockets) {
        Ok(s) => s,
        Err(err) => {
            log::error!("worker {}: cannot start serving: {err}", ctx.id);
            return 1;
        }
    };
    // A worker may have threads (the Python pool), so a thread of its own turns signals
    // into calls on the loop's stopper. TERM and HUP drain (docs/architecture.md: "Stopping
    // drains"; HUP is how uWSGI gracefully kills one worker); INT and QUIT stop at once; USR1
    // logs the stats and goes on (the master's, when there is one, covers every worker).
    let stopper = serving.stopper();
    let mut signals = match Signals::new([SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1]) {
        Ok(s) => s,
        Err(err) => {
            log::error!("worker {}: cannot handle signals: {err}", ctx.id);
            return 1;
        }
    };
    let handle = signals.handle();
    let id = ctx.id;
    let (board, index) = (ctx.scoreboard.clone(), ctx.slot);
    let signal_thread = std::thread::Builder::new()
        .name("ruwsgi-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                match sig {
                    SIGTERM => {
                        log::info!("worker {id}: SIGTERM, finishing in-flight requests");
                        stopper.graceful(mercy);
                    }
                    SIGHUP => {
                        let pid = std::process::id();
                        log::info!("Gracefully killing worker {id} (pid: {pid})...");
                        stopper.graceful(mercy);
                    }
                    SIGUSR1 => {
                        let pid = std::process::id();
                        if let Some(rss) = crate::stats::rss_bytes(pid) {
                            board.process(index).rss.store(rss, Ordering::Relaxed);
                        }
                        crate::stats::log_stats(&board, "worker", pid);
                    }
                    _ => stopper.immediate(),
                }
            }
        });
    if let Err(err) = signal_thread {
        log::error!("worker {}: cannot start the signal thread: {err}", ctx.id);
        return 1;
    }
    crate::early_signals::clear();
    crate::early_signals::replay();
    slot.set_status(ProcessStatus::Ready);
    let result = serving.run();
    slot.set_status(ProcessStatus::Stopping);
    handle.close();
    match result {
        Ok(()) => EXIT_OK,
        Err(err) => {
            log::error!("worker {}: {err}", ctx.id);
            1
        }
    }
}
