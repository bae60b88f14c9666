//! What hostile and unlucky clients do to a worker over many requests: it keeps serving, and
//! what their requests held (descriptors, temp files) is given back.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use ruwsgi_integration_tests::{app, connect, get, wait_until, Server, ServerBuilder};

/// `wsgi_echo.py` on an HTTP socket with `extra` arguments, its temp files in `tmp` when
/// given; waits until it accepts.
fn echo_server(extra: &[&str], tmp: Option<&std::path::Path>) -> (Server, SocketAddr) {
    let addr: SocketAddr = ([127, 0, 0, 1], ruwsgi_integration_tests::free_port()).into();
    let mut args = vec![
        "--http-socket".to_string(),
        addr.to_string(),
        "--wsgi-file".to_string(),
        app("wsgi_echo.py"),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let mut builder = ServerBuilder::new(args);
    if let Some(tmp) = tmp {
        builder = builder.env("TMPDIR", tmp);
    }
    let mut server = builder.start();
    server.wait_for_tcp(addr);
    (server, addr)
}

/// The open descriptors of `pid`.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A small deterministic generator (xorshift64*), so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// One client: completes its request, or drops it at a random point — mid-head, mid-body
/// (of a body large enough to spill to a temp file), or mid-response. Returns whether it
/// got a whole response.
fn one_client(addr: SocketAddr, rng: &mut Rng) -> bool {
    let mut s = connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    match rng.below(4) {
        0 => {
            // Mid-head.
            let head = b"POST /digest HTTP/1.1\r\nHost: t\r\nContent-Le";
            let cut = 1 + rng.below(head.len() as u64 - 1) as usize;
            let _ = s.write_all(&head[..cut]);
            false
        }
        1 => {
            // Mid-body: 64 KiB announced, part of it sent (post-buffering is 4 KiB).
            let _ =
                s.write_all(b"POST /digest HTTP/1.1\r\nHost: t\r\nContent-Length: 65536\r\n\r\n");
            let sent = rng.below(65536) as usize;
            let _ = s.write_all(&vec![b'x'; sent]);
            false
        }
        2 => {
            // Mid-response: 3 MiB streamed by a generator, the client reads a little of it.
            let _ = s.write_all(b"GET /stream?n=48&size=65536 HTTP/1.1\r\nHost: t\r\n\r\n");
            let mut buf = vec![0u8; 1 + rng.below(200_000) as usize];
            let _ = s.read(&mut buf);
            false
        }
        _ => {
            let body = vec![b'y'; 10_000];
            let mut req = b"POST /digest HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 10000\r\n\r\n".to_vec();
            req.extend_from_slice(&body);
            s.write_all(&req).unwrap();
            let mut out = Vec::new();
            s.read_to_end(&mut out).unwrap();
            String::from_utf8_lossy(&out).ends_with(&format!("10000 {}", adler32(&body)))
        }
    }
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// 10,000 requests, most of them dropped at a random point by their client: afterwards the
/// worker (the same process) serves the next request, its descriptor count is back to what
/// it was, and the temp directory holds nothing. Counting, not timed.
#[test]
fn ten_thousand_requests_with_clients_dropping_at_random_points_leak_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut server, addr) = echo_server(
        &[
            "--threads",
            "4",
            "--post-buffering",
            "4096",
            "--disable-logging",
        ],
        Some(tmp.path()),
    );
    assert_eq!(get(addr, "/").status, 200);
    let baseline = fd_count(server.pid);
    assert!(baseline > 0);

    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            std::thread::spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t + 1));
                (0..2_500).filter(|_| one_client(addr, &mut rng)).count()
            })
        })
        .collect();
    let completed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(
        completed > 2_000,
        "only {completed} of the whole requests were answered"
    );

    assert_eq!(
        get(addr, "/").status,
        200,
        "the worker serves the next request"
    );
    assert!(server.is_running(), "the worker died:\n{}", server.log());
    // Back to (at most) the count measured after the first request, whose own connection
    // may still have been closing then.
    wait_until("the descriptors to return to their baseline", || {
        (fd_count(server.pid) <= baseline).then_some(())
    });
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "temp files left: {left:?}");
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

/// A client that sends part of a request and closes is let go at once, even when its bytes
/// and its end arrive together (one readiness event): the connection does not wait for its
/// socket timeout, and it does not count against the threads the worker accepts for. Before,
/// the short read that took the bytes was taken for "nothing left to read", the end went
/// unread, and each such client held a slot for 50 ms and its descriptor until the timeout.
#[test]
fn a_client_that_leaves_mid_head_or_mid_body_is_let_go_at_once() {
    let (server, addr) = echo_server(&["--socket-timeout", "600"], None);
    assert_eq!(get(addr, "/").status, 200);
    let baseline = fd_count(server.pid);
    for i in 0..20 {
        let mut s = connect(addr);
        let partial: &[u8] = if i % 2 == 0 {
            b"POST /digest HTTP/1.1\r\nHost: t\r\nContent-Le"
        } else {
            b"POST /digest HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nhalf"
        };
        s.write_all(partial).unwrap();
    }
    wait_until("the connections of the clients that left to close", || {
        (fd_count(server.pid) <= baseline).then_some(())
    });
    assert_eq!(get(addr, "/").status, 200);
}

/// A request whose client leaves while it waits for a thread is not run: nobody would read
/// the answer (nginx closes the upstream connection of a client that gave up), and the
/// requests behind it would wait for it.
#[test]
fn a_request_whose_client_left_while_it_waited_for_a_thread_is_not_run() {
    let (server, addr) = echo_server(&["--threads", "1"], None);
    // A kept-alive connection the worker holds, idle.
    let mut waiting = connect(addr);
    waiting
        .write_all(b"GET /pid HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(
        ruwsgi_integration_tests::read_response(&mut waiting, false)
            .unwrap()
            .status,
        200
    );
    // The only thread is busy for a second...
    let busy = std::thread::spawn(move || get(addr, "/sleep?s=1"));
    server.wait_for_log("sleep started in");
    // ...when the held connection sends a request, which queues, and leaves.
    waiting
        .write_all(b"GET /sleep?s=0 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    drop(waiting);
    assert_eq!(busy.join().unwrap().status, 200);
    let log = server.wait_for_log("left before its request started (GET /sleep?s=0)");
    assert_eq!(
        log.matches("sleep started in").count(),
        1,
        "the app ran for it:\n{log}"
    );
    assert_eq!(get(addr, "/pid").status, 200);
}
