//! [`Options`]: what this crate loads and how, as plain values. The field names are uWSGI's
//! option names (serde, kebab-case): the cli extracts the struct from the configuration
//! through figment. `numproc` and `opt` are no options of their own: serde skips them, the
//! service sets `numproc` per process and the cli fills `opt` from every option given.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

/// What to load and how to serve it. Every field mirrors a uWSGI option of the same name.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Options {
    /// `module`: `pkg.mod`, `pkg.mod:callable` or `pkg.mod:factory()`.
    pub module: Option<String>,
    /// `wsgi-file` (also a bare `app.py` argument).
    pub wsgi_file: Option<PathBuf>,
    /// `callable`: the name of the WSGI callable in the module (default `application`).
    pub callable: Option<String>,
    /// `chdir2`: the directory to change to right before loading the apps.
    pub chdir2: Option<PathBuf>,
    /// `pythonpath` entries (globs allowed), prepended to `sys.path` in order.
    pub pythonpath: Vec<String>,
    /// `env` entries, `KEY=VALUE`, set before the interpreter starts.
    pub env: Vec<String>,
    /// `unenv` names, removed from the environment before the interpreter starts.
    pub unenv: Vec<String>,
    /// `home` / `virtualenv`: a `python -m venv` directory whose site-packages become
    /// importable.
    pub home: Option<PathBuf>,
    /// `mount` entries, `/prefix=app` where app is a file path or a module spec.
    #[serde(rename = "mount")]
    pub mounts: Vec<String>,
    /// `manage-script-name`: pick the mounted app by the longest prefix of PATH_INFO and
    /// move that prefix to SCRIPT_NAME.
    pub manage_script_name: bool,
    /// `import` entries: modules imported before the apps load.
    #[serde(rename = "import")]
    pub imports: Vec<String>,
    /// `threads`: Python threads per worker (at least 1).
    pub threads: usize,
    /// Whether `wsgi.file_wrapper` may use `sendfile`: the opposite of
    /// `wsgi-disable-file-wrapper`.
    #[serde(rename = "wsgi-disable-file-wrapper", deserialize_with = "negated")]
    pub file_wrapper: bool,
    /// `buffer-size` (exposed as `uwsgi.buffer_size`).
    pub buffer_size: usize,
    /// `disable-write-exception`: `write()` to a client that is gone returns as if it had
    /// sent, instead of raising `OSError` (the app then runs to its end).
    pub disable_write_exception: bool,
    /// `ignore-write-errors`: a client gone before or during its response is not logged.
    pub ignore_write_errors: bool,
    /// `no-default-app`: a request whose mount (SCRIPT_NAME, or the `manage-script-name`
    /// prefix) is no app's gets a 500 instead of the default app.
    pub no_default_app: bool,
    /// `py-tracebacker PREFIX`: each worker answers on the unix socket `PREFIX<id>` with
    /// its threads' Python stacks ([`crate::start_tracebacker`]).
    pub py_tracebacker: Option<String>,
    /// `vhost`: virtual hosting: a request's app is the one mounted at `HOST|SCRIPT_NAME`
    /// (`mount = example.com|=site.py`), `HOST` being `HTTP_HOST`, else `SERVER_NAME`.
    pub vhost: bool,
    /// `catch-exceptions`: an app error before the response head is answered with its
    /// traceback as the 500's body (development only: it shows code to the client).
    pub catch_exceptions: bool,
    /// `py-autoreload N`: every N seconds each worker looks at the files of the modules in
    /// its `sys.modules` ([`crate::module_files`]) and asks for a reload when one changed
    /// (the process manager's `WsgiService` runs the look; 0 or absent: off).
    pub py_autoreload: Option<u64>,
    /// `py-auto-reload-ignore` entries: modules, by their name in `sys.modules`, whose files
    /// the py-autoreload look skips ([`crate::module_files`]).
    pub py_auto_reload_ignore: Vec<String>,
    /// `pyargv "a b c"`: `sys.argv` becomes `["uwsgi", "a", "b", "c"]`, the words split on
    /// spaces and tabs, as uWSGI's; unset: the command line ruwsgi was started with.
    pub pyargv: Option<String>,
    /// `py-executable` / `py-sys-executable`: the value `sys.executable` is set to once the
    /// interpreter is up.
    pub py_executable: Option<String>,
    /// `py-programname` / `py-program-name`: the program name the interpreter starts with
    /// (`Py_SetProgramName`), instead of the one ruwsgi picks (`home`'s python or the python
    /// ruwsgi was built against): Python derives `sys.prefix`, its standard library and
    /// `sys.executable` from it.
    pub py_programname: Option<PathBuf>,
    /// `pymodule-alias NAME=TARGET` entries: `sys.modules[NAME]` becomes the module TARGET
    /// (a module name) or the module run from the file TARGET (a path: it has a `/`; a
    /// directory is a package), before any app is imported.
    pub pymodule_alias: Vec<String>,
    /// `wsgi-env-behaviour` (`cheat` or `holy`, anything else is refused): ruwsgi always
    /// builds a new environ for each request, uWSGI's `holy`.
    #[serde(deserialize_with = "env_behaviour")]
    pub wsgi_env_behaviour: Option<String>,
    /// `reload-on-exception-type` entries: a worker recycles itself after a request whose
    /// app raised an exception of one of these types (`module.Name`, or `Name` alone)
    /// ([`crate::ExceptionRecycle`]).
    pub reload_on_exception_type: Vec<String>,
    /// `reload-on-exception-value` entries: the same, for an exception whose `str()` is one
    /// of these.
    pub reload_on_exception_value: Vec<String>,
    /// `reload-on-exception-repr` entries: the same, for an exception written as
    /// `module.Name: str(exception)`.
    pub reload_on_exception_repr: Vec<String>,
    /// `thread-stacksize N`: the stack size, in KiB, of the Python threads that run the
    /// requests (unset or 0: Rust's default of 2 MiB).
    pub thread_stacksize: Option<u64>,
    /// The number of worker processes (`uwsgi.numproc`, `wsgi.multiprocess`); not read from
    /// the configuration: the service sets it (1 until then).
    #[serde(skip, default = "one")]
    pub numproc: usize,
    /// The options as given, for `uwsgi.opt`: name and every value (`None` for a bare
    /// flag, which Python sees as `True`). Not read by serde: the cli fills it.
    #[serde(skip)]
    pub opt: Vec<(String, Option<String>)>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            module: None,
            wsgi_file: None,
            callable: Some("application".to_string()),
            chdir2: None,
            pythonpath: Vec::new(),
            env: Vec::new(),
            unenv: Vec::new(),
            home: None,
            mounts: Vec::new(),
            manage_script_name: false,
            imports: Vec::new(),
            threads: 1,
            file_wrapper: true,
            buffer_size: 8192,
            disable_write_exception: false,
            ignore_write_errors: false,
            catch_exceptions: false,
            no_default_app: false,
            vhost: false,
            py_tracebacker: None,
            py_autoreload: None,
            py_auto_reload_ignore: Vec::new(),
            pyargv: None,
            py_executable: None,
            py_programname: None,
            pymodule_alias: Vec::new(),
            wsgi_env_behaviour: None,
            reload_on_exception_type: Vec::new(),
            reload_on_exception_value: Vec::new(),
            reload_on_exception_repr: Vec::new(),
            thread_stacksize: None,
            numproc: 1,
            opt: Vec::new(),
        }
    }
}

fn one() -> usize {
    1
}

/// A flag read the other way round (`wsgi-disable-file-wrapper` → `file_wrapper`).
fn negated<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    bool::deserialize(d).map(|b| !b)
}

/// `wsgi-env-behaviour`: `cheat` or `holy` (uWSGI's two strategies); any other value is
/// refused, naming the option and the value.
fn env_behaviour<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    match value.as_deref() {
        None | Some("cheat") | Some("holy") => Ok(value),
        Some(other) => Err(serde::de::Error::custom(format!(
            "wsgi-env-behaviour {other:?} is neither `cheat` nor `holy`"
        ))),
    }
}
