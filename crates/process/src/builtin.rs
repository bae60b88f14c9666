//! [`FixedService`]: a built-in service answering every request with a fixed response.
//!
//! INTERIM: served by the blocking interim loop, so `--builtin-handler` and the process
//! tests run before the event loop lands; the cli switches to
//! `ruwsgi_event_loop::FixedHandler` on the real loop then.

use crate::bind::Bound;
use crate::interim::{self, InterimRequest, Respond};
use crate::service::{Service, ServiceError, Serving, WorkerContext};

/// Answers every request with `200 OK` and a fixed `text/plain` body.
#[derive(Debug, Clone)]
pub struct FixedService {
    body: Vec<u8>,
}

impl FixedService {
    /// A service answering `body` as `text/plain`.
    pub fn new(body: impl Into<Vec<u8>>) -> FixedService {
        FixedService { body: body.into() }
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
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        );
        let mut response = head.into_bytes();
        response.extend_from_slice(&self.body);
        interim::build(worker, sockets, Fixed(response))
    }
}

struct Fixed(Vec<u8>);

impl Respond for Fixed {
    fn respond(&mut self, _req: InterimRequest) -> Vec<u8> {
        self.0.clone()
    }
}
