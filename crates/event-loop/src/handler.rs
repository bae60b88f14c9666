//! The contract between the loop and whatever answers requests (the WSGI bridge, the
//! built-in fixed handler, or a Rust program embedding this crate).
//!
//! The loop hands a [`Handler`] one complete [`Request`] (head and whole body, DESIGN.md:
//! "the loop buffers the whole request before the app sees it") together with a [`Reply`].
//! The handler may answer at once on the loop thread or move the `Reply` to another thread
//! (a Python thread) and answer from there; the reply's messages travel back over a crossbeam
//! channel and wake the loop through a `mio::Waker`.

use std::fs::File;
use std::net::SocketAddr;

use ruwsgi_proto::{RequestHead, UwsgiPacket};

/// Which wire protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.x with keep-alive (`--http`, `--http-socket`).
    Http,
    /// The uwsgi binary protocol, as nginx's `uwsgi_pass` speaks it (`--socket`,
    /// `--uwsgi-socket`): one request per connection, reply as an HTTP/1.x head and a raw
    /// body ended by closing.
    Uwsgi,
}

/// The head of a request as it arrived on the wire.
#[derive(Debug)]
pub enum Head {
    /// An HTTP/1.x request head (already validated by `ruwsgi-proto`).
    Http(RequestHead),
    /// A uwsgi packet: the CGI-style vars nginx sent.
    Uwsgi(UwsgiPacket),
}

/// The address of a peer or of a local socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// An IPv4 or IPv6 socket address.
    Inet(SocketAddr),
    /// A unix socket (path, `@abstract` name, or empty for an unnamed peer).
    Unix(String),
}

/// A request body, read in full before the handler sees the request.
#[derive(Debug)]
pub enum Body {
    /// No body (no Content-Length, or zero, and not chunked).
    Empty,
    /// The body in memory (at most `post-buffering` bytes).
    Memory(Vec<u8>),
    /// A body larger than `post-buffering`, in an unlinked temp file positioned at 0.
    File {
        /// The temp file.
        file: File,
        /// Its length in bytes.
        len: u64,
    },
}

impl Body {
    /// The body's length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Memory(v) => v.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One complete request.
#[derive(Debug)]
pub struct Request {
    /// The protocol of the listener it came in on.
    pub protocol: Protocol,
    /// The head: HTTP request line and headers, or uwsgi vars.
    pub head: Head,
    /// The whole body (de-chunked when it was sent chunked).
    pub body: Body,
    /// The client's address (for uwsgi sockets, the proxy's; the client's is in the vars).
    pub peer: Address,
    /// The local address the connection was accepted on.
    pub local: Address,
    /// The index of the listener (in the order given to the loop) that accepted it.
    pub listener: usize,
}

/// The status line and headers of a response, as the handler chose them.
///
/// The loop decides the framing from these: a `Content-Length` header is honoured (and
/// never exceeded), otherwise HTTP/1.1 is chunked and HTTP/1.0 ends by closing; HEAD, 1xx,
/// 204 and 304 carry no body; uwsgi replies are never chunked.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// The status as WSGI gives it: `"200 OK"` (code, space, reason).
    pub status: String,
    /// Header names and values, in order, already validated by the handler.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Why a [`Reply`] could not deliver: the client went away or the connection was closed
/// (timeout, graceful stop deadline). The handler stops producing and cleans up (WSGI:
/// calls the iterable's `close()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client connection is gone")
    }
}

impl std::error::Error for Gone {}

/// Answers requests. Implemented by the WSGI bridge and by [`crate::FixedHandler`].
///
/// `handle` runs on the loop thread and must not block: a handler that needs time moves the
/// `Reply` to a thread of its own.
pub trait Handler {
    /// Starts answering `request`. The reply must eventually be finished, aborted or
    /// dropped (a dropped unfinished reply closes the connection, with a 500 if no head
    /// was sent).
    fn handle(&mut self, request: Request, reply: Reply);

    /// Whether the handler can start another request now. While it returns false the loop
    /// stops accepting new connections (and reading new requests), so the kernel hands
    /// connections to an idle sibling worker (DESIGN.md: "a worker accepts only what it can
    /// start"). The loop asks again after each completion.
    fn has_capacity(&self) -> bool {
        true
    }

    /// Called once per loop iteration, after every ready event and completion has been
    /// handled. A handler that hands requests to other threads may queue them quietly in
    /// `handle` and wake its threads here, once per batch instead of once per request
    /// (DESIGN.md: "the handoff is cheap if it is batched"). The default does nothing.
    fn flush(&mut self) {}
}

pub use crate::reply::Reply;
