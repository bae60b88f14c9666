//! The log files a server writes to: the one standard error goes to (`logto`, `logto2`,
//! `daemonize`, `daemonize2`) and those of its file loggers (`logger = file:...`). The
//! master reopens them on master FIFO `l` (after an outside tool such as logrotate moved
//! them), rotates the first on FIFO `L` and each once it passes its maximum size
//! (`log-maxsize`, a file logger's `maxsize`), and reopens them after a reload with
//! `log-reopen`.
//!
//! Only the master renames and reopens; it then counts the change on the board
//! ([`Scoreboard::log_reopened`]), and every other process's log writer, which follows that
//! count (`ruwsgi_logging::follow_reopens`), reopens the files before it writes again (at
//! the latest a second later). A line written between the two goes to the rotated file: it
//! moves, it is not lost.
//!
//! `logfile-chmod` and `logfile-chown` ([`Ownership`]) give the file standard error goes
//! to its mode and owner after it is opened at start (`logto`, `daemonize`, `logto2`,
//! `daemonize2`), as uWSGI does, and again after each reopening or rotation by the master:
//! in ruwsgi every process reopens the file itself, so a file a root master created anew
//! must go to `uid`/`gid` before the unprivileged workers follow.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ruwsgi_shm::Scoreboard;

use crate::error::{Error, ErrorKind};
use crate::options::Options;
use crate::privileges::{resolve_gid, resolve_uid};

/// `logfile-chmod` and `logfile-chown`: the mode and owner the log file standard error
/// goes to gets after each opening.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ownership {
    /// `logfile-chmod`.
    mode: Option<u32>,
    /// `logfile-chown`: `uid` and `gid` (either may be unset: that id stays), applied only
    /// while running as root (uWSGI does it as root only).
    owner: Option<(Option<u32>, Option<u32>)>,
}

impl Ownership {
    /// `logfile-chmod`, and `logfile-chown` with `uid` and `gid` resolved (an unknown name
    /// is the error).
    pub(crate) fn from_options(opts: &Options) -> Result<Ownership, Error> {
        let owner = if opts.logfile_chown {
            let uid = opts.uid.as_deref().map(resolve_uid).transpose()?;
            let gid = opts.gid.as_deref().map(resolve_gid).transpose()?;
            Some((uid.map(|u| u.as_raw()), gid.map(|g| g.as_raw())))
        } else {
            None
        };
        Ok(Ownership {
            mode: opts.logfile_chmod,
            owner,
        })
    }

    /// At start: gives the log file at `path` its mode and owner, saying so, or saying why
    /// `logfile-chown` does nothing. An owner that cannot be set stops the server (uWSGI
    /// exits); a mode that cannot be set is logged.
    pub(crate) fn apply_at_start(&self, path: &Path) -> Result<(), Error> {
        if let Some((uid, gid)) = self.owner {
            if !nix::unistd::geteuid().is_root() {
                log::info!("logfile-chown: not running as root; the log file keeps its owner");
            } else if uid.is_none() && gid.is_none() {
                log::warn!(
                    "logfile-chown: neither uid nor gid is set; the log file keeps its owner"
                );
            } else {
                log::info!(
                    "logfile-chown: {} given to uid {} gid {}",
                    path.display(),
                    uid.map_or("-".into(), |u| u.to_string()),
                    gid.map_or("-".into(), |g| g.to_string())
                );
            }
        }
        self.apply(path)
    }

    /// Gives the log file at `path` its mode (`logfile-chmod`; a failure is logged) and,
    /// when running as root, its owner (`logfile-chown`; a failure is the error).
    pub(crate) fn apply(&self, path: &Path) -> Result<(), Error> {
        if let Some(mode) = self.mode {
            let perms = std::fs::Permissions::from_mode(mode);
            if let Err(e) = std::fs::set_permissions(path, perms) {
                log::warn!(
                    "logfile-chmod {mode:o}: cannot chmod {}: {e}",
                    path.display()
                );
            }
        }
        let Some((uid, gid)) = self.owner else {
            return Ok(());
        };
        if !nix::unistd::geteuid().is_root() || (uid.is_none() && gid.is_none()) {
            return Ok(());
        }
        std::os::unix::fs::chown(path, uid, gid).map_err(|e| {
            Error::new(ErrorKind::Os(format!(
                "logfile-chown: cannot chown {}: {e}",
                path.display()
            )))
        })
    }
}

/// One file that rotates.
#[derive(Debug)]
struct Rotating {
    path: PathBuf,
    /// The rotated file's name (else the file's name, a dot and the time).
    backup: Option<PathBuf>,
    /// Rotate once the file holds this many bytes (0: never).
    maxsize: u64,
    /// Standard error goes to it (else it is a file logger's).
    stderr: bool,
}

/// The server's log files and how they rotate.
#[derive(Debug)]
pub(crate) struct LogFiles {
    files: Vec<Rotating>,
    board: Arc<Scoreboard>,
    /// Given to the file standard error goes to after each reopening.
    ownership: Ownership,
}

impl LogFiles {
    /// The log file at `stderr` (absolute; `log-backupname`, `log-maxsize`, given
    /// `ownership` after each reopening) if standard error goes to one, and the file
    /// loggers' files; the processes forked from now on follow their reopenings through
    /// `board`.
    pub(crate) fn new(
        stderr: Option<PathBuf>,
        backup: Option<PathBuf>,
        maxsize: u64,
        board: Arc<Scoreboard>,
        ownership: Ownership,
    ) -> LogFiles {
        let epoch = board.clone();
        ruwsgi_logging::follow_reopens(stderr.clone(), move || epoch.log_epoch());
        let main = stderr.map(|path| Rotating {
            path,
            backup,
            maxsize,
            stderr: true,
        });
        let loggers = ruwsgi_logging::logger_files()
            .into_iter()
            .map(|(path, maxsize, backup)| Rotating {
                path,
                backup,
                maxsize,
                stderr: false,
            });
        LogFiles {
            files: main.into_iter().chain(loggers).collect(),
            board,
            ownership,
        }
    }

    /// Whether standard error goes to a log file (FIFO `L` rotates it).
    pub(crate) fn has_main(&self) -> bool {
        self.files.first().is_some_and(|f| f.stderr)
    }

    /// FIFO `l`, `log-reopen`: opens every file at its path again (a new one if it was
    /// moved away), here and then in every process.
    pub(crate) fn reopen(&self) {
        for file in &self.files {
            self.reopen_here(file);
        }
        self.board.log_reopened();
        log::info!("log files reopened");
    }

    fn reopen_here(&self, file: &Rotating) {
        if !file.stderr {
            ruwsgi_logging::reopen_loggers();
        } else if let Err(e) = ruwsgi_logging::reopen(&file.path) {
            log::error!("cannot reopen the log file {}: {e}", file.path.display());
        } else if let Err(e) = self.ownership.apply(&file.path) {
            log::error!("{e}");
        }
    }

    /// FIFO `L`: rotates the file standard error goes to.
    pub(crate) fn rotate_main(&self) {
        if let Some(file) = self.files.first().filter(|f| f.stderr) {
            self.rotate(file);
        }
    }

    /// Moves `file` to its backup name and starts a new one. A backup name already taken
    /// gets `.1`, `.2`, ... appended: a rotation never overwrites an earlier one.
    fn rotate(&self, file: &Rotating) {
        let size = std::fs::metadata(&file.path).map_or(0, |m| m.len());
        let to = free_name(file.backup.clone().unwrap_or_else(|| {
            let mut name = file.path.clone().into_os_string();
            name.push(format!(".{}", ruwsgi_logging::now_secs()));
            PathBuf::from(name)
        }));
        // Into the file being rotated (when it is the master's), as uWSGI writes it.
        log::info!(
            "logsize: {size}, triggering rotation of {} to {}...",
            file.path.display(),
            to.display()
        );
        if let Err(e) = std::fs::rename(&file.path, &to) {
            log::error!(
                "cannot rotate the log file {} to {}: {e}",
                file.path.display(),
                to.display()
            );
            return;
        }
        self.reopen_here(file);
        self.board.log_reopened();
        log::info!("log file {} rotated", file.path.display());
    }

    /// Once a second: rotates each file that has passed its maximum size.
    pub(crate) fn check_sizes(&self) {
        for file in self.files.iter().filter(|f| f.maxsize > 0) {
            let size = std::fs::metadata(&file.path).map_or(0, |m| m.len());
            if size >= file.maxsize {
                self.rotate(file);
            }
        }
    }
}

/// `path`, or the first of `path.1`, `path.2`, ... that does not exist.
fn free_name(path: PathBuf) -> PathBuf {
    if !exists(&path) {
        return path;
    }
    (1..)
        .map(|n| {
            let mut name = path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        })
        .find(|p| !exists(p))
        .expect("some numbered name is free")
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_backup_name_gets_a_number() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("log.1");
        assert_eq!(free_name(base.clone()), base);
        std::fs::write(&base, "x").unwrap();
        std::fs::write(dir.path().join("log.1.1"), "x").unwrap();
        assert_eq!(free_name(base), dir.path().join("log.1.2"));
    }
}
