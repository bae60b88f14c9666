//! The crate as an embedder uses it: an `EventLoop` on a thread with a Rust handler, real
//! sockets, real clients. Large streamed responses and back-pressure are tested here (the
//! binary's built-in handler answers a fixed body only).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ruwsgi_event_loop::{
    Address, Balance, Body, EventLoop, Exchange, ExchangeOutcome, Gone, Handler, Head, Listener,
    Options, Protocol, Reply, Request, ResponseHead, Siblings, Stopper,
};

const DEADLINE: Duration = Duration::from_secs(20);

fn wait_until<T>(what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Running {
    addr: SocketAddr,
    stopper: Stopper,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stopper.immediate();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start<H: Handler + Send + 'static>(options: Options, handler: H) -> Running {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listener = Listener::from_fd(std_listener.into(), Protocol::Http).unwrap();
    let Address::Inet(addr) = listener.local_addr().clone() else {
        unreachable!()
    };
    let el = EventLoop::new(options, vec![listener], handler).unwrap();
    let stopper = el.stopper();
    let thread = std::thread::spawn(move || el.run());
    Running {
        addr,
        stopper,
        thread: Some(thread),
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s
}

/// A head from a WSGI-style status line (`"200 OK"`).
fn head(status: &str, headers: &[(&str, &str)]) -> ResponseHead {
    ResponseHead::new(
        status[..3].parse().unwrap(),
        status[4..].to_string(),
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect(),
    )
}

fn target(req: &Request) -> String {
    match &req.head {
        Head::Http(h) => String::from_utf8_lossy(&h.target).into_owned(),
        Head::Uwsgi(p) => {
            String::from_utf8_lossy(p.var(b"PATH_INFO").unwrap_or_default()).into_owned()
        }
    }
}

/// Reads a response head: the status line and the headers (names lower-cased).
fn read_response_head(s: &mut TcpStream) -> (String, Vec<(String, String)>) {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).unwrap(),
            1,
            "eof in head: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.push(byte[0]);
    }
    let text = String::from_utf8(raw).unwrap();
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap().to_string();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    (status, headers)
}

/// Reads a whole response (head + body by Content-Length, chunked, or to EOF).
fn read_response(s: &mut TcpStream) -> (String, Vec<(String, String)>, Vec<u8>) {
    let (status, headers) = read_response_head(s);
    let mut byte = [0u8; 1];
    let get = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if let Some(len) = get("content-length") {
        body.resize(len.parse().unwrap(), 0);
        s.read_exact(&mut body).unwrap();
    } else if get("transfer-encoding").as_deref() == Some("chunked") {
        loop {
            let mut line = Vec::new();
            while !line.ends_with(b"\r\n") {
                s.read_exact(&mut byte).unwrap();
                line.push(byte[0]);
            }
            let n =
                usize::from_str_radix(std::str::from_utf8(&line[..line.len() - 2]).unwrap(), 16)
                    .unwrap();
            let mut chunk = vec![0; n + 2];
            s.read_exact(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        s.read_to_end(&mut body).unwrap();
    }
    (status, headers, body)
}

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// How a [`Streamer`]'s producer ended, once it has.
type StreamOutcome = Arc<Mutex<Option<Result<(), Gone>>>>;

/// Streams `/N` mebibytes from a thread of its own (as the WSGI bridge does).
struct Streamer {
    sent: Arc<AtomicU64>,
    outcome: StreamOutcome,
    with_length: bool,
}

impl Handler for Streamer {
    fn handle(&mut self, req: Request, mut reply: Reply) {
        let mib: usize = target(&req)[1..].parse().unwrap();
        let total = mib << 20;
        let sent = self.sent.clone();
        let outcome = self.outcome.clone();
        let len = total.to_string();
        let headers: Vec<(&str, &str)> = if self.with_length {
            vec![("Content-Length", len.as_str())]
        } else {
            vec![]
        };
        let h = head("200 OK", &headers);
        std::thread::spawn(move || {
            let r = (|| {
                reply.start(h)?;
                let mut off = 0;
                while off < total {
                    let chunk: Vec<u8> = (off..off + 65536).map(pattern).collect();
                    reply.send(chunk)?;
                    off += 65536;
                    sent.store(off as u64, Ordering::SeqCst);
                }
                Ok(())
            })();
            if r.is_ok() {
                reply.finish();
            }
            *outcome.lock().unwrap() = Some(r);
        });
    }
}

/// A loop serving a [`Streamer`]; returns it with the streamer's progress and outcome.
fn start_streamer(with_length: bool) -> (Running, Arc<AtomicU64>, StreamOutcome) {
    let sent = Arc::new(AtomicU64::new(0));
    let outcome = Arc::new(Mutex::new(None));
    let server = start(
        Options::default(),
        Streamer {
            sent: sent.clone(),
            outcome: outcome.clone(),
            with_length,
        },
    );
    (server, sent, outcome)
}

/// Waits until the producer's count of bytes sent stops moving (for 200 ms); returns it.
fn wait_stalled(sent: &AtomicU64) -> u64 {
    let mut last = 0;
    wait_until("the producer to stall", || {
        std::thread::sleep(Duration::from_millis(200));
        let now = sent.load(Ordering::SeqCst);
        let r = (now > 0 && now == last).then_some(now);
        last = now;
        r
    })
}

#[test]
fn a_large_streamed_response_is_paced_by_the_client() {
    for with_length in [true, false] {
        let (server, sent, outcome) = start_streamer(with_length);
        let mut s = connect(server.addr);
        s.write_all(b"GET /64 HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        // The client reads nothing: the producer must stop once the high-water mark, the
        // spill file (16 MiB by default) and the kernel's socket buffers are full, short of
        // 64 MiB.
        let stalled = wait_stalled(&sent);
        assert!(stalled < 32 << 20, "producer ran ahead to {stalled} bytes");
        let (status, headers, body) = read_response(&mut s);
        assert_eq!(status, "HTTP/1.1 200 OK");
        if !with_length {
            assert!(headers.contains(&("transfer-encoding".into(), "chunked".into())));
        }
        assert_eq!(body.len(), 64 << 20);
        assert!(body.iter().enumerate().all(|(i, &b)| b == pattern(i)));
        assert_eq!(*outcome.lock().unwrap(), Some(Ok(())));
    }
}

#[test]
fn a_client_that_leaves_mid_stream_makes_send_return_gone() {
    let (server, sent, outcome) = start_streamer(false);
    let mut s = connect(server.addr);
    s.write_all(b"GET /512 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    wait_until("some output", || {
        (sent.load(Ordering::SeqCst) > 0).then_some(())
    });
    drop(s);
    let r = wait_until("the producer to finish", || *outcome.lock().unwrap());
    assert_eq!(r, Err(Gone));
}

/// Answers with facts about the request; `/file` with a file; `/abort`, `/drop` fail.
struct Facts;

impl Handler for Facts {
    fn handle(&mut self, req: Request, mut reply: Reply) {
        let path = target(&req);
        let (len, sum, in_file) = match req.body {
            Body::Empty => (0, 0u64, false),
            Body::Memory(v) => (v.len() as u64, v.iter().map(|&b| b as u64).sum(), false),
            Body::File { mut file, len } => {
                let mut v = Vec::new();
                file.read_to_end(&mut v).unwrap();
                assert_eq!(v.len() as u64, len);
                (len, v.iter().map(|&b| b as u64).sum(), true)
            }
        };
        reply.set_thread(7);
        reply.set_logvar("path", path.clone());
        match path.as_str() {
            "/abort" => reply.abort(),
            "/drop" => drop(reply),
            "/fail" => reply.fail(),
            "/whole-file" => {
                let mut f = tempfile::tempfile().unwrap();
                f.write_all(b"0123456789abcdef").unwrap();
                reply.respond_file(head("200 OK", &[]), f, 4, 8);
            }
            "/file" => {
                let mut f = tempfile::tempfile().unwrap();
                f.write_all(b"0123456789abcdef").unwrap();
                reply.start(head("200 OK", &[])).unwrap();
                reply.send_file(f, 4, Some(8)).unwrap();
                reply.finish();
            }
            _ => reply.respond(
                head("200 OK", &[("Content-Type", "text/plain")]),
                format!("{path} len={len} sum={sum} file={in_file}").into_bytes(),
            ),
        }
    }
}

#[test]
fn send_file_goes_out_chunked() {
    let server = start(Options::default(), Facts);
    let mut s = connect(server.addr);
    s.write_all(b"GET /file HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (status, headers, body) = read_response(&mut s);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains(&("transfer-encoding".into(), "chunked".into())));
    assert_eq!(body, b"456789ab");
}

#[test]
fn a_whole_file_gets_a_content_length() {
    let server = start(Options::default(), Facts);
    let mut s = connect(server.addr);
    s.write_all(b"GET /whole-file HTTP/1.1\r\nHost: t\r\n\r\nGET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (status, headers, body) = read_response(&mut s);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains(&("content-length".into(), "8".into())));
    assert_eq!(body, b"456789ab");
    // Kept alive: the pipelined request is answered on the same connection.
    assert_eq!(read_response(&mut s).2, b"/ok len=0 sum=0 file=false");
}

#[test]
fn a_failed_app_gets_a_500_and_the_connection_lives() {
    let server = start(Options::default(), Facts);
    let mut s = connect(server.addr);
    s.write_all(b"GET /fail HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (status, headers, body) = read_response(&mut s);
    assert_eq!(status, "HTTP/1.1 500 Internal Server Error");
    assert!(
        !headers.iter().any(|(k, _)| k == "connection"),
        "{headers:?}"
    );
    assert_eq!(body, b"Internal Server Error\n");
    s.write_all(b"HEAD /fail HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (status, headers) = read_response_head(&mut s);
    assert_eq!(status, "HTTP/1.1 500 Internal Server Error");
    assert!(headers.contains(&("content-length".into(), "22".into())));
    s.write_all(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s).2, b"/ok len=0 sum=0 file=false");
}

/// One exchange as the sink saw it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    outcome: ExchangeOutcome,
    status: u16,
    request_body: u64,
    body_bytes: u64,
    thread: Option<usize>,
    exception: bool,
    vars: Vec<(String, String)>,
}

#[test]
fn every_exchange_reaches_the_sink_once_with_the_replys_notes() {
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listener = Listener::from_fd(std_listener.into(), Protocol::Http).unwrap();
    let Address::Inet(addr) = listener.local_addr().clone() else {
        unreachable!()
    };
    let log = seen.clone();
    let el = EventLoop::new(Options::default(), vec![listener], Facts)
        .unwrap()
        .with_exchange_sink(move |e: &Exchange<'_>| {
            log.lock().unwrap().push(Seen {
                outcome: e.outcome,
                status: e.status,
                request_body: e.request_body,
                body_bytes: e.body_bytes,
                thread: e.thread,
                exception: e.exception,
                vars: e.vars.to_vec(),
            })
        });
    let _server = Running {
        addr,
        stopper: el.stopper(),
        thread: Some(std::thread::spawn(move || el.run())),
    };
    let mut s = connect(addr);
    s.write_all(b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        .unwrap();
    let body = read_response(&mut s).2;
    s.write_all(b"GET /fail HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    read_response(&mut s);
    let seen = wait_until("two records", || {
        let v = seen.lock().unwrap();
        (v.len() >= 2).then(|| v.clone())
    });
    let path = |p: &str| vec![("path".to_string(), p.to_string())];
    assert_eq!(
        seen,
        [
            Seen {
                outcome: ExchangeOutcome::Complete,
                status: 200,
                request_body: 3,
                body_bytes: body.len() as u64,
                thread: Some(7),
                exception: false,
                vars: path("/a"),
            },
            Seen {
                outcome: ExchangeOutcome::Complete,
                status: 500,
                request_body: 0,
                body_bytes: 22,
                thread: Some(7),
                exception: true,
                vars: path("/fail"),
            },
        ]
    );
}

#[test]
fn small_large_and_file_pieces_are_framed_as_chunks_on_the_wire() {
    // Small pieces are framed into the output buffer, a piece above 16 KiB goes out between
    // its size line and CRLF uncopied, a file range between its own.
    struct Pieces;
    impl Handler for Pieces {
        fn handle(&mut self, _req: Request, mut reply: Reply) {
            std::thread::spawn(move || {
                reply.start(head("200 OK", &[])).unwrap();
                for n in [1usize, 4096, 5000, 20000] {
                    reply.send((0..n).map(pattern).collect()).unwrap();
                }
                let mut f = tempfile::tempfile().unwrap();
                f.write_all(b"0123456789abcdef").unwrap();
                reply.send_file(f, 4, Some(8)).unwrap();
                reply.send(b"end".to_vec()).unwrap();
                reply.finish();
            });
        }
    }
    let server = start(Options::default(), Pieces);
    let mut s = connect(server.addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let (head_bytes, body) = raw.split_at(split);
    let head_text = String::from_utf8_lossy(head_bytes);
    assert!(
        head_text.contains("Transfer-Encoding: chunked\r\n"),
        "{head_text}"
    );
    let mut want = Vec::new();
    for n in [1usize, 4096, 5000, 20000] {
        want.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        want.extend((0..n).map(pattern));
        want.extend_from_slice(b"\r\n");
    }
    want.extend_from_slice(b"8\r\n456789ab\r\n3\r\nend\r\n0\r\n\r\n");
    assert!(body == want, "{:?}", String::from_utf8_lossy(body));
}

#[test]
fn respond_after_start_sends_the_body_under_the_first_head_only() {
    struct StartThenRespond;
    impl Handler for StartThenRespond {
        fn handle(&mut self, _req: Request, mut reply: Reply) {
            reply
                .start(head("200 OK", &[("Content-Length", "4")]))
                .unwrap();
            reply.respond(head("404 Not Found", &[]), b"body".to_vec());
        }
    }
    let server = start(Options::default(), StartThenRespond);
    let mut s = connect(server.addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // Twice on one connection: the first answer left the connection in step.
    for _ in 0..2 {
        let (status, headers, body) = read_response(&mut s);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            !headers.iter().any(|(k, _)| k == "connection"),
            "{headers:?}"
        );
        assert_eq!(body, b"body");
    }
}

#[test]
fn an_aborted_or_dropped_reply_is_a_500_and_the_loop_lives() {
    let server = start(Options::default(), Facts);
    for path in ["/abort", "/drop"] {
        let mut s = connect(server.addr);
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        let (status, headers, _) = read_response(&mut s);
        assert_eq!(status, "HTTP/1.1 500 Internal Server Error");
        assert!(headers.contains(&("connection".into(), "close".into())));
        let mut rest = Vec::new();
        assert_eq!(s.read_to_end(&mut rest).unwrap(), 0, "closed after the 500");
    }
    let mut s = connect(server.addr);
    s.write_all(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s).2, b"/ok len=0 sum=0 file=false");
}

#[test]
fn bodies_above_post_buffering_arrive_in_a_file_and_below_in_memory() {
    let options = Options {
        post_buffering: 1000,
        ..Options::default()
    };
    let server = start(options, Facts);
    for (n, chunked) in [(999usize, false), (1001, false), (5000, true), (10, true)] {
        let body: Vec<u8> = (0..n).map(pattern).collect();
        let sum: u64 = body.iter().map(|&b| b as u64).sum();
        let mut s = connect(server.addr);
        if chunked {
            s.write_all(b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap();
            for part in body.chunks(700) {
                s.write_all(format!("{:x}\r\n", part.len()).as_bytes())
                    .unwrap();
                s.write_all(part).unwrap();
                s.write_all(b"\r\n").unwrap();
            }
            s.write_all(b"0\r\n\r\n").unwrap();
        } else {
            s.write_all(
                format!("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: {n}\r\n\r\n").as_bytes(),
            )
            .unwrap();
            s.write_all(&body).unwrap();
        }
        let expect = format!("/up len={n} sum={sum} file={}", n > 1000);
        assert_eq!(String::from_utf8(read_response(&mut s).2).unwrap(), expect);
    }
}

#[test]
fn a_graceful_stop_finishes_the_request_in_flight() {
    struct Slow(Arc<std::sync::atomic::AtomicBool>);
    impl Handler for Slow {
        fn handle(&mut self, _req: Request, reply: Reply) {
            self.0.store(true, Ordering::SeqCst);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                reply.respond(head("200 OK", &[]), b"late".to_vec());
            });
        }
    }
    let in_flight = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut server = start(Options::default(), Slow(in_flight.clone()));
    let mut busy = connect(server.addr);
    busy.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let idle = connect(server.addr);
    // Stop while the request is in flight (the idle connection, accepted or still queued,
    // is taken by the stop's drain either way).
    wait_until("the request to reach the handler", || {
        in_flight.load(Ordering::SeqCst).then_some(())
    });
    server.stopper.graceful(Duration::from_secs(10));
    let (status, headers, body) = read_response(&mut busy);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, b"late");
    assert!(headers.contains(&("connection".into(), "close".into())));
    let t = server.thread.take().unwrap();
    wait_until("the loop to return", || t.is_finished().then_some(()));
    t.join().unwrap().unwrap();
    drop(idle);
    assert!(TcpStream::connect(server.addr).is_err(), "listener closed");
}

/// A retiring loop (a reload replaces its worker) says it is closed as soon as its
/// listeners are, while its request in flight still runs: what the master waits for before
/// the replacement starts accepting. The request then ends its connection and the loop
/// returns.
#[test]
fn a_retiring_loop_is_closed_before_its_request_in_flight_ends() {
    struct Handed(std::sync::mpsc::Sender<Reply>);
    impl Handler for Handed {
        fn handle(&mut self, _req: Request, reply: Reply) {
            self.0.send(reply).unwrap();
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let mut server = start(Options::default(), Handed(tx));
    let mut busy = connect(server.addr);
    busy.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let reply = rx
        .recv_timeout(DEADLINE)
        .expect("the request reaches the handler");
    assert!(!server.stopper.closed(), "a running loop accepts");
    server.stopper.retire(Duration::from_secs(10));
    wait_until("the retiring loop to close its listeners", || {
        server.stopper.closed().then_some(())
    });
    let t = server.thread.take().unwrap();
    assert!(
        !t.is_finished(),
        "the request in flight keeps the loop running"
    );
    reply.respond(head("200 OK", &[]), b"late".to_vec());
    let (status, headers, body) = read_response(&mut busy);
    assert_eq!(
        (status.as_str(), &body[..]),
        ("HTTP/1.1 200 OK", &b"late"[..])
    );
    assert!(headers.contains(&("connection".into(), "close".into())));
    wait_until("the loop to return", || t.is_finished().then_some(()));
    t.join().unwrap().unwrap();
}

/// One request at a time, answered from another thread when the test says so.
struct OneAtATime {
    busy: Arc<std::sync::atomic::AtomicBool>,
    started: Arc<Mutex<Vec<String>>>,
    release: gate::Gate,
}

/// A tiny gate the test opens once per request (std only).
mod gate {
    use std::sync::{Arc, Condvar, Mutex};

    #[derive(Clone, Default)]
    pub struct Gate(Arc<(Mutex<usize>, Condvar)>);

    impl Gate {
        pub fn open_one(&self) {
            *self.0 .0.lock().unwrap() += 1;
            self.0 .1.notify_all();
        }

        /// Passes if the gate is open, without waiting.
        pub fn try_pass(&self) -> bool {
            let mut n = self.0 .0.lock().unwrap();
            let open = *n > 0;
            if open {
                *n -= 1;
            }
            open
        }

        pub fn pass(&self) {
            let mut n = self.0 .0.lock().unwrap();
            while *n == 0 {
                n = self.0 .1.wait(n).unwrap();
            }
            *n -= 1;
        }
    }
}

impl Handler for OneAtATime {
    fn handle(&mut self, req: Request, reply: Reply) {
        let was_busy = self.busy.swap(true, Ordering::SeqCst);
        let path = target(&req);
        self.started.lock().unwrap().push(if was_busy {
            format!("VIOLATION {path}")
        } else {
            path.clone()
        });
        let busy = self.busy.clone();
        let gate = self.release.clone();
        std::thread::spawn(move || {
            gate.pass();
            // Capacity is back before the completion reaches the loop.
            busy.store(false, Ordering::SeqCst);
            reply.respond(head("200 OK", &[]), path.into_bytes());
        });
    }

    fn has_capacity(&self) -> bool {
        !self.busy.load(Ordering::SeqCst)
    }
}

#[test]
fn a_busy_handler_gets_no_new_request_until_it_has_capacity() {
    let started = Arc::new(Mutex::new(Vec::new()));
    let gate = gate::Gate::default();
    let server = start(
        Options::default(),
        OneAtATime {
            busy: Arc::default(),
            started: started.clone(),
            release: gate.clone(),
        },
    );
    let mut a = connect(server.addr);
    // Two pipelined requests on one connection, and a request on a second connection.
    a.write_all(b"GET /a1 HTTP/1.1\r\nHost: t\r\n\r\nGET /a2 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    wait_until("/a1 to start", || {
        (started.lock().unwrap().len() == 1).then_some(())
    });
    let mut b = connect(server.addr);
    b.write_all(b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    // Nothing else starts while the handler is busy. A negative cannot be waited for: look
    // for a bounded while (the assertion below cannot pass by accident if the loop is wrong).
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(*started.lock().unwrap(), vec!["/a1".to_string()]);
    for _ in 0..3 {
        gate.open_one();
    }
    assert_eq!(read_response(&mut a).2, b"/a1");
    assert_eq!(read_response(&mut a).2, b"/a2");
    assert_eq!(read_response(&mut b).2, b"/b");
    let log = started.lock().unwrap().clone();
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(log.iter().all(|p| !p.starts_with("VIOLATION")), "{log:?}");
}

#[test]
fn a_uwsgi_request_body_arrives_whole_and_the_reply_ends_by_closing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.sock");
    let std_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let listener = Listener::from_fd(std_listener.into(), Protocol::Uwsgi).unwrap();
    let options = Options {
        post_buffering: 100,
        ..Options::default()
    };
    let el = EventLoop::new(options, vec![listener], Facts).unwrap();
    let stopper = el.stopper();
    let thread = std::thread::spawn(move || el.run());
    let body: Vec<u8> = (0..1000).map(pattern).collect();
    let sum: u64 = body.iter().map(|&b| b as u64).sum();
    let vars = [
        ("PATH_INFO", "/u"),
        ("REQUEST_METHOD", "POST"),
        ("CONTENT_LENGTH", "1000"),
    ];
    let mut packet = Vec::new();
    ruwsgi_proto::encode_uwsgi(
        &ruwsgi_proto::UwsgiPacket {
            modifier1: 0,
            modifier2: 0,
            vars: vars
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
        },
        &mut packet,
    )
    .unwrap();
    packet.extend_from_slice(&body);
    let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(&packet).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let text = String::from_utf8(all).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(!text.contains("chunked"), "{text}");
    assert!(
        text.ends_with(&format!("/u len=1000 sum={sum} file=true")),
        "{text}"
    );
    stopper.immediate();
    thread.join().unwrap().unwrap();
}

/// A request's path and how its reply went.
type Outcome = (String, Result<(), Gone>);

/// Keeps each request on a thread of its own until the client is gone (then records
/// `Gone`) or the gate opens (then answers with the path and records whether it could).
#[derive(Clone, Default)]
struct Computing {
    started: Arc<Mutex<Vec<String>>>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    release: gate::Gate,
}

impl Handler for Computing {
    fn handle(&mut self, req: Request, mut reply: Reply) {
        let path = target(&req);
        self.started.lock().unwrap().push(path.clone());
        let this = self.clone();
        std::thread::spawn(move || {
            // The app "computes": it looks at the connection now and then, as an app polling
            // uwsgi.is_connected() would, until released or abandoned.
            let start = Instant::now();
            let outcome = loop {
                if reply.is_gone() {
                    break Err(Gone);
                }
                if this.release.try_pass() {
                    reply
                        .start(head(
                            "200 OK",
                            &[("Content-Length", &path.len().to_string())],
                        ))
                        .and_then(|()| reply.send(path.clone().into_bytes()))
                        .map(|()| reply.finish())
                        .unwrap_or(());
                    break Ok(());
                }
                assert!(start.elapsed() < DEADLINE, "never released nor gone");
                std::thread::sleep(Duration::from_millis(2));
            };
            this.outcomes.lock().unwrap().push((path, outcome));
        });
    }
}

/// SO_LINGER with a zero timeout: closing `s` sends an RST instead of a FIN.
fn reset_on_close(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the pointer and length describe `linger`, which outlives the call; the fd is
    // open while `s` lives.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
}

/// A loop with a [`Computing`] handler and a connection whose request for `path` has started.
fn computing(path: &str) -> (Computing, Running, TcpStream) {
    let handler = Computing::default();
    let server = start(Options::default(), handler.clone());
    let mut s = connect(server.addr);
    write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    wait_until("the request to start", || {
        (handler.started.lock().unwrap().len() == 1).then_some(())
    });
    (handler, server, s)
}

#[test]
fn a_client_that_leaves_while_the_app_computes_makes_the_reply_gone() {
    // FIN (a plain close) and RST (SO_LINGER 0) both count as leaving.
    for rst in [false, true] {
        let (handler, server, s) = computing("/long");
        if rst {
            reset_on_close(&s);
        }
        drop(s);
        // Nothing is sent to the client, so only the loop's watching can tell.
        let outcomes = wait_until("the app to see the client gone", || {
            let o = handler.outcomes.lock().unwrap();
            (!o.is_empty()).then(|| o.clone())
        });
        assert_eq!(
            outcomes,
            vec![("/long".to_string(), Err(Gone))],
            "rst={rst}"
        );
        // The loop lives.
        handler.release.open_one();
        let mut s = connect(server.addr);
        s.write_all(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut s).2, b"/next");
    }
}

#[test]
fn pipelined_bytes_during_a_request_are_not_a_close() {
    let (handler, _server, mut s) = computing("/first");
    // The next request arrives while the first is computing, and more than the loop reads
    // ahead: it must wait, whole, behind the first.
    let filler = "x".repeat(100 * 1024);
    let second = format!("GET /second HTTP/1.1\r\nHost: t\r\nX-Filler: {filler}\r\n\r\n");
    let mut writer = s.try_clone().unwrap();
    let w = std::thread::spawn(move || writer.write_all(second.as_bytes()));
    handler.release.open_one();
    handler.release.open_one();
    assert_eq!(read_response(&mut s).2, b"/first");
    w.join().unwrap().unwrap();
    // A 100 KiB header is past buffer-size: the second request is refused, not mistaken
    // for a close or cut short.
    let (status, _, _) = read_response(&mut s);
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
    assert_eq!(
        *handler.outcomes.lock().unwrap(),
        vec![("/first".to_string(), Ok(()))]
    );
}

#[test]
fn a_slow_reader_does_not_hold_the_app_thread_until_the_spill_bound() {
    // (spill_max, limit_spill, MiB streamed, whether the app finishes before the client
    // reads a byte). 24 MiB is more than the loopback socket buffers hold, so only the
    // spill file lets the app finish; past a 4 MiB bound — the reply's own, or the worker's
    // — it stalls again, and the client still gets every byte.
    let default = Options::default().limit_spill;
    for (spill_max, limit_spill, mib, finishes_unread) in [
        (32u64 << 20, default, 24, true),
        (4 << 20, default, 64, false),
        (32 << 20, 4 << 20, 24, false),
    ] {
        let sent = Arc::new(AtomicU64::new(0));
        let outcome = Arc::new(Mutex::new(None));
        let options = Options {
            spill_max,
            limit_spill,
            ..Options::default()
        };
        let streamer = Streamer {
            sent: sent.clone(),
            outcome: outcome.clone(),
            with_length: true,
        };
        let server = start(options, streamer);
        let mut s = connect(server.addr);
        write!(s, "GET /{mib} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        if finishes_unread {
            let r = wait_until("the app to finish", || *outcome.lock().unwrap());
            assert_eq!(r, Ok(()));
        } else {
            let stalled = wait_stalled(&sent);
            assert!(stalled < 24 << 20, "producer ran ahead to {stalled} bytes");
            assert_eq!(*outcome.lock().unwrap(), None);
        }
        let (status, _, body) = read_response(&mut s);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body.len(), mib << 20);
        assert!(body.iter().enumerate().all(|(i, &b)| b == pattern(i)));
        assert_eq!(
            wait_until("the outcome", || *outcome.lock().unwrap()),
            Ok(())
        );
    }
}

/// A handler whose threads are all busy (`idle` is 0) but that answers at once: what the
/// loop sees of a worker that has fallen behind.
struct AllBusy;

impl Handler for AllBusy {
    fn handle(&mut self, _req: Request, reply: Reply) {
        reply.respond(head("200 OK", &[]), b"ok".to_vec());
    }

    fn idle(&self) -> usize {
        0
    }
}

/// The siblings a test makes the loop see, and what the loop published.
#[derive(Clone, Default)]
struct SharedBalance {
    siblings: Arc<Mutex<Siblings>>,
    published: Arc<Mutex<Vec<(usize, usize)>>>,
}

impl Balance for SharedBalance {
    fn publish(&mut self, connections: usize, idle: usize) {
        self.published.lock().unwrap().push((connections, idle));
    }

    fn siblings(&self) -> Siblings {
        *self.siblings.lock().unwrap()
    }
}

/// One GET on a kept-alive connection; whether the answer keeps it alive.
fn kept_alive(s: &mut TcpStream) -> bool {
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let (status, headers, body) = read_response(s);
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(body, b"ok");
    !headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"))
}

#[test]
fn a_worker_fallen_behind_an_idle_sibling_closes_its_keep_alive_connections() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listener = Listener::from_fd(std_listener.into(), Protocol::Http).unwrap();
    let Address::Inet(addr) = listener.local_addr().clone() else {
        unreachable!()
    };
    let balance = SharedBalance::default();
    let el = EventLoop::new(Options::default(), vec![listener], AllBusy)
        .unwrap()
        .with_balance(balance.clone());
    let running = Running {
        addr,
        stopper: el.stopper(),
        thread: Some(std::thread::spawn(move || el.run())),
    };
    // No sibling: a worker with no idle thread still takes connections, one at a time.
    let mut conns: Vec<TcpStream> = (0..3).map(|_| connect(running.addr)).collect();
    for s in &mut conns {
        assert!(kept_alive(s));
    }
    wait_until("the loop to publish 3 connections", || {
        let published = balance.published.lock().unwrap();
        published.contains(&(3, 0)).then_some(())
    });
    // A sibling holds as many and is idle: even counts, nothing is closed.
    *balance.siblings.lock().unwrap() = Siblings {
        least_connections: Some(3),
        any_idle: true,
    };
    assert!(kept_alive(&mut conns[0]));
    // A sibling holds none and is idle: this worker holds more than its share, so its
    // keep-alive responses end their connections.
    *balance.siblings.lock().unwrap() = Siblings {
        least_connections: Some(0),
        any_idle: true,
    };
    assert!(!kept_alive(&mut conns[1]));
    // Every thread of the sibling busy too: keep the connection.
    *balance.siblings.lock().unwrap() = Siblings {
        least_connections: Some(0),
        any_idle: false,
    };
    assert!(kept_alive(&mut conns[2]));
}
