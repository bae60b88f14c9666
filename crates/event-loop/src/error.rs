//! [`Error`]: what the crate reports to its embedder — today, a static-files configuration
//! it cannot use (a `static-map` without `=`, a regular expression that does not compile,
//! an expiry that is not a number of seconds).

use std::fmt;

/// An error of this crate's configuration; [`Error::kind`] says which.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
}

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A static-files option's value cannot be used: the option, the value as given, and
    /// what is wrong with it.
    StaticOption {
        /// The option (`static-map`).
        option: &'static str,
        /// The value as given.
        value: String,
        /// What is wrong and how to write it.
        reason: String,
    },
    /// A routing option's value cannot be used (`route`, `route-if`, `collect-header`,
    /// ...).
    RouteOption {
        /// The option as written.
        option: String,
        /// The value as given.
        value: String,
        /// Where it was set (`site.ini:12`), empty when not known.
        origin: String,
        /// What is wrong and how to write it.
        reason: String,
    },
}

impl Error {
    pub(crate) fn static_option(
        option: &'static str,
        value: &str,
        reason: impl Into<String>,
    ) -> Error {
        Error {
            kind: ErrorKind::StaticOption {
                option,
                value: value.to_string(),
                reason: reason.into(),
            },
        }
    }

    pub(crate) fn route_option(line: &crate::RouteLine, reason: String) -> Error {
        Error {
            kind: ErrorKind::RouteOption {
                option: line.option.clone(),
                value: line.value.clone(),
                origin: line.origin.clone(),
                reason,
            },
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::StaticOption {
                option,
                value,
                reason,
            } => write!(f, "{option} {value:?}: {reason}"),
            ErrorKind::RouteOption {
                option,
                value,
                origin,
                reason,
            } if origin.is_empty() => write!(f, "{option} {value:?}: {reason}"),
            ErrorKind::RouteOption {
                option,
                value,
                origin,
                reason,
            } => write!(f, "{option} {value:?} ({origin}): {reason}"),
        }
    }
}

impl std::error::Error for Error {}
