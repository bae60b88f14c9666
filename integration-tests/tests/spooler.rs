//! The spooler (issue 14): jobs queued by `uwsgi.spool()` and `@spool` run in spooler
//! processes, are removed only after they succeeded, retry on `SPOOL_RETRY` and on an
//! exception, and survive a killed spooler and a server restart. Over the real binary with
//! `apps/spool_app.py`, which records each run in a file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ruwsgi_integration_tests::{
    app, free_port, get, logged_pid, pid_alive, wait_until, Server, ServerBuilder,
};

/// A master with one worker and a spooler on `dir/spool` (scanned every second).
fn start(dir: &Path) -> (Server, SocketAddr) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (address, app_file) = (addr.to_string(), app("spool_app.py"));
    let spool = dir.join("spool");
    let mut server = ServerBuilder::new([
        "--master",
        "--http-socket",
        address.as_str(),
        "--wsgi-file",
        app_file.as_str(),
        "--spooler",
        spool.to_str().unwrap(),
        "--spooler-frequency",
        "1",
    ])
    .env("SPOOL_LOG", dir.join("runs.log"))
    .start();
    server.wait_for_tcp(addr);
    (server, addr)
}

fn runs(dir: &Path, what: &str) -> usize {
    std::fs::read_to_string(dir.join("runs.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split(' ').next() == Some(what))
        .count()
}

fn jobs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir.join("spool"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn spooler_pid(server: &Server) -> u32 {
    logged_pid(&server.log(), "spawned spooler 1").expect("the spooler's pid in the log")
}

#[test]
fn a_spooled_job_runs_once_and_its_file_is_removed_after_success() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = start(dir.path());
    server.wait_for_log("spawned spooler 1 (pid ");
    let file = get(addr, "/spool?name=one&body=70000").text();
    assert!(file.contains("uwsgi_spoolfile_on_"), "{file}");
    wait_until("the job to be done", || {
        (runs(dir.path(), "run:one") == 1 && jobs(dir.path()).is_empty()).then_some(())
    });
    assert_eq!(
        runs(dir.path(), "body:70000"),
        1,
        "the body reached the job"
    );
    server.wait_for_log("done with task uwsgi_spoolfile_on_");
    assert_eq!(get(addr, "/decorated?x=abc").text(), "queued");
    wait_until("the @spool function to run", || {
        (runs(dir.path(), "decorated:abc") == 1).then_some(())
    });
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    assert_eq!(runs(dir.path(), "run:one"), 1, "once");
    drop(server);
}

#[test]
fn spool_retry_and_an_exception_run_the_job_again() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = start(dir.path());
    get(addr, "/spool?name=retry-a");
    get(addr, "/spool?name=boom-b");
    wait_until("the retried jobs to succeed", || {
        let done = runs(dir.path(), "run:retry-a") == 3 && runs(dir.path(), "run:boom-b") == 2;
        (done && jobs(dir.path()).is_empty()).then_some(())
    });
    assert!(server
        .log()
        .contains("RuntimeError: the first run of boom-b fails"));
    drop(server);
}

#[test]
fn a_job_survives_a_killed_spooler_and_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, addr) = start(dir.path());
    // The first run of "slow" sleeps; the spooler is killed in the middle of it.
    get(addr, "/spool?name=slow");
    wait_until("the slow job to start", || {
        (runs(dir.path(), "run:slow") == 1).then_some(())
    });
    let spooler = spooler_pid(&server);
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(spooler as i32, libc::SIGKILL) };
    assert_eq!(jobs(dir.path()).len(), 1, "the job stays queued");
    wait_until("the respawned spooler to run it again", || {
        (runs(dir.path(), "run:slow") == 2 && jobs(dir.path()).is_empty()).then_some(())
    });
    assert_ne!(spooler_pid(&server), spooler);
    // A job due in 3 s, then the server stops before it runs.
    get(addr, "/spool?name=later&at=3");
    server.signal(libc::SIGINT);
    assert!(server.wait_exit().success());
    assert!(
        !pid_alive(spooler_pid(&server)),
        "the spooler stopped with the server"
    );
    assert_eq!(runs(dir.path(), "run:later"), 0);
    assert_eq!(jobs(dir.path()).len(), 1, "the job outlives the server");
    // A new server on the same directory runs it.
    let (server, _addr) = start(dir.path());
    wait_until("the new server to run the job", || {
        (runs(dir.path(), "run:later") == 1 && jobs(dir.path()).is_empty()).then_some(())
    });
    drop(server);
}
