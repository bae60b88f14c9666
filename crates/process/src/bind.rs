//! Binding the configured sockets, in the master, before privileges are dropped.
//!
//! Address forms as uWSGI's: `host:port`, `:port` (every interface), `[v6]:port`, a unix
//! path (anything without a `:`), `@name` for an abstract unix socket.

use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::{fs, io, mem};

use crate::error::{Error, ErrorKind};
use crate::options::SocketSpec;
use crate::sys::syscall;

/// A bound, listening socket and what it was configured as.
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
}

/// Whether `address` names a unix socket (a path, or `@abstract`).
pub fn is_unix(address: &str) -> bool {
    !address.contains(':') || address.starts_with('/') || address.starts_with("./")
}

/// Binds and listens on `spec` (relative unix paths resolve against the current directory,
/// so call this after `chdir`).
pub fn bind(spec: &SocketSpec) -> Result<Bound, Error> {
    let fail = |e: io::Error| {
        Error::with(
            ErrorKind::Bind {
                address: spec.address.clone(),
            },
            e,
        )
    };
    if is_unix(&spec.address) {
        bind_unix(spec).map_err(fail)
    } else {
        bind_inet(spec).map_err(fail)
    }
}

fn bind_unix(spec: &SocketSpec) -> io::Result<Bound> {
    let (listener, unix_path) = if let Some(name) = spec.address.strip_prefix('@') {
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        (UnixListener::bind_addr(&addr)?, None)
    } else {
        let path = std::path::absolute(&spec.address)?;
        // A socket file left by an unclean stop would make bind fail; uWSGI unlinks it too.
        // Anything that is not a socket is left alone (and bind reports it).
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = fs::remove_file(&path);
        }
        let l = UnixListener::bind(&path)?;
        if let Some(mode) = spec.chmod {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
        }
        (l, Some(path))
    };
    let fd = OwnedFd::from(listener);
    // listen(2) again on a listening socket only changes its backlog.
    syscall!(listen(fd.as_raw_fd(), spec.backlog as libc::c_int))?;
    Ok(Bound {
        fd,
        spec: spec.clone(),
        unix_path,
        local_addr: None,
    })
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

fn bind_inet(spec: &SocketSpec) -> io::Result<Bound> {
    let addr = resolve(&spec.address)?;
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let raw = syscall!(socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0))?;
    // SAFETY: socket(2) returned a fresh fd that we now own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    set_int_opt(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if spec.reuse_port {
        set_int_opt(&fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    let (storage, len) = sockaddr(&addr);
    syscall!(bind(
        fd.as_raw_fd(),
        (&storage as *const libc::sockaddr_storage).cast(),
        len
    ))?;
    syscall!(listen(fd.as_raw_fd(), spec.backlog as libc::c_int))?;
    let local = std::net::TcpListener::from(fd.try_clone()?).local_addr()?;
    Ok(Bound {
        fd,
        spec: spec.clone(),
        unix_path: None,
        local_addr: Some(local),
    })
}

fn set_int_opt(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    syscall!(setsockopt(
        fd.as_raw_fd(),
        level,
        name,
        (&value as *const libc::c_int).cast(),
        mem::size_of::<libc::c_int>() as libc::socklen_t,
    ))?;
    Ok(())
}

fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// The kernel's cap on listen backlogs (`net.core.somaxconn`), if readable.
pub fn somaxconn() -> Option<u32> {
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

    fn spec(address: &str) -> SocketSpec {
        SocketSpec {
            address: address.to_string(),
            protocol: Protocol::Http,
            backlog: 100,
            chmod: None,
            reuse_port: false,
            tcp_nodelay: false,
            so_keepalive: false,
        }
    }

    #[test]
    fn unix_or_inet() {
        assert!(is_unix("./uwsgi/uwsgi.sock"));
        assert!(is_unix("/tmp/x.sock"));
        assert!(is_unix("@abstract"));
        assert!(!is_unix("127.0.0.1:8000"));
        assert!(!is_unix(":8000"));
        assert!(!is_unix("[::1]:8000"));
    }

    #[test]
    fn binds_tcp_port_zero_and_accepts() {
        let b = bind(&spec("127.0.0.1:0")).unwrap();
        let addr = b.local_addr.unwrap();
        assert_ne!(addr.port(), 0);
        std::net::TcpStream::connect(addr).unwrap();
    }

    #[test]
    fn binds_unix_with_chmod_replacing_a_stale_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        drop(UnixListener::bind(&path).unwrap()); // a stale socket file
        let mut s = spec(path.to_str().unwrap());
        s.chmod = Some(0o666);
        let b = bind(&s).unwrap();
        assert_eq!(b.unix_path.as_deref(), Some(path.as_path()));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666);
        std::os::unix::net::UnixStream::connect(&path).unwrap();
    }

    #[test]
    fn a_busy_port_names_the_address() {
        let b = bind(&spec("127.0.0.1:0")).unwrap();
        let taken = b.local_addr.unwrap().to_string();
        let err = bind(&spec(&taken)).unwrap_err();
        assert_eq!(err.to_string(), format!("cannot bind {taken}"));
    }
}
