//! Loading the WSGI callables the options name: `wsgi-file`, `module`, `mount`, with
//! `chdir2`, `import` and `callable`, as uWSGI's python plugin does.

use pyo3::prelude::*;

use crate::error::{Error, ErrorKind};
use crate::interp::helper;
use crate::options::Options;

/// One loaded app and the prefix it is mounted at (`""` for the default app).
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) mount: String,
    pub(crate) callable: Py<PyAny>,
}

/// The apps of this server, the default one first.
#[derive(Debug, Default)]
pub struct Apps {
    pub(crate) list: Vec<App>,
    /// `no-default-app`: a request no mount matches is not given to the default app.
    pub(crate) no_default: bool,
    /// `vhost`: a request's app is the one mounted at `HOST|SCRIPT_NAME`.
    pub(crate) vhost: bool,
}

impl Apps {
    /// How many apps loaded.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether no app loaded (uWSGI's "dynamic mode": every request answers 500).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The mount points, in load order (`""` is the default app).
    pub fn mounts(&self) -> Vec<String> {
        self.list.iter().map(|a| a.mount.clone()).collect()
    }

    /// The app for a request: with `manage-script-name` the longest mount that prefixes
    /// `path_info` on a segment boundary (its length is returned, to move it into
    /// SCRIPT_NAME); otherwise the one mounted at `script_name` exactly; else the default.
    /// With `no-default-app` there is no default: the request's own mount (`script_name`,
    /// `""` without one) must be an app's, else `None`, as uWSGI then answers 500.
    ///
    /// Under `vhost` the key is `HOST|SCRIPT_NAME` (`host` is `HTTP_HOST`, else
    /// `SERVER_NAME`), matched exactly, as uWSGI's virtual hosting does; the default app
    /// is then only one mounted at `""` (`module`, `wsgi-file`).
    pub(crate) fn select(
        &self,
        script_name: Option<&str>,
        path_info: &str,
        host: Option<&str>,
        manage: bool,
    ) -> Option<(&App, usize)> {
        if self.vhost {
            let key = format!("{}|{}", host.unwrap_or(""), script_name.unwrap_or(""));
            let default = || self.list.iter().find(|a| a.mount.is_empty());
            return self
                .list
                .iter()
                .find(|a| a.mount == key)
                .or_else(|| default().filter(|_| !self.no_default))
                .map(|a| (a, 0));
        }
        if self.list.len() <= 1 && !self.no_default {
            return self.list.first().map(|a| (a, 0));
        }
        if manage {
            let best = self
                .list
                .iter()
                .filter(|a| {
                    !a.mount.is_empty()
                        && path_info.starts_with(a.mount.as_str())
                        && matches!(path_info.as_bytes().get(a.mount.len()), None | Some(b'/'))
                })
                .max_by_key(|a| a.mount.len());
            if let Some(a) = best {
                return Some((a, a.mount.len()));
            }
        } else if let Some(sn) = script_name.filter(|s| !s.is_empty()) {
            if let Some(a) = self.list.iter().find(|a| a.mount == sn) {
                return Some((a, 0));
            }
        }
        if self.no_default {
            let own = script_name.unwrap_or("");
            return self.list.iter().find(|a| a.mount == own).map(|a| (a, 0));
        }
        self.list
            .iter()
            .find(|a| a.mount.is_empty())
            .or_else(|| self.list.first())
            .map(|a| (a, 0))
    }
}

/// Imports the `import` modules and loads every app the options name. Runs in the master
/// (preload) or in each worker (`lazy-apps`), after [`crate::initialize`].
///
/// A failure logs the Python traceback and a one-line hint naming the searched paths, and
/// returns [`ErrorKind::AppLoad`]. With `mount`s, the apps that loaded are kept (as uWSGI)
/// and only when none did is it an error.
pub fn load_apps(opts: &Options) -> Result<Apps, Error> {
    if let Some(dir) = &opts.chdir2 {
        std::env::set_current_dir(dir).map_err(|e| {
            Error::new(ErrorKind::Config(format!(
                "chdir2: cannot change to {}: {e}",
                dir.display()
            )))
        })?;
    }
    Python::attach(|py| {
        let h = helper(py)?;
        h.getattr("add_cwd")
            .and_then(|f| f.call0())
            .map_err(Error::python)?;
        for name in &opts.imports {
            if let Err(e) = h.getattr("import_module").and_then(|f| f.call1((name,))) {
                return Err(failed(py, h, &e, &format!("import {name}")));
            }
        }
        let callable = opts.callable.as_deref().unwrap_or("application");
        let mut apps = Apps {
            no_default: opts.no_default_app,
            vhost: opts.vhost,
            ..Apps::default()
        };
        let mut first_error = None;
        let mut targets: Vec<(String, String)> = Vec::new();
        if let Some(f) = &opts.wsgi_file {
            targets.push((String::new(), f.to_string_lossy().into_owned()));
        } else if let Some(m) = &opts.module {
            targets.push((String::new(), m.clone()));
        }
        let main = targets.len();
        for m in &opts.mounts {
            let Some((prefix, target)) = m.split_once('=') else {
                return Err(Error::new(ErrorKind::Config(format!(
                    "mount {m:?} is not /prefix=app"
                ))));
            };
            let prefix = prefix.trim_end_matches('/').to_string();
            targets.push((prefix, target.to_string()));
        }
        for (i, (mount, target)) in targets.iter().enumerate() {
            // The main target is what its option says; a mount's target is a file when it
            // looks like a path (`mysite.wsgi` is a module unless such a file exists).
            let is_file = if i < main {
                opts.wsgi_file.is_some()
            } else {
                target.contains('/')
                    || ((target.ends_with(".py") || target.ends_with(".wsgi"))
                        && std::path::Path::new(target).is_file())
            };
            let r = if is_file {
                h.getattr("load_file")
                    .and_then(|f| f.call1((target, callable)))
            } else {
                h.getattr("load_module")
                    .and_then(|f| f.call1((target, callable)))
            };
            match r {
                Ok(app) => {
                    let shown = if mount.is_empty() { "/" } else { mount };
                    log::info!(
                        "WSGI app {} ({target}) ready, mounted at {shown}",
                        apps.len()
                    );
                    apps.list.push(App {
                        mount: mount.clone(),
                        callable: app.unbind(),
                    });
                }
                Err(e) => {
                    let err = failed(py, h, &e, target);
                    first_error.get_or_insert(err);
                }
            }
        }
        match first_error {
            Some(e) if apps.is_empty() => Err(e),
            _ if targets.is_empty() => Err(Error::app_load(
                "no app given: set --module, --wsgi-file or --mount",
            )),
            _ => Ok(apps),
        }
    })
}

/// Logs the traceback and the hint; builds the error.
fn failed(py: Python<'_>, h: &Bound<'_, PyModule>, e: &PyErr, what: &str) -> Error {
    crate::traceback::log_exception(py, e, &format!("failed to load {what}"));
    let path: Vec<String> = h
        .getattr("search_path")
        .and_then(|f| f.call0())
        .and_then(|v| v.extract())
        .unwrap_or_default();
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let hint = format!(
        "hint: {what} was searched for from {cwd} in sys.path {path:?}; \
         check --chdir, --pythonpath, --home and --callable"
    );
    log::error!("{hint}");
    Error::app_load(format!("{what}: {}; {hint}", e.value(py)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::File::create(&p)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        p
    }

    fn app_name(apps: &Apps, i: usize) -> String {
        Python::attach(|py| {
            apps.list[i]
                .callable
                .bind(py)
                .getattr("__name__")
                .unwrap()
                .extract()
                .unwrap()
        })
    }

    #[test]
    fn loads_files_modules_factories_and_mounts() {
        crate::interp::test_init();
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "ld_file_app.py",
            "def application(e, s): pass\ndef other(e, s): pass\n",
        );
        write(
            dir.path(),
            "ld_mod_app.py",
            "def application(e, s): pass\ndef make():\n    def made(e, s): pass\n    return made\n",
        );
        let d = dir.path().to_string_lossy().into_owned();
        Python::attach(|py| {
            py.import("sys")
                .unwrap()
                .getattr("path")
                .unwrap()
                .call_method1("insert", (0, &d))
                .unwrap();
        });
        let base = Options::default();
        let apps = load_apps(&Options {
            wsgi_file: Some(file.clone()),
            callable: Some("other".into()),
            ..base.clone()
        })
        .unwrap();
        assert_eq!(app_name(&apps, 0), "other");
        let apps = load_apps(&Options {
            module: Some("ld_mod_app:make()".into()),
            ..base.clone()
        })
        .unwrap();
        assert_eq!(app_name(&apps, 0), "made");
        let apps = load_apps(&Options {
            module: Some("ld_mod_app".into()),
            mounts: vec![format!("/f={}", file.display()), "/m/=ld_mod_app".into()],
            ..base.clone()
        })
        .unwrap();
        assert_eq!(apps.mounts(), vec!["", "/f", "/m"]);
        // manage-script-name picks the longest prefix on a segment boundary.
        assert_eq!(
            apps.select(None, "/f/x", None, true)
                .map(|(a, n)| (a.mount.as_str(), n)),
            Some(("/f", 2))
        );
        assert_eq!(
            apps.select(None, "/fx", None, true)
                .map(|(a, n)| (a.mount.as_str(), n)),
            Some(("", 0))
        );
        assert_eq!(
            apps.select(Some("/m"), "/x", None, false)
                .map(|(a, _)| a.mount.as_str()),
            Some("/m")
        );
        // no-default-app: an unknown mount finds no app; the default app's own ("") does.
        let apps = Apps {
            no_default: true,
            ..apps
        };
        assert!(apps.select(Some("/other"), "/x", None, false).is_none());
        assert_eq!(
            apps.select(None, "/fx", None, true)
                .map(|(a, _)| a.mount.as_str()),
            Some("")
        );
        // vhost: HOST|SCRIPT_NAME, exactly; the default app ("") only without
        // no-default-app.
        let vhost = |no_default| Apps {
            list: ["", "a.example|", "a.example|/m"]
                .iter()
                .map(|m| App {
                    mount: m.to_string(),
                    callable: Python::attach(|py| apps.list[0].callable.clone_ref(py)),
                })
                .collect(),
            no_default,
            vhost: true,
        };
        let mount = |apps: &Apps, sn: Option<&str>, host: Option<&str>| {
            apps.select(sn, "/x", host, true)
                .map(|(a, _)| a.mount.clone())
        };
        let open = vhost(false);
        assert_eq!(
            mount(&open, None, Some("a.example")).as_deref(),
            Some("a.example|")
        );
        assert_eq!(
            mount(&open, Some("/m"), Some("a.example")).as_deref(),
            Some("a.example|/m")
        );
        assert_eq!(mount(&open, None, Some("b.example")).as_deref(), Some(""));
        let closed = vhost(true);
        assert_eq!(mount(&closed, None, Some("b.example")), None);
        assert_eq!(mount(&closed, None, None), None);
    }

    #[test]
    fn a_failed_import_is_an_app_load_error_with_a_hint() {
        crate::interp::test_init();
        let err = load_apps(&Options {
            module: Some("no_such_module_xyz.wsgi".into()),
            ..Options::default()
        })
        .unwrap_err();
        assert!(err.is_app_load());
        let msg = err.to_string();
        assert!(
            msg.contains("No module named 'no_such_module_xyz'"),
            "{msg}"
        );
        assert!(msg.contains("sys.path"), "{msg}");
        let err = load_apps(&Options::default()).unwrap_err();
        assert!(err.is_app_load(), "{err}");
    }
}
