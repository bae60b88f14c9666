//! `touch-reload`, `touch-workers-reload`, `touch-chain-reload` and `touch-logreopen`: files
//! whose modification time the master looks at once a second, as uWSGI's master does every
//! cycle. A file touched (its mtime changed), or created where none was, triggers its
//! action (a reload, or reopening the log as FIFO `l`); a file removed does not.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::fifo::Command;

/// The watched files, each with its last mtime and the reload it triggers.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    files: Vec<(PathBuf, Option<SystemTime>, Command)>,
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
            .flat_map(|(paths, c)| paths.iter().map(move |p| (p.clone(), mtime(p), c)))
            .collect();
        Touched { files }
    }

    /// The reloads whose files were touched since the last look, with the file.
    pub(crate) fn changed(&mut self) -> Vec<(PathBuf, Command)> {
        let mut out = Vec::new();
        for (path, last, command) in &mut self.files {
            let now = mtime(path);
            if now.is_some() && now != *last {
                out.push((path.clone(), *command));
            }
            if now.is_some() {
                *last = now;
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
}
