//! The interpreter's life in a ruwsgi process: start it once on the main thread, keep it
//! consistent across `fork`, and tell the master which threads the app started.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once, OnceLock};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

use crate::error::Error;
use crate::options::Options;
use crate::process_facts::interpreter_up;

/// Python code for the slow, rare paths (path setup, app loading): clearer in Python and
/// never on the request path.
const HELPER: &str = r#"
import glob, importlib, importlib.util, os, site, sys, threading, types

def setup(pythonpath, home, argv):
    sys.argv = list(argv) or ["ruwsgi"]
    front = []
    if home:
        # A venv's site-packages (and its .pth files) go before the base install's, as the
        # venv's own python would order them. PYTHONHOME is not used: pointing it at a venv
        # aborts the interpreter (a venv has no standard library).
        ver = "python%d.%d" % sys.version_info[:2]
        dirs = glob.glob(os.path.join(home, "lib", ver, "site-packages"))
        if not dirs:
            dirs = glob.glob(os.path.join(home, "lib", "python*", "site-packages"))
            if dirs:
                sys.stderr.write(
                    "ruwsgi: home %r was made for another Python than %s (%s): its compiled "
                    "packages may not import\n" % (home, ver, ", ".join(dirs))
                )
        if not dirs:
            raise RuntimeError("home %r has no lib/python*/site-packages: is it a virtualenv?" % home)
        before = list(sys.path)
        for d in dirs:
            site.addsitedir(d)
        front += [p for p in sys.path if p not in before]
        sys.path[:] = [p for p in sys.path if p in before]
        os.environ.setdefault("VIRTUAL_ENV", home)
    paths = []
    for p in pythonpath:
        found = sorted(glob.glob(p)) if glob.has_magic(p) else [p]
        paths += found
    sys.path[:0] = paths + front

def alias_module(name, target):
    """pymodule-alias NAME=TARGET, as uWSGI reads it: a TARGET with a "/" is a file
    run as the module NAME (a directory: its __init__.py, as a package), any other is the
    module of that name; either way it becomes sys.modules[NAME]."""
    if "/" not in target:
        # uWSGI has "." on sys.path by then; ruwsgi adds the cwd when it loads the apps.
        cwd = os.getcwd()
        added = cwd not in sys.path
        if added:
            sys.path.insert(0, cwd)
        try:
            sys.modules[name] = importlib.import_module(target)
        finally:
            if added and cwd in sys.path:
                sys.path.remove(cwd)
        return
    package = os.path.isdir(target)
    source = os.path.join(target, "__init__.py") if package else target
    with open(source, "rb") as f:
        code = compile(f.read(), source, "exec")
    module = types.ModuleType(name)
    module.__file__ = source
    if package:
        module.__path__ = [target]
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise

def tracebacker_report():
    import threading, traceback
    names = {t.ident: t.name for t in threading.enumerate()}
    out = ["*** uWSGI Python tracebacker output ***\n\n"]
    for ident, frame in sys._current_frames().items():
        name = names.get(ident, "<UnnamedPythonThread>")
        for fs in traceback.extract_stack(frame):
            line = "thread_id = %s filename = %s lineno = %s function = %s" % (
                name, fs.filename, fs.lineno, fs.name)
            if fs.line:
                line += " line = " + fs.line
            out.append(line + "\n")
        out.append("\n")
    return "".join(out)

def add_cwd():
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)

def import_module(name):
    importlib.import_module(name)

def load_file(path, callable):
    name = "uwsgi_file_" + "".join(c if c.isalnum() else "_" for c in path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise ImportError("cannot load %r as a python file" % path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return get_callable(mod, callable, path)

def load_module(spec, callable):
    factory = False
    if ":" in spec:
        spec, callable = spec.split(":", 1)
    if callable.endswith("()"):
        callable, factory = callable[:-2], True
    mod = importlib.import_module(spec)
    app = get_callable(mod, callable, spec)
    if factory:
        app = app()
    return app

def get_callable(mod, name, where):
    obj = mod
    for part in name.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AttributeError("%s has no callable named %r (set --callable)" % (where, name)) from None
    if not callable(obj):
        raise TypeError("%s.%s is not callable" % (where, name))
    return obj

def search_path():
    return list(sys.path)

def threads():
    return [t.name for t in threading.enumerate() if t is not threading.main_thread()]

class BundledFinder:
    """Imports the modules ruwsgi carries (uwsgidecorators) when nothing on sys.path has
    them: it is last on sys.meta_path, so an app's own copy wins, as under uWSGI."""

    def __init__(self, modules):
        self.modules = modules

    def find_spec(self, name, path=None, target=None):
        if name not in self.modules:
            return None
        return importlib.util.spec_from_loader(name, self, origin="ruwsgi:" + name)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        name = module.__name__
        exec(compile(self.modules[name], "<ruwsgi>/%s.py" % name, "exec"), module.__dict__)

def bundle(modules):
    sys.meta_path.append(BundledFinder(dict(modules)))
"#;

/// Our `uwsgidecorators` module (uWSGI's decorators over the `uwsgi` module's signal
/// framework, mules and harakiri), importable as uWSGI installs it.
const UWSGIDECORATORS: &str = include_str!("uwsgidecorators.py");

static INIT: Once = Once::new();
/// `py-auto-reload-ignore`: the modules [`module_files`] leaves out, set once at start.
static AUTORELOAD_IGNORE: OnceLock<Vec<String>> = OnceLock::new();
static HELPER_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The GIL state taken in [`before_fork`], given back in `after_fork_*`.
static FORK_GIL: Mutex<Option<pyo3::ffi::PyGILState_STATE>> = Mutex::new(None);

/// Starts the interpreter: applies `env`/`unenv`, registers the `uwsgi` module, runs
/// `Python::initialize()` (with the program name `py-programname` gives, if any), sets up
/// `sys.path` (`home`, `pythonpath`), `sys.argv` (`pyargv`) and `sys.executable`
/// (`py-executable`), then makes the `pymodule-alias` modules.
///
/// Call it once, on the main thread, while the process is still single-threaded (it changes
/// the environment); later calls do nothing.
pub fn initialize(opts: &Options) -> Result<(), Error> {
    let mut result = Ok(());
    INIT.call_once(|| result = start(opts));
    result
}

fn start(opts: &Options) -> Result<(), Error> {
    let aliases = module_aliases(&opts.pymodule_alias)?;
    let _ = AUTORELOAD_IGNORE.set(opts.py_auto_reload_ignore.clone());
    for kv in &opts.env {
        match kv.split_once('=') {
            // The process is single-threaded here (see the doc of `initialize`).
            Some((k, v)) if !k.is_empty() => std::env::set_var(k, v),
            _ => log::warn!("env {kv:?} is not KEY=VALUE; ignored"),
        }
    }
    for k in &opts.unenv {
        std::env::remove_var(k);
    }
    let home = opts
        .home
        .clone()
        .or_else(venv_of_binary)
        .map(|h| std::path::absolute(&h).unwrap_or(h));
    let program = match &opts.py_programname {
        Some(name) => name.clone(),
        None => program_name(home.as_deref()),
    };
    set_program_name(&program);
    pyo3::append_to_inittab!(uwsgi_module_init);
    Python::initialize();
    crate::process_facts::set_interpreter_up();
    Python::attach(|py| -> PyResult<()> {
        let code = CString::new(HELPER).expect("the helper has no NUL");
        let m = PyModule::from_code(py, &code, c"ruwsgi_loader.py", c"ruwsgi_loader")?;
        let home = home.map(|h| h.to_string_lossy().into_owned());
        let argv = match &opts.pyargv {
            Some(words) => pyargv(words),
            None => std::env::args().collect(),
        };
        m.getattr("setup")?
            .call1((opts.pythonpath.clone(), home, argv))?;
        if let Some(executable) = &opts.py_executable {
            py.import("sys")?.setattr("executable", executable)?;
        }
        m.getattr("bundle")?
            .call1((vec![("uwsgidecorators", UWSGIDECORATORS)],))?;
        crate::uwsgi_module::configure(py, opts)?;
        for (name, target) in &aliases {
            m.getattr("alias_module")?
                .call1((name, target))
                .map_err(|e| {
                    let err = pyo3::exceptions::PyRuntimeError::new_err(format!(
                        "pymodule-alias {name}={target} failed: {e}"
                    ));
                    err.set_cause(py, Some(e));
                    err
                })?;
            log::info!("mapped virtual pymodule \"{name}\" to real pymodule \"{target}\"");
        }
        let _ = HELPER_MODULE.set(py, m.unbind());
        Ok(())
    })
    .map_err(|e| {
        Python::attach(|py| crate::traceback::log_exception(py, &e, "cannot set up python"));
        Error::python(e)
    })
}

use crate::uwsgi_module::uwsgi_module as uwsgi_module_init;

/// `sys.argv` under `pyargv`: `uwsgi`, as uWSGI's first word, then the words of `words`
/// split on spaces and tabs, empty ones left out (as uWSGI splits it; no quoting).
fn pyargv(words: &str) -> Vec<String> {
    std::iter::once("uwsgi")
        .chain(words.split([' ', '\t']).filter(|w| !w.is_empty()))
        .map(str::to_string)
        .collect()
}

/// The `pymodule-alias` values as (NAME, TARGET) pairs, split at the first `=`; a value
/// without a NAME, a `=` or a TARGET is a configuration error naming it.
fn module_aliases(values: &[String]) -> Result<Vec<(String, String)>, Error> {
    values
        .iter()
        .map(|value| match value.split_once('=') {
            Some((name, target)) if !name.is_empty() && !target.is_empty() => {
                Ok((name.to_string(), target.to_string()))
            }
            _ => Err(Error::new(crate::error::ErrorKind::Config(format!(
                "pymodule-alias {value:?} is not NAME=TARGET (a module name, or a file path \
                 with a /)"
            )))),
        })
        .collect()
}

pub(crate) fn helper(py: Python<'_>) -> Result<&Bound<'_, PyModule>, Error> {
    HELPER_MODULE
        .get(py)
        .map(|m| m.bind(py))
        .ok_or_else(|| Error::python("the interpreter is not initialized (call initialize first)"))
}

/// The program name the interpreter starts with. Python derives `sys.executable`,
/// `sys.prefix` and where its standard library lives from it; without one it searches
/// `PATH` for `python3`, and under systemd's bare `PATH` that finds the system's python3,
/// whose standard library may belong to another build than the libpython ruwsgi loaded.
///
/// - `home/bin/python` when `home` is a virtualenv made for this Python version, as uWSGI
///   does: `sys.prefix` is the venv and `sys.executable` its python, so `multiprocessing`
///   and `subprocess.run([sys.executable, ...])` start the venv's interpreter.
/// - Otherwise the python3 ruwsgi was built against (resolved at build time), so the
///   standard library is always the one of the libpython this binary loads.
fn program_name(home: Option<&Path>) -> PathBuf {
    let built = PathBuf::from(env!("RUWSGI_BUILD_PYTHON"));
    let Some(home) = home else { return built };
    let version = env!("RUWSGI_BUILD_PYTHON_VERSION");
    let python = home.join("bin/python");
    if python.exists() && home.join(format!("lib/python{version}")).is_dir() {
        python
    } else {
        built
    }
}

/// Hands `path` to `Py_SetProgramName`. Deprecated since 3.11 in favour of `PyConfig`, but
/// present on every Python ruwsgi supports, and it keeps the legacy configuration
/// `Py_InitializeEx` (pyo3's `Python::initialize`) has always given ruwsgi.
fn set_program_name(path: &Path) {
    let Ok(bytes) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return;
    };
    // SAFETY: both functions may be called before the interpreter is initialized. The
    // decoded string is never freed: Python keeps the pointer for the process's life.
    unsafe {
        let wide = pyo3::ffi::Py_DecodeLocale(bytes.as_ptr(), std::ptr::null_mut());
        if !wide.is_null() {
            #[allow(deprecated)]
            pyo3::ffi::Py_SetProgramName(wide);
        }
    }
}

/// The virtualenv this binary is installed in, if any: `pip install ruwsgi` puts it in the
/// venv's `bin/`, below the venv's `pyvenv.cfg`. Used as `home` when none is given, so
/// `venv/bin/ruwsgi` serves from its venv whether it is activated or not (systemd never
/// activates one), as `venv/bin/python` would.
fn venv_of_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let venv = exe.parent()?.parent()?;
    if !venv.join("pyvenv.cfg").is_file() {
        return None;
    }
    log::info!(
        "serving from the virtualenv {} (the one ruwsgi is installed in; home sets another)",
        venv.display()
    );
    Some(venv.to_path_buf())
}

/// Call in the master right before `fork(2)`: takes the GIL and runs `PyOS_BeforeFork`, so
/// no other thread holds an interpreter lock across the fork.
pub fn before_fork() {
    if !interpreter_up() {
        return;
    }
    let mut slot = FORK_GIL.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: the interpreter is initialized; the GIL state is released by after_fork_*
    // on this same thread, which the fork sequence guarantees.
    unsafe {
        *slot = Some(pyo3::ffi::PyGILState_Ensure());
        pyo3::ffi::PyOS_BeforeFork();
    }
}

/// Call in the master right after `fork(2)` (pairs with [`before_fork`]).
pub fn after_fork_parent() {
    let state = FORK_GIL.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(g) = state {
        // SAFETY: paired with before_fork on this thread, which holds the GIL.
        unsafe {
            pyo3::ffi::PyOS_AfterFork_Parent();
            pyo3::ffi::PyGILState_Release(g);
        }
    }
}

/// Call in the new worker or mule right after `fork(2)` (pairs with [`before_fork`]). The
/// app's `uwsgi.post_fork_hook` runs later, once the process knows who it is
/// ([`run_post_fork_hook`](crate::run_post_fork_hook)).
pub fn after_fork_child() {
    let state = FORK_GIL.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(g) = state {
        // SAFETY: paired with before_fork; the child's only thread holds the GIL.
        unsafe {
            pyo3::ffi::PyOS_AfterFork_Child();
            pyo3::ffi::PyGILState_Release(g);
        }
    }
}

/// Names of the Python threads other than the main one (a preloaded app's scheduler or
/// agent threads, which do not survive `fork`).
pub fn app_threads() -> Vec<String> {
    if !interpreter_up() {
        return Vec::new();
    }
    Python::attach(|py| {
        helper(py)
            .ok()
            .and_then(|h| h.getattr("threads").ok())
            .and_then(|f| f.call0().ok())
            .and_then(|v| v.extract().ok())
            .unwrap_or_default()
    })
}

/// The files of the modules now in `sys.modules` (their `__file__`), for py-autoreload,
/// but for the modules `py-auto-reload-ignore` names (by their key in `sys.modules`, as
/// uWSGI compares them): a snapshot of the dict is taken first, and each `__file__` is
/// read from the module's `__dict__`, so no module code (a PEP 562 `__getattr__`) runs.
/// Modules imported lazily (Django's views, imported by `urls.py` at the first request)
/// are there once imported.
pub fn module_files() -> Vec<std::path::PathBuf> {
    if !interpreter_up() {
        return Vec::new();
    }
    let ignore = AUTORELOAD_IGNORE.get().map_or(&[][..], Vec::as_slice);
    Python::attach(|py| module_files_but(py, ignore))
}

/// [`module_files`] without the modules whose `sys.modules` key is in `ignore`.
fn module_files_but(py: Python<'_>, ignore: &[String]) -> Vec<PathBuf> {
    let snapshot = py.import("builtins").and_then(|b| b.getattr("list"));
    let Ok(modules) = py
        .import("sys")
        .and_then(|sys| sys.getattr("modules"))
        .and_then(|m| m.call_method0("items"))
        .and_then(|v| snapshot?.call1((v,)))
    else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for item in modules.try_iter().into_iter().flatten().flatten() {
        let Ok((name, module)) = item.extract::<(String, Bound<'_, PyAny>)>() else {
            continue;
        };
        if ignore.contains(&name) {
            continue;
        }
        let file = module
            .getattr("__dict__")
            .and_then(|d| d.get_item("__file__"))
            .and_then(|f| f.extract::<String>());
        if let Ok(file) = file {
            files.push(PathBuf::from(file));
        }
    }
    files
}

/// Starts the interpreter once for the unit tests of every module.
#[cfg(test)]
pub(crate) fn test_init() {
    initialize(&Options {
        opt: vec![
            ("master".into(), None),
            ("socket".into(), Some("/tmp/a.sock".into())),
            ("socket".into(), Some("/tmp/b.sock".into())),
        ],
        ..Options::default()
    })
    .expect("python starts");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uwsgi_module_is_importable_with_its_opt() {
        test_init();
        Python::attach(|py| {
            let m = py.import("uwsgi").unwrap();
            let ok: bool = py
                .eval(
                    c"__import__('uwsgi').opt == {'master': True, 'socket': [b'/tmp/a.sock', b'/tmp/b.sock'], 'enable-threads': True}",
                    None,
                    None,
                )
                .unwrap()
                .extract()
                .unwrap();
            assert!(ok, "uwsgi.opt: {}", m.getattr("opt").unwrap());
            let version: Vec<u8> = m.getattr("version").unwrap().extract().unwrap();
            assert_eq!(version, b"2.0.28");
            assert_eq!(
                m.getattr("worker_id")
                    .unwrap()
                    .call0()
                    .unwrap()
                    .extract::<usize>()
                    .unwrap(),
                0
            );
            assert_eq!(m.getattr("numproc").unwrap().extract::<usize>().unwrap(), 1);
        });
    }

    #[test]
    fn pyargv_splits_on_spaces_and_tabs_after_uwsgi() {
        assert_eq!(pyargv(" a  b\tc "), ["uwsgi", "a", "b", "c"]);
        assert_eq!(pyargv(""), ["uwsgi"]);
    }

    #[test]
    fn module_aliases_split_at_the_first_equals_sign() {
        let values = ["a=b".to_string(), "c=./d=e.py".to_string()];
        let pairs = module_aliases(&values).unwrap();
        assert_eq!(pairs[1], ("c".to_string(), "./d=e.py".to_string()));
        for bad in ["ab", "=b", "a="] {
            let err = module_aliases(&[bad.to_string()]).unwrap_err().to_string();
            assert!(err.contains(&format!("pymodule-alias {bad:?}")), "{err}");
        }
    }

    #[test]
    fn module_files_leave_out_the_ignored_modules() {
        test_init();
        let files = Python::attach(|py| {
            py.import("json").unwrap();
            module_files_but(py, &["json".to_string()])
        });
        assert!(
            !files.iter().any(|f| f.ends_with("json/__init__.py")),
            "{files:?}"
        );
        assert!(files.iter().any(|f| f.ends_with("json/decoder.py")));
    }

    #[test]
    fn module_files_name_the_imported_modules() {
        test_init();
        Python::attach(|py| py.import("json").map(drop)).unwrap();
        let files = module_files();
        assert!(
            files.iter().any(|f| f.ends_with("json/__init__.py")),
            "{files:?}"
        );
    }

    #[test]
    fn app_threads_names_threads_the_app_started() {
        test_init();
        Python::attach(|py| {
            py.run(
                c"import threading, time\n\
                  ev = threading.Event()\n\
                  t = threading.Thread(target=ev.wait, name='scheduler-test', daemon=True)\n\
                  t.start()\n\
                  import builtins; builtins._ruwsgi_test_ev = ev\n",
                None,
                None,
            )
            .unwrap();
        });
        assert!(app_threads().contains(&"scheduler-test".to_string()));
        Python::attach(|py| {
            py.run(
                c"import builtins; builtins._ruwsgi_test_ev.set()",
                None,
                None,
            )
            .unwrap();
        });
    }
}
