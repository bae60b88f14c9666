//! The spill bound: [`SpillBudget`], the bytes one worker keeps in temp files at once
//! (`limit-spill`), and [`BodyFile`], a file a body lives in, which holds its bytes against
//! the budget until it is dropped.
//!
//! Two things spill: a request body above `post-buffering` (read in full before the app
//! runs) and a response the client reads slower than the app writes (above the high-water
//! mark, up to `spill_max` per reply). Both go to unlinked temp files, so the disk space
//! lives exactly as long as the descriptor: the last [`BodyFile`] handle dropped gives the
//! bytes back — after the app has read the body, or after the loop has sent the last range
//! of a spilled response.
//!
//! Past the bound a request body is refused (413 when it alone is larger than the bound,
//! else 503) and a response stops spilling (its app waits for the client, as past
//! `spill_max`).

use std::fs::File;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The spill bytes one worker holds, against its `limit-spill` (shared by the loop thread,
/// which receives request bodies, and the app threads, whose replies spill).
#[derive(Debug)]
pub(crate) struct SpillBudget {
    /// The most bytes held at once; 0: no bound (the bytes are still counted).
    limit: u64,
    held: AtomicU64,
}

impl SpillBudget {
    pub(crate) fn new(limit: u64) -> Arc<SpillBudget> {
        Arc::new(SpillBudget {
            limit,
            held: AtomicU64::new(0),
        })
    }

    /// Whether a body of `n` bytes could ever be held (it is not larger than the bound).
    pub(crate) fn fits(&self, n: u64) -> bool {
        self.limit == 0 || n <= self.limit
    }

    /// Takes `n` bytes if they fit under the bound beside what is held.
    fn take(&self, n: u64) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                let after = held.checked_add(n)?;
                (self.limit == 0 || after <= self.limit).then_some(after)
            })
            .is_ok()
    }

    fn give_back(&self, n: u64) {
        self.held.fetch_sub(n, Ordering::AcqRel);
    }

    /// Bytes held now.
    #[cfg(test)]
    pub(crate) fn held(&self) -> u64 {
        self.held.load(Ordering::Acquire)
    }
}

/// A file a body lives in: a request body's or a spilled response's unlinked temp file,
/// whose bytes count against the worker's spill bound (`limit-spill`) until it is dropped,
/// or a file the app sent (not counted: `From<File>`). Reads as the [`File`] it wraps.
#[derive(Debug)]
pub struct BodyFile {
    file: File,
    budget: Option<Arc<SpillBudget>>,
    /// Bytes taken from `budget` for this file.
    held: AtomicU64,
}

impl BodyFile {
    /// A new unlinked temp file counted against `budget`.
    pub(crate) fn temp(budget: &Arc<SpillBudget>) -> std::io::Result<BodyFile> {
        Ok(BodyFile {
            file: tempfile::tempfile()?,
            budget: Some(budget.clone()),
            held: AtomicU64::new(0),
        })
    }

    /// Takes `n` more bytes from the budget for this file before they are written; false
    /// (and nothing taken) past the bound.
    pub(crate) fn hold(&self, n: u64) -> bool {
        let Some(budget) = &self.budget else {
            return true;
        };
        if !budget.take(n) {
            return false;
        }
        self.held.fetch_add(n, Ordering::AcqRel);
        true
    }

    /// Bytes this file holds of the budget.
    pub(crate) fn held(&self) -> u64 {
        self.held.load(Ordering::Acquire)
    }
}

impl From<File> for BodyFile {
    /// A file not counted against any budget.
    fn from(file: File) -> BodyFile {
        BodyFile {
            file,
            budget: None,
            held: AtomicU64::new(0),
        }
    }
}

impl Deref for BodyFile {
    type Target = File;

    fn deref(&self) -> &File {
        &self.file
    }
}

impl DerefMut for BodyFile {
    fn deref_mut(&mut self) -> &mut File {
        &mut self.file
    }
}

impl Drop for BodyFile {
    /// The file is closed with it, and being unlinked, its space is freed: the bytes go
    /// back to the budget.
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.give_back(*self.held.get_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_hold_bytes_until_dropped() {
        let budget = SpillBudget::new(100);
        let a = BodyFile::temp(&budget).unwrap();
        assert!(a.hold(60));
        let b = BodyFile::temp(&budget).unwrap();
        assert!(!b.hold(41), "past the bound");
        assert_eq!(budget.held(), 60, "a refused hold takes nothing");
        assert!(b.hold(40));
        assert!(!a.hold(1));
        drop(a);
        assert_eq!(budget.held(), 40);
        assert!(b.hold(60));
        drop(b);
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn no_bound_still_counts_and_app_files_are_not_counted() {
        let budget = SpillBudget::new(0);
        assert!(budget.fits(u64::MAX));
        let a = BodyFile::temp(&budget).unwrap();
        assert!(a.hold(1 << 40));
        assert_eq!(budget.held(), 1 << 40);
        drop(a);
        assert_eq!(budget.held(), 0);
        let app = BodyFile::from(tempfile::tempfile().unwrap());
        assert!(app.hold(u64::MAX));
        assert!(!SpillBudget::new(10).fits(11));
    }
}
