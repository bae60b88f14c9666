//! The shared memory itself: a `memfd` mapped `MAP_SHARED`, readable and writable.
//!
//! A `memfd` rather than an anonymous mapping so the master can hand the board (and each
//! cache) to the program it re-execs (the fd survives `exec` once `FD_CLOEXEC` is cleared), and forked
//! children share it because `MAP_SHARED` pages are shared across `fork`.

use std::ffi::CStr;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};
use nix::sys::stat::fstat;
use nix::unistd::ftruncate;

use crate::error::{Error, ErrorKind};

/// One mapped `memfd`; unmapped and closed on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    base: NonNull<u8>,
    len: usize,
    fd: OwnedFd,
}

impl Mapping {
    /// Creates a zero-filled `memfd` named `name` (as `/proc/PID/fd` shows it) of `len`
    /// bytes (close-on-exec) and maps it.
    pub(crate) fn create(name: &CStr, len: usize) -> Result<Mapping, Error> {
        let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC)
            .map_err(|e| Error::os(ErrorKind::Create, e))?;
        let size = len
            .try_into()
            .map_err(|_| Error::os(ErrorKind::Resize, nix::errno::Errno::EFBIG))?;
        ftruncate(&fd, size).map_err(|e| Error::os(ErrorKind::Resize, e))?;
        Mapping::map(fd, len)
    }

    /// Maps the whole of an existing `memfd` (one inherited across `exec`).
    pub(crate) fn open(fd: OwnedFd) -> Result<Mapping, Error> {
        let stat = fstat(&fd).map_err(|e| Error::os(ErrorKind::Inspect, e))?;
        let len = usize::try_from(stat.st_size).map_err(|_| Error::new(ErrorKind::NotABoard))?;
        Mapping::map(fd, len)
    }

    fn map(fd: OwnedFd, len: usize) -> Result<Mapping, Error> {
        let length = NonZeroUsize::new(len).ok_or(Error::new(ErrorKind::NotABoard))?;
        // SAFETY: a new shared mapping chosen by the kernel (no address hint, so nothing
        // of ours is replaced) of a file at least `len` bytes long; nothing else aliases
        // it in Rust, and it is only read and written through atomics (and, in a cache,
        // bytes guarded by the cache's lock).
        let base = unsafe {
            mmap(
                None,
                length,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                &fd,
                0,
            )
        }
        .map_err(|e| Error::os(ErrorKind::Map, e))?;
        Ok(Mapping {
            base: base.cast(),
            len,
            fd,
        })
    }

    /// The first byte of the mapping (page-aligned).
    pub(crate) fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// The mapping's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The `memfd`.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Sets or clears `FD_CLOEXEC` on the `memfd`.
    pub(crate) fn set_close_on_exec(&self, close: bool) -> Result<(), Error> {
        let flags = if close {
            FdFlag::FD_CLOEXEC
        } else {
            FdFlag::empty()
        };
        fcntl(&self.fd, FcntlArg::F_SETFD(flags))
            .map(drop)
            .map_err(|e| Error::os(ErrorKind::Inherit, e))
    }

    /// Whether the `memfd` is closed on `exec` (tests).
    #[cfg(test)]
    pub(crate) fn closes_on_exec(&self) -> bool {
        let flags = fcntl(&self.fd, FcntlArg::F_GETFD).expect("F_GETFD on our own fd");
        FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region `map` created; `Scoreboard` and `Cache` hand out
        // references into it only for as long as they (and so this mapping) live.
        if let Err(e) = unsafe { munmap(self.base.cast(), self.len) } {
            log::warn!("cannot unmap shared memory: {e}");
        }
    }
}
