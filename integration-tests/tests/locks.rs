//! uWSGI's user locks (issue 14): `locks N`, `uwsgi.lock(n)` / `unlock(n)` and `@lock`
//! across the workers of a server, over the real binary with `apps/locks_app.py`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;

use ruwsgi_integration_tests::{app, free_port, get, Server, ServerBuilder};

fn start(dir: &Path) -> (Server, SocketAddr) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let counter = dir.join("counter");
    std::fs::write(&counter, "0").unwrap();
    let (address, app_file) = (addr.to_string(), app("locks_app.py"));
    let mut server = ServerBuilder::new([
        "--master",
        "--processes",
        "2",
        "--threads",
        "20",
        "--locks",
        "1",
        "--http-socket",
        address.as_str(),
        "--wsgi-file",
        app_file.as_str(),
    ])
    .env("LOCKS_COUNTER", &counter)
    .start();
    server.wait_for_tcp(addr);
    (server, addr)
}

/// 40 concurrent requests to `path`; the counter after them and the pids that served.
fn forty(dir: &Path, addr: SocketAddr, path: &'static str) -> (u64, BTreeSet<String>) {
    std::fs::write(dir.join("counter"), "0").unwrap();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(40));
    let clients: Vec<_> = (0..40)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                get(addr, path).text()
            })
        })
        .collect();
    let pids = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let counter = std::fs::read_to_string(dir.join("counter")).unwrap();
    (counter.trim().parse().unwrap(), pids)
}

#[test]
fn forty_increments_from_two_workers_are_exact_under_the_lock_and_lose_updates_without() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = start(dir.path());
    let (locked, pids) = forty(dir.path(), addr, "/locked");
    assert_eq!(pids.len(), 2, "both workers served: {pids:?}");
    assert_eq!(locked, 40, "@lock: every increment counted");
    let (unlocked, pids) = forty(dir.path(), addr, "/unlocked");
    assert_eq!(pids.len(), 2, "both workers served: {pids:?}");
    assert!(
        unlocked < 40,
        "without the lock updates are lost: {unlocked}"
    );
    assert!(get(addr, "/bad").text().contains("invalid lock number 9"));
    drop(server);
}

#[test]
fn a_lock_held_by_a_worker_that_died_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = start(dir.path());
    // The worker exits holding lock 1; its connection closes without an answer.
    let raw = ruwsgi_integration_tests::exchange_raw(
        addr,
        b"GET /hold-and-die HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(raw.is_empty(), "{}", String::from_utf8_lossy(&raw));
    server.wait_for_log("exit status 3");
    // Bounded: get() times out if the lock is never given back.
    assert!(get(addr, "/lock1").text().ends_with("took lock 1"));
    server.wait_for_log("lock 1 was held by a process that died; taken over");
    drop(server);
}
