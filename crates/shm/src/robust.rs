//! Process-shared, robust POSIX mutexes: the one lock primitive of the shared memory (the
//! user locks and each cache's lock). glibc's `pthread_mutex_t`, as uWSGI uses: when a
//! process dies holding one (a harakiri kill, SIGKILL, a crash), the kernel marks it and the
//! next locker gets it with `EOWNERDEAD`; [`lock`] then makes it consistent and says so,
//! and the caller repairs what the dead holder may have left half done.

use std::io;
use std::mem::MaybeUninit;

/// Initializes a process-shared, robust mutex at `mutex`.
///
/// # Safety
/// `mutex` points at writable memory large and aligned enough for a `pthread_mutex_t`,
/// living as long as any user of the mutex, that no thread uses yet.
pub(crate) unsafe fn init(mutex: *mut libc::pthread_mutex_t) -> io::Result<()> {
    let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
    // SAFETY: `attr` is initialized by the first call before any other use, and destroyed
    // once; `mutex` is valid per this function's contract.
    unsafe {
        check(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
        let result = check(libc::pthread_mutexattr_setpshared(
            attr.as_mut_ptr(),
            libc::PTHREAD_PROCESS_SHARED,
        ))
        .and_then(|()| {
            check(libc::pthread_mutexattr_setrobust(
                attr.as_mut_ptr(),
                libc::PTHREAD_MUTEX_ROBUST,
            ))
        })
        .and_then(|()| check(libc::pthread_mutex_init(mutex, attr.as_ptr())));
        libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
        result
    }
}

/// Takes the mutex, waiting as long as another thread or process holds it: `Ok(true)` when
/// its holder had died (it is consistent again, and held by this thread).
///
/// # Safety
/// `mutex` was initialized by [`init`] and is still mapped.
pub(crate) unsafe fn lock(mutex: *mut libc::pthread_mutex_t) -> io::Result<bool> {
    // SAFETY: per this function's contract.
    match unsafe { libc::pthread_mutex_lock(mutex) } {
        0 => Ok(false),
        libc::EOWNERDEAD => {
            // SAFETY: as above; this thread holds the mutex now (EOWNERDEAD hands it over).
            check(unsafe { libc::pthread_mutex_consistent(mutex) })?;
            Ok(true)
        }
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Gives the mutex back; `EPERM` when this thread does not hold it.
///
/// # Safety
/// `mutex` was initialized by [`init`] and is still mapped.
pub(crate) unsafe fn unlock(mutex: *mut libc::pthread_mutex_t) -> io::Result<()> {
    // SAFETY: per this function's contract.
    check(unsafe { libc::pthread_mutex_unlock(mutex) })
}

fn check(code: libc::c_int) -> io::Result<()> {
    match code {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}
