//! systemd's readiness protocol: the test plays systemd with a unix datagram socket named
//! in `NOTIFY_SOCKET` and reads what the master sends: a status at start, `READY=1` once
//! the workers accept, `RELOADING=1` with `MONOTONIC_USEC` before a reload and `READY=1`
//! after it, `STOPPING=1` at a stop. And socket activation: the test binds the sockets and
//! passes them as systemd does (`LISTEN_FDS`, `LISTEN_PID`).

use std::net::SocketAddr;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{self, UnixDatagram};
use std::time::Duration;

use ruwsgi_integration_tests::*;

/// The next message systemd would get; panics after 30 s.
fn next(listener: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = listener.recv(&mut buf).expect("a notification within 30 s");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn notified_server(notify_socket: &str) -> (Server, SocketAddr) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let server = ServerBuilder::new([
        "--http-socket",
        &addr.to_string(),
        "--master",
        "--processes",
        "2",
        "--wsgi-file",
        &app("log_app.py"),
    ])
    .env("NOTIFY_SOCKET", notify_socket)
    .start();
    (server, addr)
}

fn monotonic_micros() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

#[test]
fn the_master_tells_systemd_ready_reloading_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let listener = UnixDatagram::bind(&path).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (mut server, addr) = notified_server(path.to_str().unwrap());

    let first = next(&listener);
    assert!(first.starts_with("STATUS=initializing"), "{first}");
    let ready = next(&listener);
    assert_eq!(ready, "READY=1\nSTATUS=ready: 2 workers accepting");
    // Ready means accepting: a request is answered at once.
    assert_eq!(get(addr, "/").status, 200);

    let before = monotonic_micros();
    server.signal(libc::SIGHUP);
    let reloading = next(&listener);
    let usec: u64 = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .unwrap_or_else(|| panic!("{reloading}"))
        .parse()
        .unwrap();
    assert!(reloading.starts_with("RELOADING=1\n"), "{reloading}");
    assert!(
        usec >= before && usec <= monotonic_micros(),
        "MONOTONIC_USEC={usec}, the test's clock read {before} before"
    );
    // The re-executed image says its own initializing status, then ready again.
    let status = next(&listener);
    assert!(status.starts_with("STATUS=initializing"), "{status}");
    assert_eq!(
        next(&listener),
        "READY=1\nSTATUS=ready: 2 workers accepting"
    );
    server.wait_for_log("the new workers are ready");
    assert_eq!(get(addr, "/").status, 200);

    server.signal(libc::SIGTERM);
    assert_eq!(next(&listener), "STOPPING=1\nSTATUS=stopping");
    assert!(server.wait_exit().success());
    // Only the master spoke: nothing more came (no worker said READY=1 on its own).
    listener
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(listener.recv(&mut buf).is_err(), "an extra notification");
}

#[test]
fn an_abstract_notify_socket_is_told_too() {
    let name = format!("ruwsgi-test-notify-{}-{}", std::process::id(), free_port());
    let listener =
        UnixDatagram::bind_addr(&net::SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (server, _addr) = notified_server(&format!("@{name}"));
    assert!(next(&listener).starts_with("STATUS=initializing"));
    assert!(next(&listener).starts_with("READY=1\n"));
    drop(server);
}

/// Socket activation: the sockets the options name are used as passed (nothing is bound:
/// the test still holds the TCP address, and the unix socket's file keeps its inode), a
/// passed socket no option names serves uwsgi, all three survive a reload, and the unix
/// socket's file (systemd's) stays after a stop with `vacuum`.
#[test]
fn passed_sockets_are_served_kept_across_a_reload_and_left_to_systemd() {
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::MetadataExt;

    let dir = tempfile::tempdir().unwrap();
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_addr = http.local_addr().unwrap();
    let unnamed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unnamed_addr = unnamed.local_addr().unwrap();
    let sock = dir.path().join("app.sock");
    let unix = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let inode = std::fs::metadata(&sock).unwrap().ino();
    // The test keeps its own copies, as systemd does.
    let passed: Vec<OwnedFd> = vec![
        http.try_clone().unwrap().into(),
        unix.try_clone().unwrap().into(),
        unnamed.try_clone().unwrap().into(),
    ];
    let mut server = ServerBuilder::socket_activated(
        passed,
        [
            "--master",
            "--processes",
            "2",
            "--http-socket",
            &http_addr.to_string(),
            "--socket",
            sock.to_str().unwrap(),
            "--wsgi-file",
            &app("log_app.py"),
            "--vacuum",
        ],
    )
    .start();
    server.wait_for_log("spawned worker 2");
    let log = server.wait_for_log("no socket option names it");
    assert_eq!(log.matches("passed by systemd").count(), 3, "{log}");
    let all_answer = || {
        assert_eq!(get(http_addr, "/a").status, 200);
        let packet = uwsgi_packet(&uwsgi_vars("GET", "/b"), b"");
        assert_eq!(uwsgi_unix_request(&sock, &packet).status, 200);
        assert_eq!(uwsgi_tcp_request(unnamed_addr, &packet).status, 200);
    };
    all_answer();
    assert_eq!(
        std::fs::metadata(&sock).unwrap().ino(),
        inode,
        "not rebound"
    );

    server.signal(libc::SIGHUP);
    server.wait_for_log("the new workers are ready");
    all_answer();

    server.signal(libc::SIGTERM);
    assert!(server.wait_exit().success(), "{}", server.log());
    assert!(sock.exists(), "vacuum left systemd's socket file");
    drop((http, unnamed, unix));
}
