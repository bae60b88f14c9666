//! nginx in front, as every uWSGI deployment runs it: `uwsgi_pass` to ruwsgi's uwsgi socket
//! with Debian's stock `uwsgi_params`. nginx is required: without it these tests fail, they
//! never skip (`.ci/run` installs it).

use std::path::PathBuf;

use std::io::Write;

use ruwsgi_integration_tests::{app, connect, free_port, read_response, wait_until, Nginx, Server};

fn field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in {text:?}"))
}

fn start_ruwsgi_unix() -> (Server, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("app.sock");
    let mut server = Server::start([
        "--socket",
        sock.to_str().unwrap(),
        "--wsgi-file",
        &app("nginx_app.py"),
    ]);
    server.wait_for_unix(&sock);
    (server, dir, sock)
}

#[test]
fn nginx_uwsgi_pass_unix_socket_get() {
    let (_server, _dir, sock) = start_ruwsgi_unix();
    let nginx = Nginx::start(&format!("unix:{}", sock.display()));
    let resp = nginx.request(
        b"GET /hello/world?a=1&b=%20 HTTP/1.1\r\nHost: example.test\r\nX-Custom: yes\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(resp.status, 200, "{resp:?}\n{}", nginx.error_log());
    assert_eq!(resp.header("x-app"), Some("ruwsgi-test"));
    let text = resp.text();
    assert_eq!(field(&text, "method"), "GET");
    assert_eq!(field(&text, "path"), "/hello/world");
    assert_eq!(field(&text, "query"), "a=1&b=%20");
    assert_eq!(field(&text, "x-custom"), "yes");
    assert_eq!(field(&text, "length"), "0");
}

#[test]
fn nginx_uwsgi_pass_post_body_arrives_whole() {
    let (_server, _dir, sock) = start_ruwsgi_unix();
    let nginx = Nginx::start(&format!("unix:{}", sock.display()));
    // 3 MiB: larger than ruwsgi's default post-buffering, so it goes through a temp file.
    let body: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut raw = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    let resp = nginx.request(&raw);
    assert_eq!(resp.status, 200, "{resp:?}\n{}", nginx.error_log());
    let text = resp.text();
    assert_eq!(field(&text, "method"), "POST");
    assert_eq!(field(&text, "length"), body.len().to_string());
    assert_eq!(field(&text, "crc32"), crc32(&body).to_string());
}

#[test]
fn nginx_uwsgi_pass_large_response_and_keepalive_to_client() {
    let (_server, _dir, sock) = start_ruwsgi_unix();
    let nginx = Nginx::start(&format!("unix:{}", sock.display()));
    // Two requests on one client connection: nginx keeps the client connection alive while
    // each upstream uwsgi connection ends with its reply.
    let mut s = connect(([127, 0, 0, 1], nginx.port).into());
    for _ in 0..2 {
        s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let resp = read_response(&mut s, false).expect("response");
        assert_eq!(resp.status, 200, "{}", nginx.error_log());
        assert_eq!(resp.body.len(), 4 * 1024 * 1024);
        assert!(resp.body.iter().all(|&b| b == b'x'));
    }
}

#[test]
fn nginx_uwsgi_pass_tcp_socket() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = Server::start(["--socket", &addr, "--wsgi-file", &app("nginx_app.py")]);
    server.wait_for_tcp(([127, 0, 0, 1], port).into());
    let nginx = Nginx::start(&addr);
    let resp = nginx.request(b"GET /tcp HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(resp.status, 200, "{}", nginx.error_log());
    assert_eq!(field(&resp.text(), "path"), "/tcp");
}

/// Five reloads of a 2-worker master behind nginx `uwsgi_pass unix:` under eight clients
/// (a 200 ms endpoint and a fast one, a hundred requests or more between two reloads): no
/// request gets a 502 or fails, the socket file is the same inode throughout, and the changed
/// app is served after each reload.
#[test]
fn nginx_sees_no_error_across_five_reloads_on_a_unix_socket() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    use crate::reload::{version, write_app};

    let dir = tempfile::tempdir().expect("tempdir");
    write_app(dir.path(), &version(0), false);
    let sock = dir.path().join("app.sock");
    let mut server = ruwsgi_integration_tests::ServerBuilder::new([
        "--master",
        "--processes",
        "2",
        "--threads",
        "4",
        "--socket",
        sock.to_str().unwrap(),
        "--wsgi-file",
        "app.py",
        "--disable-logging",
    ])
    .cwd(dir.path())
    .start();
    server.wait_for_unix(&sock);
    server.wait_for_log("spawned worker 2");
    let inode = || std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&sock).unwrap());
    let first_inode = inode();
    let nginx = Arc::new(Nginx::start(&format!("unix:{}", sock.display())));
    let get = |nginx: &Nginx, path: &str| {
        nginx.request(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    };
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let (nginx, stop, done) = (nginx.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Acquire) {
                    let path = if (i + n) % 2 == 0 { "/slow" } else { "/fast" };
                    let r = get(&nginx, path);
                    assert_eq!(r.status, 200, "{r:?}\n{}", nginx.error_log());
                    n += 1;
                    done.fetch_add(1, Ordering::AcqRel);
                }
            })
        })
        .collect();
    let answered_past = |n: usize| {
        wait_until("a hundred more requests answered", || {
            (done.load(Ordering::Acquire) >= n).then_some(())
        })
    };
    for n in 1..=5 {
        answered_past(done.load(Ordering::Acquire) + 100);
        write_app(dir.path(), &version(n), false);
        server.signal(libc::SIGHUP);
        let want = version(n);
        wait_until("the changed app to be served through nginx", || {
            (get(&nginx, "/fast").text().split(' ').next() == Some(want.as_str())).then_some(())
        });
    }
    answered_past(done.load(Ordering::Acquire) + 100);
    stop.store(true, Ordering::Release);
    for c in clients {
        c.join().expect("a request through nginx failed");
    }
    assert_eq!(inode(), first_inode, "the socket file was recreated");
    assert!(server.is_running(), "{}", server.log());
    assert!(
        !nginx.error_log().contains("upstream"),
        "{}",
        nginx.error_log()
    );
}

/// Scale-out: two instances behind one nginx `upstream`. Under load, one is reloaded and
/// then the other stopped gracefully (SIGTERM): nginx keeps answering every request, the
/// stopped instance's share moving to the one that remains. The requests are POSTs, which
/// nginx does not retry on another server once it has sent them: a connection the stopping
/// instance let queue without taking would fail one.
#[test]
fn two_instances_behind_one_upstream_survive_a_reload_and_a_graceful_stop() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().expect("tempdir");
    let start = |name: &str| {
        let sock = dir.path().join(format!("{name}.sock"));
        let mut server = ruwsgi_integration_tests::ServerBuilder::new([
            "--master",
            "--processes",
            "2",
            "--threads",
            "2",
            "--socket",
            sock.to_str().unwrap(),
            "--wsgi-file",
            &app("nginx_app.py"),
            "--env",
            &format!("INSTANCE={name}"),
            "--disable-logging",
            "--vacuum",
        ])
        .start();
        server.wait_for_unix(&sock);
        server.wait_for_log("spawned worker 2");
        (server, sock)
    };
    let (mut a, a_sock) = start("a");
    let (mut b, b_sock) = start("b");
    let nginx = Arc::new(Nginx::with_servers(&[
        &format!("unix:{}", a_sock.display()),
        &format!("unix:{}", b_sock.display()),
    ]));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    // Which instance answered each request, in order.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..6)
        .map(|client| {
            let (nginx, stop, done, seen) =
                (nginx.clone(), stop.clone(), done.clone(), seen.clone());
            std::thread::spawn(move || {
                let mut sent = 0u64;
                while !stop.load(Ordering::Acquire) {
                    sent += 1;
                    let body = format!("client {client} request {sent}");
                    let request = format!(
                        "POST /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                         Content-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let r = nginx.request(request.as_bytes());
                    assert_eq!(r.status, 200, "{r:?}\n{}", nginx.error_log());
                    let text = r.text();
                    assert_eq!(field(&text, "method"), "POST");
                    assert_eq!(
                        field(&text, "crc32"),
                        crc32(body.as_bytes()).to_string(),
                        "{text}"
                    );
                    seen.lock()
                        .unwrap()
                        .push(field(&text, "instance").to_string());
                    done.fetch_add(1, Ordering::AcqRel);
                }
            })
        })
        .collect();
    let answered_past = |n: usize| {
        wait_until("two hundred more requests answered", || {
            (done.load(Ordering::Acquire) >= n + 200).then_some(())
        })
    };
    answered_past(done.load(Ordering::Acquire));
    a.signal(libc::SIGHUP);
    a.wait_for_log("the new workers are ready");
    answered_past(done.load(Ordering::Acquire));
    b.signal(libc::SIGTERM);
    assert!(b.wait_exit().success(), "{}", b.log());
    // Requests answered before b exited are recorded by now (each client records its
    // answer right after reading it, and every client has since sent another).
    let settled = done.load(Ordering::Acquire) + 12;
    wait_until("each client to send again", || {
        (done.load(Ordering::Acquire) >= settled).then_some(())
    });
    let after_stop = seen.lock().unwrap().len();
    answered_past(done.load(Ordering::Acquire));
    stop.store(true, Ordering::Release);
    for c in clients {
        c.join().expect("a request through nginx failed");
    }
    let seen = seen.lock().unwrap();
    assert!(
        seen[..after_stop].iter().any(|i| i == "a") && seen[..after_stop].iter().any(|i| i == "b"),
        "both instances served"
    );
    // What was sent after b's exit was answered by a alone.
    let late = &seen[after_stop..];
    assert!(
        late.len() >= 200 && late.iter().all(|i| i == "a"),
        "{late:?}"
    );
    assert!(a.is_running(), "{}", a.log());
}

/// CRC-32 (IEEE, as Python's `zlib.crc32`) of `data`.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn crc32_helper_matches_zlib() {
    // zlib.crc32(b"123456789") == 0xCBF43926, the standard check value.
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}
