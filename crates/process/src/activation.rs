//! systemd socket activation: a `.socket` unit binds the listening sockets and passes them
//! to the service as descriptors 3, 4, ... with `LISTEN_FDS` (how many) and `LISTEN_PID`
//! (for which process). As uWSGI does, ruwsgi uses a passed socket for the socket option
//! that names its address (nothing is bound then, and the unix socket's file, systemd's, is
//! left in place at exit), and serves a passed socket no option names with the uwsgi
//! protocol. The variables are removed, so nothing the server starts takes them for its own.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const FIRST: RawFd = 3;

/// How many sockets systemd passed to this process (0 when none, or when they were meant
/// for another process).
fn count() -> usize {
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        == Some(std::process::id());
    if !for_us {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether systemd passed sockets to this process (a configuration naming no socket is then
/// complete).
pub fn sockets_passed() -> bool {
    count() > 0
}

/// Takes the sockets systemd passed, close-on-exec, and removes the variables. Call it once,
/// before any thread exists (it changes the environment).
pub(crate) fn take() -> Vec<OwnedFd> {
    let n = count();
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(var);
    }
    (FIRST..FIRST + n as RawFd)
        .filter_map(|fd| {
            // SAFETY: systemd passed these descriptors to this process for it to own;
            // nothing else in the process has taken them (this runs once, at start).
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            match nix::fcntl::fcntl(
                &owned,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            ) {
                Ok(_) => Some(owned),
                Err(e) => {
                    log::warn!("systemd passed descriptor {fd}, which cannot be used: {e}");
                    std::mem::forget(owned);
                    None
                }
            }
        })
        .collect()
}
