//! The in-place reload (SIGHUP, `--reload PIDFILE`, `uwsgi.reload()`): the master
//! re-executes its own binary as the same process — same pid, same arguments, the
//! configuration read again, the app imported again — and hands over across `exec` what
//! must outlive it ([`Handover`], in one environment variable):
//!
//! - the listening sockets, adopted by configured address instead of bound again, so no
//!   connection is refused and a unix socket file is never recreated;
//! - the scoreboard's `memfd` (the previous workers keep their slots in it);
//! - each cache's `memfd`, by name (the new image adopts those whose geometry it keeps, so
//!   the values survive the reload);
//! - the pids of the previous image's workers, which keep accepting until the new image's
//!   workers are ready, then finish their in-flight requests and exit;
//! - the directory the server started in (the arguments' relative paths resolve there) and
//!   whether stdout and stderr already go to the log (no second `daemonize`).
//!
//! Signals that could arrive while the new image has no handlers yet (HUP, TERM, INT, QUIT,
//! USR1, TSTP) are blocked across `exec` and stay pending until the new master has its
//! handlers ([`unblock`]).
//!
//! A new image that cannot take over — its configuration no longer loads, a socket no
//! longer binds, its app fails to import — does not exit, which would take the previous
//! workers down with it: it keeps them serving ([`keep_previous_workers`]) until a later
//! reload succeeds or a stop signal arrives.

use std::ffi::{CString, OsStr};
use std::fmt::Display;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};

use crate::sys::{describe_status, kill, reap_one};

/// The environment variable that carries the [`Handover`] to the new image.
const ENV: &str = "RUWSGI_REEXEC";

/// Blocked across `exec`: the signals the master handles, whose default action would end
/// the new image before its handlers exist.
const BLOCKED: [Signal; 6] = [
    Signal::SIGHUP,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGTSTP,
];

/// What a master hands to the image it re-executes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Handover {
    /// The directory the server was started in.
    pub(crate) start_dir: PathBuf,
    /// stdout and stderr already go to the log (`daemonize`, `logto`).
    pub(crate) detached: bool,
    /// The listening sockets: configured address, fd.
    pub(crate) sockets: Vec<(String, RawFd)>,
    /// The sockets systemd passed (`Bound::passed`): address, fd.
    pub(crate) passed: Vec<(String, RawFd)>,
    /// The scoreboard's `memfd`.
    pub(crate) board: Option<RawFd>,
    /// Each cache's name and `memfd`.
    pub(crate) caches: Vec<(String, RawFd)>,
    /// The previous image's workers.
    pub(crate) workers: Vec<u32>,
}

impl Handover {
    /// The handover the previous image left, if this process is a re-executed master;
    /// removes it from the environment, so nothing the server starts inherits it.
    pub(crate) fn take() -> Option<Handover> {
        let text = std::env::var_os(ENV)?;
        // Changing the environment is sound here: `run` calls this first, before any thread
        // exists.
        std::env::remove_var(ENV);
        match Handover::decode(&text.to_string_lossy()) {
            Some(h) => Some(h),
            None => {
                log::error!("ignoring a malformed {ENV} ({text:?})");
                None
            }
        }
    }

    /// One line per item: `dir HEX`, `detached`, `socket FD HEX`, `passed FD HEX`,
    /// `board FD`,
    /// `cache FD HEX`, `worker PID` (paths, addresses and names hex-encoded, so any byte
    /// survives).
    fn encode(&self) -> String {
        let mut out = format!("dir {}\n", hex(self.start_dir.as_os_str().as_bytes()));
        if self.detached {
            out.push_str("detached\n");
        }
        for (address, fd) in &self.sockets {
            out.push_str(&format!("socket {fd} {}\n", hex(address.as_bytes())));
        }
        for (address, fd) in &self.passed {
            out.push_str(&format!("passed {fd} {}\n", hex(address.as_bytes())));
        }
        if let Some(fd) = self.board {
            out.push_str(&format!("board {fd}\n"));
        }
        for (name, fd) in &self.caches {
            out.push_str(&format!("cache {fd} {}\n", hex(name.as_bytes())));
        }
        for pid in &self.workers {
            out.push_str(&format!("worker {pid}\n"));
        }
        out
    }

    fn decode(text: &str) -> Option<Handover> {
        let mut h = Handover::default();
        for line in text.lines() {
            let mut words = line.split(' ');
            match (words.next()?, words.next(), words.next()) {
                ("dir", Some(dir), None) => {
                    h.start_dir = PathBuf::from(OsStr::from_bytes(&unhex(dir)?));
                }
                ("detached", None, None) => h.detached = true,
                ("socket", Some(fd), Some(address)) => h
                    .sockets
                    .push((String::from_utf8(unhex(address)?).ok()?, fd.parse().ok()?)),
                ("passed", Some(fd), Some(address)) => h
                    .passed
                    .push((String::from_utf8(unhex(address)?).ok()?, fd.parse().ok()?)),
                ("board", Some(fd), None) => h.board = Some(fd.parse().ok()?),
                ("cache", Some(fd), Some(name)) => h
                    .caches
                    .push((String::from_utf8(unhex(name)?).ok()?, fd.parse().ok()?)),
                ("worker", Some(pid), None) => h.workers.push(pid.parse().ok()?),
                _ => return None,
            }
        }
        Some(h)
    }

    /// The descriptors handed over: sockets, board, caches.
    fn fds(&self) -> Vec<RawFd> {
        let sockets = self.sockets.iter().chain(&self.passed).map(|(_, fd)| *fd);
        let caches = self.caches.iter().map(|(_, fd)| *fd);
        sockets.chain(self.board).chain(caches).collect()
    }

    /// Closes the inherited descriptors (the new image has adopted copies of those it
    /// kept).
    pub(crate) fn close_fds(&self) {
        for fd in self.fds() {
            // SAFETY: these descriptors were handed over for this process to own, and
            // nothing else in it refers to them (adopted sockets, boards and caches are
            // dups).
            unsafe { libc::close(fd) };
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A duplicate of the inherited `fd`, close-on-exec, for the new image to own.
pub(crate) fn adopt(fd: RawFd) -> std::io::Result<std::os::fd::OwnedFd> {
    // SAFETY: `fd` was handed over open; the borrow ends before this returns.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    borrowed.try_clone_to_owned()
}

/// Re-executes `binary` with this process's arguments, handing `h` over. Returns only if
/// `exec` failed, with everything it changed put back.
pub(crate) fn exec(binary: &Path, h: &Handover) -> std::io::Error {
    let fds = h.fds();
    let set_cloexec = |on: bool| {
        for &fd in &fds {
            let flag = if on {
                FdFlag::FD_CLOEXEC
            } else {
                FdFlag::empty()
            };
            // SAFETY: the fds are the master's own open sockets, board and caches, borrowed
            // here.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            let _ = fcntl(fd, FcntlArg::F_SETFD(flag));
        }
    };
    let args: Vec<CString> = crate::proctitle::original_args()
        .iter()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let Ok(path) = CString::new(binary.as_os_str().as_bytes()) else {
        return std::io::Error::other("the binary's path holds a NUL byte");
    };
    let here = std::env::current_dir().ok();
    set_cloexec(false);
    // The master has one thread (master.rs), so changing the environment is safe.
    std::env::set_var(ENV, h.encode());
    let _ = std::env::set_current_dir(&h.start_dir);
    let mut blocked = SigSet::empty();
    for sig in BLOCKED {
        blocked.add(sig);
    }
    let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&blocked), None);
    {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
    }
    let err = match nix::unistd::execv(&path, &args) {
        Err(e) => std::io::Error::from(e),
        Ok(never) => match never {},
    };
    unblock();
    std::env::remove_var(ENV);
    if let Some(dir) = here {
        let _ = std::env::set_current_dir(dir);
    }
    set_cloexec(true);
    err
}

/// Unblocks the signals [`exec`] blocked (the new master calls it once its handlers are in
/// place; harmless when nothing is blocked).
pub(crate) fn unblock() {
    let mut set = SigSet::empty();
    for sig in BLOCKED {
        set.add(sig);
    }
    let _ = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
}

/// A reload that cannot take over: the previous image's workers keep serving, this process
/// (the same master pid) waits for the next reload, which tries again, or for a stop
/// signal, which stops them (TERM gracefully, INT or QUIT at once). A worker that exits
/// meanwhile is not replaced: there is no app to replace it with. Returns the exit status.
pub(crate) fn keep_previous_workers(h: Handover, why: &dyn Display) -> i32 {
    log::error!(
        "the reload failed: {why}; the {} previous workers keep serving the previous code \
         until a reload succeeds",
        h.workers.len()
    );
    let flags: Vec<(libc::c_int, Arc<AtomicBool>)> = [SIGHUP, SIGTERM, SIGINT, SIGQUIT]
        .into_iter()
        .map(|sig| {
            let flag = Arc::new(AtomicBool::new(false));
            if let Err(e) = signal_hook::flag::register(sig, flag.clone()) {
                log::error!("cannot handle signal {sig}: {e}");
            }
            (sig, flag)
        })
        .collect();
    unblock();
    let take = |sig| {
        flags
            .iter()
            .any(|(s, f)| *s == sig && f.swap(false, Ordering::AcqRel))
    };
    // systemd was told RELOADING=1: the previous workers serve, so the service is ready.
    let notify = crate::notify::Notifier::from_env();
    if let Some(n) = &notify {
        n.send("READY=1\nSTATUS=the reload failed; the previous workers serve");
    }
    let mut workers = h.workers.clone();
    let mut deadline: Option<Instant> = None;
    loop {
        reap_previous(&mut workers);
        if take(SIGHUP) {
            let binary = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
            let next = Handover {
                workers: workers.clone(),
                ..h.clone()
            };
            log::info!("SIGHUP received: trying the reload again");
            if let Some(n) = &notify {
                n.reloading();
            }
            let e = exec(&binary, &next);
            log::error!("cannot re-execute {}: {e}", binary.display());
        }
        let stop = if take(SIGINT) || take(SIGQUIT) {
            Some(Signal::SIGINT)
        } else if take(SIGTERM) {
            Some(Signal::SIGTERM)
        } else {
            None
        };
        if let Some(sig) = stop {
            if let (Some(n), None) = (&notify, deadline) {
                n.send("STOPPING=1\nSTATUS=stopping");
            }
            for &pid in &workers {
                kill(pid, sig);
            }
            deadline.get_or_insert(Instant::now() + Duration::from_secs(60));
        }
        if deadline.is_some() && workers.is_empty() {
            h.close_fds();
            return 0;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            for &pid in &workers {
                kill(pid, Signal::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reaps whatever children exited; logs those of `workers` (the previous image's, which
/// nothing replaces while the reload has failed) and forgets them.
fn reap_previous(workers: &mut Vec<u32>) {
    while let Some((pid, status)) = reap_one() {
        if let Some(i) = workers.iter().position(|&w| w == pid) {
            workers.swap_remove(i);
            log::warn!(
                "previous worker (pid {pid}) exited ({}) and is not replaced (the reload failed)",
                describe_status(status)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handover_survives_its_encoding() {
        let h = Handover {
            start_dir: PathBuf::from("/srv/my app/ünï"),
            detached: true,
            sockets: vec![
                ("127.0.0.1:8000".into(), 3),
                ("./uwsgi/uwsgi.sock".into(), 4),
                ("@abstract name".into(), 7),
            ],
            passed: vec![(":9000".into(), 10)],
            board: Some(5),
            caches: vec![("default".into(), 8), ("pages, ünï".into(), 9)],
            workers: vec![101, 102],
        };
        assert_eq!(Handover::decode(&h.encode()), Some(h));
        assert_eq!(
            Handover::decode(""),
            Some(Handover::default()),
            "nothing handed over"
        );
        for bad in [
            "dir 4",
            "socket x 41",
            "worker",
            "what 1",
            "cache 8",
            "cache x 41",
        ] {
            assert_eq!(Handover::decode(bad), None, "{bad:?}");
        }
    }
}
