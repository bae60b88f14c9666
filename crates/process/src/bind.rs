//! Binding the configured sockets — the one place ruwsgi binds.
//!
//! The master binds every socket before it forks (and before it drops privileges); each
//! worker hands a duplicate of the fd to the event loop (`Listener::from_fd`). Address
//! forms, as uWSGI's: `host:port`, `:port` (every IPv4 interface), `[v6]:port`, a unix path
//! (anything without a `:`, or starting with `/` or `./`), `@name` (an abstract unix
//! socket). Sockets are made with socket2: close-on-exec, `SO_REUSEADDR` on inet sockets,
//! `SO_REUSEPORT` for `reuse-port` (set between socket(2) and bind(2), which std's
//! `TcpListener::bind` cannot do), and one listen(2) with the configured backlog.

use std::ffi::OsStr;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::{fs, io};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::error::{Error, ErrorKind};
use crate::options::SocketSpec;

/// A bound, listening socket (blocking, close-on-exec) and what it was configured as.
#[derive(Debug)]
pub struct Bound {
    /// The listening socket.
    pub fd: OwnedFd,
    /// Its configuration.
    pub spec: SocketSpec,
    /// For a unix socket with a path: the absolute path (for vacuum and chown).
    pub unix_path: Option<PathBuf>,
    /// For an inet socket: the address it is bound to (the real port for port 0).
    pub local_addr: Option<SocketAddr>,
    /// systemd passed it (socket activation): its unix socket file is systemd's and stays
    /// when the server stops, and a reload hands it on as a passed socket.
    pub passed: bool,
}

/// Binds and listens on `spec` (relative unix paths resolve against the current directory,
/// so the master calls this after `chdir`). A failure names the address.
pub(crate) fn bind(spec: &SocketSpec) -> Result<Bound, Error> {
    bind_spec(spec).map_err(|e| {
        Error::with(
            ErrorKind::Bind {
                address: spec.address.clone(),
            },
            e,
        )
    })
}

fn bind_spec(spec: &SocketSpec) -> io::Result<Bound> {
    let (socket, unix_path) = if is_unix(&spec.address) {
        bind_unix(spec)?
    } else {
        (bind_inet(spec)?, None)
    };
    socket.listen(spec.backlog.min(i32::MAX as u32) as i32)?;
    let local_addr = socket.local_addr()?.as_socket();
    Ok(Bound {
        fd: socket.into(),
        spec: spec.clone(),
        unix_path,
        local_addr,
        passed: false,
    })
}

/// Takes over `fd`, the listening socket a previous image of this master bound for `spec`
/// (a reload, `reexec.rs`): a duplicate of it, nothing bound or unlinked, so the socket
/// (and a unix socket's file) is the one clients already connect to.
pub(crate) fn adopt(spec: &SocketSpec, fd: std::os::fd::RawFd) -> Result<Bound, Error> {
    let adopted = crate::reexec::adopt(fd).map_err(|e| bind_error(spec, e))?;
    listening(spec, adopted, false)
}

/// A listening socket someone else bound (a previous image of this master, or systemd)
/// taken as `spec`; `passed`: see [`Bound::passed`]. Nothing is bound or unlinked,
/// so the socket (and a unix socket's file) is the one clients already connect to.
pub(crate) fn listening(spec: &SocketSpec, fd: OwnedFd, passed: bool) -> Result<Bound, Error> {
    let taken = || -> io::Result<Bound> {
        let socket = Socket::from(fd);
        if !socket.is_listener()? {
            return Err(io::Error::other("the descriptor is not a listening socket"));
        }
        let local_addr = socket.local_addr()?.as_socket();
        let unix_path = (is_unix(&spec.address) && !spec.address.starts_with('@'))
            .then(|| std::path::absolute(&spec.address))
            .transpose()?;
        Ok(Bound {
            fd: socket.into(),
            spec: spec.clone(),
            unix_path,
            local_addr,
            passed,
        })
    };
    taken().map_err(|e| bind_error(spec, e))
}

fn bind_error(spec: &SocketSpec, e: io::Error) -> Error {
    Error::with(
        ErrorKind::Bind {
            address: spec.address.clone(),
        },
        e,
    )
}

/// The address a listening socket is bound to, written as a socket option would name it:
/// `host:port` (`:port` for every IPv4 interface), `[v6]:port`, a unix socket's path, or
/// `@name` for an abstract one.
pub(crate) fn address_of(fd: &OwnedFd) -> io::Result<String> {
    let addr = socket2::SockRef::from(fd).local_addr()?;
    if let Some(inet) = addr.as_socket() {
        return Ok(match inet {
            SocketAddr::V4(v4) if v4.ip().is_unspecified() => format!(":{}", v4.port()),
            other => other.to_string(),
        });
    }
    if let Some(path) = addr.as_pathname() {
        return Ok(path.display().to_string());
    }
    if let Some(name) = addr.as_abstract_namespace() {
        return Ok(format!("@{}", String::from_utf8_lossy(name)));
    }
    Err(io::Error::other("an unnamed socket"))
}

/// Whether the socket option `address` names the socket at `fd` (the same inet address and
/// port, the same unix path, the same abstract name).
pub(crate) fn names(address: &str, fd: &OwnedFd) -> bool {
    let Ok(bound) = socket2::SockRef::from(fd).local_addr() else {
        return false;
    };
    if !is_unix(address) {
        return resolve(address).is_ok_and(|a| bound.as_socket() == Some(a));
    }
    if let Some(name) = address.strip_prefix('@') {
        return bound.as_abstract_namespace() == Some(name.as_bytes());
    }
    let wanted = std::path::absolute(address).ok();
    bound.as_pathname().map(Path::to_path_buf) == wanted
}

/// Whether `address` names a unix socket (a path, or `@abstract`).
pub(crate) fn is_unix(address: &str) -> bool {
    !address.contains(':') || address.starts_with('/') || address.starts_with("./")
}

/// A unix socket with a path or an abstract name. A socket file left by an unclean stop is
/// replaced, as uWSGI does; anything at the path that is not a socket is left alone and
/// bind(2) reports it.
fn bind_unix(spec: &SocketSpec) -> io::Result<(Socket, Option<PathBuf>)> {
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    tune(&socket, spec)?;
    if let Some(name) = spec.address.strip_prefix('@') {
        // An abstract address is a sun_path starting with a NUL byte (unix(7)).
        let path = [b"\0", name.as_bytes()].concat();
        socket.bind(&SockAddr::unix(OsStr::from_bytes(&path))?)?;
        return Ok((socket, None));
    }
    let path = std::path::absolute(&spec.address)?;
    if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = fs::remove_file(&path);
    }
    socket.bind(&SockAddr::unix(&path)?)?;
    if let Some(mode) = spec.chmod {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
    }
    Ok((socket, Some(path)))
}

fn bind_inet(spec: &SocketSpec) -> io::Result<Socket> {
    let addr = resolve(&spec.address)?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if spec.reuse_port {
        socket.set_reuse_port(true)?;
    }
    if spec.tuning.freebind {
        match addr {
            SocketAddr::V4(_) => socket.set_freebind_v4(true)?,
            SocketAddr::V6(_) => socket.set_freebind_v6(true)?,
        }
    }
    tune(&socket, spec)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// `socket-rcvbuf` and `socket-sndbuf`, on any socket (the kernel doubles the value for
/// its bookkeeping, as socket(7) says; connections accepted from it inherit it).
fn tune(socket: &Socket, spec: &SocketSpec) -> io::Result<()> {
    if let Some(bytes) = spec.tuning.rcvbuf {
        socket.set_recv_buffer_size(bytes)?;
    }
    if let Some(bytes) = spec.tuning.sndbuf {
        socket.set_send_buffer_size(bytes)?;
    }
    Ok(())
}

/// `:port` means every IPv4 interface, as in uWSGI.
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

/// The kernel's cap on listen backlogs (`net.core.somaxconn`), if readable.
pub(crate) fn somaxconn() -> Option<u32> {
    fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruwsgi_event_loop::Protocol;
    use socket2::SockRef;
    use std::os::unix::net::{UnixListener, UnixStream};

    fn spec(address: &str) -> SocketSpec {
        SocketSpec {
            address: address.to_string(),
            protocol: Protocol::Http,
            backlog: 100,
            chmod: None,
            reuse_port: false,
            tuning: Default::default(),
            timeout: None,
        }
    }

    fn listening(fd: &OwnedFd) -> bool {
        SockRef::from(fd).is_listener().unwrap()
    }

    #[test]
    fn address_forms() {
        assert!(is_unix("./uwsgi/uwsgi.sock"));
        assert!(is_unix("/tmp/x.sock"));
        assert!(is_unix("uwsgi.sock"));
        assert!(is_unix("@abstract"));
        assert!(!is_unix("127.0.0.1:8000"));
        assert!(!is_unix(":8000"));
        assert!(!is_unix("[::1]:8000"));
        assert_eq!(resolve(":80").unwrap(), "0.0.0.0:80".parse().unwrap());
        assert_eq!(resolve("[::1]:80").unwrap(), "[::1]:80".parse().unwrap());
    }

    #[test]
    fn binds_tcp_port_zero_and_reports_the_real_port() {
        let b = bind(&spec("127.0.0.1:0")).unwrap();
        assert!(listening(&b.fd));
        let addr = b.local_addr.unwrap();
        assert_ne!(addr.port(), 0);
        assert!(b.unix_path.is_none());
        std::net::TcpStream::connect(addr).unwrap();
    }

    fn close_on_exec(fd: &OwnedFd) -> bool {
        use nix::fcntl::{fcntl, FcntlArg, FdFlag};
        let flags = fcntl(fd, FcntlArg::F_GETFD).unwrap();
        FdFlag::from_bits_retain(flags).contains(FdFlag::FD_CLOEXEC)
    }

    #[test]
    fn the_socket_is_close_on_exec() {
        // Workers are forked, never exec'd: a socket must not leak into a hook's command.
        let b = bind(&spec("127.0.0.1:0")).unwrap();
        assert!(close_on_exec(&b.fd));
        let name = format!("@ruwsgi-cloexec-test-{}", std::process::id());
        let b = bind(&spec(&name)).unwrap();
        assert!(close_on_exec(&b.fd));
    }

    #[test]
    fn binds_ipv6_loopback_when_the_host_has_it() {
        if std::net::TcpListener::bind("[::1]:0").is_err() {
            return; // no IPv6 on this host: nothing to compare against
        }
        let b = bind(&spec("[::1]:0")).unwrap();
        let addr = b.local_addr.unwrap();
        assert!(addr.is_ipv6());
        std::net::TcpStream::connect(addr).unwrap();
    }

    #[test]
    fn reuse_port_lets_two_sockets_share_a_port() {
        let mut shared = spec("127.0.0.1:0");
        shared.reuse_port = true;
        let a = bind(&shared).unwrap();
        let taken = a.local_addr.unwrap().to_string();
        shared.address = taken.clone();
        bind(&shared).unwrap();
        let err = bind_spec(&spec(&taken)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn a_busy_port_names_the_address() {
        let b = bind(&spec("127.0.0.1:0")).unwrap();
        let taken = b.local_addr.unwrap().to_string();
        let err = bind(&spec(&taken)).unwrap_err();
        assert_eq!(err.to_string(), format!("cannot bind {taken}"));
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("in use"), "{source}");
    }

    #[test]
    fn a_unix_spec_keeps_its_path_and_mode_replacing_a_stale_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        drop(UnixListener::bind(&path).unwrap()); // a stale socket file
        let mut s = spec(path.to_str().unwrap());
        s.chmod = Some(0o660);
        let b = bind(&s).unwrap();
        assert!(listening(&b.fd));
        assert_eq!(b.unix_path.as_deref(), Some(path.as_path()));
        assert!(b.local_addr.is_none());
        assert_eq!(b.spec, s);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        UnixStream::connect(&path).unwrap();
    }

    #[test]
    fn a_regular_file_at_the_path_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-socket");
        fs::write(&path, "data").unwrap();
        assert!(bind(&spec(path.to_str().unwrap())).is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "data");
    }

    #[test]
    fn binds_an_abstract_name_without_a_path() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("@ruwsgi-bind-test-{}", std::process::id());
        let b = bind(&spec(&name)).unwrap();
        assert!(listening(&b.fd));
        assert!(b.unix_path.is_none() && b.local_addr.is_none());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name.as_bytes()[1..]);
        UnixStream::connect_addr(&addr.unwrap()).unwrap();
    }
}
