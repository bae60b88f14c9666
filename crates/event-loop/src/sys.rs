//! The OS calls of the loop that neither std nor mio offers: `sendfile(2)` (through nix),
//! the two `epoll_ctl(2)` calls of `thunder-lock`, raw because no crate sets EPOLLEXCLUSIVE
//! on mio's own epoll instance, and a socket's receive low-water mark (`SO_RCVLOWAT`, which
//! socket2 does not offer) with the queued-bytes count that goes with it.

use std::io;
use std::os::fd::{BorrowedFd, RawFd};

use nix::errno::Errno;

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
    Errno::result(res)?;
    Ok(())
}

/// Removes `fd` from the epoll instance `epfd`.
pub(crate) fn epoll_del(epfd: RawFd, fd: RawFd) -> io::Result<()> {
    // SAFETY: a null event is allowed for EPOLL_CTL_DEL since Linux 2.6.9; bad fds are
    // reported as an error.
    let res = unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
    Errno::result(res)?;
    Ok(())
}

/// Sets `SO_RCVLOWAT` (socket(7)): readiness, and the kernel's wake-up of the loop, wait
/// until `bytes` are queued (or the receive window is nearly closed, memory is short, or the
/// peer closed).
pub(crate) fn set_recv_low_water(sock: RawFd, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: `value` is a c_int that outlives the call, and its size is passed; the kernel
    // only reads it. A bad fd is reported as an error.
    let res = unsafe {
        libc::setsockopt(
            sock,
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    Errno::result(res)?;
    Ok(())
}

/// The bytes queued on `sock` and not yet read (`FIONREAD`, tcp(7)'s `SIOCINQ`).
pub(crate) fn queued_input(sock: RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int to the pointer, which is valid for the call.
    let res = unsafe { libc::ioctl(sock, libc::FIONREAD, &mut n) };
    Errno::result(res)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Whether a TCP low-water mark is safe to set with epoll: since Linux 5.8 the kernel grows
/// the receive buffer to the mark and reports input when the window closes before the mark
/// is reached. Before, a mark above what the window lets in hangs the connection until a
/// timeout, so the loop does not set one there (nor where the release cannot be read).
pub(crate) fn low_water_is_reliable() -> bool {
    static RELIABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *RELIABLE.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .and_then(|release| kernel_version(&release))
            .is_some_and(|version| version >= (5, 8))
    })
}

/// `(major, minor)` of a kernel release string such as `6.1.0-18-amd64`.
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::kernel_version;

    #[test]
    fn kernel_releases_read_as_major_and_minor() {
        assert_eq!(kernel_version("6.1.0-18-amd64\n"), Some((6, 1)));
        assert_eq!(kernel_version("5.8.0"), Some((5, 8)));
        assert_eq!(kernel_version("4.18.0-513.el8.x86_64"), Some((4, 18)));
        assert_eq!(kernel_version("6.18.44-fc-v1300"), Some((6, 18)));
        assert_eq!(kernel_version("garbage"), None);
    }
}
