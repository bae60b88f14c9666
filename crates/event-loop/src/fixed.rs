//! [`FixedHandler`]: answers every request on the loop thread with `200 OK` and a fixed
//! `text/plain` body — the "no Python" row of `just bench` and the handler of
//! `ruwsgi --builtin-handler`.

use crate::handler::{Handler, Request, ResponseHead};
use crate::reply::Reply;

/// Answers every request with `200 OK` and the same body.
#[derive(Debug, Clone)]
pub struct FixedHandler {
    body: Vec<u8>,
}

impl FixedHandler {
    /// A handler answering `body` as `text/plain`.
    pub fn new(body: impl Into<Vec<u8>>) -> FixedHandler {
        FixedHandler { body: body.into() }
    }

    /// The body every response carries.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

impl Handler for FixedHandler {
    fn handle(&mut self, request: Request, reply: Reply) {
        drop(request);
        reply.respond(
            ResponseHead::new(
                200,
                "OK",
                // The loop adds the Content-Length of a whole body.
                vec![("Content-Type".to_string(), b"text/plain".to_vec())],
            ),
            self.body.clone(),
        );
    }
}
