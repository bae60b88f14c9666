//! [`FixedService`]: a built-in service answering every request with a fixed response, on
//! the real event loop (`ruwsgi_event_loop::EventLoop` with its `FixedHandler`).
//!
//! It is what `ruwsgi --builtin-handler` runs: the "no Python" row of `just bench` and the
//! way the IO core and the process manager are tested without an app.

use ruwsgi_event_loop::{FixedHandler, Options as LoopOptions};

use crate::bind::Bound;
use crate::on_loop::{serve_on_loop, LoopExtras};
use crate::service::{Service, ServiceError, Serving, WorkerContext};

/// Answers every request with `200 OK` and a fixed `text/plain` body.
#[derive(Debug, Clone)]
pub struct FixedService {
    body: Vec<u8>,
    options: LoopOptions,
}

impl FixedService {
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
        let handler = FixedHandler::new(self.body.clone());
        serve_on_loop(
            worker,
            sockets,
            self.options.clone(),
            handler,
            LoopExtras::default(),
        )
    }
}
