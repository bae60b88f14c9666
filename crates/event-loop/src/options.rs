//! [`Options`]: the loop's settings as plain values (the cli maps uWSGI's options onto it).

use std::time::Duration;

/// How one worker's loop serves its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `buffer-size`: the largest request head or uwsgi packet accepted (default 8192).
    pub buffer_size: usize,
    /// The most header fields a request may carry (default 100).
    pub max_headers: usize,
    /// `post-buffering`: request bodies up to this size stay in memory, larger ones go to
    /// an unlinked temp file (default 1 MiB).
    pub post_buffering: usize,
    /// `limit-post`: the largest request body accepted, 0 for no limit (413 past it).
    pub limit_post: u64,
    /// `socket-timeout`: the longest wait between two reads or two writes; idle keep-alive
    /// connections close after it too (default 4 s, as uWSGI).
    pub socket_timeout: Duration,
    /// `tcp-nodelay` on accepted TCP connections.
    pub tcp_nodelay: bool,
    /// `so-keepalive` on accepted TCP connections.
    pub so_keepalive: bool,
    /// Unwritten response bytes per connection held in memory; above it
    /// [`crate::Reply::send`] spills to a temp file (see `spill_max`), then blocks.
    pub high_water: usize,
    /// The most response bytes one reply writes to its unlinked temp file while the client
    /// reads slower than the app writes (DESIGN.md "Back-pressure is explicit", as nginx's
    /// proxy buffering), so a slow reader does not hold an app thread; past it
    /// [`crate::Reply::send`] blocks until the client drains. 0 never spills (default
    /// 16 MiB).
    pub spill_max: u64,
    /// The most connections open at once; the loop stops accepting at this count.
    pub max_connections: usize,
    /// Whether to log one line per request (`disable-logging` turns it off).
    pub log_requests: bool,
    /// `thunder-lock`: each new connection wakes one of the workers sleeping on a shared
    /// listener (EPOLLEXCLUSIVE), instead of every one of them (default off).
    pub thunder_lock: bool,
    /// The worker id, 1-based (the process crate sets it per worker; the default request
    /// line names the pid, as uWSGI's does).
    pub worker_id: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            buffer_size: 8192,
            max_headers: 100,
            post_buffering: 1 << 20,
            limit_post: 0,
            socket_timeout: Duration::from_secs(4),
            tcp_nodelay: false,
            so_keepalive: false,
            high_water: 256 * 1024,
            spill_max: 16 << 20,
            max_connections: 10_000,
            log_requests: true,
            thunder_lock: false,
            worker_id: 1,
        }
    }
}
