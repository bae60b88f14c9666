//! `wsgi.errors`: a text stream whose lines go to the server log (line-buffered, PEP 3333
//! "Input and Error Streams").

use std::sync::Mutex;

use pyo3::prelude::*;

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

fn emit(line: &str) {
    log::error!(target: "wsgi.errors", "{line}");
}

#[pymethods]
impl LogStream {
    /// Writes `s`; every complete line goes to the log at once.
    fn write(&self, s: &str) -> usize {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.push_str(s);
        while let Some(i) = p.find('\n') {
            emit(&p[..i]);
            p.drain(..=i);
        }
        s.chars().count()
    }

    fn writelines(&self, lines: Vec<String>) {
        for l in lines {
            self.write(&l);
        }
    }

    /// Logs a pending partial line.
    fn flush(&self) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if !p.is_empty() {
            emit(&p);
            p.clear();
        }
    }

    fn writable(&self) -> bool {
        true
    }
}
