//! The master FIFO (`master-fifo PATH`, repeatable), as uWSGI's: named pipes the master
//! reads one-byte commands from (`echo r > /tmp/fifo`). Only the active FIFO is obeyed —
//! the first one at start; the bytes `0`–`9` make that FIFO the active one — so a deployment
//! can hand different FIFOs to different tools.
//!
//! Each FIFO is created fresh (a stale file at the path is replaced, as uWSGI does), mode
//! 0600, and opened read-write and non-blocking: with a writer of its own the master never
//! sees end-of-file when a client closes its end.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// What a FIFO byte asks of the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// `r`: graceful reload (as SIGHUP).
    Reload,
    /// `R`: brutal reload: the workers are stopped at once, then the master re-executes.
    BrutalReload,
    /// `q`: graceful stop (as SIGTERM).
    Stop,
    /// `Q`: immediate stop (as SIGINT).
    Halt,
    /// `w`: the workers are replaced, the new ones ready before the old ones drain; the
    /// master is not re-executed (under preload the new workers serve the master's code).
    ReloadWorkers,
    /// `W`: the workers are stopped at once and respawned.
    BrutalReloadWorkers,
    /// `c`: chain reload: the workers are replaced one at a time (needs `lazy-apps`).
    ChainReload,
    /// `s`: the stats to the log (as SIGUSR1).
    Stats,
    /// `p`: pause or resume the workers (as SIGTSTP).
    Pause,
    /// `P`: write the pidfiles again.
    WritePidfiles,
    /// `+`: one more worker (cheaper mode).
    AddWorker,
    /// `-`: one worker fewer (cheaper mode).
    RemoveWorker,
    /// `0`–`9`: the FIFO with this index becomes the active one.
    Select(usize),
    /// `l`: reopen the log file.
    ReopenLog,
    /// `L`: rotate the log file.
    RotateLog,
}

/// The command of one FIFO byte; `None` for a byte no command has (newlines from `echo`
/// are skipped silently by the caller).
pub(crate) fn command(byte: u8) -> Option<Command> {
    Some(match byte {
        b'r' => Command::Reload,
        b'R' => Command::BrutalReload,
        b'q' => Command::Stop,
        b'Q' => Command::Halt,
        b'w' => Command::ReloadWorkers,
        b'W' => Command::BrutalReloadWorkers,
        b'c' => Command::ChainReload,
        b's' => Command::Stats,
        b'p' => Command::Pause,
        b'P' => Command::WritePidfiles,
        b'0'..=b'9' => Command::Select(usize::from(byte - b'0')),
        b'l' => Command::ReopenLog,
        b'L' => Command::RotateLog,
        b'+' => Command::AddWorker,
        b'-' => Command::RemoveWorker,
        _ => return None,
    })
}

/// The master's FIFOs and which one is active.
#[derive(Debug, Default)]
pub(crate) struct Fifos {
    pipes: Vec<(PathBuf, File)>,
    active: usize,
}

impl Fifos {
    /// Creates and opens every FIFO of `paths` (relative paths resolve against the current
    /// directory). A failure names the path.
    pub(crate) fn create(paths: &[PathBuf]) -> Result<Fifos, Error> {
        let mut pipes = Vec::new();
        for path in paths {
            let path = std::path::absolute(path)
                .map_err(|e| Error::os(format!("bad path {}", path.display()), e))?;
            let file = open_fifo(&path).map_err(|e| {
                Error::os(
                    format!("cannot create the master FIFO {}", path.display()),
                    e,
                )
            })?;
            log::info!("master FIFO {}", path.display());
            pipes.push((path, file));
        }
        Ok(Fifos { pipes, active: 0 })
    }

    /// The FIFOs' paths (for vacuum).
    pub(crate) fn paths(&self) -> impl Iterator<Item = &Path> {
        self.pipes.iter().map(|(p, _)| p.as_path())
    }

    /// The FIFOs' descriptors with their index (to register with the master's poll).
    pub(crate) fn fds(&self) -> impl Iterator<Item = (usize, std::os::fd::RawFd)> + '_ {
        self.pipes
            .iter()
            .enumerate()
            .map(|(i, (_, f))| (i, f.as_raw_fd()))
    }

    /// Reads what is waiting in FIFO `index`: the commands of the bytes, when it is the
    /// active one; bytes sent to another FIFO are dropped with a log line. A `Select` takes
    /// effect at once, for the bytes after it.
    pub(crate) fn read(&mut self, index: usize) -> Vec<Command> {
        let mut bytes = Vec::new();
        let Some((path, file)) = self.pipes.get(index) else {
            return Vec::new();
        };
        let mut buf = [0u8; 256];
        loop {
            match std::io::Read::read(&mut &*file, &mut buf) {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let path = path.clone();
        let mut commands = Vec::new();
        for byte in bytes {
            if byte.is_ascii_whitespace() {
                continue;
            }
            if index != self.active {
                log::warn!(
                    "master FIFO {}: {:?} ignored, this FIFO is not the active one",
                    path.display(),
                    char::from(byte)
                );
                continue;
            }
            match command(byte) {
                Some(Command::Select(i)) if i < self.pipes.len() => {
                    self.active = i;
                    log::info!(
                        "master FIFO {} is the active one now",
                        self.pipes[i].0.display()
                    );
                }
                Some(Command::Select(i)) => {
                    log::warn!("master FIFO: there is no FIFO {i} to select");
                }
                Some(c) => commands.push(c),
                None => log::warn!(
                    "master FIFO {}: unknown command {:?}",
                    path.display(),
                    char::from(byte)
                ),
            }
        }
        commands
    }
}

/// Replaces whatever FIFO is at `path` with a new one and opens it.
fn open_fifo(path: &Path) -> std::io::Result<File> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo()) {
        std::fs::remove_file(path)?;
    }
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn bytes_are_commands_of_the_active_fifo_only() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let mut fifos = Fifos::create(&[a.clone(), b.clone()]).unwrap();
        assert!(std::fs::metadata(&a).unwrap().file_type().is_fifo());
        let write = |p: &Path, s: &[u8]| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(p)
                .unwrap()
                .write_all(s)
                .unwrap()
        };
        write(&a, b"r\ns?");
        assert_eq!(fifos.read(0), [Command::Reload, Command::Stats]);
        assert!(fifos.read(0).is_empty(), "nothing left, no end-of-file");
        write(&b, b"q");
        assert!(fifos.read(1).is_empty(), "b is not active");
        write(&a, b"1");
        assert!(fifos.read(0).is_empty());
        write(&b, b"qW");
        assert_eq!(fifos.read(1), [Command::Stop, Command::BrutalReloadWorkers]);
        assert_eq!(command(b'l'), Some(Command::ReopenLog));
        assert_eq!(command(b'L'), Some(Command::RotateLog));
        // A stale FIFO at the path is replaced.
        drop(fifos);
        assert!(Fifos::create(&[a]).is_ok());
    }
}
