//! Listening sockets and the streams they accept.
//!
//! The master binds every socket (the process crate) and each worker inherits them, so the
//! loop usually starts from a bound fd: [`Listener::from_fd`]. [`bind`] is for embedders
//! and tests; it understands uWSGI's address forms: `host:port`, `:port` (every
//! interface), `[v6]:port`, a unix path (anything without a `:`), `@name` (abstract).

use std::io::{self, IoSlice, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;

use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

use crate::handler::{Address, Protocol};
use crate::sys;

/// A listening socket the loop accepts connections from.
#[derive(Debug)]
pub struct Listener {
    inner: Inner,
    protocol: Protocol,
    local: Address,
}

#[derive(Debug)]
enum Inner {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// A listener over an already bound and listening socket (TCP or unix, found with
    /// getsockname), made non-blocking. The fd is the listener's from now on.
    pub fn from_fd(fd: OwnedFd, protocol: Protocol) -> io::Result<Listener> {
        let raw = fd.as_raw_fd();
        if !sys::is_listening(raw)? {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the socket is not listening",
            ));
        }
        match sys::socket_family(raw)? {
            libc::AF_UNIX => {
                let l = std::os::unix::net::UnixListener::from(fd);
                l.set_nonblocking(true)?;
                let local = unix_name(&l.local_addr()?);
                Ok(Listener {
                    inner: Inner::Unix(UnixListener::from_std(l)),
                    protocol,
                    local: Address::Unix(local),
                })
            }
            libc::AF_INET | libc::AF_INET6 => {
                let l = std::net::TcpListener::from(fd);
                l.set_nonblocking(true)?;
                let local = l.local_addr()?;
                Ok(Listener {
                    inner: Inner::Tcp(TcpListener::from_std(l)),
                    protocol,
                    local: Address::Inet(local),
                })
            }
            family => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsupported socket family {family}"),
            )),
        }
    }

    /// The protocol this listener speaks.
    pub fn protocol(&self) -> Protocol {
        self.protocol
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

    pub(crate) fn source(&mut self) -> &mut dyn Source {
        match &mut self.inner {
            Inner::Tcp(l) => l,
            Inner::Unix(l) => l,
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

/// Binds and listens on `address` in one of uWSGI's forms, with a `listen` backlog.
///
/// A unix path left by an unclean stop is replaced when it is a socket (as uWSGI does).
/// `chmod-socket`, `chown-socket` and `reuse-port` are the process crate's business.
pub fn bind(address: &str, protocol: Protocol, backlog: u32) -> io::Result<Listener> {
    let fd: OwnedFd = if let Some(name) = address.strip_prefix('@') {
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        std::os::unix::net::UnixListener::bind_addr(&addr)?.into()
    } else if is_unix(address) {
        use std::os::unix::fs::FileTypeExt;
        if std::fs::symlink_metadata(address).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = std::fs::remove_file(address);
        }
        std::os::unix::net::UnixListener::bind(address)?.into()
    } else {
        std::net::TcpListener::bind(resolve(address)?)?.into()
    };
    sys::listen(fd.as_raw_fd(), backlog)?;
    Listener::from_fd(fd, protocol)
}

/// Whether `address` names a unix socket (a path, or `@abstract`).
fn is_unix(address: &str) -> bool {
    !address.contains(':') || address.starts_with('/') || address.starts_with("./")
}

fn resolve(address: &str) -> io::Result<SocketAddr> {
    let full = if address.starts_with(':') {
        format!("0.0.0.0{address}")
    } else {
        address.to_string()
    };
    full.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{address} resolves to no address"),
        )
    })
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, so a worker can hold as many
/// connections as the system lets it (DESIGN.md). Returns the new soft limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // `lim` is a valid rlimit for the kernel to fill.
    sys::syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut lim))?;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // `lim` is a valid rlimit.
        sys::syscall!(setrlimit(libc::RLIMIT_NOFILE, &lim))?;
    }
    Ok(lim.rlim_cur)
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

    /// The local address of a TCP connection (for listeners on every interface).
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Stream::Tcp(s) => s.local_addr().ok(),
            Stream::Unix(_) => None,
        }
    }

    pub(crate) fn configure(&self, nodelay: bool, keepalive: bool) {
        if let Stream::Tcp(s) = self {
            if nodelay {
                let _ = s.set_nodelay(true);
            }
            if keepalive {
                let _ = sys::set_int_opt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
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

    #[test]
    fn address_forms() {
        assert!(is_unix("./uwsgi/uwsgi.sock"));
        assert!(is_unix("/tmp/x.sock"));
        assert!(is_unix("@abstract"));
        assert!(!is_unix("127.0.0.1:8000"));
        assert!(!is_unix(":8000"));
        assert!(!is_unix("[::1]:8000"));
        assert_eq!(resolve(":80").unwrap(), "0.0.0.0:80".parse().unwrap());
    }

    #[test]
    fn binds_tcp_unix_and_abstract_and_detects_the_family() {
        let l = bind("127.0.0.1:0", Protocol::Http, 16).unwrap();
        let Address::Inet(addr) = l.local_addr().clone() else {
            panic!("not inet")
        };
        assert_ne!(addr.port(), 0);
        std::net::TcpStream::connect(addr).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let l = bind(path.to_str().unwrap(), Protocol::Uwsgi, 16).unwrap();
        assert_eq!(
            l.local_addr(),
            &Address::Unix(path.to_string_lossy().into_owned())
        );
        assert_eq!(l.protocol(), Protocol::Uwsgi);
        std::os::unix::net::UnixStream::connect(&path).unwrap();

        let name = format!("ruwsgi-test-{}", std::process::id());
        let l = bind(&format!("@{name}"), Protocol::Http, 16).unwrap();
        assert_eq!(l.local_addr(), &Address::Unix(format!("@{name}")));
    }

    #[test]
    fn a_socket_that_is_not_listening_is_refused() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(Listener::from_fd(s.into(), Protocol::Http).is_err());
    }

    #[test]
    fn nofile_limit_reaches_the_hard_limit() {
        let soft = raise_nofile_limit().unwrap();
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is a valid rlimit for the kernel to fill.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        assert_eq!(soft, lim.rlim_max);
        assert_eq!(lim.rlim_cur, lim.rlim_max);
    }
}
