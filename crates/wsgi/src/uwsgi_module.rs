//! The `uwsgi` Python module, first part: what apps, Sentry and ddtrace probe.
//!
//! Registered with `PyImport_AppendInittab` before the interpreter starts (as uWSGI's python
//! plugin does), so `import uwsgi` works from the first line of the app. Its values that
//! depend on the options (`opt`, `numproc`, `buffer_size`) are set by [`crate::initialize`];
//! what only the process manager knows (worker id, master pid, reload, stop) comes through the
//! [`ProcessHooks`](crate::ProcessHooks) it installs with
//! [`set_process_hooks`](crate::set_process_hooks). The signal framework, timers and mules
//! are in `uwsgi_signals.rs`, the cache functions in `uwsgi_cache.rs`.

use std::cell::RefCell;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use ruwsgi_shm::{now_micros, ProcessIndex, Scoreboard};

use crate::guard::guard;
use crate::options::Options;
use crate::process_hooks::with_hooks;

/// The uWSGI version this module answers to: apps gate features on `uwsgi.version_info`, so
/// ruwsgi reports the uWSGI release whose behaviour it follows.
pub(crate) const UWSGI_VERSION: &str = "2.0.28";
const UWSGI_VERSION_INFO: (u32, u32, u32, u32, &str) = (2, 0, 28, 0, "");

thread_local! {
    /// `uwsgi.set_logvar` values of the request this thread is serving.
    static LOGVARS: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
    /// The scoreboard thread slot of this pool thread (board, process slot, thread index),
    /// where `uwsgi.set_user_harakiri` writes.
    static THREAD_SLOT: RefCell<Option<(Arc<Scoreboard>, ProcessIndex, usize)>> =
        const { RefCell::new(None) };
}

/// Tells the `uwsgi` module which scoreboard thread slot this pool thread writes.
pub(crate) fn set_thread_slot(slot: Option<(Arc<Scoreboard>, ProcessIndex, usize)>) {
    THREAD_SLOT.with(|s| *s.borrow_mut() = slot);
}

/// Forgets the log variables of the previous request on this thread.
pub(crate) fn clear_logvars() {
    LOGVARS.with(|v| {
        if let Ok(mut v) = v.try_borrow_mut() {
            v.clear();
        }
    });
}

/// Takes the log variables of the request this thread is serving (for its exchange record).
pub(crate) fn take_logvars() -> Vec<(String, String)> {
    LOGVARS.with(|v| {
        v.try_borrow_mut()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    })
}

// Each function's body runs through `guard` (crate::guard: a panic becomes a RuntimeError).

#[pyfunction]
fn worker_id() -> PyResult<usize> {
    guard("uwsgi.worker_id()", || Ok(with_hooks(0, |h| h.worker_id())))
}

#[pyfunction]
fn masterpid() -> PyResult<u32> {
    guard("uwsgi.masterpid()", || Ok(with_hooks(0, |h| h.masterpid())))
}

#[pyfunction]
fn reload() -> PyResult<bool> {
    guard("uwsgi.reload()", || Ok(with_hooks(false, |h| h.reload())))
}

#[pyfunction]
fn stop() -> PyResult<bool> {
    guard("uwsgi.stop()", || Ok(with_hooks(false, |h| h.stop())))
}

#[pyfunction]
fn set_logvar(key: String, value: String) -> PyResult<()> {
    guard("uwsgi.set_logvar()", || {
        LOGVARS.with(|v| {
            let mut v = v.borrow_mut();
            match v.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => v.push((key, value)),
            }
        });
        Ok(())
    })
}

#[pyfunction]
fn get_logvar(key: &str) -> PyResult<Option<String>> {
    guard("uwsgi.get_logvar()", || {
        Ok(LOGVARS.with(|v| {
            v.borrow()
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        }))
    })
}

/// `uwsgi.set_user_harakiri(seconds)`: the request this thread runs is cut (harakiri) once
/// it has run `seconds` more, whatever `harakiri` says; 0 removes that limit. It ends with
/// the request. A thread outside a pool (or a server without a master) has no slot: nothing
/// happens, as in uWSGI without a master.
#[pyfunction]
fn set_user_harakiri(seconds: u64) -> PyResult<()> {
    guard("uwsgi.set_user_harakiri()", || {
        THREAD_SLOT.with(|s| {
            if let Some((board, process, thread)) = &*s.borrow() {
                if let Some(slot) = board.threads_of(*process).get(*thread) {
                    let deadline = match seconds {
                        0 => 0,
                        n => now_micros().saturating_add(n.saturating_mul(1_000_000)),
                    };
                    slot.set_user_deadline(deadline);
                }
            }
        });
        Ok(())
    })
}

/// The module as the interpreter builds it at `import uwsgi`.
#[pymodule]
#[pyo3(name = "uwsgi")]
pub(crate) fn uwsgi_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(worker_id, m)?)?;
    m.add_function(wrap_pyfunction!(masterpid, m)?)?;
    m.add_function(wrap_pyfunction!(reload, m)?)?;
    m.add_function(wrap_pyfunction!(stop, m)?)?;
    m.add_function(wrap_pyfunction!(set_logvar, m)?)?;
    m.add_function(wrap_pyfunction!(get_logvar, m)?)?;
    m.add_function(wrap_pyfunction!(set_user_harakiri, m)?)?;
    crate::uwsgi_signals::add_to(m)?;
    crate::uwsgi_locks::add_to(m)?;
    crate::uwsgi_spooler::add_to(m)?;
    crate::uwsgi_cache::add_to(m)?;
    m.add("version", PyBytes::new(py, UWSGI_VERSION.as_bytes()))?;
    m.add("version_info", UWSGI_VERSION_INFO)?;
    m.add(
        "hostname",
        PyBytes::new(py, crate::process_facts::hostname().as_bytes()),
    )?;
    m.add("numproc", 1)?;
    m.add("cores", 1)?;
    m.add("has_threads", 1)?;
    m.add("started_on", 0)?;
    m.add("unbit", py.None())?;
    m.add("buffer_size", 8192)?;
    m.add("opt", PyDict::new(py))?;
    m.add("post_fork_hook", py.None())?;
    m.add("SPOOL_OK", -2)?;
    m.add("SPOOL_RETRY", -1)?;
    m.add("SPOOL_IGNORE", 0)?;
    Ok(())
}

/// Fills the option-dependent attributes once the interpreter runs.
pub(crate) fn configure(py: Python<'_>, opts: &Options) -> PyResult<()> {
    let m = py.import("uwsgi")?;
    m.setattr("numproc", opts.numproc)?;
    m.setattr("buffer_size", opts.buffer_size)?;
    let opt = opt_dict(py, &opts.opt)?;
    // Threads always work in ruwsgi (`enable-threads` is implied), so the flag libraries
    // read before they start a thread of their own (Sentry's SDK, ddtrace, New Relic's
    // agent) says so even when the config does not.
    if !opt.contains("enable-threads")? {
        opt.set_item("enable-threads", true)?;
    }
    m.setattr("opt", opt)?;
    // As uWSGI: the Python threads of each worker, whether threads are on (always, here),
    // and the server's start in Unix seconds (the interpreter starts with the server).
    m.setattr("cores", opts.threads)?;
    m.setattr("has_threads", 1)?;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    m.setattr("started_on", started)?;
    Ok(())
}

/// `uwsgi.opt` as uWSGI builds it: str keys; bytes values, or True for a bare flag; a list
/// when the option was given more than once.
fn opt_dict<'py>(
    py: Python<'py>,
    opt: &[(String, Option<String>)],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in opt {
        let value: Bound<'py, PyAny> = match v {
            Some(v) => PyBytes::new(py, v.as_bytes()).into_any(),
            None => pyo3::types::PyBool::new(py, true).to_owned().into_any(),
        };
        match d.get_item(k)? {
            None => d.set_item(k, value)?,
            Some(prev) => {
                if let Ok(list) = prev.cast::<PyList>() {
                    list.append(value)?;
                } else {
                    d.set_item(k, PyList::new(py, [prev, value])?)?;
                }
            }
        }
    }
    Ok(d)
}

/// Runs `uwsgi.post_fork_hook` if the app set one: the process manager calls it in each new
/// worker and mule once its process hooks are installed (so `uwsgi.worker_id()` and
/// `uwsgi.mule_id()` answer inside it), as uWSGI does.
pub fn run_post_fork_hook() {
    if crate::process_facts::interpreter_up() {
        Python::attach(post_fork_hook);
    }
}

fn post_fork_hook(py: Python<'_>) {
    let Ok(m) = py.import("uwsgi") else { return };
    let Ok(hook) = m.getattr("post_fork_hook") else {
        return;
    };
    if hook.is_none() {
        return;
    }
    if let Err(e) = hook.call0() {
        crate::traceback::log_exception(py, &e, "uwsgi.post_fork_hook failed");
    }
}
