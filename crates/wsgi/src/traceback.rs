//! [`log_exception`]: a Python exception and its traceback, to the log — what every part
//! of the bridge does with an error it cannot hand to the app.

use pyo3::prelude::*;

/// Logs a Python exception with its traceback under `context`.
pub(crate) fn log_exception(py: Python<'_>, e: &PyErr, context: &str) {
    match format_exception(py, e) {
        Some(tb) => log::error!("{context}:\n{}", tb.trim_end()),
        None => log::error!("{context}: {e}"),
    }
}

/// The traceback Python prints for `e` (`traceback.format_exception`), if it can be had.
pub(crate) fn format_exception(py: Python<'_>, e: &PyErr) -> Option<String> {
    py.import("traceback")
        .and_then(|tb| {
            tb.call_method1(
                "format_exception",
                (e.get_type(py), e.value(py), e.traceback(py)),
            )
        })
        .and_then(|lines| lines.extract::<Vec<String>>())
        .map(|l| l.concat())
        .ok()
}
