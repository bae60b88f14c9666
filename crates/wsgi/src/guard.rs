//! The Python-facing methods of the bridge (`wsgi.input`, `start_response`, `write`,
//! `wsgi.errors`, `wsgi.file_wrapper`, the `uwsgi` module) run their bodies through
//! [`guard`]: a Rust panic there — a bug of ours — reaches the app as a `RuntimeError`, which
//! `except Exception` catches, and not as pyo3's `PanicException`, a `BaseException` that
//! would end the request as if the app had crashed. The request's thread and the worker live
//! either way.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyRuntimeError;
use pyo3::PyResult;

/// Runs `f`, the body of the Python-facing method `what`; a panic in it becomes a
/// `RuntimeError` and an error line in the log (the panic message itself is printed by the
/// panic hook before).
///
/// `AssertUnwindSafe`: the state these methods touch belongs to one request and sits behind
/// mutexes that every method takes with `unwrap_or_else(|e| e.into_inner())`; after a panic
/// the app sees an error, and the request's reply, if it is dropped, answers 500.
pub(crate) fn guard<T>(what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_string());
            log::error!("internal error in {what} ({msg}): raised as RuntimeError in the app");
            Err(PyRuntimeError::new_err(format!(
                "internal error in ruwsgi's {what}: {msg}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyo3::prelude::*;

    #[test]
    fn a_panic_becomes_a_runtime_error_and_a_result_passes_through() {
        crate::interp::test_init();
        Python::attach(|py| {
            // The panic hook prints "panicked at ... boom 7" to the test's stderr.
            let err = guard("test()", || -> PyResult<()> { panic!("boom {}", 7) }).unwrap_err();
            assert!(err.is_instance_of::<PyRuntimeError>(py));
            assert_eq!(
                err.value(py).to_string(),
                "internal error in ruwsgi's test(): boom 7"
            );
            // `except Exception` catches it, unlike pyo3's PanicException.
            assert!(err.is_instance_of::<pyo3::exceptions::PyException>(py));
            assert_eq!(guard("test()", || Ok(3)).unwrap(), 3);
        });
    }
}
