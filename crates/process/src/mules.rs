//! Mules: processes the master forks beside the workers (`mules N`, `mule`, `mule = FILE`),
//! which serve no requests but run a script, a function, or a loop that handles messages and
//! uWSGI signals. The master respawns one that dies, stops them with the server and starts
//! them again with a reload, as uWSGI does.
//!
//! [`MuleQueues`] are their message queues (`uwsgi.mule_msg()` / `mule_get_msg()`): one
//! datagram socketpair per mule and one shared by all mules, made by the master before it
//! forks anything, so every worker and mule inherits them. A message is one datagram: it
//! arrives whole or not at all, and a message on the shared queue reaches exactly one mule.
//! A sender never waits: a full queue is logged and `mule_msg()` returns False, as uWSGI's.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType};

/// What one mule runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MuleSpec {
    /// `mule = FILE.py` or `mule = module:function`; `None` for the generic loop.
    pub(crate) patch: Option<String>,
}

/// The mules the options ask for: one per `mule` line (in order, ids from 1; a bare
/// `mule` is a generic one), then `mules` generic ones.
pub(crate) fn from_options(mule: &[String], mules: usize) -> Vec<MuleSpec> {
    let patched = mule.iter().map(|m| MuleSpec {
        patch: Some(m.trim().to_string()).filter(|m| !m.is_empty()),
    });
    patched
        .chain((0..mules).map(|_| MuleSpec { patch: None }))
        .collect()
}

/// One queue: a datagram socketpair, written at `send`, read at `recv`.
#[derive(Debug)]
struct Queue {
    send: OwnedFd,
    recv: OwnedFd,
}

impl Queue {
    fn new() -> io::Result<Queue> {
        let (send, recv) = socket::socketpair(
            AddressFamily::Unix,
            SockType::Datagram,
            None,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        Ok(Queue { send, recv })
    }
}

/// The mules' message queues (see the module doc).
#[derive(Debug)]
pub struct MuleQueues {
    shared: Queue,
    own: Vec<Queue>,
}

impl MuleQueues {
    /// Queues for `mules` mules.
    pub(crate) fn create(mules: usize) -> io::Result<MuleQueues> {
        Ok(MuleQueues {
            shared: Queue::new()?,
            own: (0..mules)
                .map(|_| Queue::new())
                .collect::<io::Result<_>>()?,
        })
    }

    /// The number of mules.
    pub fn count(&self) -> usize {
        self.own.len()
    }

    /// Queues `msg` for mule `mule` (1-based; 0: whichever mule reads first) without
    /// waiting. False when the queue is full or failed, logged.
    pub fn send(&self, msg: &[u8], mule: usize) -> bool {
        let queue = match mule {
            0 => &self.shared,
            n => match self.own.get(n - 1) {
                Some(q) => q,
                None => return false,
            },
        };
        match socket::send(queue.send.as_raw_fd(), msg, MsgFlags::MSG_DONTWAIT) {
            Ok(_) => true,
            Err(nix::errno::Errno::EAGAIN) => {
                log::error!(
                    "*** MULE MSG QUEUE IS FULL *** (mule {mule}): a message of {} bytes is \
                     dropped; the mule does not keep up",
                    msg.len()
                );
                false
            }
            Err(e) => {
                log::error!(
                    "cannot queue a message of {} bytes for mule {mule}: {e}",
                    msg.len()
                );
                false
            }
        }
    }

    /// In mule `mule`: waits for a message to it or to any mule, at most `timeout` (`None`:
    /// for ever), and returns its first `buffer` bytes; `None` when the time passed.
    pub fn recv(&self, mule: usize, buffer: usize, timeout: Option<Duration>) -> Option<Vec<u8>> {
        let own = self.own.get(mule.checked_sub(1)?)?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut buf = vec![0u8; buffer.max(1)];
        loop {
            let wait = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    // Rounded up, so a short wait is not a busy loop.
                    left.as_millis().min(i32::MAX as u128) as i32 + i32::from(!left.is_zero())
                }
            };
            let mut fds = [
                libc::pollfd {
                    fd: own.recv.as_fd().as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.shared.recv.as_fd().as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: `fds` is a valid array of two pollfds for the call.
            let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, wait) };
            if ready < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("mule {mule}: waiting for a message failed: {e}");
                    return None;
                }
            }
            for fd in fds.iter().filter(|p| p.revents != 0) {
                // Another mule may have taken a shared message first: EAGAIN, wait again.
                if let Ok(n) = socket::recv(fd.fd, &mut buf, MsgFlags::MSG_DONTWAIT) {
                    buf.truncate(n);
                    return Some(buf);
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mule_lines_come_first_then_generic_mules() {
        let specs = from_options(&["".into(), "tasks.py".into()], 2);
        let patches: Vec<_> = specs.iter().map(|s| s.patch.as_deref()).collect();
        assert_eq!(patches, [None, Some("tasks.py"), None, None]);
    }

    #[test]
    fn a_message_reaches_its_mule_or_one_of_them() {
        let q = MuleQueues::create(2).unwrap();
        assert!(q.send(b"to two", 2));
        assert!(q.send(b"to any", 0));
        assert!(!q.send(b"to three", 3), "no mule 3");
        let short = Some(Duration::from_millis(50));
        assert_eq!(q.recv(1, 100, short).as_deref(), Some(&b"to any"[..]));
        assert_eq!(q.recv(1, 100, short), None, "mule 1 has nothing left");
        assert_eq!(
            q.recv(2, 3, short).as_deref(),
            Some(&b"to "[..]),
            "cut to the buffer"
        );
        assert_eq!(q.recv(2, 100, short), None);
    }

    #[test]
    fn a_full_queue_refuses_without_waiting() {
        let q = MuleQueues::create(1).unwrap();
        let big = vec![7u8; 60_000];
        let started = Instant::now();
        let sent = (0..1000).take_while(|_| q.send(&big, 1)).count();
        assert!(sent < 1000, "the queue filled after {sent} messages");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
