//! `py-tracebacker PREFIX`: each worker listens on the unix socket `PREFIX<worker id>`
//! (`/tmp/tb` gives `/tmp/tb1`, `/tmp/tb2`, ...) and answers every connection with the
//! Python stack of each of its threads, in uWSGI's format, then closes it — what
//! `uwsgi --connect-and-read /tmp/tb1` (or `socat - UNIX-CONNECT:/tmp/tb1`) prints:
//!
//! ```text
//! *** uWSGI Python tracebacker output ***
//!
//! thread_id = <name> filename = <file> lineno = <n> function = <name> line = <source>
//! ```
//!
//! one line per frame, outermost first, a blank line after each thread; a thread the
//! `threading` module does not know is `<UnnamedPythonThread>`. The answer is read on a
//! thread of its own, with the GIL, so a worker whose Python threads are all busy still
//! answers (between two of their switch intervals).

use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use pyo3::prelude::*;

use crate::interp::helper;

/// Binds `PREFIX<worker>` (replacing a stale socket file) and answers on a thread of its
/// own for the worker's life.
pub fn start_tracebacker(prefix: &str, worker: usize) -> std::io::Result<PathBuf> {
    let path = PathBuf::from(format!("{prefix}{worker}"));
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(&path)?;
    std::thread::Builder::new()
        .name("ruwsgi-tracebacker".into())
        .spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { continue };
                let report = Python::attach(|py| -> PyResult<String> {
                    let h = helper(py)
                        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
                    h.getattr("tracebacker_report")?.call0()?.extract()
                });
                let text = report.unwrap_or_else(|e| format!("cannot read the stacks: {e}\n"));
                let _ = client.write_all(text.as_bytes());
            }
        })?;
    Ok(path)
}
