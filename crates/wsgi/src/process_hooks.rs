//! [`ProcessHooks`]: what the `uwsgi` module asks of the process manager, installed with
//! [`set_process_hooks`] and read by the module's functions through [`with_hooks`].

use std::sync::{Arc, RwLock};

use pyo3::prelude::*;
use ruwsgi_shm::{Cache, Scoreboard};

/// What the `uwsgi` module asks of the process manager. Implemented by `ruwsgi-process`.
pub trait ProcessHooks: Send + Sync {
    /// This worker's id, 1-based (`uwsgi.worker_id()`); 0 outside a worker.
    fn worker_id(&self) -> usize;
    /// The master's pid (`uwsgi.masterpid()`), 0 without a master.
    fn masterpid(&self) -> u32;
    /// The number of workers (`uwsgi.numproc`).
    fn numproc(&self) -> usize;
    /// Asks for a graceful reload (`uwsgi.reload()`); whether the request was sent.
    fn reload(&self) -> bool;
    /// Asks the server to stop (`uwsgi.stop()`); whether the request was sent.
    fn stop(&self) -> bool;
    /// The server's shared board, for the signal framework (`register_signal`, `signal`,
    /// `add_timer`, ...); `None` without a master, where those calls fail as in uWSGI.
    fn board(&self) -> Option<Arc<Scoreboard>> {
        None
    }
    /// The server's shared board for the user locks (`uwsgi.lock()`); `None` only where
    /// no server runs (an embedder's tests).
    fn locks(&self) -> Option<Arc<Scoreboard>> {
        None
    }
    /// Queues a spooler job (`uwsgi.spool()`): its vars and body; the job file's path, or
    /// why it was refused (no spooler, an unknown `spooler`, a bad `priority` or `at`).
    fn spool(&self, vars: Vec<(Vec<u8>, Vec<u8>)>, body: &[u8]) -> Result<Vec<u8>, String> {
        let _ = (vars, body);
        Err("no spooler is configured (--spooler DIR)".into())
    }
    /// The server's caches (`cache`, `cache2`) in the configured order, the first being the
    /// one `uwsgi.cache_get(key)` and its kin use when no name is given; none by default.
    fn caches(&self) -> &[Arc<Cache>] {
        &[]
    }
    /// This mule's id, 1-based (`uwsgi.mule_id()`); 0 outside a mule.
    fn mule_id(&self) -> usize {
        0
    }
    /// The number of mules (0: `uwsgi.mule_msg()` fails with "no mule configured").
    fn mules(&self) -> usize {
        0
    }
    /// Queues `msg` for mule `mule` (0: any mule) without waiting; false when the queue is
    /// full or failed (logged).
    fn mule_send(&self, msg: &[u8], mule: usize) -> bool {
        let _ = (msg, mule);
        false
    }
    /// In a mule: waits for a message to it or to any mule, at most `timeout` (`None`: for
    /// ever), reading at most `buffer` bytes; `None` when the time passed or the queue
    /// failed (logged).
    fn mule_recv(&self, buffer: usize, timeout: Option<std::time::Duration>) -> Option<Vec<u8>> {
        let _ = (buffer, timeout);
        None
    }
}

static HOOKS: RwLock<Option<Box<dyn ProcessHooks>>> = RwLock::new(None);

/// Installs the process manager's side of the `uwsgi` module (called in each worker after
/// fork, and in the master). Replaces any earlier hooks.
pub fn set_process_hooks(hooks: Box<dyn ProcessHooks>) {
    let numproc = hooks.numproc();
    *HOOKS.write().unwrap_or_else(|e| e.into_inner()) = Some(hooks);
    if crate::process_facts::interpreter_up() {
        Python::attach(|py| {
            if let Ok(m) = py.import("uwsgi") {
                let _ = m.setattr("numproc", numproc);
            }
        });
    }
}

/// Calls `f` with the installed hooks; `default` when none are installed.
pub(crate) fn with_hooks<T>(default: T, f: impl FnOnce(&dyn ProcessHooks) -> T) -> T {
    match HOOKS.read() {
        Ok(g) => g.as_deref().map(f).unwrap_or(default),
        Err(_) => default,
    }
}
