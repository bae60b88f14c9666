//! Worker health (issue 12): harakiri cuts a stuck request and replaces its worker;
//! `max-requests`, `reload-on-rss`, `evil-reload-on-rss` and `max-worker-lifetime` recycle
//! workers without failing a request.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ruwsgi_integration_tests::{
    app, children_of, connect, free_port, get, pid_alive, read_response, uwsgi_packet, uwsgi_vars,
    wait_until, wait_until_for, Server,
};

/// A master with `workers` workers of `threads` threads serving `apps/health.py` on an HTTP
/// socket, and `extra` options.
fn health_server(workers: usize, threads: usize, extra: &[&str]) -> (Server, SocketAddr) {
    let mut args = vec![
        "--master".to_string(),
        "--processes".to_string(),
        workers.to_string(),
        "--threads".to_string(),
        threads.to_string(),
        "--wsgi-file".to_string(),
        app("health.py"),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let (server, addr) = Server::http(args);
    server.wait_for_log(&format!("spawned worker {workers}"));
    (server, addr)
}

/// The stats document the master serves on `addr`.
fn read_stats(addr: SocketAddr) -> serde_json::Value {
    let mut text = String::new();
    connect(addr).read_to_string(&mut text).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn pid_of(addr: SocketAddr, path: &str) -> u32 {
    let r = get(addr, path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.text().parse().expect("a pid")
}

#[test]
fn harakiri_answers_504_logs_the_stack_and_replaces_the_worker() {
    let stats_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let stats_arg = stats_addr.to_string();
    let extra = [
        "--harakiri",
        "2",
        "--worker-reload-mercy",
        "8",
        "--stats",
        &stats_arg,
    ];
    let (server, addr) = health_server(1, 4, &extra);
    let old = pid_of(addr, "/");
    let started = Instant::now();
    let stuck = std::thread::spawn(move || get(addr, "/stuck"));
    // Requests of the other threads, in flight when the cut comes (2 to 3 s after /stuck
    // started), finish in the old worker.
    std::thread::sleep(Duration::from_millis(1200));
    let others: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || get(addr, "/sleep/1.5")))
        .collect();
    let cut = stuck.join().unwrap();
    let took = started.elapsed();
    assert_eq!(cut.status, 504, "{}", cut.text());
    assert!(cut.text().contains("harakiri"), "{}", cut.text());
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "cut after {took:?}"
    );
    for other in others {
        let r = other.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.text(), old.to_string(), "finished by the old worker");
    }
    // The next request is served, by the replacement.
    let new = pid_of(addr, "/");
    assert_ne!(new, old);
    let log = server.wait_for_log("was running this Python stack");
    assert!(
        log.contains("*** HARAKIRI ON WORKER 1 (pid: ") && log.contains("GET /stuck has run for"),
        "{log}"
    );
    let stack = &log[log.find("was running this Python stack").unwrap()..];
    assert!(stack.contains("in stuck_here"), "{log}");
    assert!(stack.contains("time.sleep(seconds)"), "{log}");
    // The stats count the cut for worker 1, across its respawn.
    let stats = read_stats(stats_addr);
    assert_eq!(stats["workers"][0]["harakiri_count"], 1, "{stats}");
    assert_eq!(stats["workers"][0]["pid"], new, "{stats}");
    // The old worker exits on its own once its other requests are done, well before the
    // master's kill at worker-reload-mercy.
    wait_until_for(Duration::from_secs(6), "the cut worker to exit", || {
        (!pid_alive(old)).then_some(())
    });
    assert!(
        !server
            .log()
            .contains("did not finish within worker-reload-mercy"),
        "{}",
        server.log()
    );
}

#[test]
fn a_graceful_harakiri_signals_the_app_before_the_cut() {
    let (server, addr) = health_server(
        1,
        2,
        &[
            "--harakiri",
            "1",
            "--harakiri-graceful-timeout",
            "2",
            "--harakiri-graceful-signal",
            "28", // SIGWINCH, which the app handles
        ],
    );
    let worker = pid_of(addr, "/");
    let started = Instant::now();
    let r = get(addr, "/stuck");
    assert_eq!(r.status, 504, "{}", r.text());
    // 1 s of harakiri, then 2 s of grace (the master looks once a second).
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(6),
        "{took:?}"
    );
    let log = server.wait_for_log("*** HARAKIRI ON WORKER 1");
    let attempt = log
        .find("graceful termination attempt on worker 1")
        .expect("the graceful attempt is logged");
    let handled = log
        .find(&format!("app signal handler: signal 28 in pid {worker}"))
        .unwrap_or_else(|| panic!("the app's handler ran in the worker: {log}"));
    let cut = log.find("*** HARAKIRI ON WORKER 1").unwrap();
    assert!(attempt < handled && handled < cut, "{log}");
}

#[test]
fn the_apps_python_signal_handlers_run_in_the_workers() {
    let (server, addr) = health_server(2, 1, &[]);
    let worker = pid_of(addr, "/");
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(worker as i32, libc::SIGWINCH) };
    server.wait_for_log(&format!("app signal handler: signal 28 in pid {worker}"));
    // The worker serves on.
    assert_eq!(get(addr, "/").status, 200);
}

#[test]
fn an_app_handler_for_a_server_signal_does_not_take_it_from_the_server() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.py"),
        "import signal\n\
         signal.signal(signal.SIGTERM, lambda *a: None)\n\
         def application(environ, start_response):\n\
         \x20   start_response('200 OK', [])\n\
         \x20   return [b'ok']\n",
    )
    .unwrap();
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut server = ruwsgi_integration_tests::ServerBuilder::new([
        "--master",
        "--http-socket",
        &addr.to_string(),
        "--wsgi-file",
        "app.py",
    ])
    .cwd(dir.path())
    .start();
    server.wait_for_tcp(addr);
    server.wait_for_log("the app set its own handler for SIGTERM while it loaded");
    // SIGTERM still stops the server gracefully.
    server.signal(libc::SIGTERM);
    let status = server.wait_exit();
    assert!(status.success(), "{status:?}: {}", server.log());
}

#[test]
fn harakiri_says_when_the_stuck_thread_holds_the_gil() {
    let (server, addr) = health_server(1, 1, &["--harakiri", "1"]);
    let old = pid_of(addr, "/");
    let r = get(addr, "/hold-gil");
    assert_eq!(r.status, 504, "{}", r.text());
    let log = server.wait_for_log("the thread holds the GIL");
    assert!(log.contains("GET /hold-gil has run for"), "{log}");
    // The loop and the signal thread need no GIL: the replacement serves, and the old
    // worker exits although its thread never stops.
    assert_ne!(pid_of(addr, "/"), old);
    wait_until("the cut worker to exit", || (!pid_alive(old)).then_some(()));
}

#[test]
fn harakiri_closes_a_cut_request_on_a_uwsgi_socket() {
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut server = Server::start([
        "--master",
        "--socket",
        &addr.to_string(),
        "--wsgi-file",
        &app("health.py"),
        "--harakiri",
        "1",
    ]);
    server.wait_for_tcp(addr);
    let mut s = connect(addr);
    s.write_all(&uwsgi_packet(&uwsgi_vars("GET", "/stuck"), b""))
        .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    // Closed with nothing written: nginx answers 502, as it does for uWSGI's harakiri.
    s.read_to_end(&mut got).unwrap();
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    server.wait_for_log("*** HARAKIRI ON WORKER 1");
    // The replacement serves.
    let mut s = connect(addr);
    s.write_all(&uwsgi_packet(&uwsgi_vars("GET", "/"), b""))
        .unwrap();
    assert_eq!(read_response(&mut s, false).unwrap().status, 200);
}

#[test]
fn set_user_harakiri_limits_one_request() {
    // No server-wide harakiri: the request sets its own limit of 1 s.
    let (server, addr) = health_server(1, 2, &[]);
    let started = Instant::now();
    let r = get(addr, "/user-harakiri");
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let log = server.wait_for_log("set by uwsgi.set_user_harakiri");
    assert!(log.contains("GET /user-harakiri has run for"), "{log}");
    // A request that sets no limit is not cut.
    assert_eq!(get(addr, "/sleep/2.5").status, 200);
}

/// The pids that served `n` sequential requests, each on a new connection, grouped into
/// runs: (pid, requests in a row).
fn runs_of(addr: SocketAddr, n: usize) -> Vec<(u32, usize)> {
    let mut runs: Vec<(u32, usize)> = Vec::new();
    for _ in 0..n {
        let pid = pid_of(addr, "/");
        match runs.last_mut() {
            Some((p, count)) if *p == pid => *count += 1,
            _ => runs.push((pid, 1)),
        }
    }
    runs
}

#[test]
fn max_requests_recycles_after_exactly_n_requests() {
    // Worker 1 recycles after 3 + 1 × 2 = 5 requests.
    let (server, addr) = health_server(1, 1, &["--max-requests", "3", "--max-requests-delta", "2"]);
    let runs = runs_of(addr, 12);
    let counts: Vec<usize> = runs.iter().map(|&(_, n)| n).collect();
    assert_eq!(counts, [5, 5, 2], "{runs:?}");
    let log = server.wait_for_log("max-requests reached (5 requests)");
    assert!(log.contains("is recycling"), "{log}");
    for (pid, _) in &runs[..2] {
        wait_until("a recycled worker to exit", || {
            (!pid_alive(*pid)).then_some(())
        });
    }
}

#[test]
fn max_requests_recycles_a_kept_alive_connection_with_connection_close() {
    let (_server, addr) = health_server(1, 1, &["--max-requests", "3"]);
    let mut s = connect(addr);
    let mut pids = Vec::new();
    for i in 1..=3 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let r = read_response(&mut s, false).unwrap();
        assert_eq!(r.status, 200);
        // The third response is the worker's last: it says so.
        let close = r.header("Connection") == Some("close");
        assert_eq!(close, i == 3, "response {i}: {:?}", r.headers);
        pids.push(r.text());
    }
    assert!(pids.iter().all(|p| *p == pids[0]), "{pids:?}");
    assert_ne!(pid_of(addr, "/").to_string(), pids[0]);
}

/// `clients` threads making requests on new connections until `stop`; returns the number
/// of requests, and panics on any failure.
fn load(
    addr: SocketAddr,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Vec<u32>>> {
    (0..clients)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut pids = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    pids.push(pid_of(addr, "/sleep/0.01"));
                }
                pids
            })
        })
        .collect()
}

#[test]
fn max_requests_under_load_fails_no_request() {
    let (server, addr) = health_server(2, 2, &["--max-requests", "25"]);
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(addr, 6, stop.clone());
    let served = Arc::new(AtomicUsize::new(0));
    wait_until_for(
        Duration::from_secs(30),
        "workers to recycle under load",
        || {
            let log = server.log();
            (log.matches("max-requests reached").count() >= 6).then_some(())
        },
    );
    stop.store(true, Ordering::Relaxed);
    let mut pids = std::collections::BTreeSet::new();
    for c in clients {
        let got = c.join().expect("no request failed");
        served.fetch_add(got.len(), Ordering::Relaxed);
        pids.extend(got);
    }
    assert!(pids.len() >= 6, "{pids:?}");
    assert!(served.load(Ordering::Relaxed) >= 150);
}

/// Asks `/grow` (each keeps 40 MiB more) until another worker than `first` answers: the
/// worker recycles after the request that crossed its bound, and that request is still
/// answered. The new worker's pid and how many times it grew.
fn grow_until_recycled(addr: SocketAddr, first: u32) -> (u32, usize) {
    let mut grown = 0;
    let new = wait_until("the worker to recycle", || {
        let pid = pid_of(addr, "/grow");
        grown += 1;
        (pid != first).then_some(pid)
    });
    (new, grown)
}

#[test]
fn reload_on_rss_recycles_a_worker_that_grew() {
    let (server, addr) = health_server(1, 1, &["--reload-on-rss", "100"]);
    let first = pid_of(addr, "/");
    let (new, grown) = grow_until_recycled(addr, first);
    assert!((2..=5).contains(&grown), "grew {grown} times");
    let log = server.wait_for_log("over reload-on-rss (100 MB); recycling");
    assert!(
        log.contains(&format!("worker 1 (pid {first}) is recycling")),
        "{log}"
    );
    assert_eq!(pid_of(addr, "/"), new);
}

/// The address space (VmSize) of `pid` in MiB.
fn address_space_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmSize in /proc/PID/status");
    kib >> 10
}

#[test]
fn reload_on_as_recycles_a_worker_whose_address_space_grew() {
    // A worker's address space after a request, measured on a first server, bounds the
    // second's 100 MiB above it.
    let (_probe, addr) = health_server(1, 1, &[]);
    let baseline = address_space_mib(pid_of(addr, "/"));
    let limit = (baseline + 100).to_string();
    let (server, addr) = health_server(1, 1, &["--reload-on-as", &limit]);
    let first = pid_of(addr, "/");
    let (new, grown) = grow_until_recycled(addr, first);
    assert!((2..=6).contains(&grown), "grew {grown} times");
    server.wait_for_log(&format!("is over reload-on-as ({limit} MB); recycling"));
    assert_eq!(pid_of(addr, "/"), new);
}

/// `reload-on-exception`: the worker whose app raised recycles after that request (answered
/// 500); its replacement serves. A request that succeeds recycles nothing.
#[test]
fn reload_on_exception_recycles_the_worker_whose_app_raised() {
    let (server, addr) = health_server(1, 1, &["--reload-on-exception"]);
    let first = pid_of(addr, "/");
    assert_eq!(pid_of(addr, "/"), first, "no exception, no recycling");
    assert_eq!(get(addr, "/raise").status, 500);
    let log = server.wait_for_log("reload-on-exception is set; recycling");
    assert!(
        log.contains(&format!("raised on purpose in {first}")),
        "{log}"
    );
    let new = wait_until("the replacement", || {
        let pid = pid_of(addr, "/");
        (pid != first).then_some(pid)
    });
    assert_eq!(pid_of(addr, "/"), new);
}

/// `evil-reload-on-rss` and `evil-reload-on-as`: the master kills a worker whose resident
/// memory (or address space) grew past the bound, and a new one serves.
#[test]
fn evil_reload_on_rss_kills_a_worker_that_grew() {
    for (option, what) in [
        (
            "--evil-reload-on-rss",
            "resident memory, over evil-reload-on-rss",
        ),
        (
            "--evil-reload-on-as",
            "address space, over evil-reload-on-as",
        ),
    ] {
        evil_reload_kills_a_worker_that_grew(option, what);
    }
}

fn evil_reload_kills_a_worker_that_grew(option: &str, what: &str) {
    // The address space starts well above the resident memory (the interpreter's and
    // threads' mappings): its bound is set from the worker's own size at start.
    let bound = if option == "--evil-reload-on-as" {
        let (server, addr) = health_server(1, 1, &[]);
        let pid = pid_of(addr, "/");
        let size = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap();
        let pages: u64 = size.split_whitespace().next().unwrap().parse().unwrap();
        drop(server);
        ((pages * 4096) >> 20) + 60
    } else {
        100
    };
    let bound = bound.to_string();
    let (server, addr) = health_server(1, 1, &[option, &bound]);
    let first = pid_of(addr, "/");
    for _ in 0..3 {
        assert_eq!(pid_of(addr, "/grow"), first);
    }
    // The master looks once a second.
    server.wait_for_log(&format!("{what} ({bound} MB); killing it"));
    wait_until("the killed worker to be gone", || {
        (!pid_alive(first)).then_some(())
    });
    let new = wait_until("the replacement to serve", || {
        let pid = pid_of(addr, "/");
        (pid != first).then_some(pid)
    });
    assert!(pid_alive(new));
}

#[test]
fn max_worker_lifetime_replaces_workers_without_failing_a_request() {
    let (server, addr) = health_server(2, 2, &["--max-worker-lifetime", "2"]);
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(addr, 4, stop.clone());
    wait_until_for(Duration::from_secs(20), "two lifetimes to pass", || {
        let log = server.log();
        (log.matches("reached max-worker-lifetime (2 s)").count() >= 4).then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    let mut pids = std::collections::BTreeSet::new();
    for c in clients {
        pids.extend(c.join().expect("no request failed"));
    }
    assert!(pids.len() >= 4, "{pids:?}");
    assert!(
        server.log().contains("replaced worker (pid "),
        "{}",
        server.log()
    );
}

/// `max-worker-lifetime-delta D`: worker N lives `max-worker-lifetime + (N - 1) × D`
/// seconds, so the workers are not replaced together.
#[test]
fn max_worker_lifetime_delta_staggers_the_replacements() {
    let (server, _addr) = health_server(
        2,
        1,
        &[
            "--max-worker-lifetime",
            "1",
            "--max-worker-lifetime-delta",
            "2",
        ],
    );
    let log = wait_until("worker 2's replacement", || {
        let log = server.log();
        log.contains("reached max-worker-lifetime (3 s)")
            .then_some(log)
    });
    let first = log.find("reached max-worker-lifetime (1 s)").expect(&log);
    let second = log.find("reached max-worker-lifetime (3 s)").unwrap();
    assert!(first < second, "{log}");
    assert!(
        log.lines()
            .filter(|l| l.contains("reached max-worker-lifetime"))
            .all(|l| l.contains("worker 1 (pid") == l.contains("(1 s)")),
        "worker 1 after 1 s, worker 2 after 3 s:\n{log}"
    );
}

/// A master of up to `max` workers in cheaper mode with `extra` options (one thread each).
fn cheaper_server(max: usize, extra: &[&str]) -> (Server, SocketAddr) {
    let mut args = vec![
        "--master".to_string(),
        "--processes".to_string(),
        max.to_string(),
        "--wsgi-file".to_string(),
        app("health.py"),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let (server, addr) = Server::http(args);
    server.wait_for_log("spawned worker 1");
    (server, addr)
}

/// Waits until the master runs exactly `n` workers.
fn wait_for_workers(server: &Server, n: usize, limit: Duration) {
    wait_until_for(limit, &format!("{n} workers"), || {
        (children_of(server.pid).len() == n).then_some(())
    });
}

#[test]
fn cheaper_spare_scales_up_under_load_and_back_down() {
    let (server, addr) = cheaper_server(4, &["--cheaper", "1", "--cheaper-overload", "1"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        children_of(server.pid).len(),
        1,
        "cheaper 1: one worker at start"
    );
    // Four clients of 200 ms requests keep every worker busy: one more each second.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut pids = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    pids.push(pid_of(addr, "/sleep/0.2"));
                }
                pids
            })
        })
        .collect();
    wait_for_workers(&server, 4, Duration::from_secs(20));
    stop.store(true, Ordering::Relaxed);
    let mut pids = std::collections::BTreeSet::new();
    for c in clients {
        pids.extend(c.join().expect("no request failed"));
    }
    assert!(pids.len() >= 3, "the new workers served: {pids:?}");
    // Idle again: one worker stopped every cheaper-overload second, down to cheaper.
    wait_for_workers(&server, 1, Duration::from_secs(20));
    let log = server.log();
    assert!(log.contains("cheaper: spawning worker 4"), "{log}");
    assert_eq!(log.matches("cheaper: stopping worker").count(), 3, "{log}");
    assert_eq!(get(addr, "/").status, 200);
}

#[test]
fn cheaper_fifo_plus_and_minus_add_and_remove_workers() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let fifo_arg = fifo.to_str().unwrap();
    let stats_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let stats_arg = stats_addr.to_string();
    let (server, addr) = cheaper_server(
        3,
        &[
            "--cheaper",
            "1",
            "--cheaper-algo",
            "manual",
            "--master-fifo",
            fifo_arg,
            "--stats",
            &stats_arg,
        ],
    );
    let send = |bytes: &[u8]| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .unwrap()
            .write_all(bytes)
            .unwrap();
    };
    send(b"+");
    wait_for_workers(&server, 2, Duration::from_secs(10));
    send(b"+");
    wait_for_workers(&server, 3, Duration::from_secs(10));
    send(b"+");
    server.wait_for_log("master FIFO +: all 3 workers run");
    send(b"-");
    wait_for_workers(&server, 2, Duration::from_secs(10));
    server.wait_for_log("cheaped worker (pid ");
    assert_eq!(get(addr, "/").status, 200);
    // The stats show the cheaped worker as uWSGI does.
    let stats = read_stats(stats_addr);
    let statuses: Vec<&str> = stats["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "cheap").count(),
        1,
        "{stats}"
    );
}
