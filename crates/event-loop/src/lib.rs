//! ruwsgi-event-loop: the mio event loop of one ruwsgi worker.
//!
//! A worker runs one [`EventLoop`] on one thread. It accepts connections from its
//! [`Listener`]s (over sockets the master bound and the worker inherited, or an embedder's
//! std listener: [`Listener::from_fd`]; the loop binds nothing), reads and parses requests
//! with `ruwsgi-proto` (HTTP/1.x with keep-alive and pipelining, or uwsgi packets as
//! nginx's `uwsgi_pass` sends them), buffers each whole request — body in memory up to
//! `post-buffering`, then in an unlinked temp file — and hands it to a [`Handler`] with a
//! [`Reply`]. The handler answers at once or from another thread; the reply's messages come
//! back over a channel that wakes the loop, which writes them with back-pressure (and
//! `sendfile(2)` for files).
//!
//! # Central types
//! - [`EventLoop`]: `new(options, listeners, handler)`, [`EventLoop::stopper`], `run`.
//! - [`Stopper`]: `graceful(deadline)` (stop accepting, finish in-flight requests, close idle
//!   keep-alive connections) or `immediate()`, from any thread.
//! - [`Handler`] / [`Request`] / [`Reply`] / [`ResponseHead`]: the contract with whatever
//!   answers requests; [`FixedHandler`] answers a fixed body on the loop thread.
//! - [`Exchange`]: the one record of a finished request and its answer (status, sizes,
//!   times, the handler's thread, exception flag and log variables). It feeds the request
//!   log and the [`ExchangeSink`] given to [`EventLoop::with_exchange_sink`] (a closure
//!   `FnMut(&Exchange) + Send` will do; it runs on the loop thread).
//! - [`Balance`]: how the loop shares its connection count with sibling workers and learns
//!   it holds more than its share ([`EventLoop::with_balance`]).
//! - [`Listener`]: a bound, listening TCP or unix socket the loop accepts from (binding, in
//!   every uWSGI address form, is the process crate's).
//! - [`StaticFiles`]: a handler that answers the requests [`StaticOptions`] map to files
//!   (uWSGI's `static-map`, `static-map2`, `check-static`) on the loop thread, with
//!   `sendfile(2)`, and hands every other request to the handler it wraps; [`Error`] says
//!   which of its options cannot be used.
//! - [`Routing`]: a handler that runs uWSGI's internal routing rules ([`RouteOptions`]:
//!   `route*`, `response-route*`, `collect-header`, `pull-header`) before the handler it
//!   wraps, and gives each [`Reply`] the response rules.
//! - [`Options`]: plain values (`buffer-size`, `post-buffering`, `limit-post`,
//!   `socket-timeout`, ...); no option parsing here.
//!
//! # Behaviour
//! - The loop owns HTTP and uwsgi framing: the handler gives a [`ResponseHead`] (status code,
//!   reason phrase, headers) and the body; the loop adds `Content-Length` (a whole body
//!   given with [`Reply::respond`] or [`Reply::respond_file`]) or chunking, never sends more
//!   than a declared `Content-Length` (closing the connection after a body that falls short
//!   of it), sends no body to HEAD or for 1xx/204/304, and writes every error answer: the
//!   status of a refused request, and the 500 of a failed ([`Reply::fail`]) or dropped reply.
//! - The loop accepts a connection into an idle thread of its handler ([`Handler::idle`],
//!   counting connections accepted whose first request has not started): a worker whose
//!   threads are all busy leaves new connections to its idle siblings. With a [`Balance`]
//!   (the process crate's, over shared memory) it also takes one at a time when no worker is
//!   idle, and closes keep-alive connections after their response while it has fallen
//!   behind a sibling with an idle thread. EMFILE pauses accepting for
//!   100 ms instead of spinning (the process crate lifts the soft fd limit before the loop
//!   starts).
//! - `socket-timeout` bounds every wait on the client: between two reads of a request,
//!   between two writes of a response, and an idle keep-alive connection. A slowloris costs a
//!   timer entry, not a thread.
//! - A malformed request gets the status `ruwsgi-proto` assigns it (400, 413, 414, 431,
//!   501, 505), then the connection closes; the worker lives. So does a body the worker's
//!   spill bound refuses ([`Options::limit_spill`]: 413 for a body larger than the bound,
//!   503 while other bodies hold it).
//! - Connections close gracefully: output written, write side shut down, input drained
//!   briefly, so a response is never lost to an RST.
//! - Back-pressure: a reply's unwritten output stays in memory up to
//!   [`Options::high_water`], then spills to an unlinked temp file up to
//!   [`Options::spill_max`] (sent with `sendfile(2)`) while the worker's
//!   [`Options::limit_spill`] has room, so a slow reader does not hold an app thread; past
//!   that [`Reply::send`] blocks until the client drains.
//! - A client that leaves while its request is being computed (EOF or RST) is seen at once:
//!   the connection closes and [`Reply::is_gone`] / [`Reply::send`] report [`Gone`].
//!   Pipelined bytes are kept (up to 64 KiB read ahead), not taken for a close.
//! - `thunder-lock` ([`Options::thunder_lock`]): listeners are added to mio's epoll with
//!   EPOLLEXCLUSIVE, so a new connection wakes one sleeping worker instead of all, and a
//!   worker without capacity stops listening at once.
//! - One request log line per request in uWSGI's default format, through `log` with target
//!   [`REQUEST_LOG_TARGET`], unless [`Options::log_requests`] is off.

#![deny(missing_docs)]

mod balance;
mod body;
mod body_limit;
mod conn;
mod error;
mod event_loop;
mod exchange;
mod fixed;
mod handler;
mod listen;
mod options;
mod reply;
mod request_log;
mod request_vars;
mod routing;
mod spill;
mod static_files;
mod sys;
mod timer;

pub use balance::{over_share, Balance, Siblings};
pub use error::{Error, ErrorKind};
pub use event_loop::{EventLoop, Stopper};
pub use exchange::{Exchange, ExchangeOutcome, ExchangeSink, RequestLine};
pub use fixed::FixedHandler;
pub use handler::{Address, Body, Gone, Handler, Head, Protocol, Request, ResponseHead};
pub use listen::Listener;
pub use options::Options;
pub use reply::Reply;
pub use request_log::REQUEST_LOG_TARGET;
pub use request_vars::hostname;
pub use routing::{RouteLine, RouteOptions, Routing};
pub use spill::BodyFile;
pub use static_files::{StaticFiles, StaticOptions};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
