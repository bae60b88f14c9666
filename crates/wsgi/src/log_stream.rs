//! `wsgi.errors`: a text stream whose lines go to the server log (line-buffered, PEP 3333
//! "Input and Error Streams").

use std::sync::Mutex;

use pyo3::prelude::*;

use crate::guard::guard;

/// `wsgi.errors`, one per worker.
#[pyclass(module = "uwsgi", name = "ErrorStream", frozen)]
pub(crate) struct LogStream {
    pending: Mutex<String>,
}

impl LogStream {
    pub(crate) fn new() -> LogStream {
        LogStream {
            pending: Mutex::new(String::new()),
        }
    }
}

impl LogStream {
    /// Appends `s`; every complete line goes to the log at once. Returns the characters
    /// written, as a text stream's `write` does.
    fn append(&self, s: &str) -> usize {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.push_str(s);
        while let Some(i) = p.find('\n') {
            emit(&p[..i]);
            p.drain(..=i);
        }
        s.chars().count()
    }
}

fn emit(line: &str) {
    log::error!(target: "wsgi.errors", "{line}");
}

#[pymethods]
impl LogStream {
    /// Writes `s`; every complete line goes to the log at once.
    fn write(&self, s: &str) -> PyResult<usize> {
        guard("wsgi.errors.write()", || Ok(self.append(s)))
    }

    fn writelines(&self, lines: Vec<String>) -> PyResult<()> {
        guard("wsgi.errors.writelines()", || {
            for l in lines {
                self.append(&l);
            }
            Ok(())
        })
    }

    /// Logs a pending partial line.
    fn flush(&self) -> PyResult<()> {
        guard("wsgi.errors.flush()", || {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if !p.is_empty() {
                emit(&p);
                p.clear();
            }
            Ok(())
        })
    }

    fn writable(&self) -> bool {
        true
    }
}
