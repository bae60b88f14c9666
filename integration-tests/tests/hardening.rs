//! What hostile and unlucky clients do to a worker over many requests: it keeps serving, and
//! what their requests held (descriptors, temp files) is given back.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use ruwsgi_integration_tests::{
    app, connect, fd_count, fd_targets, get, read_response, rss_kib, wait_until, Server,
    ServerBuilder,
};

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
    assert_eq!(read_response(&mut waiting, false).unwrap().status, 200);
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

/// The head of a `POST /digest` with a `len`-byte body.
fn digest_head(len: usize) -> Vec<u8> {
    format!("POST /digest HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\n\r\n").into_bytes()
}

/// `len` bytes of a repeating pattern.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Sends the head of a `len`-byte upload and reads the answer without sending the body:
/// what a refused body gets.
fn refused(addr: SocketAddr, head: &[u8]) -> ruwsgi_integration_tests::Response {
    let mut s = connect(addr);
    s.write_all(head).unwrap();
    read_response(&mut s, false).unwrap()
}

/// A whole upload to `/digest`; the answer.
fn digest(addr: SocketAddr, body: &[u8]) -> ruwsgi_integration_tests::Response {
    let mut s = connect(addr);
    s.write_all(&digest_head(body.len())).unwrap();
    s.write_all(body).unwrap();
    read_response(&mut s, false).unwrap()
}

/// The loop waits for the rest of a body in one piece (a receive low-water mark), so bytes
/// that trickle in raise no event. A client that sends its body in small pieces, each gap
/// shorter than the socket timeout but the whole longer, is slow, not idle: it is served,
/// and so is the next body on the same connection. One that stops mid-body is closed after
/// the timeout.
#[test]
fn a_body_sent_slower_than_the_socket_timeout_is_served_and_a_stalled_one_closed() {
    let (_server, addr) = echo_server(&["--socket-timeout", "1"], None);
    let body = pattern(48 * 1024);
    let want = format!("{} {}", body.len(), adler32(&body));
    let mut s = connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    for _ in 0..2 {
        s.write_all(&digest_head(body.len())).unwrap();
        // 12 pieces, 300 ms apart: 3.3 s in all against a 1 s timeout.
        for piece in body.chunks(4096) {
            std::thread::sleep(Duration::from_millis(300));
            s.write_all(piece).unwrap();
        }
        let r = read_response(&mut s, false).unwrap();
        assert_eq!((r.status, r.text()), (200, want.clone()));
    }

    let mut stalled = connect(addr);
    stalled
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stalled.write_all(&digest_head(body.len())).unwrap();
    stalled.write_all(&body[..4096]).unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 256];
    assert_eq!(stalled.read(&mut buf).unwrap(), 0, "closed, no answer");
    let waited = started.elapsed();
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(10)).contains(&waited),
        "closed after {waited:?}"
    );
}

/// The low-water mark a large body was read with does not hide the next request on the
/// connection: one sent right behind the body in the same write, and one sent after the
/// answer, are both answered at once, not after the socket timeout (60 s here, past the
/// client's 10 s read timeout).
#[test]
fn a_request_after_a_large_body_is_answered_at_once() {
    let (_server, addr) = echo_server(&["--socket-timeout", "60"], None);
    let body = pattern(300 * 1024);
    let digest = format!("{} {}", body.len(), adler32(&body));
    let mut s = connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut both = digest_head(body.len());
    both.extend_from_slice(&body);
    both.extend_from_slice(b"GET /pid HTTP/1.1\r\nHost: t\r\n\r\n");
    s.write_all(&both).unwrap();
    assert_eq!(read_response(&mut s, false).unwrap().text(), digest);
    assert_eq!(read_response(&mut s, false).unwrap().status, 200);

    s.write_all(&digest_head(body.len())).unwrap();
    s.write_all(&body).unwrap();
    assert_eq!(read_response(&mut s, false).unwrap().text(), digest);
    s.write_all(b"GET /pid HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s, false).unwrap().status, 200);
}

/// `limit-spill` bounds the bytes of request bodies a worker keeps in temp files: a body
/// alone larger gets 413, one that does not fit beside the bodies being received gets 503
/// (both before a byte of them is read, with a warning in the log), and the next request
/// is served. A body's bytes are given back when its request ends.
#[test]
fn the_spill_bound_refuses_bodies_with_413_or_503_and_the_next_request_is_served() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, addr) = echo_server(
        &["--post-buffering", "4096", "--limit-spill", "1048576"],
        Some(tmp.path()),
    );
    let r = refused(addr, &digest_head((1 << 20) + 1));
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("limit-spill"), "{}", r.text());
    server.wait_for_log("refused a request body from 127.0.0.1");

    // An upload of 800 KiB, a tenth of it sent, holds 800 KiB of the bound...
    let held_body = pattern(800 << 10);
    let mut held = connect(addr);
    held.write_all(&digest_head(held_body.len())).unwrap();
    held.write_all(&held_body[..80 << 10]).unwrap();
    // ...so 300 KiB more do not fit: 503.
    wait_until("the held upload to take its share", || {
        let r = refused(addr, &digest_head(300 << 10));
        (r.status == 503).then_some(())
    });
    // The worker's warning leaves through its log writer: wait for it.
    server.wait_for_log("limit-spill) is in use");
    // A body kept in memory is not counted.
    let small = pattern(4000);
    let r = digest(addr, &small);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), format!("4000 {}", adler32(&small)));
    // The held upload completes.
    held.write_all(&held_body[80 << 10..]).unwrap();
    let r = read_response(&mut held, false).unwrap();
    assert_eq!(
        r.text(),
        format!("{} {}", held_body.len(), adler32(&held_body))
    );
    // Its bytes are given back when its request ends (the app's thread drops the body
    // just after the answer is posted): the 300 KiB fit again.
    let body = pattern(300 << 10);
    let r = wait_until("the bytes of the finished upload to be given back", || {
        let r = digest(addr, &body);
        (r.status != 503).then_some(r)
    });
    assert_eq!(r.text(), format!("{} {}", body.len(), adler32(&body)));

    // A chunked body is refused once it grows past the bound.
    let mut s = connect(addr);
    s.write_all(b"POST /digest HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let chunk = pattern(64 << 10);
    for _ in 0..17 {
        s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .unwrap();
        s.write_all(&chunk).unwrap();
        s.write_all(b"\r\n").unwrap();
    }
    assert_eq!(read_response(&mut s, false).unwrap().status, 413);

    assert_eq!(get(addr, "/").status, 200, "the next request is served");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "temp files left: {left:?}");
}

/// The descriptors of `pid` that are temp files under `dir` (unlinked: they show as
/// `dir/#inode (deleted)`).
fn temp_fds(pid: u32, dir: &std::path::Path) -> usize {
    let dir = dir.to_string_lossy();
    fd_targets(pid)
        .iter()
        .filter(|t| t.starts_with(dir.as_ref()))
        .count()
}

/// Twenty clients that abort 50 MiB uploads half-way, twice: the temp directory stays
/// empty, the worker's descriptors return to their baseline, its memory after the second
/// round is within a few MiB of after the first, and the bound (default 1 GiB, which the
/// twenty 50 MiB bodies of each round take nearly all of) was given back each time — no
/// upload was refused. Then a worker SIGKILLed mid-upload leaves no file either, and its
/// replacement serves a whole 50 MiB upload.
#[test]
fn aborted_uploads_and_a_worker_killed_mid_upload_leave_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut server, addr) = echo_server(&["--master", "--disable-logging"], Some(tmp.path()));
    let worker = || -> u32 { get(addr, "/pid").text().parse().unwrap() };
    let pid = worker();
    let baseline = fd_count(pid);
    const LEN: usize = 50 << 20;
    let half = pattern(LEN / 2);

    let mut rss_after = Vec::new();
    for round in 0..2 {
        let clients: Vec<_> = (0..20)
            .map(|_| {
                let mut s = connect(addr);
                s.write_all(&digest_head(LEN)).unwrap();
                s
            })
            .collect();
        std::thread::scope(|scope| {
            for mut s in clients {
                let half = &half;
                scope.spawn(move || {
                    s.write_all(half).unwrap();
                    drop(s);
                });
            }
        });
        wait_until("the aborted uploads' descriptors to close", || {
            (fd_count(pid) <= baseline).then_some(())
        });
        assert_eq!(temp_fds(pid, tmp.path()), 0);
        assert_eq!(get(addr, "/").status, 200, "round {round}");
        rss_after.push(rss_kib(pid));
    }
    let grew = rss_after[1].saturating_sub(rss_after[0]);
    assert!(
        grew < 4096,
        "RSS grew by {grew} KiB between two identical rounds: {rss_after:?}"
    );
    assert!(
        !server.log().contains("refused a request body"),
        "{}",
        server.log()
    );

    // Killed mid-upload: the body's file was open in the worker, under the temp dir...
    let mut s = connect(addr);
    s.write_all(&digest_head(LEN)).unwrap();
    s.write_all(&half).unwrap();
    wait_until("the upload to be spilling", || {
        (temp_fds(pid, tmp.path()) == 1).then_some(())
    });
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    let respawned = wait_until("a new worker", || {
        let r = get(addr, "/pid");
        let new: u32 = r.text().parse().ok()?;
        (new != pid).then_some(new)
    });
    drop(s);
    // ...and nothing of it is left: no file, and no descriptor in the master or the new
    // worker.
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "temp files left: {left:?}");
    assert_eq!(temp_fds(server.pid, tmp.path()), 0);
    assert_eq!(temp_fds(respawned, tmp.path()), 0);
    let body = pattern(LEN);
    let r = digest(addr, &body);
    assert_eq!(r.text(), format!("{LEN} {}", adler32(&body)));
    assert!(server.is_running());
}

/// Starts `GET /write` (an app writing 1 KiB every 20 ms through `write()`), reads the start
/// of the answer and leaves.
fn leave_during_write(addr: SocketAddr) {
    let mut s = connect(addr);
    s.write_all(b"GET /write HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut some = [0u8; 4096];
    assert!(s.read(&mut some).unwrap() > 0);
}

/// A client that leaves during its response: `write()` raises `OSError` in the app and the
/// log says so, as in uWSGI; `disable-write-exception` lets the app write on to its end, and
/// `ignore-write-errors` keeps the client's leaving out of the log.
#[test]
fn write_to_a_client_that_left_raises_unless_disable_write_exception() {
    let (server, addr) = echo_server(&[], None);
    leave_during_write(addr);
    let log = server.wait_for_log("the client went away during the response");
    assert!(log.contains("write raised OSError at "), "{log}");
    assert!(
        log.contains("went away while its request was being served"),
        "{log}"
    );
    assert_eq!(get(addr, "/pid").status, 200);
    drop(server);

    let (server, addr) = echo_server(
        &["--disable-write-exception", "--ignore-write-errors"],
        None,
    );
    leave_during_write(addr);
    let log = server.wait_for_log("write loop ended after 100");
    assert!(!log.contains("write raised"), "{log}");
    assert!(!log.contains("went away"), "{log}");
    assert!(!log.contains("not implemented"), "{log}");
    assert_eq!(get(addr, "/pid").status, 200);
}

/// A process the app starts without `close_fds` inherits no socket, neither the request's
/// connection nor a listener (uWSGI needs `close-on-exec` and `close-on-exec2` for that; in
/// ruwsgi they always are close-on-exec).
#[test]
fn an_apps_child_process_inherits_no_socket() {
    let (server, addr) = echo_server(&["--master", "--close-on-exec", "--close-on-exec2"], None);
    let r = get(addr, "/child-fds");
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(
        text.contains("pipe:["),
        "the child's output is a pipe: {text}"
    );
    assert!(!text.contains("socket:"), "{text}");
    assert!(
        !server.log().contains("not implemented"),
        "{}",
        server.log()
    );
}

/// The state letter of `pid` in /proc (`Z` for a zombie), `None` once it is gone.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// A child the app starts and never waits for stays a zombie, as under uWSGI; with
/// `reaper` the worker reaps it after a request.
#[test]
fn reaper_reaps_the_apps_forgotten_children() {
    for reaper in [false, true] {
        let extra: &[&str] = if reaper { &["--reaper"] } else { &[] };
        let (server, addr) = echo_server(extra, None);
        let child: u32 = get(addr, "/spawn").text().parse().unwrap();
        let state = wait_until("the child to exit", || {
            let state = proc_state(child);
            // Each request ends with a reap under `reaper`.
            assert_eq!(get(addr, "/pid").status, 200);
            matches!(state, None | Some('Z')).then_some(state)
        });
        if reaper {
            wait_until("the zombie to be reaped", || {
                assert_eq!(get(addr, "/pid").status, 200);
                proc_state(child).is_none().then_some(())
            });
        } else {
            assert_eq!(state, Some('Z'), "a zombie without reaper");
            std::thread::sleep(Duration::from_millis(200));
            assert_eq!(get(addr, "/pid").status, 200);
            assert_eq!(proc_state(child), Some('Z'), "still a zombie");
        }
        assert!(
            !server.log().contains("not implemented"),
            "{}",
            server.log()
        );
    }
}

/// How many of `pid`'s mappings are marked mergeable (`mg` among their `VmFlags`).
fn mergeable_mappings(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/smaps"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("VmFlags:") && l.split_whitespace().any(|f| f == "mg"))
        .count()
}

#[test]
fn ksm_marks_the_workers_memory_every_n_requests_and_the_masters_every_n_seconds() {
    for ksm in [false, true] {
        let extra: &[&str] = if ksm {
            &["--master", "--ksm", "2"]
        } else {
            &["--master"]
        };
        let (server, addr) = echo_server(extra, None);
        let worker: u32 = get(addr, "/pid").text().parse().unwrap();
        assert_eq!(mergeable_mappings(worker), 0, "one request: not yet");
        assert_eq!(get(addr, "/pid").status, 200);
        if ksm {
            // The second request's end marks the worker's mappings; the master's within 2 s.
            wait_until("the worker's mappings to be mergeable", || {
                (mergeable_mappings(worker) > 0).then_some(())
            });
            wait_until("the master's mappings to be mergeable", || {
                (mergeable_mappings(server.pid) > 0).then_some(())
            });
        } else {
            // Past the master's first second, when `ksm 1` would have marked it.
            std::thread::sleep(Duration::from_millis(1200));
            assert_eq!(mergeable_mappings(worker), 0, "no ksm: never marked");
            assert_eq!(mergeable_mappings(server.pid), 0);
        }
        assert!(
            !server.log().contains("not implemented"),
            "{}",
            server.log()
        );
    }
}
