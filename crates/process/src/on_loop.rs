//! What every built-in [`Service`](crate::Service) shares: serving a worker's sockets with
//! a [`Handler`] on `ruwsgi-event-loop`'s [`EventLoop`], each finished exchange written to
//! the worker's scoreboard slot.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::Ordering;

use ruwsgi_event_loop::{
    Balance, EventLoop, Exchange, Handler, Listener, Options as LoopOptions, Routing, Siblings,
    StaticFiles, Stopper,
};
use ruwsgi_shm::{ProcessIndex, ProcessKind, ProcessStatus, Scoreboard};

use crate::bind::Bound;
use crate::service::{ServiceError, ServiceErrorKind, Serving, Stop, ThreadStacks, WorkerContext};
use crate::sys::{batch_scheduling, kill, raise_nofile_limit};

/// Builds worker `worker`'s loop over (duplicates of) the bound `sockets`, answering with
/// `handler`; every exchange's record goes to the worker's scoreboard slot
/// ([`scoreboard_sink`]), and the worker recycles itself as `worker.recycling` says. The
/// open-files limit is raised first (one fd per connection). When static files are
/// configured (`static-map`, `check-static`, ...), `handler` is wrapped in a
/// [`StaticFiles`] that answers the mapped requests on the loop thread, whatever the
/// service; when routing is configured (`route*`, `response-route*`, `collect-header`,
/// `pull-header`), in a [`Routing`] in front of that, whose request rules run first, as
/// in uWSGI. Otherwise the handler serves alone, at no cost.
pub(crate) fn serve_on_loop<H: Handler + 'static>(
    worker: &WorkerContext,
    sockets: &[Bound],
    options: LoopOptions,
    handler: H,
    extras: LoopExtras,
) -> Result<Box<dyn Serving>, ServiceError> {
    if options.static_files.is_configured() {
        let handler = StaticFiles::new(&options.static_files, handler).map_err(internal)?;
        return serve_routed(worker, sockets, options, handler, extras);
    }
    serve_routed(worker, sockets, options, handler, extras)
}

fn serve_routed<H: Handler + 'static>(
    worker: &WorkerContext,
    sockets: &[Bound],
    options: LoopOptions,
    handler: H,
    extras: LoopExtras,
) -> Result<Box<dyn Serving>, ServiceError> {
    if options.routes.is_configured() {
        let handler = Routing::new(&options.routes, &options.static_files, worker.id, handler)
            .map_err(internal)?;
        return serve_handler(worker, sockets, options, handler, extras);
    }
    serve_handler(worker, sockets, options, handler, extras)
}

fn serve_handler<H: Handler + 'static>(
    worker: &WorkerContext,
    sockets: &[Bound],
    mut options: LoopOptions,
    handler: H,
    extras: LoopExtras,
) -> Result<Box<dyn Serving>, ServiceError> {
    if let Err(e) = raise_nofile_limit() {
        log::warn!("cannot raise the open-files limit: {e}");
    }
    options.worker_id = worker.id;
    let recycling = worker.recycling;
    options.max_requests = recycling.max_requests;
    options.min_lifetime = recycling.min_lifetime;
    options.retire_mercy = recycling.mercy;
    let mut listeners = Vec::with_capacity(sockets.len());
    for bound in sockets {
        let failed =
            |e: std::io::Error| internal(format!("cannot use socket {}: {e}", bound.spec.address));
        let fd = bound.fd.try_clone().map_err(failed)?;
        let listener = Listener::from_fd(fd, bound.spec.protocol).map_err(failed)?;
        listeners.push(match bound.spec.timeout {
            Some(timeout) => listener.with_timeout(timeout),
            None => listener,
        });
    }
    let event_loop = EventLoop::new(options, listeners, handler).map_err(internal)?;
    let mut record = scoreboard_sink(worker.scoreboard.clone(), worker.slot);
    let mut recycle_check =
        RecycleCheck::new(worker, event_loop.stopper(), extras.exception_recycle);
    let (id, max) = (worker.id, recycling.max_requests);
    let mut recycle = ask_replacement(worker);
    let reaper = worker.reaper;
    let mut ksm = crate::ksm::Ksm::every(worker.ksm);
    let event_loop = event_loop
        .with_exchange_sink(move |exchange: &Exchange<'_>| {
            record(exchange);
            if reaper {
                crate::sys::reap_children();
            }
            if let Some(ksm) = &mut ksm {
                ksm.tick();
            }
            if let Some(check) = &mut recycle_check {
                check.after_request(exchange.exception);
            }
        })
        .on_retire(move || {
            log::info!("worker {id}: max-requests reached ({max} requests); recycling");
            recycle();
        })
        .with_balance(BoardBalance {
            board: worker.scoreboard.clone(),
            slot: worker.slot,
        });
    let event_loop = match extras.watch {
        Some((fd, on_ready)) => event_loop.with_watch(fd, on_ready).map_err(internal)?,
        None => event_loop,
    };
    Ok(Box::new(LoopServing {
        event_loop,
        stacks: extras.stacks,
    }))
}

/// What a service adds to its worker's loop beyond the handler.
#[derive(Default)]
pub(crate) struct LoopExtras {
    /// Reads the handler's thread stacks, for harakiri's log.
    pub(crate) stacks: Option<Box<dyn ThreadStacks>>,
    /// A descriptor the loop watches, and what it calls on the loop thread when it is
    /// readable (the WSGI service: the app's Python signal handlers).
    pub(crate) watch: Option<(OwnedFd, Box<dyn FnMut() + Send>)>,
    /// Asked after a request whose app raised: whether the service wants the worker
    /// recycled for that exception (the WSGI service: `reload-on-exception-type`, `-value`
    /// and `-repr`, which the bridge matches).
    pub(crate) exception_recycle: Option<Box<dyn FnMut() -> bool + Send>>,
}

/// What a worker that recycles itself does once it has stopped accepting: its slot says
/// `Recycling`, and a SIGCHLD wakes the master, which spawns the replacement at once (it
/// looks at the slots on every wake-up) — while this worker finishes its requests.
fn ask_replacement(worker: &WorkerContext) -> impl FnMut() + Send + 'static {
    let (board, slot, master) = (worker.scoreboard.clone(), worker.slot, worker.master_pid);
    move || {
        board.process(slot).set_status(ProcessStatus::Recycling);
        if let Some(master) = master {
            kill(master, nix::sys::signal::Signal::SIGCHLD);
        }
    }
}

/// `reload-on-exception`, `reload-on-rss` and `reload-on-as`: after each request the worker
/// recycles itself if the app raised (any exception, or one the service says matches, see
/// [`LoopExtras::exception_recycle`]), or if its resident memory or address space (read
/// then) is above its bound, as uWSGI checks after each request.
struct RecycleCheck {
    id: usize,
    on_exception: bool,
    exception_recycle: Option<Box<dyn FnMut() -> bool + Send>>,
    rss_limit: Option<u64>,
    as_limit: Option<u64>,
    mercy: Duration,
    stopper: Stopper,
    recycle: Box<dyn FnMut() + Send>,
    done: bool,
}

impl RecycleCheck {
    fn new(
        worker: &WorkerContext,
        stopper: Stopper,
        exception_recycle: Option<Box<dyn FnMut() -> bool + Send>>,
    ) -> Option<RecycleCheck> {
        let (rss_limit, as_limit) = (
            worker.recycling.reload_on_rss,
            worker.recycling.reload_on_as,
        );
        let on_exception = worker.recycling.reload_on_exception;
        if rss_limit.is_none() && as_limit.is_none() && !on_exception && exception_recycle.is_none()
        {
            return None;
        }
        Some(RecycleCheck {
            id: worker.id,
            on_exception,
            exception_recycle,
            rss_limit,
            as_limit,
            mercy: worker.recycling.mercy,
            stopper,
            recycle: Box::new(ask_replacement(worker)),
            done: false,
        })
    }

    fn after_request(&mut self, exception: bool) {
        if self.done {
            return;
        }
        if exception && self.on_exception {
            log::info!(
                "worker {}: the app raised and reload-on-exception is set; recycling",
                self.id
            );
            self.recycle();
            return;
        }
        if exception && self.exception_recycle.as_mut().is_some_and(|asked| asked()) {
            log::info!(
                "worker {}: the app raised an exception reload-on-exception-type, -value or \
                 -repr names; recycling",
                self.id
            );
            self.recycle();
            return;
        }
        if self.rss_limit.is_none() && self.as_limit.is_none() {
            return;
        }
        let Some((rss, size)) = crate::stats::memory_usage(std::process::id()) else {
            return;
        };
        let over = [
            ("resident memory", rss, self.rss_limit, "reload-on-rss"),
            ("address space", size, self.as_limit, "reload-on-as"),
        ]
        .into_iter()
        .find(|&(_, used, limit, _)| limit.is_some_and(|l| used > l));
        if let Some((what, used, Some(limit), option)) = over {
            log::info!(
                "worker {}: {what} {} MB is over {option} ({} MB); recycling",
                self.id,
                used >> 20,
                limit >> 20
            );
            self.recycle();
        }
    }

    /// Stops accepting, finishes the requests in flight (within the mercy) and asks the
    /// master for a replacement; once.
    fn recycle(&mut self) {
        self.done = true;
        self.stopper.retire(self.mercy);
        (self.recycle)();
    }
}

/// An internal (not app-load) service error.
pub(crate) fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::new(ServiceErrorKind::Internal, e.to_string())
}

/// Writes each finished exchange to the worker's process slot: the request count (what
/// SIGUSR1 logs), the response bytes, whether the app raised, and its duration (the
/// request time and duration histogram the stats server reports). The one
/// place a worker writes its process slot per request (its handler writes the thread slots).
fn scoreboard_sink(board: Arc<Scoreboard>, slot: ProcessIndex) -> impl FnMut(&Exchange<'_>) + Send {
    move |exchange| {
        let bytes = exchange.head_bytes as u64 + exchange.body_bytes;
        let micros = u64::try_from(exchange.duration.as_micros()).unwrap_or(u64::MAX);
        board
            .process(slot)
            .request_finished(bytes, exchange.exception, micros);
    }
}

/// The loop's [`Balance`] over the scoreboard: a worker writes how many connections it
/// holds and how many of its threads are idle in its process slot, and reads its ready
/// sibling workers'.
struct BoardBalance {
    board: Arc<Scoreboard>,
    slot: ProcessIndex,
}

impl Balance for BoardBalance {
    fn publish(&mut self, connections: usize, idle: usize) {
        let slot = self.board.process(self.slot);
        slot.connections
            .store(connections as u64, Ordering::Relaxed);
        slot.idle_threads.store(idle as u64, Ordering::Relaxed);
    }

    fn siblings(&self) -> Siblings {
        let mut siblings = Siblings::default();
        let ready_workers = self.board.live().filter(|&(index, slot)| {
            index != self.slot
                && slot.kind() == Some(ProcessKind::Worker)
                && slot.status() == ProcessStatus::Ready
        });
        for (_, slot) in ready_workers {
            let connections = slot.connections.load(Ordering::Relaxed) as usize;
            siblings.least_connections = Some(
                siblings
                    .least_connections
                    .map_or(connections, |least| least.min(connections)),
            );
            siblings.any_idle |= slot.idle_threads.load(Ordering::Relaxed) > 0;
        }
        siblings
    }
}

struct LoopServing<H: Handler> {
    event_loop: EventLoop<H>,
    stacks: Option<Box<dyn ThreadStacks>>,
}

impl<H: Handler> Serving for LoopServing<H> {
    fn stopper(&self) -> Box<dyn Stop> {
        Box::new(self.event_loop.stopper())
    }

    fn take_stacks(&mut self) -> Option<Box<dyn ThreadStacks>> {
        self.stacks.take()
    }

    fn run(self: Box<Self>) -> Result<(), ServiceError> {
        // After the handler started its threads: they keep the default policy.
        if let Err(e) = batch_scheduling() {
            log::warn!("cannot put the loop thread under SCHED_BATCH: {e}");
        }
        self.event_loop.run().map_err(internal)
    }
}

impl Stop for Stopper {
    fn graceful(&self, mercy: Duration) {
        Stopper::graceful(self, mercy);
    }

    fn retire(&self, mercy: Duration) {
        Stopper::retire(self, mercy);
    }

    fn cut(&self, ticket: u64) {
        Stopper::cut(self, ticket);
    }

    fn immediate(&self) {
        Stopper::immediate(self);
    }

    fn closed(&self) -> bool {
        Stopper::closed(self)
    }
}
