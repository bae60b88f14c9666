//! Workers share the load (issue 9): a worker accepts a connection only into an idle thread,
//! so clients spread over the workers, whether they keep their connections alive or open one
//! per request, with and without `thunder-lock`. Counting tests, not timed ones: each asserts
//! who served what.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ruwsgi_integration_tests::{app, connect, get, read_response, Server};

/// Clients at once, and the requests each sends.
const CLIENTS: usize = 40;
const REQUESTS_PER_CLIENT: usize = 2;

/// Two workers of one thread each serving `balance.py`, with `extra` arguments.
fn two_workers(extra: &[&str]) -> (Server, SocketAddr) {
    let app = app("balance.py");
    let mut args = vec!["--wsgi-file", &app, "--master", "--processes", "2"];
    args.extend_from_slice(extra);
    Server::http(args)
}

/// `GET /?ms=N` on `stream` (kept alive); the pid that answered. A response that says
/// `Connection: close` (a worker rebalancing its connections) makes the client reconnect,
/// as browsers, wrk and nginx do.
fn pid_over(stream: &mut std::net::TcpStream, addr: SocketAddr, ms: u64) -> u32 {
    let request = format!("GET /?ms={ms} HTTP/1.1\r\nHost: test\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let resp = read_response(stream, false).expect("response");
    assert_eq!(resp.status, 200);
    if resp.header("connection") == Some("close") {
        *stream = connect(addr);
    }
    resp.text().parse().expect("a pid")
}

/// `GET /?ms=N` on a new connection; the pid that answered.
fn pid_of(addr: SocketAddr, ms: u64) -> u32 {
    let resp = get(addr, &format!("/?ms={ms}"));
    assert_eq!(resp.status, 200);
    resp.text().parse().expect("a pid")
}

/// [`CLIENTS`] clients at once each send [`REQUESTS_PER_CLIENT`] requests to a 100 ms view,
/// over one kept-alive connection each or a new connection per request; each of the two
/// workers must serve at least a third.
fn shares_the_load(extra: &[&str], keep_alive: bool) {
    let (server, addr) = two_workers(extra);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            std::thread::spawn(move || {
                if keep_alive {
                    let mut stream = connect(addr);
                    (0..REQUESTS_PER_CLIENT)
                        .map(|_| pid_over(&mut stream, addr, 100))
                        .collect::<Vec<_>>()
                } else {
                    (0..REQUESTS_PER_CLIENT)
                        .map(|_| pid_of(addr, 100))
                        .collect()
                }
            })
        })
        .collect();
    let mut served: BTreeMap<u32, usize> = BTreeMap::new();
    for client in clients {
        for pid in client.join().expect("client") {
            *served.entry(pid).or_default() += 1;
        }
    }
    let total = CLIENTS * REQUESTS_PER_CLIENT;
    assert_eq!(served.values().sum::<usize>(), total);
    assert_eq!(
        served.len(),
        2,
        "both workers served: {served:?}\n{}",
        server.log()
    );
    for (pid, n) in &served {
        assert!(
            *n * 3 >= total,
            "worker {pid} served {n} of {total}, under a third: {served:?}"
        );
    }
}

#[test]
fn keep_alive_clients_spread_over_the_workers() {
    shares_the_load(&[], true);
}

#[test]
fn a_connection_per_request_spreads_over_the_workers() {
    shares_the_load(&[], false);
}

#[test]
fn keep_alive_clients_spread_with_thunder_lock() {
    shares_the_load(&["--thunder-lock"], true);
}

#[test]
fn a_connection_per_request_spreads_with_thunder_lock() {
    shares_the_load(&["--thunder-lock"], false);
}

/// While one worker's only thread holds a 5 s request, every new connection goes to the
/// other worker: none waits behind the slow request.
#[test]
fn a_busy_worker_leaves_new_connections_to_its_sibling() {
    let (server, addr) = two_workers(&[]);
    let slow = std::thread::spawn(move || pid_of(addr, 5_000));
    // Let the slow request reach its worker.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let quick: Vec<_> = (0..20)
        .map(|_| std::thread::spawn(move || pid_of(addr, 0)))
        .collect();
    let quick: Vec<u32> = quick
        .into_iter()
        .map(|q| q.join().expect("client"))
        .collect();
    let waited = started.elapsed();
    let slow_pid = slow.join().expect("slow client");
    assert!(
        quick.iter().all(|&pid| pid != slow_pid),
        "a quick request went to the worker holding the slow one ({slow_pid}): {quick:?}\n{}",
        server.log()
    );
    assert!(
        waited < Duration::from_secs(4),
        "the quick requests waited {waited:?}, as if behind the slow one"
    );
}

/// One worker, one thread, its queue kept full by kept-alive clients (each sends its next
/// request as soon as the last is answered): a new connection takes its turn in that queue
/// instead of waiting in the kernel's until the queue empties, which under this load it
/// never does. Counted, not timed: the kept-alive clients get at most a few rounds of
/// requests answered while the newcomer waits; a newcomer left in the kernel's queue would
/// wait for all of them to stop.
#[test]
fn a_new_connection_beside_busy_keep_alive_clients_is_served_in_turn() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    const KEPT: usize = 16;
    /// Requests the kept-alive clients send at most between them: they stop there.
    const LIMIT: usize = 1_500;
    let app = app("balance.py");
    let (server, addr) = Server::http(["--wsgi-file", &app, "--master", "--processes", "1"]);
    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let kept: Vec<_> = (0..KEPT)
        .map(|_| {
            let (answered, stop) = (answered.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut stream = connect(addr);
                while !stop.load(Ordering::Acquire) && answered.load(Ordering::Acquire) < LIMIT {
                    pid_over(&mut stream, addr, 2);
                    answered.fetch_add(1, Ordering::AcqRel);
                }
            })
        })
        .collect();
    // Every kept-alive client connected and the queue is full.
    let deadline = Instant::now() + Duration::from_secs(20);
    while answered.load(Ordering::Acquire) < 10 * KEPT {
        assert!(
            Instant::now() < deadline,
            "the kept-alive clients were not served"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = answered.load(Ordering::Acquire);
    let newcomer = get(addr, "/?ms=0");
    let meanwhile = answered.load(Ordering::Acquire) - before;
    stop.store(true, Ordering::Release);
    for client in kept {
        client.join().expect("kept-alive client");
    }
    assert_eq!(newcomer.status, 200);
    assert!(
        meanwhile <= 3 * KEPT,
        "the kept-alive clients got {meanwhile} requests answered while the newcomer waited \
         (their queue holds {KEPT}): it waited for the queue to empty\n{}",
        server.log()
    );
}
