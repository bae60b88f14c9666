//! systemd's readiness protocol (`sd_notify(3)`), as a `Type=notify` service expects it:
//! when `NOTIFY_SOCKET` names a unix datagram socket (a path, or `@name` for the abstract
//! namespace), the master sends it its state. Only the master sends; the variable stays in
//! its environment, so an image re-executed by a reload finds it again.
//!
//! - `STATUS=` text at start (uWSGI sends "initializing uWSGI");
//! - `READY=1` once every worker accepts — after the workers are up, not merely forked, so
//!   a unit ordered after this one starts against a server that answers (uWSGI sends it
//!   once it has forked them);
//! - beyond uWSGI, `RELOADING=1` with `MONOTONIC_USEC=` before a reload re-executes the
//!   master (what `Type=notify-reload` wants), and `READY=1` again once the reloaded
//!   image's workers accept;
//! - `STOPPING=1` when a stop begins.

use std::ffi::OsStr;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Where the master's state goes, when systemd listens.
#[derive(Debug)]
pub(crate) struct Notifier {
    socket: UnixDatagram,
    to: SocketAddr,
}

impl Notifier {
    /// The notifier `NOTIFY_SOCKET` asks for; `None` without it (or, logged, when its
    /// address cannot be used).
    pub(crate) fn from_env() -> Option<Notifier> {
        let name = std::env::var_os("NOTIFY_SOCKET")?;
        let to = match name.as_bytes().strip_prefix(b"@") {
            Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name),
            None => SocketAddr::from_pathname(OsStr::new(&name)),
        };
        let made = to.and_then(|to| Ok((UnixDatagram::unbound()?, to)));
        match made {
            Ok((socket, to)) => Some(Notifier { socket, to }),
            Err(e) => {
                log::warn!("NOTIFY_SOCKET {name:?} cannot be used: {e}; systemd is not told");
                None
            }
        }
    }

    /// Sends `state` (newline-separated `KEY=value` lines); a failure is logged once per
    /// message, never fatal.
    pub(crate) fn send(&self, state: &str) {
        if let Err(e) = self.socket.send_to_addr(state.as_bytes(), &self.to) {
            log::warn!("cannot notify systemd ({state:?}): {e}");
        }
    }

    /// `RELOADING=1` with the monotonic clock's time, as systemd wants it before a reload.
    pub(crate) fn reloading(&self) {
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading",
            monotonic_micros()
        ));
    }
}

/// `CLOCK_MONOTONIC` in microseconds (systemd compares it with its own reading).
fn monotonic_micros() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write into; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_reach_a_path_and_an_abstract_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let abstract_name = format!("ruwsgi-notify-test-{}", std::process::id());
        let abstract_listener =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&abstract_name).unwrap())
                .unwrap();
        for (listener, to) in [
            (listener, SocketAddr::from_pathname(&path).unwrap()),
            (
                abstract_listener,
                SocketAddr::from_abstract_name(&abstract_name).unwrap(),
            ),
        ] {
            let notifier = Notifier {
                socket: UnixDatagram::unbound().unwrap(),
                to,
            };
            notifier.send("READY=1");
            notifier.reloading();
            let mut buf = [0u8; 256];
            let n = listener.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"READY=1");
            let n = listener.recv(&mut buf).unwrap();
            let text = std::str::from_utf8(&buf[..n]).unwrap();
            let usec: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
                .unwrap()
                .parse()
                .unwrap();
            assert!(text.starts_with("RELOADING=1\n") && usec > 0, "{text}");
        }
    }
}
