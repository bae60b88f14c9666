//! [`Stacks`]: the Python stack of a pool thread, read from another thread — what harakiri
//! logs about the request it cut ("what was it doing?").
//!
//! The stack comes from `sys._current_frames()`, which needs the GIL. A thread stuck in
//! Python code gives the GIL up every switch interval and one stuck in a blocking call
//! (`time.sleep`, a socket read) released it, so the reader gets it; a thread stuck in C code
//! that holds the GIL never gives it up. So the reader runs on a thread of its own and the
//! caller waits a bounded time: past it, the answer says the GIL is held, and that thread
//! stays blocked until the process exits (harakiri ends the process soon after).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use pyo3::prelude::*;

/// Reads the Python stacks of a worker's pool threads (`Send`, cheap to clone).
#[derive(Debug, Clone)]
pub struct Stacks {
    /// Each pool thread's `threading.get_ident()`, 0 until the thread has started.
    pub(crate) idents: Arc<Vec<AtomicU64>>,
}

impl Stacks {
    /// Room for `threads` pool threads.
    pub(crate) fn new(threads: usize) -> Stacks {
        Stacks {
            idents: Arc::new((0..threads).map(|_| AtomicU64::new(0)).collect()),
        }
    }

    /// Records pool thread `index`'s Python thread ident (called by that thread).
    pub(crate) fn register(&self, py: Python<'_>, index: usize) {
        let ident = py
            .import("threading")
            .and_then(|t| t.call_method0("get_ident"))
            .and_then(|i| i.extract::<u64>());
        if let (Ok(ident), Some(slot)) = (ident, self.idents.get(index)) {
            slot.store(ident, Ordering::Relaxed);
        }
    }

    /// The stack of pool thread `index` (most recent call last, as a traceback prints it),
    /// waiting at most `wait` for the GIL; `Err` says why there is none.
    pub fn of(&self, index: usize, wait: Duration) -> Result<String, String> {
        let ident = match self.idents.get(index).map(|i| i.load(Ordering::Relaxed)) {
            Some(0) | None => return Err(format!("python thread {index} is not running")),
            Some(ident) => ident,
        };
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("ruwsgi-stack".into())
            .spawn(move || {
                let stack = Python::attach(|py| format_stack(py, ident));
                let _ = tx.send(stack);
            })
            .map_err(|e| format!("cannot start a thread to read the stack: {e}"))?;
        match rx.recv_timeout(wait) {
            Ok(Ok(stack)) => Ok(stack),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!(
                "the thread holds the GIL (it runs C code that does not release it): no \
                 Python stack could be read within {} ms",
                wait.as_millis()
            )),
        }
    }
}

/// The formatted stack of the Python thread `ident`.
fn format_stack(py: Python<'_>, ident: u64) -> Result<String, String> {
    let read = || -> PyResult<Option<String>> {
        let frames = py.import("sys")?.call_method0("_current_frames")?;
        let frame = frames.call_method1("get", (ident,))?;
        if frame.is_none() {
            return Ok(None);
        }
        let lines = py
            .import("traceback")?
            .call_method1("format_stack", (frame,))?;
        let text: String = pyo3::types::PyString::new(py, "")
            .call_method1("join", (lines,))?
            .extract()?;
        Ok(Some(text))
    };
    match read() {
        Ok(Some(text)) => Ok(text),
        Ok(None) => Err("the thread runs no Python code".to_string()),
        Err(e) => Err(format!("cannot read the stack: {e}")),
    }
}
