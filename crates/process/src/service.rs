//! [`Service`]: what the process manager runs in its processes. The cli implements it with
//! the WSGI bridge on the event loop; tests and embedders can run anything.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ruwsgi_shm::{Cache, ProcessIndex, Scoreboard};

use crate::bind::Bound;
use crate::mules::MuleQueues;
use crate::options::Recycling;
use crate::spooler::{JobRunner, Spool};

/// The app side of the server, driven by the master (or the single foreground worker).
///
/// Call order in one server: [`Service::initialize`] once; then [`Service::load`] in the
/// master (preload, the default) or in each worker after fork (`lazy-apps`); around each fork
/// [`Service::before_fork`], then [`Service::after_fork_parent`] or
/// [`Service::after_fork_child`]; in each worker [`Service::serve`], in each mule
/// [`Service::mule`].
pub trait Service {
    /// Sets up the runtime (the Python interpreter) once, in the main process, after
    /// privileges are dropped and before any fork.
    fn initialize(&mut self, server: &ServerContext) -> Result<(), ServiceError> {
        let _ = server;
        Ok(())
    }

    /// Loads the app. A [`ServiceErrorKind::AppLoad`] error with `need-app` stops the server
    /// with status 22.
    fn load(&mut self) -> Result<(), ServiceError>;

    /// Called in the master right before `fork` (Python: `PyOS_BeforeFork`).
    fn before_fork(&mut self) {}

    /// Called in the master right after `fork`.
    fn after_fork_parent(&mut self) {}

    /// Called in the new worker right after `fork`.
    fn after_fork_child(&mut self) {}

    /// Names of threads the loaded app started (warned about under preload: they do not
    /// exist in the forked workers).
    fn app_threads(&self) -> Vec<String> {
        Vec::new()
    }

    /// Runs mule `mule.id` (in the forked mule): its script or function, or the generic loop
    /// that handles messages and signals. Returning ends the mule (the master respawns it).
    /// A service without mules refuses.
    fn mule(&mut self, mule: &MuleContext) -> Result<(), ServiceError> {
        Err(ServiceError::new(
            ServiceErrorKind::Internal,
            format!("mule {}: this service runs no mules", mule.id),
        ))
    }

    /// Readies spooler `spooler.id` (in the forked spooler process): the runtime, the
    /// `spooler-import` modules; returns what runs each job (the app's `uwsgi.spooler`).
    /// A service without a spooler refuses.
    fn spooler(&mut self, spooler: &SpoolerContext) -> Result<JobRunner, ServiceError> {
        Err(ServiceError::new(
            ServiceErrorKind::Internal,
            format!("spooler {}: this service runs no spooler", spooler.id),
        ))
    }

    /// Builds this worker's serving loop over the bound sockets (the loop may dup them).
    fn serve(
        &mut self,
        worker: &WorkerContext,
        sockets: &[Bound],
    ) -> Result<Box<dyn Serving>, ServiceError>;
}

/// A worker's serving loop, built but not yet running.
pub trait Serving {
    /// A handle that stops the loop from another thread (the worker's signal thread).
    fn stopper(&self) -> Box<dyn Stop>;

    /// Takes the reader of the loop's thread stacks, for harakiri's log (the WSGI service:
    /// the Python stack of each pool thread); `None` when there is nothing to read (or it
    /// was taken).
    fn take_stacks(&mut self) -> Option<Box<dyn ThreadStacks>> {
        None
    }

    /// Runs until stopped.
    fn run(self: Box<Self>) -> Result<(), ServiceError>;
}

/// Stops a running loop from another thread.
pub trait Stop: Send {
    /// The server stops: take every connection the kernel queued (nobody else will), stop
    /// accepting, finish in-flight requests within `mercy`, then return from `run`.
    fn graceful(&self, mercy: Duration);

    /// Stop accepting without taking the connections the kernel queued (the siblings and
    /// the replacement will), end each connection after its response, finish in-flight
    /// requests within `mercy`, then return from `run`: how a worker recycles or is
    /// replaced by a reload.
    fn retire(&self, mercy: Duration);

    /// Answer the request known by `ticket` (its thread slot's
    /// [`RunningRequest::ticket`](ruwsgi_shm::RunningRequest::ticket)) without waiting for
    /// the thread running it: harakiri.
    fn cut(&self, ticket: u64);

    /// Return from `run` now, closing every connection.
    fn immediate(&self);

    /// Whether the loop has closed its listeners for good (it has handled `graceful` or
    /// `retire`, or `run` returned): it accepts no connection any more.
    fn closed(&self) -> bool;
}

/// Reads the stack of a worker's thread (see [`Serving::take_stacks`]).
pub trait ThreadStacks: Send {
    /// The stack of the thread whose scoreboard thread slot is `index`, most recent call
    /// last; `Err` says why there is none.
    fn stack(&self, index: usize) -> Result<String, String>;
}

/// What the server is, as [`Service::initialize`] sees it (in the master, before any fork).
#[derive(Debug, Clone)]
pub struct ServerContext {
    /// The number of workers (`uwsgi.numproc`).
    pub numproc: usize,
    /// The shared scoreboard.
    pub scoreboard: Arc<Scoreboard>,
    /// A master runs (the signal framework needs one, as in uWSGI).
    pub master: bool,
    /// The mules' message queues, when there are mules.
    pub mules: Option<Arc<MuleQueues>>,
    /// Where jobs are queued, when there are spoolers (`uwsgi.spool()`).
    pub spool: Option<Arc<Spool>>,
    /// The caches (`cache`, `cache2`), in the configured order: the first is the default.
    pub caches: Vec<Arc<Cache>>,
}

/// Who a mule is.
#[derive(Debug, Clone)]
pub struct MuleContext {
    /// The mule id, 1-based (`uwsgi.mule_id()`).
    pub id: usize,
    /// What it runs: `FILE.py`, `module:function`, or `None` for the generic loop.
    pub patch: Option<String>,
    /// The master's pid.
    pub master_pid: u32,
    /// The shared scoreboard.
    pub scoreboard: Arc<Scoreboard>,
    /// This mule's process slot (its signal box).
    pub slot: ProcessIndex,
    /// The mules' message queues.
    pub queues: Arc<MuleQueues>,
    /// Where jobs are queued, when there are spoolers.
    pub spool: Option<Arc<Spool>>,
    /// The caches, shared with the workers.
    pub caches: Vec<Arc<Cache>>,
}

/// Who a spooler process is.
#[derive(Debug, Clone)]
pub struct SpoolerContext {
    /// The spooler id, 1-based, over every spooler process of the server.
    pub id: usize,
    /// The spool directory it works through.
    pub dir: std::path::PathBuf,
    /// The master's pid.
    pub master_pid: u32,
    /// The shared scoreboard.
    pub scoreboard: Arc<Scoreboard>,
    /// Its process slot (its signal box: uWSGI signals, and the wake-up of a queued job).
    pub slot: ProcessIndex,
    /// Modules to import first (`spooler-import`).
    pub imports: Vec<String>,
    /// The mules' message queues, when there are mules.
    pub mules: Option<Arc<MuleQueues>>,
    /// Where jobs are queued (a job may queue another).
    pub spool: Option<Arc<Spool>>,
    /// The caches, shared with the workers.
    pub caches: Vec<Arc<Cache>>,
}

/// Who a worker is.
#[derive(Debug, Clone)]
pub struct WorkerContext {
    /// The worker id, 1-based (`uwsgi.worker_id()`).
    pub id: usize,
    /// The master's pid (`uwsgi.masterpid()`), `None` without a master.
    pub master_pid: Option<u32>,
    /// The number of workers (`uwsgi.numproc`).
    pub numproc: usize,
    /// The shared scoreboard; this worker writes `scoreboard.process(slot)` (per exchange)
    /// and, through its handler, `scoreboard.threads_of(slot)` (the request each thread runs).
    pub scoreboard: Arc<Scoreboard>,
    /// This worker's process slot (reserved by the master before the fork, so the child
    /// knows it at once).
    pub slot: ProcessIndex,
    /// When this worker recycles itself.
    pub recycling: Recycling,
    /// `reaper`: after each request the worker reaps its exited children (processes the app
    /// started and did not wait for), as uWSGI's `waitpid(-1, WNOHANG)` loop.
    pub reaper: bool,
    /// `ksm N`: every N requests the worker marks its memory mappings mergeable (0: off).
    pub ksm: u64,
    /// The mules' message queues, when there are mules (`uwsgi.mule_msg()`).
    pub mules: Option<Arc<MuleQueues>>,
    /// Where jobs are queued, when there are spoolers (`uwsgi.spool()`).
    pub spool: Option<Arc<Spool>>,
    /// The caches (`uwsgi.cache_get()` and its kin), shared by every worker and mule.
    pub caches: Vec<Arc<Cache>>,
}

/// Why a [`Service`] call failed.
#[derive(Debug)]
pub struct ServiceError {
    kind: ServiceErrorKind,
    message: String,
}

/// Who failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceErrorKind {
    /// The app could not be loaded (exit status 22 under `need-app`).
    AppLoad,
    /// Anything else (the loop, the runtime).
    Internal,
}

impl ServiceError {
    /// A new error of `kind`, described by `message`.
    pub fn new(kind: ServiceErrorKind, message: impl Into<String>) -> ServiceError {
        ServiceError {
            kind,
            message: message.into(),
        }
    }

    /// Who failed.
    pub fn kind(&self) -> ServiceErrorKind {
        self.kind
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ServiceError {}
