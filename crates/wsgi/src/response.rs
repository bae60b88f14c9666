//! `start_response`, `write` and the sending of the response (PEP 3333 "The
//! start_response() Callable", "Buffering and Streaming", "Error Handling").
//!
//! One [`StartResponse`] per request holds the [`Reply`]. The head is validated when the app
//! calls it — what PEP 3333 asks of the status, the headers and `exc_info` — and sent with
//! the first non-empty piece of body. The framing is the event loop's: it adds
//! `Content-Length` or chunking, keeps to a declared `Content-Length`, sends no body to HEAD
//! or for 1xx/204/304 and writes the 500 of a failed app ([`Reply::fail`]). Every call into
//! the loop that may block (`send`, `send_file`) runs with the GIL released, so a slow
//! client holds a Python thread but never the interpreter.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::{
    PyKeyboardInterrupt, PyOSError, PyRuntimeError, PySystemExit, PyTypeError, PyValueError,
};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use ruwsgi_event_loop::{Gone, Reply, ResponseHead};
use ruwsgi_proto::HeaderError;

use crate::exception_recycle::ExceptionRecycle;
use crate::guard::guard;
use crate::pool_load::Load;
use crate::traceback::log_exception;

/// Hop-by-hop headers (RFC 9110 §7.6.1; PEP 3333 "Other HTTP Features" forbids them to a
/// WSGI app) other than `Connection`: the server owns the connection, so it drops these with
/// one warning per name and worker ([`WARNED`]) instead of failing the request, as real apps
/// and middlewares do send them. `Connection` passes on to the loop, which closes the
/// connection after the response when it says `close` and writes its own `Connection`
/// header either way.
const HOP_BY_HOP: [&str; 9] = [
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// Whether the worker already warned about the app's `HOP_BY_HOP[i]` header.
static WARNED: [AtomicBool; HOP_BY_HOP.len()] =
    [const { AtomicBool::new(false) }; HOP_BY_HOP.len()];

/// Whether the header `name` is one to drop; warns the first time for each name.
fn dropped_hop_by_hop(name: &str) -> bool {
    let Some(i) = HOP_BY_HOP.iter().position(|h| name.eq_ignore_ascii_case(h)) else {
        return false;
    };
    if !WARNED[i].swap(true, Ordering::Relaxed) {
        log::warn!(
            "the app set the hop-by-hop header {name:?}, which the server owns (PEP 3333); \
             dropped from this and later responses (warned once per worker)"
        );
    }
    true
}

fn bad(msg: String) -> PyErr {
    log::error!("start_response: {msg}");
    PyValueError::new_err(msg)
}

/// Validates a status line: a `str` (or a subclass, such as Django's `SafeString`) such as
/// `"200 OK"`, latin-1, no control characters but HTAB ([`ruwsgi_proto::check_status`]).
/// Returns its code and its reason phrase.
fn check_status(status: &Bound<'_, PyAny>) -> PyResult<(u16, String)> {
    let Ok(s) = status.cast::<PyString>() else {
        let msg = format!(
            "status must be a str, not {}",
            status
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        );
        log::error!("start_response: {msg}");
        return Err(PyTypeError::new_err(msg));
    };
    let s = s.to_str()?;
    match ruwsgi_proto::check_status(s) {
        Some((code, reason)) => Ok((code, reason.to_string())),
        None => Err(bad(format!(
            "invalid status {s:?}: it must be three digits, a space and a reason phrase \
             (latin-1, no control characters)"
        ))),
    }
}

/// Validates the header list: a `list` of `(str, str)` tuples (subclasses of `str` and
/// `tuple` included: Django's `SafeString`, MarkupSafe's `Markup`, named tuples); names are
/// tokens (RFC 9110 §5.1); values latin-1 without control characters but HTAB (RFC 9110
/// §5.5); a `Content-Length` is digits ([`ruwsgi_proto::check_header`]). Hop-by-hop
/// headers other than `Connection` are left out ([`HOP_BY_HOP`]).
fn check_headers(headers: &Bound<'_, PyAny>) -> PyResult<Vec<(String, Vec<u8>)>> {
    let Ok(list) = headers.cast::<PyList>() else {
        let msg = "headers must be a list of (name, value) tuples".to_string();
        log::error!("start_response: {msg}");
        return Err(PyTypeError::new_err(msg));
    };
    let mut out = Vec::with_capacity(list.len());
    for item in list.iter() {
        let pair = item.cast::<PyTuple>().ok().filter(|t| t.len() == 2);
        let Some(pair) = pair else {
            return Err(bad(format!("header {item} is not a (name, value) tuple")));
        };
        let (name, value) = (pair.get_item(0)?, pair.get_item(1)?);
        let (Ok(name), Ok(value)) = (name.cast::<PyString>(), value.cast::<PyString>()) else {
            return Err(bad(format!("header {item} must be a tuple of two str")));
        };
        let name = name.to_str()?;
        let value = value.to_str()?;
        if !ruwsgi_proto::is_header_name(name) {
            return Err(bad(format!("invalid header name {name:?}")));
        }
        if dropped_hop_by_hop(name) {
            continue;
        }
        let bytes = match ruwsgi_proto::check_header(name, value) {
            Ok(bytes) => bytes.into_owned(),
            Err(HeaderError::ContentLength) => {
                return Err(bad(format!(
                    "invalid value {value:?} of header \"Content-Length\""
                )))
            }
            Err(_) => {
                return Err(bad(format!(
                    "invalid value {value:?} of header {name:?}: latin-1 only, no control \
                     characters but tab"
                )))
            }
        };
        out.push((name.to_string(), bytes));
    }
    Ok(out)
}

struct State {
    reply: Option<Reply>,
    /// Set by `start_response`, taken when the head goes out.
    head: Option<ResponseHead>,
    head_sent: bool,
    gone: bool,
}

impl State {
    /// The head to send before the first piece of body (`None` once it went out); an error
    /// when the app `did` something that needs one without calling `start_response`.
    fn head_to_send(&mut self, did: &str) -> PyResult<Option<ResponseHead>> {
        if self.head_sent {
            return Ok(None);
        }
        let Some(head) = self.head.take() else {
            return Err(PyRuntimeError::new_err(format!(
                "the app {did} without calling start_response() first"
            )));
        };
        self.head_sent = true;
        Ok(Some(head))
    }
}

/// What a request does when it cannot end as the app meant: its client is gone, or the app
/// raised.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorPolicy {
    /// `write()` to a client that is gone raises `OSError` (uWSGI's default; off with
    /// `disable-write-exception`).
    pub(crate) raise: bool,
    /// A client that is gone is logged at `info` (off with `ignore-write-errors`: `debug`).
    pub(crate) log: bool,
    /// `catch-exceptions`: an app error before the head went out is answered with its
    /// traceback as the 500's body (for development, as uWSGI warns; after the head, as in
    /// uWSGI, nothing more can be said to the client).
    pub(crate) catch: bool,
}

impl ErrorPolicy {
    /// The level of the lines that say a client is gone.
    pub(crate) fn level(self) -> log::Level {
        if self.log {
            log::Level::Info
        } else {
            log::Level::Debug
        }
    }
}

/// The `start_response` callable of one request (its bound `write` is the `write` PEP
/// 3333 returns).
#[pyclass(module = "uwsgi", name = "StartResponse", frozen)]
pub(crate) struct StartResponse {
    state: Mutex<State>,
    load: Arc<Load>,
    released: std::sync::atomic::AtomicBool,
    errors: ErrorPolicy,
    /// `reload-on-exception-type`, `-value` and `-repr`, which [`StartResponse::fail`]
    /// compares the app's exception with.
    recycle: Option<ExceptionRecycle>,
}

impl StartResponse {
    pub(crate) fn new(
        reply: Reply,
        load: Arc<Load>,
        errors: ErrorPolicy,
        recycle: Option<ExceptionRecycle>,
    ) -> StartResponse {
        StartResponse {
            state: Mutex::new(State {
                reply: Some(reply),
                head: None,
                head_sent: false,
                gone: false,
            }),
            load,
            released: std::sync::atomic::AtomicBool::new(false),
            errors,
            recycle,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Frees this request's Python thread in the handler's count. Called right before the
    /// reply's last message, so the loop sees the capacity when that message wakes it.
    pub(crate) fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.load.done();
        }
    }

    /// Right before the reply's last message: frees the thread ([`StartResponse::release`])
    /// and hands the request's `uwsgi.set_logvar` values to the reply for its record.
    fn last(&self, reply: &mut Reply) {
        for (name, value) in crate::uwsgi_module::take_logvars() {
            reply.set_logvar(name, value);
        }
        self.release();
    }

    /// Whether `start_response` was called and nothing was sent yet (the one-message path).
    pub(crate) fn head_pending(&self) -> bool {
        let st = self.lock();
        st.head.is_some() && !st.head_sent
    }

    /// Whether the client is gone (the app's failure is then not the app's fault).
    pub(crate) fn is_gone(&self) -> bool {
        self.lock().gone
    }

    /// Sends one piece of body; returns false when no more is wanted (client gone, or
    /// the loop dropped bytes past the Content-Length: PEP 3333 asks the server to stop
    /// iterating then).
    pub(crate) fn send(&self, py: Python<'_>, data: &[u8]) -> PyResult<bool> {
        let mut st = self.lock();
        if st.gone {
            return Ok(false);
        }
        if data.is_empty() {
            // PEP 3333: the head goes out with the first non-empty chunk.
            return Ok(true);
        }
        let start = st.head_to_send("produced body")?;
        let payload = data.to_vec();
        self.transmit(py, st, start, move |reply| reply.send(payload))
    }

    /// Sends `start` (the head, if it is still to go) and then what `body` sends, with the
    /// GIL released: either may block on a slow client. False when the client is gone, the
    /// loop has all the body it will send ([`Reply::is_complete`]), or a routing rule
    /// answered in the app's place ([`Reply::is_replaced`]).
    fn transmit<F>(
        &self,
        py: Python<'_>,
        mut st: MutexGuard<'_, State>,
        start: Option<ResponseHead>,
        body: F,
    ) -> PyResult<bool>
    where
        F: FnOnce(&mut Reply) -> Result<(), Gone> + Send,
    {
        let Some(mut reply) = st.reply.take() else {
            return Err(PyRuntimeError::new_err(
                "the response was written from two threads at once",
            ));
        };
        drop(st);
        let (reply, result) = py.detach(move || {
            let r = match start {
                Some(h) => reply.start(h),
                None => Ok(()),
            }
            .and_then(|()| body(&mut reply));
            (reply, r)
        });
        let complete = reply.is_complete();
        // A routing rule that answered in the app's place (X-Sendfile, an error page) ends
        // the reply: the rest of the body is not wanted, but the client is not gone, so the
        // app is not told it is (no OSError, no "client went away").
        let replaced = reply.is_replaced();
        let mut st = self.lock();
        st.reply = Some(reply);
        st.gone |= result.is_err() && !replaced;
        Ok(result.is_ok() && !complete && !replaced)
    }

    /// The whole body at once: head, body and end in one message to the loop
    /// ([`Reply::respond`]), which adds the Content-Length.
    pub(crate) fn respond_whole(&self, body: Vec<u8>) {
        let mut st = self.lock();
        let (Some(head), Some(mut reply)) = (st.head.take(), st.reply.take()) else {
            return;
        };
        st.head_sent = true;
        drop(st);
        self.last(&mut reply);
        reply.respond(head, body);
    }

    /// Sends `len` bytes of `file` from `offset` with sendfile (file_wrapper with a real
    /// `fileno()`): as the whole body when the head is still to go (the loop adds the
    /// Content-Length), after the body `write()` sent otherwise.
    pub(crate) fn send_file(
        &self,
        py: Python<'_>,
        file: File,
        offset: u64,
        len: u64,
    ) -> PyResult<()> {
        let mut st = self.lock();
        if st.gone {
            return Ok(());
        }
        let Some(start) = st.head_to_send("returned a file_wrapper")? else {
            self.transmit(py, st, None, move |reply| {
                reply.send_file(file, offset, Some(len))
            })?;
            return Ok(());
        };
        let Some(mut reply) = st.reply.take() else {
            return Ok(());
        };
        drop(st);
        self.last(&mut reply);
        reply.respond_file(start, file, offset, len);
        Ok(())
    }

    /// Ends the response after the iterable is exhausted.
    pub(crate) fn complete(&self, py: Python<'_>) {
        let mut st = self.lock();
        let Some(mut reply) = st.reply.take() else {
            return;
        };
        if st.gone {
            drop(st);
            self.release();
            drop(reply);
            return;
        }
        if st.head_sent {
            drop(st);
            self.last(&mut reply);
            reply.finish();
            return;
        }
        st.head_sent = true;
        let head = st.head.take();
        drop(st);
        self.last(&mut reply);
        match head {
            // No body at all: the head alone, with its Content-Length of 0.
            Some(head) => reply.respond(head, Vec::new()),
            None => {
                let e =
                    PyRuntimeError::new_err("the app returned without calling start_response()");
                log_exception(py, &e, "app error");
                reply.fail();
            }
        }
    }

    /// The app failed with `e`: before the head went out the client gets a 500, after it
    /// the connection is closed; the traceback goes to the log either way, and `e` is
    /// compared with the `reload-on-exception-*` options ([`ExceptionRecycle`]) unless the
    /// client was gone.
    pub(crate) fn fail(&self, py: Python<'_>, e: &PyErr) {
        let mut st = self.lock();
        let reply = st.reply.take();
        let gone = st.gone;
        let head_was_sent = st.head_sent;
        st.head_sent = true;
        drop(st);
        if gone {
            log::log!(
                self.errors.level(),
                "the client went away during the response ({})",
                e.value(py)
            );
        } else if e.is_instance_of::<PySystemExit>(py)
            || e.is_instance_of::<PyKeyboardInterrupt>(py)
        {
            log_exception(
                py,
                e,
                "the app raised SystemExit/KeyboardInterrupt while serving a request; \
                 answering 500 and the worker keeps serving",
            );
        } else {
            log_exception(py, e, "app error");
        }
        if let (false, Some(recycle)) = (gone, &self.recycle) {
            recycle.check(py, e);
        }
        let Some(mut reply) = reply else {
            self.release();
            return;
        };
        self.last(&mut reply);
        if gone {
            reply.abort();
        } else if self.errors.catch && !head_was_sent {
            let body = crate::traceback::format_exception(py, e).unwrap_or_else(|| e.to_string());
            let head = ResponseHead::new(
                500,
                "Internal Server Error",
                vec![("Content-Type".to_string(), b"text/plain".to_vec())],
            );
            reply.mark_exception();
            reply.respond(head, body.into_bytes());
        } else {
            // A 500 if the head is still to go, else the connection closes.
            reply.fail();
        }
    }
}

impl Drop for StartResponse {
    fn drop(&mut self) {
        // Normally released before the last message; this covers an unwinding thread.
        self.release();
    }
}

#[pymethods]
impl StartResponse {
    /// `start_response(status, response_headers, exc_info=None)`; returns `write`.
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        status: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        exc_info: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        guard("start_response()", || {
            Self::start(slf, status, headers, exc_info)
        })
    }

    /// The `write(data)` callable PEP 3333 keeps for old frameworks: sends at once.
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        guard("write()", || self.write_now(py, data))
    }
}

impl StartResponse {
    /// `start_response`'s body: validates the status and headers and keeps the head for the
    /// first piece of body.
    fn start<'py>(
        slf: &Bound<'py, Self>,
        status: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        exc_info: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let exc = exc_info.filter(|e| !e.is_none());
        {
            let st = this.lock();
            if let Some(exc) = exc {
                // PEP 3333: with exc_info after the head went out, re-raise the app's error.
                if st.head_sent {
                    let value = exc.get_item(1)?;
                    return Err(PyErr::from_value(value));
                }
            } else if st.head.is_some() || st.head_sent {
                return Err(PyRuntimeError::new_err(
                    "start_response() called a second time without exc_info (PEP 3333)",
                ));
            }
        }
        let (code, reason) = check_status(status)?;
        let headers = check_headers(headers)?;
        let mut st = this.lock();
        st.head = Some(ResponseHead::new(code, reason, headers));
        drop(st);
        slf.getattr(intern!(py, "write"))
    }

    /// `write`'s body.
    fn write_now(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let Ok(b) = data.cast::<PyBytes>() else {
            return Err(PyTypeError::new_err(format!(
                "write() takes bytes, not {}",
                data.get_type().name()?
            )));
        };
        let started = {
            let st = self.lock();
            st.head_sent || st.head.is_some()
        };
        if !started {
            return Err(PyRuntimeError::new_err(
                "write() called before start_response()",
            ));
        }
        if !self.send(py, b.as_bytes())? && self.is_gone() && self.errors.raise {
            return Err(PyOSError::new_err("the client connection is gone"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(py: Python<'_>, code: &std::ffi::CStr) -> PyResult<Vec<(String, Vec<u8>)>> {
        let v = py.eval(code, None, None)?;
        check_headers(&v)
    }

    #[test]
    fn status_lines() {
        crate::interp::test_init();
        Python::attach(|py| {
            let s = |v: &str| check_status(&PyString::new(py, v));
            assert_eq!(s("200 OK").unwrap(), (200, "OK".to_string()));
            assert_eq!(s("404 Not Found").unwrap(), (404, "Not Found".to_string()));
            assert_eq!(s("304 Not Modified").unwrap().0, 304);
            assert_eq!(s("200 ").unwrap(), (200, String::new()), "an empty reason");
            for bad in [
                "200",
                "20 OK",
                "abc OK",
                "200OK",
                "2000 OK",
                "200 OK\r\nX: y",
                "099 x",
            ] {
                assert!(s(bad).is_err(), "{bad:?} accepted");
            }
            assert!(check_status(&PyBytes::new(py, b"200 OK")).is_err());
        });
    }

    #[test]
    fn header_validation_names_the_bad_header() {
        crate::interp::test_init();
        Python::attach(|py| {
            let ok = headers(
                py,
                c"[('Content-Type', 'text/plain'), ('Content-Length', '12'), ('X-A', 'caf\\xe9')]",
            )
            .unwrap();
            assert_eq!(ok[1], ("Content-Length".to_string(), b"12".to_vec()));
            assert_eq!(ok[2].1, b"caf\xe9");
            // `Connection` goes on to the loop; the other hop-by-hop headers are left out.
            let kept = headers(
                py,
                c"[('Connection', 'close'), ('Transfer-Encoding', 'chunked'), ('Keep-Alive', 'x'), ('X-A', 'b')]",
            )
            .unwrap();
            assert_eq!(
                kept,
                [
                    ("Connection".to_string(), b"close".to_vec()),
                    ("X-A".to_string(), b"b".to_vec())
                ]
            );
            // Subclasses of str and tuple are strs and tuples.
            let sub = headers(
                py,
                c"(lambda S, T: [T((S('X-Safe'), S('v')))])(type('S', (str,), {}), type('T', (tuple,), {}))",
            )
            .unwrap();
            assert_eq!(sub, [("X-Safe".to_string(), b"v".to_vec())]);
            let cases: &[(&std::ffi::CStr, &str)] = &[
                (c"[('X-Bad', 'a\\r\\nInjected: 1')]", "X-Bad"),
                (c"[('X-Nul', 'a\\x00')]", "X-Nul"),
                (c"[('Bad Name', 'v')]", "Bad Name"),
                (c"[('X-Wide', '\\u20ac')]", "X-Wide"),
                (c"[('Content-Length', '-1')]", "Content-Length"),
                (c"[('Content-Length', '+5')]", "Content-Length"),
                (c"[('Content-Length', ' ')]", "Content-Length"),
                (c"[('X-Bytes', b'v')]", "X-Bytes"),
                (c"(('X-Tuple', 'v'),)", "list"),
                (c"[['X-List', 'v']]", "X-List"),
            ];
            for (code, name) in cases {
                let e = headers(py, code)
                    .err()
                    .unwrap_or_else(|| panic!("{code:?} accepted"));
                assert!(e.to_string().contains(name), "{code:?}: {e}");
            }
        });
    }
}
