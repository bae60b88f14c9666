//! [`ProcessControl`]: what the `uwsgi` Python module's process calls do in a worker, a
//! mule or the master (`worker_id()`, `mule_id()`, `masterpid()`, `numproc`, `reload()`,
//! `stop()`, the board's signal framework and locks, the mules' queues, the spool, the
//! caches): the WSGI bridge's
//! [`ProcessHooks`], as this crate implements them.

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use ruwsgi_shm::{Cache, Scoreboard};
use ruwsgi_wsgi::ProcessHooks;

use crate::mules::MuleQueues;
use crate::service::{MuleContext, ServerContext, SpoolerContext, WorkerContext};
use crate::spooler::Spool;
use crate::sys::kill;

/// The process calls of one worker, mule, or of the master while it preloads the app.
#[derive(Debug, Clone)]
pub(crate) struct ProcessControl {
    worker_id: usize,
    mule_id: usize,
    master_pid: Option<u32>,
    numproc: usize,
    /// The server's board (its locks; and its signal framework when a master runs).
    board: Arc<Scoreboard>,
    /// A master runs: the signal framework works (it needs one, as in uWSGI).
    signals: bool,
    mules: Option<Arc<MuleQueues>>,
    spool: Option<Arc<Spool>>,
    /// The caches, with or without a master (as uWSGI).
    caches: Vec<Arc<Cache>>,
}

impl ProcessControl {
    /// The control of the worker `ctx` describes.
    pub(crate) fn new(ctx: &WorkerContext) -> ProcessControl {
        ProcessControl {
            worker_id: ctx.id,
            mule_id: 0,
            master_pid: ctx.master_pid,
            numproc: ctx.numproc,
            board: ctx.scoreboard.clone(),
            signals: ctx.master_pid.is_some(),
            mules: ctx.mules.clone(),
            spool: ctx.spool.clone(),
            caches: ctx.caches.clone(),
        }
    }

    /// The control of mule `ctx.id`: `worker_id()` is 0 there, as in uWSGI.
    pub(crate) fn mule(ctx: &MuleContext, numproc: usize) -> ProcessControl {
        ProcessControl {
            worker_id: 0,
            mule_id: ctx.id,
            master_pid: Some(ctx.master_pid),
            numproc,
            board: ctx.scoreboard.clone(),
            signals: true,
            mules: Some(ctx.queues.clone()),
            spool: ctx.spool.clone(),
            caches: ctx.caches.clone(),
        }
    }

    /// The control of spooler `ctx.id`: `worker_id()` and `mule_id()` are 0 there.
    pub(crate) fn spooler(ctx: &SpoolerContext, numproc: usize) -> ProcessControl {
        ProcessControl {
            worker_id: 0,
            mule_id: 0,
            master_pid: Some(ctx.master_pid),
            numproc,
            board: ctx.scoreboard.clone(),
            signals: true,
            mules: ctx.mules.clone(),
            spool: ctx.spool.clone(),
            caches: ctx.caches.clone(),
        }
    }

    /// The control of the master while it preloads the app: `worker_id()` is 0 there, as in
    /// uWSGI; signals and timers registered at import go to the board.
    pub(crate) fn master(server: &ServerContext) -> ProcessControl {
        ProcessControl {
            worker_id: 0,
            mule_id: 0,
            master_pid: Some(std::process::id()),
            numproc: server.numproc,
            board: server.scoreboard.clone(),
            signals: server.master,
            mules: server.mules.clone(),
            spool: server.spool.clone(),
            caches: server.caches.clone(),
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

    fn board(&self) -> Option<Arc<Scoreboard>> {
        self.signals.then(|| self.board.clone())
    }

    fn locks(&self) -> Option<Arc<Scoreboard>> {
        Some(self.board.clone())
    }

    fn caches(&self) -> &[Arc<Cache>] {
        &self.caches
    }

    fn mule_id(&self) -> usize {
        self.mule_id
    }

    fn mules(&self) -> usize {
        self.mules.as_ref().map_or(0, |q| q.count())
    }

    fn mule_send(&self, msg: &[u8], mule: usize) -> bool {
        self.mules.as_ref().is_some_and(|q| q.send(msg, mule))
    }

    fn spool(&self, vars: Vec<(Vec<u8>, Vec<u8>)>, body: &[u8]) -> Result<Vec<u8>, String> {
        let spool = self
            .spool
            .as_ref()
            .ok_or("no spooler is configured (--spooler DIR)")?;
        let path = spool.enqueue(vars, body)?;
        Ok(path.into_os_string().into_encoded_bytes())
    }

    fn mule_recv(&self, buffer: usize, timeout: Option<Duration>) -> Option<Vec<u8>> {
        self.mules
            .as_ref()
            .and_then(|q| q.recv(self.mule_id, buffer, timeout))
    }
}
