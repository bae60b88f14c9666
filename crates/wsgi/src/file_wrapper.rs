//! `wsgi.file_wrapper` (PEP 3333 "Optional Platform-Specific File Handling"): an iterable
//! over a file-like object; when the object has a real `fileno()`, the response is sent with
//! `sendfile(2)` by the loop instead of being read into Python.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::guard::guard;

/// `environ["wsgi.file_wrapper"](filelike, blksize=8192)`.
#[pyclass(module = "uwsgi", name = "FileWrapper", frozen)]
pub(crate) struct FileWrapper {
    pub(crate) filelike: Py<PyAny>,
    pub(crate) blksize: usize,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize=8192))]
    fn new(filelike: Py<PyAny>, blksize: usize) -> FileWrapper {
        FileWrapper {
            filelike,
            blksize: blksize.max(1),
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        guard("wsgi.file_wrapper.__next__()", || {
            let data = self
                .filelike
                .bind(py)
                .call_method1(pyo3::intern!(py, "read"), (self.blksize,))?;
            let empty = match data.cast::<PyBytes>() {
                Ok(b) => b.as_bytes().is_empty(),
                Err(_) => data.len()? == 0,
            };
            Ok((!empty).then_some(data))
        })
    }

    /// Closes the wrapped object, as PEP 3333 asks of a wrapper's `close`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        guard("wsgi.file_wrapper.close()", || {
            let f = self.filelike.bind(py);
            if f.hasattr(pyo3::intern!(py, "close"))? {
                f.call_method0(pyo3::intern!(py, "close"))?;
            }
            Ok(())
        })
    }
}
