//! A vassal's end of its emperor's line: uWSGI's emperor protocol, as a uWSGI vassal speaks
//! it. The emperor (`emperor.rs`, or uWSGI's own) starts the vassal with one end of a unix
//! stream socket pair and its number in `UWSGI_EMPEROR_FD`; one byte at a time travels over
//! it:
//!
//! - from the emperor: `0` stop now (as SIGINT), `1` reload gracefully (as SIGHUP), `2`
//!   stop gracefully (as SIGTERM);
//! - to the emperor: `1` the instance is up, `5` its workers accept (ruwsgi sends both
//!   once every worker accepts, with systemd's `READY=1`);
//! - the line closing (the emperor died) stops the vassal at once, with exit status 1, as
//!   uWSGI's "lost connection with my emperor".
//!
//! A vassal always runs a master (uWSGI forces one too). Only the master holds the line:
//! its forked children close their copy, and it stays open across a reload's `exec`
//! (the variable stays in the environment), so the re-executed image finds it again.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::fcntl::{fcntl, FcntlArg, FdFlag};

use crate::fifo::Command;

/// The variable that carries the line's file descriptor (uWSGI's name).
pub(crate) const ENV: &str = "UWSGI_EMPEROR_FD";

/// The bytes of the protocol.
pub(crate) mod byte {
    /// Emperor to vassal: stop now.
    pub(crate) const STOP: u8 = 0;
    /// Emperor to vassal: reload gracefully; vassal to emperor: the instance is up.
    pub(crate) const RELOAD_OR_SPAWNED: u8 = 1;
    /// Emperor to vassal: stop gracefully.
    pub(crate) const GRACEFUL_STOP: u8 = 2;
    /// Vassal to emperor: the workers accept.
    pub(crate) const ACCEPTING: u8 = 5;
    /// Vassal to emperor: stop me (uWSGI's `idle` with `die-on-idle`).
    pub(crate) const STOP_ME: u8 = 22;
}

/// What the emperor asks, as the master acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// A command as a signal or FIFO byte would give it.
    Do(Command),
    /// The line closed: the emperor is gone.
    Lost,
}

/// Either end of the line: single bytes written, and read without blocking.
#[derive(Debug)]
pub(crate) struct Line(UnixStream);

impl Line {
    /// `stream`, made non-blocking.
    pub(crate) fn new(stream: UnixStream) -> io::Result<Line> {
        stream.set_nonblocking(true)?;
        Ok(Line(stream))
    }

    /// The descriptor, for a poll.
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Writes `byte`.
    pub(crate) fn tell(&self, byte: u8) -> io::Result<()> {
        (&self.0).write_all(&[byte])
    }

    /// The bytes that arrived since the last call, and whether the other end closed the
    /// line (or reading it failed, which the caller treats the same).
    pub(crate) fn read(&self) -> (Vec<u8>, bool) {
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        loop {
            match (&self.0).read(&mut buf) {
                Ok(0) => return (got, true),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (got, false),
                Err(e) => {
                    log::error!("reading the emperor–vassal line: {e}");
                    return (got, true);
                }
            }
        }
    }
}

/// The vassal's end of the line.
#[derive(Debug)]
pub(crate) struct EmperorLink {
    line: Line,
}

impl EmperorLink {
    /// The line `UWSGI_EMPEROR_FD` names, when this process is a vassal; `None` otherwise,
    /// or (logged) when the variable names no open socket. The variable stays in the
    /// environment for a reloaded image.
    pub(crate) fn from_env() -> Option<EmperorLink> {
        let value = std::env::var(ENV).ok()?;
        let fd: RawFd = match value.trim().parse() {
            Ok(fd) if fd > 2 => fd,
            _ => {
                log::warn!("{ENV}={value:?} is not a file descriptor; no emperor is listened to");
                return None;
            }
        };
        let is_socket = nix::sys::stat::fstat(
            // SAFETY: fstat only reads the descriptor's status; an fd that is not open
            // fails with EBADF.
            unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
        )
        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFSOCK);
        if !is_socket {
            log::warn!("{ENV}={fd} is not an open socket; no emperor is listened to");
            return None;
        }
        // SAFETY: the descriptor is open (fstat succeeded), and nothing else in this process
        // owns it: the emperor passed it for this use alone.
        let stream = UnixStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
        // Closed in anything the master executes, except its own re-executed image
        // ([`EmperorLink::keep_across_exec`]).
        let _ = fcntl(&stream, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
        match Line::new(stream) {
            Ok(line) => {
                log::info!("governed by an emperor (fd {fd})");
                Some(EmperorLink { line })
            }
            Err(e) => {
                log::warn!("{ENV}={fd}: {e}; no emperor is listened to");
                None
            }
        }
    }

    /// The descriptor, for the master's poll.
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.line.raw_fd()
    }

    /// Tells the emperor `byte`; a failure is logged (a gone emperor shows as [`Order::Lost`]).
    pub(crate) fn tell(&self, byte: u8) {
        if let Err(e) = self.line.tell(byte) {
            log::warn!("cannot tell the emperor {byte}: {e}");
        }
    }

    /// The orders that arrived since the last call.
    pub(crate) fn orders(&self) -> Vec<Order> {
        let (bytes, closed) = self.line.read();
        let mut out = Vec::new();
        for b in bytes {
            log::info!("received message {b} from the emperor");
            match b {
                byte::STOP => out.push(Order::Do(Command::Halt)),
                byte::RELOAD_OR_SPAWNED => out.push(Order::Do(Command::Reload)),
                byte::GRACEFUL_STOP => out.push(Order::Do(Command::Stop)),
                _ => log::warn!("unknown message {b} from the emperor: ignored"),
            }
        }
        if closed {
            out.push(Order::Lost);
        }
        out
    }

    /// Lets the line through the reload's `exec` (the new image finds it by the variable).
    pub(crate) fn keep_across_exec(&self) -> nix::Result<()> {
        fcntl(&self.line.0, FcntlArg::F_SETFD(FdFlag::empty())).map(drop)
    }

    /// Closes the line again at `exec`, after a reload that could not execute.
    pub(crate) fn close_on_exec(&self) {
        let _ = fcntl(&self.line.0, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_as_orders_and_a_closed_line_as_lost() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let link = EmperorLink {
            line: Line::new(ours).unwrap(),
        };
        assert!(link.orders().is_empty(), "nothing sent yet");
        (&theirs).write_all(&[1, 2, 0, 9]).unwrap();
        assert_eq!(
            link.orders(),
            [
                Order::Do(Command::Reload),
                Order::Do(Command::Stop),
                Order::Do(Command::Halt)
            ]
        );
        link.tell(byte::ACCEPTING);
        let mut got = [0u8; 1];
        (&theirs).read_exact(&mut got).unwrap();
        assert_eq!(got, [byte::ACCEPTING]);
        drop(theirs);
        assert_eq!(link.orders(), [Order::Lost]);
    }
}
