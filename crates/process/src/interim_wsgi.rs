//! INTERIM: a minimal WSGI service on the interim loop, so the process manager's Python
//! paths (preload vs lazy-apps, fork hooks, uid drop, the seed's Django project) can be
//! exercised before `ruwsgi-wsgi` lands. It is replaced by the WSGI bridge on the event
//! loop; nothing else should grow on it.

use std::ffi::CString;
use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyModule};

use crate::bind::Bound;
use crate::interim::{self, InterimRequest, Respond};
use crate::service::{Service, ServiceError, ServiceErrorKind, Serving, WorkerContext};

/// What to load, as the wsgi options say it.
#[derive(Debug, Clone, Default)]
pub struct InterimWsgiOptions {
    /// `module` (`pkg.mod` or `pkg.mod:callable`).
    pub module: Option<String>,
    /// `wsgi-file`.
    pub wsgi_file: Option<PathBuf>,
    /// `callable` (default `application`).
    pub callable: Option<String>,
    /// `pythonpath` entries, prepended to `sys.path`.
    pub pythonpath: Vec<String>,
    /// `home`: a virtualenv whose site-packages become importable.
    pub home: Option<PathBuf>,
    /// `env` entries (`KEY=VALUE`), set before Python starts.
    pub env: Vec<String>,
}

/// INTERIM WSGI service (see the module doc).
#[derive(Debug)]
pub struct InterimWsgi {
    opts: InterimWsgiOptions,
    helper: Option<Py<PyModule>>,
    app: Option<Py<PyAny>>,
    gil: Option<pyo3::ffi::PyGILState_STATE>,
}

impl InterimWsgi {
    /// A service that will load what `opts` names.
    pub fn new(opts: InterimWsgiOptions) -> InterimWsgi {
        InterimWsgi {
            opts,
            helper: None,
            app: None,
            gil: None,
        }
    }
}

const HELPER: &str = r#"
import io, sys, os, threading, importlib.util, traceback, site, glob

def setup(paths, home):
    sys.path.insert(0, os.getcwd())
    for p in reversed(paths):
        sys.path.insert(0, p)
    if home:
        for sp in glob.glob(os.path.join(home, "lib", "python*", "site-packages")):
            site.addsitedir(sp)

def load(module, wsgi_file, callable):
    if wsgi_file:
        name = "uwsgi_file_" + "".join(c if c.isalnum() else "_" for c in wsgi_file)
        spec = importlib.util.spec_from_file_location(name, wsgi_file)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    else:
        if ":" in module:
            module, callable = module.split(":", 1)
        mod = importlib.import_module(module)
    return getattr(mod, callable or "application")

def threads():
    return [t.name for t in threading.enumerate() if t is not threading.main_thread()]

def call(app, environ, body):
    environ["wsgi.input"] = io.BytesIO(body)
    environ["wsgi.errors"] = sys.stderr
    environ["wsgi.version"] = (1, 0)
    environ["wsgi.url_scheme"] = "http"
    environ["wsgi.multithread"] = False
    environ["wsgi.multiprocess"] = True
    environ["wsgi.run_once"] = False
    environ.setdefault("SCRIPT_NAME", "")
    state = {}
    out = []
    def start_response(status, headers, exc_info=None):
        state["status"] = status
        state["headers"] = headers
        return out.append
    try:
        it = app(environ, start_response)
        try:
            for chunk in it:
                out.append(chunk)
        finally:
            if hasattr(it, "close"):
                it.close()
        status, headers = state["status"], state["headers"]
    except Exception:
        traceback.print_exc()
        status, headers, out = "500 Internal Server Error", [("Content-Type", "text/plain")], [b"Internal Server Error"]
    head = "HTTP/1.1 %s\r\n" % status
    for k, v in headers:
        head += "%s: %s\r\n" % (k, v)
    head += "Connection: close\r\n\r\n"
    sys.stderr.flush()
    return head.encode("latin-1") + b"".join(out)
"#;

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::new(ServiceErrorKind::Internal, e.to_string())
}

impl Service for InterimWsgi {
    fn initialize(&mut self, _numproc: usize) -> Result<(), ServiceError> {
        for kv in &self.opts.env {
            if let Some((k, v)) = kv.split_once('=') {
                // The master is still single-threaded here: nothing reads the environment
                // concurrently.
                std::env::set_var(k, v);
            }
        }
        Python::initialize();
        let helper = Python::attach(|py| -> PyResult<Py<PyModule>> {
            let code = CString::new(HELPER).expect("no NUL in the helper");
            let m = PyModule::from_code(py, &code, c"ruwsgi_interim.py", c"ruwsgi_interim")?;
            let home = self
                .opts
                .home
                .as_ref()
                .map(|h| h.to_string_lossy().into_owned());
            m.getattr("setup")?
                .call1((self.opts.pythonpath.clone(), home))?;
            Ok(m.unbind())
        })
        .map_err(internal)?;
        self.helper = Some(helper);
        Ok(())
    }

    fn load(&mut self) -> Result<(), ServiceError> {
        let helper = self
            .helper
            .as_ref()
            .ok_or_else(|| internal("python not initialized"))?;
        let app = Python::attach(|py| -> PyResult<Py<PyAny>> {
            let file = self
                .opts
                .wsgi_file
                .as_ref()
                .map(|f| f.to_string_lossy().into_owned());
            let app = helper.bind(py).getattr("load")?.call1((
                self.opts.module.clone(),
                file,
                self.opts.callable.clone(),
            ));
            match app {
                Ok(a) => Ok(a.unbind()),
                Err(e) => {
                    e.print(py);
                    Err(e)
                }
            }
        })
        .map_err(|e| ServiceError::new(ServiceErrorKind::AppLoad, e.to_string()))?;
        self.app = Some(app);
        Ok(())
    }

    fn before_fork(&mut self) {
        if self.helper.is_some() {
            // PyOS_BeforeFork and the fork itself must happen with the GIL held.
            // SAFETY: Python is initialized; the GIL state is released in after_fork_*.
            unsafe {
                self.gil = Some(pyo3::ffi::PyGILState_Ensure());
                pyo3::ffi::PyOS_BeforeFork();
            }
        }
    }

    fn after_fork_parent(&mut self) {
        if let Some(g) = self.gil.take() {
            // SAFETY: paired with before_fork on this thread.
            unsafe {
                pyo3::ffi::PyOS_AfterFork_Parent();
                pyo3::ffi::PyGILState_Release(g);
            }
        }
    }

    fn after_fork_child(&mut self) {
        if let Some(g) = self.gil.take() {
            // SAFETY: paired with before_fork; the child's only thread holds the GIL.
            unsafe {
                pyo3::ffi::PyOS_AfterFork_Child();
                pyo3::ffi::PyGILState_Release(g);
            }
        }
    }

    fn app_threads(&self) -> Vec<String> {
        let Some(helper) = self.helper.as_ref() else {
            return Vec::new();
        };
        Python::attach(|py| {
            helper
                .bind(py)
                .getattr("threads")
                .and_then(|f| f.call0())
                .and_then(|v| v.extract())
        })
        .unwrap_or_default()
    }

    fn serve(
        &mut self,
        worker: &WorkerContext,
        sockets: &[Bound],
    ) -> Result<Box<dyn Serving>, ServiceError> {
        let helper = self
            .helper
            .as_ref()
            .ok_or_else(|| internal("python not initialized"))?;
        let (call, app) = Python::attach(|py| -> PyResult<_> {
            let call = helper.bind(py).getattr("call")?.unbind();
            Ok((call, self.app.as_ref().map(|a| a.clone_ref(py))))
        })
        .map_err(internal)?;
        interim::build(worker, sockets, PyResponder { call, app })
    }
}

struct PyResponder {
    call: Py<PyAny>,
    app: Option<Py<PyAny>>,
}

const NO_APP: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 21\r\nConnection: close\r\n\r\nInternal Server Error";

impl Respond for PyResponder {
    fn respond(&mut self, req: InterimRequest) -> Vec<u8> {
        let Some(app) = self.app.as_ref() else {
            return NO_APP.to_vec();
        };
        Python::attach(|py| -> PyResult<Vec<u8>> {
            let environ = PyDict::new(py);
            for (k, v) in &req.vars {
                environ.set_item(k, v)?;
            }
            let body = PyBytes::new(py, &req.body);
            let out = self.call.bind(py).call1((app.bind(py), environ, body))?;
            out.extract::<Vec<u8>>()
        })
        .unwrap_or_else(|e| {
            log::error!("interim wsgi: {e}");
            NO_APP.to_vec()
        })
    }
}
