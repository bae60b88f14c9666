//! The request log and the log file: uWSGI's default line (checked against lines real
//! uWSGI wrote), `log-format` and its variables, conditional logging under
//! `disable-logging`, `log-date`, `log-x-forwarded-for`, `add-header`, and the log file's
//! rotation through the master FIFO and `log-maxsize`, which loses no line.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ruwsgi_integration_tests::*;

/// One expression for uWSGI's default request line.
const DEFAULT_LINE: &str = r"^\[pid: \d+\|app: \d+\|req: \d+/\d+\] \S+ \(\S*\) \{\d+ vars in \d+ bytes\} \[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}\] [A-Z]+ \S+ => generated \d+ bytes in \d+ msecs( via sendfile\(\))? \(HTTP/1\.[01] \d{3}\) \d+ headers in \d+ bytes \(\d+ switches on core \d+\)$";

/// The request lines of a log: those that start as uWSGI's default line or as the test's
/// format does.
fn request_lines<'a>(log: &'a str, start: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.starts_with(start)).collect()
}

fn serve_log_app(args: &[&str]) -> (Server, SocketAddr) {
    let file = app("log_app.py");
    let mut all = vec!["--wsgi-file", file.as_str()];
    all.extend_from_slice(args);
    Server::http(all)
}

#[test]
fn the_default_line_matches_lines_real_uwsgi_wrote() {
    let re = regex::Regex::new(DEFAULT_LINE).unwrap();
    let captured = std::fs::read_to_string(
        workspace_root().join("integration-tests/data/uwsgi-2.0.31-request-lines.txt"),
    )
    .unwrap();
    assert_eq!(captured.lines().count(), 2);
    for line in captured.lines() {
        assert!(re.is_match(line), "uWSGI's own line: {line}");
    }

    let (server, addr) = serve_log_app(&[]);
    let r = exchange(
        addr,
        b"GET /path?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: curl/test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let log = server.wait_for_log("GET /path?x=1 =>");
    let ours = request_lines(&log, "[pid: ");
    assert_eq!(ours.len(), 1, "{log}");
    assert!(re.is_match(ours[0]), "ours: {}", ours[0]);
    assert!(ours[0].contains("generated 10 bytes"), "{}", ours[0]);
}

#[test]
fn log_format_substitutes_uwsgi_variables_and_log_vars() {
    let format = "LF %(method) %(uri) %(proto) %(status) %(rsize) %(hsize) %(size) %(cl) \
                  %(host) %(uagent) %(referer) %(var.HTTP_X_ID) %(var.QUERY_STRING) %(mine) \
                  %(user) %(pid) %(wid) %(addr) [%(ltime)] %(epoch) %(msecs) %(headers) end";
    let (server, addr) = serve_log_app(&["--master", "--log-format", format]);
    let r = exchange(
        addr,
        b"POST /status/201?q=2 HTTP/1.1\r\nHost: h.example\r\nUser-Agent: ua/1\r\n\
          X-Id: 42\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    );
    assert_eq!(r.status, 201);
    let log = server.wait_for_log(" end");
    let line = request_lines(&log, "LF ")[0];
    let fields: Vec<&str> = line.split(' ').collect();
    let head_bytes: u64 = fields[6].parse().unwrap();
    assert_eq!(
        &fields[..6],
        ["LF", "POST", "/status/201?q=2", "HTTP/1.1", "201", "10"],
        "{line}"
    );
    assert!(head_bytes > 20, "{line}");
    assert_eq!(fields[7], (head_bytes + 10).to_string(), "size: {line}");
    assert_eq!(
        &fields[8..16],
        [
            "3",
            "h.example",
            "ua/1",
            "-",
            "42",
            "q=2",
            "v-status-201",
            "-"
        ],
        "{line}"
    );
    let worker = children_of(server.pid)[0];
    assert_eq!(fields[16], worker.to_string(), "pid: {line}");
    assert_eq!(fields[17], "1", "wid: {line}");
    assert_eq!(fields[18], "127.0.0.1", "{line}");
    // [06/Dec/2026:20:13:22 +0000]
    let ltime = line.split('[').nth(1).unwrap().split(']').next().unwrap();
    assert!(
        regex::Regex::new(r"^\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}$")
            .unwrap()
            .is_match(ltime),
        "{line}"
    );
    let after: Vec<&str> = line.split("] ").nth(1).unwrap().split(' ').collect();
    let epoch: u64 = after[0].parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(epoch <= now && epoch + 60 > now, "{line}");
    assert!(after[1].parse::<u64>().is_ok(), "msecs: {line}");
    assert_eq!(after[2], "2", "headers: {line}");
}

#[test]
fn disable_logging_keeps_the_exchanges_log_4xx_and_log_5xx_pick() {
    let (server, addr) = serve_log_app(&[
        "--disable-logging",
        "--log-4xx",
        "--log-5xx",
        "--log-x-forwarded-for",
        "--log-date",
        "%Y-%m-%d",
    ]);
    for path in ["/ok", "/status/404", "/status/503", "/status/302"] {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.9, 10.0.0.1\r\n\
             Connection: close\r\n\r\n"
        );
        exchange(addr, req.as_bytes());
    }
    // A marker request after them, logged: the log has caught up to it.
    exchange(
        addr,
        b"GET /status/400 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    let log = server.wait_for_log("GET /status/400 =>");
    let lines = request_lines(&log, "[pid: ");
    assert_eq!(lines.len(), 3, "{log}");
    assert!(lines[0].contains("GET /status/404 => ") && lines[1].contains("/status/503"));
    // log-x-forwarded-for: the header's value, whole, as uWSGI logs it.
    assert!(
        lines[0].contains("] 203.0.113.9, 10.0.0.1 () {"),
        "{}",
        lines[0]
    );
    assert!(lines[2].contains("] 127.0.0.1 () {"), "{}", lines[2]);
    // log-date with a format dates the server's own lines, not the request lines.
    let today = ruwsgi_logging::strftime("%Y-%m-%d", ruwsgi_logging::now_secs());
    let first = log.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("{today} - INFO [pid ")),
        "{first}"
    );
}

#[test]
fn add_header_goes_on_every_response_over_http_and_uwsgi() {
    let uwsgi_port = free_port();
    let uwsgi_addr: SocketAddr = ([127, 0, 0, 1], uwsgi_port).into();
    let (_server, addr) = serve_log_app(&[
        "--socket",
        &uwsgi_addr.to_string(),
        "--add-header",
        "X-Frame-Options: SAMEORIGIN",
        "--add-header",
        "X-Served-By:ruwsgi",
    ]);
    for r in [
        get(addr, "/"),
        get(addr, "/status/404"),
        uwsgi_tcp_request(uwsgi_addr, &uwsgi_packet(&uwsgi_vars("GET", "/x"), b"")),
    ] {
        assert_eq!(r.header("x-frame-options"), Some("SAMEORIGIN"), "{r:?}");
        assert_eq!(r.header("x-served-by"), Some("ruwsgi"), "{r:?}");
    }
    let bad = run_ruwsgi([
        "--http-socket",
        "127.0.0.1:0",
        "--wsgi-file",
        &app("log_app.py"),
        "--add-header",
        "no colon",
    ]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("add-header \"no colon\""), "{err}");
}

/// The log file and every rotated one beside it, oldest name first.
fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("server.log")
        })
        .collect();
    files.sort();
    files
}

fn all_request_lines(dir: &Path) -> usize {
    log_files(dir)
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            request_lines(&text, "[pid: ").len()
        })
        .sum()
}

#[test]
fn rotating_the_log_through_the_fifo_under_load_loses_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let fifo = dir.path().join("fifo");
    let (mut server, addr) = serve_log_app(&[
        "--master",
        "--processes",
        "2",
        "--threads",
        "2",
        "--logto",
        log.to_str().unwrap(),
        "--master-fifo",
        fifo.to_str().unwrap(),
    ]);
    // Clients keep the workers logging through every rotation.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut sent = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = get(addr, &format!("/c{c}/{sent}"));
                    assert_eq!(r.status, 200);
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    for rotations in 1..=3 {
        std::thread::sleep(Duration::from_millis(150));
        write_fifo(&fifo, b"L");
        wait_until("the rotated file", || {
            (log_files(dir.path()).len() > rotations).then_some(())
        });
    }
    std::thread::sleep(Duration::from_millis(150));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    server.signal(libc::SIGTERM);
    assert!(server.wait_exit().success());
    let files = log_files(dir.path());
    assert_eq!(files.len(), 4, "three rotations: {files:?}");
    assert!(sent > 100, "{sent} requests");
    assert_eq!(all_request_lines(dir.path()), sent, "{files:?}");
    let rotated = std::fs::read_to_string(&files[1]).unwrap();
    assert!(rotated.contains("triggering rotation of"), "{rotated}");
    let current = std::fs::read_to_string(&log).unwrap();
    assert!(current.contains(" rotated"), "{current}");
}

#[test]
fn reopening_the_log_through_the_fifo_follows_a_moved_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let fifo = dir.path().join("fifo");
    let (server, addr) = serve_log_app(&[
        "--master",
        "--logto",
        log.to_str().unwrap(),
        "--master-fifo",
        fifo.to_str().unwrap(),
    ]);
    get(addr, "/before");
    wait_until("the first line", || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("GET /before")
            .then_some(())
    });
    // What logrotate does before it tells the server: move the file away.
    let moved = dir.path().join("moved.log");
    std::fs::rename(&log, &moved).unwrap();
    write_fifo(&fifo, b"l");
    wait_until("a new log file", || log.exists().then_some(()));
    get(addr, "/after");
    wait_until("the worker's line in the new file", || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("GET /after")
            .then_some(())
    });
    assert!(!std::fs::read_to_string(&moved)
        .unwrap()
        .contains("GET /after"));
    drop(server);
}

#[test]
fn log_maxsize_rotates_the_file_once_it_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let (_server, addr) = serve_log_app(&[
        "--master",
        "--logto",
        log.to_str().unwrap(),
        "--log-maxsize",
        "4000",
    ]);
    let mut sent = 0;
    wait_until("a rotated log file", || {
        for _ in 0..20 {
            get(addr, "/fill");
            sent += 1;
        }
        (log_files(dir.path()).len() > 1).then_some(())
    });
    wait_until("every request line in the files", || {
        (all_request_lines(dir.path()) == sent).then_some(())
    });
}

#[test]
fn loggers_routes_and_encoders_take_server_app_and_request_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (app_log, req_log, json_log) = (
        dir.path().join("app.log"),
        dir.path().join("req.log"),
        dir.path().join("json.log"),
    );
    let (server, addr) = serve_log_app(&[
        "--master",
        "--logger",
        &format!("file:{}", app_log.display()),
        "--logger",
        &format!("jsonlog file:{}", json_log.display()),
        "--log-route",
        r"jsonlog ^\{",
        "--log-encoder",
        "prefix [app] ",
        "--log-encoder",
        "format:jsonlog ${msg}",
        "--log-encoder",
        "nl:jsonlog",
        "--req-logger",
        &format!("file:{}", req_log.display()),
        "--log-req-encoder",
        "json {\"line\": \"${msg}\"}",
        "--log-req-encoder",
        "nl",
    ]);
    get(addr, "/print");
    get(addr, "/status/404");
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    wait_until("the request lines in req.log", || {
        (read(&req_log).lines().count() == 2).then_some(())
    });
    let reqs = read(&req_log);
    for line in reqs.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["line"].as_str().unwrap().starts_with("[pid: "), "{line}");
    }
    assert!(reqs.contains("GET /status/404 => "), "{reqs}");
    wait_until("the app's stdout in app.log", || {
        read(&app_log)
            .contains("[app] printed by the app")
            .then_some(())
    });
    let app = read(&app_log);
    // The master's and the workers' own lines take the chain too.
    assert!(app.contains("[app] INFO [pid "), "{app}");
    assert!(
        !app.contains("GET /"),
        "request lines have their own logger: {app}"
    );
    assert!(!app.contains("json"), "routed elsewhere: {app}");
    wait_until("the routed line in json.log", || {
        // The unnamed prefix encoder applies to every logger, the others to jsonlog only.
        (read(&json_log) == "[app] {\"json\": \"from the app\"}\n").then_some(())
    });
    // Nothing reached the plain log but what no logger took.
    let plain = server.log();
    assert!(
        !plain.contains("printed by the app") && !plain.contains("GET /"),
        "{plain}"
    );
}

#[test]
fn a_bad_logger_chain_is_refused_naming_the_option() {
    for (option, value, says) in [
        ("--logger", "redislog 127.0.0.1:6379", "not supported"),
        ("--log-route", r"default ^((?!\{).)*$", "look-around"),
        ("--log-encoder", "gzip", "not supported"),
    ] {
        let out = run_ruwsgi([
            "--http-socket",
            "127.0.0.1:0",
            "--wsgi-file",
            &app("log_app.py"),
            option,
            value,
        ]);
        assert_eq!(out.status.code(), Some(1), "{option} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        let name = option.trim_start_matches("--");
        assert!(
            err.contains(&format!("{name} {value:?} (from command line {option})"))
                && err.contains(says),
            "{err}"
        );
    }
}

/// A log nobody reads (a stopped terminal, a wedged disk) never holds up serving: with its
/// stderr a pipe the test does not drain, the server answers every request of several
/// keep-alive clients at once; the lines that did not fit its buffer are dropped and their
/// count is logged as soon as the log moves again.
#[test]
fn a_blocked_log_never_stalls_serving_and_dropped_lines_are_counted() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut cmd = Command::new(ruwsgi_bin());
    cmd.args(["--http-socket", &addr.to_string(), "--builtin-handler"]);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _kill = KillGroup(child.id() as i32);
    wait_until("the server to accept", || {
        std::net::TcpStream::connect(addr).ok().map(|_| ())
    });
    // More request lines than the pipe (64 KiB) and the buffer (16384 lines) hold.
    const CLIENTS: usize = 4;
    const EACH: usize = 6000;
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            std::thread::spawn(move || {
                let mut conn = connect(addr);
                for _ in 0..EACH {
                    conn.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
                        .unwrap();
                    let r = read_response(&mut conn, false).unwrap();
                    assert_eq!(r.status, 200);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "{} requests took {took:?} with the log blocked",
        CLIENTS * EACH
    );
    // Now read the log: the writer catches up and says how many lines it dropped.
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut chunk = [0u8; 65536];
        while let Ok(n) = stderr.read(&mut chunk) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&all);
            if let Some(line) = text.lines().find(|l| l.contains("log lines dropped")) {
                let _ = tx.send(line.to_string());
                return;
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("a line counting the dropped log lines");
    let dropped: usize = line
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap();
    assert!(
        dropped > 0 && dropped < CLIENTS * EACH,
        "{dropped} dropped: {line}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills a process group when dropped (the test's server, whatever happens).
struct KillGroup(i32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(-self.0, libc::SIGKILL) };
    }
}
