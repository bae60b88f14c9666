//! The process manager (issue 5): master and workers, respawn, signals, pidfile commands,
//! daemonize, vacuum, privileges, preload vs lazy-apps, and the seed tutorial end to end.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ruwsgi_integration_tests::{
    app, children_of, connect, fd_targets, free_port, get, logged_pid, pid_alive, read_response,
    run_command, run_ruwsgi, ruwsgi_bin, test_venv, uwsgi_packet, uwsgi_unix_request, uwsgi_vars,
    wait_until, wait_until_for, Server, ServerBuilder,
};

/// Kills a daemonized server's process group on drop (it left the harness's group).
struct DaemonGuard(u32);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(-(self.0 as libc::pid_t), libc::SIGKILL) };
        // SAFETY: as above.
        unsafe { libc::kill(self.0 as libc::pid_t, libc::SIGKILL) };
    }
}

/// The daemon a detaching run of ruwsgi (`out`) left behind: asserts the run returned 0 to
/// the shell, then reads the daemon's pid from `pidfile` and guards it.
fn daemon_from(out: &std::process::Output, pidfile: &Path) -> (u32, DaemonGuard) {
    assert!(
        out.status.success(),
        "ruwsgi did not return 0: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = read_pid(pidfile);
    (pid, DaemonGuard(pid))
}

/// `ruwsgi --stop PIDFILE` succeeds and the daemon `pid` exits.
fn stop_daemon(pidfile: &Path, pid: u32) {
    let stop = run_ruwsgi(["--stop".as_ref(), pidfile.as_os_str()]);
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    wait_dead(pid);
}

/// Starts `ruwsgi --http-socket ADDR ARGS...` with `PROCESS_IMPORT_LOG` set for the
/// `process_imports.py` app, and waits until it accepts.
fn start_http(args: &[&str], import_log: &Path) -> (Server, std::net::SocketAddr) {
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut all = vec!["--http-socket".to_string(), addr.to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    let mut server = ServerBuilder::new(all)
        .env("PROCESS_IMPORT_LOG", import_log)
        .start();
    server.wait_for_tcp(addr);
    (server, addr)
}

fn workers(server: &Server, n: usize) -> Vec<u32> {
    wait_until(&format!("{n} workers"), || {
        let kids = children_of(server.pid);
        (kids.len() == n).then_some(kids)
    })
}

fn read_pid(path: &Path) -> u32 {
    wait_until(&format!("a pid in {}", path.display()), || {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    })
}

fn wait_dead(pid: u32) {
    wait_until(&format!("pid {pid} to exit"), || {
        (!pid_alive(pid)).then_some(())
    });
}

/// utime + stime of `pid` in clock ticks, from /proc/PID/stat.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let (_, rest) = stat.rsplit_once(')').expect("stat format");
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// The real uid of `pid`, from /proc/PID/status.
fn uid_of(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn without_master_one_worker_serves_in_the_foreground() {
    let (mut server, addr) = Server::http(["--builtin-handler"]);
    let resp = get(addr, "/");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "Hello World\n");
    assert!(
        children_of(server.pid).is_empty(),
        "no master: no forked workers"
    );
    server.signal(libc::SIGTERM);
    assert!(server.wait_exit().success());
}

#[test]
fn two_workers_have_different_pids() {
    let (server, addr) = Server::http(["--builtin-handler", "--master", "--processes", "2"]);
    let kids = workers(&server, 2);
    assert_ne!(kids[0], kids[1]);
    assert!(!kids.contains(&server.pid));
    assert_eq!(get(addr, "/").status, 200);
}

/// The scheduling policy of thread `tid` of `pid` (field 41 of its stat: 0 = SCHED_OTHER,
/// 3 = SCHED_BATCH) and its name.
fn policy_and_name(pid: u32, tid: u32) -> Option<(u32, String)> {
    let task = format!("/proc/{pid}/task/{tid}");
    let stat = std::fs::read_to_string(format!("{task}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts at field 3 (the state).
    let policy = rest.split_whitespace().nth(41 - 3)?.parse().ok()?;
    let name = std::fs::read_to_string(format!("{task}/comm")).ok()?;
    Some((policy, name.trim().to_string()))
}

/// A worker's loop thread (its main thread) wakes up for every request and every reply; it
/// runs under SCHED_BATCH so those wake-ups do not preempt the Python threads, which keep the
/// default policy (docs/architecture.md, "The loop thread does not preempt Python").
#[test]
fn the_loop_thread_runs_under_sched_batch_and_python_threads_do_not() {
    let app = app("process_slow.py");
    let (server, addr) = Server::http([
        "--wsgi-file",
        &app,
        "--master",
        "--processes",
        "1",
        "--threads",
        "2",
    ]);
    assert_eq!(get(addr, "/").status, 200);
    let worker = workers(&server, 1)[0];
    let (policy, _) = policy_and_name(worker, worker).expect("the worker's main thread");
    assert_eq!(policy, libc::SCHED_BATCH as u32, "the loop thread's policy");
    let (master_policy, _) = policy_and_name(server.pid, server.pid).expect("the master");
    assert_eq!(
        master_policy,
        libc::SCHED_OTHER as u32,
        "the master's policy"
    );
    let mut python = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{worker}/task")).unwrap() {
        let tid: u32 = entry
            .unwrap()
            .file_name()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        if let Some((policy, name)) = policy_and_name(worker, tid) {
            if name.starts_with("ruwsgi-py-") {
                python.push((name, policy));
            }
        }
    }
    python.sort();
    let other = libc::SCHED_OTHER as u32;
    assert_eq!(
        python,
        vec![
            ("ruwsgi-py-0".to_string(), other),
            ("ruwsgi-py-1".to_string(), other)
        ],
        "the Python threads' policies"
    );
}

/// A fork that fails while a worker is respawned (EAGAIN, injected in debug builds through
/// `RUWSGI_TEST_FAIL_FORKS`: the tests run as root in CI, where RLIMIT_NPROC does not bind)
/// does not stop the server: each failure is logged with its cause, the other worker keeps
/// serving, and the master tries again after a back-off until the worker is back.
#[test]
fn a_failed_fork_during_a_respawn_is_retried_and_the_server_keeps_serving() {
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let app = app("process_slow.py");
    let mut server = ServerBuilder::new([
        "--http-socket",
        &addr.to_string(),
        "--wsgi-file",
        &app,
        "--master",
        "--processes",
        "2",
    ])
    .env("RUWSGI_TEST_FAIL_FORKS", "3")
    .start();
    server.wait_for_tcp(addr);
    let before = workers(&server, 2);
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(before[0] as libc::pid_t, libc::SIGKILL) };
    let log = server.wait_for_log("(3 failed in a row)");
    assert_eq!(log.matches("cannot fork worker").count(), 3, "{log}");
    assert!(log.contains("Resource temporarily unavailable"), "{log}");
    assert!(server.is_running(), "the master stopped: {log}");
    for _ in 0..5 {
        assert_eq!(get(addr, "/").status, 200);
    }
    // The fourth fork succeeds: the killed worker is replaced, the other one kept.
    let after = wait_until("the worker replaced", || {
        let kids = children_of(server.pid);
        (kids.len() == 2 && !kids.contains(&before[0])).then_some(kids)
    });
    assert!(after.contains(&before[1]), "{before:?} -> {after:?}");
    assert_eq!(server.log().matches("cannot fork worker").count(), 3);
    for _ in 0..5 {
        assert_eq!(get(addr, "/").status, 200);
    }
}

#[test]
fn a_killed_worker_is_respawned_and_service_continues() {
    let (server, addr) = Server::http(["--builtin-handler", "--master", "--processes", "2"]);
    let before = workers(&server, 2);
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(before[0] as libc::pid_t, libc::SIGKILL) };
    let after = wait_until("a new worker replacing the killed one", || {
        let kids = children_of(server.pid);
        (kids.len() == 2 && !kids.contains(&before[0])).then_some(kids)
    });
    assert!(
        after.contains(&before[1]),
        "the other worker was left alone"
    );
    let log = server.wait_for_log("killed by SIGKILL");
    assert!(log.contains(&format!("(pid {}) died", before[0])), "{log}");
    for _ in 0..4 {
        assert_eq!(get(addr, "/").status, 200);
    }
}

/// Workers always die with their master (uWSGI needs `no-orphans` for it; accepted here).
#[test]
fn workers_die_with_a_killed_master() {
    let (mut server, _addr) = Server::http([
        "--builtin-handler",
        "--master",
        "--processes",
        "2",
        "--no-orphans",
    ]);
    let kids = workers(&server, 2);
    server.signal(libc::SIGKILL);
    assert!(!server.wait_exit().success());
    kids.iter().for_each(|&k| wait_dead(k));
    assert!(
        !server.log().contains("not implemented"),
        "{}",
        server.log()
    );
}

#[test]
fn stop_with_the_pidfile_sends_sigint_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("master.pid");
    let (mut server, addr) = Server::http([
        "--builtin-handler".as_ref(),
        "--master".as_ref(),
        "--processes=2".as_ref(),
        "--pidfile".as_ref(),
        pidfile.as_os_str(),
    ]);
    assert_eq!(read_pid(&pidfile), server.pid);
    let kids = workers(&server, 2);
    assert_eq!(get(addr, "/").status, 200);
    let out = run_ruwsgi(["--stop".as_ref(), pidfile.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(server.wait_exit().success());
    kids.iter().for_each(|&k| wait_dead(k));
    assert!(pidfile.exists(), "without vacuum the pidfile stays");
}

#[test]
fn stop_with_a_missing_pidfile_names_it() {
    let out = run_ruwsgi(["--stop", "/nonexistent/dir/uwsgi.pid"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/dir/uwsgi.pid"), "{err}");
}

fn stops_at_once_on(sig: i32) {
    let (mut server, _addr) = Server::http(["--builtin-handler", "--master", "--processes", "2"]);
    let kids = workers(&server, 2);
    server.signal(sig);
    assert!(server.wait_exit().success());
    kids.iter().for_each(|&k| wait_dead(k));
}

#[test]
fn sigint_stops_master_and_workers() {
    stops_at_once_on(libc::SIGINT);
}

#[test]
fn sigquit_stops_master_and_workers() {
    stops_at_once_on(libc::SIGQUIT);
}

/// The state letter of `pid` in /proc (R, S, T for stopped...).
fn state_of(pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or("")
        .to_string()
}

#[test]
fn sighup_and_reload_restart_the_workers_under_the_same_master() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("m.pid");
    let (server, addr) = Server::http([
        "--builtin-handler".as_ref(),
        "--master".as_ref(),
        "--processes=2".as_ref(),
        "--pidfile".as_ref(),
        pidfile.as_os_str(),
    ]);
    let first = workers(&server, 2);
    server.signal(libc::SIGHUP);
    let second = wait_until("two new workers after SIGHUP", || {
        let kids = children_of(server.pid);
        (kids.len() == 2 && kids.iter().all(|k| !first.contains(k))).then_some(kids)
    });
    assert_eq!(get(addr, "/").status, 200);
    let out = run_ruwsgi(["--reload".as_ref(), pidfile.as_os_str()]);
    assert!(out.status.success());
    wait_until("two new workers after --reload", || {
        let kids = children_of(server.pid);
        (kids.len() == 2 && kids.iter().all(|k| !second.contains(k))).then_some(())
    });
    assert_eq!(get(addr, "/").status, 200);
    assert!(
        !server.log().contains("quick deaths"),
        "restarts are not crashes"
    );
}

/// Sends SIGUSR1 to a 2-worker master `server` after 3 requests and asserts the logged
/// scoreboard names the workers and counts the 3 requests. A worker counts a request just
/// after writing its response, so a scoreboard logged at once may still show 2: the signal
/// is sent again until the count is 3 (never more).
fn sigusr1_counts_requests(server: &Server, addr: std::net::SocketAddr) {
    let kids = workers(server, 2);
    for _ in 0..3 {
        assert_eq!(get(addr, "/").status, 200);
    }
    let mut served = 0;
    for _ in 0..50 {
        let before = server.log().len();
        server.signal(libc::SIGUSR1);
        let log = wait_until("the scoreboard in the log", || {
            let log = server.log();
            let new = log.get(before..)?;
            new.contains("worker 2 pid").then(|| new.to_string())
        });
        assert!(
            log.contains(&format!("worker 1 pid {}", kids[0]))
                || log.contains(&format!("worker 1 pid {}", kids[1])),
            "{log}"
        );
        served = log
            .lines()
            .filter_map(|l| {
                l.split(" requests ")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum();
        assert!(served <= 3, "{log}");
        if served == 3 {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the scoreboard counted {served} of 3 requests");
}

#[test]
fn sigusr1_logs_the_scoreboard() {
    let (server, addr) = Server::http(["--builtin-handler", "--master", "--processes", "2"]);
    sigusr1_counts_requests(&server, addr);
}

#[test]
fn sigusr1_counts_the_requests_of_a_wsgi_app() {
    let app = app("process_slow.py");
    let (server, addr) = Server::http(["--wsgi-file", &app, "--master", "--processes", "2"]);
    sigusr1_counts_requests(&server, addr);
}

/// The Python thread serving a request writes it to its scoreboard thread slot: SIGUSR1 during
/// a slow request shows the method, URI and age the master reads from shared memory.
#[test]
fn sigusr1_shows_the_request_each_thread_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("in-flight");
    let (server, addr) = slow_app_server(&mark, &["--threads", "2"]);
    let slow = std::thread::spawn(move || get(addr, "/slow?who=stats"));
    wait_until("the slow request to be in flight", || {
        mark.exists().then_some(())
    });
    server.signal(libc::SIGUSR1);
    let log = server.wait_for_log("running for");
    let line = log
        .lines()
        .find(|l| l.contains("running for"))
        .expect("a running-request line");
    assert!(line.contains(": GET /slow?who=stats running for "), "{log}");
    let ms: u64 = line
        .split("running for ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("an age in ms");
    assert!(ms < 1_000, "the request started under a second ago: {log}");
    assert_eq!(slow.join().unwrap().text(), "slow done");
    // Once done, the slot is cleared (by the thread, right after the response went out):
    // a later dump shows no running request.
    wait_until("a dump without the finished request", || {
        server.signal(libc::SIGUSR1);
        // A thread line follows its worker line at once.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let log = server.log();
        let last = log.rsplit("stats of master").next()?;
        (last.contains("worker 1 pid") && !last.contains("running for")).then_some(())
    });
}

/// SIGTSTP stops `workers` (state `T`), a second one resumes them, and they serve.
fn assert_sigtstp_pauses_and_resumes(server: &Server, workers: &[u32], addr: std::net::SocketAddr) {
    server.signal(libc::SIGTSTP);
    wait_until("the workers stopped", || {
        workers.iter().all(|&k| state_of(k) == "T").then_some(())
    });
    server.signal(libc::SIGTSTP);
    wait_until("the workers running", || {
        workers.iter().all(|&k| state_of(k) != "T").then_some(())
    });
    assert_eq!(get(addr, "/").status, 200);
}

#[test]
fn sigtstp_pauses_and_resumes_the_workers() {
    let (server, addr) = Server::http(["--builtin-handler", "--master", "--processes", "2"]);
    let kids = workers(&server, 2);
    assert_sigtstp_pauses_and_resumes(&server, &kids, addr);
}

/// A reload while paused gives a running server: the paused workers resume to drain and
/// exit once their replacements are ready, the new workers run, and the next SIGTSTP pauses
/// them (the paused state does not outlive the reload).
#[test]
fn a_paused_server_reloads_into_a_running_one() {
    let (server, addr) = Server::http(["--builtin-handler", "--master", "--processes", "2"]);
    let old = workers(&server, 2);
    server.signal(libc::SIGTSTP);
    wait_until("both workers stopped", || {
        old.iter().all(|&k| state_of(k) == "T").then_some(())
    });
    server.signal(libc::SIGHUP);
    old.iter().for_each(|&k| wait_dead(k));
    let new = workers(&server, 2);
    assert!(new.iter().all(|k| !old.contains(k)), "{old:?} -> {new:?}");
    assert!(
        new.iter().all(|&k| state_of(k) != "T"),
        "a new worker is stopped"
    );
    assert_eq!(get(addr, "/").status, 200);
    assert_sigtstp_pauses_and_resumes(&server, &new, addr);
}

#[test]
fn a_busy_address_exits_1_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run_ruwsgi(["--http-socket", &addr, "--builtin-handler", "--master"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot bind {addr}")), "{err}");
}

#[test]
fn a_listen_backlog_over_somaxconn_is_warned_about() {
    let (server, _addr) = Server::http(["--builtin-handler", "--listen", "1000000"]);
    let log = server.wait_for_log("somaxconn");
    assert!(log.contains("listen queue size 1000000"), "{log}");
}

/// A one-worker master serving `process_slow.py` over HTTP, with `extra` arguments; its
/// `/slow` creates `mark` once the request is in flight.
fn slow_app_server(mark: &std::path::Path, extra: &[&str]) -> (Server, std::net::SocketAddr) {
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut args = vec![
        "--http-socket".to_string(),
        addr.to_string(),
        "--wsgi-file".into(),
        app("process_slow.py"),
        "--master".into(),
        "--processes".into(),
        "1".into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let mut server = ServerBuilder::new(args)
        .env("PROCESS_SLOW_MARK", mark)
        .start();
    server.wait_for_tcp(addr);
    (server, addr)
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("in-flight");
    let (mut server, addr) = slow_app_server(&mark, &[]);
    let kids = workers(&server, 1);
    assert_eq!(get(addr, "/").text(), "fast");
    let slow = std::thread::spawn(move || get(addr, "/slow"));
    wait_until("the slow request to be in flight", || {
        mark.exists().then_some(())
    });
    server.signal(libc::SIGTERM);
    let resp = slow.join().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "slow done");
    assert!(server.wait_exit().success());
    wait_dead(kids[0]);
    // The listener was closed: nothing accepts any more.
    assert!(std::net::TcpStream::connect(addr).is_err());
}

/// A graceful stop (SIGTERM) answers every connection already queued behind a busy worker
/// and, while the in-flight request still runs, refuses new ones: the listening socket
/// closes at once instead of queueing connections that no process would take (which a
/// client, or nginx with a POST it will not retry, would see reset).
#[test]
fn sigterm_answers_the_queued_connections_and_refuses_new_ones() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("in-flight");
    let (mut server, addr) = slow_app_server(&mark, &[]);
    let slow = std::thread::spawn(move || get(addr, "/slow"));
    wait_until("the slow request to be in flight", || {
        mark.exists().then_some(())
    });
    // The worker's one thread is busy: these wait in the kernel's queue.
    let queued: Vec<_> = (0..5)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    server.signal(libc::SIGTERM);
    wait_until("a new connection to be refused", || {
        std::net::TcpStream::connect(addr).err()
    });
    assert!(
        !slow.is_finished(),
        "refused while the one-second request still runs"
    );
    for mut s in queued {
        let resp = read_response(&mut s, false).expect("a queued connection is answered");
        assert_eq!((resp.status, resp.text()), (200, "fast".to_string()));
    }
    let resp = slow.join().unwrap();
    assert_eq!(resp.text(), "slow done");
    assert!(server.wait_exit().success(), "{}", server.log());
}

/// The inode of the TCP socket listening on `addr`, from /proc/net/tcp (state 0A).
fn listening_inode(addr: std::net::SocketAddr) -> String {
    let port = format!(":{:04X}", addr.port());
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table
        .lines()
        .skip(1)
        .find_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f[1].ends_with(&port) && f[3] == "0A").then(|| f[9].to_string())
        })
        .expect("the listening socket in /proc/net/tcp")
}

/// Who holds the listening socket: the master one copy (handed over at a reload), a
/// worker one (its loop's; the copy it inherited at the fork is closed), a mule none. So
/// when a stop closes the master's and the workers' copies, no process keeps the socket
/// open to queue connections nobody will accept.
#[test]
fn a_worker_holds_one_copy_of_the_listening_socket_and_a_mule_none() {
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("in-flight");
    let (server, addr) = slow_app_server(&mark, &["--mules", "1"]);
    let worker = wait_until("worker 1's pid", || {
        logged_pid(&server.log(), "spawned worker 1")
    });
    let mule = wait_until("mule 1's pid", || {
        logged_pid(&server.log(), "spawned mule 1")
    });
    let socket = format!("socket:[{}]", listening_inode(addr));
    let copies = |pid: u32| fd_targets(pid).iter().filter(|t| **t == socket).count();
    // The worker closes its inherited copy once its loop has its own.
    wait_until("the worker to hold one copy", || {
        (copies(worker) == 1).then_some(())
    });
    assert_eq!(get(addr, "/").text(), "fast");
    assert_eq!(copies(worker), 1, "{:?}", fd_targets(worker));
    assert_eq!(copies(server.pid), 1, "{:?}", fd_targets(server.pid));
    assert_eq!(copies(mule), 0, "{:?}", fd_targets(mule));
}

/// Without `--master`, the lone worker answers signals as uWSGI's does: SIGUSR1 logs the
/// stats and it keeps serving; SIGHUP lets the in-flight request finish, then it exits 0 and
/// vacuum removes its pidfile (the default action would kill it and skip vacuum).
#[test]
fn a_worker_without_master_logs_stats_on_usr1_and_stops_gracefully_on_hup() {
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("in-flight");
    let pidfile = dir.path().join("ruwsgi.pid");
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut server = ServerBuilder::new([
        "--http-socket".as_ref(),
        addr.to_string().as_ref(),
        "--wsgi-file".as_ref(),
        app("process_slow.py").as_ref(),
        "--pidfile".as_ref(),
        pidfile.as_os_str(),
        "--vacuum".as_ref(),
    ])
    .env("PROCESS_SLOW_MARK", &mark)
    .start();
    server.wait_for_tcp(addr);
    assert_eq!(read_pid(&pidfile), server.pid);
    assert_eq!(get(addr, "/").text(), "fast");

    // The request is counted just after its response is written: signal until the stats
    // logged show it.
    let counted = (0..50).any(|_| {
        let before = server.log().len();
        server.signal(libc::SIGUSR1);
        let stats = wait_until("the stats in the log", || {
            let log = server.log();
            let new = log.get(before..)?;
            new.contains("status ready requests")
                .then(|| new.to_string())
        });
        let done = stats.contains("status ready requests 1 ");
        if !done {
            std::thread::sleep(Duration::from_millis(20));
        }
        done
    });
    assert!(counted, "{}", server.log());
    assert!(
        server.is_running(),
        "SIGUSR1 ended the worker:\n{}",
        server.log()
    );
    assert_eq!(get(addr, "/").text(), "fast");

    let slow = std::thread::spawn(move || get(addr, "/slow"));
    wait_until("the slow request to be in flight", || {
        mark.exists().then_some(())
    });
    server.signal(libc::SIGHUP);
    let resp = slow.join().unwrap();
    assert_eq!((resp.status, resp.text().as_str()), (200, "slow done"));
    let status = server.wait_exit();
    assert!(status.success(), "{status:?}:\n{}", server.log());
    server.wait_for_log("Gracefully killing worker 1");
    assert!(!pidfile.exists(), "vacuum removed the pidfile");
}

#[test]
fn a_crash_looping_app_does_not_spin_the_master() {
    let server = Server::start([
        "--http-socket",
        &format!("127.0.0.1:{}", free_port()),
        "--wsgi-file",
        &app("process_crash.py"),
        "--master",
        "--lazy-apps",
        "--processes",
        "1",
    ]);
    server.wait_for_log("quick deaths in a row");
    let start = cpu_ticks(server.pid);
    let t0 = Instant::now();
    wait_until_for(Duration::from_secs(10), "3 seconds to pass", || {
        (t0.elapsed() >= Duration::from_secs(3)).then_some(())
    });
    let used = cpu_ticks(server.pid) - start;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    // Under 10% of one core over 3 s.
    assert!(
        used * 10 < hz * 3,
        "master used {used} ticks ({hz}/s) in 3 s:\n{}",
        server.log()
    );
    let respawns = server.log().matches("died after").count();
    assert!(
        respawns < 15,
        "{respawns} respawns in ~3 s: no back-off\n{}",
        server.log()
    );
}

#[test]
fn an_app_that_fails_to_load_exits_22_under_preload() {
    let addr = format!("127.0.0.1:{}", free_port());
    let out = run_ruwsgi([
        "--http-socket",
        &addr,
        "--wsgi-file",
        &app("process_broken.py"),
        "--master",
    ]);
    assert_eq!(out.status.code(), Some(22));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken on purpose"), "{err}");
}

#[test]
fn an_app_that_fails_to_load_in_a_lazy_worker_stops_the_server_with_22() {
    let addr = format!("127.0.0.1:{}", free_port());
    let out = run_ruwsgi([
        "--http-socket",
        &addr,
        "--wsgi-file",
        &app("process_broken.py"),
        "--master",
        "--lazy-apps",
        "--processes",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(22));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not load the app"), "{err}");
}

#[test]
fn preload_warns_about_threads_the_app_started_at_import() {
    let (server, addr) = Server::http([
        "--wsgi-file",
        &app("process_threads.py"),
        "--master",
        "--processes",
        "2",
    ]);
    let log = server.wait_for_log("my-scheduler");
    assert!(
        log.contains("--lazy-apps"),
        "the warning suggests a way out:\n{log}"
    );
    assert_eq!(get(addr, "/").text(), "ok");
}

#[test]
fn logto_sends_the_log_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ruwsgi.log");
    let (server, addr) = Server::http([
        "--builtin-handler".as_ref(),
        "--master".as_ref(),
        "--logto".as_ref(),
        log.as_os_str(),
    ]);
    assert_eq!(get(addr, "/").status, 200);
    wait_until("the log file to name the worker", || {
        std::fs::read_to_string(&log)
            .ok()?
            .contains("spawned worker 1")
            .then_some(())
    });
    assert!(!server.log().contains("spawned worker"), "{}", server.log());
}

#[test]
fn daemonize2_detaches_after_loading_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("d2.log");
    let pidfile = dir.path().join("d2.pid");
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    // An app that cannot load is reported on the terminal (status 22), not only in the log.
    let out = run_ruwsgi([
        "--http-socket".as_ref(),
        addr.to_string().as_ref(),
        "--wsgi-file".as_ref(),
        app("process_broken.py").as_ref(),
        "--daemonize2".as_ref(),
        log.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(22));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken on purpose"));
    let out = run_ruwsgi([
        "--http-socket".as_ref(),
        addr.to_string().as_ref(),
        "--wsgi-file".as_ref(),
        app("process_slow.py").as_ref(),
        "--master".as_ref(),
        "--daemonize2".as_ref(),
        log.as_os_str(),
        "--pidfile".as_ref(),
        pidfile.as_os_str(),
    ]);
    let (pid, _guard) = daemon_from(&out, &pidfile);
    wait_until("the daemon to answer", || {
        std::net::TcpStream::connect(addr).ok()
    });
    assert_eq!(get(addr, "/").text(), "fast");
    stop_daemon(&pidfile, pid);
}

#[test]
fn chown_socket_sets_the_owner_of_the_unix_socket() {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    // SAFETY: getuid has no preconditions.
    let uid = if root {
        65534
    } else {
        // SAFETY: getuid has no preconditions.
        unsafe { libc::getuid() }
    };
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("c.sock");
    let mut server = Server::start([
        "--socket".as_ref(),
        sock.as_os_str(),
        "--builtin-handler".as_ref(),
        "--chown-socket".as_ref(),
        uid.to_string().as_ref(),
        "--chmod-socket".as_ref(),
        "660".as_ref(),
    ]);
    server.wait_for_unix(&sock);
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!(meta.uid(), uid);
    assert_eq!(meta.mode() & 0o777, 0o660);
}

#[test]
fn daemonize_returns_to_the_shell_and_logs_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("daemon.log");
    let pidfile = dir.path().join("d.pid");
    let sock = dir.path().join("d.sock");
    let port = free_port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let out = run_ruwsgi([
        "--http-socket".as_ref(),
        addr.to_string().as_ref(),
        "--socket".as_ref(),
        sock.as_os_str(),
        "--builtin-handler".as_ref(),
        "--master".as_ref(),
        "--daemonize".as_ref(),
        log.as_os_str(),
        "--pidfile".as_ref(),
        pidfile.as_os_str(),
    ]);
    let (pid, _guard) = daemon_from(&out, &pidfile);
    assert!(pid_alive(pid));
    wait_until("the daemon to answer", || {
        std::net::TcpStream::connect(addr).ok().map(|_| ())
    });
    assert_eq!(get(addr, "/").status, 200);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("spawned worker 1"), "{text}");
    assert!(out.stdout.is_empty() && !String::from_utf8_lossy(&out.stderr).contains("spawned"));
    // Detached, the umask is 0 (no `umask` given), as under uWSGI: a web server running as
    // another user can use the socket. The pidfile stays writable by its owner only.
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o777
    };
    assert_eq!(mode(&sock), 0o777, "unix socket");
    assert_eq!(mode(&pidfile), 0o644, "pidfile");
    stop_daemon(&pidfile, pid);
}

#[test]
fn vacuum_removes_sockets_and_pidfiles_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("app.sock");
    let pidfile = dir.path().join("app.pid");
    let safe_pidfile = dir.path().join("safe.pid");
    let safe_pidfile2 = dir.path().join("safe2.pid");
    let other = dir.path().join("keep.txt");
    std::fs::write(&other, "mine").unwrap();
    let mut server = Server::start([
        "--socket".as_ref(),
        sock.as_os_str(),
        "--builtin-handler".as_ref(),
        "--master".as_ref(),
        "--vacuum".as_ref(),
        "--pidfile".as_ref(),
        pidfile.as_os_str(),
        "--safe-pidfile".as_ref(),
        safe_pidfile.as_os_str(),
        "--safe-pidfile2".as_ref(),
        safe_pidfile2.as_os_str(),
    ]);
    server.wait_for_unix(&sock);
    let resp = uwsgi_unix_request(&sock, &uwsgi_packet(&uwsgi_vars("GET", "/"), b""));
    assert_eq!(resp.status, 200);
    assert!(pidfile.exists());
    // safe-pidfile and safe-pidfile2: the master's pid, once its workers are spawned.
    for path in [&safe_pidfile, &safe_pidfile2] {
        let pid = wait_until("the safe pidfile", || {
            std::fs::read_to_string(path)
                .ok()
                .filter(|s| s.ends_with('\n'))
        });
        assert_eq!(pid.trim(), server.pid.to_string());
    }
    server.signal(libc::SIGINT);
    assert!(server.wait_exit().success());
    assert!(!sock.exists(), "vacuum removes the unix socket");
    assert!(!pidfile.exists(), "vacuum removes the pidfile");
    assert!(!safe_pidfile.exists(), "vacuum removes the safe pidfile");
    assert!(!safe_pidfile2.exists(), "vacuum removes safe-pidfile2");
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "mine");
    assert!(dir.path().exists());
}

#[test]
fn without_vacuum_the_socket_file_stays() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("app.sock");
    let mut server = Server::start([
        "--socket".as_ref(),
        sock.as_os_str(),
        "--builtin-handler".as_ref(),
    ]);
    server.wait_for_unix(&sock);
    server.signal(libc::SIGINT);
    assert!(server.wait_exit().success());
    assert!(sock.exists());
}

#[test]
fn workers_drop_to_uid_and_gid_when_root() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    // As root, drop to nobody (65534); otherwise asking for our own ids is a no-op.
    // SAFETY: getuid/getgid have no preconditions.
    let (uid, gid) = if root {
        (65534, 65534)
    } else {
        // SAFETY: getuid and getgid have no preconditions.
        unsafe { (libc::getuid(), libc::getgid()) }
    };
    let dir = tempfile::tempdir().unwrap();
    let imports = dir.path().join("imports.log");
    std::fs::write(&imports, "").unwrap();
    // The app (imported after the drop) must be able to append to its log.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    std::fs::set_permissions(
        &imports,
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    let uid_s = uid.to_string();
    let gid_s = gid.to_string();
    let (server, addr) = start_http(
        &[
            "--wsgi-file",
            &app("process_imports.py"),
            "--master",
            "--processes",
            "2",
            "--uid",
            &uid_s,
            "--gid",
            &gid_s,
        ],
        &imports,
    );
    for k in workers(&server, 2) {
        assert_eq!(uid_of(k), uid);
        if root {
            let status = std::fs::read_to_string(format!("/proc/{k}/status")).unwrap();
            let groups = status.lines().find(|l| l.starts_with("Groups:")).unwrap();
            assert_eq!(
                groups.split_whitespace().skip(1).collect::<Vec<_>>(),
                vec!["65534"]
            );
        }
    }
    let body = get(addr, "/").text();
    assert!(body.contains(&format!("uid={uid} gid={gid}")), "{body}");
}

/// `master-as-root`: the master keeps its privileges; each worker runs the as-root hooks
/// and drops to `uid`/`gid` after its fork.
#[test]
fn master_as_root_keeps_the_master_root_and_drops_the_workers() {
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let root = me == 0;
    let user = if root { 65534 } else { me };
    let dir = tempfile::tempdir().unwrap();
    let imports = dir.path().join("imports.log");
    let marks = dir.path().join("as-root.txt");
    let user_s = user.to_string();
    let hook = format!("exec:id -u >> {}", marks.display());
    let (server, addr) = start_http(
        &[
            "--wsgi-file",
            &app("health.py"),
            "--master",
            "--processes",
            "2",
            "--uid",
            &user_s,
            "--gid",
            &user_s,
            "--master-as-root",
            "--hook-as-root",
            &hook,
        ],
        &imports,
    );
    assert_eq!(get(addr, "/").status, 200);
    assert_eq!(uid_of(server.pid), me, "the master keeps its privileges");
    for k in workers(&server, 2) {
        // Dropped right after the fork.
        wait_until("the worker to drop its privileges", || {
            (uid_of(k) == user).then_some(())
        });
    }
    if root {
        // Each worker ran the as-root hook, as root, before dropping.
        let ran = wait_until("both workers' as-root hooks", || {
            let text = std::fs::read_to_string(&marks).unwrap_or_default();
            (text.lines().count() == 2).then_some(text)
        });
        assert!(ran.lines().all(|l| l == "0"), "{ran}");
    }
}

fn imports_with(lazy: bool) -> (Vec<u32>, u32, Vec<u32>) {
    let dir = tempfile::tempdir().unwrap();
    let imports = dir.path().join("imports.log");
    let mut args = vec!["--wsgi-file".to_string(), app("process_imports.py")];
    args.extend(["--master", "--processes", "2"].map(String::from));
    if lazy {
        args.push("--lazy-apps".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (server, addr) = start_http(&args, &imports);
    let kids = workers(&server, 2);
    let expected = if lazy { 2 } else { 1 };
    let lines = wait_until("the imports to be logged", || {
        let text = std::fs::read_to_string(&imports).ok()?;
        let pids: Vec<u32> = text.lines().filter_map(|l| l.parse().ok()).collect();
        (pids.len() >= expected).then_some(pids)
    });
    // Serve a few requests so any late import would show up.
    for _ in 0..4 {
        assert_eq!(get(addr, "/").status, 200);
    }
    let text = std::fs::read_to_string(&imports).unwrap();
    let all: Vec<u32> = text.lines().filter_map(|l| l.parse().ok()).collect();
    assert_eq!(all, lines, "no further imports while serving");
    (all, server.pid, kids)
}

#[test]
fn preload_imports_the_app_once_in_the_master() {
    let (imports, master, _) = imports_with(false);
    assert_eq!(imports, vec![master]);
}

#[test]
fn lazy_apps_imports_the_app_once_per_worker() {
    let (imports, master, kids) = imports_with(true);
    let set: BTreeSet<u32> = imports.iter().copied().collect();
    assert_eq!(imports.len(), 2);
    assert_eq!(set, kids.iter().copied().collect::<BTreeSet<u32>>());
    assert!(!set.contains(&master));
}

// ---- The seed tutorial end to end ----

/// The `[uwsgi]` block of the tutorial the project grew from, saved byte for byte in
/// `integration-tests/apps/seed/uwsgi.ini`.
fn seed_ini() -> String {
    let saved = ruwsgi_integration_tests::apps_dir()
        .join("seed")
        .join("uwsgi.ini");
    std::fs::read_to_string(&saved).expect("integration-tests/apps/seed/uwsgi.ini")
}

fn site_packages(venv: &Path) -> PathBuf {
    let lib = venv.join("lib");
    std::fs::read_dir(&lib)
        .expect("venv lib")
        .flatten()
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.exists())
        .expect("site-packages in the venv")
}

/// `django-admin startproject mysite` in `parent`; returns the project dir.
fn django_project(parent: &Path) -> PathBuf {
    let venv = test_venv();
    let mut cmd = Command::new(venv.join("bin").join("django-admin"));
    cmd.args(["startproject", "mysite"]).current_dir(parent);
    let out = run_command(cmd);
    assert!(
        out.status.success(),
        "startproject: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parent.join("mysite")
}

/// The tutorial's `wsgi.py` (step "连接django和uwsgi", 2), byte for byte but for the
/// indentation of the page it was printed in.
const SEED_WSGI_PY: &str = "import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')

application = get_wsgi_application()
";

/// Views the test adds to the tutorial's project (the tutorial leaves them to the reader):
/// a page whose text the test edits, a form target that takes a POST, and a view slower
/// than the tutorial's `harakiri = 20`.
fn seed_views(greeting: &str) -> String {
    format!(
        "import time

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt


def hello(request):
    return HttpResponse('{greeting}')


@csrf_exempt
def echo(request):
    return HttpResponse('%s %d bytes: %s' % (request.method, len(request.body), request.POST.get('name', '')))


def slow(request):
    time.sleep(40)
    return HttpResponse('too late')
"
    )
}

const SEED_URLS_PY: &str = "from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path('admin/', admin.site.urls),
    path('hello/', views.hello),
    path('echo/', views.echo),
    path('slow/', views.slow),
]
";

/// The tutorial end to end: `django-admin startproject mysite`, its `wsgi.py`, its
/// `uwsgi.ini` verbatim started with `ruwsgi --ini`, real nginx in front with `uwsgi_pass
/// unix:` and the stock `uwsgi_params`, pages and a POST through nginx, an edit of a view
/// picked up by `py-autoreload`, then `ruwsgi --stop ./uwsgi/uwsgi.pid` and `vacuum`
/// leaving nothing behind. Substitutions: the project lives in a temp directory and Django
/// comes from the test venv through `PYTHONPATH` (the tutorial installs it into the system
/// Python); `uid`/`gid = root` are as written, the test runs as root in CI (elsewhere they
/// drop to the running user, a no-op).
#[test]
fn seed_tutorial_ini_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let project = django_project(tmp.path());
    let app_dir = project.join("mysite");
    std::fs::write(app_dir.join("wsgi.py"), SEED_WSGI_PY).unwrap();
    std::fs::write(app_dir.join("views.py"), seed_views("hello, first version")).unwrap();
    std::fs::write(app_dir.join("urls.py"), SEED_URLS_PY).unwrap();
    std::fs::create_dir_all(project.join("uwsgi")).unwrap();
    std::fs::create_dir_all(project.join("logs")).unwrap();
    std::fs::write(project.join("uwsgi").join("uwsgi.ini"), seed_ini()).unwrap();
    let mut cmd = Command::new(ruwsgi_bin());
    cmd.args(["--ini", "./uwsgi/uwsgi.ini"])
        .current_dir(&project)
        .env("PYTHONPATH", site_packages(&test_venv()));
    let out = run_command(cmd);
    let pidfile = project.join("uwsgi").join("uwsgi.pid");
    let sock = project.join("uwsgi").join("uwsgi.sock");
    let (pid, _guard) = daemon_from(&out, &pidfile);
    wait_until("the seed's unix socket", || {
        std::os::unix::net::UnixStream::connect(&sock)
            .ok()
            .map(|_| ())
    });
    let kids = wait_until("the seed's 2 workers", || {
        let k = children_of(pid);
        (k.len() == 2).then_some(k)
    });
    let direct = uwsgi_unix_request(&sock, &uwsgi_packet(&uwsgi_vars("GET", "/hello/"), b""));
    assert_eq!(direct.text(), "hello, first version");

    let nginx = ruwsgi_integration_tests::Nginx::start(&format!("unix:{}", sock.display()));
    let through = |raw: &str| nginx.request(raw.as_bytes());
    let get = |path: &str| {
        through(&format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        ))
    };
    // Django's own page for a path the project does not route (DEBUG is on).
    let missing = get("/");
    assert_eq!(missing.status, 404, "{}", nginx.error_log());
    assert!(missing.text().contains("Django"), "{}", missing.text());
    let admin = get("/admin/login/");
    assert_eq!(admin.status, 200, "{}", admin.text());
    assert!(admin.text().contains("csrfmiddlewaretoken"));
    assert_eq!(get("/hello/").text(), "hello, first version");
    let form = "name=ruwsgi&x=1";
    let post = through(&format!(
        "POST /echo/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    ));
    assert_eq!(post.status, 200, "{}", post.text());
    assert_eq!(post.text(), "POST 15 bytes: ruwsgi");

    // An edit of the view: py-autoreload (1 s) reloads, and nginx serves the new text.
    std::fs::write(app_dir.join("views.py"), seed_views("hello, edited")).unwrap();
    wait_until("the edited view through nginx", || {
        let r = get("/hello/");
        (r.status == 200 && r.text() == "hello, edited").then_some(())
    });
    assert_eq!(get("/admin/login/").status, 200);
    let reloaded = children_of(pid);

    let mut stop = Command::new(ruwsgi_bin());
    stop.args(["--stop", "./uwsgi/uwsgi.pid"])
        .current_dir(&project);
    assert!(run_command(stop).status.success());
    wait_dead(pid);
    kids.iter().chain(&reloaded).for_each(|&k| wait_dead(k));
    assert!(!sock.exists(), "vacuum removed the socket");
    assert!(!pidfile.exists(), "vacuum removed the pidfile");
    drop(nginx);
    // Every option of the seed's ini works now: none is reported as not implemented.
    let log = std::fs::read_to_string(project.join("logs").join("uwsgi.log")).unwrap();
    let said = format!("{}{log}", String::from_utf8_lossy(&out.stderr));
    assert!(!said.contains("not implemented yet"), "{said}");
    assert!(log.contains("py-autoreload: "), "{log}");
}

/// Whether every directory down to the venv's base Python (`home` in pyvenv.cfg) is
/// searchable by other users.
fn python_readable_by_others(venv: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let cfg = std::fs::read_to_string(venv.join("pyvenv.cfg")).unwrap_or_default();
    let Some(home) = cfg.lines().find_map(|l| l.strip_prefix("home = ")) else {
        return false;
    };
    Path::new(home.trim())
        .ancestors()
        .all(|dir| std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

#[test]
fn seed_tutorial_long_command_line_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    // The command drops to uid 1000 / gid 2000 as root: the project, the pidfile's and the
    // log's directories must be usable by that user.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let project = django_project(tmp.path());
    std::fs::write(project.join("mysite").join("views.py"), seed_views("hello")).unwrap();
    std::fs::write(project.join("mysite").join("urls.py"), SEED_URLS_PY).unwrap();
    let venv = test_venv();
    let run_dir = tmp.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::set_permissions(
        &run_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let pidfile = run_dir.join("project-master.pid");
    let log = run_dir.join("yourproject.log");
    let port = free_port();
    // The command drops to uid 1000 / gid 2000. That user must be able to read the Python
    // installation the venv is based on; where it cannot (a pyenv under a 0700 /root, as on
    // the CI image), the drop is to the current ids instead, which is a no-op: the test
    // then shows everything but the privilege change, which
    // `workers_drop_to_uid_and_gid_when_root` covers.
    let (uid, gid) = if python_readable_by_others(&venv) {
        (1000, 2000)
    } else {
        // SAFETY: getuid/getgid have no preconditions.
        unsafe { (libc::getuid(), libc::getgid()) }
    };
    // The seed's command, joined on one line without its comments; the placeholder paths
    // (/path/to/your/project, /path/to/virtual/env, /tmp/..., /var/log/...) and the port are
    // replaced by real ones. A smaller max-requests given after the tutorial's wins, as on
    // uWSGI's command line.
    let line = format!(
        "--chdir={project} --module=mysite.wsgi:application --env DJANGO_SETTINGS_MODULE=mysite.settings \
         --master --pidfile={pid} --socket=127.0.0.1:{port} --processes=5 --uid={uid} --gid={gid} \
         --harakiri=20 --max-requests=5000 --vacuum --home={venv} --daemonize={log} \
         --max-requests=3",
        project = project.display(),
        pid = pidfile.display(),
        venv = venv.display(),
        log = log.display(),
    );
    let mut cmd = Command::new(ruwsgi_bin());
    cmd.args(line.split_whitespace()).current_dir(tmp.path());
    let out = run_command(cmd);
    let (pid, _guard) = daemon_from(&out, &pidfile);
    let kids = wait_until("5 workers", || {
        let k = children_of(pid);
        (k.len() == 5).then_some(k)
    });
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        kids.iter().for_each(|&k| assert_eq!(uid_of(k), uid));
    }
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    // harakiri = 20: a request that outlives it is cut, its worker killed and replaced.
    let slow = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let started = std::time::Instant::now();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        s.write_all(&uwsgi_packet(&uwsgi_vars("GET", "/slow/"), b""))
            .unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        (started.elapsed(), answer)
    });
    // max-requests = 3 (the later value): workers recycle after three requests each.
    for _ in 0..16 {
        let resp = ruwsgi_integration_tests::uwsgi_tcp_request(
            addr,
            &uwsgi_packet(&uwsgi_vars("GET", "/hello/"), b""),
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.text(), "hello");
    }
    wait_until("a worker recycled after max-requests", || {
        let text = std::fs::read_to_string(&log).ok()?;
        text.contains("max-requests reached (3 requests)")
            .then_some(())
    });
    let (took, answer) = slow.join().unwrap();
    assert!(
        took >= std::time::Duration::from_secs(19) && took < std::time::Duration::from_secs(35),
        "the slow request ended after {took:?}"
    );
    assert!(!String::from_utf8_lossy(&answer).contains("too late"));
    wait_until("the harakiri in the log", || {
        let text = std::fs::read_to_string(&log).ok()?;
        text.contains("HARAKIRI ON WORKER").then_some(())
    });
    let replaced = children_of(pid);
    stop_daemon(&pidfile, pid);
    kids.iter().chain(&replaced).for_each(|&k| wait_dead(k));
    assert!(!pidfile.exists(), "vacuum removed the pidfile");
}

/// The lines of `path` once it has `n` of them.
fn lines_of(path: &Path, n: usize) -> Vec<String> {
    wait_until(&format!("{n} lines in {}", path.display()), || {
        let text = std::fs::read_to_string(path).ok()?;
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        (lines.len() >= n).then_some(lines)
    })
}

#[test]
fn hooks_run_once_in_the_master_and_once_per_worker() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hooks.log");
    let record = |what: &str| format!("exec:echo {what} $PPID >> {}", log.display());
    let (server, addr) = Server::http([
        "--builtin-handler",
        "--master",
        "--processes",
        "2",
        "--hook-pre-app",
        &record("pre-app"),
        "--hook-master-start",
        &record("master-start"),
        "--hook-post-fork",
        &record("post-fork"),
    ]);
    let kids = workers(&server, 2);
    assert_eq!(get(addr, "/").status, 200);
    let mut lines = lines_of(&log, 4);
    lines.sort();
    // `$PPID` of the shell is the process that ran the hook.
    let master = server.pid;
    let mut want = vec![
        format!("master-start {master}"),
        format!("pre-app {master}"),
        format!("post-fork {}", kids[0]),
        format!("post-fork {}", kids[1]),
    ];
    want.sort();
    assert_eq!(lines, want);
}

#[test]
fn a_failing_pre_app_hook_stops_the_server_with_status_1() {
    let out = run_ruwsgi([
        "--http-socket",
        &format!("127.0.0.1:{}", free_port()),
        "--builtin-handler",
        "--hook-pre-app",
        "exec:exit 7",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pre-app hook \"exec:exit 7\" failed"),
        "{stderr}"
    );
}

/// What `ps` shows for `pid`: its command line, the arguments joined by spaces.
fn cmdline(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The sorted titles of `master`'s children once every one has `prefix`'s title.
fn titled_workers(master: u32, prefix: &str) -> Vec<(u32, String)> {
    wait_until("the workers' titles", || {
        let mut kids: Vec<(u32, String)> = children_of(master)
            .into_iter()
            .map(|p| (p, cmdline(p)))
            .collect();
        kids.sort_by(|a, b| a.1.cmp(&b.1));
        let titled = kids.len() == 2 && kids.iter().all(|(_, t)| t.starts_with(prefix));
        titled.then_some(kids)
    })
}

/// `auto-procname` and `procname-prefix-spaced` title the processes as uWSGI does, in
/// `/proc/PID/cmdline` (what `ps` and `pgrep -f` read). A reload re-executes the binary with
/// its original arguments, not its title, and the new processes are titled again.
#[test]
fn auto_procname_titles_the_processes_and_a_reload_keeps_the_arguments() {
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut server = Server::start([
        "--http-socket",
        &addr.to_string(),
        "--builtin-handler",
        "--master",
        "--processes",
        "2",
        "--auto-procname",
        "--procname-prefix-spaced",
        "shop",
    ]);
    server.wait_for_tcp(addr);
    let master = server.pid;
    wait_until("the master's title", || {
        (cmdline(master) == "shop uWSGI master").then_some(())
    });
    let first = titled_workers(master, "shop uWSGI worker");
    let titles: Vec<&str> = first.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(titles, ["shop uWSGI worker 1", "shop uWSGI worker 2"]);

    server.signal(libc::SIGHUP);
    server.wait_for_log("master process reloaded");
    let second = wait_until("two new titled workers", || {
        let kids = titled_workers(master, "shop uWSGI worker");
        kids.iter()
            .all(|(p, _)| first.iter().all(|(q, _)| p != q))
            .then_some(kids)
    });
    assert_eq!(second.len(), 2);
    assert_eq!(cmdline(master), "shop uWSGI master");
    assert_eq!(get(addr, "/").status, 200);
    assert!(
        !server.log().contains("not implemented"),
        "{}",
        server.log()
    );
}

/// The CPUs `pid` may run on (`Cpus_allowed_list` of /proc/PID/status).
fn cpus_allowed(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// `cpu-affinity 1` pins worker N to CPU N-1, wrapping over the online CPUs, as uWSGI maps
/// them; the master is not pinned.
#[test]
fn cpu_affinity_pins_each_worker_as_uwsgi_maps_them() {
    // SAFETY: sysconf has no preconditions.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    let (server, _addr) = Server::http([
        "--builtin-handler",
        "--master",
        "--processes",
        "2",
        "--cpu-affinity",
        "1",
    ]);
    let kids = workers(&server, 2);
    for id in 1..=2 {
        let log = server.wait_for_log(&format!("mapping worker {id} to CPUs ["));
        let line = log
            .lines()
            .find(|l| l.contains(&format!("mapping worker {id} to CPUs [")))
            .unwrap();
        let pid = kids
            .iter()
            .copied()
            .find(|&p| line.contains(&format!("[pid {p}]")))
            .unwrap_or_else(|| panic!("{line}"));
        assert_eq!(cpus_allowed(pid), ((id - 1) % online).to_string(), "{line}");
    }
    assert_eq!(
        cpus_allowed(server.pid),
        cpus_allowed(std::process::id()),
        "the master is not pinned"
    );
}

/// `flock = %p` (the config file itself, as an Ansible-made vassal has it) keeps a second
/// instance of the same config from starting while the first runs; once it stopped, one
/// starts.
#[test]
fn flock_stops_a_second_instance_while_the_first_runs() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("site.ini");
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    std::fs::write(
        &ini,
        format!(
            "[uwsgi]\nflock = %p\nhttp-socket = {addr}\nbuiltin-handler = true\nmaster = true\n"
        ),
    )
    .unwrap();
    let mut first = Server::start(["--ini".as_ref(), ini.as_os_str()]);
    first.wait_for_tcp(addr);
    let second = run_ruwsgi(["--ini".as_ref(), ini.as_os_str()]);
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains(&format!(
            "{} is locked by another instance (flock)",
            ini.display()
        )),
        "{stderr}"
    );
    assert_eq!(get(addr, "/").status, 200, "the first still serves");
    first.signal(libc::SIGINT);
    assert!(first.wait_exit().success());
    let mut third = Server::start(["--ini".as_ref(), ini.as_os_str()]);
    third.wait_for_tcp(addr);
    assert_eq!(get(addr, "/").status, 200);
}

/// The files in `dir` whose names start with `prefix`, sorted.
fn files_starting(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    files.sort();
    files
}

/// The text of `path`, or nothing while it does not exist.
fn text_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `touch-logrotate`: creating (touching) the file rotates the `logto` file as FIFO `L`
/// does: the old lines move to `server.log.TIME`, and the master keeps logging to a new
/// `server.log`.
#[test]
fn touching_the_logrotate_file_rotates_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (log, trigger) = (dir.path().join("server.log"), dir.path().join("rotate"));
    let (_server, addr) = Server::http([
        "--builtin-handler".as_ref(),
        "--master".as_ref(),
        "--logto".as_ref(),
        log.as_os_str(),
        "--touch-logrotate".as_ref(),
        trigger.as_os_str(),
    ]);
    assert_eq!(get(addr, "/").status, 200);
    assert!(text_of(&log).contains("spawned worker 1"));
    std::fs::write(&trigger, "").unwrap();
    let rotated = wait_until("the rotated log file", || {
        let files = files_starting(dir.path(), "server.log.");
        (files.len() == 1).then(|| files[0].clone())
    });
    wait_until("the new log file", || {
        text_of(&log).contains("rotated").then_some(())
    });
    let old = text_of(&rotated);
    assert!(old.contains("spawned worker 1"), "{old}");
    assert!(old.contains("triggering rotation of"), "{old}");
    assert!(!text_of(&log).contains("spawned worker 1"));
    assert_eq!(get(addr, "/").status, 200);
}

/// `touch-exec FILE COMMAND`: touching the file runs the command under the shell, once per
/// touch, and the master logs its start and its exit status; a value without a command
/// stops the server at start, naming the option and the value.
#[test]
fn touching_the_exec_file_runs_the_command_and_logs_its_exit() {
    let dir = tempfile::tempdir().unwrap();
    let (trigger, marks) = (dir.path().join("deploy"), dir.path().join("marks"));
    std::fs::write(&trigger, "").unwrap();
    let exec = format!(
        "{} echo ran >> {}; exit 3",
        trigger.display(),
        marks.display()
    );
    let (server, _addr) = Server::http([
        "--builtin-handler",
        "--master",
        "--touch-exec",
        exec.as_str(),
    ]);
    server.wait_for_log("spawned worker 1");
    assert!(!marks.exists(), "not run before a touch");
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&trigger)
        .unwrap()
        .set_modified(later)
        .unwrap();
    wait_until("the command's mark", || {
        (text_of(&marks) == "ran\n").then_some(())
    });
    let log = server.wait_for_log("exited after");
    assert!(
        log.contains("[uwsgi-touch-exec] running \"echo ran >>"),
        "{log}"
    );
    assert!(log.contains("(exit status 3)"), "{log}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(text_of(&marks), "ran\n", "once per touch");

    let bad = run_ruwsgi([
        "--builtin-handler",
        "--http-socket",
        "127.0.0.1:0",
        "--master",
        "--touch-exec",
        "lonely-file",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("touch-exec \"lonely-file\": expected FILE COMMAND"),
        "{stderr}"
    );
}

/// `touch-signal FILE SIGNAL`: touching the file raises the uWSGI signal, and the handler
/// the app registered for it (`uwsgi.register_signal(30, "workers", ...)` in
/// `apps/background.py`) runs in each worker; a signal that is no number stops the server
/// at start.
#[test]
fn touching_the_signal_file_raises_the_uwsgi_signal() {
    let dir = tempfile::tempdir().unwrap();
    let (trigger, events) = (dir.path().join("poke"), dir.path().join("events.log"));
    let value = format!("{} 30", trigger.display());
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut server = ServerBuilder::new([
        "--master",
        "--processes",
        "2",
        "--http-socket",
        &addr.to_string(),
        "--wsgi-file",
        &app("background.py"),
        "--touch-signal",
        &value,
    ])
    .env("BACKGROUND_LOG", &events)
    .start();
    server.wait_for_tcp(addr);
    server.wait_for_log("spawned worker 2");
    std::fs::write(&trigger, "").unwrap();
    wait_until("the handler in both workers", || {
        let runs = text_of(&events)
            .lines()
            .filter(|l| l.starts_with("everyone "))
            .count();
        (runs == 2).then_some(())
    });
    server.wait_for_log("[uwsgi-touch-signal] raising 30");

    let bad = run_ruwsgi([
        "--builtin-handler",
        "--http-socket",
        "127.0.0.1:0",
        "--master",
        "--touch-signal",
        "f x",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("touch-signal \"f x\": the signal must be a number from 0 to 255"),
        "{stderr}"
    );
}

/// `logfile-chmod 600`: the `logto` file gets the mode at start, and again when the master
/// reopens it (`touch-logreopen` after logrotate moved it away) and creates a new one.
#[test]
fn logfile_chmod_sets_the_log_mode_at_start_and_after_a_reopen() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (log, trigger) = (dir.path().join("server.log"), dir.path().join("reopen"));
    let (_server, addr) = Server::http([
        "--builtin-handler".as_ref(),
        "--master".as_ref(),
        "--logto".as_ref(),
        log.as_os_str(),
        "--logfile-chmod".as_ref(),
        "600".as_ref(),
        "--touch-logreopen".as_ref(),
        trigger.as_os_str(),
    ]);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&log), 0o600);
    std::fs::rename(&log, dir.path().join("moved.log")).unwrap();
    std::fs::write(&trigger, "").unwrap();
    wait_until("the reopened log", || {
        text_of(&log).contains("log files reopened").then_some(())
    });
    assert_eq!(mode(&log), 0o600, "the new file gets the mode too");
    assert_eq!(get(addr, "/").status, 200);
}

/// `logfile-chown`: as root with `uid nobody` and `gid nogroup`, the `logto` file belongs
/// to them, so the unprivileged processes can reopen it; not as root the option is
/// accepted, the file keeps its owner, and the server serves.
#[test]
fn logfile_chown_gives_the_log_to_uid_and_gid() {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "--builtin-handler".as_ref(),
        "--master".as_ref(),
        "--logto".as_ref(),
        log.as_os_str(),
        "--logfile-chown".as_ref(),
    ];
    if root {
        args.extend(["--uid", "nobody", "--gid", "nogroup"].map(std::ffi::OsStr::new));
    }
    let (_server, addr) = Server::http(args);
    assert_eq!(get(addr, "/").status, 200);
    let meta = std::fs::metadata(&log).unwrap();
    if root {
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        assert!(text_of(&log).contains("logfile-chown:"));
    } else {
        // SAFETY: getuid has no preconditions.
        assert_eq!(meta.uid(), unsafe { libc::getuid() });
        assert!(text_of(&log).contains("logfile-chown: not running as root"));
    }
}

/// `wait-for-file`: the server waits (logging it) before it binds, so nothing accepts
/// until the file appears a second and a half later; then it serves. A directory and a
/// mount point already there (`wait-for-dir`, `wait-for-mountpoint /proc`) pass at once.
#[test]
fn wait_for_file_holds_the_start_until_the_file_exists() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("ready.flag");
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut server = Server::start([
        "--builtin-handler".as_ref(),
        "--master".as_ref(),
        "--http-socket".as_ref(),
        addr.to_string().as_ref(),
        "--wait-for-dir".as_ref(),
        dir.path().as_os_str(),
        "--wait-for-mountpoint".as_ref(),
        "/proc".as_ref(),
        "--wait-for-file".as_ref(),
        flag.as_os_str(),
    ]);
    server.wait_for_log(&format!("wait-for-file: waiting for {}", flag.display()));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "bound before the file exists"
    );
    std::fs::write(&flag, "").unwrap();
    server.wait_for_tcp(addr);
    assert_eq!(get(addr, "/").status, 200);
    let log = server.log();
    assert!(
        log.contains(&format!("{} found after", flag.display())),
        "{log}"
    );
    // Paths are waited for in the options' order: wait-for-file before wait-for-dir.
    assert!(log.contains(&format!("wait-for-dir: {} found", dir.path().display())));
    assert!(log.contains("wait-for-mountpoint: /proc mounted"), "{log}");
}

/// `wait-for-fs-timeout`: a file still missing when the timeout has passed stops the
/// server with status 1 and an error naming the option, the path and the timeout option;
/// a stop signal during the wait ends the server at once with status 0.
#[test]
fn wait_for_fs_gives_up_at_its_timeout_and_stops_at_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("never");
    let start = Instant::now();
    let out = run_ruwsgi([
        "--builtin-handler".as_ref(),
        "--http-socket".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--wait-for-fs".as_ref(),
        missing.as_os_str(),
        "--wait-for-fs-timeout".as_ref(),
        "1".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "wait-for-fs {}: unavailable after 1 seconds (wait-for-fs-timeout)",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(start.elapsed() >= Duration::from_secs(1));

    let mut server = Server::start([
        "--builtin-handler".as_ref(),
        "--http-socket".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--master".as_ref(),
        "--wait-for-fs".as_ref(),
        missing.as_os_str(),
    ]);
    server.wait_for_log("(max 60 seconds)");
    let signalled = Instant::now();
    server.signal(libc::SIGTERM);
    assert!(server.wait_exit().success());
    assert!(signalled.elapsed() < Duration::from_secs(5));
    assert!(server.log().contains("a stop signal came while waiting"));
}

/// `wait-for-socket`: the server waits until something listens at the address (here a
/// listener the test opens a second later), then starts and serves.
#[test]
fn wait_for_socket_holds_the_start_until_the_socket_accepts() {
    let awaited: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut server = Server::start([
        "--builtin-handler",
        "--http-socket",
        &addr.to_string(),
        "--wait-for-socket",
        &awaited.to_string(),
        "--wait-for-socket-timeout",
        "20",
    ]);
    server.wait_for_log(&format!(
        "wait-for-socket: waiting for {awaited} (max 20 seconds)"
    ));
    std::thread::sleep(Duration::from_millis(1000));
    assert!(!server.log().contains("ready after"));
    let _listener = std::net::TcpListener::bind(awaited).unwrap();
    server.wait_for_tcp(addr);
    assert!(server
        .log()
        .contains(&format!("wait-for-socket: {awaited} ready after")));
    assert_eq!(get(addr, "/").status, 200);
}
