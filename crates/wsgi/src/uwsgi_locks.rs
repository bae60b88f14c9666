//! The `uwsgi` module's user locks: `uwsgi.lock(n=0)` and `uwsgi.unlock(n=0)` over the
//! board's robust process-shared mutexes (`ruwsgi_shm::Locks`), shared by every worker and
//! mule. The GIL is released while a thread waits for a lock, so the other threads of the
//! process run on.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use ruwsgi_shm::LockError;

use crate::guard::guard;
use crate::process_hooks::with_hooks;

fn to_py(e: LockError) -> PyErr {
    match e {
        LockError::NoSuchLock(_) => {
            PyValueError::new_err(format!("{e} (locks N makes locks 0 to N)"))
        }
        _ => PyRuntimeError::new_err(e.to_string()),
    }
}

/// `uwsgi.lock(n=0)`: waits for lock `n` and takes it.
#[pyfunction]
#[pyo3(signature = (n=0))]
fn lock(py: Python<'_>, n: usize) -> PyResult<()> {
    guard("uwsgi.lock()", || {
        let board = with_hooks(None, |h| h.locks())
            .ok_or_else(|| PyRuntimeError::new_err("no server runs: there are no locks"))?;
        let taken = py.detach(|| board.locks().lock(n)).map_err(to_py)?;
        if taken {
            log::warn!("lock {n} was held by a process that died; taken over");
        }
        Ok(())
    })
}

/// `uwsgi.unlock(n=0)`: gives lock `n` back (the thread that took it).
#[pyfunction]
#[pyo3(signature = (n=0))]
fn unlock(n: usize) -> PyResult<()> {
    guard("uwsgi.unlock()", || {
        let board = with_hooks(None, |h| h.locks())
            .ok_or_else(|| PyRuntimeError::new_err("no server runs: there are no locks"))?;
        board.locks().unlock(n).map_err(to_py)
    })
}

/// Adds `lock` and `unlock` to the `uwsgi` module.
pub(crate) fn add_to(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(lock, m)?)?;
    m.add_function(wrap_pyfunction!(unlock, m)?)?;
    Ok(())
}
