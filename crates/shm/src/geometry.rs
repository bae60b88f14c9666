//! [`CacheGeometry`]: what a cache is sized for, shared by the cache and the errors that
//! report a mismatch.

use std::fmt;

/// What a cache is sized for: `items` values of at most `blocksize` bytes under keys of at
/// most `keysize` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheGeometry {
    /// How many items it holds.
    pub items: usize,
    /// The largest value, in bytes.
    pub blocksize: usize,
    /// The longest key, in bytes.
    pub keysize: usize,
}

impl fmt::Display for CacheGeometry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "items={},blocksize={},keysize={}",
            self.items, self.blocksize, self.keysize
        )
    }
}
