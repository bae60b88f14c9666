//! The one place libc calls turn `-1` into `io::Error` (mio's `syscall!`), and the few
//! socket calls std and mio do not offer.

use std::io;
use std::os::fd::RawFd;

/// Calls a libc function, mapping a `-1` result to `io::Error::last_os_error()`.
macro_rules! syscall {
    ($fn: ident ( $($arg: expr),* $(,)* ) ) => {{
        #[allow(unused_unsafe)]
        // SAFETY: every caller passes valid arguments for this libc call (see its call site).
        let res = unsafe { libc::$fn($($arg, )*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
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
