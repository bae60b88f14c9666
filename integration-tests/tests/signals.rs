//! uWSGI's signal framework, timers, mules and `uwsgidecorators` (issue 13), over the real
//! binary with `apps/background.py`, which records each event it runs (what, in which
//! process, worker or mule, on which thread, when) in a file the tests read.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ruwsgi_integration_tests::{
    app, apps_dir, connect_unix, free_port, get, logged_pid, pid_alive, wait_until, Server,
    ServerBuilder,
};

/// One line of the app's record.
#[derive(Debug, Clone, PartialEq)]
struct Event {
    what: String,
    pid: u32,
    worker: usize,
    mule: usize,
    thread: String,
    at: f64,
}

fn events(log: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .map(|line| {
            let mut words = line.split(' ');
            let what = words.next().unwrap().to_string();
            let mut field = |name: &str| {
                let w = words.next().unwrap();
                w.strip_prefix(name).unwrap().to_string()
            };
            Event {
                what,
                pid: field("pid=").parse().unwrap(),
                worker: field("worker=").parse().unwrap(),
                mule: field("mule=").parse().unwrap(),
                thread: field("thread="),
                at: field("t=").parse().unwrap(),
            }
        })
        .collect()
}

fn named<'a>(events: &'a [Event], what: &str) -> Vec<&'a Event> {
    events.iter().filter(|e| e.what == what).collect()
}

/// A master serving `apps/background.py` with `extra` options and `env`, recording into
/// `dir/events.log`.
fn start(dir: &Path, extra: &[&str], env: &[(&str, String)]) -> (Server, SocketAddr, PathBuf) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let log = dir.join("events.log");
    let mut args: Vec<String> = vec![
        "--master".into(),
        "--http-socket".into(),
        addr.to_string(),
        "--wsgi-file".into(),
        app("background.py"),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut builder = ServerBuilder::new(args)
        .cwd(dir)
        .env("BACKGROUND_LOG", &log);
    for (k, v) in env {
        builder = builder.env(k, v);
    }
    let mut server = builder.start();
    server.wait_for_tcp(addr);
    (server, addr, log)
}

#[test]
fn a_timer_runs_about_once_a_second_in_exactly_one_worker_and_stops_with_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, _addr, log) = start(
        dir.path(),
        &["--processes", "2"],
        &[("BACKGROUND_TIMER", "1".into())],
    );
    let workers: Vec<u32> = wait_until("both workers' @postfork", || {
        let forked = named(&events(&log), "postfork")
            .iter()
            .map(|e| e.pid)
            .collect::<Vec<_>>();
        (forked.len() == 2).then_some(forked)
    });
    let first = wait_until("the first tick", || {
        named(&events(&log), "tick").first().map(|e| e.at)
    });
    std::thread::sleep(Duration::from_millis(5_500));
    let all = events(&log);
    let ticks = named(&all, "tick");
    let within: Vec<_> = ticks.iter().filter(|e| e.at <= first + 5.0).collect();
    assert!(
        (5..=6).contains(&within.len()),
        "a tick a second: {} in 5 s: {ticks:?}",
        within.len()
    );
    let pid = ticks[0].pid;
    assert!(workers.contains(&pid), "a worker runs it: {ticks:?}");
    assert!(
        ticks.iter().all(|e| e.pid == pid && e.worker >= 1),
        "exactly one process: {ticks:?}"
    );
    assert!(
        ticks.iter().all(|e| e.thread != "MainThread"),
        "not on the loop's (main) thread: {ticks:?}"
    );
    server.signal(libc::SIGTERM);
    let status = server.wait_exit();
    assert!(status.success(), "{status:?}");
    let at_stop = named(&events(&log), "tick").len();
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(
        named(&events(&log), "tick").len(),
        at_stop,
        "no tick after the server stopped"
    );
}

#[test]
fn postfork_runs_once_in_each_worker_and_again_in_a_respawned_one() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, log) = start(dir.path(), &["--processes", "2"], &[]);
    let forked = wait_until("both workers' @postfork", || {
        let e = events(&log);
        let f: Vec<Event> = named(&e, "postfork").into_iter().cloned().collect();
        (f.len() == 2).then_some(f)
    });
    let mut ids: Vec<usize> = forked.iter().map(|e| e.worker).collect();
    ids.sort();
    assert_eq!(
        ids,
        [1, 2],
        "once in each worker, which knows its id: {forked:?}"
    );
    let one = forked.iter().find(|e| e.worker == 1).unwrap().pid;
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(one as i32, libc::SIGKILL) };
    let again = wait_until("the respawned worker's @postfork", || {
        let e = events(&log);
        let f: Vec<Event> = named(&e, "postfork").into_iter().cloned().collect();
        (f.len() == 3).then(|| f[2].clone())
    });
    assert_eq!(again.worker, 1);
    assert_ne!(again.pid, one);
    // A signal to "workers" reaches each of them once, the new one included.
    assert_eq!(get(addr, "/signal?num=30").text(), "raised");
    let everyone = wait_until("signal 30 in both workers", || {
        let e = events(&log);
        let got: Vec<Event> = named(&e, "everyone").into_iter().cloned().collect();
        (got.len() >= 2).then_some(got)
    });
    std::thread::sleep(Duration::from_millis(300));
    let everyone_now = named(&events(&log), "everyone").len();
    assert_eq!(everyone_now, 2, "once each: {everyone:?}");
    let mut pids: Vec<u32> = everyone.iter().map(|e| e.pid).collect();
    pids.sort();
    let mut expected = vec![
        again.pid,
        forked.iter().find(|e| e.worker == 2).unwrap().pid,
    ];
    expected.sort();
    assert_eq!(pids, expected);
    // An unknown target is refused, naming it.
    let refused = get(addr, "/bad-target").text();
    assert!(refused.contains("unknown target \"farm1\""), "{refused}");
    drop(server);
}

#[test]
fn mules_get_messages_mulefuncs_and_signals_from_requests_and_stop_with_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let script = apps_dir().join("background_mule.py");
    let script = script.to_str().unwrap();
    // Mule 1 runs the script (mule_get_msg in a loop); mule 2 is generic (@mulefunc).
    let stats = dir.path().join("stats.sock");
    let (mut server, addr, log) = start(
        dir.path(),
        &[
            "--mule",
            script,
            "--mules",
            "1",
            "--stats",
            stats.to_str().unwrap(),
        ],
        &[("BACKGROUND_MULEFUNC_MULE", "2".into())],
    );
    assert_eq!(get(addr, "/mule?msg=hello&to=1").text(), "queued");
    let got = wait_until("mule 1 to get the message", || {
        named(&events(&log), "got:hello")
            .first()
            .map(|e| (*e).clone())
    });
    assert_eq!((got.mule, got.worker), (1, 0), "{got:?}");
    // A message to any mule reaches one: the script records it, the generic mule (which
    // runs @mulefunc calls only) logs that it dropped it.
    assert_eq!(get(addr, "/mule?msg=anyone").text(), "queued");
    let dropped = "dropped a message of 6 bytes";
    wait_until("a mule to get the message to any", || {
        let recorded = !named(&events(&log), "got:anyone").is_empty();
        (recorded || server.log().contains(dropped)).then_some(())
    });
    std::thread::sleep(Duration::from_millis(300));
    let recorded = named(&events(&log), "got:anyone").len();
    let dropped = server.log().matches(dropped).count();
    assert_eq!(recorded + dropped, 1, "exactly one mule got it");
    assert_eq!(get(addr, "/mulefunc?text=abc").text(), "offloaded");
    let ran = wait_until("the mulefunc to run in mule 2", || {
        named(&events(&log), "mulefunc:abc")
            .first()
            .map(|e| (*e).clone())
    });
    assert_eq!(ran.mule, 2, "{ran:?}");
    assert_eq!(get(addr, "/signal?num=33").text(), "raised");
    let signalled = wait_until("signal 33 in both mules", || {
        let e = events(&log);
        let mut mules: Vec<usize> = named(&e, "mulesignal").iter().map(|e| e.mule).collect();
        mules.sort();
        (mules.len() == 2).then_some(mules)
    });
    assert_eq!(signalled, [1, 2]);
    let log_text = server.log();
    let mule_pids: Vec<u32> = (1..=2)
        .map(|id| logged_pid(&log_text, &format!("spawned mule {id}")).unwrap())
        .collect();
    // The stats list the mules.
    let mut doc = String::new();
    std::io::Read::read_to_string(&mut connect_unix(&stats), &mut doc).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let listed: Vec<(u64, u64)> = doc["mules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_u64().unwrap(), m["pid"].as_u64().unwrap()))
        .collect();
    let expected: Vec<(u64, u64)> = mule_pids
        .iter()
        .enumerate()
        .map(|(i, &p)| (i as u64 + 1, u64::from(p)))
        .collect();
    assert_eq!(listed, expected, "{doc}");
    // A mule that dies is respawned.
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(mule_pids[1] as i32, libc::SIGKILL) };
    server.wait_for_log(&format!("mule 2 (pid {}) ended after", mule_pids[1]));
    server.wait_for_log("spawned mule 2 (pid ");
    assert_eq!(get(addr, "/mulefunc?text=again").text(), "offloaded");
    wait_until("the respawned mule to run the mulefunc", || {
        named(&events(&log), "mulefunc:again").first().map(|_| ())
    });
    server.signal(libc::SIGTERM);
    assert!(server.wait_exit().success());
    assert!(!pid_alive(mule_pids[0]), "mule 1 stopped with the server");
}

#[test]
fn add_cron_with_every_field_any_fires_at_start_and_a_file_monitor_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let watched = dir.path().join("watched.txt");
    let (server, _addr, log) = start(
        dir.path(),
        &[],
        &[
            ("BACKGROUND_CRON_MINUTE", "-1".into()),
            ("BACKGROUND_WATCH", watched.display().to_string()),
        ],
    );
    let cron = wait_until("add_cron to fire at start", || {
        named(&events(&log), "cron").first().map(|e| (*e).clone())
    });
    assert_eq!(cron.worker, 1);
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(named(&events(&log), "changed").len(), 0, "not changed yet");
    std::fs::write(&watched, b"now").unwrap();
    wait_until("the file monitor's signal", || {
        named(&events(&log), "changed").first().map(|_| ())
    });
    assert_eq!(
        named(&events(&log), "cron").len(),
        1,
        "once a minute at most"
    );
    drop(server);
}

/// Signal targets beyond the whole set: `workerN` runs in that worker only,
/// `active-workers` once in each; an `add_rb_timer` with 3 iterations fires three times
/// and stops; a `mule = module:function` mule runs the function and gets messages.
#[test]
fn worker_targets_rb_timer_iterations_and_a_module_function_mule() {
    let dir = tempfile::tempdir().unwrap();
    let apps = apps_dir();
    let (server, addr, log) = start(
        dir.path(),
        &[
            "--processes",
            "2",
            "--pythonpath",
            apps.to_str().unwrap(),
            "--mule",
            "background_mule_fn:run",
        ],
        &[("BACKGROUND_TARGETS", "1".into())],
    );
    server.wait_for_log("spawned worker 2");
    assert_eq!(get(addr, "/signal?num=35").text(), "raised");
    assert_eq!(get(addr, "/signal?num=36").text(), "raised");
    let started = wait_until("the mule's function to start", || {
        named(&events(&log), "fn-started")
            .first()
            .map(|e| (*e).clone())
    });
    assert_eq!(started.mule, 1, "{started:?}");
    assert_eq!(get(addr, "/mule?msg=hi&to=1").text(), "queued");
    wait_until("the function to get the message", || {
        named(&events(&log), "fn-got:hi").first().map(|_| ())
    });
    let active = wait_until("signal 36 in both workers", || {
        let e = events(&log);
        let mut workers: Vec<usize> = named(&e, "activesignal").iter().map(|e| e.worker).collect();
        workers.sort();
        (workers.len() == 2).then_some(workers)
    });
    assert_eq!(active, [1, 2]);
    let second = wait_until("signal 35 in worker 2", || {
        let e = events(&log);
        let got: Vec<usize> = named(&e, "worker2signal")
            .iter()
            .map(|e| e.worker)
            .collect();
        (!got.is_empty()).then_some(got)
    });
    assert_eq!(second, [2]);
    wait_until("three rb_timer ticks", || {
        (named(&events(&log), "rbtick").len() >= 3).then_some(())
    });
    // Two seconds later, still three: the timer stopped after its iterations.
    std::thread::sleep(Duration::from_secs(2));
    let e = events(&log);
    assert_eq!(named(&e, "rbtick").len(), 3);
    assert_eq!(named(&e, "worker2signal").len(), 1);
    assert_eq!(named(&e, "activesignal").len(), 2);
    drop(server);
}
