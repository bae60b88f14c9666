//! The shared cache (issue 14): `cache2` and the legacy `cache`, `uwsgi.cache_get`,
//! `cache_set`, `cache_update`, `cache_del`, `cache_exists`, `cache_clear` with uWSGI's
//! semantics; a value set by one worker is read by another and by a mule, expires on time,
//! and survives a worker's respawn and a graceful reload.
//!
//! Each worker has one thread, and a worker whose only thread is busy accepts nothing: a
//! request sent while one worker sleeps is served by the other. That is how these tests
//! choose the worker that serves a request.

use std::net::SocketAddr;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ruwsgi_integration_tests::{
    app, children_of, fd_count, fd_targets, free_port, get, sleeps_in_epoll_wait, wait_until,
    wait_until_for, Server, ServerBuilder,
};

/// A master with `extra` options serving `apps/cache_app.py`, workers spawned.
fn start(extra: &[&str]) -> (Server, SocketAddr) {
    let app = app("cache_app.py");
    let mut args = vec!["--master", "--wsgi-file", &app, "--disable-logging"];
    args.extend_from_slice(extra);
    let (server, addr) = Server::http(args);
    server.wait_for_log("spawned worker");
    (server, addr)
}

/// `GET path`: the pid that served it and what the cache call returned (Python's repr).
fn call(addr: SocketAddr, path: &str) -> (u32, String) {
    let r = get(addr, path);
    assert_eq!(r.status, 200, "{path}: {r:?}");
    let text = r.text();
    let (pid, result) = text.split_once(' ').expect("PID RESULT");
    (pid.parse().expect("a pid"), result.to_string())
}

/// What `GET path` returned, whoever served it.
fn result(addr: SocketAddr, path: &str) -> String {
    call(addr, path).1
}

/// Holds the only thread of the worker that takes it for `seconds`; joins to its pid.
fn busy(addr: SocketAddr, seconds: f64) -> JoinHandle<u32> {
    let handle = std::thread::spawn(move || call(addr, &format!("/sleep?seconds={seconds}")).0);
    // Let the request reach its worker.
    std::thread::sleep(Duration::from_millis(300));
    handle
}

/// `path` served by each of two workers in turn: first by one while the other sleeps, then
/// by the sleeper as it wakes while the first sleeps longer.
fn served_by_both(addr: SocketAddr, path: &str) -> [(u32, String); 2] {
    let first_sleeps = busy(addr, 1.0);
    let one = call(addr, path);
    let one_sleeps = busy(addr, 3.0);
    let other = call(addr, path);
    assert_eq!(other.0, first_sleeps.join().unwrap(), "the first to wake");
    assert_eq!(one.0, one_sleeps.join().unwrap());
    assert_ne!(one.0, other.0, "two workers served {path}");
    [one, other]
}

#[test]
fn a_value_set_in_one_worker_is_read_in_the_other_and_in_a_mule() {
    let mule = app("cache_app.py");
    let (server, addr) = start(&[
        "--processes",
        "2",
        "--cache2",
        "name=shared,items=100,blocksize=64",
        "--cache2",
        "name=other,items=10",
        "--mule",
        &mule,
    ]);
    server.wait_for_log("spawned worker 2");
    // The sleeping worker leaves the set to the other; then that one sleeps longer.
    let sleeper = busy(addr, 1.0);
    let (setter, stored) = call(addr, "/set?key=k&value=from-one&cache=shared");
    assert_eq!(stored, "True");
    let setter_sleeps = busy(addr, 3.0);
    let (reader, got) = call(addr, "/get?key=k&cache=shared");
    let (first, second) = (sleeper.join().unwrap(), setter_sleeps.join().unwrap());
    assert_eq!(second, setter);
    assert_eq!(reader, first, "the other worker read it");
    assert_ne!(reader, setter);
    assert_eq!(got, "b'from-one'");
    // Not in the other cache; the first cache is the default one.
    assert_eq!(result(addr, "/get?key=k&cache=other"), "None");
    assert_eq!(result(addr, "/get?key=k"), "b'from-one'");

    // The mule stored its pid in the first cache at its start; the workers read it, and
    // a value set by a worker is there for the mule (the same memory).
    let mule_pid = wait_until("the mule's value", || {
        let got = result(addr, "/get?key=mule");
        got.strip_prefix("b'")
            .and_then(|p| p.strip_suffix('\''))
            .and_then(|p| p.parse::<u32>().ok())
    });
    assert!(children_of(server.pid).contains(&mule_pid));
    assert_ne!(mule_pid, setter);
    assert_ne!(mule_pid, reader);
    let log = server.log();
    assert!(
        log.contains(r#"cache "shared" created: 100 items of up to 64 bytes"#),
        "{log}"
    );
    assert!(
        log.contains(r#"cache "other" created: 10 items of up to 65536 bytes, keys up to 2048"#),
        "{log}"
    );
}

#[test]
fn values_expire_on_time() {
    let (_server, addr) = start(&["--cache2", "name=c,items=10"]);
    let set_at = Instant::now();
    assert_eq!(result(addr, "/set?key=short&value=v&expires=1"), "True");
    assert_eq!(result(addr, "/set?key=long&value=w&expires=60"), "True");
    assert_eq!(result(addr, "/get?key=short"), "b'v'");
    assert_eq!(result(addr, "/exists?key=short"), "True");
    wait_until_for(Duration::from_secs(5), "the value to expire", || {
        (result(addr, "/get?key=short") == "None").then_some(())
    });
    let lived = set_at.elapsed();
    assert!(
        lived >= Duration::from_millis(900),
        "expired after {lived:?}"
    );
    assert!(lived < Duration::from_secs(3), "expired after {lived:?}");
    assert_eq!(result(addr, "/exists?key=short"), "None");
    assert_eq!(result(addr, "/get?key=long"), "b'w'");
    // An expired key is free for cache_set again.
    assert_eq!(result(addr, "/set?key=short&value=again"), "True");
    assert_eq!(result(addr, "/get?key=short"), "b'again'");
}

#[test]
fn set_keeps_a_live_value_update_replaces_it_and_too_large_a_value_is_refused() {
    let (server, addr) = start(&[
        "--cache",
        "5",
        "--cache-blocksize",
        "16",
        "--cache2",
        "name=named,items=4,blocksize=8,keysize=8",
    ]);
    // The legacy cache is named "default" and, created first, is the default one.
    assert_eq!(result(addr, "/set?key=k&value=one"), "True");
    assert_eq!(result(addr, "/set?key=k&value=two"), "None");
    assert_eq!(result(addr, "/get?key=k&cache=default"), "b'one'");
    assert_eq!(result(addr, "/update?key=k&value=three"), "True");
    assert_eq!(result(addr, "/get?key=k"), "b'three'");
    assert_eq!(result(addr, "/update?key=fresh&value=made"), "True");
    assert_eq!(result(addr, "/get?key=fresh"), "b'made'");

    assert_eq!(result(addr, "/big?key=fits&size=16"), "True");
    assert_eq!(result(addr, "/big?key=over&size=17"), "None");
    assert_eq!(result(addr, "/get?key=over"), "None");
    assert_eq!(result(addr, "/big?key=over&size=9&cache=named"), "None");
    assert_eq!(
        result(addr, "/set?key=too-long-a-key&value=v&cache=named"),
        "None"
    );
    assert_eq!(result(addr, "/set?key=k&value=named&cache=named"), "True");
    assert_eq!(result(addr, "/get?key=k&cache=named"), "b'named'");
    assert_eq!(result(addr, "/get?key=k"), "b'three'", "each cache its own");

    assert_eq!(result(addr, "/exists?key=fits"), "True");
    assert_eq!(result(addr, "/del?key=fits"), "True");
    assert_eq!(result(addr, "/del?key=fits"), "None");
    assert_eq!(result(addr, "/exists?key=fits"), "None");
    assert_eq!(result(addr, "/clear"), "True");
    assert_eq!(result(addr, "/get?key=k"), "None");
    assert_eq!(result(addr, "/get?key=k&cache=named"), "b'named'");
    assert_eq!(result(addr, "/clear?cache=named"), "True");
    assert_eq!(result(addr, "/get?key=k&cache=named"), "None");

    // A cache that does not exist: None, and the log says why, once.
    assert_eq!(result(addr, "/set?key=k&value=v&cache=nope"), "None");
    assert_eq!(result(addr, "/get?key=k&cache=nope"), "None");
    let log = server.wait_for_log(r#"no cache named "nope""#);
    assert_eq!(log.matches(r#"no cache named "nope""#).count(), 1, "{log}");
    assert!(
        log.contains("a value of 17 bytes is larger than the blocksize (16)"),
        "{log}"
    );
}

/// Kills `pid` with SIGKILL.
fn kill(pid: u32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
}

#[test]
fn the_cache_survives_a_worker_respawn() {
    let (server, addr) = start(&["--processes", "2", "--cache2", "name=c,items=10"]);
    server.wait_for_log("spawned worker 2");
    let (setter, stored) = call(addr, "/set?key=k&value=kept");
    assert_eq!(stored, "True");
    let before = children_of(server.pid);
    kill(setter);
    let respawned = wait_until("the killed worker's replacement", || {
        let now = children_of(server.pid);
        let new: Vec<u32> = now
            .iter()
            .copied()
            .filter(|p| !before.contains(p))
            .collect();
        (now.len() == 2 && !now.contains(&setter) && new.len() == 1).then(|| new[0])
    });
    server.wait_for_log("respawning");
    wait_until("the replacement to wait for connections", || {
        sleeps_in_epoll_wait(respawned).then_some(())
    });
    let [one, other] = served_by_both(addr, "/get?key=k");
    let mut pids = [one.0, other.0];
    pids.sort_unstable();
    let mut want = children_of(server.pid);
    want.sort_unstable();
    assert_eq!(
        pids[..],
        want[..],
        "the survivor and the replacement served"
    );
    assert!(pids.contains(&respawned));
    assert_eq!(one.1, "b'kept'");
    assert_eq!(other.1, "b'kept'");
}

/// Writes the ini file of the reload test: two caches, `other` with `other_items` items.
fn write_ini(path: &Path, addr: SocketAddr, other_items: usize) {
    let ini = format!(
        "[uwsgi]\n\
         master = true\n\
         processes = 2\n\
         http-socket = {addr}\n\
         wsgi-file = {}\n\
         disable-logging = true\n\
         cache2 = name=shared,items=100,blocksize=64\n\
         cache2 = name=other,items={other_items},blocksize=64\n",
        app("cache_app.py")
    );
    std::fs::write(path, ini).unwrap();
}

/// Waits until `server` has two workers, none of them in `before`; returns them.
fn new_workers(server: &Server, before: &[u32]) -> Vec<u32> {
    wait_until("two new workers", || {
        let now = children_of(server.pid);
        (now.len() == 2 && now.iter().all(|p| !before.contains(p))).then_some(now)
    })
}

#[test]
fn the_cache_survives_a_graceful_reload_and_a_changed_cache_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("cache.ini");
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    write_ini(&ini, addr, 10);
    let mut server = ServerBuilder::new([ini.as_os_str()]).start();
    server.wait_for_tcp(addr);
    server.wait_for_log("spawned worker 2");
    assert_eq!(result(addr, "/set?key=k&value=kept&cache=shared"), "True");
    assert_eq!(result(addr, "/set?key=j&value=other&cache=other"), "True");

    // A reload with the same caches: the new master adopts both, and its new workers read
    // the values.
    let cache_fds = |pid: u32| {
        fd_targets(pid)
            .iter()
            .filter(|t| t.contains("ruwsgi-cache-"))
            .count()
    };
    assert_eq!(cache_fds(server.pid), 2, "{:?}", fd_targets(server.pid));
    let master_fds = fd_count(server.pid);
    let before = children_of(server.pid);
    server.signal(libc::SIGHUP);
    server.wait_for_log("master process reloaded");
    let after = new_workers(&server, &before);
    let (pid, got) = call(addr, "/get?key=k&cache=shared");
    assert!(
        after.contains(&pid),
        "a new worker ({pid}) served: {after:?}"
    );
    assert_eq!(got, "b'kept'");
    assert_eq!(result(addr, "/get?key=j&cache=other"), "b'other'");
    let log = server.log();
    assert!(
        log.contains(r#"cache "shared" taken over from the previous image (1 items)"#),
        "{log}"
    );
    assert!(
        log.contains(r#"cache "other" taken over from the previous image (1 items)"#),
        "{log}"
    );
    assert_eq!(cache_fds(server.pid), 2, "the handed-over fds are closed");
    assert!(fd_count(server.pid) <= master_fds);

    // A reload that changes a cache's geometry: that cache starts empty, the other keeps
    // its values.
    write_ini(&ini, addr, 20);
    server.signal(libc::SIGHUP);
    wait_until("the second reload", || {
        (server.log().matches("master process reloaded").count() == 2).then_some(())
    });
    let last = new_workers(&server, &after);
    let (pid, got) = call(addr, "/get?key=k&cache=shared");
    assert!(last.contains(&pid), "a new worker ({pid}) served: {last:?}");
    assert_eq!(got, "b'kept'");
    assert_eq!(result(addr, "/get?key=j&cache=other"), "None");
    let log = server.log();
    assert!(
        log.contains(
            r#"cache "other" is not taken over from the previous image, a new empty one replaces it: the inherited cache holds items=10,blocksize=64,keysize=2048, not items=20,blocksize=64,keysize=2048"#
        ),
        "{log}"
    );
    assert_eq!(
        cache_fds(server.pid),
        2,
        "the replaced cache's fd is closed"
    );
    assert!(server.is_running());
}
