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

    let uwsgi_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (server, addr) = serve_log_app(&["--socket", &uwsgi_addr.to_string()]);
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
    assert!(ours[0].contains("] 127.0.0.1 () {"), "no user: {}", ours[0]);

    // The REMOTE_USER nginx passes over the uwsgi protocol goes between the parentheses.
    let mut vars = uwsgi_vars("GET", "/user");
    vars.push(("REMOTE_USER", "alice"));
    let r = uwsgi_tcp_request(uwsgi_addr, &uwsgi_packet(&vars, b""));
    assert_eq!(r.status, 200);
    let log = server.wait_for_log("GET /user =>");
    let line = request_lines(&log, "[pid: ")[1];
    assert!(re.is_match(line), "{line}");
    assert!(line.contains("] 127.0.0.1 (alice) {15 vars in "), "{line}");
}

#[test]
fn log_format_substitutes_uwsgi_variables_and_log_vars() {
    let format = "LF %(method) %(uri) %(proto) %(status) %(rsize) %(hsize) %(size) %(cl) \
                  %(host) %(uagent) %(referer) %(var.HTTP_X_ID) %(var.QUERY_STRING) %(mine) \
                  %(user) %(pid) %(wid) %(addr) [%(ltime)] %(epoch) %(msecs) %(headers) end\
                  |secs=%(secs)|time=%(time)|ftime=%(ftime)|ctime=%(ctime)|tmsecs=%(tmsecs)\
                  |tmicros=%(tmicros)|rss=%(rss)|rssM=%(rssM)|vsz=%(vsz)|vszM=%(vszM)\
                  |switches=%(switches)|vars=%(vars)|pktsize=%(pktsize)|modifier1=%(modifier1)\
                  |modifier2=%(modifier2)|werr=%(werr)|rerr=%(rerr)|ioerr=%(ioerr)\
                  |server_name=%(var.SERVER_NAME)|remote_port=%(var.REMOTE_PORT)";
    // `log-date` dates the server's lines; `%(ftime)` keeps `ltime`'s form, as uWSGI does
    // without `log-format-strftime`.
    let (server, addr) = serve_log_app(&["--master", "--log-format", format, "--log-date", "%Y"]);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
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

    // The rest, `|name=value` each: the shape of each value, and numbers that must agree
    // with the test's clock or with each other.
    let values: std::collections::HashMap<&str, &str> = line
        .split_once(" end|")
        .unwrap()
        .1
        .split('|')
        .map(|kv| kv.split_once('=').unwrap())
        .collect();
    let shapes = [
        ("secs", r"^\d+\.\d{6}$"),
        ("time", r"^\d{10}$"),
        (
            "ftime",
            r"^\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}$",
        ),
        (
            "ctime",
            r"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$",
        ),
        ("tmsecs", r"^\d{13}$"),
        ("tmicros", r"^\d{16}$"),
        ("rss", r"^[1-9]\d*$"),
        ("rssM", r"^\d+$"),
        ("vsz", r"^[1-9]\d*$"),
        ("vszM", r"^\d+$"),
        ("switches", r"^1$"),
        ("vars", r"^[1-9]\d*$"),
        ("pktsize", r"^[1-9]\d*$"),
        ("modifier1", r"^0$"),
        ("modifier2", r"^0$"),
        ("werr", r"^0$"),
        ("rerr", r"^0$"),
        ("ioerr", r"^0$"),
        ("server_name", r"^\S+$"),
        ("remote_port", r"^[1-9]\d*$"),
    ];
    assert_eq!(values.len(), shapes.len(), "{line}");
    for (name, shape) in shapes {
        let value = values[name];
        assert!(
            regex::Regex::new(shape).unwrap().is_match(value),
            "{name}={value:?} is not {shape}: {line}"
        );
    }
    let num = |name: &str| values[name].parse::<u128>().unwrap();
    let done = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    // The request started between `before` and `done` (to the unit of each variable).
    let within = |name: &str, v: u128, low: u128, high: u128| {
        assert!(
            low <= v && v <= high,
            "{name}={v} not in {low}..={high}: {line}"
        )
    };
    within(
        "time",
        num("time"),
        before.as_secs().into(),
        done.as_secs().into(),
    );
    // (A millisecond of slack: the start is the wall clock less a monotonic duration.)
    within(
        "tmsecs",
        num("tmsecs"),
        before.as_millis() - 1,
        done.as_millis(),
    );
    within(
        "tmicros",
        num("tmicros"),
        before.as_micros() - 1000,
        done.as_micros(),
    );
    let secs: f64 = values["secs"].parse().unwrap();
    assert!(secs < (done - before).as_secs_f64() + 0.001, "{line}");
    assert_eq!(num("rssM"), num("rss") >> 20, "{line}");
    assert_eq!(num("vszM"), num("vsz") >> 20, "{line}");
    assert!(num("vsz") >= num("rss"), "{line}");
    assert_eq!(values["ftime"], ltime, "ftime is ltime's form: {line}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(values["server_name"], host.trim(), "{line}");
    assert_eq!(
        &values["ctime"][20..],
        &ltime[7..11],
        "the same year in ctime and ltime: {line}"
    );
    // log-date's format dates the server's own lines.
    let year = &ltime[7..11];
    assert!(
        log.lines()
            .next()
            .unwrap()
            .starts_with(&format!("{year} - INFO [pid ")),
        "{log}"
    );
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

/// The rest of the conditions under `disable-logging`, each picking one request and no
/// other: `log-zero` (an empty body), `log-slow` (slower than 300 ms), `log-big` (a body of
/// at least 50 bytes; the head does not count, as in uWSGI), `log-sendfile` (a static
/// file), `log-ioerror` (an answer cut short of its Content-Length). On the same server:
/// `log-micros` gives the default line's time in microseconds, `log-date = true` dates the
/// server's lines in `ctime` form (uWSGI reads `true` as "no format"), and without
/// `RUST_LOG` no debug line is written.
#[test]
fn log_zero_slow_big_sendfile_ioerror_micros_and_a_true_log_date() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file.txt"), "a static file\n").unwrap();
    let ini = dir.path().join("log.ini");
    std::fs::write(&ini, "[uwsgi]\nlog-date = true\n").unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut server = ServerBuilder::new([
        "--http-socket",
        &addr.to_string(),
        "--wsgi-file",
        &app("log_app.py"),
        "--ini",
        ini.to_str().unwrap(),
        "--static-map",
        &format!("/files={}", dir.path().display()),
        "--disable-logging",
        "--log-zero",
        "--log-slow",
        "300",
        "--log-big",
        "50",
        "--log-sendfile",
        "--log-ioerror",
        "--log-micros",
        "--socket-timeout",
        "1",
    ])
    .env_remove("RUST_LOG")
    .start();
    server.wait_for_tcp(addr);
    // An idle connection the server closes after its socket-timeout: a debug line only.
    let mut idle = connect(addr);
    for path in [
        "/ok",
        "/zero",
        "/sleep",
        "/big",
        "/files/file.txt",
        "/status/404",
    ] {
        assert!(get(addr, path).status < 500, "{path}");
    }
    let cut = exchange_raw(
        addr,
        b"GET /short HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert!(
        String::from_utf8_lossy(&cut).ends_with("\r\n\r\n0123456789"),
        "{cut:?}"
    );
    // A client that leaves while its request runs: logged as uWSGI logs it (log-ioerror).
    let mut gone = connect(addr);
    std::io::Write::write_all(
        &mut gone,
        b"GET /sleep?gone HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    drop(gone);
    server.wait_for_log("GET /sleep?gone =>");
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(
        std::io::Read::read(&mut idle, &mut buf).unwrap(),
        0,
        "closed on timeout"
    );
    // A marker, logged: the log has caught up to everything before it.
    get(addr, "/zero?marker");
    let log = server.wait_for_log("GET /zero?marker =>");
    let lines = request_lines(&log, "[pid: ");
    let paths: Vec<&str> = lines
        .iter()
        .map(|l| l.split("] GET ").nth(1).unwrap().split(' ').next().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/zero",
            "/sleep",
            "/big",
            "/files/file.txt",
            "/short",
            "/sleep?gone",
            "/zero?marker"
        ],
        "{log}"
    );
    let micros = regex::Regex::new(r" => generated \d+ bytes in (\d+) micros").unwrap();
    let slow: u64 = micros.captures(lines[1]).expect("in N micros")[1]
        .parse()
        .unwrap();
    assert!(slow >= 400_000, "{}", lines[1]);
    assert!(lines[3].contains("via sendfile()"), "{}", lines[3]);
    let first = log.lines().next().unwrap();
    let ctime = regex::Regex::new(
        r"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4} - INFO \[pid ",
    )
    .unwrap();
    assert!(ctime.is_match(first), "{first}");
    assert!(!log.contains("DEBUG"), "{log}");
}

/// `RUST_LOG=debug` shows the server's debug lines (here: an idle connection timed out);
/// `log-backupname` names the file a FIFO `L` rotates the log to (a taken name gets `.1`);
/// `log-reopen` makes a reload open the log file at its path again, so a file moved away
/// before the reload gets no more lines; `log-master` and `threaded-logger` are accepted and
/// change nothing.
#[test]
fn rust_log_log_backupname_log_reopen_and_log_master() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let backup = dir.path().join("old.log");
    let fifo = dir.path().join("fifo");
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut server = ServerBuilder::new([
        "--http-socket",
        &addr.to_string(),
        "--wsgi-file",
        &app("log_app.py"),
        "--master",
        "--log-master",
        "--threaded-logger",
        "--logto",
        log.to_str().unwrap(),
        "--master-fifo",
        fifo.to_str().unwrap(),
        "--log-backupname",
        backup.to_str().unwrap(),
        "--log-reopen",
        "--socket-timeout",
        "1",
    ])
    .env("RUST_LOG", "debug")
    .start();
    server.wait_for_tcp(addr);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let _idle = connect(addr);
    wait_until("the debug line of the timeout", || {
        read(&log)
            .contains("DEBUG [pid ")
            .then_some(())
            .filter(|_| read(&log).contains("timed out"))
    });

    get(addr, "/first");
    wait_until("the first request line", || {
        read(&log).contains("GET /first =>").then_some(())
    });
    for rotated in [&backup, &dir.path().join("old.log.1")] {
        write_fifo(&fifo, b"L");
        wait_until("the rotated file", || rotated.exists().then_some(()));
    }
    assert!(read(&backup).contains("GET /first =>"), "{}", read(&backup));

    // logrotate's way without telling the server: move the file, then reload.
    let moved = dir.path().join("moved.log");
    std::fs::rename(&log, &moved).unwrap();
    server.signal(libc::SIGHUP);
    wait_until("the log file opened again at its path", || {
        read(&log).contains("INFO [pid ").then_some(())
    });
    wait_until("a request line in the reopened file", || {
        get(addr, "/after");
        read(&log).contains("GET /after =>").then_some(())
    });
    assert!(!read(&moved).contains("GET /after"), "{}", read(&moved));
    let all: String = [&log, &moved, &backup, &dir.path().join("old.log.1")]
        .into_iter()
        .map(|p| read(p))
        .collect();
    assert!(all.contains("INFO [pid "), "{all}");
    assert!(!all.contains("not implemented"), "{all}");
}

/// `add-header` goes on every response; `del-header` (and its alias `rem-header`) takes the
/// app's header of that name off every response, in any case, while `add-header`'s own
/// stay, as in uWSGI.
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
        "--add-header",
        "X-Kept: too",
        "--del-header",
        "content-TYPE",
        "--rem-header",
        "x-kept",
    ]);
    for r in [
        get(addr, "/"),
        get(addr, "/status/404"),
        uwsgi_tcp_request(uwsgi_addr, &uwsgi_packet(&uwsgi_vars("GET", "/x"), b"")),
    ] {
        assert_eq!(r.header("x-frame-options"), Some("SAMEORIGIN"), "{r:?}");
        assert_eq!(r.header("x-served-by"), Some("ruwsgi"), "{r:?}");
        assert_eq!(r.header("content-type"), None, "the app's, removed: {r:?}");
        assert_eq!(r.header("x-kept"), Some("too"), "add-header's, kept: {r:?}");
        assert_eq!(r.body, b"0123456789", "{r:?}");
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
    let fifo = dir.path().join("fifo");
    let extra = ["--master-fifo", fifo.to_str().unwrap()];
    the_log_follows_a_moved_file(&dir, &extra, || write_fifo(&fifo, b"l"));
}

/// `touch-logreopen`: touching the file reopens the log as FIFO `l` does.
#[test]
fn touching_the_logreopen_file_follows_a_moved_file() {
    let dir = tempfile::tempdir().unwrap();
    let trigger = dir.path().join("reopen");
    let extra = ["--touch-logreopen", trigger.to_str().unwrap()];
    the_log_follows_a_moved_file(&dir, &extra, || {
        std::fs::write(&trigger, "").unwrap();
    });
}

/// Serves with `--logto DIR/server.log` and `extra`, moves the log away as logrotate does,
/// calls `reopen`, and checks that the next request's line goes to a new file at the path.
fn the_log_follows_a_moved_file(dir: &tempfile::TempDir, extra: &[&str], reopen: impl FnOnce()) {
    let log = dir.path().join("server.log");
    let mut args = vec!["--master", "--logto", log.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (server, addr) = serve_log_app(&args);
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
    reopen();
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

/// `log-drain` drops the lines that match it, the app's own output included (captured, as
/// uWSGI's log master takes it); `log-filter` keeps only the lines that match one of its
/// patterns.
#[test]
fn log_drain_and_log_filter_choose_the_lines() {
    let (server, addr) = serve_log_app(&["--log-drain", "printed by|GET /quiet"]);
    for path in ["/print", "/quiet", "/loud"] {
        assert_eq!(get(addr, path).status, 200);
    }
    let log = server.wait_for_log("GET /loud");
    assert!(log.contains("GET /print"), "{log}");
    assert!(
        log.contains("from the app"),
        "the app's other line stays: {log}"
    );
    assert!(!log.contains("printed by the app"), "{log}");
    assert!(!log.contains("GET /quiet"), "{log}");

    let (server, addr) = serve_log_app(&["--log-filter", "GET /keep", "--log-filter", "json"]);
    for path in ["/print", "/drop", "/keep"] {
        assert_eq!(get(addr, path).status, 200);
    }
    let log = server.wait_for_log("GET /keep");
    assert!(log.contains("from the app"), "{log}");
    assert!(!log.contains("GET /drop"), "{log}");
    assert!(!log.contains("printed by the app"), "{log}");
    assert!(
        !log.contains("ready"),
        "start-up lines are filtered too: {log}"
    );

    let bad = run_ruwsgi(["--http-socket", "127.0.0.1:0", "--log-drain", "(?=x)"]);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("log-drain \"(?=x)\"") && err.contains("look-around"),
        "{err}"
    );
}
