//! The error of this crate.

use std::fmt;
use std::io;

/// Why shared memory could not be set up.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    source: io::Error,
}

/// What failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `memfd_create` failed.
    Create,
    /// Sizing the region (`ftruncate`) failed.
    Resize,
    /// Mapping the region (`mmap`) failed.
    Map,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, source: io::Error) -> Error {
        Error { kind, source }
    }

    /// What failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorKind::Create => "cannot create the shared memory of the scoreboard (memfd_create)",
            ErrorKind::Resize => "cannot size the shared memory of the scoreboard (ftruncate)",
            ErrorKind::Map => "cannot map the shared memory of the scoreboard (mmap)",
        };
        f.write_str(what)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
