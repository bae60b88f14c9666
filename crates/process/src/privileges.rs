//! `uid`, `gid` and `chown-socket`: users and groups by name or number.

use std::ffi::CString;
use std::path::Path;

use crate::error::{Error, ErrorKind};
use crate::sys::syscall;

/// A user id by number or by name (looked up in the user database).
pub fn resolve_uid(user: &str) -> Result<libc::uid_t, Error> {
    if let Ok(n) = user.parse() {
        return Ok(n);
    }
    let name = CString::new(user).map_err(|_| unknown("user", user))?;
    // SAFETY: a valid C string; the returned pointer is read before any other getpw* call.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(unknown("user", user));
    }
    // SAFETY: getpwnam returned a valid passwd record.
    Ok(unsafe { (*pw).pw_uid })
}

/// A group id by number or by name (looked up in the group database).
pub fn resolve_gid(group: &str) -> Result<libc::gid_t, Error> {
    if let Ok(n) = group.parse() {
        return Ok(n);
    }
    let name = CString::new(group).map_err(|_| unknown("group", group))?;
    // SAFETY: a valid C string; the returned pointer is read before any other getgr* call.
    let gr = unsafe { libc::getgrnam(name.as_ptr()) };
    if gr.is_null() {
        return Err(unknown("group", group));
    }
    // SAFETY: getgrnam returned a valid group record.
    Ok(unsafe { (*gr).gr_gid })
}

fn unknown(what: &str, name: &str) -> Error {
    Error::new(ErrorKind::Config(format!(
        "unknown {what} {name:?} (uid/gid/chown-socket)"
    )))
}

/// Drops to `gid` then `uid` (either may be absent). Asking for the current id is a no-op,
/// so `uid=root` as root (the seed's ini) changes nothing. Supplementary groups are reset
/// to the new group when running as root.
pub fn drop_privileges(uid: Option<&str>, gid: Option<&str>) -> Result<(), Error> {
    if let Some(gid) = gid {
        let gid = resolve_gid(gid)?;
        // SAFETY: getgid/getuid cannot fail.
        if gid != unsafe { libc::getgid() } {
            // SAFETY: as above.
            if unsafe { libc::geteuid() } == 0 {
                syscall!(setgroups(1, &gid)).map_err(|e| Error::os("setgroups", e))?;
            }
            syscall!(setgid(gid)).map_err(|e| Error::os(format!("cannot set gid {gid}"), e))?;
            log::info!("setgid() to {gid}");
        }
    }
    if let Some(uid) = uid {
        let uid = resolve_uid(uid)?;
        // SAFETY: getuid cannot fail.
        if uid != unsafe { libc::getuid() } {
            // Leaving root: drop root's supplementary groups too (uWSGI calls initgroups).
            // SAFETY: geteuid/getgid cannot fail.
            if unsafe { libc::geteuid() } == 0 {
                // SAFETY: as above.
                let gid = unsafe { libc::getgid() };
                syscall!(setgroups(1, &gid)).map_err(|e| Error::os("setgroups", e))?;
            }
            syscall!(setuid(uid)).map_err(|e| Error::os(format!("cannot set uid {uid}"), e))?;
            log::info!("setuid() to {uid}");
        }
    }
    Ok(())
}

/// `chown-socket`: `user` or `user:group` onto a unix socket file.
pub fn chown_socket(path: &Path, owner: &str) -> Result<(), Error> {
    let (user, group) = match owner.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (owner, None),
    };
    let uid = resolve_uid(user)?;
    // Without a group, the socket's group stays as it is.
    let gid = group.map(resolve_gid).transpose()?;
    std::os::unix::fs::chown(path, Some(uid), gid).map_err(|e| {
        Error::os(
            format!("cannot chown-socket {} to {owner}", path.display()),
            e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(resolve_uid("0").unwrap(), 0);
        assert_eq!(resolve_uid("root").unwrap(), 0);
        assert_eq!(resolve_gid("root").unwrap(), 0);
        let err = resolve_uid("no-such-user-xyz").unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown user \"no-such-user-xyz\""),
            "{err}"
        );
    }

    #[test]
    fn dropping_to_the_current_ids_is_a_no_op() {
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        drop_privileges(Some(&uid.to_string()), Some(&gid.to_string())).unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getuid() }, uid);
    }
}
