//! Serving (issue 3): the real binary's event loop with `--builtin-handler`, over TCP and
//! unix sockets, HTTP and uwsgi: keep-alive, pipelining, chunked bodies, 100-continue, HEAD,
//! large request bodies without memory growth, slow and idle clients, malformed requests.
//!
//! Large *responses* and back-pressure are tested at the crate level
//! (`crates/event-loop/tests/embed.rs`, a streaming Rust handler over real sockets): the
//! built-in handler answers a fixed body, and a test-only flag in the binary would be
//! surface that users could find.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ruwsgi_integration_tests::{
    connect, connect_unix, exchange_raw, get, read_response, rss_kib, uwsgi_packet,
    uwsgi_tcp_request, uwsgi_unix_request, uwsgi_vars, Server, DEADLINE,
};

const HELLO: &str = "Hello World\n";

fn builtin_http() -> (Server, SocketAddr) {
    Server::http(["--builtin-handler"])
}

/// Starts the built-in handler on a unix socket speaking `flag` (`--http-socket`,
/// `--socket`) in a temp dir; returns the server, the dir guard and the path.
fn builtin_unix(flag: &str) -> (Server, tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let mut server = Server::start([flag, path.to_str().unwrap(), "--builtin-handler"]);
    server.wait_for_unix(&path);
    (server, dir, path)
}

/// Resident memory of `pid` in KiB (VmRSS).
fn assert_hello<R: Read>(s: &mut R) {
    let r = read_response(s, false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), HELLO);
}

fn keep_alive_on<S: Read + Write>(s: &mut S) {
    for i in 0..5 {
        s.write_all(format!("GET /{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        let r = read_response(s, false).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), HELLO);
        assert_eq!(r.header("connection"), None, "kept alive");
    }
    s.write_all(b"GET /last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(s, false).unwrap();
    assert_eq!(r.header("connection"), Some("close"));
    let mut rest = Vec::new();
    assert_eq!(
        s.read_to_end(&mut rest).unwrap(),
        0,
        "closed after Connection: close"
    );
}

#[test]
fn keep_alive_over_tcp_and_unix() {
    let (_server, addr) = builtin_http();
    keep_alive_on(&mut connect(addr));
    let (_server, _dir, path) = builtin_unix("--http-socket");
    keep_alive_on(&mut connect_unix(&path));
}

#[test]
fn http_1_0_closes_unless_asked_to_keep_alive() {
    let (_server, addr) = builtin_http();
    let raw = exchange_raw(addr, b"GET / HTTP/1.0\r\n\r\n");
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{text}");
    assert!(text.ends_with(HELLO), "{text}");
    let mut s = connect(addr);
    for _ in 0..2 {
        s.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let r = read_response(&mut s, false).unwrap();
        assert_eq!(
            r.header("connection")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("keep-alive")
        );
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (_server, addr) = builtin_http();
    let mut s = connect(addr);
    // HEAD answers carry no body: answered out of order, the reads below would misparse.
    let methods = ["GET", "HEAD", "GET", "HEAD", "HEAD", "GET", "GET", "HEAD"];
    let mut all = Vec::new();
    for (i, m) in methods.iter().enumerate() {
        all.extend_from_slice(format!("{m} /{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    s.write_all(&all).unwrap();
    for m in methods {
        let r = read_response(&mut s, m == "HEAD").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), Some("12"));
        assert_eq!(r.text(), if m == "HEAD" { "" } else { HELLO });
    }
    // Nothing more than the eight answers.
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut extra = [0u8; 1];
    assert!(
        s.read(&mut extra).is_err(),
        "no stray bytes after the responses"
    );
}

#[test]
fn head_has_no_body_but_the_get_length() {
    let (_server, addr) = builtin_http();
    let raw = exchange_raw(
        addr,
        b"HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Content-Length: 12\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "no body: {text:?}");
}

#[test]
fn chunked_request_bodies_are_consumed_whole_on_a_kept_alive_connection() {
    let (_server, addr) = builtin_http();
    let mut s = connect(addr);
    // Extensions and trailers included; the second request proves the body was framed
    // right (a leftover byte would be parsed as the next request and refused).
    s.write_all(
        b"POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n",
    )
    .unwrap();
    assert_hello(&mut s);
    // A chunked body sent in pieces, slower than the loop reads.
    s.write_all(b"POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    for part in [&b"3\r\nab"[..], b"c\r\n", b"0\r\n", b"\r\n"] {
        s.write_all(part).unwrap();
        s.flush().unwrap();
    }
    assert_hello(&mut s);
    s.write_all(b"GET /c HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_hello(&mut s);
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let (_server, addr) = builtin_http();
    let mut s = connect(addr);
    s.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let interim = read_response(&mut s, true).unwrap();
    assert_eq!(interim.status, 100);
    assert_eq!(interim.status_line, "HTTP/1.1 100 Continue");
    s.write_all(b"hello").unwrap();
    assert_hello(&mut s);
    // Body already sent with the head: no 100 (it is not awaited).
    s.write_all(
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi",
    )
    .unwrap();
    assert_hello(&mut s);
}

/// Sends a `len`-byte request body in 64 KiB writes while sampling the server's RSS;
/// returns the largest growth seen, in KiB.
fn upload<S: Write>(s: &mut S, head: &[u8], len: usize, chunked: bool, pid: u32) -> u64 {
    let base = rss_kib(pid);
    let mut peak = base;
    s.write_all(head).unwrap();
    let block: Vec<u8> = (0..65536).map(|i| (i % 251) as u8).collect();
    let mut sent = 0;
    let mut n = 0;
    while sent < len {
        let take = block.len().min(len - sent);
        if chunked {
            s.write_all(format!("{take:x}\r\n").as_bytes()).unwrap();
        }
        s.write_all(&block[..take]).unwrap();
        if chunked {
            s.write_all(b"\r\n").unwrap();
        }
        sent += take;
        n += 1;
        if n % 16 == 0 {
            peak = peak.max(rss_kib(pid));
        }
    }
    if chunked {
        s.write_all(b"0\r\n\r\n").unwrap();
    }
    peak.max(rss_kib(pid)) - base
}

/// post-buffering (1 MiB) plus a few MiB of slack for allocator noise.
const RSS_SLACK_KIB: u64 = 1024 + 4096;

#[test]
fn a_50_mib_request_body_streams_to_disk_without_growing_memory() {
    let (server, addr) = builtin_http();
    let len = 50 << 20;
    // Warm up: the first request allocates the loop's buffers.
    assert_eq!(get(addr, "/").status, 200);
    let mut s = connect(addr);
    let head = format!("PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\n\r\n");
    let grew = upload(&mut s, head.as_bytes(), len, false, server.pid);
    assert_hello(&mut s);
    assert!(
        grew < RSS_SLACK_KIB,
        "RSS grew by {grew} KiB for a Content-Length body"
    );

    let head = "PUT /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    let grew = upload(&mut s, head.as_bytes(), len, true, server.pid);
    assert_hello(&mut s);
    assert!(
        grew < RSS_SLACK_KIB,
        "RSS grew by {grew} KiB for a chunked body"
    );
}

#[test]
fn uwsgi_over_unix_and_tcp_answers_once_and_closes() {
    let (server, _dir, path) = builtin_unix("--socket");
    let packet = uwsgi_packet(&uwsgi_vars("GET", "/x?y=1"), b"");
    let r = uwsgi_unix_request(&path, &packet);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), HELLO);
    assert_eq!(
        r.header("transfer-encoding"),
        None,
        "never chunked on uwsgi"
    );
    // One request per connection: the reply ends with the connection.
    let mut s = connect_unix(&path);
    s.write_all(&packet).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    assert!(all.ends_with(HELLO.as_bytes()));
    drop(server);

    let port = ruwsgi_integration_tests::free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut server = Server::start(["--socket", &addr.to_string(), "--builtin-handler"]);
    server.wait_for_tcp(addr);
    let r = uwsgi_tcp_request(addr, &packet);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), HELLO);
}

/// uWSGI's `protocol` names what `socket` addresses speak (indico's and CAPE's ini files
/// serve HTTP that way); `uwsgi-socket` keeps the uwsgi protocol, and `http11-socket` is
/// HTTP with keep-alive, as `http-socket` is in ruwsgi.
#[test]
fn protocol_sets_what_socket_speaks_and_http11_socket_keeps_alive() {
    let dir = tempfile::tempdir().unwrap();
    let [plain, uwsgi, http11]: [SocketAddr; 3] =
        std::array::from_fn(|_| ([127, 0, 0, 1], ruwsgi_integration_tests::free_port()).into());
    let ini = dir.path().join("site.ini");
    std::fs::write(
        &ini,
        format!(
            "[uwsgi]\nsocket = {plain}\nprotocol = http\nuwsgi-socket = {uwsgi}\n\
             http11-socket = {http11}\nbuiltin-handler = true\n"
        ),
    )
    .unwrap();
    let mut server = Server::start(["--ini", ini.to_str().unwrap()]);
    for addr in [plain, uwsgi, http11] {
        server.wait_for_tcp(addr);
    }
    let r = get(plain, "/");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, HELLO),
        "HTTP on socket"
    );
    let packet = uwsgi_packet(&uwsgi_vars("GET", "/"), b"");
    let r = uwsgi_tcp_request(uwsgi, &packet);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, HELLO),
        "uwsgi on uwsgi-socket"
    );
    let mut s = connect(http11);
    for _ in 0..2 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let r = read_response(&mut s, false).unwrap();
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, HELLO),
            "keep-alive on http11-socket"
        );
    }
    assert!(
        !server.log().contains("not implemented"),
        "{}",
        server.log()
    );
}

/// `http-timeout` (uWSGI's HTTP router's timeout, 60 s by default) is the socket timeout of
/// the `--http` addresses' connections; the other sockets keep `socket-timeout`.
#[test]
fn http_timeout_is_the_socket_timeout_of_http_addresses() {
    let [http, plain]: [SocketAddr; 2] =
        std::array::from_fn(|_| ([127, 0, 0, 1], ruwsgi_integration_tests::free_port()).into());
    let mut server = Server::start([
        "--http",
        &http.to_string(),
        "--http-timeout",
        "1",
        "--http-socket",
        &plain.to_string(),
        "--http-keepalive",
        "--builtin-handler",
    ]);
    server.wait_for_tcp(http);
    server.wait_for_tcp(plain);
    let (mut a, mut b) = (connect(http), connect(plain));
    for s in [&mut a, &mut b] {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(read_response(s, false).unwrap().status, 200);
    }
    let idle = Instant::now();
    a.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(
        a.read(&mut byte).unwrap(),
        0,
        "the --http connection is closed"
    );
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
    b.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let still_open = b.read(&mut byte).unwrap_err().kind();
    assert!(
        matches!(
            still_open,
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "the --http-socket connection keeps socket-timeout (4 s): {still_open:?}"
    );
    assert!(
        !server.log().contains("not implemented"),
        "{}",
        server.log()
    );
}

#[test]
fn a_50_mib_uwsgi_body_over_unix_does_not_grow_memory() {
    let (server, _dir, path) = builtin_unix("--socket");
    let len = 50usize << 20;
    let len_text = len.to_string();
    let mut vars = uwsgi_vars("POST", "/up");
    for v in vars.iter_mut() {
        if v.0 == "CONTENT_LENGTH" {
            v.1 = &len_text;
        }
    }
    // Warm up.
    assert_eq!(
        uwsgi_unix_request(&path, &uwsgi_packet(&uwsgi_vars("GET", "/"), b"")).status,
        200
    );
    let mut s = connect_unix(&path);
    let head = uwsgi_packet(&vars, b"");
    let grew = upload(&mut s, &head, len, false, server.pid);
    assert_hello(&mut s);
    assert!(grew < RSS_SLACK_KIB, "RSS grew by {grew} KiB");
}

#[test]
fn a_slow_client_does_not_delay_another() {
    let (_server, addr) = builtin_http();
    // A slowloris: half a head, then nothing.
    let mut slow = connect(addr);
    slow.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .unwrap();
    // A client that sends its body slowly.
    let mut slow_body = connect(addr);
    slow_body
        .write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    // Meanwhile others are served at once, many times over.
    for _ in 0..20 {
        assert_eq!(get(addr, "/").text(), HELLO);
    }
    // The slow ones are still being waited for, and are served when they finish.
    slow.write_all(b"1\r\n\r\n").unwrap();
    assert_hello(&mut slow);
    slow_body.write_all(b"defghij").unwrap();
    assert_hello(&mut slow_body);
}

#[test]
fn a_silent_client_is_closed_after_socket_timeout() {
    let (_server, addr) = builtin_http();
    let mut s = connect(addr);
    s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 64];
    // socket-timeout defaults to 4 s; the server closes without answering.
    let n = s.read(&mut buf).unwrap();
    assert_eq!(n, 0, "closed, no response");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(3),
        "closed too early: {waited:?}"
    );
    assert!(waited < DEADLINE);
}

/// Raises this test process's open-files limit to its hard limit.
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for the kernel to fill.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: `lim` is a valid rlimit.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    lim.rlim_cur
}

#[test]
fn a_thousand_idle_connections_do_not_block_a_new_request() {
    assert!(
        raise_nofile() > 2100,
        "the test needs more than 2100 open files"
    );
    let (_server, addr) = Server::http(["--builtin-handler", "--listen", "1024"]);
    let mut idle: Vec<TcpStream> = (0..1000).map(|_| connect(addr)).collect();
    // Half of them even sent part of a request.
    for s in idle.iter_mut().step_by(2) {
        s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    }
    for _ in 0..5 {
        assert_eq!(get(addr, "/").text(), HELLO);
    }
    // And the idle ones are all still there, each still able to finish its request.
    for (i, s) in idle.iter_mut().enumerate().take(10) {
        if i % 2 == 0 {
            s.write_all(b"Host: t\r\n\r\n").unwrap();
        } else {
            s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        }
        assert_hello(s);
    }
}

/// Every class of malformed request gets its status, the connection closes after it, and
/// the next request on a new connection is served.
#[test]
fn malformed_requests_get_their_status_and_the_worker_lives() {
    let (mut server, addr) = builtin_http();
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "b".repeat(9000)
    );
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}\r\n",
        (0..150)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("no host on 1.1", b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        ("garbage request line", b"HELLO\r\n\r\n".to_vec(), 400),
        (
            "content-length and transfer-encoding",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "differing content-lengths",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_vec(),
            400,
        ),
        (
            "list content-length",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\n\r\nabc".to_vec(),
            400,
        ),
        (
            "negative content-length",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n".to_vec(),
            400,
        ),
        (
            "transfer-encoding not ending in chunked",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n".to_vec(),
            400,
        ),
        (
            "bad chunk size",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "obs-fold",
            b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n  folded\r\n\r\n".to_vec(),
            400,
        ),
        (
            "whitespace before the colon",
            b"GET / HTTP/1.1\r\nHost: t\r\nX-A : a\r\n\r\n".to_vec(),
            400,
        ),
        ("bare cr", b"GET / HTTP/1.1\r\nHost: t\rX-A: a\r\n\r\n".to_vec(), 400),
        ("nul in a value", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n".to_vec(), 400),
        (
            "invalid token character in a name",
            b"GET / HTTP/1.1\r\nHost: t\r\nX(A): a\r\n\r\n".to_vec(),
            400,
        ),
        ("request line over buffer-size", long_target.into_bytes(), 414),
        ("headers over buffer-size", big_header.into_bytes(), 431),
        ("too many headers", many_headers.into_bytes(), 431),
        ("http/2.0", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n".to_vec(), 505),
    ];
    let mut wrong = Vec::new();
    for (what, request, status) in &cases {
        let raw = exchange_raw(addr, request);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let got: Option<u16> = text.split(' ').nth(1).and_then(|s| s.parse().ok());
        if got != Some(*status) || !text.contains("Connection: close\r\n") {
            wrong.push(format!("{what}: expected {status}, got {text:?}"));
        }
        assert!(server.is_running(), "the server died on {what}");
        assert_eq!(get(addr, "/").text(), HELLO, "served after {what}");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn malformed_uwsgi_packets_are_refused_and_the_worker_lives() {
    let (_server, _dir, path) = builtin_unix("--socket");
    // A var whose length runs past the end of the packet.
    let mut bad = vec![0u8, 6, 0, 0];
    bad.extend_from_slice(&[200, 0, b'A', b'B', 0, 0]);
    let mut s = connect_unix(&path);
    s.write_all(&bad).unwrap();
    let r = read_response(&mut s, false).unwrap();
    assert_eq!(r.status, 400);
    let r = uwsgi_unix_request(&path, &uwsgi_packet(&uwsgi_vars("GET", "/"), b""));
    assert_eq!(r.text(), HELLO);
}

#[test]
fn requests_are_logged_in_uwsgi_format() {
    let (server, addr) = builtin_http();
    assert_eq!(get(addr, "/logged?x=1").status, 200);
    let log = server.wait_for_log("GET /logged?x=1 =>");
    let line = log
        .lines()
        .find(|l| l.contains("GET /logged?x=1 =>"))
        .unwrap();
    let pid = server.pid;
    // The line is bare, as uWSGI writes it (no level or timestamp before it), so tools that
    // parse uWSGI's request log keep working.
    assert!(
        line.starts_with(&format!("[pid: {pid}|app: 0|req: 1/1] 127.0.0.1 () {{")),
        "{line}"
    );
    assert!(
        line.contains("GET /logged?x=1 => generated 12 bytes in ")
            && line.contains(" msecs (HTTP/1.1 200) 2 headers in "),
        "{line}"
    );
}

/// utime + stime of `pid` in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(')').unwrap();
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn running_out_of_file_descriptors_pauses_accepting_instead_of_spinning() {
    let addr: SocketAddr = ([127, 0, 0, 1], ruwsgi_integration_tests::free_port()).into();
    let mut server = ruwsgi_integration_tests::ServerBuilder::new([
        "--http-socket",
        &addr.to_string(),
        "--builtin-handler",
        "--socket-timeout",
        "2",
    ])
    .limit_open_files(48)
    .start();
    server.wait_for_tcp(addr);
    // More idle connections than the server has descriptors for.
    let clients: Vec<TcpStream> = (0..80).map(|_| connect(addr)).collect();
    server.wait_for_log("pausing accepts");
    // While starved, the loop retries every 100 ms: over a second it may use a few ticks,
    // a spinning loop would use about a hundred.
    let before = cpu_ticks(server.pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(server.pid) - before;
    assert!(
        used < 30,
        "the loop used {used} ticks in a second while out of fds"
    );
    // The idle connections time out (socket-timeout 2 s), the queued ones are accepted and
    // time out in turn, and the server serves again.
    drop(clients);
    server.wait_for_log("accepting again");
    assert_eq!(get(addr, "/").text(), HELLO);
}

#[test]
fn limit_post_answers_413_for_length_and_chunked_bodies() {
    let (_server, addr) = Server::http(["--builtin-handler", "--limit-post", "10"]);
    let ok = exchange_raw(
        addr,
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789",
    );
    assert!(
        ok.starts_with(b"HTTP/1.1 200 "),
        "{}",
        String::from_utf8_lossy(&ok)
    );
    // Refused from the head alone: no 100 Continue is sent for a body that is not wanted.
    let raw = exchange_raw(
        addr,
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    let raw = exchange_raw(
        addr,
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n6\r\n678901\r\n0\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    assert_eq!(get(addr, "/").text(), HELLO);
}

#[test]
fn buffer_size_bounds_the_request_head() {
    let request = format!(
        "GET /{} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        "a".repeat(9000)
    );
    let (_server, addr) = builtin_http();
    let raw = exchange_raw(addr, request.as_bytes());
    assert!(
        raw.starts_with(b"HTTP/1.1 414 "),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    let (_server, addr) = Server::http(["--builtin-handler", "--buffer-size", "16384"]);
    let raw = exchange_raw(addr, request.as_bytes());
    assert!(
        raw.starts_with(b"HTTP/1.1 200 "),
        "{}",
        String::from_utf8_lossy(&raw)
    );
}

/// How long process `pid` has run (from its start time in /proc, in clock ticks).
fn process_age(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let start = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(19)?.parse::<f64>().ok());
    let uptime = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|u| u.split_whitespace().next()?.parse::<f64>().ok());
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    match (start, uptime) {
        (Some(start), Some(up)) => Duration::from_secs_f64((up - start / hz).max(0.0)),
        _ => Duration::ZERO,
    }
}

/// The pid in the request log line of `path` (`[pid: N|app: ...] ... GET path =>`).
fn served_by(log: &str, path: &str) -> u32 {
    let needle = format!(" {path} =>");
    let line = log
        .lines()
        .find(|l| l.contains("GET") && l.contains(&needle))
        .unwrap_or_else(|| panic!("no request line for {path} in:\n{log}"));
    let pid = line
        .split("[pid: ")
        .nth(1)
        .and_then(|r| r.split('|').next());
    pid.and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line}"))
}

#[test]
fn thunder_lock_with_two_workers_serves_concurrent_keep_alive_clients() {
    let (_server, addr) = Server::http([
        "--builtin-handler",
        "--master",
        "--processes",
        "2",
        "--thunder-lock",
    ]);
    let clients: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = connect(addr);
                for _ in 0..25 {
                    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
                    assert_eq!(read_response(&mut s, false).unwrap().text(), HELLO);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(get(addr, "/").text(), HELLO);
}

#[test]
fn thunder_lock_leaves_a_new_connection_to_the_idle_worker() {
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("in-flight");
    let addr: SocketAddr = ([127, 0, 0, 1], ruwsgi_integration_tests::free_port()).into();
    let mut server = ruwsgi_integration_tests::ServerBuilder::new([
        "--http-socket".to_string(),
        addr.to_string(),
        "--wsgi-file".into(),
        ruwsgi_integration_tests::app("process_slow.py"),
        "--master".into(),
        "--processes".into(),
        "2".into(),
        "--thunder-lock".into(),
    ])
    .env("PROCESS_SLOW_MARK", &mark)
    .start();
    server.wait_for_tcp(addr);
    // Both workers must be up and asleep on the listener before the race is fair, and past
    // their first few ms: the WSGI handler counts a fresh worker as "flowing" then and would
    // queue a second request behind the first (reported to the WSGI bridge's owner).
    ruwsgi_integration_tests::wait_until("2 settled workers asleep in epoll_wait", || {
        let kids = ruwsgi_integration_tests::children_of(server.pid);
        (kids.len() == 2
            && kids.iter().all(|&k| {
                process_age(k) >= Duration::from_millis(100)
                    && ruwsgi_integration_tests::sleeps_in_epoll_wait(k)
            }))
        .then_some(())
    });
    let slow = std::thread::spawn(move || get(addr, "/slow"));
    ruwsgi_integration_tests::wait_until("the slow request to be in flight", || {
        mark.exists().then_some(())
    });
    // One worker (one thread) is busy for a second: the other must take this connection.
    assert_eq!(get(addr, "/fast").text(), "fast");
    assert_eq!(slow.join().unwrap().text(), "slow done");
    let log = server.wait_for_log("GET /slow =>");
    let (busy, idle) = (served_by(&log, "/slow"), served_by(&log, "/fast"));
    assert_ne!(busy, idle, "both requests went to worker {busy}:\n{log}");
}

/// `freebind` lets a TCP socket bind an address the machine does not have (TEST-NET-1,
/// 192.0.2.0/24), which fails without it; `socket-rcvbuf` and `socket-sndbuf` size the
/// listening socket's buffers, as the kernel reports them (`ss`; it doubles the value).
#[test]
fn freebind_and_socket_buffer_sizes() {
    let absent = format!("192.0.2.77:{}", ruwsgi_integration_tests::free_port());
    let args = ["--http-socket", absent.as_str(), "--builtin-handler"];
    let refused = ruwsgi_integration_tests::run_ruwsgi(args);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let server =
        ruwsgi_integration_tests::ServerBuilder::new(args.iter().copied().chain(["--freebind"]))
            .start();
    server.wait_for_log(&format!("bound to {absent}"));
    drop(server);

    let port = ruwsgi_integration_tests::free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut server = ruwsgi_integration_tests::ServerBuilder::new([
        "--http-socket",
        &addr.to_string(),
        "--builtin-handler",
        "--socket-rcvbuf",
        "32768",
        "--socket-sndbuf",
        "49152",
    ])
    .start();
    server.wait_for_tcp(addr);
    let mut cmd = std::process::Command::new("ss");
    cmd.args(["-ltmnH", &format!("sport = :{port}")]);
    let out = ruwsgi_integration_tests::run_command(cmd);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("rb65536,") && text.contains("tb98304,"),
        "{text}"
    );
}
