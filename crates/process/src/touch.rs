//! `touch-reload`, `touch-workers-reload`, `touch-chain-reload`, `touch-logreopen`,
//! `touch-logrotate`, `touch-exec` and `touch-signal`: files whose modification time the
//! master looks at once a second, as uWSGI's master does every cycle. A file touched (its
//! mtime changed), or created where none was, triggers its action (a reload, reopening or
//! rotating the log as FIFO `l` and `L`, running a command, raising a uWSGI signal); a file
//! removed does not.
//!
//! `touch-exec = FILE COMMAND` runs the command under `/bin/sh -c` as `cron` runs its jobs
//! (`cron::spawn_shell`), without waiting: the master reaps it and logs how it ended
//! ([`Touched::reaped`]). `touch-signal = FILE SIGNAL` raises uWSGI signal SIGNAL (0-255)
//! as a timer does, to whatever the app registered for it.
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
use std::time::{Instant, SystemTime};

use crate::fifo::Command;

/// The watched files, each with what was seen last and the action it triggers; and the
/// `touch-exec` commands still running.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    files: Vec<(PathBuf, Seen, Action)>,
    /// `touch-exec` commands not reaped yet: pid, command, start.
    running: Vec<(u32, String, Instant)>,
}

/// What a touched file asks of the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// A master command, as a FIFO byte gives it (a reload, `l`, `L`, ...).
    Command(Command),
    /// `touch-exec`: run this shell command.
    Exec(String),
    /// `touch-signal`: raise this uWSGI signal.
    Signal(u8),
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
                    .map(move |p| (p.clone(), Seen::Mtime(mtime(p)), Action::Command(c)))
            })
            .collect();
        Touched {
            files,
            running: Vec::new(),
        }
    }

    /// Also watches the `touch-logrotate` files and the files of `touch-exec` (`FILE
    /// COMMAND`) and `touch-signal` (`FILE SIGNAL`) values, from their mtimes now. A value
    /// without its second part, or a signal that is no number from 0 to 255, is an error
    /// naming the option and the value.
    pub(crate) fn with_touches(
        mut self,
        logrotate: &[PathBuf],
        exec: &[String],
        signal: &[String],
    ) -> Result<Touched, String> {
        let mut watch = |path: PathBuf, action| {
            let seen = Seen::Mtime(mtime(&path));
            self.files.push((path, seen, action));
        };
        for path in logrotate {
            watch(path.clone(), Action::Command(Command::RotateLog));
        }
        for value in exec {
            let (file, command) = file_and_rest("touch-exec", value, "FILE COMMAND")?;
            watch(file, Action::Exec(command.to_string()));
        }
        for value in signal {
            let (file, num) = file_and_rest("touch-signal", value, "FILE SIGNAL")?;
            let num = num.parse::<u8>().map_err(|_| {
                format!("touch-signal {value:?}: the signal must be a number from 0 to 255")
            })?;
            watch(file, Action::Signal(num));
        }
        Ok(self)
    }

    /// `touch-exec`: starts `command` under `/bin/sh -c`, not waiting for it (the master
    /// reaps it and calls [`Touched::reaped`]).
    pub(crate) fn exec(&mut self, command: &str) {
        match crate::cron::spawn_shell(command) {
            Ok(pid) => {
                log::info!("[uwsgi-touch-exec] running \"{command}\" (pid {pid})");
                self.running
                    .push((pid, command.to_string(), Instant::now()));
            }
            Err(e) => log::error!("[uwsgi-touch-exec] cannot run \"{command}\": {e}"),
        }
    }

    /// Whether `pid` was a `touch-exec` command (then how it ended is logged).
    pub(crate) fn reaped(&mut self, pid: u32, status: libc::c_int) -> bool {
        let Some(i) = self.running.iter().position(|r| r.0 == pid) else {
            return false;
        };
        let (_, command, started) = self.running.swap_remove(i);
        log::info!(
            "[uwsgi-touch-exec] command \"{command}\" (pid {pid}) exited after {} second(s) ({})",
            started.elapsed().as_secs(),
            crate::sys::describe_status(status)
        );
        true
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
                self.files
                    .push((path.clone(), Seen::Fs(now), Action::Command(command)));
            }
        }
        self
    }

    /// The actions whose files changed since the last look, with the file.
    pub(crate) fn changed(&mut self) -> Vec<(PathBuf, Action)> {
        let mut out = Vec::new();
        for (path, last, action) in &mut self.files {
            match last {
                Seen::Mtime(last) => {
                    let now = mtime(path);
                    if now.is_some() && now != *last {
                        out.push((path.clone(), action.clone()));
                    }
                    if now.is_some() {
                        *last = now;
                    }
                }
                Seen::Fs(last) => {
                    let now = Snapshot::take(path);
                    if now != *last {
                        out.push((path.clone(), action.clone()));
                        *last = now;
                    }
                }
            }
        }
        out
    }
}

/// `FILE REST` of `option`'s `value` (split at the first blank, as uWSGI splits it), or
/// an error showing the `form` expected.
fn file_and_rest<'a>(
    option: &str,
    value: &'a str,
    form: &str,
) -> Result<(PathBuf, &'a str), String> {
    match value.trim().split_once(char::is_whitespace) {
        Some((file, rest)) if !rest.trim().is_empty() => Ok((PathBuf::from(file), rest.trim())),
        _ => Err(format!("{option} {value:?}: expected {form}")),
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
        assert_eq!(t.changed(), [(a.clone(), Action::Command(Command::Reload))]);
        assert!(t.changed().is_empty(), "once per touch");
        std::fs::write(&b, "").unwrap();
        assert_eq!(
            t.changed(),
            [(b.clone(), Action::Command(Command::ChainReload))]
        );
        std::fs::remove_file(&b).unwrap();
        assert!(t.changed().is_empty(), "a removal is no touch");
    }

    #[test]
    fn touch_values_name_a_file_and_its_action() {
        let dir = tempfile::tempdir().unwrap();
        let (rotate, run, poke) = (
            dir.path().join("rotate"),
            dir.path().join("run"),
            dir.path().join("poke"),
        );
        let exec = format!("{}  echo  hi there", run.display());
        let signal = format!("{} 17", poke.display());
        let mut t = Touched::new(&[], &[], &[], &[])
            .with_touches(std::slice::from_ref(&rotate), &[exec], &[signal])
            .unwrap();
        for p in [&rotate, &run, &poke] {
            std::fs::write(p, "").unwrap();
        }
        assert_eq!(
            t.changed(),
            [
                (rotate, Action::Command(Command::RotateLog)),
                (run, Action::Exec("echo  hi there".into())),
                (poke, Action::Signal(17)),
            ]
        );
        let none = |exec: &str, signal: &str| {
            Touched::default()
                .with_touches(&[], &[exec.into()], &[signal.into()])
                .unwrap_err()
        };
        assert_eq!(none("f", "f 1"), "touch-exec \"f\": expected FILE COMMAND");
        assert_eq!(
            none("f x", "f 256"),
            "touch-signal \"f 256\": the signal must be a number from 0 to 255"
        );
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
        assert_eq!(
            t.changed(),
            [(sub.clone(), Action::Command(Command::Reload))]
        );
        assert!(t.changed().is_empty(), "once per change");
        std::fs::write(sub.join("y.py"), "").unwrap();
        assert_eq!(
            t.changed(),
            [(sub.clone(), Action::Command(Command::Reload))]
        );
        std::fs::remove_file(&file).unwrap();
        assert_eq!(
            t.changed(),
            [(file.clone(), Action::Command(Command::BrutalReload))]
        );
    }
}
