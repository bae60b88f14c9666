//! The Emperor (`emperor`): one ruwsgi instance per config file in a directory or matching
//! a glob pattern, started, reloaded, restarted and stopped as the files come, change and
//! go, over uWSGI's emperor protocol; `emperor-tyrant`, the throttle, its signals and its
//! systemd notifications.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use ruwsgi_integration_tests::*;

/// What a vassal's app reports (`emperor_vassal.py`).
#[derive(Debug, Clone, PartialEq)]
struct Served {
    pid: u64,
    master: u64,
    uid: u64,
    version: String,
    extra: String,
}

/// `GET path` on `addr`, or `None` while nothing answers there.
fn try_get(addr: SocketAddr, path: &str) -> Option<Served> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let response = read_response(&mut stream, false).ok()?;
    assert_eq!(response.status, 200, "{}", response.text());
    let v: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    Some(Served {
        pid: v["pid"].as_u64().unwrap(),
        master: v["master"].as_u64().unwrap(),
        uid: v["uid"].as_u64().unwrap(),
        version: v["version"].as_str().unwrap_or("").to_string(),
        extra: v["extra"].as_str().unwrap_or("").to_string(),
    })
}

/// Waits until `addr` serves and `accept` takes what it says.
fn wait_served(addr: SocketAddr, what: &str, accept: impl Fn(&Served) -> bool) -> Served {
    wait_until(what, || try_get(addr, "/").filter(|s| accept(s)))
}

/// Waits until nothing accepts on `addr`.
fn wait_refused(addr: SocketAddr, what: &str) {
    wait_until(what, || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(200))
            .is_err()
            .then_some(())
    });
}

fn local(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

/// Writes a vassal's ini file serving `emperor_vassal.py` on `addr` with `VERSION=version`.
fn write_vassal(path: &Path, addr: SocketAddr, version: &str) {
    std::fs::write(
        path,
        format!(
            "[uwsgi]\nhttp-socket = {addr}\nwsgi-file = {}\nenv = VERSION={version}\n\
             master = true\nprocesses = 1\n",
            app("emperor_vassal.py")
        ),
    )
    .unwrap();
}

#[test]
fn an_emperor_starts_reloads_restarts_and_stops_vassals_as_their_files_say() {
    let dir = tempfile::tempdir().unwrap();
    let vassals = dir.path().join("vassals");
    std::fs::create_dir(&vassals).unwrap();
    let (a, b, c) = (local(free_port()), local(free_port()), local(free_port()));
    write_vassal(&vassals.join("a.ini"), a, "1");
    write_vassal(&vassals.join("b.ini"), b, "1");
    // Not a config file: no vassal.
    std::fs::write(vassals.join("notes.txt"), "").unwrap();
    let emperor_ini = dir.path().join("emperor.ini");
    std::fs::write(
        &emperor_ini,
        "[uwsgi]\nemperor = %d/vassals\nemperor-freq = 1\nemperor-pidfile = %d/emperor.pid\n\
         touch-reload = %p\nvacuum = true\n",
    )
    .unwrap();
    let notify_path = dir.path().join("notify");
    let systemd = UnixDatagram::bind(&notify_path).unwrap();
    systemd
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let emperor = ServerBuilder::new(["--ini", emperor_ini.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &notify_path)
        .start();

    let a1 = wait_served(a, "vassal a", |_| true);
    let b1 = wait_served(b, "vassal b", |_| true);
    assert_eq!(a1.version, "1");
    assert_ne!(a1.master, b1.master, "one instance per file");
    let log = emperor.wait_for_log("b.ini is ready to accept requests");
    assert!(!log.contains("notes.txt"), "{log}");
    // systemd hears the emperor, never a vassal: they do not inherit NOTIFY_SOCKET.
    let mut told = Vec::new();
    let mut buf = [0u8; 4096];
    while !told
        .iter()
        .any(|m: &String| m.contains("governing 2 vassals"))
    {
        let n = systemd.recv(&mut buf).expect("the emperor's notifications");
        told.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(told[0], "READY=1", "{told:?}");
    assert!(
        told.iter().all(|m| !m.contains("workers accepting")),
        "{told:?}"
    );

    // A changed file reloads its vassal in place: same master, new workers, new config.
    write_vassal(&vassals.join("a.ini"), a, "2");
    let a2 = wait_served(a, "vassal a's new config", |s| s.version == "2");
    assert_eq!(a2.master, a1.master, "reloaded, not restarted");
    assert_ne!(a2.pid, a1.pid);

    // Touching the emperor's own file (touch-reload) reloads every vassal.
    let b_before = wait_served(b, "vassal b", |_| true);
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&emperor_ini, std::fs::read(&emperor_ini).unwrap()).unwrap();
    let a3 = wait_served(a, "vassal a reloaded", |s| s.pid != a2.pid);
    let b2 = wait_served(b, "vassal b reloaded", |s| s.pid != b_before.pid);
    assert_eq!((a3.master, b2.master), (a1.master, b1.master));
    // So does SIGHUP.
    emperor.signal(libc::SIGHUP);
    let a4 = wait_served(a, "vassal a reloaded by SIGHUP", |s| s.pid != a3.pid);
    wait_served(b, "vassal b reloaded by SIGHUP", |s| s.pid != b2.pid);
    assert_eq!(a4.master, a1.master);

    // A vassal that dies is started again, after the throttle.
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(b1.master as i32, libc::SIGKILL) };
    let b3 = wait_served(b, "vassal b started again", |s| s.master != b1.master);
    assert_eq!(b3.version, "1");
    emperor.wait_for_log(&format!(
        "(pid {}) exited (killed by SIGKILL); starting it again in 1000 ms",
        b1.master
    ));

    // A file that goes stops its vassal; a new file starts one.
    std::fs::remove_file(vassals.join("b.ini")).unwrap();
    wait_refused(b, "vassal b to stop");
    emperor.wait_for_log("b.ini is gone: stopping its vassal");
    write_vassal(&vassals.join("c.ini"), c, "3");
    let c1 = wait_served(c, "vassal c", |_| true);
    assert_eq!(c1.version, "3");

    // `--stop` with the emperor's pidfile stops the emperor and every vassal.
    let pidfile = dir.path().join("emperor.pid");
    let out = run_ruwsgi(["--stop", pidfile.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let mut emperor = emperor;
    let status = emperor.wait_exit();
    assert!(status.success(), "{status}\n{}", emperor.log());
    for master in [a1.master, b3.master, c1.master] {
        assert!(
            !pid_alive(master as u32),
            "vassal master {master} still runs"
        );
    }
    wait_refused(a, "vassal a to stop");
    wait_refused(c, "vassal c to stop");
    assert!(!pidfile.exists(), "vacuum removes the emperor's pidfile");
    assert!(emperor.log().contains("The Emperor is buried."));
}

/// Starts `GET /slow` on `addr` in a thread once the app says it began.
fn slow_request(
    emperor: &Server,
    addr: SocketAddr,
    nth: usize,
) -> std::thread::JoinHandle<Option<Served>> {
    let slow = std::thread::spawn(move || try_get(addr, "/slow"));
    wait_until("the slow request to start", || {
        (emperor.log().matches("slow request started").count() >= nth).then_some(())
    });
    slow
}

#[test]
fn a_glob_governs_the_files_it_matches_and_graceful_stops_let_requests_finish() {
    let dir = tempfile::tempdir().unwrap();
    let (shop, blog, other) = (local(free_port()), local(free_port()), local(free_port()));
    for (site, addr) in [("shop", shop), ("blog", blog)] {
        std::fs::create_dir_all(dir.path().join("sites").join(site)).unwrap();
        write_vassal(
            &dir.path().join(format!("sites/{site}/uwsgi.ini")),
            addr,
            site,
        );
    }
    // Matches no pattern: no vassal.
    write_vassal(&dir.path().join("sites/shop/other.ini"), other, "other");
    let mut emperor = ServerBuilder::new([
        "--emperor",
        &format!("{}/sites/*/uwsgi.ini", dir.path().display()),
        "--emperor-freq",
        "1",
        "--emperor-graceful-shutdown",
    ])
    .start();
    wait_served(shop, "the shop's vassal", |s| s.version == "shop");
    wait_served(blog, "the blog's vassal", |s| s.version == "blog");
    assert!(try_get(other, "/").is_none());
    assert!(!emperor.log().contains("other.ini"));

    // emperor-graceful-shutdown: a file that goes stops its vassal gracefully, so the
    // request it is serving finishes.
    let slow = slow_request(&emperor, blog, 1);
    std::fs::remove_file(dir.path().join("sites/blog/uwsgi.ini")).unwrap();
    assert_eq!(
        slow.join().unwrap().map(|s| s.version).as_deref(),
        Some("blog")
    );
    wait_refused(blog, "the blog's vassal to stop");
    emperor.wait_for_log("received message 2 from the emperor");

    // SIGTERM: every vassal stops gracefully, finishing the request it is serving.
    let slow = slow_request(&emperor, shop, 2);
    emperor.signal(libc::SIGTERM);
    assert_eq!(
        slow.join().unwrap().map(|s| s.version).as_deref(),
        Some("shop")
    );
    let status = emperor.wait_exit();
    assert!(status.success(), "{status}\n{}", emperor.log());
    wait_refused(shop, "the shop's vassal to stop");
}

#[test]
fn an_emperor_serves_no_socket_or_app_itself() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ruwsgi([
        "--emperor",
        dir.path().to_str().unwrap(),
        "--http-socket",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("emperor (from command line --emperor): an emperor governs vassals and serves nothing itself"),
        "{err}"
    );
    let out = run_ruwsgi(["--emperor", "zmq://tcp://127.0.0.1:5250"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the zmq:// monitor is not supported"), "{err}");
}

/// `vassal-set`, `vassals-include-before` and `vassals-inherit` reach every vassal as
/// uWSGI's emperor passes them (`--set`, `--include` before the vassal's file, `--inherit`
/// after it): the template's values come last, so its `VERSION` wins over the vassal's own
/// and the include's, and the set's `EXTRA` is there too.
#[test]
fn vassal_templates_includes_and_sets_reach_every_vassal() {
    let dir = tempfile::tempdir().unwrap();
    let vassals = dir.path().join("vassals");
    std::fs::create_dir(&vassals).unwrap();
    let a = local(free_port());
    write_vassal(&vassals.join("a.ini"), a, "own");
    std::fs::write(
        dir.path().join("early.ini"),
        "[uwsgi]\nenv = VERSION=include\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tmpl.ini"),
        "[uwsgi]\nenv = VERSION=template\n",
    )
    .unwrap();
    let emperor_ini = dir.path().join("emperor.ini");
    std::fs::write(
        &emperor_ini,
        "[uwsgi]\nemperor = %d/vassals\nemperor-freq = 1\nvassal-set = env=EXTRA=from-set\n\
         vassals-include-before = %d/early.ini\nvassals-inherit = %d/tmpl.ini\n",
    )
    .unwrap();
    let _emperor = ServerBuilder::new(["--ini", emperor_ini.to_str().unwrap()]).start();
    let served = wait_served(a, "vassal a", |_| true);
    assert_eq!(served.version, "template", "{served:?}");
    assert_eq!(served.extra, "from-set", "{served:?}");
}

#[test]
fn a_vassal_that_keeps_dying_waits_longer_each_time_up_to_the_max_throttle() {
    let dir = tempfile::tempdir().unwrap();
    let vassals = dir.path().join("vassals");
    std::fs::create_dir(&vassals).unwrap();
    let addr = local(free_port());
    // No app loads: the vassal exits with status 22 (need-app).
    std::fs::write(
        vassals.join("broken.ini"),
        format!(
            "[uwsgi]\nhttp-socket = {addr}\nwsgi-file = {}/missing.py\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let emperor = ServerBuilder::new([
        "--emperor",
        vassals.to_str().unwrap(),
        "--emperor-throttle",
        "100",
        "--emperor-max-throttle",
        "300",
    ])
    .start();
    let log = wait_until("four deaths", || {
        let log = emperor.log();
        (log.matches("exited (exit status 22)").count() >= 4).then_some(log)
    });
    let pauses: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("starting it again in ").nth(1))
        .take(4)
        .collect();
    assert_eq!(pauses, ["100 ms", "200 ms", "300 ms", "300 ms"], "{log}");
}

#[test]
fn a_tyrant_runs_each_vassal_as_its_files_owner_and_none_as_root() {
    let dir = tempfile::tempdir().unwrap();
    let vassals = dir.path().join("vassals");
    std::fs::create_dir(&vassals).unwrap();
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let root = me == 0;
    let owned = local(free_port());
    let owned_ini = vassals.join("owned.ini");
    write_vassal(&owned_ini, owned, "owned");
    // As root the file goes to nobody (the vassal must then reach the test's files).
    let owner: u32 = if root { 65534 } else { me };
    if root {
        use std::os::unix::fs::PermissionsExt;
        for d in [dir.path(), &vassals] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::os::unix::fs::chown(&owned_ini, Some(65534), Some(65534)).unwrap();
    }
    // A vassal file owned by root (a link to one: the owner is the target's).
    std::os::unix::fs::symlink("/etc/hostname", vassals.join("rootly.ini")).unwrap();
    let emperor =
        ServerBuilder::new(["--emperor", vassals.to_str().unwrap(), "--emperor-tyrant"]).start();
    emperor.wait_for_log("[emperor-tyrant] invalid permissions for vassal");
    let log = emperor.wait_for_log(&format!("owned.ini runs as uid {owner}, gid"));
    assert!(!log.contains("rootly.ini started"), "{log}");
    // The vassal runs as the file's owner. Whether it then serves depends on where Python
    // lives: as nobody, a libpython under a directory only root can enter (pyenv's, under a
    // 0700 /root) is not found unless the system has one of the same name. So either it
    // serves and reports the owner's uid, or the dynamic loader, which would let root
    // through, stops it (exit 127): either way it did not run as root.
    let served = wait_until(
        "the owned vassal to serve, or its loader to stop it",
        || {
            if let Some(served) = try_get(owned, "/") {
                return Some(Ok(served));
            }
            let log = emperor.log();
            log.contains("(exit status 127)").then_some(Err(log))
        },
    );
    match &served {
        Ok(served) => assert_eq!(served.uid, owner as u64),
        Err(log) => {
            assert!(
                root,
                "only another user can be refused root's Python\n{log}"
            );
            assert!(
                log.contains("error while loading shared libraries: libpython"),
                "{log}"
            );
        }
    }
    if root {
        // A new owner: the vassal is stopped, then started as the new owner.
        std::os::unix::fs::chown(&owned_ini, Some(65533), Some(65533)).unwrap();
        emperor.wait_for_log("the owner of");
        emperor.wait_for_log("owned.ini runs as uid 65533, gid 65533");
        if let Ok(before) = served {
            let again = wait_served(owned, "the vassal as its new owner", |s| s.uid == 65533);
            assert_ne!(again.master, before.master);
        }
    }
}
