//! INTERIM: a minimal blocking serving loop (one connection at a time, `Connection: close`)
//! used by [`crate::FixedService`] and the interim WSGI service until `ruwsgi-event-loop`
//! lands. It parses just enough HTTP/1.x and uwsgi to hand a responder CGI-style vars.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use ruwsgi_event_loop::Protocol;
use ruwsgi_shm::Scoreboard;

use crate::bind::Bound;
use crate::service::{ServiceError, ServiceErrorKind, Serving, Stop, WorkerContext};

const RUNNING: u8 = 0;
const STOP: u8 = 1;
const WAKER: Token = Token(usize::MAX);
const MAX_HEAD: usize = 65536;

/// One parsed request: CGI-style vars (as a uwsgi packet carries them) and the body.
#[derive(Debug)]
pub(crate) struct InterimRequest {
    pub(crate) vars: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// Turns a request into the complete response bytes (head and body).
pub(crate) trait Respond {
    fn respond(&mut self, req: InterimRequest) -> Vec<u8>;
}

/// Builds the interim loop over `sockets` for worker `worker`.
pub(crate) fn build<R: Respond + 'static>(
    worker: &WorkerContext,
    sockets: &[Bound],
    responder: R,
) -> Result<Box<dyn Serving>, ServiceError> {
    let err = |e: io::Error| ServiceError::new(ServiceErrorKind::Internal, e.to_string());
    let poll = Poll::new().map_err(err)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(err)?);
    let mut listeners = Vec::new();
    for (i, b) in sockets.iter().enumerate() {
        let fd = b.fd.try_clone().map_err(err)?;
        let l = match b.local_addr {
            Some(addr) => {
                let l = TcpListener::from(fd);
                l.set_nonblocking(true).map_err(err)?;
                Listener::Tcp(l, addr.ip().to_string(), addr.port())
            }
            None => {
                let l = UnixListener::from(fd);
                l.set_nonblocking(true).map_err(err)?;
                Listener::Unix(l)
            }
        };
        poll.registry()
            .register(&mut SourceFd(&l.raw()), Token(i), Interest::READABLE)
            .map_err(err)?;
        listeners.push((l, b.spec.protocol));
    }
    Ok(Box::new(InterimLoop {
        poll,
        waker,
        state: Arc::new(AtomicU8::new(RUNNING)),
        listeners,
        responder,
        board: worker.scoreboard.clone(),
        id: worker.id,
    }))
}

enum Listener {
    Tcp(TcpListener, String, u16),
    Unix(UnixListener),
}

impl Listener {
    fn raw(&self) -> RawFd {
        match self {
            Listener::Tcp(l, ..) => l.as_raw_fd(),
            Listener::Unix(l) => l.as_raw_fd(),
        }
    }

    /// Accepts one connection: the socket and the base vars (addresses).
    fn accept(&self) -> io::Result<(OwnedFd, Vec<(String, String)>)> {
        match self {
            Listener::Tcp(l, host, port) => {
                let (s, peer): (TcpStream, _) = l.accept()?;
                let vars = vec![
                    ("SERVER_NAME".into(), host.clone()),
                    ("SERVER_PORT".into(), port.to_string()),
                    ("REMOTE_ADDR".into(), peer.ip().to_string()),
                    ("REMOTE_PORT".into(), peer.port().to_string()),
                ];
                Ok((OwnedFd::from(s), vars))
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept()?;
                let vars = vec![
                    ("SERVER_NAME".into(), "localhost".into()),
                    ("SERVER_PORT".into(), "0".into()),
                    ("REMOTE_ADDR".into(), String::new()),
                ];
                Ok((OwnedFd::from(s), vars))
            }
        }
    }
}

struct InterimLoop<R> {
    poll: Poll,
    waker: Arc<Waker>,
    state: Arc<AtomicU8>,
    listeners: Vec<(Listener, Protocol)>,
    responder: R,
    board: Arc<Scoreboard>,
    id: usize,
}

struct InterimStop {
    waker: Arc<Waker>,
    state: Arc<AtomicU8>,
}

impl Stop for InterimStop {
    fn graceful(&self, _mercy: Duration) {
        // Requests are answered one at a time on the loop thread: the loop sees the stop
        // only between requests, so the one in flight always completes.
        self.immediate();
    }

    fn immediate(&self) {
        self.state.store(STOP, Ordering::Release);
        let _ = self.waker.wake();
    }
}

impl<R: Respond> Serving for InterimLoop<R> {
    fn stopper(&self) -> Box<dyn Stop> {
        Box::new(InterimStop {
            waker: self.waker.clone(),
            state: self.state.clone(),
        })
    }

    fn run(mut self: Box<Self>) -> Result<(), ServiceError> {
        let mut events = Events::with_capacity(16);
        while self.state.load(Ordering::Acquire) == RUNNING {
            if let Err(e) = self.poll.poll(&mut events, None) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(ServiceError::new(ServiceErrorKind::Internal, e.to_string()));
            }
            for ev in &events {
                let i = ev.token().0;
                if i >= self.listeners.len() {
                    continue;
                }
                while self.state.load(Ordering::Acquire) == RUNNING {
                    let (l, proto) = &self.listeners[i];
                    let proto = *proto;
                    match l.accept() {
                        Ok((fd, base)) => self.serve_one(fd, proto, base),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    }
                }
            }
        }
        Ok(())
    }
}

impl<R: Respond> InterimLoop<R> {
    fn serve_one(&mut self, fd: OwnedFd, proto: Protocol, base: Vec<(String, String)>) {
        let slot = self.board.worker(self.id);
        let mut s = std::fs::File::from(fd);
        // A client that sends nothing (or never reads) cannot hold the worker past 4 s.
        set_timeouts(s.as_raw_fd(), Duration::from_secs(4));
        let req = match read_request(&mut s, proto, base) {
            Ok(Some(r)) => r,
            _ => return, // closed without a request, or unreadable
        };
        slot.request_started();
        let out = self.responder.respond(req);
        let ok = s.write_all(&out).is_ok();
        slot.request_finished(if ok { out.len() as u64 } else { 0 }, false);
    }
}

fn read_request(
    s: &mut std::fs::File,
    proto: Protocol,
    mut vars: Vec<(String, String)>,
) -> io::Result<Option<InterimRequest>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 8192];
    let head_len = loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        let done = match proto {
            Protocol::Http => buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4),
            Protocol::Uwsgi if buf.len() >= 4 => {
                let len = 4 + u16::from_le_bytes([buf[1], buf[2]]) as usize;
                (buf.len() >= len).then_some(len)
            }
            Protocol::Uwsgi => None,
        };
        if let Some(len) = done {
            break len;
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large",
            ));
        }
    };
    match proto {
        Protocol::Http => parse_http(&buf[..head_len], &mut vars)?,
        Protocol::Uwsgi => {
            vars.clear(); // the proxy's vars say it all
            parse_uwsgi(&buf[4..head_len], &mut vars)?;
        }
    }
    let len: usize = vars
        .iter()
        .find(|(k, _)| k == "CONTENT_LENGTH")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_len..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    Ok(Some(InterimRequest { vars, body }))
}

fn parse_http(head: &[u8], vars: &mut Vec<(String, String)>) -> io::Result<()> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad request head");
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let mut first = lines.next().ok_or_else(bad)?.split(' ');
    let method = first.next().ok_or_else(bad)?;
    let target = first.next().ok_or_else(bad)?;
    let version = first.next().unwrap_or("HTTP/1.0");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    vars.push(("REQUEST_METHOD".into(), method.into()));
    vars.push(("REQUEST_URI".into(), target.into()));
    vars.push(("PATH_INFO".into(), path.into()));
    vars.push(("QUERY_STRING".into(), query.into()));
    vars.push(("SERVER_PROTOCOL".into(), version.into()));
    for line in lines.filter(|l| !l.is_empty()) {
        let (k, v) = line.split_once(':').ok_or_else(bad)?;
        let key = k.trim().to_ascii_uppercase().replace('-', "_");
        let key = match key.as_str() {
            "CONTENT_TYPE" | "CONTENT_LENGTH" => key,
            _ => format!("HTTP_{key}"),
        };
        vars.push((key, v.trim().into()));
    }
    Ok(())
}

fn parse_uwsgi(mut p: &[u8], vars: &mut Vec<(String, String)>) -> io::Result<()> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad uwsgi packet");
    let take = |p: &mut &[u8]| -> io::Result<String> {
        if p.len() < 2 {
            return Err(bad());
        }
        let n = u16::from_le_bytes([p[0], p[1]]) as usize;
        if p.len() < 2 + n {
            return Err(bad());
        }
        let s = String::from_utf8_lossy(&p[2..2 + n]).into_owned();
        *p = &p[2 + n..];
        Ok(s)
    };
    while !p.is_empty() {
        let k = take(&mut p)?;
        let v = take(&mut p)?;
        vars.push((k, v));
    }
    Ok(())
}

fn set_timeouts(fd: RawFd, d: Duration) {
    let tv = libc::timeval {
        tv_sec: d.as_secs() as libc::time_t,
        tv_usec: 0,
    };
    for opt in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
        // SAFETY: a valid fd and a pointer to a timeval of the size passed.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_head_to_vars() {
        let mut vars = Vec::new();
        parse_http(
            b"GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n",
            &mut vars,
        )
        .unwrap();
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("PATH_INFO"), Some("/a/b"));
        assert_eq!(get("QUERY_STRING"), Some("x=1"));
        assert_eq!(get("HTTP_HOST"), Some("h"));
        assert_eq!(get("CONTENT_LENGTH"), Some("3"));
    }

    #[test]
    fn uwsgi_vars() {
        let mut p = Vec::new();
        for s in ["PATH_INFO", "/x"] {
            p.extend_from_slice(&(s.len() as u16).to_le_bytes());
            p.extend_from_slice(s.as_bytes());
        }
        let mut vars = Vec::new();
        parse_uwsgi(&p, &mut vars).unwrap();
        assert_eq!(vars, vec![("PATH_INFO".to_string(), "/x".to_string())]);
        assert!(parse_uwsgi(&p[..3], &mut vars).is_err());
    }
}
