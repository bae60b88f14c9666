//! The contract between the loop and whatever answers requests (the WSGI bridge, the
//! built-in fixed handler, or a Rust program embedding this crate).
//!
//! The loop hands a [`Handler`] one complete [`Request`] (head and whole body; see
//! docs/architecture.md: the loop buffers the whole request before the app sees it) together
//! with a [`Reply`].
//! The handler may answer at once on the loop thread or move the `Reply` to another thread
//! (a Python thread) and answer from there; the reply's messages travel back over a crossbeam
//! channel and wake the loop through a `mio::Waker`.

use std::borrow::Cow;
use std::net::SocketAddr;

use ruwsgi_proto::{RequestHead, UwsgiPacket, Version};

use crate::spill::BodyFile;

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

impl Head {
    /// The request method (a uwsgi request's `REQUEST_METHOD`; empty if it has none).
    pub fn method(&self) -> &[u8] {
        match self {
            Head::Http(h) => h.method.as_bytes(),
            Head::Uwsgi(p) => p.var(b"REQUEST_METHOD").unwrap_or_default(),
        }
    }

    /// The request URI as sent (a uwsgi request's `REQUEST_URI`; empty if it has none).
    pub fn uri(&self) -> &[u8] {
        match self {
            Head::Http(h) => &h.target,
            Head::Uwsgi(p) => p.var(b"REQUEST_URI").unwrap_or_default(),
        }
    }

    /// Whether the request is `HEAD`: its answer carries no body (RFC 9110 §9.3.2).
    pub fn is_head(&self) -> bool {
        self.method() == b"HEAD"
    }

    /// Whether the client allows the connection to stay open after the answer. Always
    /// false on a uwsgi socket: nginx sends one request per connection.
    pub fn keep_alive(&self) -> bool {
        match self {
            Head::Http(h) => h.keep_alive,
            Head::Uwsgi(_) => false,
        }
    }

    /// The HTTP version the answer is written in (a uwsgi request's `SERVER_PROTOCOL`,
    /// HTTP/1.1 unless it says HTTP/1.0).
    pub fn version(&self) -> Version {
        match self {
            Head::Http(h) => h.version,
            Head::Uwsgi(p) if p.var(b"SERVER_PROTOCOL") == Some(b"HTTP/1.0") => Version::Http10,
            Head::Uwsgi(_) => Version::Http11,
        }
    }
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
        /// The temp file (its bytes count against the worker's `limit-spill` until it is
        /// dropped).
        file: BodyFile,
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

impl Request {
    /// Whether the request is `HEAD` (see [`Head::is_head`]).
    pub fn is_head(&self) -> bool {
        self.head.is_head()
    }

    /// The request body's length in bytes (after de-chunking: what the handler reads).
    pub fn content_length(&self) -> u64 {
        self.body.len()
    }

    /// Whether the client allows the connection to stay open (see [`Head::keep_alive`]).
    pub fn keep_alive(&self) -> bool {
        self.head.keep_alive()
    }
}

/// The status and headers of a response, as the handler chose them. The loop owns the
/// framing and writes the head:
///
/// - a `Content-Length` header is honoured and never exceeded (the rest of the body is
///   dropped, with an error in the log); a body that falls short of it closes the
///   connection after it;
/// - without one, [`Reply::respond`] (whole body known) gets a `Content-Length` added;
///   otherwise HTTP/1.1 is chunked and HTTP/1.0 ends by closing; uwsgi replies are never
///   chunked;
/// - HEAD answers and 1xx, 204 and 304 carry no body (RFC 9110 §6.4.1), whatever the
///   handler sends;
/// - `Connection` and `Transfer-Encoding` headers are the loop's: the handler's are replaced.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// The status code (three digits, 100 to 999; otherwise the loop answers 500).
    pub status: u16,
    /// The reason phrase, written as given (`"OK"` of WSGI's `"200 OK"`).
    pub reason: Cow<'static, str>,
    /// Header names and values, in order, already validated by the handler.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl ResponseHead {
    /// A head with `status`, `reason` and `headers`.
    pub fn new(
        status: u16,
        reason: impl Into<Cow<'static, str>>,
        headers: Vec<(String, Vec<u8>)>,
    ) -> ResponseHead {
        ResponseHead {
            status,
            reason: reason.into(),
            headers,
        }
    }
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
    /// was sent). When the exchange ends the loop hands its [`crate::Exchange`] record to
    /// the sink given to [`crate::EventLoop::with_exchange_sink`].
    fn handle(&mut self, request: Request, reply: Reply);

    /// Whether the handler takes another request now: to start at once, or queued to start
    /// soon. While it returns false the loop leaves requests it has read waiting and reads
    /// no more from that connection. The loop asks again after each completion.
    fn has_capacity(&self) -> bool {
        true
    }

    /// How many requests the handler could start at once, on threads now idle. The loop
    /// accepts a new connection only into one of them, counting the connections it accepted
    /// whose first request has not started yet (docs/architecture.md: "a worker accepts only
    /// what it can start"), so the kernel hands the others to idle sibling workers. The
    /// default (no limit) suits a handler that answers on the loop thread.
    fn idle(&self) -> usize {
        usize::MAX
    }

    /// Whether the handler's threads are moving: one finished a request a moment ago, so a
    /// request queued behind them now starts soon. When no worker has an idle thread, only
    /// a worker whose handler is flowing takes a new connection beyond its idle threads (a
    /// worker whose threads are all held by slow requests leaves it to its siblings). The
    /// default (always) suits a handler that answers on the loop thread.
    fn is_flowing(&self) -> bool {
        true
    }

    /// How many requests the handler holds beyond its threads: handed to it, waiting for a
    /// thread to start them, which it does in the order it got them. When no thread is
    /// idle, a worker takes a new connection ahead of its threads only while no other
    /// connection's first request waits or once a request ended since it took one, so the
    /// connections beyond that stay in the kernel's queue, in arrival order, for whichever
    /// worker frees a thread first. The default (none) suits a handler that answers on the
    /// loop thread.
    fn queued(&self) -> usize {
        0
    }

    /// Called once per loop iteration, after every ready event and completion has been
    /// handled. A handler that hands requests to other threads may queue them quietly in
    /// `handle` and wake its threads here, once per batch instead of once per request
    /// (docs/architecture.md: "the handoff is cheap if it is batched"). The default does nothing.
    fn flush(&mut self) {}
}

pub use crate::reply::Reply;
