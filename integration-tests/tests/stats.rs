//! The stats server (issue 12): `stats` over TCP and a unix socket, `stats-http` with the
//! JSON and Prometheus's `/metrics` (read by `prometheus_client`'s own parser), the real
//! `uwsgitop` rendering our stats, a client that never sends not holding the master, and
//! `memory-report`'s text in the request log.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ruwsgi_integration_tests::{
    children_of, connect, connect_unix, exchange_raw, free_port, get, read_response, run_command,
    test_venv, wait_until, Server, ServerBuilder,
};

/// A WSGI app that answers with the pid of the worker that served it.
const PID_APP: &str = r#"import os

def application(environ, start_response):
    body = str(os.getpid()).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
"#;

/// Starts 2 workers of 2 threads serving [`PID_APP`] over HTTP, the stats server on
/// `stats`, with `extra` arguments; waits for both workers.
fn start(dir: &Path, stats: &str, extra: &[&str]) -> (Server, SocketAddr) {
    let app = dir.join("pid_app.py");
    std::fs::write(&app, PID_APP).unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut args = vec![
        "--http-socket".to_string(),
        addr.to_string(),
        "--wsgi-file".to_string(),
        app.to_string_lossy().into_owned(),
        "--master".to_string(),
        "--processes".to_string(),
        "2".to_string(),
        "--threads".to_string(),
        "2".to_string(),
        "--stats".to_string(),
        stats.to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let mut server = ServerBuilder::new(args).start();
    server.wait_for_tcp(addr);
    wait_until("2 workers", || {
        (children_of(server.pid).len() == 2).then_some(())
    });
    (server, addr)
}

/// Makes `n` requests on new connections; returns how many each worker pid served.
fn requests(addr: SocketAddr, n: usize) -> BTreeMap<u64, u64> {
    let mut served = BTreeMap::new();
    for _ in 0..n {
        let response = get(addr, "/");
        assert_eq!(response.status, 200);
        *served.entry(response.text().parse().unwrap()).or_default() += 1;
    }
    served
}

/// Everything a stats socket sends before it closes (bounded by the harness's timeouts).
fn read_all(mut stream: impl Read) -> String {
    let mut out = String::new();
    stream.read_to_string(&mut out).expect("the stats document");
    out
}

/// Each worker's pid and `requests` in the stats document.
fn requests_by_pid(doc: &serde_json::Value) -> BTreeMap<u64, u64> {
    doc["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| (w["pid"].as_u64().unwrap(), w["requests"].as_u64().unwrap()))
        .collect()
}

/// Asserts the document has uWSGI's keys and types, names `server`'s master and workers,
/// and (read again until every worker is up and the workers have counted their last
/// request, which they do just after writing it) that each worker's requests are those
/// `served` says it served.
fn assert_document(server: &Server, served: &BTreeMap<u64, u64>, read: impl Fn() -> String) {
    let mut doc = serde_json::Value::Null;
    // A worker that served nothing may still be starting (`accepting` 0) when the
    // requests are done: read until every worker is up too.
    let counted = wait_until("the stats to count every request", || {
        doc = serde_json::from_str(&read()).expect("the stats are JSON");
        let counted = requests_by_pid(&doc);
        let all_up = doc["workers"]
            .as_array()
            .is_some_and(|ws| ws.iter().all(|w| w["accepting"] == 1));
        (all_up && counted.values().sum::<u64>() == served.values().sum::<u64>()).then_some(counted)
    });
    let mut pids: Vec<u64> = children_of(server.pid).into_iter().map(u64::from).collect();
    pids.sort();
    assert_eq!(counted.keys().copied().collect::<Vec<_>>(), pids, "{doc}");
    for (pid, count) in &counted {
        assert_eq!(
            served.get(pid).copied().unwrap_or(0),
            *count,
            "worker {pid}: {doc}"
        );
    }
    assert_eq!(doc["pid"], server.pid);
    for key in [
        "listen_queue",
        "listen_queue_errors",
        "signal_queue",
        "load",
        "uid",
        "gid",
    ] {
        assert!(doc[key].is_u64(), "{key}: {doc}");
    }
    assert!(doc["version"].is_string() && doc["cwd"].is_string() && doc["locks"].is_array());
    let socket = &doc["sockets"][0];
    assert_eq!(socket["proto"], "http");
    assert!(socket["max_queue"].as_u64().unwrap() > 0, "{doc}");
    for w in doc["workers"].as_array().unwrap() {
        for key in [
            "id",
            "pid",
            "accepting",
            "requests",
            "delta_requests",
            "exceptions",
            "harakiri_count",
            "signals",
            "signal_queue",
            "rss",
            "vsz",
            "running_time",
            "last_spawn",
            "respawn_count",
            "tx",
            "avg_rt",
        ] {
            assert!(w[key].is_u64(), "{key}: {w}");
        }
        assert_eq!(w["status"], "idle");
        assert_eq!(w["accepting"], 1);
        assert!(w["rss"].as_u64().unwrap() > 0 && w["vsz"].as_u64().unwrap() > 0);
        let cores = w["cores"].as_array().unwrap();
        assert_eq!(cores.len(), 2, "one core per thread");
        let by_cores: u64 = cores.iter().map(|c| c["requests"].as_u64().unwrap()).sum();
        assert_eq!(by_cores, w["requests"].as_u64().unwrap(), "{w}");
        if w["requests"].as_u64().unwrap() > 0 {
            assert!(w["running_time"].as_u64().unwrap() > 0, "{w}");
        }
    }
}

#[test]
fn stats_over_tcp_count_each_workers_requests() {
    let dir = tempfile::tempdir().unwrap();
    let stats: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (server, addr) = start(dir.path(), &stats.to_string(), &[]);
    let served = requests(addr, 8);
    let text = read_all(connect(stats));
    assert!(text.starts_with("{\n\t\""), "indented as uWSGI's: {text}");
    assert_document(&server, &served, || read_all(connect(stats)));
}

#[test]
fn stats_over_a_unix_socket_minified() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stats.sock");
    let (server, addr) = start(dir.path(), path.to_str().unwrap(), &["--stats-minified"]);
    let served = requests(addr, 6);
    let text = read_all(connect_unix(&path));
    assert!(
        !text.contains('\n') && text.starts_with("{\"version\":"),
        "{text}"
    );
    assert_document(&server, &served, || read_all(connect_unix(&path)));
}

/// Parses `text` with `prometheus_client`'s parser; prints `name{labels} value` per sample.
fn prometheus_samples(text: &str) -> String {
    let script = r#"import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))
        print(f'{family.type} {s.name}{{{labels}}} {s.value}')
"#;
    let input = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(input.path(), text).unwrap();
    let mut cmd = Command::new(test_venv().join("bin").join("python"));
    cmd.args(["-c", script]);
    let out = run_with_stdin(cmd, input.path());
    assert!(
        out.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// [`run_command`] with stdin from the file at `input`.
fn run_with_stdin(cmd: Command, input: &Path) -> std::process::Output {
    // run_command gives the child /dev/null; a shell redirect hands it the file instead.
    let mut shell = Command::new("sh");
    shell.arg("-c").arg("exec \"$@\" < \"$0\"").arg(input);
    shell.arg(cmd.get_program()).args(cmd.get_args());
    run_command(shell)
}

/// The sum of the values of `name`'s samples in [`prometheus_samples`]' output.
fn sum_of(samples: &str, name: &str) -> f64 {
    samples
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|s| s.starts_with(&format!("{name}{{")))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

#[test]
fn stats_http_serves_the_document_and_prometheus_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let stats: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (server, addr) = start(dir.path(), &stats.to_string(), &["--stats-http"]);
    let served = requests(addr, 7);

    let response = get(stats, "/");
    assert_eq!(response.status_line, "HTTP/1.0 200 OK");
    assert_eq!(response.header("Content-Type"), Some("application/json"));
    serde_json::from_slice::<serde_json::Value>(&response.body).expect("JSON");
    assert_document(&server, &served, || get(stats, "/").text());

    let metrics = get(stats, "/metrics");
    assert_eq!(
        metrics.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let samples = prometheus_samples(&metrics.text());
    assert_eq!(
        sum_of(&samples, "uwsgi_worker_requests_total"),
        7.0,
        "{samples}"
    );
    assert_eq!(
        sum_of(&samples, "uwsgi_request_duration_seconds_count"),
        7.0,
        "{samples}"
    );
    assert!(
        sum_of(&samples, "uwsgi_request_duration_seconds_sum") > 0.0,
        "{samples}"
    );
    assert!(
        samples.contains("counter uwsgi_worker_requests_total{worker_id=1} "),
        "{samples}"
    );
    assert!(
        samples.contains("histogram uwsgi_request_duration_seconds_bucket{le=+Inf,worker_id=2} "),
        "{samples}"
    );
    assert!(
        samples.contains("gauge uwsgi_listen_queue_length{} "),
        "{samples}"
    );
    assert_eq!(sum_of(&samples, "uwsgi_busy_workers"), 0.0, "{samples}");
    assert_eq!(sum_of(&samples, "uwsgi_workers"), 2.0, "{samples}");
    assert!(
        sum_of(&samples, "uwsgi_worker_rss_bytes") > 0.0,
        "{samples}"
    );
}

/// A stats client that connects and never sends its request (nor reads) costs the master
/// nothing: other clients and the workers are answered at once, and the silent one is
/// closed after the stats server's 4-second bound.
#[test]
fn a_silent_stats_client_does_not_hold_the_master() {
    let dir = tempfile::tempdir().unwrap();
    let stats: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (_server, addr) = start(dir.path(), &stats.to_string(), &["--stats-http"]);
    let mut silent = connect(stats);
    let start = Instant::now();
    assert_eq!(get(stats, "/").status, 200);
    requests(addr, 2);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let mut rest = Vec::new();
    silent
        .read_to_end(&mut rest)
        .expect("closed, not timed out");
    assert!(rest.is_empty(), "nothing was asked: {rest:?}");
    let waited = start.elapsed();
    assert!(
        (Duration::from_secs(3)..Duration::from_secs(10)).contains(&waited),
        "closed after {waited:?}"
    );
    // A request split across writes is still answered whole.
    let mut split = connect(stats);
    split.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    split.write_all(b"Host: x\r\n\r\n").unwrap();
    let response = read_response(&mut split, false).unwrap();
    assert!(response.text().contains("uwsgi_worker_requests_total"));
    let raw = exchange_raw(stats, b"GET / HTTP/1.0\r\n\r\n");
    assert!(raw.starts_with(b"HTTP/1.0 200 OK\r\n"));
}

/// The real `uwsgitop` (pip's) renders a frame from our stats socket: run under a
/// pseudo-terminal of 50×200, it draws the header and a line per worker with its pid.
#[test]
fn uwsgitop_renders_our_stats() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stats.sock");
    let (server, addr) = start(dir.path(), path.to_str().unwrap(), &[]);
    requests(addr, 3);
    let pids = children_of(server.pid);
    let uwsgitop = test_venv().join("bin").join("uwsgitop");
    // Runs uwsgitop on a pty until every worker pid was drawn (or 10 s), then presses q;
    // prints what was drawn, escape sequences removed.
    let script = r#"import os, pty, re, select, struct, sys, termios, fcntl, time
uwsgitop, address, want = sys.argv[1], sys.argv[2], sys.argv[3].split(',')
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 50, 200, 0, 0))
    os.environ['TERM'] = 'xterm'
    os.execv(sys.executable, [sys.executable, uwsgitop, '--frequency', '1', address])
seen = b''
deadline = time.time() + 10
def text():
    return re.sub(r'\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1b[=>]', ' ', seen.decode('utf8', 'replace'))
while time.time() < deadline and not (all(p in text() for p in want) and 'WID' in text()):
    ready, _, _ = select.select([fd], [], [], 0.2)
    if ready:
        try:
            seen += os.read(fd, 65536)
        except OSError:
            break
os.write(fd, b'q')
end = time.time() + 5
while time.time() < end:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if select.select([fd], [], [], 0.1)[0]:
        try:
            seen += os.read(fd, 65536)
        except OSError:
            pass
else:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
print(text())
"#;
    let want: Vec<String> = pids.iter().map(u32::to_string).collect();
    let mut cmd = Command::new(test_venv().join("bin").join("python"));
    cmd.arg("-c")
        .arg(script)
        .arg(&uwsgitop)
        .arg(&path)
        .arg(want.join(","));
    let out = run_command(cmd);
    let drawn = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{drawn}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(drawn.contains("WID") && drawn.contains("ReSpwn"), "{drawn}");
    assert!(drawn.contains("req: 3"), "the total of requests: {drawn}");
    for pid in &want {
        assert!(drawn.contains(pid.as_str()), "worker {pid} in {drawn}");
    }
}

#[test]
fn memory_report_adds_the_memory_to_the_request_line() {
    let (server, addr) = Server::http(["--builtin-handler", "--memory-report"]);
    assert_eq!(get(addr, "/memory").status, 200);
    let log = server.wait_for_log("GET /memory");
    let line = log.lines().find(|l| l.contains("GET /memory")).unwrap();
    let (memory, rest) = line.split_at(line.find("[pid: ").expect("the request line"));
    assert!(
        rest.contains("] GET /memory => generated 12 bytes"),
        "{line}"
    );
    let numbers: Vec<u64> = memory
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [vsz, vsz_mb, rss, rss_mb] = numbers[..] else {
        panic!("four numbers in {line}");
    };
    assert_eq!(
        memory,
        format!("{{address space usage: {vsz} bytes/{vsz_mb}MB}} {{rss usage: {rss} bytes/{rss_mb}MB}} ")
    );
    assert!(rss > 1 << 20 && vsz > rss, "{line}");
    assert_eq!((vsz >> 20, rss >> 20), (vsz_mb, rss_mb));
}
