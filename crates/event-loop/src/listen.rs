//! Listening sockets and the streams they accept.
//!
//! The loop binds nothing: the master binds every socket (the process crate) and each
//! worker inherits them, so a [`Listener`] starts from a bound, listening fd
//! ([`Listener::from_fd`]); an embedder passes the fd of a std `TcpListener` or
//! `UnixListener`. Socket checks and options go through socket2.

use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::time::Duration;

use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use socket2::{Domain, SockRef, Socket, Type};

use crate::handler::{Address, Protocol};
use crate::sys;

/// A listening socket the loop accepts connections from.
#[derive(Debug)]
pub struct Listener {
    inner: Inner,
    protocol: Protocol,
    local: Address,
    timeout: Option<Duration>,
}

#[derive(Debug)]
enum Inner {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// A listener over an already bound and listening stream socket (TCP or unix, told
    /// apart by its domain), made non-blocking. The fd is the listener's from now on: the
    /// master's inherited socket, or an embedder's std listener
    /// (`Listener::from_fd(std_listener.into(), protocol)`).
    pub fn from_fd(fd: OwnedFd, protocol: Protocol) -> io::Result<Listener> {
        let socket = Socket::from(fd);
        if socket.r#type()? != Type::STREAM || !socket.is_listener()? {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the socket is not a listening stream socket",
            ));
        }
        socket.set_nonblocking(true)?;
        let domain = socket.domain()?;
        if domain == Domain::UNIX {
            let l = std::os::unix::net::UnixListener::from(socket);
            let local = unix_name(&l.local_addr()?);
            Ok(Listener {
                inner: Inner::Unix(UnixListener::from_std(l)),
                protocol,
                local: Address::Unix(local),
                timeout: None,
            })
        } else if domain == Domain::IPV4 || domain == Domain::IPV6 {
            let l = std::net::TcpListener::from(socket);
            let local = l.local_addr()?;
            Ok(Listener {
                inner: Inner::Tcp(TcpListener::from_std(l)),
                protocol,
                local: Address::Inet(local),
                timeout: None,
            })
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsupported socket domain {domain:?}"),
            ))
        }
    }

    /// The protocol this listener speaks.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Gives this listener's connections their own timeout instead of the loop's
    /// `socket-timeout` (`http-timeout` for the `--http` addresses): the longest wait between
    /// two reads or two writes, and for the next request on a kept-alive connection.
    pub fn with_timeout(mut self, timeout: Duration) -> Listener {
        self.timeout = Some(timeout);
        self
    }

    /// This listener's own timeout, if it has one.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The address it listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> &Address {
        &self.local
    }

    /// Accepts one connection (non-blocking): the stream and the peer's address.
    pub(crate) fn accept(&self) -> io::Result<(Stream, Address)> {
        match &self.inner {
            Inner::Tcp(l) => {
                let (s, peer) = l.accept()?;
                Ok((Stream::Tcp(s), Address::Inet(peer)))
            }
            Inner::Unix(l) => {
                let (s, _) = l.accept()?;
                // A unix client rarely binds a name; uWSGI reports an empty REMOTE_ADDR.
                Ok((Stream::Unix(s), Address::Unix(String::new())))
            }
        }
    }

    /// Whether this is a TCP listener bound to every interface (the local address of each
    /// connection must then be asked of the kernel).
    pub(crate) fn is_unspecified(&self) -> bool {
        matches!(&self.local, Address::Inet(a) if a.ip().is_unspecified())
    }

    fn raw_fd(&self) -> RawFd {
        match &self.inner {
            Inner::Tcp(l) => l.as_raw_fd(),
            Inner::Unix(l) => l.as_raw_fd(),
        }
    }

    #[cfg(test)]
    fn try_clone_fd(&self) -> io::Result<OwnedFd> {
        use std::os::fd::AsFd;
        match &self.inner {
            Inner::Tcp(l) => l.as_fd().try_clone_to_owned(),
            Inner::Unix(l) => l.as_fd().try_clone_to_owned(),
        }
    }

    /// Registers the listener for READABLE with `token`. With `exclusive` (`thunder-lock`)
    /// it is added to mio's epoll by hand with EPOLLEXCLUSIVE, which mio cannot set: of the
    /// workers sleeping on this listener, a new connection then wakes one, not all.
    ///
    /// That relies on mio's epoll selector storing the token as the event's `u64` (mio 1.x,
    /// `sys/unix/selector/epoll.rs`); the test `exclusive_registration_wakes_one_poll`
    /// checks it. Such a registration must be removed with [`Listener::deregister`] with the
    /// same `exclusive` (mio's own deregister would refuse a source it did not register).
    pub(crate) fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        exclusive: bool,
    ) -> io::Result<()> {
        if exclusive {
            sys::epoll_add_exclusive(registry.as_raw_fd(), self.raw_fd(), token.0)
        } else {
            match &mut self.inner {
                Inner::Tcp(l) => registry.register(l, token, Interest::READABLE),
                Inner::Unix(l) => registry.register(l, token, Interest::READABLE),
            }
        }
    }

    /// Undoes [`Listener::register`].
    pub(crate) fn deregister(&mut self, registry: &Registry, exclusive: bool) -> io::Result<()> {
        if exclusive {
            sys::epoll_del(registry.as_raw_fd(), self.raw_fd())
        } else {
            match &mut self.inner {
                Inner::Tcp(l) => registry.deregister(l),
                Inner::Unix(l) => registry.deregister(l),
            }
        }
    }
}

fn unix_name(addr: &std::os::unix::net::SocketAddr) -> String {
    if let Some(p) = addr.as_pathname() {
        p.to_string_lossy().into_owned()
    } else if let Some(name) = addr.as_abstract_name() {
        format!("@{}", String::from_utf8_lossy(name))
    } else {
        String::new()
    }
}

/// An accepted connection.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    pub(crate) fn raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    pub(crate) fn shutdown_write(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
        };
    }

    /// Reads into memory not yet initialized (a request body's own buffer): the first
    /// `n` bytes of `buf` are written when it returns `Ok(n)`.
    pub(crate) fn read_into(&self, buf: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => SockRef::from(s).recv(buf),
            Stream::Unix(s) => SockRef::from(s).recv(buf),
        }
    }

    /// Asks a TCP socket to report input only once `bytes` are queued (`SO_RCVLOWAT`; 1 is
    /// the default). Unix sockets ignore it in poll(2), so it is not set on them. Returns
    /// whether the value is now in force.
    pub(crate) fn set_recv_low_water(&self, bytes: usize) -> bool {
        match self {
            Stream::Tcp(s) => crate::sys::set_recv_low_water(s.as_raw_fd(), bytes).is_ok(),
            Stream::Unix(_) => false,
        }
    }

    /// The bytes the kernel holds for us that no read has taken yet.
    pub(crate) fn queued_input(&self) -> usize {
        crate::sys::queued_input(self.raw_fd()).unwrap_or(0)
    }

    /// The local address of a TCP connection (for listeners on every interface).
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Stream::Tcp(s) => s.local_addr().ok(),
            Stream::Unix(_) => None,
        }
    }

    /// Sets `TCP_NODELAY` and `SO_KEEPALIVE` on a TCP connection, as asked; a failure
    /// only loses the option, so it is ignored.
    pub(crate) fn configure(&self, nodelay: bool, keepalive: bool) {
        if let Stream::Tcp(s) = self {
            let socket = SockRef::from(s);
            if nodelay {
                let _ = socket.set_tcp_nodelay(true);
            }
            if keepalive {
                let _ = socket.set_keepalive(true);
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Stream {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(r, t, i),
            Stream::Unix(s) => s.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(r),
            Stream::Unix(s) => s.deregister(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener on a fresh TCP socket on the loopback.
    fn tcp_listener() -> Listener {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        Listener::from_fd(l.into(), Protocol::Http).unwrap()
    }

    #[test]
    fn wraps_tcp_unix_and_abstract_listeners_and_detects_the_domain() {
        let l = tcp_listener();
        let Address::Inet(addr) = l.local_addr().clone() else {
            panic!("not inet")
        };
        assert_ne!(addr.port(), 0);
        std::net::TcpStream::connect(addr).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let std_l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let l = Listener::from_fd(std_l.into(), Protocol::Uwsgi).unwrap();
        assert_eq!(
            l.local_addr(),
            &Address::Unix(path.to_string_lossy().into_owned())
        );
        assert_eq!(l.protocol(), Protocol::Uwsgi);
        std::os::unix::net::UnixStream::connect(&path).unwrap();

        let name = format!("ruwsgi-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let std_l = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
        let l = Listener::from_fd(std_l.into(), Protocol::Http).unwrap();
        assert_eq!(l.local_addr(), &Address::Unix(format!("@{name}")));
    }

    #[test]
    fn accepted_tcp_connections_get_nodelay_and_keepalive() {
        let l = tcp_listener();
        let Address::Inet(addr) = *l.local_addr() else {
            panic!("not inet")
        };
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let (stream, _) = loop {
            match l.accept() {
                Ok(accepted) => break accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < deadline, "no connection");
                    std::thread::yield_now();
                }
                Err(e) => panic!("{e}"),
            }
        };
        stream.configure(true, true);
        let Stream::Tcp(s) = &stream else {
            panic!("not tcp")
        };
        let socket = SockRef::from(s);
        assert!(socket.tcp_nodelay().unwrap());
        assert!(socket.keepalive().unwrap());
    }

    /// The state letter of thread `tid` of this process (`S` while it sleeps).
    fn thread_state(tid: libc::pid_t) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
        // "tid (comm) S ...": the state follows the last ')'.
        stat.rsplit_once(')')?.1.trim_start().chars().next()
    }

    #[test]
    fn exclusive_registration_wakes_one_poll() {
        use std::sync::mpsc;
        use std::time::{Duration, Instant};

        let l = tcp_listener();
        let Address::Inet(addr) = *l.local_addr() else {
            panic!("not inet")
        };
        let (ready_tx, ready_rx) = mpsc::channel();
        let (woke_tx, woke_rx) = mpsc::channel();
        let mut threads = Vec::new();
        for n in 0..2 {
            let fd = l.try_clone_fd().unwrap();
            let (ready_tx, woke_tx) = (ready_tx.clone(), woke_tx.clone());
            threads.push(std::thread::spawn(move || {
                let mut listener = Listener::from_fd(fd, Protocol::Http).unwrap();
                let mut poll = mio::Poll::new().unwrap();
                listener.register(poll.registry(), Token(7), true).unwrap();
                let mut events = mio::Events::with_capacity(8);
                // SAFETY: gettid(2) has no preconditions.
                ready_tx.send(unsafe { libc::gettid() }).unwrap();
                poll.poll(&mut events, Some(Duration::from_secs(10)))
                    .unwrap();
                let tokens: Vec<Token> = events.iter().map(|e| e.token()).collect();
                listener.deregister(poll.registry(), true).unwrap();
                woke_tx.send((n, tokens)).unwrap();
            }));
        }
        let tids: Vec<libc::pid_t> = (0..2).map(|_| ready_rx.recv().unwrap()).collect();
        // Both threads must sleep in epoll_wait (nothing else after `ready` can sleep).
        let deadline = Instant::now() + Duration::from_secs(10);
        while !tids.iter().all(|&t| thread_state(t) == Some('S')) {
            assert!(Instant::now() < deadline, "the pollers never slept");
            std::thread::yield_now();
        }

        let _c1 = std::net::TcpStream::connect(addr).unwrap();
        let (first, tokens) = woke_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(tokens, vec![Token(7)], "mio decodes our token");
        // The other poller stays asleep: one connection, one wake-up.
        assert!(woke_rx.recv_timeout(Duration::from_millis(300)).is_err());

        // The first poller is gone; the next connection wakes the other.
        let _c2 = std::net::TcpStream::connect(addr).unwrap();
        let (second, tokens) = woke_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_ne!(first, second);
        assert_eq!(tokens, vec![Token(7)]);
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn a_socket_that_is_not_listening_is_refused() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(Listener::from_fd(s.into(), Protocol::Http).is_err());
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        assert!(Listener::from_fd(s.into(), Protocol::Http).is_err());
    }
}
