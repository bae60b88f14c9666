//! Pidfiles, `--stop` / `--reload`, `daemonize` and `logto`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::sys::signal::Signal;
use nix::unistd::{dup2_stderr, dup2_stdin, dup2_stdout, ForkResult, Pid};

use crate::error::{Error, ErrorKind};

/// Writes this process's pid to `path` (as uWSGI: the pid and a newline).
pub fn write_pidfile(path: &Path) -> Result<(), Error> {
    let file_err = |e| {
        Error::with(
            ErrorKind::File {
                path: path.to_path_buf(),
            },
            e,
        )
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
        .map_err(file_err)?;
    writeln!(f, "{}", std::process::id()).map_err(file_err)
}

/// Points stdin at `/dev/null`, as uWSGI does at start unless `honour-stdin`, so an app that
/// reads it gets end-of-file instead of waiting on a terminal. A socket on stdin (inetd
/// style) is left alone, as uWSGI leaves it.
pub fn stdin_to_null() -> Result<(), Error> {
    let stdin = std::io::stdin();
    let is_socket =
        nix::sys::stat::fstat(&stdin).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFSOCK);
    if is_socket {
        return Ok(());
    }
    null_stdin()
}

/// Points stdin at `/dev/null`.
fn null_stdin() -> Result<(), Error> {
    let null = OpenOptions::new()
        .read(true)
        .open("/dev/null")
        .map_err(|e| {
            Error::with(
                ErrorKind::File {
                    path: "/dev/null".into(),
                },
                e,
            )
        })?;
    dup2_stdin(&null).map_err(|e| Error::os("dup2 stdin", e.into()))
}

/// `flock`: takes a write lock on the whole of `path` (`fcntl(F_SETLK)`, as uWSGI), held
/// while the returned file is open; an error naming the file when another process holds it.
/// With `wait` it waits for the lock instead (`F_SETLKW`): a daemonized child taking over
/// the locks of the parent that is exiting.
pub fn lock_file(path: &Path, wait: bool) -> Result<std::fs::File, Error> {
    let file_err = |e| {
        Error::with(
            ErrorKind::File {
                path: path.to_path_buf(),
            },
            e,
        )
    };
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(file_err)?;
    // The whole file (`l_len` 0: to its end, wherever that is).
    let lock = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    let arg = if wait {
        nix::fcntl::FcntlArg::F_SETLKW(&lock)
    } else {
        nix::fcntl::FcntlArg::F_SETLK(&lock)
    };
    match nix::fcntl::fcntl(&f, arg) {
        Ok(_) => Ok(f),
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => {
            Err(Error::new(ErrorKind::Config(format!(
                "{} is locked by another instance (flock)",
                path.display()
            ))))
        }
        Err(e) => Err(file_err(e.into())),
    }
}

/// Reads the pid in `path`.
pub fn read_pidfile(path: &Path) -> Result<u32, Error> {
    let text = fs::read_to_string(path).map_err(|e| {
        Error::with(
            ErrorKind::Pidfile {
                path: path.to_path_buf(),
            },
            e,
        )
    })?;
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|&pid| pid > 0)
        .ok_or_else(|| {
            Error::new(ErrorKind::Pidfile {
                path: path.to_path_buf(),
            })
        })
}

/// Sends `sig` to the pid in `path`: `--stop` (SIGINT, as uWSGI) and `--reload` (SIGHUP).
pub fn signal_pidfile(path: &Path, sig: Signal) -> Result<u32, Error> {
    let pid = read_pidfile(path)?;
    nix::sys::signal::kill(Pid::from_raw(pid as i32), sig)
        .map_err(|e| Error::with(ErrorKind::Signal { pid }, std::io::Error::from(e)))?;
    Ok(pid)
}

/// Points stdout and stderr at `path` (appending), as `logto` and `daemonize` do.
pub fn log_to(path: &Path) -> Result<(), Error> {
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .map_err(|e| {
            Error::with(
                ErrorKind::File {
                    path: path.to_path_buf(),
                },
                e,
            )
        })?;
    redirect_output(&f)
}

/// Points stdout and stderr at the open file `f`.
fn redirect_output(f: &fs::File) -> Result<(), Error> {
    dup2_stdout(f).map_err(|e| Error::os("dup2 stdout", e.into()))?;
    dup2_stderr(f).map_err(|e| Error::os("dup2 stderr", e.into()))?;
    Ok(())
}

/// Detaches from the terminal: fork (the parent exits 0, so the shell gets its prompt back),
/// `setsid`, stdin from `/dev/null`, stdout and stderr to `log` (opened first, so an
/// unwritable log is reported on the terminal).
pub fn daemonize(log: &Path) -> Result<(), Error> {
    // Open the log before detaching so the user sees the error if it fails.
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(log)
        .map_err(|e| {
            Error::with(
                ErrorKind::File {
                    path: log.to_path_buf(),
                },
                e,
            )
        })?;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: the process has one thread here (daemonize runs before any thread starts;
    // daemonize2 after `Service::before_fork`, which readies the app's runtime), so the
    // child holds no lock another thread left taken.
    let fork = unsafe { nix::unistd::fork() };
    match fork.map_err(|e| Error::os("cannot fork to daemonize", e.into()))? {
        ForkResult::Parent { .. } => {
            // SAFETY: _exit skips destructors and atexit handlers the child still owns.
            unsafe { libc::_exit(0) };
        }
        ForkResult::Child => {}
    }
    nix::unistd::setsid().map_err(|e| Error::os("setsid", e.into()))?;
    null_stdin()?;
    redirect_output(&f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfile_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pid");
        write_pidfile(&p).unwrap();
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            format!("{}\n", std::process::id())
        );
        assert_eq!(read_pidfile(&p).unwrap(), std::process::id());
    }

    #[test]
    fn a_missing_pidfile_is_named() {
        let err = read_pidfile(Path::new("/nonexistent/uwsgi.pid")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read a pid from the pidfile /nonexistent/uwsgi.pid"
        );
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn garbage_in_a_pidfile_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pid");
        fs::write(&p, "hello\n").unwrap();
        assert!(read_pidfile(&p).is_err());
        fs::write(&p, "0\n").unwrap();
        assert!(read_pidfile(&p).is_err());
    }
}
