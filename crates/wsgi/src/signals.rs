//! [`SignalDispatch`]: the app's own Python signal handlers (`signal.signal(...)`) run in a
//! worker as they do under uWSGI.
//!
//! Python's C-level handler only records a signal; the Python function runs later, on the
//! interpreter's main thread, the next time that thread runs Python. A worker's main thread
//! is its event loop, which runs no Python, so without help a handler the app registered
//! would never run (a graceful harakiri's signal, a handler that flushes an APM's buffers).
//! So the worker gives Python a wakeup descriptor (`signal.set_wakeup_fd`, which Python
//! writes a byte to whenever a signal it handles arrives), the loop watches it, and on a
//! byte the loop thread — the main thread — takes the GIL and runs the pending handlers
//! (`PyErr_CheckSignals`). Signals Python does not handle (the worker's own TERM, HUP, INT,
//! QUIT, USR1, USR2) never reach the descriptor.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::OFlag;
use pyo3::prelude::*;

use crate::error::Error;
use crate::traceback::log_exception;

/// Runs the app's Python signal handlers on the main thread (see the module doc).
#[derive(Debug)]
pub struct SignalDispatch {
    /// Python writes to this end (kept open while the dispatch lives).
    _write: OwnedFd,
}

impl SignalDispatch {
    /// Makes a pipe and hands its write end to `signal.set_wakeup_fd`. Call it on the
    /// interpreter's main thread (a worker's loop thread) after fork; watch the returned
    /// read end and call [`SignalDispatch::run`] on that thread when it is readable (after
    /// draining it).
    pub fn install() -> Result<(SignalDispatch, OwnedFd), Error> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)
            .map_err(|e| Error::python(format!("cannot make the signal pipe: {e}")))?;
        Python::attach(|py| -> PyResult<()> {
            let kwargs = pyo3::types::PyDict::new(py);
            kwargs.set_item("warn_on_full_buffer", false)?;
            py.import("signal")?
                .getattr("set_wakeup_fd")?
                .call((write.as_raw_fd(),), Some(&kwargs))?;
            Ok(())
        })
        .map_err(|e| Error::python(format!("cannot set the signal wakeup fd: {e}")))?;
        Ok((SignalDispatch { _write: write }, read))
    }

    /// Runs the Python handlers of the signals that arrived (on the main thread). A handler
    /// that raises has its traceback logged; the worker goes on.
    pub fn run(&self) {
        Python::attach(|py| {
            if let Err(e) = py.check_signals() {
                log_exception(py, &e, "a Python signal handler raised");
            }
        });
    }
}
