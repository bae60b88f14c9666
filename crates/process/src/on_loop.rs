//! What every built-in [`Service`](crate::Service) shares: serving a worker's sockets with
//! a [`Handler`] on `ruwsgi-event-loop`'s [`EventLoop`], counting each request in the
//! worker's scoreboard slot.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ruwsgi_event_loop::{
    EventLoop, Handler, Listener, Options as LoopOptions, Reply, Request, Stopper,
};
use ruwsgi_shm::Scoreboard;

use crate::bind::Bound;
use crate::service::{ServiceError, ServiceErrorKind, Serving, Stop, WorkerContext};
use crate::sys::raise_nofile_limit;

/// Builds worker `worker`'s loop over (duplicates of) the bound `sockets`, answering with
/// `handler` (wrapped in [`Counted`]). The open-files limit is raised first (one fd per
/// connection).
pub(crate) fn serve_on_loop<H: Handler + 'static>(
    worker: &WorkerContext,
    sockets: &[Bound],
    mut options: LoopOptions,
    handler: H,
) -> Result<Box<dyn Serving>, ServiceError> {
    if let Err(e) = raise_nofile_limit() {
        log::warn!("cannot raise the open-files limit: {e}");
    }
    options.worker_id = worker.id;
    let mut listeners = Vec::with_capacity(sockets.len());
    for bound in sockets {
        let failed =
            |e: std::io::Error| internal(format!("cannot use socket {}: {e}", bound.spec.address));
        let fd = bound.fd.try_clone().map_err(failed)?;
        listeners.push(Listener::from_fd(fd, bound.spec.protocol).map_err(failed)?);
    }
    let handler = Counted {
        inner: handler,
        board: worker.scoreboard.clone(),
        id: worker.id,
    };
    let event_loop = EventLoop::new(options, listeners, handler).map_err(internal)?;
    Ok(Box::new(LoopServing { event_loop }))
}

/// An internal (not app-load) service error.
pub(crate) fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::new(ServiceErrorKind::Internal, e.to_string())
}

/// Counts every request the handler starts in the worker's scoreboard slot (`requests`,
/// what SIGUSR1 logs), whatever the service. Counted at dispatch: the loop's [`Handler`]
/// contract has no completion callback, so bytes and exceptions are not known here.
struct Counted<H> {
    inner: H,
    board: Arc<Scoreboard>,
    id: usize,
}

impl<H: Handler> Handler for Counted<H> {
    fn handle(&mut self, request: Request, reply: Reply) {
        self.board
            .worker(self.id)
            .requests
            .fetch_add(1, Ordering::Relaxed);
        self.inner.handle(request, reply);
    }

    fn has_capacity(&self) -> bool {
        self.inner.has_capacity()
    }

    fn flush(&mut self) {
        self.inner.flush();
    }
}

struct LoopServing<H: Handler> {
    event_loop: EventLoop<H>,
}

impl<H: Handler> Serving for LoopServing<H> {
    fn stopper(&self) -> Box<dyn Stop> {
        Box::new(self.event_loop.stopper())
    }

    fn run(self: Box<Self>) -> Result<(), ServiceError> {
        self.event_loop.run().map_err(internal)
    }
}

impl Stop for Stopper {
    fn graceful(&self, mercy: Duration) {
        Stopper::graceful(self, mercy);
    }

    fn immediate(&self) {
        Stopper::immediate(self);
    }
}
