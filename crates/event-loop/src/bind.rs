//! Binding listening sockets in every form uWSGI accepts — the one place ruwsgi binds.
//!
//! The master binds with [`bind_socket`] before it forks (and before it drops privileges);
//! each worker wraps the inherited fd with [`crate::Listener::from_fd`]. Address forms, as
//! uWSGI's: `host:port`, `:port` (every interface), `[v6]:port`, a unix path (anything
//! without a `:`, or starting with `/` or `./`), `@name` (an abstract unix socket).

use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::{fs, io, mem};

use crate::sys;

/// How to bind one socket: what the master's socket options say beyond the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindOptions {
    /// The `listen` backlog (uWSGI's `listen`, default 100).
    pub backlog: u32,
    /// `reuse-port`: SO_REUSEPORT on inet sockets (ignored for unix sockets).
    pub reuse_port: bool,
    /// `chmod-socket`: the mode of a unix socket's file (ignored for the other forms).
    pub chmod: Option<u32>,
}

impl Default for BindOptions {
    fn default() -> BindOptions {
        BindOptions {
            backlog: 100,
            reuse_port: false,
            chmod: None,
        }
    }
}

/// A bound, listening socket (blocking, close-on-exec) and where it is.
#[derive(Debug)]
pub struct BoundSocket {
    /// The listening socket.
    pub fd: OwnedFd,
    /// For a unix socket with a path: the absolute path (for vacuum and chown).
    pub unix_path: Option<PathBuf>,
    /// For an inet socket: the address it is bound to (the real port for port 0).
    pub local_addr: Option<SocketAddr>,
}

/// Whether `address` names a unix socket (a path, or `@abstract`).
pub fn is_unix(address: &str) -> bool {
    !address.contains(':') || address.starts_with('/') || address.starts_with("./")
}

/// Binds and listens on `address` (relative unix paths resolve against the current
/// directory, so the master calls this after `chdir`).
///
/// A unix socket file left by an unclean stop is replaced, as uWSGI does; anything at the
/// path that is not a socket is left alone and bind reports it.
pub fn bind_socket(address: &str, options: &BindOptions) -> io::Result<BoundSocket> {
    let bound = if is_unix(address) {
        bind_unix(address, options)?
    } else {
        bind_inet(address, options)?
    };
    sys::listen(bound.fd.as_raw_fd(), options.backlog)?;
    Ok(bound)
}

fn bind_unix(address: &str, options: &BindOptions) -> io::Result<BoundSocket> {
    let (listener, unix_path) = if let Some(name) = address.strip_prefix('@') {
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        (UnixListener::bind_addr(&addr)?, None)
    } else {
        let path = std::path::absolute(address)?;
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = fs::remove_file(&path);
        }
        let l = UnixListener::bind(&path)?;
        if let Some(mode) = options.chmod {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
        }
        (l, Some(path))
    };
    Ok(BoundSocket {
        fd: listener.into(),
        unix_path,
        local_addr: None,
    })
}

/// Binds by hand rather than with `std::net::TcpListener::bind`: SO_REUSEPORT must be set
/// between socket(2) and bind(2).
fn bind_inet(address: &str, options: &BindOptions) -> io::Result<BoundSocket> {
    let addr = resolve(address)?;
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let raw = sys::syscall!(socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0))?;
    // SAFETY: socket(2) returned a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    sys::set_int_opt(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if options.reuse_port {
        sys::set_int_opt(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    let (storage, len) = sockaddr(&addr);
    // The pointer and length describe `storage`, which outlives the call.
    sys::syscall!(bind(
        raw,
        (&storage as *const libc::sockaddr_storage).cast(),
        len
    ))?;
    let local = std::net::TcpListener::from(fd.try_clone()?).local_addr()?;
    Ok(BoundSocket {
        fd,
        unix_path: None,
        local_addr: Some(local),
    })
}

/// `:port` means every IPv4 interface, as in uWSGI.
pub(crate) fn resolve(address: &str) -> io::Result<SocketAddr> {
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

    fn listening(fd: &OwnedFd) -> bool {
        sys::is_listening(fd.as_raw_fd()).unwrap()
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
        let b = bind_socket("127.0.0.1:0", &BindOptions::default()).unwrap();
        assert!(listening(&b.fd));
        let addr = b.local_addr.unwrap();
        assert_ne!(addr.port(), 0);
        assert!(b.unix_path.is_none());
        std::net::TcpStream::connect(addr).unwrap();
    }

    #[test]
    fn binds_ipv6_loopback_when_the_host_has_it() {
        if std::net::TcpListener::bind("[::1]:0").is_err() {
            return; // no IPv6 on this host: nothing to compare against
        }
        let b = bind_socket("[::1]:0", &BindOptions::default()).unwrap();
        let addr = b.local_addr.unwrap();
        assert!(addr.is_ipv6());
        std::net::TcpStream::connect(addr).unwrap();
    }

    #[test]
    fn reuse_port_lets_two_sockets_share_a_port() {
        let opts = BindOptions {
            reuse_port: true,
            ..BindOptions::default()
        };
        let a = bind_socket("127.0.0.1:0", &opts).unwrap();
        let taken = a.local_addr.unwrap().to_string();
        bind_socket(&taken, &opts).unwrap();
        let err = bind_socket(&taken, &BindOptions::default()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn binds_unix_with_chmod_replacing_a_stale_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        drop(UnixListener::bind(&path).unwrap()); // a stale socket file
        let opts = BindOptions {
            chmod: Some(0o666),
            ..BindOptions::default()
        };
        let b = bind_socket(path.to_str().unwrap(), &opts).unwrap();
        assert!(listening(&b.fd));
        assert_eq!(b.unix_path.as_deref(), Some(path.as_path()));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666);
        std::os::unix::net::UnixStream::connect(&path).unwrap();
    }

    #[test]
    fn a_regular_file_at_the_path_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-socket");
        fs::write(&path, "data").unwrap();
        assert!(bind_socket(path.to_str().unwrap(), &BindOptions::default()).is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "data");
    }

    #[test]
    fn binds_an_abstract_name_without_a_path() {
        let name = format!("@ruwsgi-bind-test-{}", std::process::id());
        let b = bind_socket(&name, &BindOptions::default()).unwrap();
        assert!(b.unix_path.is_none() && b.local_addr.is_none());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name.as_bytes()[1..]);
        std::os::unix::net::UnixStream::connect_addr(&addr.unwrap()).unwrap();
    }
}
