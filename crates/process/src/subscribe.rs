//! `subscribe-to`: the master announces this instance to uWSGI subscription servers (a
//! fastrouter's or HTTP router's `--fastrouter-subscription-server`), which then route the
//! requests for a key (a domain) to it, as uWSGI's master does.
//!
//! - The value is `[SOCKET=]SERVER:KEY[,MODIFIER1]`: SERVER is `host:port` (UDP) or the
//!   path of a unix datagram socket; KEY is the domain, or `@FILE` with one `KEY[,MODIFIER1]`
//!   per line (`#` comments), read at every announce. SOCKET is the address announced
//!   (`=N=` names the Nth socket, from 0); by default the first socket's, its port resolved
//!   when it was bound to port 0 (`:0` announces `:PORT`, as uWSGI).
//! - The announce is a uwsgi packet with modifier1 224 and modifier2 0 (subscribe) or 1
//!   (unsubscribe), its vars `key`, `address`, `modifier1`, `modifier2`, `cores` (workers ×
//!   threads), `load` and `weight` (1), in one datagram. The master sends it once its first
//!   workers are forked, then every `subscribe-freq` seconds (default 10), and an
//!   unsubscribe when the server stops (gracefully or not) or reloads brutally (FIFO `R`,
//!   which stops every worker first) and, under `unsubscribe-on-graceful-reload`, before a
//!   graceful reload re-executes it.
//! - Signed subscriptions (`KEY,MODIFIER1,SIGNKEY`) need uWSGI's SSL build: refused at start.

use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ruwsgi_proto::{encode_uwsgi, UwsgiPacket};

use crate::bind::Bound;

/// modifier1 of a subscription packet (uWSGI's `UWSGI_MODIFIER_SUBSCRIPTION`).
const SUBSCRIPTION: u8 = 224;

/// Whether an announce subscribes or unsubscribes (the packet's modifier2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Announce {
    Subscribe = 0,
    Unsubscribe = 1,
}

/// Where an announce goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Server {
    Udp(String),
    Unix(PathBuf),
}

/// The keys of one `subscribe-to`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Keys {
    /// One key and its modifier1.
    One(String, u8),
    /// `@FILE`: a key (and modifier1) per line, read at each announce.
    File(PathBuf),
}

/// One `subscribe-to` value, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    server: Server,
    keys: Keys,
    /// The address announced, when the value names one.
    address: Option<Address>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Address {
    Named(String),
    /// `=N=`: the Nth socket's.
    Socket(usize),
}

impl Target {
    fn parse(value: &str) -> Result<Target, String> {
        let bad = |why: &str| format!("{value:?}: {why}");
        let (address, rest) = match value.strip_prefix('=') {
            Some(numbered) => {
                let (n, rest) = numbered
                    .split_once('=')
                    .ok_or_else(|| bad("expected =N=SERVER:KEY"))?;
                let n = n.parse().map_err(|_| bad("=N= needs a socket number"))?;
                (Some(Address::Socket(n)), rest)
            }
            None => match value.split_once('=') {
                Some((name, rest)) => (Some(Address::Named(name.to_string())), rest),
                None => (None, value),
            },
        };
        // The server ends at its second `:` (host:port) or, for a unix path, at the first
        // `:` after the path's first character.
        let (server, key) = if let Some(path) = rest.strip_prefix('/') {
            let (path, key) = path
                .split_once(':')
                .ok_or_else(|| bad("expected SERVER:KEY"))?;
            (Server::Unix(PathBuf::from(format!("/{path}"))), key)
        } else {
            let first = rest
                .find(':')
                .ok_or_else(|| bad("expected HOST:PORT:KEY"))?;
            let second = rest[first + 1..]
                .find(':')
                .map(|i| first + 1 + i)
                .ok_or_else(|| bad("expected HOST:PORT:KEY"))?;
            (Server::Udp(rest[..second].to_string()), &rest[second + 1..])
        };
        if key.is_empty() {
            return Err(bad("the key is empty"));
        }
        let keys = match key.strip_prefix('@') {
            Some(file) => Keys::File(PathBuf::from(file)),
            None => {
                let mut parts = key.splitn(3, ',');
                let key = parts.next().unwrap_or_default().to_string();
                let modifier1 = parse_modifier1(parts.next()).map_err(|e| bad(&e))?;
                if parts.next().is_some() {
                    return Err(bad(
                        "signed subscriptions (KEY,MODIFIER1,SIGNKEY) are not supported",
                    ));
                }
                Keys::One(key, modifier1)
            }
        };
        Ok(Target {
            server,
            keys,
            address,
        })
    }

    /// The keys to announce now, each with its modifier1.
    fn keys(&self) -> Vec<(String, u8)> {
        match &self.keys {
            Keys::One(key, m) => vec![(key.clone(), *m)],
            Keys::File(path) => match std::fs::read_to_string(path) {
                Ok(text) => text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .filter_map(|l| {
                        let (key, m) = match l.split_once(',') {
                            Some((k, m)) => (k, Some(m)),
                            None => (l, None),
                        };
                        match parse_modifier1(m) {
                            Ok(m) => Some((key.to_string(), m)),
                            Err(e) => {
                                log::warn!("subscribe-to {}: {l:?}: {e}", path.display());
                                None
                            }
                        }
                    })
                    .collect(),
                Err(e) => {
                    log::warn!("subscribe-to: cannot read {}: {e}", path.display());
                    Vec::new()
                }
            },
        }
    }
}

fn parse_modifier1(value: Option<&str>) -> Result<u8, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(0),
        Some(m) => m
            .parse()
            .map_err(|_| format!("modifier1 {m:?} is not a number from 0 to 255")),
    }
}

/// The address a socket is announced under: as configured, with the port the kernel chose
/// when it was bound to port 0.
fn announced(bound: &Bound) -> String {
    let configured = &bound.spec.address;
    match (configured.rsplit_once(':'), bound.local_addr) {
        (Some((host, "0" | "")), Some(local)) => format!("{host}:{}", local.port()),
        _ => configured.clone(),
    }
}

/// Every `subscribe-to`, and when to announce again.
#[derive(Debug)]
pub(crate) struct Subscriptions {
    targets: Vec<Target>,
    /// The announced address of each socket, in order.
    sockets: Vec<String>,
    cores: usize,
    freq: Duration,
    next: Option<Instant>,
    /// `unsubscribe-on-graceful-reload`.
    pub(crate) on_reload: bool,
}

impl Subscriptions {
    /// The subscriptions `values` ask for (an error names the bad one); `cores` is workers
    /// × threads.
    pub(crate) fn new(
        values: &[String],
        sockets: &[Bound],
        cores: usize,
        freq: Duration,
        on_reload: bool,
    ) -> Result<Subscriptions, String> {
        let targets = values
            .iter()
            .map(|v| Target::parse(v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("subscribe-to {e}"))?;
        let sockets: Vec<String> = sockets.iter().map(announced).collect();
        for t in &targets {
            if let Some(Address::Socket(n)) = t.address {
                if n >= sockets.len() {
                    return Err(format!(
                        "subscribe-to: socket {n} does not exist ({} sockets)",
                        sockets.len()
                    ));
                }
            }
        }
        if !targets.is_empty() && sockets.is_empty() {
            return Err("subscribe-to: there is no socket to announce".into());
        }
        Ok(Subscriptions {
            targets,
            sockets,
            cores,
            freq: freq.max(Duration::from_secs(1)),
            next: None,
            on_reload,
        })
    }

    /// Announces now if it is time (the first time: now), logging the first round.
    pub(crate) fn tick(&mut self, now: Instant) {
        if self.targets.is_empty() || self.next.is_some_and(|t| now < t) {
            return;
        }
        self.send_all(Announce::Subscribe, self.next.is_none());
        self.next = Some(now + self.freq);
    }

    /// Sends `announce` for every key of every subscription.
    pub(crate) fn send_all(&self, announce: Announce, verbose: bool) {
        for target in &self.targets {
            let address = match &target.address {
                Some(Address::Named(a)) => a.as_str(),
                Some(Address::Socket(n)) => self.sockets[*n].as_str(),
                None => self.sockets[0].as_str(),
            };
            for (key, modifier1) in target.keys() {
                if verbose {
                    log::info!(
                        "{} {key} at {} for {address}",
                        match announce {
                            Announce::Subscribe => "subscribing to",
                            Announce::Unsubscribe => "unsubscribing from",
                        },
                        target.server.display()
                    );
                }
                let packet = self.packet(announce, &key, address, modifier1);
                if let Err(e) = target.server.send(&packet) {
                    log::warn!(
                        "subscribe-to {}: cannot send to {}: {e}",
                        key,
                        target.server.display()
                    );
                }
            }
        }
    }

    fn packet(&self, announce: Announce, key: &str, address: &str, modifier1: u8) -> Vec<u8> {
        let vars = [
            ("key", key.to_string()),
            ("address", address.to_string()),
            ("modifier1", modifier1.to_string()),
            ("modifier2", "0".to_string()),
            ("cores", self.cores.to_string()),
            ("load", "0".to_string()),
            ("weight", "1".to_string()),
        ];
        let packet = UwsgiPacket {
            modifier1: SUBSCRIPTION,
            modifier2: announce as u8,
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.into_bytes()))
                .collect(),
        };
        let mut out = Vec::new();
        // A key or address longer than 64 KiB cannot be sent; nothing is then.
        if encode_uwsgi(&packet, &mut out).is_err() {
            log::warn!("subscribe-to {key}: the announce is too large for a uwsgi packet");
        }
        out
    }
}

impl Server {
    fn display(&self) -> String {
        match self {
            Server::Udp(a) => a.clone(),
            Server::Unix(p) => p.display().to_string(),
        }
    }

    fn send(&self, packet: &[u8]) -> std::io::Result<()> {
        if packet.is_empty() {
            return Ok(());
        }
        match self {
            Server::Udp(address) => {
                let socket = UdpSocket::bind(("0.0.0.0", 0))?;
                socket.send_to(packet, address.as_str()).map(drop)
            }
            Server::Unix(path) => UnixDatagram::unbound()?.send_to(packet, path).map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_uwsgi_reads_them() {
        let t = Target::parse("127.0.0.1:7000:example.com").unwrap();
        assert_eq!(t.server, Server::Udp("127.0.0.1:7000".into()));
        assert_eq!(t.keys, Keys::One("example.com".into(), 0));
        assert_eq!(t.address, None);
        let t = Target::parse("10.0.0.1:3031=/run/sub.sock:shop.example.com,5").unwrap();
        assert_eq!(t.server, Server::Unix("/run/sub.sock".into()));
        assert_eq!(t.keys, Keys::One("shop.example.com".into(), 5));
        assert_eq!(t.address, Some(Address::Named("10.0.0.1:3031".into())));
        let t = Target::parse("=1=:7000:@/etc/keys").unwrap();
        assert_eq!(t.server, Server::Udp(":7000".into()));
        assert_eq!(t.keys, Keys::File("/etc/keys".into()));
        assert_eq!(t.address, Some(Address::Socket(1)));
        for bad in [
            "127.0.0.1:7000",
            "127.0.0.1:7000:",
            "127.0.0.1:7000:k,300",
            "127.0.0.1:7000:k,0,/etc/sign.pem",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_announce_is_a_uwsgi_packet_of_modifier1_224() {
        let subs = Subscriptions {
            targets: Vec::new(),
            sockets: vec![":3031".into()],
            cores: 4,
            freq: Duration::from_secs(10),
            next: None,
            on_reload: false,
        };
        let bytes = subs.packet(Announce::Unsubscribe, "example.com", ":3031", 0);
        let limits = ruwsgi_proto::Limits::default();
        let ruwsgi_proto::Parsed::Complete(p, n) =
            ruwsgi_proto::parse_uwsgi(&bytes, &limits).unwrap()
        else {
            panic!("incomplete");
        };
        assert_eq!((p.modifier1, p.modifier2, n), (224, 1, bytes.len()));
        assert_eq!(p.var(b"key"), Some(&b"example.com"[..]));
        assert_eq!(p.var(b"address"), Some(&b":3031"[..]));
        assert_eq!(p.var(b"cores"), Some(&b"4"[..]));
    }
}
