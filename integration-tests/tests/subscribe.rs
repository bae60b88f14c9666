//! `subscribe-to`: the master announces the instance to a subscription server (uWSGI's
//! fastrouter protocol: uwsgi packets of modifier1 224 over UDP). The test is the
//! subscription server: it reads the datagrams, then reaches the instance at the address
//! announced. (Checked by hand against uWSGI 2.0.31's own fastrouter too: it routes the
//! key's requests to the instance, and drops the node at the unsubscribe.)

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ruwsgi_integration_tests::*;

/// One announce: modifier2 (0 subscribe, 1 unsubscribe) and the vars.
#[derive(Debug)]
struct Announce {
    unsubscribe: bool,
    vars: Vec<(String, String)>,
}

impl Announce {
    fn var(&self, name: &str) -> &str {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in {self:?}"))
    }
}

/// The next datagram, decoded (a uwsgi packet: modifier1 224, size, modifier2, vars).
fn next_announce(server: &UdpSocket) -> Announce {
    let mut buf = [0u8; 4096];
    let n = server.recv(&mut buf).expect("an announce within 10 s");
    let packet = &buf[..n];
    assert_eq!(packet[0], 224, "modifier1");
    let size = usize::from(u16::from_le_bytes([packet[1], packet[2]]));
    assert_eq!(size + 4, n, "one packet per datagram");
    /// `u16le size, bytes` off the front of `rest`.
    fn take(rest: &mut &[u8]) -> String {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let s = String::from_utf8(rest[2..2 + len].to_vec()).unwrap();
        *rest = &rest[2 + len..];
        s
    }
    let mut rest = &packet[4..];
    let mut vars = Vec::new();
    while !rest.is_empty() {
        let k = take(&mut rest);
        let v = take(&mut rest);
        vars.push((k, v));
    }
    Announce {
        unsubscribe: packet[3] == 1,
        vars,
    }
}

/// The next announces until one for each of `keys` has come, by key.
fn round(server: &UdpSocket, keys: &[&str]) -> Vec<Announce> {
    let mut got: Vec<Announce> = Vec::new();
    while !keys.iter().all(|k| got.iter().any(|a| a.var("key") == *k)) {
        got.push(next_announce(server));
    }
    got
}

#[test]
fn the_master_subscribes_resubscribes_and_unsubscribes_at_reload_and_stop() {
    let sub = UdpSocket::bind("127.0.0.1:0").unwrap();
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let sub_addr = sub.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "# one domain per line\nshop.example.com,5\n\n").unwrap();
    let mut server = ServerBuilder::new([
        "--socket",
        ":0",
        "--master",
        "--wsgi-file",
        &app("wsgi_echo.py"),
        "--subscribe-to",
        &format!("{sub_addr}:example.com"),
        "--subscribe-to",
        &format!("{sub_addr}:@{}", keys.display()),
        "--subscribe-freq",
        "1",
        "--unsubscribe-on-graceful-reload",
    ])
    .start();

    let first = round(&sub, &["example.com", "shop.example.com"]);
    assert!(first.iter().all(|a| !a.unsubscribe), "{first:?}");
    let plain = first
        .iter()
        .find(|a| a.var("key") == "example.com")
        .unwrap();
    let shop = first
        .iter()
        .find(|a| a.var("key") == "shop.example.com")
        .unwrap();
    assert_eq!(plain.var("modifier1"), "0");
    assert_eq!(shop.var("modifier1"), "5");
    assert_eq!(plain.var("cores"), "1");
    // `:0` is announced with the port the kernel chose, as uWSGI does.
    let announced = plain.var("address").to_string();
    let port: u16 = announced.strip_prefix(':').unwrap().parse().unwrap();
    assert_ne!(port, 0);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let reply = uwsgi_tcp_request(addr, &uwsgi_packet(&uwsgi_vars("GET", "/pid"), b""));
    assert_eq!(reply.status, 200, "the announced address is the instance's");

    // Again every subscribe-freq seconds.
    let started = Instant::now();
    let again = round(&sub, &["example.com"]);
    assert!(again.iter().all(|a| !a.unsubscribe));
    assert!(started.elapsed() < Duration::from_secs(5));

    // unsubscribe-on-graceful-reload: a reload unsubscribes first, the reloaded image
    // subscribes again.
    server.signal(libc::SIGHUP);
    let mut seen_unsubscribe = false;
    loop {
        let a = next_announce(&sub);
        if a.unsubscribe {
            seen_unsubscribe = true;
        } else if seen_unsubscribe && a.var("key") == "example.com" {
            break;
        }
    }
    server.wait_for_log("master process reloaded");

    // A stop unsubscribes every key.
    server.signal(libc::SIGTERM);
    let mut gone = Vec::new();
    while gone.len() < 2 {
        let a = next_announce(&sub);
        if a.unsubscribe {
            assert_eq!(a.var("address"), announced);
            gone.push(a.var("key").to_string());
        }
    }
    gone.sort();
    assert_eq!(gone, ["example.com", "shop.example.com"]);
    assert!(server.wait_exit().success());
}
