//! The error of this crate.

use std::fmt;
use std::io;

use crate::geometry::CacheGeometry;
use crate::layout::Layout;

/// Why the board or a cache could not be set up or adopted, or a slot claimed.
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
    /// An inherited fd holds no cache of this version (wrong magic, version or size).
    NotACache,
    /// An inherited cache has another geometry than the one configured: map a new one.
    CacheGeometry {
        /// The geometry of the inherited cache.
        found: CacheGeometry,
        /// The geometry the caller asked for.
        wanted: CacheGeometry,
    },
    /// A cache geometry out of range: no item, an empty block, a key size of 0 or above
    /// 65535, more than [`MAX_ITEMS`](crate::cache::MAX_ITEMS) items, a block of 4 GiB or more, or
    /// a whole larger than the address space.
    CacheSize,
    /// A cache's lock could not be set up (`pthread_mutex_init`).
    CacheLock,
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
            ErrorKind::Create => f.write_str("cannot create shared memory (memfd_create)"),
            ErrorKind::Resize => f.write_str("cannot size shared memory (ftruncate)"),
            ErrorKind::Inspect => f.write_str("cannot measure inherited shared memory (fstat)"),
            ErrorKind::Map => f.write_str("cannot map shared memory (mmap)"),
            ErrorKind::Inherit => {
                f.write_str("cannot change whether shared memory survives exec (fcntl F_SETFD)")
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
            ErrorKind::NotACache => {
                f.write_str("the inherited fd holds no cache of this version; map a new one")
            }
            ErrorKind::CacheGeometry { found, wanted } => write!(
                f,
                "the inherited cache holds {found}, not {wanted}; map a new one"
            ),
            ErrorKind::CacheSize => f.write_str(
                "a cache needs at least 1 item, a blocksize from 1 byte to under 4 GiB, a keysize of \
                 1 to 65535 bytes, at most 2147483647 items, and must fit in memory",
            ),
            ErrorKind::CacheLock => {
                f.write_str("cannot set up a cache's lock (pthread_mutex_init)")
            }
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
