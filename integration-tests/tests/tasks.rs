//! Background work run by the master (issue 13, first part): `cron`, `unique-cron`,
//! `cron2` (and `uwsgi.add_cron` beside a cron line at a real minute boundary), and the
//! daemons it keeps running (`attach-daemon`, `smart-attach-daemon2`). The signal framework,
//! timers and mules are in signals.rs.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ruwsgi_integration_tests::{
    app, free_port, logged_pid, pid_alive, run_ruwsgi, wait_until, wait_until_for, Server,
    ServerBuilder,
};

/// A master with one worker serving `apps/health.py` and `extra` options, in `dir`.
fn start(dir: &Path, extra: &[String]) -> (Server, SocketAddr) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut args = vec![
        "--master".to_string(),
        "--http-socket".to_string(),
        addr.to_string(),
        "--wsgi-file".to_string(),
        app("health.py"),
    ];
    args.extend(extra.iter().cloned());
    let mut server = ServerBuilder::new(args).cwd(dir).start();
    server.wait_for_tcp(addr);
    (server, addr)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn crons_with_every_field_any_run_at_start_and_their_output_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _addr) = start(
        dir.path(),
        &[
            "--cron".into(),
            "-1 -1 -1 -1 -1 echo cron-ran >> ran.txt".into(),
            "--unique-cron".into(),
            "-1 -1 -1 -1 -1 echo unique-ran >> ran.txt; echo to-the-log".into(),
            "--cron2".into(),
            "minute=-1,unique=1 echo cron2-ran >> ran.txt".into(),
        ],
    );
    let ran = dir.path().join("ran.txt");
    wait_until("the three crons to run", || {
        let text = read(&ran);
        ["cron-ran", "unique-ran", "cron2-ran"]
            .iter()
            .all(|w| text.contains(w))
            .then_some(())
    });
    let log = server.wait_for_log("[uwsgi-cron] command \"echo cron-ran >> ran.txt\"");
    assert!(
        log.contains("[uwsgi-cron] running \"echo cron-ran >> ran.txt\" (pid "),
        "{log}"
    );
    assert!(
        log.contains("to-the-log"),
        "the command's output goes to the log: {log}"
    );
    // Once a minute at most: no second run within the first seconds.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(read(&ran).matches("cron-ran").count(), 1);
}

#[test]
fn a_cron_line_and_add_cron_fire_at_their_minute() {
    let dir = tempfile::tempdir().unwrap();
    // The next minute of the local clock (the server matches local time, as uWSGI).
    let now = run_date(&["+%M %S"]);
    let (minute, second): (u32, u32) = {
        let mut parts = now.split_whitespace().map(|p| p.parse().unwrap());
        (parts.next().unwrap(), parts.next().unwrap())
    };
    let target = (minute + 1) % 60;
    // apps/background.py registers signal 31 and `uwsgi.add_cron(31, target, -1, ...)`.
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let events = dir.path().join("events.log");
    let mut server = ServerBuilder::new([
        "--master".to_string(),
        "--http-socket".to_string(),
        addr.to_string(),
        "--wsgi-file".to_string(),
        app("background.py"),
        "--cron".to_string(),
        format!("{target} -1 -1 -1 -1 date +%M:%S >> fired.txt"),
    ])
    .cwd(dir.path())
    .env("BACKGROUND_LOG", &events)
    .env("BACKGROUND_CRON_MINUTE", target.to_string())
    .start();
    server.wait_for_tcp(addr);
    let fired = dir.path().join("fired.txt");
    let signalled = || {
        read(&events)
            .lines()
            .find(|l| l.starts_with("cron "))
            .map(str::to_string)
    };
    // Not before their minute...
    std::thread::sleep(Duration::from_secs(1));
    if second < 58 {
        assert_eq!(read(&fired), "", "the cron line fired before its minute");
        assert_eq!(signalled(), None, "add_cron fired before its minute");
    }
    // ...and within its minute's first seconds (the master looks once a second).
    let at = wait_until_for(Duration::from_secs(65), "the cron's minute", || {
        let text = read(&fired);
        (!text.is_empty()).then_some(text)
    });
    let (m, s) = at.trim().split_once(':').unwrap();
    assert_eq!(m.parse::<u32>().unwrap(), target, "{at}");
    assert!(s.parse::<u32>().unwrap() <= 2, "fired at second {s}");
    let line = wait_until("add_cron's signal", signalled);
    let epoch: f64 = line.rsplit("t=").next().unwrap().parse().unwrap();
    let when = run_date(&["-d", &format!("@{}", epoch as i64), "+%M:%S"]);
    let (m, s) = when.trim().split_once(':').unwrap();
    assert_eq!(m.parse::<u32>().unwrap(), target, "{line}");
    assert!(
        s.parse::<u32>().unwrap() <= 3,
        "signalled at second {s}: {line}"
    );
    drop(server);
}

fn run_date(args: &[&str]) -> String {
    let out = std::process::Command::new("date")
        .args(args)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn an_attach_daemon_is_respawned_when_killed_and_stopped_with_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("server.pid");
    let (mut server, _addr) = start(
        dir.path(),
        &[
            "--pidfile".into(),
            pidfile.display().to_string(),
            "--attach-daemon".into(),
            "exec sleep 1001".into(),
        ],
    );
    let first = wait_until("the daemon to start", || {
        logged_pid(
            &server.log(),
            "[uwsgi-daemons] spawning \"exec sleep 1001\"",
        )
    });
    assert!(pid_alive(first));
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(first as i32, libc::SIGKILL) };
    let second = wait_until("the daemon to be respawned", || {
        logged_pid(
            &server.log(),
            "[uwsgi-daemons] respawning \"exec sleep 1001\"",
        )
    });
    assert_ne!(second, first);
    assert!(pid_alive(second));
    // --stop (SIGINT, immediate): the daemon goes with the server.
    let out = run_ruwsgi(["--stop".as_ref(), pidfile.as_os_str()]);
    assert!(out.status.success(), "{out:?}");
    let status = server.wait_exit();
    assert!(status.success(), "{status:?}: {}", server.log());
    wait_until("the daemon to be gone", || {
        (!pid_alive(second)).then_some(())
    });
    assert!(
        server
            .log()
            .contains("[uwsgi-daemons] stopping daemon (pid: "),
        "{}",
        server.log()
    );
}

#[test]
fn a_smart_daemon_survives_a_reload_and_is_respawned_when_it_dies() {
    let dir = tempfile::tempdir().unwrap();
    let daemon_pidfile = dir.path().join("daemon.pid");
    let (server, addr) = start(
        dir.path(),
        &[
            "--smart-attach-daemon2".into(),
            format!("{} sleep 1002", daemon_pidfile.display()),
        ],
    );
    let pid_in_file = || {
        read(&daemon_pidfile)
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|&p| pid_alive(p))
    };
    let first = wait_until("the smart daemon's pidfile", pid_in_file);
    // A reload (the master re-executes) leaves it running and adopts it.
    server.signal(libc::SIGHUP);
    server.wait_for_log(&format!(
        "found valid/active pidfile for \"sleep 1002\" (pid: {first})"
    ));
    wait_until("the reloaded server to serve", || {
        std::net::TcpStream::connect(addr).ok().map(|_| ())
    });
    assert!(pid_alive(first));
    // Killed, it is started again (the master looks at the pidfile once a second).
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(first as i32, libc::SIGKILL) };
    let second = wait_until("the smart daemon to be respawned", || {
        pid_in_file().filter(|&p| p != first)
    });
    drop(server);
    // Smart daemons outlive the server, as in uWSGI: end this one.
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(second as i32, libc::SIGKILL) };
}

#[test]
fn exec_as_root_runs_before_privileges_drop_and_a_failure_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: getuid(2) has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    let (server, _addr) = start(
        dir.path(),
        &["--exec-as-root".into(), "id -u > as-root.txt".into()],
    );
    if root {
        // The sockets are bound first: wait for the workers, forked after the commands ran.
        server.wait_for_log("spawned worker 1");
        assert_eq!(read(&dir.path().join("as-root.txt")).trim(), "0");
        assert!(server
            .log()
            .contains("running as-root hook \"exec:id -u > as-root.txt\""));
    } else {
        server.wait_for_log("exec-as-root: not running as root; they are skipped");
        assert!(!dir.path().join("as-root.txt").exists());
    }
    drop(server);
    if root {
        // As in uWSGI, a failing command stops the server before it serves.
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let out = run_ruwsgi([
            "--http-socket",
            &addr.to_string(),
            "--wsgi-file",
            &app("health.py"),
            "--exec-as-root",
            "exit 3",
        ]);
        assert!(!out.status.success(), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("as-root hook \"exec:exit 3\" failed"), "{err}");
    }
}

/// The hook phases in a server's order — asap, as-root (as root only), as-user, pre-app,
/// post-app, then accepting in each worker — each `exec-PHASE` after its `hook-PHASE`;
/// `accepting1` only in worker 1; the `-once` forms only at a worker id's first spawn.
#[test]
fn hook_phases_run_in_order_and_the_accepting_ones_per_worker() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: getuid(2) has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    let mut extra: Vec<String> = Vec::new();
    for (option, value) in [
        ("--hook-asap", "print:mark asap"),
        ("--exec-asap", "echo mark exec-asap >&2"),
        ("--hook-as-root", "print:mark as-root"),
        ("--hook-as-user", "print:mark as-user"),
        ("--exec-as-user", "echo mark exec-as-user >&2"),
        ("--hook-pre-app", "print:mark pre-app"),
        ("--exec-pre-app", "echo mark exec-pre-app >&2"),
        ("--hook-post-app", "print:mark post-app"),
        ("--exec-post-app", "echo mark exec-post-app >&2"),
        ("--hook-accepting", "print:mark accepting"),
        ("--hook-accepting1", "print:mark accepting1"),
        ("--hook-accepting-once", "print:mark accepting-once"),
        ("--hook-accepting1-once", "print:mark accepting1-once"),
        ("--processes", "2"),
    ] {
        extra.extend([option.to_string(), value.to_string()]);
    }
    let (server, _addr) = start(dir.path(), &extra);
    let marks = |log: &str| -> Vec<String> {
        log.lines()
            .filter_map(|l| l.split("] mark ").nth(1).or(l.strip_prefix("mark ")))
            .map(str::to_string)
            .collect()
    };
    let count = |log: &str, m: &str| marks(log).iter().filter(|x| *x == m).count();
    let log = wait_until("both workers' accepting hooks", || {
        let log = server.log();
        (count(&log, "accepting") == 2 && count(&log, "accepting-once") == 2).then_some(log)
    });
    let all = marks(&log);
    let mut expected = vec!["asap", "exec-asap"];
    if root {
        expected.push("as-root");
    }
    expected.extend([
        "as-user",
        "exec-as-user",
        "pre-app",
        "exec-pre-app",
        "post-app",
        "exec-post-app",
    ]);
    assert_eq!(all[..expected.len()], expected, "{log}");
    wait_until("worker 1's accepting1 hooks", || {
        let log = server.log();
        (count(&log, "accepting1") == 1 && count(&log, "accepting1-once") == 1).then_some(())
    });
    // A respawned worker 1 runs accepting and accepting1 again, not the -once forms.
    let first = logged_pid(&server.log(), "spawned worker 1 ").expect("worker 1's pid");
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(first as i32, libc::SIGKILL) };
    let log = wait_until("the respawned worker's hooks", || {
        let log = server.log();
        (count(&log, "accepting") == 3 && count(&log, "accepting1") == 2).then_some(log)
    });
    assert_eq!(count(&log, "accepting-once"), 2, "{log}");
    assert_eq!(count(&log, "accepting1-once"), 1, "{log}");
}
