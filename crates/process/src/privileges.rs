//! `uid`, `gid` and `chown-socket`: users and groups by name or number.

use std::path::Path;

use nix::unistd::{geteuid, getgid, getuid, setgid, setgroups, setuid, Gid, Group, Uid, User};

use crate::error::{Error, ErrorKind};

/// A user id by number or by name (looked up in the user database).
pub fn resolve_uid(user: &str) -> Result<Uid, Error> {
    if let Ok(n) = user.parse() {
        return Ok(Uid::from_raw(n));
    }
    match User::from_name(user) {
        Ok(Some(u)) => Ok(u.uid),
        _ => Err(unknown("user", user)),
    }
}

/// A group id by number or by name (looked up in the group database).
pub fn resolve_gid(group: &str) -> Result<Gid, Error> {
    if let Ok(n) = group.parse() {
        return Ok(Gid::from_raw(n));
    }
    match Group::from_name(group) {
        Ok(Some(g)) => Ok(g.gid),
        _ => Err(unknown("group", group)),
    }
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
        if gid != getgid() {
            if geteuid().is_root() {
                setgroups(&[gid]).map_err(|e| Error::os("setgroups", e.into()))?;
            }
            setgid(gid).map_err(|e| Error::os(format!("cannot set gid {gid}"), e.into()))?;
            log::info!("setgid() to {gid}");
        }
    }
    if let Some(uid) = uid {
        let uid = resolve_uid(uid)?;
        if uid != getuid() {
            // Leaving root: drop root's supplementary groups too (uWSGI calls initgroups).
            if geteuid().is_root() {
                setgroups(&[getgid()]).map_err(|e| Error::os("setgroups", e.into()))?;
            }
            setuid(uid).map_err(|e| Error::os(format!("cannot set uid {uid}"), e.into()))?;
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
    let uid = resolve_uid(user)?.as_raw();
    // Without a group, the socket's group stays as it is.
    let gid = group.map(resolve_gid).transpose()?.map(Gid::as_raw);
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
        assert_eq!(resolve_uid("0").unwrap(), Uid::from_raw(0));
        assert_eq!(resolve_uid("root").unwrap(), Uid::from_raw(0));
        assert_eq!(resolve_gid("root").unwrap(), Gid::from_raw(0));
        assert!(resolve_gid("no-such-group-xyz").is_err());
        let err = resolve_uid("no-such-user-xyz").unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown user \"no-such-user-xyz\""),
            "{err}"
        );
    }

    #[test]
    fn dropping_to_the_current_ids_is_a_no_op() {
        let (uid, gid) = (getuid(), getgid());
        drop_privileges(Some(&uid.to_string()), Some(&gid.to_string())).unwrap();
        assert_eq!((getuid(), getgid()), (uid, gid));
    }
}
