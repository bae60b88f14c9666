//! The one place libc calls turn `-1` into `io::Error` ([`cvt`], behind a `syscall!` as
//! mio's), and the few socket calls std and mio do not offer.

use std::io;
use std::os::fd::RawFd;

/// A libc return type whose `-1` means failure (`c_int`, `pid_t`, `ssize_t`).
pub trait SyscallReturn: Copy + PartialEq + private::Sealed {
    /// The failure value, `-1`.
    const FAILED: Self;
}

mod private {
    pub trait Sealed {}
    impl Sealed for i32 {}
    impl Sealed for i64 {}
    impl Sealed for isize {}
}

impl SyscallReturn for i32 {
    const FAILED: i32 = -1;
}

impl SyscallReturn for i64 {
    const FAILED: i64 = -1;
}

impl SyscallReturn for isize {
    const FAILED: isize = -1;
}

/// Turns a libc call's `-1` into `io::Error::last_os_error()` (std's `cvt`, mio's
/// `syscall!`): the one such check in the workspace. Each crate wraps it in a private
/// `syscall!` macro of its own, so the `unsafe` of each call stays in the crate that makes
/// it, where its call site says why the arguments are valid.
pub fn cvt<T: SyscallReturn>(res: T) -> io::Result<T> {
    if res == T::FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(res)
    }
}

/// Calls a libc function through [`cvt`].
macro_rules! syscall {
    ($fn: ident ( $($arg: expr),* $(,)* ) ) => {{
        #[allow(unused_unsafe)]
        // SAFETY: every caller passes valid arguments for this libc call (see its call site).
        $crate::sys::cvt(unsafe { libc::$fn($($arg, )*) })
    }};
}

pub(crate) use syscall;

/// Sets an integer socket option.
pub(crate) fn set_int_opt(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // The pointer and length describe `value`, which outlives the call.
    syscall!(setsockopt(
        fd,
        level,
        name,
        (&value as *const libc::c_int).cast(),
        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
    ))?;
    Ok(())
}

/// The address family of a socket (`AF_UNIX`, `AF_INET`, `AF_INET6`), from getsockname(2).
pub(crate) fn socket_family(fd: RawFd) -> io::Result<libc::c_int> {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // The pointers describe `storage` and `len`, which outlive the call.
    syscall!(getsockname(
        fd,
        (&mut storage as *mut libc::sockaddr_storage).cast(),
        &mut len
    ))?;
    Ok(storage.ss_family as libc::c_int)
}

/// Whether a socket is listening (SO_ACCEPTCONN).
pub(crate) fn is_listening(fd: RawFd) -> io::Result<bool> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // The pointers describe `value` and `len`, which outlive the call.
    syscall!(getsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_ACCEPTCONN,
        (&mut value as *mut libc::c_int).cast(),
        &mut len
    ))?;
    Ok(value != 0)
}

/// `sendfile(2)`: copies up to `count` bytes of `file` from `*offset` to `sock`, advancing
/// `*offset`. Returns the bytes written (0 at the end of the file).
pub(crate) fn sendfile(
    sock: RawFd,
    file: RawFd,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    let mut off = *offset as libc::off_t;
    // `off` is a valid off_t the kernel updates; both fds are open for the call.
    let n = syscall!(sendfile(sock, file, &mut off, count))?;
    *offset = off as u64;
    Ok(n as usize)
}

/// `listen(2)` again on a listening socket: only changes its backlog.
pub(crate) fn listen(fd: RawFd, backlog: u32) -> io::Result<()> {
    syscall!(listen(fd, backlog.min(i32::MAX as u32) as libc::c_int))?;
    Ok(())
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
    // `event` outlives the call; the kernel only reads it.
    syscall!(epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut event))?;
    Ok(())
}

/// Removes `fd` from the epoll instance `epfd`.
pub(crate) fn epoll_del(epfd: RawFd, fd: RawFd) -> io::Result<()> {
    // A null event is allowed for EPOLL_CTL_DEL since Linux 2.6.9.
    syscall!(epoll_ctl(
        epfd,
        libc::EPOLL_CTL_DEL,
        fd,
        std::ptr::null_mut()
    ))?;
    Ok(())
}
