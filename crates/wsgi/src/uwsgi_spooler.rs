//! The `uwsgi` module's spooler: `uwsgi.spool(dict)` (and its old name `send_to_spooler`)
//! queues a job through the process manager ([`ProcessHooks::spool`]); in a spooler
//! process, [`run_spool_job`] hands each job to the app's `uwsgi.spooler` function, as
//! uWSGI's python plugin does: one dict argument whose job vars have bytes keys and values,
//! plus `spooler_task_name` (the job file's bare name: the job runs in its directory) and
//! `body` (when there is one) under str keys.
//!
//! [`ProcessHooks::spool`]: crate::ProcessHooks::spool

use std::path::Path;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::error::Error;
use crate::guard::guard;
use crate::process_hooks::with_hooks;
use crate::traceback::log_exception;

/// uWSGI's return codes of a spooler function.
const SPOOL_RETRY: i64 = -1;
const SPOOL_IGNORE: i64 = 0;

/// A job var's key or value as bytes: bytes as they are, str as UTF-8, anything else (a
/// value only) as its `str()`.
fn as_bytes(v: &Bound<'_, PyAny>, key: bool) -> PyResult<Vec<u8>> {
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(s.to_str()?.as_bytes().to_vec());
    }
    if key {
        return Err(PyTypeError::new_err(
            "spooler job keys must be str or bytes",
        ));
    }
    Ok(v.str()?.to_str()?.as_bytes().to_vec())
}

/// `uwsgi.spool(dict)` or `uwsgi.spool(key=value, ...)`: queues a job for the spooler and
/// returns its file name (bytes). `body` goes after the vars, of any size; `spooler` picks
/// the spool directory, `priority` a numbered subdirectory, `at` the earliest Unix time.
#[pyfunction]
#[pyo3(signature = (job=None, **kwargs))]
fn spool(
    py: Python<'_>,
    job: Option<&Bound<'_, PyAny>>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyBytes>> {
    guard("uwsgi.spool()", || {
        let dict = match (job, kwargs) {
            (Some(job), _) => job.cast::<PyDict>().map_err(|_| {
                PyValueError::new_err("The argument of spooler callable must be a dictionary")
            })?,
            (None, Some(kwargs)) => kwargs,
            (None, None) => {
                return Err(PyValueError::new_err(
                    "The argument of spooler callable must be a dictionary",
                ))
            }
        };
        let mut vars = Vec::with_capacity(dict.len());
        let mut body = Vec::new();
        for (k, v) in dict.iter() {
            let key = as_bytes(&k, true)?;
            if key == b"body" {
                body = as_bytes(&v, false)?;
            } else {
                vars.push((key, as_bytes(&v, false)?));
            }
        }
        let queued =
            py.detach(|| with_hooks(Err("no server runs".to_string()), |h| h.spool(vars, &body)));
        match queued {
            Ok(path) => Ok(PyBytes::new(py, &path).unbind()),
            Err(why) => Err(PyValueError::new_err(format!(
                "unable to spool the job: {why}"
            ))),
        }
    })
}

/// Adds `spool`, `send_to_spooler` and the `spooler` attribute (the app sets it) to the
/// `uwsgi` module.
pub(crate) fn add_to(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let f = wrap_pyfunction!(spool, m)?;
    m.add("send_to_spooler", &f)?;
    m.add_function(f)?;
    m.add("spooler", m.py().None())?;
    Ok(())
}

/// In a spooler process: imports the `spooler-import` modules.
pub fn spooler_imports(modules: &[String]) -> Result<(), Error> {
    Python::attach(|py| {
        for name in modules {
            if let Err(e) = py.import(name.as_str()) {
                log_exception(py, &e, &format!("spooler-import {name} failed"));
                return Err(Error::python(format!("spooler-import {name} failed")));
            }
        }
        Ok(())
    })
}

/// In a spooler process: runs one job through the app's `uwsgi.spooler` and returns its
/// code (`SPOOL_OK` -2, `SPOOL_RETRY` -1, `SPOOL_IGNORE` 0). No `uwsgi.spooler` ignores the
/// job (logged); an exception (logged with its traceback) or a result that is no number
/// retries it, as in uWSGI.
pub fn run_spool_job(path: &Path, vars: &[(Vec<u8>, Vec<u8>)], body: &[u8]) -> i64 {
    Python::attach(|py| {
        let spooler = py
            .import("uwsgi")
            .and_then(|m| m.getattr("spooler"))
            .ok()
            .filter(|f| !f.is_none());
        let Some(spooler) = spooler else {
            log::warn!(
                "[spooler] no uwsgi.spooler function: job {} ignored",
                path.display()
            );
            return SPOOL_IGNORE;
        };
        let job = || -> PyResult<Bound<'_, PyDict>> {
            let d = PyDict::new(py);
            // The bare file name, as uWSGI gives it (the job runs in the file's directory).
            let name = path.file_name().unwrap_or(path.as_os_str());
            d.set_item(
                "spooler_task_name",
                PyBytes::new(py, name.as_encoded_bytes()),
            )?;
            for (k, v) in vars {
                d.set_item(PyBytes::new(py, k), PyBytes::new(py, v))?;
            }
            if !body.is_empty() {
                d.set_item("body", PyBytes::new(py, body))?;
            }
            Ok(d)
        };
        let result = job().and_then(|d| spooler.call1((d,)));
        match result {
            Ok(code) => code.extract::<i64>().unwrap_or(SPOOL_RETRY),
            Err(e) => {
                log_exception(
                    py,
                    &e,
                    &format!(
                        "the spooler function raised on {}; it will run again",
                        path.display()
                    ),
                );
                SPOOL_RETRY
            }
        }
    })
}
