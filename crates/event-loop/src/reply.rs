//! [`Reply`]: the handle a handler answers one request through, from any thread.
//!
//! THE SIGNATURES HERE ARE THE CONTRACT WITH `ruwsgi-wsgi`; the internals are the event
//! loop's to shape (channel of completions + `mio::Waker`, per-connection flow control).

use std::fs::File;

use crate::handler::{Gone, ResponseHead};

/// Answers one request. `Send`, so it can move to the thread that runs the app.
///
/// Messages are delivered in order. [`Reply::send`] applies back-pressure: it blocks the
/// calling thread while the connection already has more than its high-water mark of
/// unwritten output (the WSGI bridge releases the GIL around it), and returns [`Gone`] once
/// the client has disconnected.
#[derive(Debug)]
pub struct Reply {
    _private: (),
}

impl Reply {
    /// Sends the status line and headers. Must come before any body.
    pub fn start(&mut self, head: ResponseHead) -> Result<(), Gone> {
        let _ = head;
        Err(Gone)
    }

    /// Sends a piece of the body (blocks under back-pressure).
    pub fn send(&mut self, data: Vec<u8>) -> Result<(), Gone> {
        let _ = data;
        Err(Gone)
    }

    /// Sends `len` bytes of `file` from `offset` (all of the rest when `len` is `None`),
    /// with `sendfile(2)` where the socket allows it.
    pub fn send_file(&mut self, file: File, offset: u64, len: Option<u64>) -> Result<(), Gone> {
        let _ = (file, offset, len);
        Err(Gone)
    }

    /// Head, whole body and end in one message: the fast path for small responses.
    pub fn respond(self, head: ResponseHead, body: Vec<u8>) {
        let _ = (head, body);
    }

    /// Ends the response normally.
    pub fn finish(self) {}

    /// Ends the response abnormally: the connection is closed after what was already sent
    /// (and answered with a 500 if no head was sent yet).
    pub fn abort(self) {}

    /// Whether the client is already known to be gone.
    pub fn is_gone(&self) -> bool {
        true
    }
}
