//! The error of this crate.

use std::fmt;
use std::io;

use crate::layout::Layout;

/// Why the board could not be set up, adopted or a slot claimed.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    source: Option<io::Error>,
}

/// What failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `memfd_create` failed.
    Create,
    /// Sizing the region (`ftruncate`) failed.
    Resize,
    /// Measuring an inherited region (`fstat`) failed.
    Inspect,
    /// Mapping the region (`mmap`) failed.
    Map,
    /// Changing whether the fd survives `exec` (`fcntl(F_SETFD)`) failed.
    Inherit,
    /// An inherited fd holds no board of this version (wrong magic, version or size).
    NotABoard,
    /// An inherited board was made for another layout: map a new one.
    Layout {
        /// The layout the inherited board holds.
        found: Layout,
        /// The layout the caller asked for.
        wanted: Layout,
    },
    /// Every process slot is taken.
    Full,
    /// Initializing a lock (`pthread_mutex_init`) failed.
    InitLock,
}

impl Error {
    /// An error of `kind` caused by an OS call.
    pub(crate) fn os(kind: ErrorKind, source: impl Into<io::Error>) -> Error {
        Error {
            kind,
            source: Some(source.into()),
        }
    }

    /// An error of `kind` with no OS cause.
    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error { kind, source: None }
    }

    /// What failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::Create => {
                f.write_str("cannot create the shared memory of the scoreboard (memfd_create)")
            }
            ErrorKind::Resize => {
                f.write_str("cannot size the shared memory of the scoreboard (ftruncate)")
            }
            ErrorKind::Inspect => f.write_str("cannot measure the inherited scoreboard (fstat)"),
            ErrorKind::Map => f.write_str("cannot map the shared memory of the scoreboard (mmap)"),
            ErrorKind::Inherit => {
                f.write_str("cannot change whether the scoreboard survives exec (fcntl F_SETFD)")
            }
            ErrorKind::InitLock => f.write_str(
                "cannot initialize the shared locks (pthread_mutex_init, process-shared and robust)",
            ),
            ErrorKind::NotABoard => {
                f.write_str("the inherited fd holds no scoreboard of this version; map a new one")
            }
            ErrorKind::Layout { found, wanted } => write!(
                f,
                "the inherited scoreboard is laid out for {found}, not {wanted}; map a new one"
            ),
            ErrorKind::Full => f.write_str(
                "every process slot of the scoreboard is taken (twice `processes` plus mules \
                 and spoolers); reap the old generation before spawning more",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
