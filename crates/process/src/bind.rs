//! Binding the configured sockets, in the master, before privileges are dropped: a thin
//! layer over [`ruwsgi_event_loop::bind_socket`], which knows every uWSGI address form.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use ruwsgi_event_loop::{bind_socket, BindOptions};

use crate::error::{Error, ErrorKind};
use crate::options::SocketSpec;

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

/// Binds and listens on `spec` (relative unix paths resolve against the current directory,
/// so call this after `chdir`).
pub(crate) fn bind(spec: &SocketSpec) -> Result<Bound, Error> {
    let options = BindOptions {
        backlog: spec.backlog,
        reuse_port: spec.reuse_port,
        chmod: spec.chmod,
    };
    let b = bind_socket(&spec.address, &options).map_err(|e| {
        Error::with(
            ErrorKind::Bind {
                address: spec.address.clone(),
            },
            e,
        )
    })?;
    Ok(Bound {
        fd: b.fd,
        spec: spec.clone(),
        unix_path: b.unix_path,
        local_addr: b.local_addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruwsgi_event_loop::Protocol;
    use std::os::unix::fs::PermissionsExt;

    fn spec(address: &str) -> SocketSpec {
        SocketSpec {
            address: address.to_string(),
            protocol: Protocol::Http,
            backlog: 100,
            chmod: None,
            reuse_port: false,
        }
    }

    #[test]
    fn a_unix_spec_keeps_its_path_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let mut s = spec(path.to_str().unwrap());
        s.chmod = Some(0o660);
        let b = bind(&s).unwrap();
        assert_eq!(b.unix_path.as_deref(), Some(path.as_path()));
        assert_eq!(b.spec, s);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
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
