//! Signal handling in the window before a worker's own signal thread exists.
//!
//! A new worker (forked by the master) holds exit-at-once handlers for TERM, INT and QUIT
//! until its loop's signal thread takes over: nothing is in flight yet, so exiting is right.
//! A foreground worker (no master) binds its sockets before its signal thread exists; a stop
//! signal in that window is remembered and replayed once the thread runs, so a supervisor
//! that stops the server as soon as the socket appears does not kill it with the default
//! action (which would skip vacuum and report a signal death).

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

use nix::sys::signal::Signal;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1};
use signal_hook::SigId;

/// Exit-at-once handlers a new worker holds until its loop's signal thread takes over.
static EARLY_HANDLERS: Mutex<Vec<SigId>> = Mutex::new(Vec::new());

/// A stop signal that arrived before a foreground worker's own handlers were in place.
static EARLY_SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Without a master, the single worker binds its sockets before its signal thread exists; a
/// TERM, HUP, INT or QUIT in that window (a supervisor that sees the socket and stops the
/// server at once) is remembered here and replayed by [`replay`], instead of killing the
/// process with the default action (which would skip vacuum and report a signal death). A
/// USR1 (stats) there is ignored rather than fatal.
pub(crate) fn remember() {
    let Ok(mut early) = EARLY_HANDLERS.lock() else {
        return;
    };
    for sig in [SIGTERM, SIGHUP, SIGINT, SIGQUIT] {
        // A HUP does not replace a stop signal already pending (a stop wins).
        let action = move || {
            let _ = EARLY_SIGNAL.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |pending| {
                (sig != SIGHUP || pending == 0 || pending == SIGHUP).then_some(sig)
            });
        };
        // SAFETY: the action only updates an atomic (a compare-and-swap loop), which is
        // async-signal-safe.
        if let Ok(sid) = unsafe { signal_hook::low_level::register(sig, action) } {
            early.push(sid);
        }
    }
    // SAFETY: the action does nothing, which is async-signal-safe.
    if let Ok(sid) = unsafe { signal_hook::low_level::register(SIGUSR1, || {}) } {
        early.push(sid);
    }
}

/// Whether [`remember`] caught a stop signal (TERM, INT, QUIT) not replayed yet.
pub(crate) fn stop_pending() -> bool {
    matches!(
        EARLY_SIGNAL.load(Ordering::SeqCst),
        SIGTERM | SIGINT | SIGQUIT
    )
}

/// Raises again the stop signal [`remember`] caught, now that the worker's
/// signal thread handles it.
pub(crate) fn replay() {
    let sig = EARLY_SIGNAL.swap(0, Ordering::SeqCst);
    if let Ok(sig) = Signal::try_from(sig) {
        let _ = nix::sys::signal::raise(sig);
    }
}

/// Removes the exit-at-once handlers of a new worker (its signal thread handles signals now).
pub(crate) fn clear() {
    if let Ok(mut ids) = EARLY_HANDLERS.lock() {
        for id in ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// In a new worker: TERM, INT and QUIT end the process at once until [`clear`] is called by
/// the worker's signal thread. Registered before the master's handlers are removed, so no
/// stop signal falls between the two.
pub(crate) fn exit_at_once() {
    let Ok(mut early) = EARLY_HANDLERS.lock() else {
        return;
    };
    for sig in [SIGTERM, SIGINT, SIGQUIT] {
        // SAFETY: the action only calls _exit, which is async-signal-safe.
        let action = || unsafe { libc::_exit(0) };
        // SAFETY: as above, the action is async-signal-safe.
        if let Ok(sid) = unsafe { signal_hook::low_level::register(sig, action) } {
            early.push(sid);
        }
    }
}
