//! End-to-end tests of the WSGI bridge (issue 4): the real `ruwsgi` binary serving Python
//! apps from `integration-tests/apps/wsgi_*.py`, Django and Flask from `examples/`.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use ruwsgi_integration_tests::*;

fn example(rel: &str) -> String {
    workspace_root()
        .join("examples")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

/// Starts `ruwsgi --http-socket 127.0.0.1:PORT --wsgi-file APP ARGS...`.
fn serve(app_file: &str, args: &[&str]) -> (Server, SocketAddr) {
    let file = app(app_file);
    let mut all = vec!["--wsgi-file", file.as_str()];
    all.extend_from_slice(args);
    Server::http(all)
}

fn request(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &[u8]) -> Response {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    exchange(addr, &req)
}

fn chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += x as u32;
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    (b << 16) | a
}

fn json(resp: &Response) -> serde_json::Value {
    serde_json::from_slice(&resp.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", resp.text()))
}

// ---------------------------------------------------------------------------------------
// PEP 3333 compliance under wsgiref.validate

fn validator_paths(addr: SocketAddr) {
    let r = get(addr, "/hello");
    assert_eq!((r.status, r.text().as_str()), (200, "hello from python 45"));
    let r = exchange(
        addr,
        b"HEAD /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("20"));
    let r = request(
        addr,
        "POST",
        "/echo",
        "Content-Type: text/plain\r\n",
        b"posted body",
    );
    assert_eq!(r.text(), "got:posted body");
    let mut req =
        b"POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    req.extend_from_slice(&chunked(b"a chunked upload body", 4));
    let r = exchange(addr, &req);
    assert_eq!(r.text(), "got:a chunked upload body");
    let r = request(
        addr,
        "POST",
        "/lines",
        "",
        b"first line\nsecond\nthird\nfourth",
    );
    assert_eq!(r.text(), "11|first line|sec|3");
    let r = request(addr, "POST", "/iter", "", b"a\nb\nc\n");
    assert_eq!(r.text(), "3 lines");
    let r = get(addr, "/write");
    assert_eq!(r.text(), "written-and-returned");
    let r = get(addr, "/gen");
    assert_eq!(r.text(), "chunk0;chunk1;chunk2;chunk3;chunk4;");
    let r = get(addr, "/file");
    assert_eq!(r.body, b"file-wrapper-body\n".repeat(100));
    let r = get(addr, "/exc_info");
    assert_eq!(
        (r.status, r.text().as_str()),
        (500, "error page from the app")
    );
    let r = get(addr, "/empty");
    assert_eq!(r.status, 204);
}

#[test]
fn wsgiref_validator_passes_every_path_and_catches_a_noncompliant_app() {
    let (server, addr) = serve("wsgi_validate.py", &[]);
    validator_paths(addr);
    // The same paths over the uwsgi protocol, as nginx sends them.
    let port = free_port();
    let uaddr: SocketAddr = ([127, 0, 0, 1], port).into();
    let file = app("wsgi_validate.py");
    let mut userver = Server::start(["--socket", &uaddr.to_string(), "--wsgi-file", &file]);
    userver.wait_for_tcp(uaddr);
    let r = uwsgi_tcp_request(uaddr, &uwsgi_packet(&uwsgi_vars("GET", "/hello"), b""));
    assert_eq!((r.status, r.text().as_str()), (200, "hello from python 45"));
    let mut vars = uwsgi_vars("POST", "/echo");
    vars.retain(|(k, _)| *k != "CONTENT_LENGTH");
    vars.push(("CONTENT_LENGTH", "4"));
    let r = uwsgi_tcp_request(uaddr, &uwsgi_packet(&vars, b"abcd"));
    assert_eq!(r.text(), "got:abcd");

    // wsgi.errors reached the log, line by line.
    server.wait_for_log("lines read");
    // The validator found nothing wrong with the server's side of any path (its failures
    // are AssertionErrors, raised or printed from __del__ when close() was not called).
    for log in [server.log(), userver.log()] {
        assert!(
            !log.contains("AssertionError"),
            "validator complained:\n{log}"
        );
        assert!(
            !log.contains("Exception ignored"),
            "validator complained:\n{log}"
        );
        assert!(!log.contains("WSGIWarning"), "validator warned:\n{log}");
    }

    // A non-compliant app through the same validator is caught: 500 and the reason logged.
    let r = get(addr, "/noncompliant");
    assert_eq!(r.status, 500);
    assert!(!r.text().contains("should never be seen"));
    let log = server.wait_for_log("AssertionError");
    assert!(log.contains("No Content-Type header found"), "{log}");
    // ... and the worker keeps serving.
    assert_eq!(get(addr, "/hello").status, 200);
}

// ---------------------------------------------------------------------------------------
// environ

fn env_value<'a>(env: &'a serde_json::Value, key: &str) -> (&'a str, &'a str) {
    let v = env
        .get(key)
        .unwrap_or_else(|| panic!("{key} missing from environ: {env}"));
    (v[0].as_str().unwrap(), v[1].as_str().unwrap())
}

#[test]
fn environ_keys_have_the_values_and_types_pep_3333_and_uwsgi_give_them() {
    let (_server, addr) = serve(
        "wsgi_environ.py",
        &["--master", "--processes", "2", "--threads", "2"],
    );
    let req = b"POST /caf%C3%A9/x%20y?a=1&b=%20 HTTP/1.1\r\nHost: example.com:8080\r\n\
        Connection: close\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\
        X-Multi: one\r\nX-Multi: two\r\nCookie: a=1\r\nCookie: b=2\r\n\
        X-Forwarded-Proto: https\r\n\r\nhello";
    let r = exchange(addr, req);
    assert_eq!(r.status, 200, "{}", r.text());
    let env = json(&r);
    let s = |k: &str, v: &str| assert_eq!(env_value(&env, k), ("str", v), "{k}");
    s("REQUEST_METHOD", "POST");
    s("SCRIPT_NAME", "");
    s("PATH_INFO", "/caf\u{c3}\u{a9}/x y");
    s("QUERY_STRING", "a=1&b=%20");
    s("REQUEST_URI", "/caf%C3%A9/x%20y?a=1&b=%20");
    s("SERVER_PROTOCOL", "HTTP/1.1");
    s("SERVER_PORT", &addr.port().to_string());
    s("REMOTE_ADDR", "127.0.0.1");
    s("CONTENT_TYPE", "text/plain");
    s("CONTENT_LENGTH", "5");
    s("HTTP_HOST", "example.com:8080");
    s("HTTP_X_MULTI", "one, two");
    s("HTTP_COOKIE", "a=1; b=2");
    s("wsgi.url_scheme", "https");
    assert_eq!(env_value(&env, "SERVER_NAME").0, "str");
    assert!(env_value(&env, "REMOTE_PORT").1.parse::<u16>().is_ok());
    assert!(env.get("HTTP_CONTENT_TYPE").is_none() && env.get("HTTP_CONTENT_LENGTH").is_none());
    assert_eq!(env_value(&env, "wsgi.version"), ("tuple", "(1, 0)"));
    assert_eq!(env_value(&env, "wsgi.multithread"), ("bool", "True"));
    assert_eq!(env_value(&env, "wsgi.multiprocess"), ("bool", "True"));
    assert_eq!(env_value(&env, "wsgi.run_once"), ("bool", "False"));
    assert_eq!(env_value(&env, "wsgi.input_terminated"), ("bool", "True"));
    assert_eq!(env_value(&env, "wsgi.input").0, "Input");
    assert_eq!(env_value(&env, "wsgi.errors").0, "ErrorStream");
    assert_eq!(env_value(&env, "wsgi.file_wrapper").0, "type");
    assert_eq!(env_value(&env, "uwsgi.version").0, "bytes");
    assert_eq!(env_value(&env, "uwsgi.node").0, "bytes");
    assert_eq!(env_value(&env, "wsgi.input.read"), ("bytes", "hello"));
    let worker: usize = env_value(&env, "uwsgi.worker_id()").1.parse().unwrap();
    assert!((1..=2).contains(&worker), "worker id {worker}");
    assert_eq!(env_value(&env, "uwsgi.numproc").1, "2");
    assert!(env_value(&env, "uwsgi.opt").1.contains("'master'"), "{env}");
    // Every CGI key is a native str (PEP 3333 "environ Variables").
    for (k, v) in env.as_object().unwrap() {
        if !k.contains('.') && !k.contains('(') {
            assert_eq!(v[0], "str", "{k} is not a str");
        }
    }

    // A plain HTTP/1.0 GET: no body, so no CONTENT_LENGTH; scheme http.
    let r = exchange(addr, b"GET /plain HTTP/1.0\r\nHost: h\r\n\r\n");
    let env = json(&r);
    assert_eq!(env_value(&env, "SERVER_PROTOCOL"), ("str", "HTTP/1.0"));
    assert_eq!(env_value(&env, "wsgi.url_scheme"), ("str", "http"));
    assert_eq!(env_value(&env, "QUERY_STRING"), ("str", ""));
    assert!(env.get("CONTENT_LENGTH").is_none(), "{env}");
}

/// The test venv's `major.minor`: the Python the binary under test embeds.
fn venv_python_version() -> String {
    let mut c = std::process::Command::new(test_venv().join("bin/python"));
    c.args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"]);
    let out = run_command(c);
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// What the test venv's python says of its base install: `sys.base_prefix`, resolved.
fn venv_base_prefix() -> PathBuf {
    let mut c = std::process::Command::new(test_venv().join("bin/python"));
    c.args([
        "-c",
        "import os, sys; print(os.path.realpath(sys.base_prefix))",
    ]);
    let out = run_command(c);
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

#[test]
fn the_interpreter_finds_its_own_install_and_venv_under_systemds_path() {
    let base = venv_base_prefix();
    let venv = test_venv().canonicalize().unwrap();
    let file = app("wsgi_paths.py");
    let home = venv.to_string_lossy().into_owned();
    for with_home in [false, true] {
        let mut args = vec!["--wsgi-file", file.as_str()];
        if with_home {
            args.extend(["--home", home.as_str()]);
        }
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let addr_arg = addr.to_string();
        args.extend(["--http-socket", addr_arg.as_str()]);
        let mut server = ServerBuilder::new(&args).env("PATH", SYSTEMD_PATH).start();
        server.wait_for_tcp(addr);
        let r = get(addr, "/");
        assert_eq!(r.status, 200, "{}", r.text());
        let text = r.text();
        let lines: Vec<&str> = text.lines().collect();
        let [executable, prefix, base_prefix, os_file] = lines[..] else {
            panic!("{text:?}");
        };
        // The standard library is the one of the install whose libpython is loaded.
        assert!(
            std::path::Path::new(os_file).starts_with(&base),
            "home {with_home}: os.py from {os_file}, not {}",
            base.display()
        );
        assert_eq!(
            std::path::Path::new(base_prefix),
            base,
            "home {with_home}: {text}"
        );
        if with_home {
            // As uWSGI: the interpreter is started as the venv's python.
            assert_eq!(
                std::path::Path::new(executable),
                venv.join("bin/python"),
                "{text}"
            );
            assert_eq!(std::path::Path::new(prefix), venv, "{text}");
        } else {
            assert!(
                std::path::Path::new(executable).starts_with(&base),
                "sys.executable {executable} is not under {}",
                base.display()
            );
            assert_eq!(std::path::Path::new(prefix), base, "{text}");
        }
        drop(server);
    }
}

#[test]
fn the_uwsgi_module_answers_what_libraries_probe_on_this_python() {
    let unix_now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    // Taken before the start: the socket accepts (and `serve` returns) before the
    // interpreter, which sets `started_on`, is up.
    let before = unix_now();
    let (server, addr) = serve(
        "module_probe.py",
        &[
            "--master",
            "--processes",
            "2",
            "--threads",
            "3",
            "--env",
            "A=1",
            "--env",
            "B=2",
        ],
    );
    let r = get(addr, "/");
    let after = unix_now();
    assert_eq!(r.status, 200, "{}", r.text());
    let got = json(&r);
    let expected = serde_json::json!({
        "python": venv_python_version(),
        "version": ["bytes", "2.0.28"],
        "version_info": ["tuple", [2, 0, 28, 0, ""]],
        "hostname": "bytes",
        "numproc": 2,
        "cores": 3,
        "has_threads": 1,
        "buffer_size": 8192,
        // Not given, but implied: threads always work.
        "enable-threads": true,
        "master": true,
        "lazy-apps": false,
        "threads": "3",
        "env": ["A=1", "B=2"],
        "masterpid": server.pid,
        "spool_codes": [-2, -1, 0],
        "calls": [
            "worker_id", "masterpid", "reload", "stop", "set_logvar", "register_signal",
            "signal", "add_timer", "add_cron", "lock", "unlock", "cache_get", "cache_set",
            "spool", "mule_msg",
        ],
        "decorators": ["postfork", "timer", "cron", "signal", "lock", "spool", "mulefunc"],
    });
    for (key, want) in expected.as_object().unwrap() {
        assert_eq!(&got[key], want, "uwsgi {key}: {got}");
    }
    let on = got["started_on"].as_u64().unwrap();
    assert!(
        (before..=after).contains(&on),
        "started_on {on}, not between {before} and {after}"
    );
    let worker = got["worker_id"].as_u64().unwrap();
    assert!((1..=2).contains(&worker), "worker_id {worker}");
}

#[test]
fn environ_from_nginx_uwsgi_params() {
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let file = app("wsgi_environ.py");
    let mut server = Server::start([
        "--socket",
        &addr.to_string(),
        "--wsgi-file",
        &file,
        "--wsgi-disable-file-wrapper",
    ]);
    server.wait_for_tcp(addr);
    let mut vars = uwsgi_vars("GET", "/some/path?x=1");
    vars.push(("HTTPS", "on"));
    vars.push(("HTTP_USER_AGENT", "curl/8"));
    let r = uwsgi_tcp_request(addr, &uwsgi_packet(&vars, b""));
    assert_eq!(r.status, 200, "{}", r.text());
    let env = json(&r);
    let s = |k: &str, v: &str| assert_eq!(env_value(&env, k), ("str", v), "{k}");
    s("PATH_INFO", "/some/path");
    s("QUERY_STRING", "x=1");
    s("REQUEST_URI", "/some/path?x=1");
    s("DOCUMENT_ROOT", "/usr/share/nginx/html");
    s("REQUEST_SCHEME", "http");
    s("REMOTE_ADDR", "127.0.0.1");
    s("REMOTE_PORT", "40000");
    s("SERVER_NAME", "localhost");
    s("SERVER_PORT", "80");
    s("HTTP_USER_AGENT", "curl/8");
    s("SCRIPT_NAME", "");
    s("wsgi.url_scheme", "https");
    assert_eq!(env_value(&env, "wsgi.multiprocess"), ("bool", "False"));
    assert_eq!(env_value(&env, "wsgi.multithread"), ("bool", "False"));
    assert!(env.get("wsgi.file_wrapper").is_none(), "disabled: {env}");
}

#[test]
fn mount_and_manage_script_name_split_the_path() {
    let echo = format!("/echo={}", app("wsgi_echo.py"));
    let env = format!("/env={}", app("wsgi_environ.py"));
    let (_server, addr) = Server::http([
        "--mount",
        echo.as_str(),
        "--mount",
        env.as_str(),
        "--manage-script-name",
    ]);
    let r = get(addr, "/env/deeper/path?q=1");
    let e = json(&r);
    assert_eq!(env_value(&e, "SCRIPT_NAME"), ("str", "/env"));
    assert_eq!(env_value(&e, "PATH_INFO"), ("str", "/deeper/path"));
    let r = get(addr, "/echo/other");
    assert_eq!(r.text(), "hello /other 4950");
}

// ---------------------------------------------------------------------------------------
// The serving shapes again, through a Python app

#[test]
fn keep_alive_and_pipelining_through_python() {
    let (_server, addr) = serve("wsgi_echo.py", &[]);
    let mut s = connect(addr);
    for i in 0..3 {
        let body = format!("body number {i}");
        write!(
            s,
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let r = read_response(&mut s, false).unwrap();
        assert_eq!(r.text(), body, "request {i} on one connection");
    }
    // Three requests in one write; three responses, in order.
    let mut batch = Vec::new();
    for i in 0..3 {
        batch.extend_from_slice(format!("GET /p{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    s.write_all(&batch).unwrap();
    for i in 0..3 {
        let r = read_response(&mut s, false).unwrap();
        assert_eq!(r.text(), format!("hello /p{i} 4950"));
    }
}

#[test]
fn chunked_and_50_mib_uploads_and_downloads_through_python() {
    let (_server, addr) = serve("wsgi_echo.py", &[]);
    // A chunked upload, de-chunked for wsgi.input.
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut req =
        b"POST /digest HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    req.extend_from_slice(&chunked(&body, 7000));
    let r = exchange(addr, &req);
    assert_eq!(r.text(), format!("{} {}", body.len(), adler32(&body)));

    // 1 MiB with a Content-Length, kept in memory (post-buffering): the loop reads it
    // straight into the body's buffer, over many reads, and not a byte further: a second
    // request written right behind it on the same connection is served too.
    let mid: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(40503) >> 7) as u8)
        .collect();
    let mut s = connect(addr);
    let mut wire = format!(
        "POST /digest HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        mid.len()
    )
    .into_bytes();
    wire.extend_from_slice(&mid);
    wire.extend_from_slice(
        b"POST /digest HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    );
    for piece in wire.chunks(100_000) {
        s.write_all(piece).unwrap();
    }
    let r = read_response(&mut s, false).unwrap();
    assert_eq!(r.text(), format!("{} {}", mid.len(), adler32(&mid)));
    let r = read_response(&mut s, false).unwrap();
    assert_eq!(r.text(), format!("3 {}", adler32(b"abc")));

    // 50 MiB up (spooled to a file by the loop, read by Python in blocks).
    let big: Vec<u8> = (0..50u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let r = request(addr, "POST", "/digest", "", &big);
    assert_eq!(r.text(), format!("{} {}", big.len(), adler32(&big)));

    // 50 MiB down, generated in Python under back-pressure.
    let r = get(addr, "/stream?n=800&size=65536");
    assert_eq!(r.body.len(), 50 << 20);
    for (i, chunk) in r.body.chunks(65536).enumerate() {
        assert!(chunk.iter().all(|&b| b == 97 + (i % 26) as u8), "chunk {i}");
    }
}

#[test]
fn slow_clients_do_not_hold_the_python_thread() {
    let (_server, addr) = serve("wsgi_echo.py", &["--threads", "2"]);
    // A client trickling its request: the loop buffers it, no Python thread waits for it.
    let mut slow = connect(addr);
    slow.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhalf")
        .unwrap();
    // A client not reading a big streamed response.
    let mut lazy = connect(addr);
    lazy.write_all(
        b"GET /stream?n=400&size=65536 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    // Meanwhile others are served.
    for i in 0..5 {
        let r = get(addr, &format!("/meanwhile{i}"));
        assert_eq!(r.text(), format!("hello /meanwhile{i} 4950"));
    }
    slow.write_all(b"-rest!").unwrap();
    let r = read_response(&mut slow, false).unwrap();
    assert_eq!(r.text(), "half-rest!");
    let r = read_response(&mut lazy, false).unwrap();
    assert_eq!(r.body.len(), 400 * 65536);
}

// ---------------------------------------------------------------------------------------
// Threads

#[test]
fn four_threads_serve_four_one_second_requests_concurrently() {
    let (server, addr) = serve("wsgi_threads.py", &["--threads", "4"]);
    let clients: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || json(&get(addr, "/sleep"))))
        .collect();
    let results: Vec<serde_json::Value> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let starts: Vec<f64> = results
        .iter()
        .map(|r| r["start"].as_f64().unwrap())
        .collect();
    let ends: Vec<f64> = results.iter().map(|r| r["end"].as_f64().unwrap()).collect();
    let last_start = starts.iter().cloned().fold(f64::MIN, f64::max);
    let first_end = ends.iter().cloned().fold(f64::MAX, f64::min);
    // All four were running at the same moment, by the app's own clock.
    assert!(
        last_start < first_end,
        "requests did not overlap: starts {starts:?} ends {ends:?}\n{}",
        server.log()
    );
    let mut threads: Vec<&str> = results
        .iter()
        .map(|r| r["thread"].as_str().unwrap())
        .collect();
    threads.sort_unstable();
    threads.dedup();
    assert_eq!(threads.len(), 4, "{threads:?}");
    // One worker process served them all.
    assert!(children_of(server.pid).is_empty());
}

// ---------------------------------------------------------------------------------------
// Errors

/// `no-default-app`: a request whose SCRIPT_NAME (nginx's `uwsgi_param`) is no app's mount
/// gets a 500 instead of the default app; one without SCRIPT_NAME is the default app's own.
#[test]
fn no_default_app_refuses_a_script_name_no_app_is_mounted_at() {
    let uwsgi_get = |addr: SocketAddr, script_name: Option<&str>| {
        let mut vars = uwsgi_vars("GET", "/pid");
        vars.retain(|(k, _)| *k != "SCRIPT_NAME");
        if let Some(s) = script_name {
            vars.push(("SCRIPT_NAME", s));
        }
        uwsgi_tcp_request(addr, &uwsgi_packet(&vars, b""))
    };
    for strict in [false, true] {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut args = vec![
            "--socket".to_string(),
            addr.to_string(),
            "--wsgi-file".into(),
        ];
        args.push(app("wsgi_echo.py"));
        if strict {
            args.push("--no-default-app".into());
        }
        let mut server = Server::start(args);
        server.wait_for_tcp(addr);
        assert_eq!(uwsgi_get(addr, None).status, 200);
        let other = uwsgi_get(addr, Some("/other")).status;
        if strict {
            assert_eq!(other, 500);
            server.wait_for_log("no app is mounted at SCRIPT_NAME \"/other\" (no-default-app)");
        } else {
            assert_eq!(other, 200, "the default app serves it");
        }
    }
}

/// `vhost`: the app is the one mounted at `HOST|SCRIPT_NAME` (HTTP_HOST, else SERVER_NAME),
/// over HTTP and uwsgi; another host gets the default app, or a 500 under `no-default-app`.
#[test]
fn vhost_picks_the_app_by_host_and_script_name() {
    let uwsgi_get = |addr: SocketAddr, vars: &[(&str, &str)]| {
        let mut all = uwsgi_vars("GET", "/pid");
        all.retain(|(k, _)| !vars.iter().any(|(v, _)| v == k) && *k != "HTTP_HOST");
        all.extend_from_slice(vars);
        uwsgi_tcp_request(addr, &uwsgi_packet(&all, b""))
    };
    let http_get = |addr: SocketAddr, host: &str| {
        exchange(
            addr,
            format!("GET /pid HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    };
    // The three apps answer apart: wsgi_paths.py four lines, wsgi_environ.py JSON,
    // wsgi_echo.py (the default) its pid.
    let is_paths = |r: &Response| r.status == 200 && r.text().lines().count() == 4;
    let is_environ = |r: &Response| r.status == 200 && r.text().starts_with('{');
    let is_default = |r: &Response| r.status == 200 && r.text().parse::<u32>().is_ok();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let hostname = hostname.trim();
    for no_default in [false, true] {
        let (uwsgi, http): (SocketAddr, SocketAddr) = (
            ([127, 0, 0, 1], free_port()).into(),
            ([127, 0, 0, 1], free_port()).into(),
        );
        let mut args = vec![
            "--socket".to_string(),
            uwsgi.to_string(),
            "--http-socket".into(),
            http.to_string(),
            "--vhost".into(),
            "--wsgi-file".into(),
            app("wsgi_echo.py"),
            "--mount".into(),
            format!("a.example|={}", app("wsgi_paths.py")),
            "--mount".into(),
            format!("a.example|/m={}", app("wsgi_environ.py")),
            // A request without Host falls back to SERVER_NAME: this machine's name.
            "--mount".into(),
            format!("{hostname}|={}", app("wsgi_environ.py")),
        ];
        if no_default {
            args.push("--no-default-app".into());
        }
        let mut server = Server::start(args);
        server.wait_for_tcp(uwsgi);
        server.wait_for_tcp(http);
        assert!(is_paths(&http_get(http, "a.example")));
        assert!(is_paths(&uwsgi_get(uwsgi, &[("HTTP_HOST", "a.example")])));
        assert!(is_paths(&uwsgi_get(uwsgi, &[("SERVER_NAME", "a.example")])));
        assert!(is_environ(&uwsgi_get(
            uwsgi,
            &[("HTTP_HOST", "a.example"), ("SCRIPT_NAME", "/m")]
        )));
        assert!(is_environ(&exchange(http, b"GET /pid HTTP/1.0\r\n\r\n")));
        let other = http_get(http, "b.example");
        if no_default {
            assert_eq!(other.status, 500);
            server.wait_for_log("no app is mounted at \"b.example|\" (vhost)");
        } else {
            assert!(is_default(&other), "{}", other.text());
        }
        assert!(
            !server.log().contains("not implemented"),
            "{}",
            server.log()
        );
    }
}

/// `catch-exceptions` (for development): an app error before the head went out is
/// answered with its traceback as the 500's body; it is logged as without the option.
#[test]
fn catch_exceptions_answers_the_traceback() {
    let (server, addr) = serve("wsgi_crash.py", &["--catch-exceptions"]);
    let r = get(addr, "/crash");
    assert_eq!(r.status, 500);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let text = r.text();
    assert!(
        text.starts_with("Traceback (most recent call last)"),
        "{text}"
    );
    assert!(text.contains("ValueError: boom-before-start"), "{text}");
    server.wait_for_log("ValueError: boom-before-start");
    assert_eq!(get(addr, "/ok").status, 200);
    assert!(
        !server.log().contains("not implemented"),
        "{}",
        server.log()
    );
}

#[test]
fn app_errors_answer_500_log_the_traceback_and_the_worker_keeps_serving() {
    let (server, addr) = serve("wsgi_crash.py", &[]);
    let r = get(addr, "/crash");
    assert_eq!(r.status, 500);
    let log = server.wait_for_log("ValueError: boom-before-start");
    assert!(log.contains("Traceback (most recent call last)"), "{log}");
    assert_eq!(get(addr, "/ok").text(), "ok 4");

    // An error after the head went out: the connection closes, the traceback is logged and
    // the iterable's close() was called.
    let raw = exchange_raw(addr, b"GET /crash-after-head HTTP/1.1\r\nHost: t\r\n\r\n");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("partial-") && !text.contains("never"),
        "{text}"
    );
    server.wait_for_log("RuntimeError: boom-in-iteration");
    assert_eq!(get(addr, "/closed").text(), "1");

    // exc_info after the head went out: start_response re-raises it, the connection closes.
    let raw = exchange_raw(addr, b"GET /exc-after-head HTTP/1.1\r\nHost: t\r\n\r\n");
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.contains("head-is-out"),
        "{text}"
    );
    assert!(!text.contains("never"), "{text}");
    server.wait_for_log("KeyError: 'reraised-by-start-response'");

    // SystemExit from the app is logged, answered 500, and does not end the worker.
    let r = get(addr, "/exit");
    assert_eq!(r.status, 500);
    server.wait_for_log("SystemExit");
    assert_eq!(get(addr, "/ok").text(), "ok 4");

    // Invalid headers are refused with a 500 and a log line naming the header.
    assert_eq!(get(addr, "/bad-header").status, 500);
    server.wait_for_log("X-Evil");
    // A control character other than tab, which strict clients refuse (as Gunicorn does).
    assert_eq!(get(addr, "/control-in-header").status, 500);
    server.wait_for_log("X-Ctl");
    // Latin-1 text goes out one byte per character, in the reason phrase and in values.
    let raw = exchange_raw(
        addr,
        b"GET /latin-1-reason HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(
        raw.starts_with(b"HTTP/1.1 299 \xdcn\xefcode\r\n"),
        "{raw:?}"
    );
    assert!(
        raw.windows(15).any(|w| w == b"X-Latin: caf\xe9\r\n"),
        "{raw:?}"
    );
    assert_eq!(get(addr, "/not-bytes").status, 500);
    assert_eq!(get(addr, "/no-start").status, 500);
    server.wait_for_log("without calling start_response");

    // Never more than Content-Length; fewer closes the connection.
    let r = get(addr, "/too-long");
    assert_eq!(
        (r.header("content-length"), r.text().as_str()),
        (Some("5"), "12345")
    );
    server.wait_for_log("more than its Content-Length");
    let raw = exchange_raw(addr, b"GET /too-short HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        String::from_utf8_lossy(&raw).ends_with("\r\n\r\n12345"),
        "{raw:?}"
    );
    server.wait_for_log("closing the connection");
    assert_eq!(get(addr, "/closed").text(), "3");

    // A client that goes away mid-stream: the generator stops and close() is called.
    {
        let mut s = connect(addr);
        s.write_all(b"GET /endless HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut buf = vec![0u8; 200_000];
        s.read_exact(&mut buf).unwrap();
    }
    wait_until("close() after the client left", || {
        (get(addr, "/closed").text() == "4").then_some(())
    });
    assert_eq!(get(addr, "/ok").text(), "ok 4");
    // A bare bytes object as the body (uWSGI sends it whole).
    let r = get(addr, "/bytes");
    assert_eq!(
        (r.header("content-length"), r.text().as_str()),
        (Some("14"), "raw bytes body")
    );
}

#[test]
fn need_app_exits_22_with_the_traceback_and_a_hint() {
    let file = app("wsgi_broken.py");
    let port = free_port().to_string();
    let out = run_ruwsgi([
        "--http-socket",
        &format!("127.0.0.1:{port}"),
        "--wsgi-file",
        &file,
    ]);
    let err = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(22), "{err}");
    assert!(err.contains("Traceback (most recent call last)"), "{err}");
    assert!(
        err.contains("No module named 'wsgi_no_such_dependency'"),
        "{err}"
    );
    assert!(err.contains("hint:") && err.contains("sys.path"), "{err}");

    let out = run_ruwsgi([
        "--http-socket",
        &format!("127.0.0.1:{port}"),
        "--module",
        "wsgi_no_such_module",
    ]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(22), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

// ---------------------------------------------------------------------------------------
// file_wrapper

#[test]
fn file_wrapper_sends_real_files_and_reads_file_likes() {
    let (_server, addr) = serve("wsgi_files.py", &[]);
    let size = 5_000_000usize;
    let r = get(addr, &format!("/real?{size}"));
    assert_eq!(r.status, 200);
    // From the file's position (10) to its end, with a computed Content-Length.
    assert_eq!(
        r.header("content-length"),
        Some((size - 10).to_string().as_str())
    );
    let expected: Vec<u8> = (0..size).map(|i| (i % 256) as u8).skip(10).collect();
    assert!(r.body == expected, "sendfile body differs");
    let r = get(addr, "/like?100000");
    let expected: Vec<u8> = (0..100_000usize).map(|i| (i % 256) as u8).collect();
    assert!(r.body == expected, "file-like body differs");
}

// ---------------------------------------------------------------------------------------
// Django and Flask from the test venv

fn django_args(venv: &str, how: &[&'static str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--home".into(),
        venv.into(),
        "--chdir".into(),
        example("django/mysite"),
    ];
    args.extend(how.iter().map(|s| s.to_string()));
    args
}

fn cookie(r: &Response, name: &str) -> Option<String> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, v)| {
            let first = v.split(';').next()?;
            let (k, val) = first.split_once('=')?;
            (k.trim() == name).then(|| val.to_string())
        })
}

fn check_django(addr: SocketAddr) {
    let r = get(addr, "/hello/");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Hello from Django, 45\n")
    );
    let r = get(addr, "/admin/login/");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("Django administration"), "{}", r.text());
    // A POST with Django's CSRF protection: cookie from the form page, token in the body.
    let page = get(addr, "/form/");
    let token = cookie(&page, "csrftoken").expect("csrftoken cookie");
    let text = page.text();
    let form_token = text
        .split("name=\"csrfmiddlewaretoken\" value=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("token in the form");
    let body = format!("csrfmiddlewaretoken={form_token}&name=ruwsgi");
    let headers = format!(
        "Cookie: csrftoken={token}\r\nContent-Type: application/x-www-form-urlencoded\r\nReferer: http://test/form/\r\n"
    );
    let r = request(addr, "POST", "/form/", &headers, body.as_bytes());
    assert_eq!((r.status, r.text().as_str()), (200, "posted: ruwsgi\n"));
    // Without the token Django refuses it.
    let r = request(
        addr,
        "POST",
        "/form/",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        b"name=x",
    );
    assert_eq!(r.status, 403);
}

#[test]
fn django_served_from_the_venv_with_module_and_wsgi_file() {
    let venv = test_venv().to_string_lossy().into_owned();
    let db = tempfile::tempdir().unwrap();
    let db_path: PathBuf = db.path().join("db.sqlite3");
    for how in [
        &["--module", "mysite.wsgi"][..],
        &["--wsgi-file", "mysite/wsgi.py"][..],
    ] {
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut args = vec!["--http-socket".to_string(), addr.to_string()];
        args.extend(django_args(&venv, how));
        let mut server = ServerBuilder::new(args)
            .env("DJANGO_DB", &db_path)
            .env("DJANGO_ALLOWED_HOSTS", "test")
            .start();
        server.wait_for_tcp(addr);
        check_django(addr);
    }
}

#[test]
fn flask_served_from_the_venv_with_wsgi_file_module_and_callable() {
    let venv = test_venv().to_string_lossy().into_owned();
    let file = example("flask/app.py");
    let dir = example("flask");
    let ways: [Vec<&str>; 3] = [
        vec!["--wsgi-file", &file, "--callable", "app"],
        vec!["--pythonpath", &dir, "--module", "app:app"],
        vec!["--chdir", &dir, "--module", "app", "--callable", "app"],
    ];
    for how in ways {
        let mut args = vec!["--home", venv.as_str()];
        args.extend(how.iter());
        let (_server, addr) = Server::http(args);
        let r = get(addr, "/");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "Hello from Flask, 45\n"),
            "{how:?}"
        );
        let r = request(
            addr,
            "POST",
            "/echo",
            "Content-Type: application/x-www-form-urlencoded\r\n",
            b"a=1&b=two",
        );
        let v = json(&r);
        assert_eq!(v["form"]["b"], "two", "{how:?}");
        assert_eq!(v["length"], 9);
    }
}

/// The command an example's first line documents (`# ruwsgi ...`, run from the workspace
/// root), with its port made free and `target/venv` the test venv.
fn documented_command(rel: &str, port: u16) -> Vec<String> {
    let text = std::fs::read_to_string(example(rel)).unwrap();
    let line = text.lines().next().unwrap_or_default();
    let Some(cmd) = line.strip_prefix("# ruwsgi ") else {
        panic!("examples/{rel}: the first line is not `# ruwsgi ...`: {line:?}");
    };
    let venv = test_venv().to_string_lossy().into_owned();
    cmd.split_whitespace()
        .map(|w| match w {
            "127.0.0.1:8000" => format!("127.0.0.1:{port}"),
            "target/venv" => venv.clone(),
            w => w.to_string(),
        })
        .collect()
}

#[test]
fn each_example_runs_with_the_command_its_first_line_gives() {
    let db = tempfile::tempdir().unwrap();
    for rel in ["flask/app.py", "django/mysite/mysite/wsgi.py"] {
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let args = documented_command(rel, port);
        let mut server = ServerBuilder::new(&args)
            .cwd(workspace_root())
            .env("DJANGO_DB", db.path().join("db.sqlite3"))
            .env("DJANGO_ALLOWED_HOSTS", "test")
            .start();
        server.wait_for_tcp(addr);
        if rel.starts_with("django") {
            check_django(addr);
        } else {
            let r = get(addr, "/");
            assert_eq!(
                (r.status, r.text().as_str()),
                (200, "Hello from Flask, 45\n"),
                "{args:?}"
            );
        }
    }
}

#[test]
fn uwsgi_module_reload_and_stop_signal_the_master() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.py");
    std::fs::write(
        &path,
        "import os, uwsgi\n\
         def application(e, s):\n\
         \x20   p = e['PATH_INFO']\n\
         \x20   if p == '/reload':\n\
         \x20       uwsgi.reload()\n\
         \x20   elif p == '/stop':\n\
         \x20       uwsgi.stop()\n\
         \x20   s('200 OK', [('Content-Type', 'text/plain')])\n\
         \x20   return [b'%d %d %d' % (uwsgi.worker_id(), os.getpid(), uwsgi.masterpid())]\n",
    )
    .unwrap();
    let file = path.to_string_lossy().into_owned();
    let (mut server, addr) = Server::http(["--master", "--wsgi-file", file.as_str()]);
    let first = get(addr, "/").text();
    let parts: Vec<u32> = first.split(' ').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts[0], 1, "worker id");
    assert_eq!(parts[2], server.pid, "uwsgi.masterpid()");
    let worker = parts[1];
    // uwsgi.reload(): SIGHUP to the master, which replaces the worker.
    get(addr, "/reload");
    wait_until("a new worker after uwsgi.reload()", || {
        let kids = children_of(server.pid);
        (kids.len() == 1 && kids[0] != worker).then_some(())
    });
    wait_until("the new worker to answer", || {
        let r = get(addr, "/");
        (r.status == 200 && !r.text().contains(&format!(" {worker} "))).then_some(())
    });
    // uwsgi.stop(): SIGQUIT to the master (as uWSGI): the whole server exits by itself
    // (wait_exit fails the test after the deadline otherwise).
    let mut s = connect(addr);
    s.write_all(b"GET /stop HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    server.wait_exit();
    assert!(!pid_alive(server.pid));
}

#[test]
fn env_unenv_pythonpath_globs_import_chdir2_and_post_fork_hook() {
    let dir = tempfile::tempdir().unwrap();
    let libs = dir.path().join("libs_a");
    std::fs::create_dir(&libs).unwrap();
    std::fs::write(libs.join("wsgi_imported_mod.py"), "VALUE = 1\n").unwrap();
    let glob = dir.path().join("libs_*").to_string_lossy().into_owned();
    let chdir2 = dir.path().canonicalize().unwrap();
    let chdir2 = chdir2.to_string_lossy().into_owned();
    let file = app("wsgi_options.py");
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut server = ServerBuilder::new([
        "--http-socket",
        &addr.to_string(),
        "--master",
        "--wsgi-file",
        &file,
        "--env",
        "RUWSGI_T_FOO=bar=baz",
        "--unenv",
        "RUWSGI_T_GONE",
        "--pythonpath",
        &glob,
        "--import",
        "wsgi_imported_mod",
        "--chdir2",
        &chdir2,
        "--py-call-osafterfork",
        "--honour-stdin",
    ])
    .env("RUWSGI_T_GONE", "1")
    .piped_stdin()
    .start();
    server.wait_for_tcp(addr);
    let v = json(&get(addr, "/"));
    assert_eq!(v["foo"], "bar=baz");
    assert_eq!(v["gone"], false);
    assert_eq!(v["imported"], true);
    assert_eq!(v["cwd"], chdir2.as_str());
    assert_eq!(
        v["post_fork"], true,
        "uwsgi.post_fork_hook ran in the worker"
    );
    assert_eq!(
        v["at_fork"], true,
        "os.register_at_fork's after_in_child ran in the worker"
    );
    assert_eq!(v["stdin_is_null"], false, "honour-stdin keeps the pipe");
    assert!(
        !server.log().contains("not implemented"),
        "{}",
        server.log()
    );
}

/// `umask` applies to everything ruwsgi and the app create (pidfile, unix socket, the
/// app's files); `max-fd` and `limit-as` set the limits the workers run with; stdin is
/// `/dev/null` (without `honour-stdin`).
#[test]
fn umask_max_fd_and_limit_as_reach_the_files_and_the_workers() {
    let dir = tempfile::tempdir().unwrap();
    let (sock, pidfile) = (dir.path().join("app.sock"), dir.path().join("app.pid"));
    let mut server = ServerBuilder::new([
        "--socket",
        sock.to_str().unwrap(),
        "--protocol",
        "http",
        "--master",
        "--pidfile",
        pidfile.to_str().unwrap(),
        "--wsgi-file",
        &app("wsgi_options.py"),
        "--umask",
        "027",
        "--max-fd",
        "1000",
        "--limit-as",
        "8192",
    ])
    .piped_stdin()
    .start();
    server.wait_for_unix(&sock);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&pidfile), 0o640, "pidfile");
    assert_eq!(mode(&sock), 0o750, "unix socket");
    let mut s = connect_unix(&sock);
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let v = json(&read_response(&mut s, false).unwrap());
    assert_eq!(v["umask"], "027");
    assert_eq!(v["nofile"], serde_json::json!([1000, 1000]));
    assert_eq!(
        v["address_space"],
        serde_json::json!([8192u64 << 20, 8192u64 << 20])
    );
    assert_eq!(
        v["stdin_is_null"], true,
        "stdin is /dev/null, as under uWSGI"
    );
    assert!(
        !server.log().contains("not implemented"),
        "{}",
        server.log()
    );
}

#[test]
fn a_worker_busy_with_a_slow_request_leaves_new_connections_to_its_sibling() {
    let (server, addr) = serve("wsgi_echo.py", &["--master", "--processes", "2"]);
    // Occupy one worker's only Python thread; the app logs which worker it is.
    let mut slow = connect(addr);
    slow.write_all(b"GET /sleep?s=4 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let log = server.wait_for_log("sleep started in ");
    let busy: String = log
        .split("sleep started in ")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    // New connections meanwhile are served by the idle sibling, not queued behind it.
    for _ in 0..6 {
        assert_ne!(
            get(addr, "/pid").text(),
            busy,
            "a new connection went to the busy worker"
        );
    }
    slow.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    assert!(
        matches!(slow.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the slow request finished before the fast ones: the test proved nothing"
    );
    slow.set_nonblocking(false).unwrap();
    let r = read_response(&mut slow, false).unwrap();
    assert_eq!(r.text(), busy);
}

// ---------------------------------------------------------------------------------------
// What real apps do to the bridge

/// `wsgi.input` behaves as `io.BytesIO` over the same body at every position (past the end,
/// before the start, each read method): the app compares the two and lists the differences.
/// Before, `seek(100)` and `readline()` on a 3-byte body raised a Rust panic into the app.
#[test]
fn wsgi_input_reads_as_bytesio_at_every_position_in_memory_and_spilled() {
    // Default post-buffering keeps these bodies in memory; 2 bytes spills them to a file.
    for args in [&[][..], &["--post-buffering", "2"][..]] {
        let script = workspace_root().join("crates/wsgi/tests/input_positions.py");
        let mut all = vec!["--wsgi-file", script.to_str().unwrap()];
        all.extend_from_slice(args);
        let (server, addr) = Server::http(all);
        for body in [&b"abc"[..], b"line one\nline two\nlast"] {
            let r = request(addr, "POST", "/", "", body);
            assert_eq!(
                (r.status, r.text()),
                (200, format!("{} bytes, 0 differences\n", body.len())),
                "{args:?}"
            );
        }
        assert!(!server.log().contains("panicked"), "{}", server.log());
    }
}

/// `Connection: close` from the app closes the connection after the response; the other
/// hop-by-hop headers are dropped with one warning per name, and the response is served;
/// subclasses of `str` (and `tuple`) pass as status, header names and values.
#[test]
fn connection_close_hop_by_hop_headers_and_str_subclasses_from_the_app() {
    let (server, addr) = serve("wsgi_headers.py", &[]);
    let mut s = connect(addr);
    s.write_all(b"GET /close HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, false).unwrap();
    assert_eq!(
        (r.status, r.header("connection"), r.text().as_str()),
        (200, Some("close"), "closing after this")
    );
    let mut rest = Vec::new();
    assert_eq!(
        s.read_to_end(&mut rest).unwrap(),
        0,
        "the connection closed"
    );
    // Without the app's header, one keep-alive connection serves both requests.
    let mut s = connect(addr);
    for _ in 0..2 {
        s.write_all(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let r = read_response(&mut s, false).unwrap();
        assert_eq!((r.status, r.header("connection")), (200, None));
    }

    let dropped = ["Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade"];
    for _ in 0..3 {
        let r = get(addr, "/hop");
        assert_eq!(
            (r.status, r.text().as_str(), r.header("x-kept")),
            (200, "hop-by-hop dropped", Some("yes"))
        );
        for name in dropped {
            assert_eq!(r.header(name), None, "{name} was sent: {r:?}");
        }
        // The app's `Transfer-Encoding: chunked` did not frame the body.
        assert_eq!(
            (r.header("transfer-encoding"), r.header("content-length")),
            (None, Some("18"))
        );
    }
    let log = server.wait_for_log("hop-by-hop header \"Transfer-Encoding\"");
    for name in dropped.iter().chain(&["Transfer-Encoding"]) {
        let line = format!("hop-by-hop header \"{name}\"");
        assert_eq!(log.matches(&line).count(), 1, "{name}: {log}");
    }

    let r = get(addr, "/subclass");
    assert_eq!(
        (r.status, r.header("x-safe"), r.text().as_str()),
        (200, Some("safe"), "subclasses pass")
    );
}

/// `http-auto-chunked` (uWSGI's HTTP router) changes nothing: on `--http`, as on every HTTP
/// socket, a response of unknown length to an HTTP/1.1 client is chunked and the connection
/// kept alive.
#[test]
fn http_auto_chunked_is_what_http_does() {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut server = Server::start([
        "--http",
        &addr.to_string(),
        "--http-auto-chunked",
        "--wsgi-file",
        &app("wsgi_echo.py"),
    ]);
    server.wait_for_tcp(addr);
    let mut s = connect(addr);
    for _ in 0..2 {
        s.write_all(b"GET /stream?n=3&size=10 HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let r = read_response(&mut s, false).unwrap();
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        assert_eq!(r.text(), "aaaaaaaaaabbbbbbbbbbcccccccccc");
    }
    assert!(
        !server.log().contains("not implemented"),
        "{}",
        server.log()
    );
}

/// `py-tracebacker PREFIX`: worker N answers on `PREFIX<N>` with its threads' Python stacks
/// in uWSGI's format, here showing the request that sleeps in the app.
#[test]
fn py_tracebacker_shows_what_each_thread_runs() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let (mark, prefix) = (dir.path().join("mark"), dir.path().join("tb"));
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut server = ServerBuilder::new([
        "--http-socket",
        &addr.to_string(),
        "--master",
        "--threads",
        "2",
        "--wsgi-file",
        &app("process_slow.py"),
        "--py-tracebacker",
        prefix.to_str().unwrap(),
    ])
    .env("PROCESS_SLOW_MARK", &mark)
    .start();
    server.wait_for_tcp(addr);
    let socket = dir.path().join("tb1");
    server.wait_for_log(&format!(
        "python tracebacker for worker 1 available on {}",
        socket.display()
    ));
    let slow = std::thread::spawn(move || get(addr, "/slow"));
    wait_until("the slow request to be in the app", || {
        mark.exists().then_some(())
    });
    let mut text = String::new();
    connect_unix(&socket).read_to_string(&mut text).unwrap();
    assert!(
        text.starts_with("*** uWSGI Python tracebacker output ***\n\n"),
        "{text}"
    );
    let sleeping = text
        .lines()
        .find(|l| l.contains("function = application") && l.contains("process_slow.py"))
        .unwrap_or_else(|| panic!("no frame of the app:\n{text}"));
    assert!(sleeping.starts_with("thread_id = "), "{sleeping}");
    assert!(sleeping.ends_with("line = time.sleep(1.0)"), "{sleeping}");
    assert_eq!(slow.join().unwrap().text(), "slow done");
}

/// GETs `path` from the `pyopts_report.py` app and reads its JSON answer.
fn pyopts_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let r = get(addr, path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    serde_json::from_str(&r.text()).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

/// `pyargv` makes `sys.argv` `uwsgi` and its words (split on spaces and tabs, as uWSGI),
/// `py-sys-executable` (`py-executable`'s alias) sets `sys.executable`, and each
/// `pymodule-alias` is in `sys.modules` before the app is imported: a module by name (the
/// very module object; one from the current directory too), a file run as the module NAME,
/// and a directory as a package whose submodules import.
#[test]
fn pyopts_pyargv_py_executable_and_pymodule_alias_reach_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    std::fs::write(pkg.join("__init__.py"), "VALUE = 'pkg ' + __name__\n").unwrap();
    std::fs::write(pkg.join("sub.py"), "VALUE = 'sub ' + __name__\n").unwrap();
    let target = app("pyopts_target.py");
    let file_alias = format!("pyopts_file={target}");
    let pkg_alias = format!("pyopts_pkg={}", pkg.display());
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut server = ServerBuilder::new([
        "--http-socket",
        &addr.to_string(),
        "--wsgi-file",
        &app("pyopts_report.py"),
        "--pyargv",
        " one  two\tthree ",
        "--py-sys-executable",
        "/opt/pyopts/bin/python",
        "--pymodule-alias",
        "pyopts_json=json",
        "--pymodule-alias",
        "pyopts_cwd=pyopts_target",
        "--pymodule-alias",
        &file_alias,
        "--pymodule-alias",
        &pkg_alias,
    ])
    .cwd(apps_dir())
    .start();
    server.wait_for_tcp(addr);
    let report = pyopts_json(addr, "/report");
    assert_eq!(
        report["argv"],
        serde_json::json!(["uwsgi", "one", "two", "three"])
    );
    assert_eq!(report["executable"], "/opt/pyopts/bin/python");
    assert_eq!(report["json_alias_is_json"], true);
    assert_eq!(report["cwd_alias"], "pyopts_target");
    assert_eq!(
        report["file_alias"],
        serde_json::json!([
            "pyopts_file",
            "run from pyopts_target.py as pyopts_file",
            target
        ])
    );
    assert_eq!(
        report["pkg_alias"],
        serde_json::json!(["pkg pyopts_pkg", "sub pyopts_pkg.sub"])
    );
    server.wait_for_log(&format!(
        "mapped virtual pymodule \"pyopts_file\" to real pymodule \"{target}\""
    ));
}

/// A `pymodule-alias` that is not NAME=TARGET, or whose target cannot be imported, stops
/// the start with an error naming the option and the value.
#[test]
fn pyopts_a_bad_pymodule_alias_stops_the_start() {
    let file = app("pyopts_report.py");
    let socket = format!("127.0.0.1:{}", free_port());
    for (alias, says) in [
        (
            "no_equals_sign",
            "pymodule-alias \"no_equals_sign\" is not NAME=TARGET",
        ),
        (
            "pyopts_x=pyopts_no_such_module",
            "pymodule-alias pyopts_x=pyopts_no_such_module failed",
        ),
    ] {
        let out = run_ruwsgi([
            "--http-socket",
            &socket,
            "--wsgi-file",
            &file,
            "--pymodule-alias",
            alias,
        ]);
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{text}");
        assert!(text.contains(says), "{text}");
    }
}

/// `py-program-name` (`py-programname`'s alias) is the program name Python starts with:
/// naming the test venv's python makes it `sys.executable` and the venv `sys.prefix`
/// (Python finds the venv's `pyvenv.cfg` next to it), with no `home` given.
#[test]
fn pyopts_py_programname_is_where_python_finds_its_prefix() {
    let venv = test_venv();
    let python = venv.join("bin").join("python");
    let (_server, addr) = serve(
        "pyopts_report.py",
        &["--py-program-name", python.to_str().unwrap()],
    );
    let report = pyopts_json(addr, "/report");
    assert_eq!(report["executable"], python.to_str().unwrap());
    assert_eq!(report["prefix"], venv.to_str().unwrap());
}

/// `wsgi-env-behavior cheat` is accepted, and each request still gets a new environ dict
/// (uWSGI's `holy`): the previous request's dict and what the app put in it are not seen.
/// Any other value is refused, naming the option and the value.
#[test]
fn pyopts_wsgi_env_behaviour_cheat_or_holy_gets_a_new_environ_per_request() {
    let (_server, addr) = serve("pyopts_report.py", &["--wsgi-env-behavior", "cheat"]);
    for _ in 0..2 {
        let seen = pyopts_json(addr, "/env");
        assert_eq!(seen["same_dict"], false);
        assert_eq!(seen["leaked"], false);
    }
    let out = run_ruwsgi([
        "--http-socket",
        &format!("127.0.0.1:{}", free_port()),
        "--wsgi-file",
        &app("pyopts_report.py"),
        "--wsgi-env-behaviour",
        "sloppy",
    ]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("wsgi-env-behaviour") && text.contains("\"sloppy\""),
        "{text}"
    );
}

/// `reload-on-exception-type`, `-value` and `-repr`: an exception of another type, value
/// and repr recycles nothing; one of the named type (`ValueError` or `builtins.ValueError`),
/// one whose `str()` is the named value and one written as the named repr each recycle the
/// worker that served it (a new pid answers).
#[test]
fn pyopts_reload_on_exception_type_value_repr_recycle_only_on_a_match() {
    let file = app("pyopts_report.py");
    let (server, addr) = Server::http([
        "--master",
        "--wsgi-file",
        &file,
        "--reload-on-exception-type",
        "ValueError",
        "--reload-on-exception-value",
        "boom 42",
        "--reload-on-exception-repr",
        "builtins.KeyError: 'k'",
    ]);
    let pid = |addr| pyopts_json(addr, "/pid").as_u64().expect("a pid");
    let mut worker = pid(addr);
    assert_eq!(get(addr, "/raise?TypeError:boom%2041").status, 500);
    // The bridge logs a match before it answers.
    assert!(
        !server.log().contains("reload-on-exception-"),
        "{}",
        server.log()
    );
    assert_eq!(pid(addr), worker);
    for (raise, logged) in [
        (
            "ValueError:x",
            "the app raised builtins.ValueError, which reload-on-exception-type names",
        ),
        (
            "RuntimeError:boom%2042",
            "which reload-on-exception-value names",
        ),
        (
            "KeyError:k",
            "the app raised builtins.KeyError: 'k', which reload-on-exception-repr names",
        ),
    ] {
        assert_eq!(get(addr, &format!("/raise?{raise}")).status, 500);
        server.wait_for_log(logged);
        let old = worker;
        worker = wait_until("the replacement worker", || {
            let now = pid(addr);
            (now != old).then_some(now)
        });
    }
    let recycled = server
        .log()
        .matches("reload-on-exception-type, -value or -repr names; recycling")
        .count();
    assert_eq!(recycled, 3, "{}", server.log());
}

/// `thread-stacksize` (KiB) is the stack size of the threads that run the requests, as the
/// app reads it with `pthread_getattr_np` from the thread serving it (Rust's default being
/// 2 MiB).
#[test]
fn pyopts_thread_stacksize_is_the_stack_of_the_request_threads() {
    let (_server, addr) = serve(
        "pyopts_report.py",
        &["--threads", "2", "--threads-stack-size", "5000"],
    );
    for _ in 0..4 {
        let size = pyopts_json(addr, "/stack").as_u64().expect("a stack size");
        assert!(
            (5000 * 1024..5064 * 1024).contains(&size),
            "stack of {size} bytes"
        );
    }
}

/// `py-auto-reload-ignore MODULE`: the py-autoreload look (here through its alias
/// `python-auto-reload`) skips that module's file. Both modules' files change, the ignored
/// one the latest: the reload names the other one, which it would not if the ignored file
/// were looked at (the look names the newest changed file).
#[test]
fn pyopts_py_auto_reload_ignore_skips_the_named_module() {
    let dir = tempfile::tempdir().unwrap();
    let (watched, ignored) = (
        dir.path().join("pyopts_watched.py"),
        dir.path().join("pyopts_ignored.py"),
    );
    std::fs::write(&watched, "X = 1\n").unwrap();
    std::fs::write(&ignored, "X = 1\n").unwrap();
    let (server, addr) = Server::http([
        "--master",
        "--python-auto-reload",
        "1",
        "--py-auto-reload-ignore",
        "pyopts_ignored",
        "--pythonpath",
        dir.path().to_str().unwrap(),
        "--wsgi-file",
        &app("pyopts_autoreload.py"),
    ]);
    assert_eq!(get(addr, "/").status, 200);
    let later = |secs| std::time::SystemTime::now() + std::time::Duration::from_secs(secs);
    let touch = |path: &PathBuf, when| {
        let f = std::fs::File::options().append(true).open(path).unwrap();
        f.set_modified(when).unwrap();
    };
    touch(&watched, later(3600));
    touch(&ignored, later(7200));
    let log = server.wait_for_log("changed; reloading");
    let line = log
        .lines()
        .find(|l| l.contains("changed; reloading"))
        .unwrap();
    assert!(line.contains(watched.to_str().unwrap()), "{line}");
    assert!(!log.contains(ignored.to_str().unwrap()), "{log}");
}
