//! [`KeptHandlers`]: the server's signal handlers survive an app that replaces them.
//!
//! An app may call `signal.signal(SIGTERM, ...)` at import; Python then installs its own C
//! handler with `sigaction`, and the server's (signal-hook's) is gone from that process: a
//! master that imported the app would no longer stop on SIGTERM, nor its forked workers.
//! So the handlers of the signals the server uses are read before the app loads and put
//! back after it, with a warning naming them. A Python handler for a signal the server does
//! not use stays, and runs in the workers (`ruwsgi_wsgi::SignalDispatch`).

use std::mem::MaybeUninit;

use crate::sys::signal_name;

/// The handlers of some signals, as they were when saved.
pub(crate) struct KeptHandlers(Vec<(libc::c_int, libc::sigaction)>);

impl KeptHandlers {
    /// Reads the current handlers of `signals`.
    pub(crate) fn save(signals: &[libc::c_int]) -> KeptHandlers {
        KeptHandlers(
            signals
                .iter()
                .filter_map(|&sig| current(sig).map(|action| (sig, action)))
                .collect(),
        )
    }

    /// Puts back each handler the app replaced since [`KeptHandlers::save`], and warns
    /// (`who`: the master or worker N).
    pub(crate) fn restore(&self, who: &str) {
        let mut replaced = Vec::new();
        for (sig, saved) in &self.0 {
            let Some(now) = current(*sig) else {
                continue;
            };
            if now.sa_sigaction == saved.sa_sigaction {
                continue;
            }
            // SAFETY: `saved` is a sigaction the kernel returned for this signal, whose
            // handler (signal-hook's, or the default) is still in this process.
            if unsafe { libc::sigaction(*sig, saved, std::ptr::null_mut()) } == 0 {
                replaced.push(signal_name(*sig));
            }
        }
        if !replaced.is_empty() {
            log::warn!(
                "{who}: the app set its own handler for {} while it loaded; the server \
                 handles {} itself and keeps its handler (an app handler for another signal \
                 runs in the workers)",
                replaced.join(", "),
                if replaced.len() == 1 {
                    "that signal"
                } else {
                    "those signals"
                }
            );
        }
    }
}

/// The current handler of `sig`.
fn current(sig: libc::c_int) -> Option<libc::sigaction> {
    let mut action = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only reads the current one into `action`.
    let ok = unsafe { libc::sigaction(sig, std::ptr::null(), action.as_mut_ptr()) } == 0;
    // SAFETY: sigaction filled it on success (and zeroed memory is a valid sigaction).
    ok.then(|| unsafe { action.assume_init() })
}
