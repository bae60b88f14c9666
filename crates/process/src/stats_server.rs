//! The stats server (`stats ADDR`): the master's listening socket on which each connection
//! gets the stats and is closed, as uWSGI's. Plain, the JSON document is written as soon as
//! the connection is accepted; with `stats-http` the request head is read first and the
//! answer is an HTTP/1.0 response: the JSON document, or at `/metrics` Prometheus's text
//! format.
//!
//! It runs inside the master's single-threaded mio loop (the master never starts a
//! thread: it forks): the sockets are non-blocking, each connection keeps its unsent
//! answer, and one that has not finished within [`DEADLINE`] — a client that connects and
//! never reads, or never sends its request — is closed, so no client can hold the master.
//! At most [`MAX_CONNECTIONS`] are served at once; more are closed as they are accepted.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

use crate::bind::Bound;

/// The longest a stats connection may take, from accept to its last byte written (uWSGI
/// bounds it with `socket-timeout`, whose default is 4 s).
pub(crate) const DEADLINE: Duration = Duration::from_secs(4);
/// Stats connections served at once.
pub(crate) const MAX_CONNECTIONS: usize = 16;
/// The largest HTTP request head read (as uWSGI, which reads one 4 KiB buffer).
const MAX_HEAD: usize = 4096;

/// What a client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Page {
    /// The JSON document.
    Json,
    /// The Prometheus text format (`GET /metrics` with `stats-http`).
    Metrics,
}

#[derive(Debug)]
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

#[derive(Debug)]
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn shutdown_write(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
        };
    }
}

#[derive(Debug)]
struct Connection {
    stream: Stream,
    deadline: Instant,
    /// The request head read so far (`stats-http`, until the answer is made).
    head: Vec<u8>,
    /// The answer, once made, and how much of it is written.
    answer: Option<(Vec<u8>, usize)>,
}

/// The stats listener and its connections. Tokens: the listener's is `base`, connection
/// `i`'s is `base + 1 + i`.
#[derive(Debug)]
pub(crate) struct StatsServer {
    listener: Listener,
    base: usize,
    http: bool,
    connections: Vec<Option<Connection>>,
}

impl StatsServer {
    /// Serves on `bound` (made non-blocking and registered with `registry` under token
    /// `base`); `http` is `stats-http`.
    pub(crate) fn new(
        bound: Bound,
        registry: &Registry,
        base: usize,
        http: bool,
    ) -> io::Result<StatsServer> {
        let socket = socket2::Socket::from(bound.fd);
        socket.set_nonblocking(true)?;
        let unix = socket.local_addr()?.domain() == socket2::Domain::UNIX;
        let mut listener = if unix {
            Listener::Unix(UnixListener::from_std(socket.into()))
        } else {
            Listener::Tcp(TcpListener::from_std(socket.into()))
        };
        let source: &mut dyn mio::event::Source = match &mut listener {
            Listener::Tcp(l) => l,
            Listener::Unix(l) => l,
        };
        registry.register(source, Token(base), Interest::READABLE)?;
        Ok(StatsServer {
            listener,
            base,
            http,
            connections: (0..MAX_CONNECTIONS).map(|_| None).collect(),
        })
    }

    /// Whether `token` is one of the server's.
    pub(crate) fn owns(&self, token: Token) -> bool {
        (self.base..=self.base + MAX_CONNECTIONS).contains(&token.0)
    }

    /// Acts on an event for `token`: accepts new connections, reads a request head, writes
    /// an answer. `answer` makes the body of a page.
    pub(crate) fn ready(
        &mut self,
        registry: &Registry,
        token: Token,
        now: Instant,
        answer: &mut dyn FnMut(Page) -> Vec<u8>,
    ) {
        if token.0 == self.base {
            self.accept(registry, now, answer);
        } else if let Some(i) = token.0.checked_sub(self.base + 1) {
            self.advance(registry, i, answer);
        }
    }

    /// Closes the connections past their deadline.
    pub(crate) fn expire(&mut self, registry: &Registry, now: Instant) {
        for slot in &mut self.connections {
            if let Some(c) = slot.as_mut().filter(|c| c.deadline <= now) {
                log::warn!("stats: a client took longer than {DEADLINE:?}; closed");
                let _ = registry.deregister(c.stream.source());
                *slot = None;
            }
        }
    }

    /// The earliest deadline of a connection being served.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.connections.iter().flatten().map(|c| c.deadline).min()
    }

    fn accept(
        &mut self,
        registry: &Registry,
        now: Instant,
        answer: &mut dyn FnMut(Page) -> Vec<u8>,
    ) {
        loop {
            let accepted = match &self.listener {
                Listener::Tcp(l) => l.accept().map(|(s, _)| Stream::Tcp(s)),
                Listener::Unix(l) => l.accept().map(|(s, _)| Stream::Unix(s)),
            };
            let mut stream = match accepted {
                Ok(stream) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("stats: accept failed: {e}");
                    return;
                }
            };
            let Some(i) = self.connections.iter().position(Option::is_none) else {
                log::warn!("stats: {MAX_CONNECTIONS} clients are being served; one more closed");
                continue;
            };
            let interest = if self.http {
                Interest::READABLE
            } else {
                Interest::WRITABLE
            };
            if let Err(e) = registry.register(stream.source(), Token(self.base + 1 + i), interest) {
                log::warn!("stats: cannot watch a client: {e}");
                continue;
            }
            self.connections[i] = Some(Connection {
                stream,
                deadline: now + DEADLINE,
                head: Vec::new(),
                answer: None,
            });
            self.advance(registry, i, answer);
        }
    }

    /// Moves connection `i` on as far as its socket allows; closes it once answered (or
    /// failed).
    fn advance(&mut self, registry: &Registry, i: usize, answer: &mut dyn FnMut(Page) -> Vec<u8>) {
        let Some(Some(c)) = self.connections.get_mut(i) else {
            return;
        };
        let done = match self.http {
            true => serve_http(c, registry, Token(self.base + 1 + i), answer),
            false => serve_plain(c, answer),
        };
        if done {
            let _ = registry.deregister(c.stream.source());
            self.connections[i] = None;
        }
    }
}

/// Plain stats: the JSON at once. Returns true when the connection is done with.
fn serve_plain(c: &mut Connection, answer: &mut dyn FnMut(Page) -> Vec<u8>) -> bool {
    if c.answer.is_none() {
        c.answer = Some((answer(Page::Json), 0));
    }
    write_answer(c)
}

/// `stats-http`: reads the request head, then answers the page its path names. Returns
/// true when the connection is done with.
fn serve_http(
    c: &mut Connection,
    registry: &Registry,
    token: Token,
    answer: &mut dyn FnMut(Page) -> Vec<u8>,
) -> bool {
    if c.answer.is_none() {
        let mut buf = [0u8; 1024];
        loop {
            match c.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    c.head.extend_from_slice(&buf[..n]);
                    if head_complete(&c.head) || c.head.len() >= MAX_HEAD {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            }
        }
        if c.head.is_empty() {
            return true; // closed before asking
        }
        let page = page_of(&c.head);
        let body = answer(page);
        let content_type = match page {
            Page::Json => "application/json",
            Page::Metrics => "text/plain; version=0.0.4; charset=utf-8",
        };
        let mut response = format!(
            "HTTP/1.0 200 OK\r\nConnection: close\r\nAccess-Control-Allow-Origin: *\r\n\
             Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        response.extend_from_slice(&body);
        c.answer = Some((response, 0));
        if registry
            .reregister(c.stream.source(), token, Interest::WRITABLE)
            .is_err()
        {
            return true;
        }
    }
    write_answer(c)
}

/// Writes what the socket takes of the answer; true once all of it is written (the write
/// side is then shut, so the client reads its end) or the client is gone.
fn write_answer(c: &mut Connection) -> bool {
    let Some((answer, written)) = &mut c.answer else {
        return false;
    };
    while *written < answer.len() {
        match c.stream.write(&answer[*written..]) {
            Ok(n) => *written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
    c.stream.shutdown_write();
    true
}

/// Whether `head` holds a whole request head (an empty line ends it).
fn head_complete(head: &[u8]) -> bool {
    head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n")
}

/// The page a request line asks for: `/metrics` (query aside), else the JSON.
fn page_of(head: &[u8]) -> Page {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let target = line.split(|&b| b == b' ').nth(1).unwrap_or_default();
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    if path == b"/metrics" {
        Page::Metrics
    } else {
        Page::Json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_picks_the_page() {
        assert_eq!(
            page_of(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Page::Metrics
        );
        assert_eq!(page_of(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"), Page::Metrics);
        assert_eq!(page_of(b"GET / HTTP/1.1\r\n\r\n"), Page::Json);
        assert_eq!(page_of(b"GET /metricsx HTTP/1.1\r\n\r\n"), Page::Json);
        assert_eq!(page_of(b"garbage"), Page::Json);
        assert!(head_complete(b"GET / HTTP/1.0\n\n"));
        assert!(!head_complete(b"GET / HTTP/1.1\r\nHost: x\r\n"));
    }
}
