//! [`Options`]: the loop's settings as plain values. The field names are uWSGI's option
//! names (serde, kebab-case): the cli extracts the struct from the configuration through
//! figment. Fields that are no uWSGI option (`max_headers`, `high_water`, `spill_max`,
//! `max_connections`, `worker_id`) are skipped by serde and take the defaults below; so are
//! `max_requests` and `min_lifetime`, which the process crate sets per worker, and
//! `static_files` and `routes`, which the cli extracts on their own.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::{RouteOptions, StaticOptions};

/// The most header fields a request may carry.
const MAX_HEADERS: usize = 100;
/// Unwritten response bytes held in memory per connection before spilling.
const HIGH_WATER: usize = 256 * 1024;
/// The most response bytes one reply spills to its temp file.
const SPILL_MAX: u64 = 16 << 20;
/// `limit-spill`'s default: bytes one worker keeps in temp files at once.
pub const LIMIT_SPILL: u64 = 1 << 30;
/// The most connections one loop keeps open.
const MAX_CONNECTIONS: usize = 10_000;

/// How one worker's loop serves its connections.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Options {
    /// `buffer-size`: the largest request head or uwsgi packet accepted (default 8192).
    pub buffer_size: usize,
    /// The most header fields a request may carry (default 100).
    #[serde(skip, default = "max_headers")]
    pub max_headers: usize,
    /// `post-buffering`: request bodies up to this size stay in memory, larger ones go to
    /// an unlinked temp file (default 1 MiB).
    pub post_buffering: usize,
    /// `limit-post`: the largest request body accepted, 0 for no limit (413 past it).
    pub limit_post: u64,
    /// `limit-spill` (a ruwsgi addition): the most bytes the worker keeps in temp files at
    /// once — request bodies above `post-buffering` and responses spilled for slow readers
    /// — 0 for no bound (default 1 GiB). Past it a request body is refused (413 when it
    /// alone is larger, else 503) and a response's app waits for its client.
    pub limit_spill: u64,
    /// `socket-timeout`: the longest wait between two reads or two writes; idle keep-alive
    /// connections close after it too (default 4 s, as uWSGI).
    #[serde(deserialize_with = "seconds")]
    pub socket_timeout: Duration,
    /// `tcp-nodelay` on accepted TCP connections (on by default, unlike uWSGI: the loop
    /// gathers each response's output into as few writes as it can, and under Nagle's
    /// algorithm the last small write of a response waits for the client's delayed ACK, up
    /// to 40 ms).
    pub tcp_nodelay: bool,
    /// `so-keepalive` on accepted TCP connections.
    pub so_keepalive: bool,
    /// Unwritten response bytes per connection held in memory; above it
    /// [`crate::Reply::send`] spills to a temp file (see `spill_max`), then blocks.
    #[serde(skip, default = "high_water")]
    pub high_water: usize,
    /// The most response bytes one reply writes to its unlinked temp file while the client
    /// reads slower than the app writes (explicit back-pressure, as nginx's proxy buffering;
    /// docs/architecture.md "Response spill"), so a slow reader does not hold an app thread;
    /// past it [`crate::Reply::send`] blocks until the client drains. 0 never spills
    /// (default 16 MiB).
    #[serde(skip, default = "spill_max")]
    pub spill_max: u64,
    /// The most connections open at once; the loop stops accepting at this count.
    #[serde(skip, default = "max_connections")]
    pub max_connections: usize,
    /// Whether to log one line per request: the opposite of uWSGI's `disable-logging`.
    #[serde(rename = "disable-logging", deserialize_with = "negated")]
    pub log_requests: bool,
    /// `memory-report`: each request log line starts with the worker's address space and
    /// resident set sizes, as uWSGI writes them (read from /proc at each logged request).
    pub memory_report: bool,
    /// `log-format`: the request line's format, uWSGI's `%(name)` placeholders (see
    /// `request_log.rs`); none: uWSGI's default line.
    pub log_format: Option<String>,
    /// `log-4xx`: log requests answered with a 4xx status even under `disable-logging`.
    #[serde(rename = "log-4xx")]
    pub log_4xx: bool,
    /// `log-5xx`: the same for 5xx answers.
    #[serde(rename = "log-5xx")]
    pub log_5xx: bool,
    /// `log-slow`: the same for requests that took at least this many milliseconds (0: off).
    pub log_slow: u64,
    /// `log-zero`: the same for answers without a body.
    pub log_zero: bool,
    /// `log-big`: the same for answers of at least this many bytes (0: off).
    pub log_big: u64,
    /// `log-sendfile`: the same for answers sent with `sendfile(2)`.
    pub log_sendfile: bool,
    /// `log-ioerror`: the same for exchanges cut short (the client left, the answer was
    /// aborted).
    pub log_ioerror: bool,
    /// `ignore-write-errors`: a client that leaves while its request is served is not
    /// reported in the log (it still is in the request line with `log-ioerror`).
    pub ignore_write_errors: bool,
    /// `log-micros`: the default line gives the time in microseconds (`in N micros`).
    pub log_micros: bool,
    /// `log-x-forwarded-for`: log the request's `X-Forwarded-For` (whole, as uWSGI) as the
    /// client address when it has one.
    pub log_x_forwarded_for: bool,
    /// `add-header`: `Name: value` headers added to every response (repeatable).
    pub add_header: Vec<String>,
    /// `del-header` (alias `rem-header`): header names removed from every response the
    /// handler gives (repeatable; any case); `add-header`'s stay, as in uWSGI.
    pub del_header: Vec<String>,
    /// `thunder-lock`: each new connection wakes one of the workers sleeping on a shared
    /// listener (EPOLLEXCLUSIVE), instead of every one of them (default off).
    pub thunder_lock: bool,
    /// The worker id, 1-based (the process crate sets it per worker; the default request
    /// line names the pid, as uWSGI's does).
    #[serde(skip, default = "first_worker")]
    pub worker_id: usize,
    /// After this many requests handed to the handler the loop retires (see
    /// [`EventLoop::on_retire`](crate::EventLoop::on_retire)); 0 never (the process crate
    /// sets it from `max-requests` and `max-requests-delta`).
    #[serde(skip)]
    pub max_requests: u64,
    /// The loop does not retire for `max_requests` before it has run this long
    /// (`min-worker-lifetime`; default 0).
    #[serde(skip)]
    pub min_lifetime: Duration,
    /// How long a retiring loop waits for its in-flight requests (`worker-reload-mercy`;
    /// the process crate sets it).
    #[serde(skip, default = "retire_mercy")]
    pub retire_mercy: Duration,
    /// The static-file options (`static-map`, `check-static`, ...; the cli extracts them as
    /// a struct of their own). When they map anything, the process crate wraps each
    /// worker's handler in a [`crate::StaticFiles`].
    #[serde(skip)]
    pub static_files: StaticOptions,
    /// The routing options (`route*`, `response-route*`, `collect-header`,
    /// `pull-header`; the cli gathers them in the order given). When any is set, the
    /// process crate wraps each worker's handler in a [`crate::Routing`].
    #[serde(skip)]
    pub routes: RouteOptions,
}

impl Options {
    /// The `add-header` values as header fields (name and value trimmed); the first value
    /// that is not `Name: value` as the error.
    pub fn add_header_fields(&self) -> Result<Vec<(String, Vec<u8>)>, &str> {
        self.add_header
            .iter()
            .map(|v| match v.split_once(':') {
                Some((name, value)) if !name.trim().is_empty() => {
                    Ok((name.trim().to_string(), value.trim().as_bytes().to_vec()))
                }
                _ => Err(v.as_str()),
            })
            .collect()
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            buffer_size: 8192,
            max_headers: MAX_HEADERS,
            post_buffering: 1 << 20,
            limit_post: 0,
            limit_spill: LIMIT_SPILL,
            socket_timeout: Duration::from_secs(4),
            tcp_nodelay: true,
            so_keepalive: false,
            high_water: HIGH_WATER,
            spill_max: SPILL_MAX,
            max_connections: MAX_CONNECTIONS,
            log_requests: true,
            memory_report: false,
            log_format: None,
            log_4xx: false,
            log_5xx: false,
            log_slow: 0,
            log_zero: false,
            log_big: 0,
            log_sendfile: false,
            log_ioerror: false,
            ignore_write_errors: false,
            log_micros: false,
            log_x_forwarded_for: false,
            add_header: Vec::new(),
            del_header: Vec::new(),
            thunder_lock: false,
            worker_id: 1,
            max_requests: 0,
            min_lifetime: Duration::ZERO,
            retire_mercy: RETIRE_MERCY,
            static_files: StaticOptions::default(),
            routes: RouteOptions::default(),
        }
    }
}

fn max_headers() -> usize {
    MAX_HEADERS
}

fn high_water() -> usize {
    HIGH_WATER
}

fn spill_max() -> u64 {
    SPILL_MAX
}

fn max_connections() -> usize {
    MAX_CONNECTIONS
}

fn first_worker() -> usize {
    1
}

/// uWSGI's default `worker-reload-mercy`.
const RETIRE_MERCY: Duration = Duration::from_secs(60);

fn retire_mercy() -> Duration {
    RETIRE_MERCY
}

/// A whole number of seconds, as uWSGI's timeouts are given.
fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_secs)
}

/// A flag read the other way round (`disable-logging` → `log_requests`).
fn negated<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    bool::deserialize(d).map(|b| !b)
}
