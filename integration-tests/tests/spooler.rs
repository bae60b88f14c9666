//! The spooler (issue 14): jobs queued by `uwsgi.spool()` and `@spool` run in spooler
//! processes, in queueing order, in the directory of their file, are removed only after
//! they succeeded, retry on `SPOOL_RETRY` and on an exception, and survive a killed
//! spooler and a server restart; the special keys, the spooler options and uWSGI's
//! decorators work as under uWSGI. Over the real binary with `apps/spool_app.py`, which
//! records each run in a file.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ruwsgi_integration_tests::{
    app, apps_dir, free_port, get, logged_pid, pid_alive, uwsgi_packet, wait_until, Server,
    ServerBuilder,
};

/// A master with one worker and a spooler on `dir/spool` (scanned every second).
fn start(dir: &Path) -> (Server, SocketAddr) {
    start_with(dir, &[])
}

/// [`start`] with more options.
fn start_with(dir: &Path, more: &[&str]) -> (Server, SocketAddr) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (address, app_file) = (addr.to_string(), app("spool_app.py"));
    let spool = dir.join("spool");
    let mut args = vec![
        "--master",
        "--http-socket",
        address.as_str(),
        "--wsgi-file",
        app_file.as_str(),
        "--spooler",
        spool.to_str().unwrap(),
        "--spooler-frequency",
        "1",
    ];
    args.extend_from_slice(more);
    let mut server = ServerBuilder::new(args)
        .env("SPOOL_LOG", dir.join("runs.log"))
        .start();
    server.wait_for_tcp(addr);
    (server, addr)
}

fn runs(dir: &Path, what: &str) -> usize {
    records(dir, what).len()
}

/// The records of `what` in the app's log, in order: each line's `key=value` fields.
fn records(dir: &Path, what: &str) -> Vec<HashMap<String, String>> {
    std::fs::read_to_string(dir.join("runs.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split(' ').next() == Some(what))
        .map(|l| {
            l.split(' ')
                .skip(1)
                .filter_map(|f| f.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Every record's first word, in order.
fn record_names(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("runs.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').next().unwrap_or_default().to_string())
        .collect()
}

fn field<'a>(record: &'a HashMap<String, String>, key: &str) -> &'a str {
    record
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {record:?}"))
}

fn number(record: &HashMap<String, String>, key: &str) -> f64 {
    field(record, key).parse().unwrap()
}

fn jobs(dir: &Path) -> Vec<PathBuf> {
    jobs_in(&dir.join("spool"))
}

fn jobs_in(spool: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(spool)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default()
}

fn spooler_pid(server: &Server) -> u32 {
    logged_pid(&server.log(), "spawned spooler 1").expect("the spooler's pid in the log")
}

fn canonical(path: &Path) -> String {
    path.canonicalize().unwrap().to_string_lossy().into_owned()
}

#[test]
fn a_spooled_job_runs_once_and_its_file_is_removed_after_success() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = start(dir.path());
    server.wait_for_log("spawned spooler 1 (pid ");
    let file = get(addr, "/spool?name=one&body=70000").text();
    assert!(file.contains("uwsgi_spoolfile_on_"), "{file}");
    wait_until("the job to be done", || {
        (runs(dir.path(), "run:one") == 1 && jobs(dir.path()).is_empty()).then_some(())
    });
    assert_eq!(
        runs(dir.path(), "body:70000"),
        1,
        "the body reached the job"
    );
    server.wait_for_log("managing request uwsgi_spoolfile_on_");
    server.wait_for_log("done with task uwsgi_spoolfile_on_");
    // As in uWSGI: the bare file name, and the job runs in the spool directory.
    let run = &records(dir.path(), "run:one")[0];
    let name = Path::new(&file).file_name().unwrap().to_str().unwrap();
    assert_eq!(field(run, "task"), name);
    assert_eq!(field(run, "cwd"), canonical(&dir.path().join("spool")));
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    assert_eq!(runs(dir.path(), "run:one"), 1, "once");
    drop(server);
}

#[test]
fn spool_retry_and_an_exception_run_the_job_again() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = start(dir.path());
    get(addr, "/spool?name=retry-a");
    get(addr, "/spool?name=boom-b");
    wait_until("the retried jobs to succeed", || {
        let done = runs(dir.path(), "run:retry-a") == 3 && runs(dir.path(), "run:boom-b") == 2;
        (done && jobs(dir.path()).is_empty()).then_some(())
    });
    assert!(server
        .log()
        .contains("RuntimeError: the first run of boom-b fails"));
    drop(server);
}

#[test]
fn a_job_survives_a_killed_spooler_and_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, addr) = start(dir.path());
    // The first run of "slow" sleeps; the spooler is killed in the middle of it.
    get(addr, "/spool?name=slow");
    wait_until("the slow job to start", || {
        (runs(dir.path(), "run:slow") == 1).then_some(())
    });
    let spooler = spooler_pid(&server);
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(spooler as i32, libc::SIGKILL) };
    assert_eq!(jobs(dir.path()).len(), 1, "the job stays queued");
    wait_until("the respawned spooler to run it again", || {
        (runs(dir.path(), "run:slow") == 2 && jobs(dir.path()).is_empty()).then_some(())
    });
    assert_ne!(spooler_pid(&server), spooler);
    // A job due in 3 s, then the server stops before it runs.
    get(addr, "/spool?name=later&at=3");
    let queued_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    server.signal(libc::SIGINT);
    assert!(server.wait_exit().success());
    assert!(
        !pid_alive(spooler_pid(&server)),
        "the spooler stopped with the server"
    );
    assert_eq!(runs(dir.path(), "run:later"), 0);
    assert_eq!(jobs(dir.path()).len(), 1, "the job outlives the server");
    // A new server on the same directory runs it.
    let (server, _addr) = start(dir.path());
    wait_until("the new server to run the job", || {
        (runs(dir.path(), "run:later") == 1 && jobs(dir.path()).is_empty()).then_some(())
    });
    let run = &records(dir.path(), "run:later")[0];
    let (at, ran) = (number(run, "at"), number(run, "t"));
    assert!(at >= queued_at + 2.0, "at {at} is 3 s after {queued_at}");
    assert!(ran >= at, "ran at {ran}, before its at time {at}");
    drop(server);
}

#[test]
fn jobs_run_in_queueing_order_and_not_before_their_at_time() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = start(dir.path());
    // 12 jobs from one worker (counters 0 to 11: as strings "10" sorts before "2"), all
    // due in 1.5 s, so that one scan finds them all.
    assert_eq!(get(addr, "/spool-many?n=12&at=1.5").text(), "queued");
    wait_until("the 12 jobs to run", || {
        let ran = record_names(dir.path())
            .iter()
            .filter(|n| n.starts_with("run:order-"))
            .count();
        (ran == 12 && jobs(dir.path()).is_empty()).then_some(())
    });
    let order: Vec<String> = record_names(dir.path())
        .into_iter()
        .filter(|n| n.starts_with("run:order-"))
        .collect();
    let queued: Vec<String> = (0..12).map(|n| format!("run:order-{n}")).collect();
    assert_eq!(order, queued, "the queueing order");
    for n in 0..12 {
        let run = &records(dir.path(), &format!("run:order-{n}"))[0];
        let (at, ran) = (number(run, "at"), number(run, "t"));
        assert!(ran >= at, "order-{n} ran at {ran}, before its at time {at}");
    }
    drop(server);
}

#[test]
fn the_priority_and_spooler_keys_pick_the_order_and_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other");
    let (server, addr) = start_with(dir.path(), &["--spooler", other.to_str().unwrap()]);
    let log = server.wait_for_log("spawned spooler 2 (pid ");
    let other_spooler = logged_pid(&log, "spawned spooler 2").unwrap();
    // Queued plain first, then priority 5, then 0, all due at once: 0, 5, plain.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let at = format!("{:.6}", now + 1.5);
    get(addr, &format!("/spool?name=p-plain&at_abs={at}"));
    get(addr, &format!("/spool?name=p-five&priority=5&at_abs={at}"));
    get(addr, &format!("/spool?name=p-zero&priority=0&at_abs={at}"));
    assert!(dir.path().join("spool/5").is_dir() && dir.path().join("spool/0").is_dir());
    let file = get(
        addr,
        &format!("/spool?name=elsewhere&spooler={}", other.display()),
    )
    .text();
    assert!(file.starts_with(other.to_str().unwrap()), "{file}");
    wait_until("the jobs to run", || {
        let ran = ["run:p-plain", "run:p-five", "run:p-zero", "run:elsewhere"]
            .iter()
            .all(|what| runs(dir.path(), what) == 1);
        ran.then_some(())
    });
    let order: Vec<String> = record_names(dir.path())
        .into_iter()
        .filter(|n| n.starts_with("run:p-"))
        .collect();
    assert_eq!(order, ["run:p-zero", "run:p-five", "run:p-plain"]);
    // A priority job runs in its subdirectory, under its bare name.
    let zero = &records(dir.path(), "run:p-zero")[0];
    assert_eq!(field(zero, "cwd"), canonical(&dir.path().join("spool/0")));
    assert!(
        field(zero, "task").starts_with("uwsgi_spoolfile_on_"),
        "{zero:?}"
    );
    // `spooler` picked the other directory, whose own spooler ran it there.
    let elsewhere = &records(dir.path(), "run:elsewhere")[0];
    assert_eq!(field(elsewhere, "pid"), other_spooler.to_string());
    assert_eq!(field(elsewhere, "cwd"), canonical(&other));
    drop(server);
}

#[test]
fn spooler_processes_import_chdir_and_quiet_work_as_in_uwsgi() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let apps = apps_dir();
    let (server, addr) = start_with(
        dir.path(),
        &[
            "--spooler-processes",
            "2",
            "--spooler-import",
            "spool_imported",
            "--pythonpath",
            apps.to_str().unwrap(),
            "--spooler-chdir",
            elsewhere.to_str().unwrap(),
            "--spooler-quiet",
        ],
    );
    let log = server.wait_for_log("spawned spooler 2 (pid ");
    let spoolers = [
        logged_pid(&log, "spawned spooler 1").unwrap().to_string(),
        logged_pid(&log, "spawned spooler 2").unwrap().to_string(),
    ];
    // Each hold job waits until both run at once: two processes serve the directory.
    get(addr, "/spool?name=hold-a");
    get(addr, "/spool?name=hold-b");
    wait_until("both hold jobs to end", || {
        let names = record_names(dir.path());
        let ended = names
            .iter()
            .filter(|n| n.starts_with("held:") || n.starts_with("alone:"))
            .count();
        (ended == 2 && jobs(dir.path()).is_empty()).then_some(())
    });
    assert_eq!(
        runs(dir.path(), "held:hold-a"),
        1,
        "{:?}",
        record_names(dir.path())
    );
    assert_eq!(
        runs(dir.path(), "held:hold-b"),
        1,
        "{:?}",
        record_names(dir.path())
    );
    let mut ran_in: Vec<String> = ["run:hold-a", "run:hold-b"]
        .iter()
        .map(|what| field(&records(dir.path(), what)[0], "pid").to_string())
        .collect();
    ran_in.sort();
    let mut expected = spoolers.to_vec();
    expected.sort();
    assert_eq!(ran_in, expected, "one job in each spooler");
    // spooler-import: each spooler imported the module, and only they did.
    let mut imported: Vec<String> = records(dir.path(), "imported")
        .iter()
        .map(|r| field(r, "pid").to_string())
        .collect();
    imported.sort();
    assert_eq!(imported, expected);
    // spooler-chdir: the jobs ran there, not in the spool directory.
    for what in ["run:hold-a", "run:hold-b"] {
        assert_eq!(
            field(&records(dir.path(), what)[0], "cwd"),
            canonical(&elsewhere)
        );
    }
    // spooler-quiet: no line per job.
    let log = server.log();
    assert!(!log.contains("managing request"), "{log}");
    assert!(!log.contains("done with task"), "{log}");
    drop(server);
}

#[test]
fn calling_a_decorated_function_queues_it_with_uwsgis_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = start(dir.path());
    server.wait_for_log("spawned spooler 1 (pid ");
    let spooler = spooler_pid(&server).to_string();
    // Calling the task queues it, and the spooler runs it (not the worker, in the request).
    let file = get(addr, "/decorated?x=abc").text();
    assert!(file.contains("uwsgi_spoolfile_on_"), "{file}");
    let file = get(addr, "/decorated?x=old&alias=1").text();
    assert!(file.contains("uwsgi_spoolfile_on_"), "{file}");
    // A @spool function without pass_arguments gets the job's vars with str keys, among
    // them uWSGI's ud_spool_func (the __name__) and ud_spool_ret (SPOOL_OK).
    get(addr, "/dictjob?a=ours");
    // A job as uWSGI's decorators write it runs too, and is removed after it.
    let packet = {
        let mut p = uwsgi_packet(
            &[
                ("ud_spool_func", "dictjob"),
                ("ud_spool_ret", "-2"),
                ("a", "theirs"),
            ],
            b"",
        );
        p[0] = 17;
        p
    };
    let name = "uwsgi_spoolfile_on_otherhost_77_1_12345_1000_0";
    let temp = dir.path().join(format!(".{name}"));
    std::fs::write(&temp, &packet).unwrap();
    std::fs::rename(&temp, dir.path().join("spool").join(name)).unwrap();
    wait_until("the decorated jobs to run", || {
        let ran = ["decorated:abc", "decorated:old", "dict:ours", "dict:theirs"]
            .iter()
            .all(|what| runs(dir.path(), what) == 1);
        (ran && jobs(dir.path()).is_empty()).then_some(())
    });
    for what in ["decorated:abc", "decorated:old", "dict:ours", "dict:theirs"] {
        assert_eq!(
            field(&records(dir.path(), what)[0], "pid"),
            spooler,
            "{what}"
        );
    }
    let ours = &records(dir.path(), "dict:ours")[0];
    assert_eq!(field(ours, "func"), "dictjob");
    assert_eq!(field(ours, "ret"), "-2");
    assert!(
        field(ours, "task").starts_with("uwsgi_spoolfile_on_"),
        "{ours:?}"
    );
    assert_eq!(field(&records(dir.path(), "dict:theirs")[0], "task"), name);
    drop(server);
}

#[test]
fn spoolforever_runs_again_and_spool_ignore_leaves_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr) = start(dir.path());
    let forever = get(addr, "/forever").text();
    let ignored = get(addr, "/ignored").text();
    // Both are offered again at each scan (every second here); neither file is removed.
    wait_until("both jobs to run twice", || {
        (runs(dir.path(), "forever") >= 2 && runs(dir.path(), "ignored") >= 2).then_some(())
    });
    assert!(Path::new(&forever).is_file(), "the @spoolforever job stays");
    assert!(Path::new(&ignored).is_file(), "the SPOOL_IGNORE job stays");
    assert_eq!(jobs(dir.path()).len(), 2);
    drop(server);
}
