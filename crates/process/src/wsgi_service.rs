//! [`WsgiService`]: the WSGI bridge (`ruwsgi-wsgi`) served by the event loop
//! (`ruwsgi-event-loop`) in every worker — what `ruwsgi --module/--wsgi-file` runs.
//!
//! The master starts the interpreter ([`Service::initialize`]), imports the app unless
//! `lazy-apps` ([`Service::load`]), and wraps every fork in the interpreter's fork hooks.
//! Each worker installs the `uwsgi` module's process hooks (its worker id, the master's
//! pid, reload and stop as signals to the master, as uWSGI's `uwsgi.reload()` and
//! `uwsgi.stop()` do), runs the app's `uwsgi.post_fork_hook`, starts the thread that runs
//! the uWSGI signals sent to it, its pool of Python threads (and the py-autoreload thread,
//! `autoreload.rs`) and runs its loop. Each mule does the same, then runs its script,
//! function or message loop ([`Service::mule`]); each spooler, then hands its jobs to the
//! app's `uwsgi.spooler` ([`Service::spooler`]).

use ruwsgi_wsgi::{Apps, SignalDispatch, Stacks, WsgiHandler};

use crate::bind::Bound;
use crate::control::ProcessControl;
use crate::on_loop::{internal, serve_on_loop, LoopExtras};
use crate::service::{
    MuleContext, ServerContext, Service, ServiceError, ServiceErrorKind, Serving, SpoolerContext,
    ThreadStacks, WorkerContext,
};
use crate::spooler::{JobRunner, Outcome};

/// The options of a [`WsgiService`]: the bridge's and the loop's.
#[derive(Debug, Clone, Default)]
pub struct WsgiServiceOptions {
    /// What to load and how to call it.
    pub wsgi: ruwsgi_wsgi::Options,
    /// How each worker's loop serves connections (`worker_id` is set per worker).
    pub event_loop: ruwsgi_event_loop::Options,
}

/// Serves a WSGI app (see the module doc).
#[derive(Debug)]
pub struct WsgiService {
    opts: WsgiServiceOptions,
    apps: Option<Apps>,
}

impl WsgiService {
    /// A service that will load and serve what `opts.wsgi` names.
    pub fn new(opts: WsgiServiceOptions) -> WsgiService {
        WsgiService { opts, apps: None }
    }
}

impl Service for WsgiService {
    fn initialize(&mut self, server: &ServerContext) -> Result<(), ServiceError> {
        self.opts.wsgi.numproc = server.numproc;
        ruwsgi_wsgi::initialize(&self.opts.wsgi).map_err(internal)?;
        ruwsgi_wsgi::set_process_hooks(Box::new(ProcessControl::master(server)));
        Ok(())
    }

    fn load(&mut self) -> Result<(), ServiceError> {
        match ruwsgi_wsgi::load_apps(&self.opts.wsgi) {
            Ok(apps) => {
                self.apps = Some(apps);
                Ok(())
            }
            Err(e) if e.is_app_load() => {
                Err(ServiceError::new(ServiceErrorKind::AppLoad, e.to_string()))
            }
            Err(e) => Err(internal(e)),
        }
    }

    fn before_fork(&mut self) {
        ruwsgi_wsgi::before_fork();
    }

    fn after_fork_parent(&mut self) {
        ruwsgi_wsgi::after_fork_parent();
    }

    fn after_fork_child(&mut self) {
        ruwsgi_wsgi::after_fork_child();
    }

    fn app_threads(&self) -> Vec<String> {
        ruwsgi_wsgi::app_threads()
    }

    fn mule(&mut self, mule: &MuleContext) -> Result<(), ServiceError> {
        self.run_mule(mule)
    }

    fn spooler(&mut self, spooler: &SpoolerContext) -> Result<JobRunner, ServiceError> {
        ruwsgi_wsgi::set_process_hooks(Box::new(ProcessControl::spooler(
            spooler,
            self.opts.wsgi.numproc,
        )));
        let who = format!("spooler {}", spooler.id);
        ruwsgi_wsgi::start_signal_thread(spooler.scoreboard.clone(), spooler.slot, who)
            .map_err(internal)?;
        ruwsgi_wsgi::run_post_fork_hook();
        ruwsgi_wsgi::spooler_imports(&spooler.imports).map_err(internal)?;
        Ok(Box::new(|job| {
            Outcome::from_code(ruwsgi_wsgi::run_spool_job(&job.path, &job.vars, &job.body))
        }))
    }

    fn serve(
        &mut self,
        worker: &WorkerContext,
        sockets: &[Bound],
    ) -> Result<Box<dyn Serving>, ServiceError> {
        ruwsgi_wsgi::set_process_hooks(Box::new(ProcessControl::new(worker)));
        ruwsgi_wsgi::run_post_fork_hook();
        if worker.master_pid.is_some() {
            let who = format!("worker {}", worker.id);
            ruwsgi_wsgi::start_signal_thread(worker.scoreboard.clone(), worker.slot, who)
                .map_err(internal)?;
        }
        let mut wsgi = self.opts.wsgi.clone();
        wsgi.numproc = worker.numproc;
        let apps = self.apps.take().unwrap_or_default();
        let board = Some((worker.scoreboard.clone(), worker.slot));
        let handler = WsgiHandler::new(apps, &wsgi, board).map_err(internal)?;
        let stacks: Box<dyn ThreadStacks> = Box::new(PythonStacks(handler.stacks()));
        if let Some(prefix) = &wsgi.py_tracebacker {
            match ruwsgi_wsgi::start_tracebacker(prefix, worker.id) {
                Ok(path) => log::info!(
                    "python tracebacker for worker {} available on {}",
                    worker.id,
                    path.display()
                ),
                Err(e) => log::error!(
                    "worker {}: py-tracebacker {prefix}{}: {e}",
                    worker.id,
                    worker.id
                ),
            }
        }
        if let Some(every) = wsgi.py_autoreload.filter(|&n| n > 0) {
            crate::autoreload::start(std::time::Duration::from_secs(every), worker);
        }
        // The app's own Python signal handlers run on this, the main, thread.
        let watch = match SignalDispatch::install() {
            Ok((dispatch, fd)) => {
                let run: Box<dyn FnMut() + Send> = Box::new(move || dispatch.run());
                Some((fd, run))
            }
            Err(e) => {
                log::warn!(
                    "worker {}: the app's signal handlers will not run: {e}",
                    worker.id
                );
                None
            }
        };
        let extras = LoopExtras {
            stacks: Some(stacks),
            watch,
            exception_recycle: exception_recycle(&handler, worker),
        };
        serve_on_loop(
            worker,
            sockets,
            self.opts.event_loop.clone(),
            handler,
            extras,
        )
    }
}

impl WsgiService {
    /// The mule's side of [`Service::mule`].
    fn run_mule(&mut self, mule: &MuleContext) -> Result<(), ServiceError> {
        ruwsgi_wsgi::set_process_hooks(Box::new(ProcessControl::mule(
            mule,
            self.opts.wsgi.numproc,
        )));
        let who = format!("mule {}", mule.id);
        ruwsgi_wsgi::start_signal_thread(mule.scoreboard.clone(), mule.slot, who)
            .map_err(internal)?;
        ruwsgi_wsgi::run_post_fork_hook();
        ruwsgi_wsgi::run_mule(mule.patch.as_deref()).map_err(internal)
    }
}

/// What tells the loop that the app raised an exception `reload-on-exception-type`, `-value`
/// or `-repr` names (the bridge matches it); none when none of them is set, or without a
/// master, which the recycling needs (warned by worker 1, as `reload-on-exception` is).
fn exception_recycle(
    handler: &WsgiHandler,
    worker: &WorkerContext,
) -> Option<Box<dyn FnMut() -> bool + Send>> {
    let recycle = handler.exception_recycle()?;
    if worker.master_pid.is_none() {
        if worker.id == 1 {
            log::warn!(
                "reload-on-exception-type, -value and -repr need a master (--master): they \
                 are ignored"
            );
        }
        return None;
    }
    Some(Box::new(move || recycle.take()))
}

/// The Python stacks of the pool threads, for harakiri's log.
struct PythonStacks(Stacks);

/// How long harakiri waits for the GIL to read a stuck thread's stack.
const STACK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl ThreadStacks for PythonStacks {
    fn stack(&self, index: usize) -> Result<String, String> {
        self.0.of(index, STACK_WAIT)
    }
}
