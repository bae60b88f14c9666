//! The error of this crate, and the exit status each kind means (as uWSGI's).

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why the server could not start or run.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// What went wrong. Each names what the user must look at.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A socket could not be bound (address in use, permission, bad path).
    Bind {
        /// The address as configured.
        address: String,
    },
    /// An option value was not usable (bad address, unknown user, ...).
    Config(String),
    /// The app failed to load and `need-app` is on (exit status 22).
    NoApp(String),
    /// The pidfile of `--stop` / `--reload` is missing or holds no pid.
    Pidfile {
        /// The pidfile.
        path: PathBuf,
    },
    /// The process named in a pidfile could not be signalled.
    Signal {
        /// The pid.
        pid: u32,
    },
    /// A file the server writes (pidfile, log) could not be opened.
    File {
        /// The path.
        path: PathBuf,
    },
    /// An operating-system call failed (fork, setuid, chdir...).
    Os(String),
    /// The service could not set up its runtime ([`crate::Service::initialize`]: the
    /// Python interpreter).
    Service(String),
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error { kind, source: None }
    }

    pub(crate) fn with(
        kind: ErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error {
            kind,
            source: Some(source.into()),
        }
    }

    pub(crate) fn os(what: impl Into<String>, source: io::Error) -> Error {
        Error::with(ErrorKind::Os(what.into()), source)
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The exit status uWSGI uses for this error: 22 when the app could not be loaded
    /// (`UWSGI_FAILED_APP_CODE`), 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            ErrorKind::NoApp(_) => 22,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Bind { address } => write!(f, "cannot bind {address}"),
            ErrorKind::Config(msg) => f.write_str(msg),
            ErrorKind::NoApp(msg) => {
                write!(
                    f,
                    "no app could be loaded ({msg}); need-app is on, so the server stops"
                )
            }
            ErrorKind::Pidfile { path } => {
                write!(f, "cannot read a pid from the pidfile {}", path.display())
            }
            ErrorKind::Signal { pid } => write!(f, "cannot signal process {pid}"),
            ErrorKind::File { path } => write!(f, "cannot open {}", path.display()),
            ErrorKind::Os(what) => f.write_str(what),
            ErrorKind::Service(what) => write!(f, "cannot start the app's runtime: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
