//! `start_response`, `write` and the sending of the response (PEP 3333 "The
//! start_response() Callable", "Buffering and Streaming", "Error Handling").
//!
//! One [`StartResponse`] per request holds the [`Reply`]. The head is validated when the app
//! calls it and sent with the first non-empty piece of body. Every call into the loop that
//! may block (`send`, `send_file`) runs with the GIL released, so a slow client holds a
//! Python thread but never the interpreter.

use std::fs::File;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::{
    PyKeyboardInterrupt, PyOSError, PyRuntimeError, PySystemExit, PyTypeError, PyValueError,
};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use ruwsgi_event_loop::{Gone, Reply, ResponseHead};

use crate::handler::Load;

/// Logs a Python exception with its traceback under `context`.
pub(crate) fn log_exception(py: Python<'_>, e: &PyErr, context: &str) {
    let formatted = py
        .import("traceback")
        .and_then(|tb| {
            tb.call_method1(
                "format_exception",
                (e.get_type(py), e.value(py), e.traceback(py)),
            )
        })
        .and_then(|lines| lines.extract::<Vec<String>>())
        .map(|l| l.concat());
    match formatted {
        Ok(tb) => log::error!("{context}:\n{}", tb.trim_end()),
        Err(_) => log::error!("{context}: {e}"),
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) a WSGI app must not set (PEP 3333 "Other HTTP
/// Features"); the server owns the connection.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// `tchar` of RFC 9110 §5.6.2, by byte (a non-ASCII byte is never one).
const TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = ruwsgi_proto::is_token_byte(b as u8);
        b += 1;
    }
    t
};

fn bad(msg: String) -> PyErr {
    log::error!("start_response: {msg}");
    PyValueError::new_err(msg)
}

/// Validates a status line: a `str` such as `"200 OK"`, latin-1, no control characters.
/// Returns it with its code.
fn check_status(status: &Bound<'_, PyAny>) -> PyResult<(String, u16)> {
    let Ok(s) = status.cast_exact::<PyString>() else {
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
    // The code as the response encoder reads it, and a reason phrase after it.
    let code = ruwsgi_proto::status_code(s).filter(|_| s.len() > 3);
    let clean = s
        .chars()
        .all(|c| (c as u32) <= 0xff && c != '\x7f' && (c >= ' ' || c == '\t'));
    match code {
        Some(code) if clean => Ok((s.to_string(), code)),
        _ => Err(bad(format!(
            "invalid status {s:?}: it must be three digits, a space and a reason phrase"
        ))),
    }
}

fn bad_value(name: &str, value: &str) -> PyErr {
    bad(format!(
        "invalid value {value:?} of header {name:?}: latin-1 only, no CR, LF or NUL"
    ))
}

/// What [`check_headers`] found.
struct Checked {
    headers: Vec<(String, Vec<u8>)>,
    content_length: Option<u64>,
}

/// Validates the header list: a `list` of `(str, str)` tuples; names are tokens (RFC 9110
/// §5.1) and not hop-by-hop; values latin-1 without CR, LF or NUL (RFC 9110 §5.5).
fn check_headers(headers: &Bound<'_, PyAny>) -> PyResult<Checked> {
    let Ok(list) = headers.cast::<PyList>() else {
        let msg = "headers must be a list of (name, value) tuples".to_string();
        log::error!("start_response: {msg}");
        return Err(PyTypeError::new_err(msg));
    };
    let mut out = Vec::with_capacity(list.len());
    let mut content_length = None;
    for item in list.iter() {
        let pair = item.cast_exact::<PyTuple>().ok().filter(|t| t.len() == 2);
        let Some(pair) = pair else {
            return Err(bad(format!("header {item} is not a (name, value) tuple")));
        };
        let (name, value) = (pair.get_item(0)?, pair.get_item(1)?);
        let (Ok(name), Ok(value)) = (
            name.cast_exact::<PyString>(),
            value.cast_exact::<PyString>(),
        ) else {
            return Err(bad(format!("header {item} must be a tuple of two str")));
        };
        let name = name.to_str()?;
        let value = value.to_str()?;
        if name.is_empty() || !name.bytes().all(|b| TCHAR[usize::from(b)]) {
            return Err(bad(format!("invalid header name {name:?}")));
        }
        if HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            return Err(bad(format!(
                "header {name:?} is hop-by-hop; a WSGI app must not set it (PEP 3333)"
            )));
        }
        // An ASCII value is its own latin-1 encoding: check it bytewise and copy it whole.
        let bytes = if value.is_ascii() {
            if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | b'\0')) {
                return Err(bad_value(name, value));
            }
            value.as_bytes().to_vec()
        } else {
            let mut bytes = Vec::with_capacity(value.len());
            for c in value.chars() {
                let n = c as u32;
                if n > 0xff || matches!(c, '\r' | '\n' | '\0') {
                    return Err(bad_value(name, value));
                }
                bytes.push(n as u8);
            }
            bytes
        };
        if name.eq_ignore_ascii_case("content-length") {
            // Digits only: `parse` alone would also take a leading `+`.
            let digits = value.trim();
            let n = digits
                .parse::<u64>()
                .ok()
                .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()));
            match n {
                Some(n) => content_length = Some(n),
                None => {
                    return Err(bad(format!(
                        "invalid value {value:?} of header \"Content-Length\""
                    )))
                }
            }
        }
        out.push((name.to_string(), bytes));
    }
    Ok(Checked {
        headers: out,
        content_length,
    })
}

/// Whether a response with this status may carry a body (RFC 9110 §6.4.1).
fn status_allows_body(code: u16) -> bool {
    !matches!(code, 100..=199 | 204 | 304)
}

struct State {
    reply: Option<Reply>,
    /// Set by `start_response`, taken when the head goes out.
    head: Option<ResponseHead>,
    /// The status of the head, kept after it is sent.
    status_allows_body: bool,
    content_length: Option<u64>,
    head_sent: bool,
    sent: u64,
    gone: bool,
    /// A HEAD request: the app's body is counted, never sent.
    bodyless: bool,
    truncated: bool,
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

/// The `start_response` callable of one request (its bound `write` is the `write` PEP
/// 3333 returns).
#[pyclass(module = "uwsgi", name = "StartResponse", frozen)]
pub(crate) struct StartResponse {
    state: Mutex<State>,
    load: Arc<Load>,
    released: std::sync::atomic::AtomicBool,
}

fn internal_error_head() -> ResponseHead {
    ResponseHead {
        status: "500 Internal Server Error".to_string(),
        headers: vec![
            ("Content-Type".to_string(), b"text/plain".to_vec()),
            (
                "Content-Length".to_string(),
                INTERNAL_ERROR_BODY.len().to_string().into_bytes(),
            ),
        ],
    }
}

const INTERNAL_ERROR_BODY: &[u8] = b"Internal Server Error\n";

impl StartResponse {
    pub(crate) fn new(reply: Reply, bodyless: bool, load: Arc<Load>) -> StartResponse {
        StartResponse {
            state: Mutex::new(State {
                reply: Some(reply),
                head: None,
                status_allows_body: true,
                content_length: None,
                head_sent: false,
                sent: 0,
                gone: false,
                bodyless,
                truncated: false,
            }),
            load,
            released: std::sync::atomic::AtomicBool::new(false),
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

    /// Whether `start_response` was called and nothing was sent yet (the one-message path).
    pub(crate) fn head_pending(&self) -> bool {
        let st = self.lock();
        st.head.is_some() && !st.head_sent
    }

    /// Whether the client is gone (the app's failure is then not the app's fault).
    pub(crate) fn is_gone(&self) -> bool {
        self.lock().gone
    }

    /// Sends one piece of body; returns false when no more is wanted (client gone or
    /// Content-Length reached).
    pub(crate) fn send(&self, py: Python<'_>, data: &[u8]) -> PyResult<bool> {
        let mut st = self.lock();
        if st.gone {
            return Ok(false);
        }
        let mut data = data;
        let mut full = false;
        if let Some(cl) = st.content_length {
            let room = cl.saturating_sub(st.sent);
            if data.len() as u64 > room {
                if !st.truncated && !st.bodyless {
                    log::error!(
                        "the app sent more than its Content-Length of {cl} bytes; the rest is dropped"
                    );
                }
                st.truncated = true;
                data = &data[..room as usize];
                full = true;
            }
        }
        if data.is_empty() && (st.head_sent || !full) {
            // PEP 3333: the head goes out with the first non-empty chunk.
            return Ok(!full);
        }
        let start = st.head_to_send("produced body")?;
        st.sent += data.len() as u64;
        let payload = if st.bodyless || !st.status_allows_body {
            Vec::new()
        } else {
            data.to_vec()
        };
        let delivered = self.transmit(py, st, start, move |reply| {
            if payload.is_empty() {
                Ok(())
            } else {
                reply.send(payload)
            }
        })?;
        Ok(delivered && !full)
    }

    /// Sends `start` (the head, if it is still to go) and then what `body` sends, with the
    /// GIL released: either may block on a slow client. False when the client is gone.
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
        let mut st = self.lock();
        st.reply = Some(reply);
        st.gone |= result.is_err();
        Ok(result.is_ok())
    }

    /// The whole body at once: head (with a computed Content-Length), body and end in one
    /// message to the loop ([`Reply::respond`]).
    pub(crate) fn respond_whole(&self, mut body: Vec<u8>) {
        let mut st = self.lock();
        let (Some(mut head), Some(reply)) = (st.head.take(), st.reply.take()) else {
            return;
        };
        st.head_sent = true;
        let allows = st.status_allows_body;
        match st.content_length {
            None if allows => head.headers.push((
                "Content-Length".to_string(),
                body.len().to_string().into_bytes(),
            )),
            None => {}
            Some(cl) => {
                if body.len() as u64 > cl {
                    log::error!(
                        "the app sent {} bytes, more than its Content-Length of {cl}; the rest is dropped",
                        body.len()
                    );
                    body.truncate(cl as usize);
                } else if (body.len() as u64) < cl && allows && !st.bodyless {
                    log::error!(
                        "the app sent {} bytes of its Content-Length of {cl}; closing the connection",
                        body.len()
                    );
                    let mut reply = reply;
                    drop(st);
                    self.release();
                    if reply.start(head).is_ok() && reply.send(body).is_ok() {
                        reply.abort();
                    }
                    return;
                }
            }
        }
        drop(st);
        self.release();
        reply.respond(head, body);
    }

    /// Sends `len` bytes of `file` from `offset` with sendfile (file_wrapper with a real
    /// `fileno()`), adding Content-Length when the app gave none.
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
        let len = match st.content_length {
            Some(cl) => len.min(cl.saturating_sub(st.sent)),
            None => {
                let allows = st.status_allows_body;
                if let Some(h) = st.head.as_mut().filter(|_| allows) {
                    h.headers
                        .push(("Content-Length".to_string(), len.to_string().into_bytes()));
                    st.content_length = Some(len);
                }
                len
            }
        };
        let start = st.head_to_send("returned a file_wrapper")?;
        st.sent += len;
        let skip_body = st.bodyless || !st.status_allows_body || len == 0;
        self.transmit(py, st, start, move |reply| {
            if skip_body {
                Ok(())
            } else {
                reply.send_file(file, offset, Some(len))
            }
        })?;
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
        if !st.head_sent {
            let Some(mut head) = st.head.take() else {
                drop(st);
                let e =
                    PyRuntimeError::new_err("the app returned without calling start_response()");
                log_exception(py, &e, "app error");
                self.release();
                reply.respond(internal_error_head(), INTERNAL_ERROR_BODY.to_vec());
                return;
            };
            st.head_sent = true;
            match st.content_length {
                None if st.status_allows_body => head
                    .headers
                    .push(("Content-Length".to_string(), b"0".to_vec())),
                Some(cl) if cl > 0 && st.status_allows_body && !st.bodyless => {
                    log::error!(
                        "the app sent no body but a Content-Length of {cl}; closing the connection"
                    );
                    drop(st);
                    self.release();
                    if reply.start(head).is_ok() {
                        reply.abort();
                    }
                    return;
                }
                _ => {}
            }
            drop(st);
            self.release();
            reply.respond(head, Vec::new());
            return;
        }
        let short = match st.content_length {
            Some(cl) if st.sent < cl && st.status_allows_body && !st.bodyless => Some(cl),
            _ => None,
        };
        let sent = st.sent;
        drop(st);
        self.release();
        match short {
            Some(cl) => {
                log::error!(
                    "the app sent {sent} bytes of its Content-Length of {cl}; closing the connection"
                );
                reply.abort();
            }
            None => reply.finish(),
        }
    }

    /// The app failed with `e`: before the head went out the client gets a 500, after it
    /// the connection is closed; the traceback goes to the log either way.
    pub(crate) fn fail(&self, py: Python<'_>, e: &PyErr) {
        let mut st = self.lock();
        let reply = st.reply.take();
        let (gone, head_sent) = (st.gone, st.head_sent);
        st.head_sent = true;
        drop(st);
        if gone {
            log::info!("the client went away during the response ({})", e.value(py));
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
        self.release();
        let Some(reply) = reply else { return };
        if head_sent {
            reply.abort();
        } else {
            reply.respond(internal_error_head(), INTERNAL_ERROR_BODY.to_vec());
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
        let (status, code) = check_status(status)?;
        let checked = check_headers(headers)?;
        let mut st = this.lock();
        st.status_allows_body = status_allows_body(code);
        st.content_length = checked.content_length;
        st.head = Some(ResponseHead {
            status,
            headers: checked.headers,
        });
        drop(st);
        slf.getattr(intern!(py, "write"))
    }

    /// The `write(data)` callable PEP 3333 keeps for old frameworks: sends at once.
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
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
        if !self.send(py, b.as_bytes())? && self.is_gone() {
            return Err(PyOSError::new_err("the client connection is gone"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(py: Python<'_>, code: &std::ffi::CStr) -> PyResult<Checked> {
        let v = py.eval(code, None, None)?;
        check_headers(&v)
    }

    #[test]
    fn status_lines() {
        crate::interp::test_init();
        Python::attach(|py| {
            let s = |v: &str| check_status(&PyString::new(py, v));
            assert_eq!(s("200 OK").unwrap(), ("200 OK".to_string(), 200));
            assert_eq!(
                s("404 Not Found").unwrap(),
                ("404 Not Found".to_string(), 404)
            );
            assert_eq!(s("304 Not Modified").unwrap().1, 304);
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
            for (code, body) in [
                (200, true),
                (404, true),
                (101, false),
                (204, false),
                (304, false),
            ] {
                assert_eq!(status_allows_body(code), body, "{code}");
            }
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
            assert_eq!(ok.content_length, Some(12));
            assert_eq!(ok.headers[2].1, b"caf\xe9");
            let cases: &[(&std::ffi::CStr, &str)] = &[
                (c"[('X-Bad', 'a\\r\\nInjected: 1')]", "X-Bad"),
                (c"[('X-Nul', 'a\\x00')]", "X-Nul"),
                (c"[('Bad Name', 'v')]", "Bad Name"),
                (c"[('Connection', 'close')]", "Connection"),
                (c"[('Transfer-Encoding', 'chunked')]", "Transfer-Encoding"),
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
