//! Reloads (SIGHUP, `--reload PIDFILE`): the master re-executes itself in place and serves
//! the changed app, under load, without failing a request; a reload into a broken app
//! keeps the previous workers serving.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use ruwsgi_integration_tests::{
    children_of, connect, fd_count, free_port, get, read_response, wait_until, Response, Server,
    ServerBuilder,
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
/// previous code (the master stays up, with its pid, and says why); the next reload, with
/// the app fixed, serves it.
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

    write_app(dir.path(), &version(2), false);
    server.signal(libc::SIGHUP);
    wait_until("the fixed app to be served", || {
        (get(addr, "/fast").text().split(' ').next() == Some("vxx")).then_some(())
    });
    wait_until("the previous workers to exit", || {
        let now = children_of(server.pid);
        (now.len() == 2 && now.iter().all(|p| !workers.contains(p))).then_some(())
    });
}
