//! Reloads (SIGHUP, `--reload PIDFILE`): the master re-executes itself in place and serves
//! the changed app, under load, without failing a request; a reload into a broken app
//! keeps the previous workers serving.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ruwsgi_integration_tests::{
    children_of, connect, fd_count, free_port, get, logged_pid, pid_alive, read_response,
    wait_until, write_fifo, Response, Server, ServerBuilder,
};

/// Writes the app, whose every answer is `VERSION pid`; `/slow` takes 200 ms. The version
/// string's length changes with it, so Python's bytecode cache (keyed by size and mtime
/// in seconds) never serves a stale module.
pub(crate) fn write_app(dir: &Path, version: &str, broken: bool) {
    let mut app = format!(
        "import os, time\n\
         VERSION = {version:?}\n\
         def application(environ, start_response):\n\
         \x20   if environ['PATH_INFO'] == '/slow':\n\
         \x20       time.sleep(0.2)\n\
         \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
         \x20   return [('%s %d' % (VERSION, os.getpid())).encode()]\n"
    );
    if broken {
        app.push_str("raise ImportError('broken on purpose')\n");
    }
    std::fs::write(dir.join("app.py"), app).unwrap();
}

pub(crate) fn version(n: usize) -> String {
    format!("v{}", "x".repeat(n))
}

/// The app in a temp dir behind a 2-worker master on an HTTP socket, both workers spawned.
fn reloadable(extra: &[&str]) -> (Server, SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), &version(0), false);
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut args = vec![
        "--master".to_string(),
        "--processes".to_string(),
        "2".to_string(),
        "--threads".to_string(),
        "4".to_string(),
        "--http-socket".to_string(),
        addr.to_string(),
        "--wsgi-file".to_string(),
        "app.py".to_string(),
        "--disable-logging".to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let mut server = ServerBuilder::new(args).cwd(dir.path()).start();
    server.wait_for_tcp(addr);
    server.wait_for_log("spawned worker 2");
    (server, addr, dir)
}

/// One request on a kept-alive connection: `None` when the connection turned out closed
/// before any byte of the response came (the server closed it while idle: a client
/// retries on a new connection, as urllib3 and nginx's upstream keep-alive do).
fn on_kept(s: &mut TcpStream, path: &str) -> Option<Response> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return None;
    }
    let mut first = [0u8; 1];
    match s.read(&mut first) {
        Ok(0) => return None,
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
        Err(e) => panic!("reading {path}: {e}"),
    }
    let mut rest = (&first[..]).chain(&mut *s);
    Some(read_response(&mut rest, false).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// Clients until `stop`: half keep their connection alive, half open one per request;
/// every other request is the 200 ms one. Each response must be a 200 carrying a version;
/// any other outcome panics the client (a failed request). `done` counts the responses of
/// all; each client returns the versions it saw, in order.
fn clients(
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
) -> Vec<std::thread::JoinHandle<Vec<String>>> {
    (0..8)
        .map(|i| {
            let (stop, all) = (stop.clone(), done.clone());
            std::thread::spawn(move || {
                let mut done = 0;
                let mut seen = Vec::new();
                let mut kept: Option<TcpStream> = None;
                while !stop.load(Ordering::Acquire) {
                    let path = if done % 2 == 0 { "/slow" } else { "/fast" };
                    let r = if i % 2 == 0 {
                        let s = kept.get_or_insert_with(|| connect(addr));
                        match on_kept(s, path) {
                            Some(r) => r,
                            None => {
                                kept = None;
                                continue;
                            }
                        }
                    } else {
                        let mut s = connect(addr);
                        let req =
                            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
                        s.write_all(req.as_bytes()).unwrap();
                        read_response(&mut s, false).unwrap_or_else(|e| panic!("{path}: {e}"))
                    };
                    assert_eq!(r.status, 200, "{r:?}");
                    let text = r.text();
                    let v = text.split(' ').next().unwrap().to_string();
                    if seen.last() != Some(&v) {
                        seen.push(v);
                    }
                    if r.header("connection") == Some("close") {
                        kept = None;
                    }
                    done += 1;
                    all.fetch_add(1, Ordering::AcqRel);
                }
                seen
            })
        })
        .collect()
}

/// Five reloads in a row under eight clients (keep-alive and one connection per request,
/// a 200 ms endpoint and a fast one), a hundred requests or more between two: no request
/// fails, the master keeps its pid, each reload replaces both workers and serves the app as
/// changed, and the master holds no more descriptors after them than before.
#[test]
fn five_reloads_under_load_serve_the_new_code_and_fail_no_request() {
    let (mut server, addr, dir) = reloadable(&[]);
    assert_eq!(get(addr, "/fast").text().split(' ').next(), Some("v"));
    let master_fds = fd_count(server.pid);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let running = clients(addr, stop.clone(), done.clone());
    let answered_past = |n: usize| {
        wait_until("a hundred more requests answered", || {
            (done.load(Ordering::Acquire) >= n).then_some(())
        })
    };
    for n in 1..=5 {
        answered_past(done.load(Ordering::Acquire) + 100);
        let before = children_of(server.pid);
        write_app(dir.path(), &version(n), false);
        server.signal(libc::SIGHUP);
        let want = version(n);
        wait_until("the changed app to be served", || {
            (get(addr, "/fast").text().split(' ').next() == Some(want.as_str())).then_some(())
        });
        wait_until("the previous workers to exit", || {
            let now = children_of(server.pid);
            (now.len() == 2 && now.iter().all(|p| !before.contains(p))).then_some(())
        });
    }
    answered_past(done.load(Ordering::Acquire) + 100);
    stop.store(true, Ordering::Release);
    let versions: Vec<Vec<String>> = running
        .into_iter()
        .map(|c| c.join().expect("a client saw a failed request"))
        .collect();
    let total = done.load(Ordering::Acquire);
    assert!(total >= 600, "only {total} requests");
    for seen in &versions {
        // Each client saw the versions in order (a client may miss one that lived briefly).
        let order: Vec<usize> = seen.iter().map(|v| v.len() - 1).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    }
    assert!(server.is_running(), "{}", server.log());
    let log = server.log();
    assert_eq!(
        log.matches("master process reloaded (pid").count(),
        5,
        "{log}"
    );
    assert!(!log.contains("ERROR"), "{log}");
    assert!(
        fd_count(server.pid) <= master_fds,
        "the master holds {} descriptors after five reloads, {master_fds} before",
        fd_count(server.pid)
    );
}

/// A reload into an app that no longer imports keeps the previous workers serving the
/// previous code (the master stays up, with its pid, and says why); one of them that dies
/// meanwhile is not replaced; the next reload, with the app fixed, serves it.
#[test]
fn a_reload_into_a_broken_app_keeps_the_previous_workers_serving() {
    let (mut server, addr, dir) = reloadable(&[]);
    let workers = children_of(server.pid);
    write_app(dir.path(), &version(1), true);
    server.signal(libc::SIGHUP);
    server.wait_for_log("the reload failed: no app could be loaded");
    for _ in 0..20 {
        let r = get(addr, "/fast");
        assert_eq!(r.text().split(' ').next(), Some("v"), "{r:?}");
    }
    assert_eq!(children_of(server.pid), workers, "the same workers serve");
    assert!(server.is_running());
    // A previous worker that dies meanwhile is not replaced by the previous code; the other
    // one serves on.
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(workers[0] as libc::pid_t, libc::SIGKILL) };
    server.wait_for_log("is not replaced (the reload failed)");
    assert_eq!(children_of(server.pid), &workers[1..]);
    assert_eq!(get(addr, "/fast").text().split(' ').next(), Some("v"));

    write_app(dir.path(), &version(2), false);
    server.signal(libc::SIGHUP);
    wait_until("the fixed app to be served", || {
        (get(addr, "/fast").text().split(' ').next() == Some("vxx")).then_some(())
    });
    new_workers(&server, &workers);
}

/// New workers whose predecessors all died while they were still importing the app (under
/// `lazy-apps`, after a reload) have no hand-over to wait for: they start accepting as soon
/// as they are ready, instead of waiting for processes that are gone.
#[test]
fn new_workers_whose_predecessors_died_meanwhile_serve() {
    let (server, addr, dir) = reloadable(&["--lazy-apps"]);
    let workers = children_of(server.pid);
    write_app(dir.path(), &version(1), false);
    let mut app = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("app.py"))
        .unwrap();
    app.write_all(b"time.sleep(1.5)\n").unwrap();
    server.signal(libc::SIGHUP);
    wait_until("the new workers to be spawned", || {
        (server.log().matches("spawned worker 2").count() == 2).then_some(())
    });
    for &pid in &workers {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
    serves(addr, &version(1));
    assert!(
        server
            .log()
            .contains("exited before its replacement was ready"),
        "{}",
        server.log()
    );
    new_workers(&server, &workers);
}

/// Waits until `server`'s two workers are none of `before`; returns them.
fn new_workers(server: &Server, before: &[u32]) -> Vec<u32> {
    wait_until("two new workers", || {
        let now = children_of(server.pid);
        (now.len() == 2 && now.iter().all(|p| !before.contains(p))).then_some(now)
    })
}

/// Waits until `/fast` answers with `version`.
fn serves(addr: SocketAddr, version: &str) {
    wait_until("the changed app to be served", || {
        (get(addr, "/fast").text().split(' ').next() == Some(version)).then_some(())
    });
}

/// Every byte of the master FIFO does what uWSGI's does: `s` stats, `w` the workers
/// replaced, `c` a chain reload, `r` a graceful reload, `R` a brutal one, `W` the workers
/// killed and respawned, `p` pause and resume, `P` the pidfile written again, `1` the second
/// FIFO made the active one, an unknown byte logged, `q` a graceful stop (vacuum removes
/// the FIFOs); `Q`, on a second server, an immediate one.
#[test]
fn the_master_fifo_obeys_each_command() {
    let tmp = tempfile::tempdir().unwrap();
    let (fifo, fifo2, pidfile) = (
        tmp.path().join("fifo"),
        tmp.path().join("fifo2"),
        tmp.path().join("m.pid"),
    );
    let (mut server, addr, dir) = reloadable(&[
        "--lazy-apps",
        "--vacuum",
        "--master-fifo",
        fifo.to_str().unwrap(),
        "--master-fifo",
        fifo2.to_str().unwrap(),
        "--pidfile",
        pidfile.to_str().unwrap(),
    ]);
    let mut workers = children_of(server.pid);
    let mut n = 0;
    let mut changed = |dir: &Path| {
        n += 1;
        write_app(dir, &version(n), false);
        version(n)
    };

    write_fifo(&fifo, b"s\n");
    server.wait_for_log(&format!("stats of master pid {}", server.pid));

    // w and c under lazy-apps: new workers import the changed app.
    for (byte, log) in [(b'w', "reloading the workers"), (b'c', "chain reload done")] {
        let want = changed(dir.path());
        write_fifo(&fifo, &[byte]);
        workers = new_workers(&server, &workers);
        serves(addr, &want);
        server.wait_for_log(log);
    }
    // r: the master re-executes.
    let want = changed(dir.path());
    write_fifo(&fifo, b"r");
    workers = new_workers(&server, &workers);
    serves(addr, &want);
    // W: killed and respawned at once.
    write_fifo(&fifo, b"W");
    workers = new_workers(&server, &workers);
    server.wait_for_log("brutal reload of the workers");
    // R: stopped at once, then the master re-executes, same pid.
    let want = changed(dir.path());
    write_fifo(&fifo, b"R");
    workers = new_workers(&server, &workers);
    serves(addr, &want);
    server.wait_for_log("brutal reload: stopping the workers at once");
    assert!(server.is_running());

    // p pauses the workers (stopped processes), p resumes them.
    write_fifo(&fifo, b"p");
    server.wait_for_log("workers paused");
    let stopped = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap()
            .rsplit_once(')')
            .unwrap()
            .1
            .trim_start()
            .starts_with('T')
    };
    wait_until("the workers to be stopped", || {
        workers.iter().all(|&p| stopped(p)).then_some(())
    });
    write_fifo(&fifo, b"p");
    server.wait_for_log("workers resumed");
    assert_eq!(get(addr, "/fast").status, 200);

    std::fs::remove_file(&pidfile).unwrap();
    write_fifo(&fifo, b"P");
    wait_until("the pidfile written again", || {
        std::fs::read_to_string(&pidfile).ok()
    });
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        server.pid.to_string()
    );

    // 1: the second FIFO is the active one; the first is not obeyed any more.
    write_fifo(&fifo, b"1");
    server.wait_for_log("is the active one now");
    write_fifo(&fifo, b"q");
    server.wait_for_log("ignored, this FIFO is not the active one");
    write_fifo(&fifo2, b"x");
    server.wait_for_log("unknown command 'x'");
    write_fifo(&fifo2, b"q");
    let status = server.wait_exit();
    assert!(status.success(), "{status:?}\n{}", server.log());
    assert!(
        !fifo.exists() && !fifo2.exists(),
        "vacuum removes the FIFOs"
    );
    assert_eq!(
        workers
            .iter()
            .filter(|&&p| ruwsgi_integration_tests::pid_alive(p))
            .count(),
        0
    );

    let (mut server, _addr, _dir) = reloadable(&["--master-fifo", fifo.to_str().unwrap()]);
    write_fifo(&fifo, b"Q");
    server.wait_for_log("stopping the workers at once");
    assert!(server.wait_exit().success());
}

/// `touch-reload`, `touch-workers-reload` and `touch-chain-reload`: touching the file
/// reloads the master, replaces the workers, or replaces them one at a time; under
/// lazy-apps each serves the changed app.
#[test]
fn touched_files_reload() {
    let tmp = tempfile::tempdir().unwrap();
    let files = ["reload", "workers", "chain"].map(|f| tmp.path().join(f));
    for f in &files {
        std::fs::write(f, "").unwrap();
    }
    let (server, addr, dir) = reloadable(&[
        "--lazy-apps",
        "--touch-reload",
        files[0].to_str().unwrap(),
        "--touch-workers-reload",
        files[1].to_str().unwrap(),
        "--touch-chain-reload",
        files[2].to_str().unwrap(),
    ]);
    let mut workers = children_of(server.pid);
    for (n, (file, log)) in files
        .iter()
        .zip(["reloading (", "reloading the workers", "chain reload done"])
        .enumerate()
    {
        write_app(dir.path(), &version(n + 1), false);
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(10);
        std::fs::File::options()
            .write(true)
            .open(file)
            .unwrap()
            .set_modified(later)
            .unwrap();
        workers = new_workers(&server, &workers);
        serves(addr, &version(n + 1));
        server.wait_for_log(log);
        server.wait_for_log(&format!("{} changed", file.display()));
    }
}

/// `fs-reload DIR`: rewriting the app's file in the directory reloads gracefully, and the
/// new code is served; `fs-brutal-reload FILE`: removing the file reloads brutally.
#[test]
fn fs_reload_follows_a_directory_and_fs_brutal_reload_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let brutal = tmp.path().join("brutal");
    std::fs::write(&brutal, "").unwrap();
    let (server, addr, dir) = reloadable(&[
        "--fs-reload",
        ".",
        "--fs-brutal-reload",
        brutal.to_str().unwrap(),
    ]);
    let workers = children_of(server.pid);
    write_app(dir.path(), &version(1), false);
    let workers = new_workers(&server, &workers);
    serves(addr, &version(1));
    server.wait_for_log(". changed");
    assert!(!server.log().contains("brutal reload"));
    std::fs::remove_file(&brutal).unwrap();
    server.wait_for_log("brutal reload: stopping the workers at once, then re-executing");
    new_workers(&server, &workers);
    serves(addr, &version(1));
    server.wait_for_log(&format!("{} changed", brutal.display()));
}

/// `exit-on-reload`: SIGHUP stops the server gracefully, status 0, for a supervisor to
/// start it again.
#[test]
fn exit_on_reload_stops_instead_of_reloading() {
    let (mut server, addr, _dir) = reloadable(&["--exit-on-reload"]);
    assert_eq!(get(addr, "/fast").status, 200);
    server.signal(libc::SIGHUP);
    let status = server.wait_exit();
    assert!(status.success(), "{status}\n{}", server.log());
    let log = server.log();
    assert!(
        log.contains("exit-on-reload: stopping instead of reloading"),
        "{log}"
    );
    assert!(!log.contains("re-executes"), "{log}");
}

/// A chain reload without lazy-apps would fork the new workers from a master holding the
/// old code: it is a graceful reload instead, and says so.
#[test]
fn a_chain_reload_without_lazy_apps_reloads_gracefully() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo");
    let (server, addr, dir) = reloadable(&["--master-fifo", fifo.to_str().unwrap()]);
    let workers = children_of(server.pid);
    write_app(dir.path(), &version(1), false);
    write_fifo(&fifo, b"c");
    server.wait_for_log("a chain reload needs lazy-apps; reloading gracefully instead");
    new_workers(&server, &workers);
    serves(addr, &version(1));
}

/// A replaced worker that never says it stopped accepting (stopped here with SIGSTOP, as a
/// previous image of another build might not say it) holds its replacement back 1.5 s at
/// most: then the new worker accepts anyway, with a warning, and the old one is killed once
/// `worker-reload-mercy` is over. The chain goes on to the next worker.
#[test]
fn a_replaced_worker_that_never_says_it_stopped_accepting_holds_back_its_replacement_briefly() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo");
    let (server, addr, dir) = reloadable(&[
        "--lazy-apps",
        "--master-fifo",
        fifo.to_str().unwrap(),
        "--worker-reload-mercy",
        "3",
    ]);
    let first = logged_pid(&server.log(), "spawned worker 1 ").expect("worker 1's pid");
    // Stopped only once it accepts: a worker still starting up has not said it accepts, so
    // there would be nothing to wait for.
    wait_until("worker 1 to answer", || {
        let text = get(addr, "/fast").text();
        (text.split(' ').nth(1) == Some(first.to_string().as_str())).then_some(())
    });
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(first as libc::pid_t, libc::SIGSTOP) };
    write_app(dir.path(), &version(1), false);
    let asked = std::time::Instant::now();
    write_fifo(&fifo, b"c");
    server.wait_for_log(
        "did not say they stopped accepting within 1500 ms; the new ones accept anyway",
    );
    assert!(
        asked.elapsed() >= Duration::from_millis(1400),
        "released after {:?}",
        asked.elapsed()
    );
    serves(addr, &version(1));
    wait_until("the stopped worker to be killed", || {
        (!pid_alive(first)).then_some(())
    });
    server.wait_for_log("chain reload done");
    serves(addr, &version(1));
}

/// Copies the directory tree `from` to `to` (no `__pycache__`).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "__pycache__" {
                copy_tree(&src, &dst);
            }
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// py-autoreload on the Django example: an edit of `views.py`, which only `urls.py`
/// imports (Django loads it at the first request, after the fork), is served after the
/// reload it triggers; the two workers that both saw the change ask for one reload.
#[test]
fn py_autoreload_serves_an_edited_module_that_only_urls_py_imports() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("mysite");
    copy_tree(
        &ruwsgi_integration_tests::workspace_root().join("examples/django/mysite"),
        &site,
    );
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut server = ServerBuilder::new([
        "--master".to_string(),
        "--processes".to_string(),
        "2".to_string(),
        "--http-socket".to_string(),
        addr.to_string(),
        "--home".to_string(),
        ruwsgi_integration_tests::test_venv()
            .to_string_lossy()
            .into_owned(),
        "--chdir".to_string(),
        site.to_string_lossy().into_owned(),
        "--module".to_string(),
        "mysite.wsgi".to_string(),
        "--py-autoreload".to_string(),
        "1".to_string(),
    ])
    .env("DJANGO_DB", dir.path().join("db.sqlite3"))
    .env("DJANGO_ALLOWED_HOSTS", "test")
    .start();
    server.wait_for_tcp(addr);
    server.wait_for_log("spawned worker 2");
    let before = children_of(server.pid);
    // Both workers import the views (the worker that takes a connection is not chosen here:
    // enough requests reach both).
    for _ in 0..20 {
        assert_eq!(get(addr, "/hello/").text(), "Hello from Django, 45\n");
    }
    let views = site.join("mysite/views.py");
    let text = std::fs::read_to_string(&views).unwrap();
    std::fs::write(
        &views,
        text.replace("Hello from Django", "Hello again from Django"),
    )
    .unwrap();
    wait_until("the edited view to be served", || {
        (get(addr, "/hello/").text() == "Hello again from Django, 45\n").then_some(())
    });
    new_workers(&server, &before);
    let log = server.wait_for_log("py-autoreload: ");
    assert!(
        log.contains(&format!("{} changed; reloading", views.display())),
        "{log}"
    );
    // Two scans later, still one reload for one change.
    std::thread::sleep(Duration::from_millis(2500));
    let log = server.log();
    assert_eq!(log.matches("py-autoreload: ").count(), 1, "{log}");
    assert_eq!(log.matches("master process reloaded").count(), 1, "{log}");
}
