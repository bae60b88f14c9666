//! ruwsgi-wsgi: the embedded-Python WSGI bridge (PEP 3333 on pyo3).
//!
//! # The interpreter
//! [`initialize`] starts Python once, on the main thread of the master, after registering the
//! `uwsgi` compatibility module and applying `env`/`unenv` (with `py-programname`'s program
//! name, if given), and sets up `sys.path` (`home` virtualenv, `pythonpath`), `sys.argv`
//! (`pyargv`), `sys.executable` (`py-executable`) and the `pymodule-alias` modules. Around every `fork` the process manager calls [`before_fork`]
//! and [`after_fork_parent`] / [`after_fork_child`] (`PyOS_*` with the GIL held);
//! [`app_threads`] names the threads a preloaded app started, which a fork loses.
//!
//! # Apps
//! [`load_apps`] imports the `import` modules and loads what `wsgi-file`, `module` and
//! `mount` name (with `chdir2` and `callable`), into [`Apps`]. A failure logs the traceback
//! and a hint naming the searched paths, and is an [`ErrorKind::AppLoad`] error (exit status
//! 22 under `need-app`).
//!
//! # Serving
//! [`WsgiHandler`] implements the event loop's `Handler`: the loop hands it a complete request
//! and a `Reply`; a pool of `threads` Python threads builds `environ` (PEP 3333 and uWSGI's
//! keys, for HTTP heads and nginx's uwsgi vars alike), calls the app, validates
//! `start_response`, and sends the response through the `Reply` with the GIL released around
//! every call that may wait for the client: a one-element list in one message with a
//! computed Content-Length, iterables chunk by chunk under back-pressure, a
//! `wsgi.file_wrapper` over a real file with `sendfile`. The iterable's `close()` is always
//! called. App errors answer 500 (or close the connection once the head is out) with the
//! traceback in the log, and the worker keeps serving; an exception that
//! `reload-on-exception-type`, `-value` or `-repr` names is reported to the process manager
//! through [`ExceptionRecycle`]. `thread-stacksize` sets the pool threads' stack size.
//!
//! # The `uwsgi` module
//! `opt`, `worker_id()`, `numproc`, `version`, `version_info`, `hostname`, `buffer_size`,
//! `masterpid()`, `reload()`, `stop()`, `set_logvar`, `set_user_harakiri`, `post_fork_hook`
//! ([`run_post_fork_hook`]); the signal framework, timers and mules (`register_signal`,
//! `signal`, `add_timer`, `add_cron`, `mule_msg`, ..., run by [`start_signal_thread`] and
//! [`run_mule`]); the user locks (`lock`, `unlock`); the spooler (`spool`, `spooler`,
//! [`run_spool_job`]); the cache (`cache_get`, `cache_set`, `cache_update`, `cache_del`,
//! `cache_exists`, `cache_clear`) on the caches the process manager shares; and the
//! `uwsgidecorators` module, importable from the first line.
//! What only the process manager knows reaches it through [`ProcessHooks`], installed with
//! [`set_process_hooks`].

#![deny(missing_docs)]

mod environ;
mod error;
mod exception_recycle;
mod file_wrapper;
mod guard;
mod handler;
mod input;
mod interp;
mod load;
mod log_stream;
mod options;
mod pool_load;
mod process_facts;
mod process_hooks;
mod response;
mod signals;
mod stacks;
mod traceback;
mod tracebacker;
mod uwsgi_cache;
mod uwsgi_locks;
mod uwsgi_module;
mod uwsgi_signals;
mod uwsgi_spooler;

pub use error::{Error, ErrorKind};
pub use exception_recycle::ExceptionRecycle;
pub use handler::WsgiHandler;
pub use interp::{
    after_fork_child, after_fork_parent, app_threads, before_fork, initialize, module_files,
};
pub use load::{load_apps, Apps};
pub use options::Options;
pub use process_hooks::{set_process_hooks, ProcessHooks};
pub use signals::SignalDispatch;
pub use stacks::Stacks;
pub use tracebacker::start_tracebacker;
pub use uwsgi_module::run_post_fork_hook;
pub use uwsgi_signals::{run_mule, start_signal_thread};
pub use uwsgi_spooler::{run_spool_job, spooler_imports};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
