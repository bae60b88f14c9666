//! [`Error`]: what can go wrong setting up the interpreter or loading the apps.

use std::fmt;

/// An error from the WSGI bridge.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
}

/// What went wrong, classified by who caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No app could be loaded from what the options name (the app's fault or the
    /// configuration's): under `need-app` the server exits with status 22. The message holds
    /// the Python exception and a hint naming the searched paths.
    AppLoad(String),
    /// The options ask for something impossible (a malformed `mount`, a bad `module` spec).
    Config(String),
    /// The interpreter could not be set up (internal).
    Python(String),
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error { kind }
    }

    pub(crate) fn app_load(msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::AppLoad(msg.into()))
    }

    pub(crate) fn python(msg: impl fmt::Display) -> Error {
        Error::new(ErrorKind::Python(msg.to_string()))
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Whether this is an app-loading failure (exit status 22 under `need-app`).
    pub fn is_app_load(&self) -> bool {
        matches!(self.kind, ErrorKind::AppLoad(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::AppLoad(m) => write!(f, "unable to load the app: {m}"),
            ErrorKind::Config(m) => write!(f, "bad wsgi option: {m}"),
            ErrorKind::Python(m) => write!(f, "python: {m}"),
        }
    }
}

impl std::error::Error for Error {}
