//! [`Exchange`]: the one record of a request and its answer, built by the loop when the
//! exchange ends, and [`ExchangeSink`], where the embedder receives it.
//!
//! The loop builds the record once, from what it measured (sizes, times, status) and what
//! the handler told it through the [`Reply`](crate::Reply) (its thread, an app exception,
//! log variables). The request log line is written from it, and the sink given to
//! [`EventLoop::with_exchange_sink`](crate::EventLoop::with_exchange_sink) sees every record —
//! a worker's scoreboard slot is written there. Both run on the loop thread.

use std::time::{Duration, Instant};

/// How an exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeOutcome {
    /// The response was written whole (also an error answer the loop wrote, such as the
    /// 500 of a failed app).
    Complete,
    /// The response ended abnormally after its head: the connection was closed after what
    /// was written (a body shorter than its `Content-Length`, an abort, a dropped reply).
    Aborted,
    /// The client left (or the connection timed out) before the response was written.
    ClientGone,
}

/// The request's side of the request log line, kept only while request logging is on
/// (copying them costs allocations the hot path does not otherwise pay).
#[derive(Debug, Clone)]
pub struct RequestLine {
    /// The client address as logged: the peer's IP, a unix socket's path, or a uwsgi
    /// request's `REMOTE_ADDR`.
    pub remote: String,
    /// The authenticated user, a uwsgi request's `REMOTE_USER` (nginx passes it); empty
    /// when there is none (an HTTP request: uWSGI sets none either).
    pub user: String,
    /// The request method.
    pub method: String,
    /// The request URI as sent.
    pub uri: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub protocol: &'static str,
    /// The CGI variables uWSGI would have built for the request, and their size (what its
    /// default log line reports).
    pub vars: usize,
    /// See `vars`.
    pub vars_bytes: usize,
    /// The request variables a `log-format` names (`%(var.NAME)`, `%(host)`, ...), in the
    /// format's order; `None` where the request has none. Empty without a format.
    pub extra: Vec<Option<String>>,
}

/// One finished exchange: a request and its answer.
#[derive(Debug)]
#[non_exhaustive]
pub struct Exchange<'a> {
    /// How it ended.
    pub outcome: ExchangeOutcome,
    /// The status sent (0 if no head was sent).
    pub status: u16,
    /// The request line, when request logging is on.
    pub request: Option<&'a RequestLine>,
    /// The request body's length in bytes.
    pub request_body: u64,
    /// Header lines of the response head (as the request log counts them).
    pub headers: usize,
    /// Bytes of the response head.
    pub head_bytes: usize,
    /// Bytes of response body queued for the client (without chunk framing).
    pub body_bytes: u64,
    /// Whether part of the body went out with `sendfile(2)`.
    pub sendfile: bool,
    /// When the request's head was read.
    pub started: Instant,
    /// From `started` to the end of the exchange.
    pub duration: Duration,
    /// The handler's thread that served it ([`Reply::set_thread`](crate::Reply::set_thread)).
    pub thread: Option<usize>,
    /// Whether the app raised ([`Reply::mark_exception`](crate::Reply::mark_exception)).
    pub exception: bool,
    /// Log variables the handler set ([`Reply::set_logvar`](crate::Reply::set_logvar)).
    pub vars: &'a [(String, String)],
    /// A routing rule said `donotlog`: the request log leaves it out.
    pub no_log: bool,
}

/// Receives every [`Exchange`] record, on the loop thread, right after the exchange
/// ended: keep it short (it runs once per request on the hot path).
pub trait ExchangeSink: Send {
    /// One exchange ended.
    fn exchange(&mut self, exchange: &Exchange<'_>);
}

impl<F: FnMut(&Exchange<'_>) + Send> ExchangeSink for F {
    fn exchange(&mut self, exchange: &Exchange<'_>) {
        self(exchange)
    }
}
