//! The `uwsgi` module, second part: uWSGI's signal framework, timers and mules.
//!
//! - `register_signal(num, target, fn)` keeps `fn` in this process (a preloaded app's
//!   registrations are inherited by every worker through `fork`; one made after the fork
//!   exists only in the process that made it, as in uWSGI) and writes the target to the
//!   board's signal table, which every process reads. `signal(num)` puts the signal in the
//!   box of each receiver (`ruwsgi_shm::Signals`).
//! - Each worker and mule runs a signal thread ([`start_signal_thread`]) that waits on its
//!   box and calls the handlers, one raise at a time, holding the GIL like any Python thread:
//!   never inside a Unix signal handler, never on the event loop's thread, and not on a
//!   request thread (a long handler delays no request).
//! - `add_timer`, `add_rb_timer`, `add_cron`, `add_file_monitor` add entries to the board's
//!   timer table; the master runs them and raises their signal.
//! - `mule_id()`, `mule_msg()`, `mule_get_msg()` and the generic mule loop ([`run_mule`]):
//!   the queues themselves are the process manager's, reached through [`ProcessHooks`].
//!
//! [`ProcessHooks`]: crate::ProcessHooks

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use ruwsgi_shm::{ProcessIndex, Scoreboard, SignalTarget, TimerSpec, SIGNALS};

use crate::error::Error;
use crate::guard::guard;
use crate::process_hooks::with_hooks;
use crate::traceback::log_exception;

/// The handlers this process registered (or inherited), by signal number.
static HANDLERS: Mutex<Vec<Option<Py<PyAny>>>> = Mutex::new(Vec::new());

/// How long the signal thread sleeps between looks at its box when nothing wakes it (a
/// safety net: a delivery always wakes it).
const SIGNAL_WAIT: Duration = Duration::from_secs(30);

fn board() -> Option<Arc<Scoreboard>> {
    with_hooks(None, |h| h.board())
}

fn no_master(what: &str) -> PyErr {
    PyValueError::new_err(format!(
        "unable to {what}: the signal framework needs the master process (--master)"
    ))
}

/// `uwsgi.register_signal(num, target, handler)`.
#[pyfunction]
fn register_signal(num: u8, target: &str, handler: Py<PyAny>) -> PyResult<()> {
    guard("uwsgi.register_signal()", || {
        let board = board().ok_or_else(|| no_master("register a signal"))?;
        let parsed = SignalTarget::parse(target).ok_or_else(|| {
            PyValueError::new_err(format!(
                "unable to register signal {num}: unknown target {target:?} (use worker, \
                 workers, active-workers, workerN, mule, mules, muleN, spooler or spoolers)"
            ))
        })?;
        Python::attach(|py| {
            if !handler.bind(py).is_callable() {
                return Err(PyTypeError::new_err(format!(
                    "unable to register signal {num}: the handler is not callable"
                )));
            }
            let mut handlers = HANDLERS.lock().unwrap_or_else(|e| e.into_inner());
            handlers.resize_with(SIGNALS, || None);
            handlers[usize::from(num)] = Some(handler);
            Ok(())
        })?;
        board.signals().register(num, parsed);
        log::info!(
            "[uwsgi-signal] signum {num} registered (wid: {} target: {parsed})",
            with_hooks(0, |h| h.worker_id())
        );
        Ok(())
    })
}

/// `uwsgi.signal(num)`: raises it for its target. A signal nobody registered, or whose
/// target has no live process, is logged (as uWSGI's master logs it) and not raised.
#[pyfunction]
#[pyo3(signature = (num, remote=None))]
fn signal(num: u8, remote: Option<&str>) -> PyResult<()> {
    guard("uwsgi.signal()", || {
        if let Some(remote) = remote {
            return Err(PyValueError::new_err(format!(
                "cannot send signal {num} to {remote}: remote signals are not supported"
            )));
        }
        let board = board().ok_or_else(|| no_master("raise a signal"))?;
        if let Err(e) = board.signals().raise(num) {
            log::warn!("uwsgi.signal({num}): {e}");
        }
        Ok(())
    })
}

/// `uwsgi.signal_registered(num)`: True, or None (uWSGI's values).
#[pyfunction]
fn signal_registered(num: u8) -> PyResult<Option<bool>> {
    guard("uwsgi.signal_registered()", || {
        Ok(board().and_then(|b| b.signals().target(num)).map(|_| true))
    })
}

fn add(what: &str, spec: TimerSpec) -> PyResult<()> {
    let board = board().ok_or_else(|| no_master(what))?;
    board
        .signals()
        .add_timer(&spec)
        .map(|_| ())
        .map_err(|e| PyValueError::new_err(format!("unable to {what}: {e}")))
}

fn seconds(what: &str, secs: i64) -> PyResult<u64> {
    u64::try_from(secs)
        .map_err(|_| PyValueError::new_err(format!("unable to {what}: {secs} is not a period")))
}

/// `uwsgi.add_timer(num, secs)`: the master raises `num` every `secs` seconds.
#[pyfunction]
fn add_timer(num: u8, secs: i64) -> PyResult<()> {
    guard("uwsgi.add_timer()", || {
        let secs = seconds("add timer", secs)?;
        add("add timer", TimerSpec::Timer { signum: num, secs })
    })
}

/// `uwsgi.add_rb_timer(num, secs, iterations=0)`: like `add_timer`, `iterations` times (0:
/// for ever).
#[pyfunction]
#[pyo3(signature = (num, secs, iterations=0))]
fn add_rb_timer(num: u8, secs: i64, iterations: u32) -> PyResult<()> {
    guard("uwsgi.add_rb_timer()", || {
        let secs = seconds("add rb_timer", secs)?;
        add(
            "add rb_timer",
            TimerSpec::RbTimer {
                signum: num,
                secs,
                iterations,
            },
        )
    })
}

/// `uwsgi.add_cron(num, minute, hour, day, month, weekday)`: the master raises `num` when
/// the fields match (uWSGI's: -1 any, -N every N); True.
#[pyfunction]
fn add_cron(num: u8, minute: i16, hour: i16, day: i16, month: i16, weekday: i16) -> PyResult<bool> {
    guard("uwsgi.add_cron()", || {
        add(
            "add cron",
            TimerSpec::Cron {
                signum: num,
                fields: [minute, hour, day, month, weekday],
            },
        )?;
        Ok(true)
    })
}

/// `uwsgi.add_file_monitor(num, path)`: the master raises `num` when the file (or
/// directory) at `path` changes.
#[pyfunction]
fn add_file_monitor(num: u8, path: &str) -> PyResult<()> {
    guard("uwsgi.add_file_monitor()", || {
        add(
            "add file monitor",
            TimerSpec::FileMonitor {
                signum: num,
                path: path.as_bytes().to_vec(),
            },
        )
    })
}

/// `uwsgi.mule_id()`: this mule's id, 1-based; 0 outside a mule.
#[pyfunction]
fn mule_id() -> PyResult<usize> {
    guard("uwsgi.mule_id()", || Ok(with_hooks(0, |h| h.mule_id())))
}

/// `uwsgi.mule_msg(message, mule=None)`: queues `message` (bytes or str) for mule `mule`
/// (an id; None or 0: whichever mule reads first). True if queued; False when the queue is
/// full (logged), as in uWSGI.
#[pyfunction]
#[pyo3(signature = (message, mule=None))]
fn mule_msg(
    py: Python<'_>,
    message: &Bound<'_, PyAny>,
    mule: Option<&Bound<'_, PyAny>>,
) -> PyResult<bool> {
    guard("uwsgi.mule_msg()", || {
        let bytes: Vec<u8> = if let Ok(s) = message.cast::<PyString>() {
            s.to_str()?.as_bytes().to_vec()
        } else {
            message.extract()?
        };
        let mules = with_hooks(0, |h| h.mules());
        if mules == 0 {
            return Err(PyValueError::new_err("no mule configured"));
        }
        let id = match mule {
            None => 0,
            Some(m) if m.is_none() => 0,
            Some(m) => match m.extract::<i64>() {
                Ok(id) if (0..=mules as i64).contains(&id) => id as usize,
                Ok(_) => return Err(PyValueError::new_err("invalid mule number")),
                Err(_) => return Err(PyValueError::new_err("unknown farm")),
            },
        };
        Ok(py.detach(|| with_hooks(false, |h| h.mule_send(&bytes, id))))
    })
}

/// `uwsgi.mule_get_msg(signals=True, farms=True, buffer_size=65536, timeout=-1)`: waits
/// for a message to this mule (or to any mule) and returns it; None when `timeout` seconds
/// pass first. Only in a mule. Signals run on the mule's signal thread whatever `signals`
/// says; there are no farms.
#[pyfunction]
#[pyo3(signature = (signals=None, farms=None, buffer_size=65536, timeout=-1))]
fn mule_get_msg(
    py: Python<'_>,
    signals: Option<&Bound<'_, PyAny>>,
    farms: Option<&Bound<'_, PyAny>>,
    buffer_size: usize,
    timeout: i64,
) -> PyResult<Option<Py<PyBytes>>> {
    let _ = (signals, farms);
    guard("uwsgi.mule_get_msg()", || {
        if with_hooks(0, |h| h.mule_id()) == 0 {
            return Err(PyValueError::new_err(
                "you can receive mule messages only in a mule",
            ));
        }
        let timeout = u64::try_from(timeout).ok().map(Duration::from_secs);
        let got = py.detach(|| with_hooks(None, |h| h.mule_recv(buffer_size, timeout)));
        Ok(got.map(|msg| PyBytes::new(py, &msg).unbind()))
    })
}

/// Adds this part's functions and attributes to the `uwsgi` module.
pub(crate) fn add_to(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(register_signal, m)?)?;
    m.add_function(wrap_pyfunction!(signal, m)?)?;
    m.add_function(wrap_pyfunction!(signal_registered, m)?)?;
    m.add_function(wrap_pyfunction!(add_timer, m)?)?;
    m.add_function(wrap_pyfunction!(add_rb_timer, m)?)?;
    m.add_function(wrap_pyfunction!(add_cron, m)?)?;
    m.add_function(wrap_pyfunction!(add_file_monitor, m)?)?;
    m.add_function(wrap_pyfunction!(mule_id, m)?)?;
    m.add_function(wrap_pyfunction!(mule_msg, m)?)?;
    m.add_function(wrap_pyfunction!(mule_get_msg, m)?)?;
    m.add("mule_msg_hook", m.py().None())?;
    Ok(())
}

/// Starts the thread that runs the signals reaching `slot`'s box in this process (a worker
/// or a mule; see the module doc). `who` names the process in log lines.
pub fn start_signal_thread(
    board: Arc<Scoreboard>,
    slot: ProcessIndex,
    who: String,
) -> Result<(), Error> {
    std::thread::Builder::new()
        .name("uwsgi-signals".into())
        .spawn(move || loop {
            let signals = board.signals();
            let seen = signals.seq(slot);
            for (num, count) in signals.take(slot) {
                run_handler(num, count, &who);
            }
            signals.wait(slot, seen, SIGNAL_WAIT);
        })
        .map(|_| ())
        .map_err(|e| Error::python(format!("cannot start the signal thread: {e}")))
}

/// Calls the handler of `num` `count` times; a handler that raises has its traceback logged.
fn run_handler(num: u8, count: u32, who: &str) {
    Python::attach(|py| {
        let handler = HANDLERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(usize::from(num))
            .and_then(|h| h.as_ref().map(|h| h.clone_ref(py)));
        let Some(handler) = handler else {
            log::warn!("signal {num} reached {who}, which registered no handler for it");
            return;
        };
        for _ in 0..count {
            if let Err(e) = handler.call1(py, (num,)) {
                log_exception(
                    py,
                    &e,
                    &format!("the handler of signal {num} raised in {who}"),
                );
            }
        }
    });
}

/// What a mule runs after its setup: the script or function `patch` names (`mule = FILE.py`
/// runs the file as `__main__`, `mule = module:function` calls the function), or, with no
/// patch, the generic loop, which hands each message to `uwsgi.mule_msg_hook`. Returns when
/// the script or function does (the master respawns the mule, as uWSGI does); the generic
/// loop never returns.
pub fn run_mule(patch: Option<&str>) -> Result<(), Error> {
    match patch.filter(|p| !p.is_empty()) {
        Some(file) if file.ends_with(".py") => Python::attach(|py| {
            py.import("runpy")
                .and_then(|r| r.getattr("run_path"))
                .and_then(|f| {
                    let kwargs = pyo3::types::PyDict::new(py);
                    kwargs.set_item("run_name", "__main__")?;
                    f.call((file,), Some(&kwargs))
                })
                .map(|_| ())
                .map_err(|e| {
                    log_exception(py, &e, &format!("the mule script {file} raised"));
                    Error::python(format!("the mule script {file} raised"))
                })
        }),
        Some(spec) if spec.contains(':') => Python::attach(|py| {
            let (module, function) = spec.split_once(':').unwrap_or((spec, ""));
            py.import(module)
                .and_then(|m| m.getattr(function))
                .and_then(|f| f.call0())
                .map(|_| ())
                .map_err(|e| {
                    log_exception(py, &e, &format!("the mule function {spec} raised"));
                    Error::python(format!("the mule function {spec} raised"))
                })
        }),
        Some(other) => Err(Error::python(format!(
            "mule {other:?}: give a .py file or module:function"
        ))),
        None => loop {
            let msg = with_hooks(None, |h| h.mule_recv(65536, None));
            let Some(msg) = msg else {
                // The queue failed (logged by the hooks): do not spin.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            };
            Python::attach(|py| {
                let hook = py
                    .import("uwsgi")
                    .and_then(|m| m.getattr("mule_msg_hook"))
                    .ok()
                    .filter(|h| !h.is_none());
                match hook {
                    Some(hook) => {
                        if let Err(e) = hook.call1((PyBytes::new(py, &msg),)) {
                            log_exception(py, &e, "uwsgi.mule_msg_hook raised");
                        }
                    }
                    None => log::warn!(
                        "mule {} got a message of {} bytes and has no uwsgi.mule_msg_hook",
                        with_hooks(0, |h| h.mule_id()),
                        msg.len()
                    ),
                }
            });
        },
    }
}
