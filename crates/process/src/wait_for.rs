//! `wait-for-fs`, `wait-for-file`, `wait-for-dir` and `wait-for-mountpoint` (bounded by
//! `wait-for-fs-timeout`), and `wait-for-socket` (bounded by `wait-for-socket-timeout`): at
//! start the server waits until each path exists, or each socket accepts a connection,
//! looking once a second as uWSGI does. Each wait is logged ("waiting for ... (max N
//! seconds)", then "found", "mounted" or "ready"). Past its timeout (default 60 seconds; 0
//! means 60 too, as in uWSGI) the server stops with status 1 and an error naming the
//! option, the path and the timeout option, as uWSGI exits.
//!
//! - `wait-for-fs`: anything at the path (a file, a directory, a socket...).
//! - `wait-for-file`: a regular file (or a link to one); `wait-for-dir`: a directory. uWSGI
//!   has code for both, but its option table files them under `wait-for-fs`, so there any
//!   type satisfies them.
//! - `wait-for-mountpoint`: a directory on another device than its parent directory.
//! - `wait-for-socket`: `host:port` (`:port` is this host), a unix socket path, or `@name`
//!   (an abstract unix socket); each try connects with a one-second timeout, as uWSGI's,
//!   and closes the connection at once.
//!
//! [`crate::run`] waits after `chdir` (relative paths resolve there) and before it binds the
//! sockets, so before the `as-root` hooks and the app. uWSGI waits for paths as it drops
//! privileges (which by default comes before it binds) and only when started as root;
//! ruwsgi waits whoever starts it. A stop signal (TERM, INT, QUIT) that comes meanwhile
//! ends the wait and the server, instead of waiting for the timeout.

use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};
use crate::options::Options;

/// How often a path or a socket is looked at, as uWSGI looks.
const EVERY: Duration = Duration::from_secs(1);

/// How often a stop signal is looked for while waiting.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// Waits for every path, then every socket the options name, in the options' order.
/// `Ok(false)` when `stop` said a stop signal came meanwhile; an error when one is still
/// missing past its timeout.
pub(crate) fn all(opts: &Options, stop: &dyn Fn() -> bool) -> Result<bool, Error> {
    let fs_timeout = default_60(opts.wait_for_fs_timeout);
    let paths = [
        ("wait-for-fs", &opts.wait_for_fs, Kind::Any),
        ("wait-for-file", &opts.wait_for_file, Kind::File),
        ("wait-for-dir", &opts.wait_for_dir, Kind::Dir),
        (
            "wait-for-mountpoint",
            &opts.wait_for_mountpoint,
            Kind::Mountpoint,
        ),
    ];
    for (option, list, kind) in paths {
        for path in list {
            let target = Target {
                option,
                what: path.display().to_string(),
                timeout: fs_timeout,
                timeout_option: "wait-for-fs-timeout",
            };
            if !target.wait(kind.done(), || kind.is_there(path), stop)? {
                return Ok(false);
            }
        }
    }
    for address in &opts.wait_for_socket {
        let target = Target {
            option: "wait-for-socket",
            what: address.clone(),
            timeout: default_60(opts.wait_for_socket_timeout),
            timeout_option: "wait-for-socket-timeout",
        };
        if !target.wait("ready", || accepts(address), stop)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// uWSGI's timeouts: 0 means the default, 60 seconds.
fn default_60(secs: u64) -> u64 {
    if secs == 0 {
        60
    } else {
        secs
    }
}

/// What a path must be.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Any,
    File,
    Dir,
    Mountpoint,
}

impl Kind {
    /// What the log says once the path is there.
    fn done(self) -> &'static str {
        match self {
            Kind::Mountpoint => "mounted",
            _ => "found",
        }
    }

    /// Whether `path` is there, as this kind asks.
    fn is_there(self, path: &Path) -> bool {
        let Ok(meta) = std::fs::metadata(path) else {
            return false;
        };
        match self {
            Kind::Any => true,
            Kind::File => meta.is_file(),
            Kind::Dir => meta.is_dir(),
            // Another file system is mounted here when the parent is on another device.
            Kind::Mountpoint => {
                meta.is_dir()
                    && std::fs::metadata(path.join("..")).is_ok_and(|up| up.dev() != meta.dev())
            }
        }
    }
}

/// One thing to wait for, as the log and the error name it.
struct Target {
    option: &'static str,
    what: String,
    timeout: u64,
    timeout_option: &'static str,
}

impl Target {
    /// Looks at `ready` at once, then once a second, until it holds (`Ok(true)`), a stop
    /// signal comes (`Ok(false)`), or `timeout` seconds have passed (the error).
    fn wait(
        &self,
        done: &str,
        mut ready: impl FnMut() -> bool,
        stop: &dyn Fn() -> bool,
    ) -> Result<bool, Error> {
        let Target {
            option,
            what,
            timeout,
            timeout_option,
        } = self;
        log::info!("{option}: waiting for {what} (max {timeout} seconds) ...");
        let start = Instant::now();
        // Look `n` is due `n` seconds after the start: looks 0 to `timeout`.
        for look in 0.. {
            if ready() {
                log::info!(
                    "{option}: {what} {done} after {} second(s)",
                    start.elapsed().as_secs()
                );
                return Ok(true);
            }
            if look >= *timeout {
                break;
            }
            let next = start + EVERY * u32::try_from(look + 1).unwrap_or(u32::MAX);
            while Instant::now() < next {
                if stop() {
                    log::info!("{option}: a stop signal came while waiting for {what}");
                    return Ok(false);
                }
                std::thread::sleep(STOP_CHECK.min(next.saturating_duration_since(Instant::now())));
            }
        }
        Err(Error::new(ErrorKind::Config(format!(
            "{option} {what}: unavailable after {timeout} seconds ({timeout_option})"
        ))))
    }
}

/// Whether the socket at `address` accepts a connection (closed at once).
fn accepts(address: &str) -> bool {
    if let Some(name) = address.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        return std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|a| UnixStream::connect_addr(&a))
            .is_ok();
    }
    if crate::bind::is_unix(address) {
        return UnixStream::connect(address).is_ok();
    }
    let full = match address.strip_prefix(':') {
        Some(port) => format!("127.0.0.1:{port}"),
        None => address.to_string(),
    };
    // A name that does not resolve yet (the resolver is not up) is not ready either.
    full.to_socket_addrs()
        .is_ok_and(|mut addrs| addrs.any(|a| TcpStream::connect_timeout(&a, EVERY).is_ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_ask_for_what_they_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert!(Kind::Any.is_there(&file) && Kind::File.is_there(&file));
        assert!(!Kind::Dir.is_there(&file));
        assert!(Kind::Dir.is_there(dir.path()) && !Kind::File.is_there(dir.path()));
        assert!(!Kind::Any.is_there(&dir.path().join("missing")));
        // A temp directory is on the same device as its parent; / is the top.
        assert!(!Kind::Mountpoint.is_there(dir.path()));
        assert!(!Kind::Mountpoint.is_there(&file));
    }

    #[test]
    fn sockets_accept_by_address_form() {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        assert!(accepts(&format!("127.0.0.1:{port}")));
        assert!(accepts(&format!(":{port}")));
        drop(tcp);
        assert!(!accepts(&format!("127.0.0.1:{port}")));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        assert!(!accepts(path.to_str().unwrap()));
        let _unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert!(accepts(path.to_str().unwrap()));
    }

    #[test]
    fn a_wait_ends_found_at_its_timeout_or_at_a_stop() {
        let target = |timeout| Target {
            option: "wait-for-file",
            what: "/nowhere".into(),
            timeout,
            timeout_option: "wait-for-fs-timeout",
        };
        assert!(target(1).wait("found", || true, &|| false).unwrap());
        let start = Instant::now();
        let err = target(1).wait("found", || false, &|| false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "wait-for-file /nowhere: unavailable after 1 seconds (wait-for-fs-timeout)"
        );
        assert!(
            start.elapsed() >= Duration::from_secs(1),
            "one more look a second later"
        );
        let mut looks = 0;
        let found_later = target(5).wait(
            "found",
            || {
                looks += 1;
                looks == 2
            },
            &|| false,
        );
        assert!(found_later.unwrap());
        assert!(
            !target(5).wait("found", || false, &|| true).unwrap(),
            "a stop ends it"
        );
    }
}
