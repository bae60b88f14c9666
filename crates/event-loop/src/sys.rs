//! The OS calls of the loop that neither std nor mio offers: `sendfile(2)` (through nix) and
//! the two `epoll_ctl(2)` calls of `thunder-lock`, raw because no crate sets EPOLLEXCLUSIVE
//! on mio's own epoll instance.

use std::io;
use std::os::fd::{BorrowedFd, RawFd};

/// `sendfile(2)`: copies up to `count` bytes of `file` from `*offset` to `sock`, advancing
/// `*offset`. Returns the bytes written (0 at the end of the file).
pub(crate) fn sendfile(
    sock: RawFd,
    file: RawFd,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    // SAFETY: the caller (the connection writing a file) owns both fds, open for the whole
    // call; the borrows end with this function.
    let (sock, file) = unsafe { (BorrowedFd::borrow_raw(sock), BorrowedFd::borrow_raw(file)) };
    let mut off =
        i64::try_from(*offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let n = nix::sys::sendfile::sendfile64(sock, file, Some(&mut off), count)?;
    *offset = off as u64;
    Ok(n)
}

/// Adds `fd` to the epoll instance `epfd` (mio's, see [`crate::Listener`]) for
/// `EPOLLIN | EPOLLEXCLUSIVE | EPOLLET`, with mio's encoding of `token` (the event's `u64`).
///
/// EPOLLEXCLUSIVE wakes one of the epoll instances *blocked in epoll_wait* on this fd per
/// event (epoll(7)). It only works on the epoll a thread waits on: in an epoll of its own
/// nested in mio's, the inner instance has no direct waiter, the kernel counts no exclusive
/// wake-up and wakes every worker (measured; ep_poll_callback in fs/eventpoll.c).
pub(crate) fn epoll_add_exclusive(epfd: RawFd, fd: RawFd, token: usize) -> io::Result<()> {
    let mut event = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLEXCLUSIVE | libc::EPOLLET) as u32,
        u64: token as u64,
    };
    // SAFETY: `event` is a valid epoll_event that outlives the call; the kernel only reads
    // it. Bad fds are reported as an error, not undefined behaviour.
    let res = unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut event) };
    if res == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Removes `fd` from the epoll instance `epfd`.
pub(crate) fn epoll_del(epfd: RawFd, fd: RawFd) -> io::Result<()> {
    // SAFETY: a null event is allowed for EPOLL_CTL_DEL since Linux 2.6.9; bad fds are
    // reported as an error.
    let res = unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
    if res == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
