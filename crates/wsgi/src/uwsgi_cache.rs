//! The `uwsgi` module, third part: uWSGI's cache — `cache_get`, `cache_set`,
//! `cache_update`, `cache_del`, `cache_exists`, `cache_clear` — on the shared caches the
//! process manager creates (`cache2`, `cache`; [`ruwsgi_shm::Cache`]), reached through
//! [`ProcessHooks::caches`](crate::ProcessHooks::caches).
//!
//! Arguments and return values are those of uWSGI's python plugin: keys and values are
//! `str` (stored as UTF-8) or `bytes`; `expires` is in seconds from now (0, the default,
//! and below: never); the last optional argument names the cache, and none (or `""`) means
//! the first configured. `cache_get` returns `bytes` or None; the others return True, or
//! None when nothing was done: `cache_set` on a live key, a value larger than the cache's
//! blocksize, a key longer than its keysize, an empty key or value, a full cache,
//! `cache_del` or `cache_exists` of a missing key, or a cache that does not exist — no
//! exception, as in uWSGI, but the log says why once per process (a full cache every time,
//! as uWSGI's "cache is FULL"). uWSGI's remote form `name@server` finds no cache here.
//! The GIL is released while the cache's lock is held, as uWSGI does.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};

use ruwsgi_shm::{Cache, CacheError};

use crate::guard::guard;
use crate::process_hooks::with_hooks;

/// What this process has warned about once already.
static WARNED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Logs `message` the first time `topic` comes up in this process.
fn warn_once(topic: String, message: impl FnOnce() -> String) {
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if !warned.contains(&topic) {
        warned.push(topic);
        log::warn!("{}", message());
    }
}

/// The bytes of a key or value argument: `str` as UTF-8, `bytes`, `bytearray`.
fn bytes_of(what: &str, arg: &str, obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_str()?.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    Err(PyTypeError::new_err(format!(
        "{what}: the {arg} must be str or bytes, not {}",
        obj.get_type().name()?
    )))
}

/// The cache `name` names (`None` or `""`: the first configured); `None`, logged once per
/// name and process, when there is none.
fn find(what: &str, name: Option<&str>) -> Option<Arc<Cache>> {
    let name = name.filter(|n| !n.is_empty());
    let (found, configured) = with_hooks((None, 0), |h| {
        let caches = h.caches();
        let found = match name {
            None => caches.first(),
            Some(n) => caches.iter().find(|c| c.name() == n),
        };
        (found.cloned(), caches.len())
    });
    if found.is_none() {
        match name {
            _ if configured == 0 => warn_once("none".into(), || {
                format!(
                    "{what}: no cache is configured (add `cache2 = name=NAME,items=N`); the \
                     cache functions return None"
                )
            }),
            Some(n) if n.contains('@') => warn_once(format!("remote {n}"), || {
                format!("{what}: remote caches ({n:?}) are not supported; the call returns None")
            }),
            Some(n) => warn_once(format!("unknown {n}"), || {
                format!("{what}: no cache named {n:?}; the call returns None")
            }),
            None => {}
        }
    }
    found
}

/// `uwsgi.cache_get(key[, cache])`: the value (bytes), or None.
#[pyfunction]
#[pyo3(signature = (key, cache=None))]
fn cache_get(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    cache: Option<&str>,
) -> PyResult<Option<Py<PyBytes>>> {
    const WHAT: &str = "uwsgi.cache_get()";
    guard(WHAT, || {
        let key = bytes_of(WHAT, "key", key)?;
        let Some(c) = find(WHAT, cache) else {
            return Ok(None);
        };
        let value = py.detach(|| c.get(&key));
        Ok(value.map(|v| PyBytes::new(py, &v).unbind()))
    })
}

/// `uwsgi.cache_set(key, value[, expires[, cache]])`: True if stored; None when a live
/// value is under `key` already, or it does not fit.
#[pyfunction]
#[pyo3(signature = (key, value, expires=0, cache=None))]
fn cache_set(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    expires: i64,
    cache: Option<&str>,
) -> PyResult<Option<bool>> {
    const WHAT: &str = "uwsgi.cache_set()";
    guard(WHAT, || store(py, WHAT, key, value, expires, cache, false))
}

/// `uwsgi.cache_update(key, value[, expires[, cache]])`: as `cache_set`, replacing a live
/// value (and its expiry).
#[pyfunction]
#[pyo3(signature = (key, value, expires=0, cache=None))]
fn cache_update(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    expires: i64,
    cache: Option<&str>,
) -> PyResult<Option<bool>> {
    const WHAT: &str = "uwsgi.cache_update()";
    guard(WHAT, || store(py, WHAT, key, value, expires, cache, true))
}

fn store(
    py: Python<'_>,
    what: &str,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    expires: i64,
    cache: Option<&str>,
    replace: bool,
) -> PyResult<Option<bool>> {
    let key = bytes_of(what, "key", key)?;
    let value = bytes_of(what, "value", value)?;
    let Some(c) = find(what, cache) else {
        return Ok(None);
    };
    let expires = u64::try_from(expires).unwrap_or(0);
    let stored = py.detach(|| {
        if replace {
            c.update(&key, &value, expires).map(|()| true)
        } else {
            c.set(&key, &value, expires)
        }
    });
    match stored {
        Ok(true) => return Ok(Some(true)),
        Ok(false) => {}
        Err(CacheError::Full) => log::warn!(
            "*** cache {:?} is full: {what} stored nothing (items={}) ***",
            c.name(),
            c.geometry().items
        ),
        Err(e @ (CacheError::ValueTooLarge { .. } | CacheError::KeyTooLong { .. })) => {
            let topic = format!(
                "{} {}",
                c.name(),
                matches!(e, CacheError::KeyTooLong { .. })
            );
            warn_once(topic, || {
                format!(
                    "{what}: {e} of cache {:?}; not stored, the call returns None (logged once \
                     per process)",
                    c.name()
                )
            })
        }
        // Empty keys and values are refused silently, as uWSGI does; a lock error is logged.
        Err(_) => {}
    }
    Ok(None)
}

/// `uwsgi.cache_del(key[, cache])`: True if a value was removed, else None.
#[pyfunction]
#[pyo3(signature = (key, cache=None))]
fn cache_del(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    cache: Option<&str>,
) -> PyResult<Option<bool>> {
    const WHAT: &str = "uwsgi.cache_del()";
    guard(WHAT, || {
        let key = bytes_of(WHAT, "key", key)?;
        let Some(c) = find(WHAT, cache) else {
            return Ok(None);
        };
        Ok(py.detach(|| c.del(&key)).then_some(true))
    })
}

/// `uwsgi.cache_exists(key[, cache])`: True if a live value is there, else None.
#[pyfunction]
#[pyo3(signature = (key, cache=None))]
fn cache_exists(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    cache: Option<&str>,
) -> PyResult<Option<bool>> {
    const WHAT: &str = "uwsgi.cache_exists()";
    guard(WHAT, || {
        let key = bytes_of(WHAT, "key", key)?;
        let Some(c) = find(WHAT, cache) else {
            return Ok(None);
        };
        Ok(py.detach(|| c.exists(&key)).then_some(true))
    })
}

/// `uwsgi.cache_clear([cache])`: removes every value; True, or None without such a cache.
#[pyfunction]
#[pyo3(signature = (cache=None))]
fn cache_clear(py: Python<'_>, cache: Option<&str>) -> PyResult<Option<bool>> {
    const WHAT: &str = "uwsgi.cache_clear()";
    guard(WHAT, || {
        let Some(c) = find(WHAT, cache) else {
            return Ok(None);
        };
        py.detach(|| c.clear());
        Ok(Some(true))
    })
}

/// Adds this part's functions to the `uwsgi` module.
pub(crate) fn add_to(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cache_get, m)?)?;
    m.add_function(wrap_pyfunction!(cache_set, m)?)?;
    m.add_function(wrap_pyfunction!(cache_update, m)?)?;
    m.add_function(wrap_pyfunction!(cache_del, m)?)?;
    m.add_function(wrap_pyfunction!(cache_exists, m)?)?;
    m.add_function(wrap_pyfunction!(cache_clear, m)?)?;
    Ok(())
}
