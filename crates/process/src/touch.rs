//! `touch-reload`, `touch-workers-reload`, `touch-chain-reload` and `touch-logreopen`: files
//! whose modification time the master looks at once a second, as uWSGI's master does every
//! cycle. A file touched (its mtime changed), or created where none was, triggers its
//! action (a reload, or reopening the log as FIFO `l`); a file removed does not.
//!
//! `fs-reload` and `fs-brutal-reload`: a file or directory whose every change triggers a
//! graceful or a brutal reload (FIFO `r`, `R`). uWSGI watches them with inotify; here the
//! same once-a-second look compares what inotify would report, without a descriptor per
//! path: the object's modification and change times, size and inode (written, chmod-ed,
//! replaced, removed) and, for a directory, the same of each entry in it (created, removed,
//! renamed, written; not deeper, as inotify). A path missing at start is not watched, as
//! uWSGI's failed `inotify_add_watch`, with a warning.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::fifo::Command;

/// The watched files, each with what was seen last and the command it triggers.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    files: Vec<(PathBuf, Seen, Command)>,
}

/// What a watch compares.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// `touch-*`: the modification time (`None` while the file does not exist).
    Mtime(Option<SystemTime>),
    /// `fs-*`: the object and its entries.
    Fs(Snapshot),
}

/// A file system object as `fs-reload` compares it.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    own: Option<Stat>,
    /// A directory's entries, sorted by name (empty for a file).
    entries: Vec<(OsString, Option<Stat>)>,
}

/// Modification and change times (seconds, nanoseconds), size and inode.
type Stat = (i64, i64, i64, i64, u64, u64);

fn stat(meta: &std::fs::Metadata) -> Stat {
    (
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
        meta.size(),
        meta.ino(),
    )
}

impl Snapshot {
    fn take(path: &PathBuf) -> Snapshot {
        let meta = std::fs::metadata(path).ok();
        let mut entries = Vec::new();
        if meta.as_ref().is_some_and(|m| m.is_dir()) {
            if let Ok(dir) = std::fs::read_dir(path) {
                entries = dir
                    .filter_map(|e| e.ok())
                    .map(|e| (e.file_name(), e.metadata().ok().map(|m| stat(&m))))
                    .collect();
                entries.sort();
            }
        }
        Snapshot {
            own: meta.map(|m| stat(&m)),
            entries,
        }
    }
}

impl Touched {
    /// Watches `reload`, `workers`, `chain` and `logreopen` files (touch-reload,
    /// touch-workers-reload, touch-chain-reload, touch-logreopen), from their mtimes now.
    pub(crate) fn new(
        reload: &[PathBuf],
        workers: &[PathBuf],
        chain: &[PathBuf],
        logreopen: &[PathBuf],
    ) -> Touched {
        let lists = [
            (reload, Command::Reload),
            (workers, Command::ReloadWorkers),
            (chain, Command::ChainReload),
            (logreopen, Command::ReopenLog),
        ];
        let files = lists
            .into_iter()
            .flat_map(|(paths, c)| {
                paths
                    .iter()
                    .map(move |p| (p.clone(), Seen::Mtime(mtime(p)), c))
            })
            .collect();
        Touched { files }
    }

    /// Also watches the `fs-reload` (`reload`) and `fs-brutal-reload` (`brutal`) paths,
    /// from what they are now; a missing one is not watched, with a warning.
    pub(crate) fn with_fs(mut self, reload: &[PathBuf], brutal: &[PathBuf]) -> Touched {
        let lists = [
            ("fs-reload", reload, Command::Reload),
            ("fs-brutal-reload", brutal, Command::BrutalReload),
        ];
        for (option, paths, command) in lists {
            for path in paths {
                let now = Snapshot::take(path);
                if now.own.is_none() {
                    log::warn!(
                        "{option} {}: no such file or directory; not watched",
                        path.display()
                    );
                    continue;
                }
                self.files.push((path.clone(), Seen::Fs(now), command));
            }
        }
        self
    }

    /// The commands whose files changed since the last look, with the file.
    pub(crate) fn changed(&mut self) -> Vec<(PathBuf, Command)> {
        let mut out = Vec::new();
        for (path, last, command) in &mut self.files {
            match last {
                Seen::Mtime(last) => {
                    let now = mtime(path);
                    if now.is_some() && now != *last {
                        out.push((path.clone(), *command));
                    }
                    if now.is_some() {
                        *last = now;
                    }
                }
                Seen::Fs(last) => {
                    let now = Snapshot::take(path);
                    if now != *last {
                        out.push((path.clone(), *command));
                        *last = now;
                    }
                }
            }
        }
        out
    }
}

fn mtime(path: &PathBuf) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_touch_or_a_new_file_triggers_once() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "").unwrap();
        let mut t = Touched::new(std::slice::from_ref(&a), &[], std::slice::from_ref(&b), &[]);
        assert!(t.changed().is_empty());
        let later = SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&a)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(t.changed(), [(a.clone(), Command::Reload)]);
        assert!(t.changed().is_empty(), "once per touch");
        std::fs::write(&b, "").unwrap();
        assert_eq!(t.changed(), [(b.clone(), Command::ChainReload)]);
        std::fs::remove_file(&b).unwrap();
        assert!(t.changed().is_empty(), "a removal is no touch");
    }

    #[test]
    fn fs_watches_see_writes_entries_and_removal() {
        let dir = tempfile::tempdir().unwrap();
        let (file, sub) = (dir.path().join("f"), dir.path().join("d"));
        std::fs::write(&file, "a").unwrap();
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("x.py"), "1").unwrap();
        let missing = dir.path().join("missing");
        let mut t = Touched::new(&[], &[], &[], &[])
            .with_fs(&[sub.clone(), missing], std::slice::from_ref(&file));
        assert_eq!(t.files.len(), 2, "a missing path is not watched");
        assert!(t.changed().is_empty());
        // A write inside the directory (its own mtime does not change).
        std::fs::write(sub.join("x.py"), "22").unwrap();
        assert_eq!(t.changed(), [(sub.clone(), Command::Reload)]);
        assert!(t.changed().is_empty(), "once per change");
        std::fs::write(sub.join("y.py"), "").unwrap();
        assert_eq!(t.changed(), [(sub.clone(), Command::Reload)]);
        std::fs::remove_file(&file).unwrap();
        assert_eq!(t.changed(), [(file.clone(), Command::BrutalReload)]);
    }
}
