//! [`ProcessControl`]: what the `uwsgi` Python module's process calls do in a worker
//! (`worker_id()`, `masterpid()`, `numproc`, `reload()`, `stop()`): the WSGI bridge's
//! [`ProcessHooks`], as this crate implements them.

use nix::sys::signal::Signal;
use ruwsgi_wsgi::ProcessHooks;

use crate::service::WorkerContext;
use crate::sys::kill;

/// The process calls of one worker (or of the master while it preloads the app).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcessControl {
    worker_id: usize,
    master_pid: Option<u32>,
    numproc: usize,
}

impl ProcessControl {
    /// The control of the worker `ctx` describes.
    pub(crate) fn new(ctx: &WorkerContext) -> ProcessControl {
        ProcessControl {
            worker_id: ctx.id,
            master_pid: ctx.master_pid,
            numproc: ctx.numproc,
        }
    }

    /// The control of a process that is not a worker (the master while it preloads the app):
    /// `worker_id()` is 0 there, as in uWSGI.
    pub(crate) fn master(numproc: usize) -> ProcessControl {
        ProcessControl {
            worker_id: 0,
            master_pid: Some(std::process::id()),
            numproc,
        }
    }
}

impl ProcessHooks for ProcessControl {
    /// `uwsgi.worker_id()`: 1-based, 0 outside a worker.
    fn worker_id(&self) -> usize {
        self.worker_id
    }

    /// `uwsgi.masterpid()`: the master's pid, 0 without a master.
    fn masterpid(&self) -> u32 {
        self.master_pid.unwrap_or(0)
    }

    /// `uwsgi.numproc`.
    fn numproc(&self) -> usize {
        self.numproc
    }

    /// `uwsgi.reload()`: asks the master to reload (SIGHUP). False without a master.
    fn reload(&self) -> bool {
        match self.master_pid {
            Some(pid) => {
                kill(pid, Signal::SIGHUP);
                true
            }
            None => false,
        }
    }

    /// `uwsgi.stop()`: asks the master to stop at once (SIGQUIT, as uWSGI); without a master
    /// the worker stops itself.
    fn stop(&self) -> bool {
        let pid = self.master_pid.unwrap_or_else(std::process::id);
        kill(pid, Signal::SIGQUIT);
        true
    }
}
