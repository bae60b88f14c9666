//! [`FixedService`]: a built-in service answering every request with a fixed response, on
//! the real event loop (`ruwsgi_event_loop::EventLoop` with its `FixedHandler`).
//!
//! It is what `ruwsgi --builtin-handler` runs: the "no Python" row of `just bench` and the
//! way the IO core and the process manager are tested without an app.

use std::sync::Arc;
use std::time::Duration;

use ruwsgi_event_loop::{
    raise_nofile_limit, EventLoop, FixedHandler, Handler, Listener, Options as LoopOptions, Reply,
    Request, Stopper,
};
use ruwsgi_shm::Scoreboard;

use crate::bind::Bound;
use crate::service::{Service, ServiceError, ServiceErrorKind, Serving, Stop, WorkerContext};

/// Answers every request with `200 OK` and a fixed `text/plain` body.
#[derive(Debug, Clone)]
pub struct FixedService {
    body: Vec<u8>,
    options: LoopOptions,
}

impl FixedService {
    /// A service answering `body` as `text/plain`, with the loop's default options.
    pub fn new(body: impl Into<Vec<u8>>) -> FixedService {
        FixedService::with_options(body, LoopOptions::default())
    }

    /// A service answering `body`, its loop configured by `options` (the worker id is
    /// filled in per worker).
    pub fn with_options(body: impl Into<Vec<u8>>, options: LoopOptions) -> FixedService {
        FixedService {
            body: body.into(),
            options,
        }
    }
}

impl Service for FixedService {
    fn load(&mut self) -> Result<(), ServiceError> {
        Ok(())
    }

    fn serve(
        &mut self,
        worker: &WorkerContext,
        sockets: &[Bound],
    ) -> Result<Box<dyn Serving>, ServiceError> {
        let err = |e: std::io::Error| ServiceError::new(ServiceErrorKind::Internal, e.to_string());
        if let Err(e) = raise_nofile_limit() {
            log::warn!("cannot raise the open-files limit: {e}");
        }
        let mut listeners = Vec::with_capacity(sockets.len());
        let mut options = self.options.clone();
        options.worker_id = worker.id;
        for b in sockets {
            let fd = b.fd.try_clone().map_err(err)?;
            listeners.push(Listener::from_fd(fd, b.spec.protocol).map_err(err)?);
            options.tcp_nodelay |= b.spec.tcp_nodelay;
            options.so_keepalive |= b.spec.so_keepalive;
        }
        let handler = Scored {
            inner: FixedHandler::new(self.body.clone()),
            board: worker.scoreboard.clone(),
            id: worker.id,
            bytes: self.body.len() as u64,
        };
        let event_loop = EventLoop::new(options, listeners, handler).map_err(err)?;
        Ok(Box::new(FixedServing { event_loop }))
    }
}

/// The fixed handler, counting its requests in the worker's scoreboard slot.
struct Scored {
    inner: FixedHandler,
    board: Arc<Scoreboard>,
    id: usize,
    bytes: u64,
}

impl Handler for Scored {
    fn handle(&mut self, request: Request, reply: Reply) {
        let slot = self.board.worker(self.id);
        slot.request_started();
        self.inner.handle(request, reply);
        slot.request_finished(self.bytes, false);
    }

    fn has_capacity(&self) -> bool {
        self.inner.has_capacity()
    }
}

struct FixedServing {
    event_loop: EventLoop<Scored>,
}

struct FixedStop(Stopper);

impl Stop for FixedStop {
    fn graceful(&self, mercy: Duration) {
        self.0.graceful(mercy);
    }

    fn immediate(&self) {
        self.0.immediate();
    }
}

impl Serving for FixedServing {
    fn stopper(&self) -> Box<dyn Stop> {
        Box::new(FixedStop(self.event_loop.stopper()))
    }

    fn run(self: Box<Self>) -> Result<(), ServiceError> {
        self.event_loop
            .run()
            .map_err(|e| ServiceError::new(ServiceErrorKind::Internal, e.to_string()))
    }
}
