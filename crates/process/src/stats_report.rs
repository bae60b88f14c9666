//! What the stats server answers: uWSGI 2.0's stats JSON document (the same keys, types
//! and order) and the same figures in Prometheus's text format (version 0.0.4), both read
//! from the scoreboard, `/proc` and the listening sockets when a client asks. A leaf: the
//! master fills [`WorkerEntry`]s and calls [`Report::gather`].
//!
//! What ruwsgi does not count is written as uWSGI writes it when unused: `locks` and `apps`
//! are empty lists, `signals` and `signal_queue` 0 (uWSGI signals run on a thread of their
//! own, so no worker is ever `sig N`). Beyond uWSGI 2.0's document, `mules` lists the mules
//! (id, pid, status, rss, respawn_count).

use std::fmt::Write as _;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::Ordering;

use ruwsgi_shm::{ProcessIndex, ProcessSlot, ProcessStatus, Scoreboard, DURATION_BUCKETS_US};
use serde::Serialize;

use crate::bind::{is_unix, Bound};
use crate::stats::memory_usage;

/// The buckets of a request-duration histogram, as [`ProcessSlot::duration_buckets`].
type Buckets = [u64; DURATION_BUCKETS_US.len() + 1];

/// What the processes of one worker id that have exited served: the master adds each
/// reaped process's counters ([`Carried::add`]), so a worker's totals outlive its
/// respawns, as uWSGI's do (its `delta_requests` alone restarts at 0).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Carried {
    requests: u64,
    exceptions: u64,
    tx: u64,
    request_time_us: u64,
    buckets: Buckets,
}

impl Carried {
    /// Adds the counters of `slot`, whose process exited.
    pub(crate) fn add(&mut self, slot: &ProcessSlot) {
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        self.requests += load(&slot.requests);
        self.exceptions += load(&slot.exceptions);
        self.tx += load(&slot.bytes_out);
        self.request_time_us += load(&slot.request_time_us);
        for (sum, bucket) in self.buckets.iter_mut().zip(&slot.duration_buckets) {
            *sum += load(bucket);
        }
    }
}

/// One worker id as the master knows it: its running process's slot, if any, how many
/// times it was spawned, and what its exited processes served.
#[derive(Debug)]
pub(crate) struct WorkerEntry {
    /// 1-based.
    pub(crate) id: usize,
    pub(crate) slot: Option<ProcessIndex>,
    pub(crate) respawns: u64,
    /// Times harakiri cut a request of this worker id (the master's count).
    pub(crate) harakiri_count: u64,
    /// Not running on purpose (cheaper mode): status `cheap`.
    pub(crate) cheap: bool,
    pub(crate) carried: Carried,
}

/// One per-worker Prometheus family: name, type, help and how to read its value.
type PerWorker = (
    &'static str,
    &'static str,
    &'static str,
    fn(&WorkerStats) -> u64,
);

/// The stats, gathered once per answer.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    version: &'static str,
    listen_queue: u64,
    listen_queue_errors: u64,
    signal_queue: u64,
    load: u64,
    pid: u32,
    uid: u32,
    gid: u32,
    cwd: String,
    locks: [(); 0],
    sockets: Vec<SocketStats>,
    workers: Vec<WorkerStats>,
    mules: Vec<MuleStats>,
}

#[derive(Debug, Serialize)]
struct MuleStats {
    id: usize,
    pid: u32,
    status: &'static str,
    rss: u64,
    respawn_count: u64,
}

/// The live mules, by id.
fn mule_stats(board: &Scoreboard) -> Vec<MuleStats> {
    let mut mules: Vec<MuleStats> = board
        .live()
        .filter(|(_, slot)| slot.kind() == Some(ruwsgi_shm::ProcessKind::Mule))
        .filter_map(|(_, slot)| {
            Some(MuleStats {
                id: slot.worker_id(),
                pid: slot.pid()?,
                status: match slot.status() {
                    ProcessStatus::Ready => "idle",
                    other => other.name(),
                },
                rss: slot.rss.load(Ordering::Relaxed),
                respawn_count: slot.respawns.load(Ordering::Relaxed),
            })
        })
        .collect();
    mules.sort_by_key(|m| m.id);
    mules
}

#[derive(Debug, Serialize)]
struct SocketStats {
    name: String,
    proto: &'static str,
    queue: u64,
    max_queue: u64,
    shared: u64,
    can_offload: u64,
}

#[derive(Debug, Serialize)]
struct WorkerStats {
    id: usize,
    pid: u32,
    accepting: u64,
    requests: u64,
    delta_requests: u64,
    exceptions: u64,
    harakiri_count: u64,
    signals: u64,
    signal_queue: u64,
    status: &'static str,
    rss: u64,
    vsz: u64,
    running_time: u64,
    last_spawn: u64,
    respawn_count: u64,
    tx: u64,
    avg_rt: u64,
    apps: [(); 0],
    cores: Vec<CoreStats>,
    /// The request-duration histogram (Prometheus only).
    #[serde(skip)]
    buckets: Buckets,
}

#[derive(Debug, Serialize)]
struct CoreStats {
    id: usize,
    requests: u64,
    static_requests: u64,
    routed_requests: u64,
    offloaded_requests: u64,
    write_errors: u64,
    read_errors: u64,
    in_request: u64,
    vars: Vec<String>,
    req_info: RequestInfo,
}

#[derive(Debug, Serialize)]
struct RequestInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    request_start: Option<u64>,
}

impl Report {
    /// Reads the stats of the master `pid` and its `workers` from the scoreboard, /proc
    /// (memory) and the listening `sockets` (their queues).
    pub(crate) fn gather(
        board: &Scoreboard,
        sockets: &[Bound],
        workers: &[WorkerEntry],
        pid: u32,
    ) -> Report {
        let sockets: Vec<SocketStats> = sockets.iter().map(socket_stats).collect();
        let listen_queue = sockets.iter().map(|s| s.queue).max().unwrap_or(0);
        Report {
            version: env!("CARGO_PKG_VERSION"),
            listen_queue,
            listen_queue_errors: 0,
            signal_queue: 0,
            // uWSGI's `load` is the listen queue too ("TODO load should be something more
            // advanced").
            load: listen_queue,
            pid,
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            cwd: std::env::current_dir()
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default(),
            locks: [],
            sockets,
            workers: workers.iter().map(|w| worker_stats(board, w)).collect(),
            mules: mule_stats(board),
        }
    }

    /// The JSON document: indented with tabs as uWSGI's, or on one line (`stats-minified`).
    pub(crate) fn to_json(&self, minified: bool) -> Vec<u8> {
        let written = if minified {
            serde_json::to_vec(self)
        } else {
            let mut out = Vec::with_capacity(4096);
            let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
            let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
            self.serialize(&mut serializer).map(|()| out)
        };
        // Plain structs of numbers and strings: serializing them cannot fail.
        written.unwrap_or_default()
    }

    /// The Prometheus text exposition format, version 0.0.4: the server's listen queue and
    /// busy workers and threads, and per worker (label `worker_id`) its requests,
    /// exceptions, harakiri kills, respawns, busy threads, memory, bytes sent and its
    /// request-duration histogram.
    pub(crate) fn to_prometheus(&self) -> String {
        let mut out = String::with_capacity(8192);
        let mut family =
            |name: &str,
             kind: &str,
             help: &str,
             samples: &mut dyn Iterator<Item = (String, u64)>| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                for (labels, value) in samples {
                    let _ = writeln!(out, "{name}{labels} {value}");
                }
            };
        let one = |v: u64| std::iter::once((String::new(), v));
        family(
            "uwsgi_listen_queue_length",
            "gauge",
            "Connections waiting in the kernel's accept queues (the longest queue of the sockets).",
            &mut one(self.listen_queue),
        );
        family(
            "uwsgi_socket_queue_length",
            "gauge",
            "Connections waiting in the socket's accept queue.",
            &mut self
                .sockets
                .iter()
                .map(|s| (format!("{{name=\"{}\"}}", escape(&s.name)), s.queue)),
        );
        family(
            "uwsgi_socket_max_queue_length",
            "gauge",
            "The socket's accept queue size (its listen backlog).",
            &mut self
                .sockets
                .iter()
                .map(|s| (format!("{{name=\"{}\"}}", escape(&s.name)), s.max_queue)),
        );
        family(
            "uwsgi_workers",
            "gauge",
            "Worker processes configured.",
            &mut one(self.workers.len() as u64),
        );
        let busy_threads = |w: &WorkerStats| w.cores.iter().map(|c| c.in_request).sum::<u64>();
        family(
            "uwsgi_busy_workers",
            "gauge",
            "Workers running at least one request.",
            &mut one(self.workers.iter().filter(|w| w.status == "busy").count() as u64),
        );
        family(
            "uwsgi_busy_threads",
            "gauge",
            "Threads running a request, over every worker.",
            &mut one(self.workers.iter().map(busy_threads).sum()),
        );
        let per_worker: [PerWorker; 8] = [
            (
                "uwsgi_worker_requests_total",
                "counter",
                "Requests the worker served.",
                |w| w.requests,
            ),
            (
                "uwsgi_worker_exceptions_total",
                "counter",
                "Requests that ended with an app exception.",
                |w| w.exceptions,
            ),
            (
                "uwsgi_worker_harakiri_count_total",
                "counter",
                "Times harakiri killed the worker.",
                |w| w.harakiri_count,
            ),
            (
                "uwsgi_worker_respawn_count_total",
                "counter",
                "Times the worker was spawned.",
                |w| w.respawn_count,
            ),
            (
                "uwsgi_worker_transmitted_bytes_total",
                "counter",
                "Response bytes the worker sent.",
                |w| w.tx,
            ),
            (
                "uwsgi_worker_busy_threads",
                "gauge",
                "The worker's threads running a request.",
                |w| w.cores.iter().map(|c| c.in_request).sum(),
            ),
            (
                "uwsgi_worker_rss_bytes",
                "gauge",
                "The worker's resident set size.",
                |w| w.rss,
            ),
            (
                "uwsgi_worker_vsz_bytes",
                "gauge",
                "The worker's address space size.",
                |w| w.vsz,
            ),
        ];
        for (name, kind, help, value) in per_worker {
            family(
                name,
                kind,
                help,
                &mut self
                    .workers
                    .iter()
                    .map(|w| (format!("{{worker_id=\"{}\"}}", w.id), value(w))),
            );
        }
        let name = "uwsgi_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} How long requests took, from their head read to their response \
             written.\n# TYPE {name} histogram"
        );
        for w in &self.workers {
            let mut cumulative = 0;
            for (i, count) in w.buckets.iter().enumerate() {
                cumulative += count;
                let le = match DURATION_BUCKETS_US.get(i) {
                    Some(&bound) => format!("{}", bound as f64 / 1e6),
                    None => "+Inf".to_string(),
                };
                let _ = writeln!(
                    out,
                    "{name}_bucket{{worker_id=\"{}\",le=\"{le}\"}} {cumulative}",
                    w.id
                );
            }
            let _ = writeln!(
                out,
                "{name}_sum{{worker_id=\"{}\"}} {}\n{name}_count{{worker_id=\"{}\"}} {cumulative}",
                w.id,
                w.running_time as f64 / 1e6,
                w.id
            );
        }
        out
    }
}

/// A label value with `\`, `"` and newlines escaped, as the text format asks.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A listening socket's queue: the connections waiting to be accepted and its backlog
/// (0, 0 when the kernel does not say). Cheaper mode's `backlog` algorithm reads it too.
pub(crate) fn listen_queue(bound: &Bound) -> (u64, u64) {
    if is_unix(&bound.spec.address) {
        unix_queue(bound.fd.as_fd())
    } else {
        tcp_queue(bound.fd.as_fd())
    }
    .unwrap_or((0, 0))
}

fn socket_stats(bound: &Bound) -> SocketStats {
    let (queue, max_queue) = listen_queue(bound);
    SocketStats {
        name: bound.spec.address.clone(),
        proto: match bound.spec.protocol {
            ruwsgi_event_loop::Protocol::Http => "http",
            ruwsgi_event_loop::Protocol::Uwsgi => "uwsgi",
        },
        queue,
        max_queue,
        shared: 0,
        can_offload: 0,
    }
}

fn worker_stats(board: &Scoreboard, entry: &WorkerEntry) -> WorkerStats {
    let carried = &entry.carried;
    let Some(index) = entry.slot else {
        // No process now (waiting to be respawned): what its exited processes served.
        return WorkerStats {
            id: entry.id,
            pid: 0,
            accepting: 0,
            requests: carried.requests,
            delta_requests: 0,
            exceptions: carried.exceptions,
            harakiri_count: entry.harakiri_count,
            signals: 0,
            signal_queue: 0,
            status: if entry.cheap { "cheap" } else { "idle" },
            rss: 0,
            vsz: 0,
            running_time: carried.request_time_us,
            last_spawn: 0,
            respawn_count: entry.respawns,
            tx: carried.tx,
            avg_rt: average(carried.request_time_us, carried.requests),
            apps: [],
            cores: Vec::new(),
            buckets: carried.buckets,
        };
    };
    let slot = board.process(index);
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let pid = slot.pid().unwrap_or(0);
    let now_us = ruwsgi_shm::now_micros();
    let cores: Vec<CoreStats> = board
        .threads_of(index)
        .iter()
        .enumerate()
        .map(|(id, thread)| {
            let running = thread.snapshot();
            CoreStats {
                id,
                requests: load(&thread.requests),
                static_requests: 0,
                routed_requests: 0,
                offloaded_requests: 0,
                write_errors: 0,
                read_errors: 0,
                in_request: running.is_some() as u64,
                vars: running
                    .as_ref()
                    .map(|r| {
                        vec![
                            format!("REQUEST_METHOD={}", String::from_utf8_lossy(r.method())),
                            format!("REQUEST_URI={}", String::from_utf8_lossy(r.uri())),
                        ]
                    })
                    .unwrap_or_default(),
                req_info: RequestInfo {
                    request_start: running.map(|r| r.started_us.min(now_us) / 1_000_000),
                },
            }
        })
        .collect();
    let busy = cores.iter().any(|c| c.in_request == 1);
    let status = slot.status();
    let (rss, vsz) = memory_usage(pid).unwrap_or((load(&slot.rss), 0));
    let requests = load(&slot.requests);
    let request_time_us = load(&slot.request_time_us);
    let mut buckets = carried.buckets;
    for (sum, bucket) in buckets.iter_mut().zip(&slot.duration_buckets) {
        *sum += load(bucket);
    }
    WorkerStats {
        id: entry.id,
        pid,
        accepting: (status == ProcessStatus::Ready) as u64,
        requests: carried.requests + requests,
        delta_requests: requests,
        exceptions: carried.exceptions + load(&slot.exceptions),
        harakiri_count: entry.harakiri_count.max(load(&slot.harakiri_count)),
        signals: 0,
        signal_queue: 0,
        status: match status {
            ProcessStatus::Paused => "pause",
            _ if busy => "busy",
            _ => "idle",
        },
        rss,
        vsz,
        running_time: carried.request_time_us + request_time_us,
        last_spawn: load(&slot.spawned_at) / 1_000_000,
        respawn_count: entry.respawns.max(load(&slot.respawns)),
        tx: carried.tx + load(&slot.bytes_out),
        avg_rt: average(
            carried.request_time_us + request_time_us,
            carried.requests + requests,
        ),
        apps: [],
        cores,
        buckets,
    }
}

/// The mean request time in microseconds (uWSGI's `avg_rt` is a running average, each
/// request weighing half; ruwsgi reports the plain mean).
fn average(total_us: u64, requests: u64) -> u64 {
    total_us.checked_div(requests).unwrap_or(0)
}

/// A listening TCP socket's accept queue: Linux's `TCP_INFO` reports, for a socket in the
/// LISTEN state, the connections waiting to be accepted in `tcpi_unacked` and the backlog in
/// `tcpi_sacked` (as uWSGI reads them).
fn tcp_queue(fd: BorrowedFd<'_>) -> Option<(u64, u64)> {
    // SAFETY: tcp_info is plain data; all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` and `len` are valid for writes of the sizes given, and `fd` is open.
    let ok = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    } == 0;
    (ok && info.tcpi_sacked != 0).then_some((info.tcpi_unacked as u64, info.tcpi_sacked as u64))
}

/// A listening unix socket's accept queue and backlog, asked of the kernel through
/// `NETLINK_SOCK_DIAG` (`UNIX_DIAG_RQLEN`, what `ss -xl` shows), by the socket's inode.
/// uWSGI reports 0 for unix sockets on stock kernels; `None` (reported as 0) when the
/// kernel has no unix socket diagnostics.
fn unix_queue(fd: BorrowedFd<'_>) -> Option<(u64, u64)> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;

    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const UDIAG_SHOW_RQLEN: u32 = 0x10;
    const UNIX_DIAG_RQLEN: u16 = 4;
    const HEADER: usize = 16; // struct nlmsghdr
    const UNIX_DIAG_MSG: usize = 16; // struct unix_diag_msg

    let inode = std::fs::File::from(fd.try_clone_to_owned().ok()?)
        .metadata()
        .ok()?
        .ino() as u32;
    // struct nlmsghdr, then struct unix_diag_req (24 bytes), native byte order.
    let mut request = Vec::with_capacity(HEADER + 24);
    request.extend_from_slice(&((HEADER + 24) as u32).to_ne_bytes());
    request.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    request.extend_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    request.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    request.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
    request.extend_from_slice(&[libc::AF_UNIX as u8, 0, 0, 0]); // family, protocol, pad
    request.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
    request.extend_from_slice(&inode.to_ne_bytes());
    request.extend_from_slice(&UDIAG_SHOW_RQLEN.to_ne_bytes());
    request.extend_from_slice(&[0xff; 8]); // no cookie
    let mut socket = Socket::new(
        Domain::from(libc::AF_NETLINK),
        Type::DGRAM.cloexec(),
        Some(Protocol::from(libc::NETLINK_SOCK_DIAG)),
    )
    .ok()?;
    socket
        .set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .ok()?;
    // An unconnected netlink socket sends to the kernel, which answers at once.
    socket.send(&request).ok()?;
    let mut answer = [0u8; 512];
    let len = socket.read(&mut answer).ok()?;
    let answer = &answer[..len];
    let u16_at = |at: usize| Some(u16::from_ne_bytes(answer.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_ne_bytes(answer.get(at..at + 4)?.try_into().ok()?));
    if u16_at(4)? != SOCK_DIAG_BY_FAMILY {
        return None; // NLMSG_ERROR: no such socket, or no unix_diag in this kernel
    }
    let end = (u32_at(0)? as usize).min(answer.len());
    // The attributes (struct rtattr: length, type, payload padded to 4 bytes).
    let mut at = HEADER + UNIX_DIAG_MSG;
    while at + 4 <= end {
        let (attr_len, kind) = (u16_at(at)? as usize, u16_at(at + 2)?);
        if attr_len < 4 {
            return None;
        }
        if kind == UNIX_DIAG_RQLEN {
            // struct unix_diag_rqlen: for a listening socket, its queue and its backlog.
            return Some((u32_at(at + 4)? as u64, u32_at(at + 8)? as u64));
        }
        at += (attr_len + 3) & !3;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::SocketSpec;
    use ruwsgi_event_loop::Protocol;
    use ruwsgi_shm::{Layout, ProcessKind};

    fn bound(address: &str) -> Bound {
        crate::bind::bind(&SocketSpec {
            address: address.to_string(),
            protocol: Protocol::Uwsgi,
            backlog: 7,
            chmod: None,
            reuse_port: false,
            tuning: Default::default(),
            timeout: None,
        })
        .unwrap()
    }

    #[test]
    fn listen_queues_count_unaccepted_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let unix = bound(path.to_str().unwrap());
        let tcp = bound("127.0.0.1:0");
        let _clients = (
            std::net::TcpStream::connect(tcp.local_addr.unwrap()).unwrap(),
            std::net::TcpStream::connect(tcp.local_addr.unwrap()).unwrap(),
            std::os::unix::net::UnixStream::connect(&path).unwrap(),
        );
        assert_eq!(tcp_queue(tcp.fd.as_fd()), Some((2, 7)));
        // Without unix socket diagnostics in the kernel, 0 is reported (as uWSGI does).
        if let Some(queue) = unix_queue(unix.fd.as_fd()) {
            assert_eq!(queue, (1, 7));
        }
    }

    #[test]
    fn a_report_carries_what_exited_processes_served() {
        let board = Scoreboard::create(Layout::new(2, 2, 0)).unwrap();
        let slot = board.claim(4242, 1, ProcessKind::Worker, 0).unwrap();
        let process = board.process(slot);
        process.set_status(ProcessStatus::Ready);
        process.request_finished(100, false, 3_000);
        board.threads_of(slot)[1].request_started(ruwsgi_shm::now_micros(), 0, b"GET", b"/x");
        let mut carried = Carried::default();
        let gone = board.claim(4243, 2, ProcessKind::Worker, 0).unwrap();
        board.process(gone).request_finished(10, true, 20_000_000);
        carried.add(board.process(gone));
        let workers = [
            WorkerEntry {
                id: 1,
                slot: Some(slot),
                respawns: 1,
                harakiri_count: 0,
                cheap: false,
                carried: Carried::default(),
            },
            WorkerEntry {
                id: 2,
                slot: None,
                respawns: 3,
                harakiri_count: 2,
                cheap: true,
                carried,
            },
        ];
        let report = Report::gather(&board, &[], &workers, 1);
        let json: serde_json::Value = serde_json::from_slice(&report.to_json(false)).unwrap();
        let first = &json["workers"][0];
        assert_eq!(first["status"], "busy");
        assert_eq!(first["accepting"], 1);
        assert_eq!(
            (first["requests"].as_u64(), first["avg_rt"].as_u64()),
            (Some(1), Some(3000))
        );
        assert_eq!(first["cores"][1]["in_request"], 1);
        assert_eq!(first["cores"][1]["vars"][1], "REQUEST_URI=/x");
        let second = &json["workers"][1];
        assert_eq!(
            (second["pid"].as_u64(), second["status"].as_str()),
            (Some(0), Some("cheap"))
        );
        assert_eq!(
            second["harakiri_count"], 2,
            "the master's count outlives the process"
        );
        assert_eq!(
            (second["requests"].as_u64(), second["exceptions"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(second["respawn_count"], 3);
        let minified = report.to_json(true);
        assert!(!minified.contains(&b'\n') && !minified.contains(&b'\t'));

        let text = report.to_prometheus();
        for line in [
            "uwsgi_worker_requests_total{worker_id=\"1\"} 1",
            "uwsgi_busy_threads 1",
            "uwsgi_request_duration_seconds_bucket{worker_id=\"1\",le=\"0.005\"} 1",
            "uwsgi_request_duration_seconds_bucket{worker_id=\"2\",le=\"10\"} 0",
            "uwsgi_request_duration_seconds_bucket{worker_id=\"2\",le=\"+Inf\"} 1",
            "uwsgi_request_duration_seconds_count{worker_id=\"2\"} 1",
            "uwsgi_request_duration_seconds_sum{worker_id=\"2\"} 20",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
