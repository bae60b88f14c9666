//! `wsgi.input`: the request body, read in full by the loop before the app runs, as a
//! file-like object (PEP 3333 "Input and Error Streams", plus `seek`/`tell` since the body is
//! buffered, and iteration). Every method behaves as `io.BytesIO`'s over the same bytes, at
//! every position, including past the end (a test compares the two).

use std::borrow::Cow;
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use ruwsgi_event_loop::Body;

use crate::guard::guard;

/// How much of a file-backed body one `readline` reads at a time.
const LINE_BLOCK: usize = 8192;

struct State {
    body: Body,
    pos: u64,
}

/// `wsgi.input` over a [`Body`].
#[pyclass(module = "uwsgi", name = "Input", frozen)]
pub(crate) struct Input {
    state: Mutex<State>,
}

impl Input {
    pub(crate) fn new(body: Body) -> Input {
        Input {
            state: Mutex::new(State { body, pos: 0 }),
        }
    }

    /// The request is over: drops the body, so a temp file goes back to the worker's spill
    /// bound now, not whenever the environ dies (an app may keep it: a debug toolbar's
    /// request history). Reads from then on find an empty body.
    pub(crate) fn release(&self) {
        let mut st = self.lock();
        st.body = Body::Empty;
        st.pos = 0;
    }
}

fn to_limit(size: Option<isize>) -> Option<u64> {
    size.filter(|&s| s >= 0).map(|s| s as u64)
}

/// Reads from `file` at `at` until `buf` is full or the file ends; the bytes read.
fn fill_at(file: &std::fs::File, at: u64, buf: &mut [u8]) -> PyResult<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], at + done as u64) {
            Ok(0) => break,
            Ok(k) => done += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PyOSError::new_err(e.to_string())),
        }
    }
    Ok(done)
}

impl State {
    fn len(&self) -> u64 {
        self.body.len()
    }

    fn read_at(&self, at: u64, n: usize) -> PyResult<Vec<u8>> {
        match &self.body {
            Body::Empty => Ok(Vec::new()),
            Body::Memory(v) => {
                let start = (at as usize).min(v.len());
                let end = start.saturating_add(n).min(v.len());
                Ok(v[start..end].to_vec())
            }
            Body::File { file, .. } => {
                let mut buf = vec![0u8; n];
                let done = fill_at(file, at, &mut buf)?;
                buf.truncate(done);
                Ok(buf)
            }
        }
    }

    /// One line (through `\n`), at most `limit` bytes; borrowed from an in-memory body, so
    /// the only copy is the one into the `bytes` the app gets.
    fn readline(&mut self, limit: Option<u64>) -> PyResult<Cow<'_, [u8]>> {
        let avail = self.len().saturating_sub(self.pos);
        let max = limit.unwrap_or(avail).min(avail);
        if let Body::Memory(v) = &self.body {
            // `max` is 0 when the position is at or past the end (`avail` saturates).
            let start = (self.pos as usize).min(v.len());
            let window = &v[start..start + max as usize];
            let n = window
                .iter()
                .position(|&b| b == b'\n')
                .map_or(window.len(), |i| i + 1);
            self.pos += n as u64;
            return Ok(Cow::Borrowed(&window[..n]));
        }
        let mut line = Vec::new();
        while (line.len() as u64) < max {
            let want = (max - line.len() as u64).min(LINE_BLOCK as u64) as usize;
            let block = self.read_at(self.pos, want)?;
            if block.is_empty() {
                break;
            }
            match block.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    line.extend_from_slice(&block[..=i]);
                    self.pos += i as u64 + 1;
                    return Ok(Cow::Owned(line));
                }
                None => {
                    self.pos += block.len() as u64;
                    line.extend_from_slice(&block);
                }
            }
        }
        Ok(Cow::Owned(line))
    }
}

#[pymethods]
impl Input {
    /// `read(size=-1)`: up to `size` bytes, or all the rest.
    #[pyo3(signature = (size=None))]
    fn read<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        guard("wsgi.input.read()", || self.read_inner(py, size))
    }

    /// `readline(size=-1)`.
    #[pyo3(signature = (size=None))]
    fn readline<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        guard("wsgi.input.readline()", || {
            let mut st = self.lock();
            let line = st.readline(to_limit(size))?;
            Ok(PyBytes::new(py, &line))
        })
    }

    /// `readlines(hint=-1)`: lines until their total size reaches `hint`.
    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(
        &self,
        py: Python<'py>,
        hint: Option<isize>,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        guard("wsgi.input.readlines()", || {
            let mut st = self.lock();
            let hint = to_limit(hint).filter(|&h| h > 0);
            let mut lines = Vec::new();
            let mut total = 0u64;
            loop {
                let line = st.readline(None)?;
                if line.is_empty() {
                    break;
                }
                total += line.len() as u64;
                lines.push(PyBytes::new(py, &line));
                if hint.is_some_and(|h| total >= h) {
                    break;
                }
            }
            Ok(lines)
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        guard("wsgi.input.__next__()", || {
            let mut st = self.lock();
            let line = st.readline(None)?;
            Ok((!line.is_empty()).then(|| PyBytes::new(py, &line)))
        })
    }

    /// `seek(offset, whence=0)`, as `io.BytesIO` does it: a negative absolute position is a
    /// `ValueError`, a relative one that ends before the start stops at 0, and a position
    /// past the end is kept (reads there return nothing).
    #[pyo3(signature = (offset, whence=0))]
    fn seek(&self, offset: i64, whence: i32) -> PyResult<u64> {
        guard("wsgi.input.seek()", || {
            let mut st = self.lock();
            let base = match whence {
                0 if offset < 0 => {
                    return Err(PyValueError::new_err(format!(
                        "negative seek value {offset}"
                    )))
                }
                0 => 0i128,
                1 => st.pos as i128,
                2 => st.len() as i128,
                _ => {
                    return Err(PyValueError::new_err(format!(
                        "invalid whence ({whence}, should be 0, 1 or 2)"
                    )))
                }
            };
            let to = (base + i128::from(offset)).clamp(0, i128::from(i64::MAX));
            st.pos = to as u64;
            Ok(st.pos)
        })
    }

    fn tell(&self) -> u64 {
        self.lock().pos
    }

    fn seekable(&self) -> bool {
        true
    }

    fn readable(&self) -> bool {
        true
    }

    fn close(&self) {}
}

impl Input {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `read(size)`: from an in-memory body without an intermediate `Vec`, from a file
    /// straight into the new `bytes`.
    fn read_inner<'py>(
        &self,
        py: Python<'py>,
        size: Option<isize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut st = self.lock();
        let n = to_limit(size).unwrap_or(u64::MAX);
        if let (Body::Memory(v), pos) = (&st.body, st.pos) {
            // The common case without an intermediate Vec.
            let start = (pos as usize).min(v.len());
            let end = start
                .saturating_add(n.min(usize::MAX as u64) as usize)
                .min(v.len());
            let b = PyBytes::new(py, &v[start..end]);
            // Past the end nothing is read and the position stays (as in io.BytesIO).
            st.pos = pos.max(end as u64);
            return Ok(b);
        }
        // A file-backed body is read straight into the new bytes object (no second copy).
        let n = n.min(st.len().saturating_sub(st.pos)) as usize;
        let pos = st.pos;
        let Body::File { file, .. } = &st.body else {
            return Ok(PyBytes::new(py, b""));
        };
        let b = PyBytes::new_with(py, n, |buf| {
            if fill_at(file, pos, buf)? != n {
                return Err(PyOSError::new_err(
                    "the request body file is shorter than its length",
                ));
            }
            Ok(())
        })?;
        st.pos += n as u64;
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn check(body: Body) {
        Python::attach(|py| {
            let input = Bound::new(py, Input::new(body)).unwrap();
            let locals = pyo3::types::PyDict::new(py);
            locals.set_item("inp", input).unwrap();
            py.run(
                c"assert inp.readline() == b'line one\\n'\n\
                  assert inp.readline(4) == b'line'\n\
                  assert inp.readline() == b' two\\n'\n\
                  assert inp.tell() == 18\n\
                  assert inp.read(5) == b'three'\n\
                  assert inp.read() == b'\\nlast'\n\
                  assert inp.read() == b''\n\
                  assert inp.readline() == b''\n\
                  inp.seek(0)\n\
                  assert list(inp) == [b'line one\\n', b'line two\\n', b'three\\n', b'last']\n\
                  inp.seek(0)\n\
                  assert inp.readlines(10) == [b'line one\\n', b'line two\\n']\n\
                  assert inp.readlines() == [b'three\\n', b'last']\n\
                  inp.seek(-4, 2)\n\
                  assert inp.read(-1) == b'last'\n\
                  inp.seek(0)\n\
                  assert inp.read(None) == b'line one\\nline two\\nthree\\nlast'\n",
                None,
                Some(&locals),
            )
            .unwrap();
        });
    }

    const TEXT: &[u8] = b"line one\nline two\nthree\nlast";

    /// Runs `tests/input_positions.py`'s comparison of `wsgi.input` with `io.BytesIO` over
    /// `data`, read from `body`; asserts that no case differs. The end-to-end tests serve the
    /// same script as an app.
    fn same_as_bytesio(body: Body, data: &[u8]) {
        let script = include_str!("../tests/input_positions.py");
        Python::attach(|py| {
            let input = Bound::new(py, Input::new(body)).unwrap();
            let globals = pyo3::types::PyDict::new(py);
            py.run(
                &std::ffi::CString::new(script).unwrap(),
                Some(&globals),
                None,
            )
            .unwrap();
            let differ = globals
                .get_item("differences")
                .unwrap()
                .unwrap()
                .call1((input, PyBytes::new(py, data)))
                .unwrap();
            let differ: Vec<String> = differ.extract().unwrap();
            assert!(differ.is_empty(), "differs from io.BytesIO: {differ:#?}");
        });
    }

    #[test]
    fn every_position_reads_as_in_bytesio() {
        crate::interp::test_init();
        for data in [&b""[..], b"abc", TEXT] {
            same_as_bytesio(Body::Memory(data.to_vec()), data);
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(data).unwrap();
            let len = data.len() as u64;
            same_as_bytesio(
                Body::File {
                    file: f.into(),
                    len,
                },
                data,
            );
        }
        same_as_bytesio(Body::Empty, b"");
    }

    #[test]
    fn memory_body_reads_like_a_file() {
        crate::interp::test_init();
        check(Body::Memory(TEXT.to_vec()));
    }

    #[test]
    fn file_body_reads_like_a_file() {
        crate::interp::test_init();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(TEXT).unwrap();
        check(Body::File {
            file: f.into(),
            len: TEXT.len() as u64,
        });
    }

    #[test]
    fn empty_body() {
        crate::interp::test_init();
        Python::attach(|py| {
            let input = Bound::new(py, Input::new(Body::Empty)).unwrap();
            assert!(input
                .call_method0("read")
                .unwrap()
                .extract::<Vec<u8>>()
                .unwrap()
                .is_empty());
        });
    }

    #[test]
    fn a_released_body_reads_as_empty() {
        crate::interp::test_init();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(TEXT).unwrap();
        let body = Body::File {
            file: f.into(),
            len: TEXT.len() as u64,
        };
        Python::attach(|py| {
            let input = Bound::new(py, Input::new(body)).unwrap();
            let read = |n: usize| -> Vec<u8> {
                input.call_method1("read", (n,)).unwrap().extract().unwrap()
            };
            assert_eq!(read(4), &TEXT[..4]);
            input.get().release();
            assert!(read(4).is_empty());
        });
    }
}
