//! The harness of ruwsgi's end-to-end tests.
//!
//! Every test starts the real `ruwsgi` binary (built by `cargo build` before `cargo test`,
//! which `just test` does) with real sockets on `127.0.0.1` or in a temp directory, talks to
//! it with plain `std::net` clients, and stops it through [`Server`]'s drop guard, which
//! kills the server's whole process group even when the test panics.
//!
//! # Waiting
//! Tests never `sleep` and hope: [`wait_until`] polls a condition against a deadline, and
//! every socket read in this harness has a timeout, so a broken server fails a test instead of
//! hanging the suite.

#![deny(missing_docs)]

mod nginx;

pub use nginx::Nginx;

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a test waits for a server to start, stop or answer before it fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The `PATH` systemd gives a service: `python3` on it is the system's, not necessarily the
/// Python ruwsgi was built against.
pub const SYSTEMD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The `target/<profile>` directory this test binary was built into.
fn target_profile_dir() -> PathBuf {
    // The test binary lives in target/<profile>/deps/integration-<hash>.
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary is in target/<profile>/deps")
        .to_path_buf()
}

/// The path of the `ruwsgi` binary under test (`RUWSGI_BIN` overrides it).
pub fn ruwsgi_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("RUWSGI_BIN") {
        return PathBuf::from(bin);
    }
    let bin = target_profile_dir().join("ruwsgi");
    assert!(
        bin.exists(),
        "{} does not exist: run `cargo build -p ruwsgi` first (`just test` does)",
        bin.display()
    );
    bin
}

/// The workspace root (the parent of `integration-tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration-tests has a parent")
        .to_path_buf()
}

/// The directory of the small WSGI apps the tests serve (`integration-tests/apps`).
pub fn apps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("apps")
}

/// The path of one test app in [`apps_dir`].
pub fn app(name: &str) -> String {
    apps_dir().join(name).to_string_lossy().into_owned()
}

/// The Python venv with Django and Flask that `just test` prepares (`RUWSGI_TEST_VENV`,
/// default `target/venv`). Tests that need it fail (they never skip) when it is missing.
pub fn test_venv() -> PathBuf {
    let venv = std::env::var_os("RUWSGI_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target").join("venv"));
    assert!(
        venv.join("bin").join("python").exists(),
        "the test venv {} is missing: run `just test`, which creates it",
        venv.display()
    );
    venv
}

/// A fresh port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Calls `cond` until it returns `Some`, or panics with `what` after [`DEADLINE`].
pub fn wait_until<T>(what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    wait_until_for(DEADLINE, what, &mut cond)
}

/// [`wait_until`] with a deadline of the caller's choosing.
pub fn wait_until_for<T>(limit: Duration, what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(v) = cond() {
            return v;
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// A running `ruwsgi` process. Dropping it kills its process group (master and workers).
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    /// The pid of the process the harness started (the master, or the single worker).
    pub pid: u32,
    /// The file the server's stdout and stderr go to.
    pub log_path: PathBuf,
    _dir: tempfile::TempDir,
}

/// Builds a `ruwsgi` command line; [`ServerBuilder::start`] runs it.
#[derive(Debug)]
pub struct ServerBuilder {
    cmd: Command,
    dir: tempfile::TempDir,
}

impl ServerBuilder {
    /// A `ruwsgi` command with the given arguments, in a fresh process group, its output
    /// captured to a log file in a temp directory, which is also its `TMPDIR`.
    pub fn new<I, S>(args: I) -> ServerBuilder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        ServerBuilder::with_binary(ruwsgi_bin(), args)
    }

    /// As [`ServerBuilder::new`], running the `ruwsgi` binary at `binary` (one pip
    /// installed, say).
    pub fn with_binary<I, S>(binary: impl AsRef<Path>, args: I) -> ServerBuilder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(binary.as_ref());
        cmd.args(args);
        cmd.process_group(0);
        cmd.stdin(Stdio::null());
        // Tests must not pick up a developer's UWSGI_* settings.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("UWSGI_") {
                cmd.env_remove(&k);
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        // What the server and its apps put in the temp directory goes with the test's.
        cmd.env("TMPDIR", dir.path());
        ServerBuilder { cmd, dir }
    }

    /// Sets the working directory.
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> ServerBuilder {
        self.cmd.current_dir(dir);
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> ServerBuilder {
        self.cmd.env(k, v);
        self
    }

    /// Gives the server a pipe as stdin (the test's end stays open with the server), in place
    /// of `/dev/null`.
    pub fn piped_stdin(mut self) -> ServerBuilder {
        self.cmd.stdin(Stdio::piped());
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> ServerBuilder {
        self.cmd.env_remove(k);
        self
    }

    /// Caps the server's open files (soft and hard `RLIMIT_NOFILE`) at `n`, to test
    /// running out of file descriptors.
    pub fn limit_open_files(mut self, n: u64) -> ServerBuilder {
        // SAFETY: the closure runs in the child between fork and exec and only calls
        // setrlimit(2), which is async-signal-safe.
        unsafe {
            self.cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: n as libc::rlim_t,
                    rlim_max: n as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            });
        }
        self
    }

    /// `ruwsgi ARGS...` started as systemd starts a socket-activated service: `listeners`
    /// become descriptors 3, 4, ... of the server, `LISTEN_FDS` says how many, and
    /// `LISTEN_PID` is the server's own pid (a shell sets it, then `exec`s ruwsgi, so the
    /// pid is the same).
    pub fn socket_activated<I, S>(listeners: Vec<std::os::fd::OwnedFd>, args: I) -> ServerBuilder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        use std::os::fd::AsRawFd;
        let mut all: Vec<std::ffi::OsString> = vec![
            "-c".into(),
            "LISTEN_PID=$$; export LISTEN_PID; exec \"$0\" \"$@\"".into(),
            ruwsgi_bin().into(),
        ];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        let mut builder = ServerBuilder::with_binary("/bin/sh", all);
        builder.cmd.env("LISTEN_FDS", listeners.len().to_string());
        let raw: Vec<i32> = listeners.iter().map(|l| l.as_raw_fd()).collect();
        // SAFETY: the closure runs in the child between fork and exec and only calls
        // fcntl(2) and dup2(2), which are async-signal-safe; the listeners outlive the spawn
        // (moved into the closure).
        unsafe {
            builder.cmd.pre_exec(move || {
                let _keep = &listeners;
                // First out of the way of 3, 4, ..., then into place (dup2 clears
                // close-on-exec on the copy).
                let mut high = Vec::with_capacity(raw.len());
                for &fd in &raw {
                    let copy = libc::fcntl(fd, libc::F_DUPFD, 100);
                    if copy < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    high.push(copy);
                }
                for (i, &fd) in high.iter().enumerate() {
                    if libc::dup2(fd, 3 + i as i32) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    libc::close(fd);
                }
                Ok(())
            });
        }
        builder
    }

    /// Starts the server. Its output goes to [`Server::log_path`].
    pub fn start(mut self) -> Server {
        let log_path = self.dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).expect("create log");
        self.cmd.stdout(log.try_clone().expect("dup log"));
        self.cmd.stderr(log);
        let child = self.cmd.spawn().expect("spawn ruwsgi");
        Server {
            pid: child.id(),
            child: Some(child),
            log_path,
            _dir: self.dir,
        }
    }
}

impl Server {
    /// Starts `ruwsgi ARGS...` (see [`ServerBuilder`] for more control).
    pub fn start<I, S>(args: I) -> Server
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        ServerBuilder::new(args).start()
    }

    /// Starts `ruwsgi --http-socket 127.0.0.1:PORT ARGS...` and waits until it accepts.
    pub fn http<I, S>(args: I) -> (Server, SocketAddr)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut all: Vec<std::ffi::OsString> =
            vec!["--http-socket".into(), addr.to_string().into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        let mut server = Server::start(all);
        server.wait_for_tcp(addr);
        (server, addr)
    }

    /// Everything the server printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits until the server's log contains `needle`, and returns the log.
    pub fn wait_for_log(&self, needle: &str) -> String {
        wait_until(&format!("{needle:?} in the server log"), || {
            let log = self.log();
            log.contains(needle).then_some(log)
        })
    }

    /// Waits until `addr` accepts a TCP connection; panics with the log if the server exits.
    pub fn wait_for_tcp(&mut self, addr: SocketAddr) {
        let what = format!("ruwsgi to accept on {addr}");
        let start = Instant::now();
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            self.check_alive(&what);
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the unix socket at `path` accepts a connection.
    pub fn wait_for_unix(&mut self, path: &Path) {
        let what = format!("ruwsgi to accept on {}", path.display());
        let start = Instant::now();
        loop {
            if UnixStream::connect(path).is_ok() {
                return;
            }
            self.check_alive(&what);
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn check_alive(&mut self, what: &str) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "ruwsgi exited ({status}) while waiting for {what}:\n{}",
                    self.log()
                );
            }
        }
    }

    /// Sends `sig` to the process the harness started.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(self.pid as libc::pid_t, sig) };
    }

    /// Waits for the server to exit by itself and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("server already reaped");
        let status = wait_until("ruwsgi to exit", || child.try_wait().expect("try_wait"));
        self.child = None;
        status
    }

    /// Whether the process the harness started is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Kill the whole process group: the master and every worker it forked. A daemonized
        // server left the group; tests of daemonize stop it by its pidfile themselves.
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(-(self.pid as libc::pid_t), libc::SIGKILL) };
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- ruwsgi log ({}) ---\n{}",
                self.log_path.display(),
                self.log()
            );
            return;
        }
        assert_group_gone(self.pid, "ruwsgi");
    }
}

/// The live processes (zombies aside) of process group `pgid`, from /proc.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        // After the command name: state, ppid, pgrp.
        let fields: Vec<&str> = rest.split_whitespace().take(3).collect();
        if fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid)
            && !matches!(fields.first(), Some(&"Z") | Some(&"X"))
        {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    pids
}

/// Waits (up to [`DEADLINE`]) until nothing of process group `pgid` runs, then panics with
/// the pids still there: a harness that stopped `what` must leave none of its processes
/// behind (an orphaned worker keeps its listening sockets and its CPU).
pub fn assert_group_gone(pgid: u32, what: &str) {
    let end = Instant::now() + DEADLINE;
    loop {
        let left = group_members(pgid);
        if left.is_empty() {
            return;
        }
        if Instant::now() >= end {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(-(pgid as libc::pid_t), libc::SIGKILL) };
            panic!("{what} (process group {pgid}) left processes running: {left:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `ruwsgi ARGS...` to completion (for commands that exit by themselves, such as
/// `--show-config`, `--version` or a config error) with a deadline.
pub fn run_ruwsgi<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_command(ServerBuilder::new(args).cmd)
}

/// The pid of the last line of `log` that contains `needle` followed by `(pid N)` (the
/// master's "spawned worker 1 (pid N)", the daemons' "spawning \"cmd\" (pid N)").
pub fn logged_pid(log: &str, needle: &str) -> Option<u32> {
    let line = log.lines().rev().find(|l| l.contains(needle))?;
    let after = &line[line.find(needle)? + needle.len()..];
    let digits = &after[after.find("(pid ")? + 5..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// Writes `bytes` to the FIFO at `path` (the master FIFO's commands).
pub fn write_fifo(path: &Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open the FIFO")
        .write_all(bytes)
        .expect("write to the FIFO");
}

/// Runs a prepared command to completion with [`DEADLINE`], killing it if it overruns.
pub fn run_command(cmd: Command) -> Output {
    run_command_for(cmd, DEADLINE)
}

/// Runs a prepared command to completion within `limit`, killing it if it overruns (a
/// build).
pub fn run_command_for(mut cmd: Command, limit: Duration) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    cmd.stdin(Stdio::null());
    cmd.stdout(std::fs::File::create(&out).expect("create"));
    cmd.stderr(std::fs::File::create(&err).expect("create"));
    let mut child = cmd.spawn().expect("spawn");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("command {cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: std::fs::read(out).expect("read stdout"),
        stderr: std::fs::read(err).expect("read stderr"),
    }
}

/// A parsed HTTP response as the tests see it.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The status line, e.g. `HTTP/1.1 200 OK`.
    pub status_line: String,
    /// Header names and values in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked when it was chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Connects to `addr` with read and write timeouts of [`DEADLINE`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, DEADLINE).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    s.set_write_timeout(Some(DEADLINE)).expect("timeout");
    s
}

/// Connects to the unix socket at `path` with timeouts of [`DEADLINE`].
pub fn connect_unix(path: &Path) -> UnixStream {
    let s = UnixStream::connect(path).expect("connect unix");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    s.set_write_timeout(Some(DEADLINE)).expect("timeout");
    s
}

/// Reads one HTTP response from `stream` (which may hold more, for pipelining tests).
/// `head_request` says the response has no body whatever its headers say.
pub fn read_response<R: Read>(stream: &mut R, head_request: bool) -> io::Result<Response> {
    let mut reader = ByteReader { inner: stream };
    let status_line = reader.line()?;
    let mut parts = status_line.splitn(3, ' ');
    let _version = parts.next();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, status_line.clone()))?;
    let mut headers = Vec::new();
    loop {
        let line = reader.line()?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, line.clone()))?;
        headers.push((k.to_string(), v.trim().to_string()));
    }
    let mut resp = Response {
        status,
        status_line,
        headers,
        body: Vec::new(),
    };
    let no_body = head_request || status == 204 || status == 304 || (100..200).contains(&status);
    if no_body {
        return Ok(resp);
    }
    if resp
        .header("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let size_line = reader.line()?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, size_line.clone()))?;
            if size == 0 {
                // Trailers, then the empty line.
                while !reader.line()?.is_empty() {}
                break;
            }
            let mut chunk = vec![0; size];
            reader.inner.read_exact(&mut chunk)?;
            resp.body.extend_from_slice(&chunk);
            let crlf = reader.line()?;
            if !crlf.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "chunk without CRLF",
                ));
            }
        }
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?;
        resp.body = vec![0; len];
        reader.inner.read_exact(&mut resp.body)?;
    } else {
        reader.inner.read_to_end(&mut resp.body)?;
    }
    Ok(resp)
}

/// Reads byte by byte so nothing past the current response is consumed (pipelining tests
/// read several responses from one stream). Slow, and fine for tests.
struct ByteReader<'a, R> {
    inner: &'a mut R,
}

impl<R: Read> ByteReader<'_, R> {
    fn line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            // `read_exact` and `read_to_end` retry an interrupted read; this loop must too. A
            // socket with a read timeout returns EINTR when the process was stopped and
            // continued, even with no signal handler (signal(7)).
            let n = match self.inner.read(&mut byte) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => r?,
            };
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("eof after {:?}", String::from_utf8_lossy(&line)),
                ));
            }
            if byte[0] == b'\n' {
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            line.push(byte[0]);
        }
    }
}

/// Sends `request` (raw bytes) on a new connection to `addr` and reads one response.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Response {
    let mut s = connect(addr);
    s.write_all(request).expect("write request");
    let head = request.starts_with(b"HEAD ");
    read_response(&mut s, head).expect("read response")
}

/// `GET path` over HTTP/1.1 with `Connection: close`.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// Sends raw bytes and returns everything the server sends until it closes the connection.
pub fn exchange_raw(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = connect(addr);
    s.write_all(request).expect("write request");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Encodes a uwsgi request packet (modifier1 0) with the given vars, as nginx's `uwsgi_pass`
/// sends it, followed by `body`.
pub fn uwsgi_packet(vars: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (k, v) in vars {
        payload.extend_from_slice(&(k.len() as u16).to_le_bytes());
        payload.extend_from_slice(k.as_bytes());
        payload.extend_from_slice(&(v.len() as u16).to_le_bytes());
        payload.extend_from_slice(v.as_bytes());
    }
    let mut packet = vec![0u8];
    packet.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    packet.push(0);
    packet.extend_from_slice(&payload);
    packet.extend_from_slice(body);
    packet
}

/// The vars nginx's `uwsgi_params` sends for `METHOD URI`.
pub fn uwsgi_vars<'a>(method: &'a str, uri: &'a str) -> Vec<(&'a str, &'a str)> {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    vec![
        ("QUERY_STRING", query),
        ("REQUEST_METHOD", method),
        ("CONTENT_TYPE", ""),
        ("CONTENT_LENGTH", ""),
        ("REQUEST_URI", uri),
        ("PATH_INFO", path),
        ("DOCUMENT_ROOT", "/usr/share/nginx/html"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_SCHEME", "http"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("REMOTE_PORT", "40000"),
        ("SERVER_PORT", "80"),
        ("SERVER_NAME", "localhost"),
        ("HTTP_HOST", "localhost"),
    ]
}

/// Sends a uwsgi request over a unix socket and reads the reply until the server closes.
pub fn uwsgi_unix_request(path: &Path, packet: &[u8]) -> Response {
    let mut s = connect_unix(path);
    s.write_all(packet).expect("write uwsgi packet");
    read_response(&mut s, false).expect("read uwsgi reply")
}

/// Sends a uwsgi request over TCP and reads the reply until the server closes.
pub fn uwsgi_tcp_request(addr: SocketAddr, packet: &[u8]) -> Response {
    let mut s = connect(addr);
    s.write_all(packet).expect("write uwsgi packet");
    read_response(&mut s, false).expect("read uwsgi reply")
}

/// Whether a process with this pid exists (and is not a zombie we could still reap).
pub fn pid_alive(pid: u32) -> bool {
    let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s,
        Err(_) => return false,
    };
    // The state is the field after the parenthesised command name.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z") | Some("X") | None)
}

/// The resident memory of `pid` in KiB (`VmRSS` of /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The open descriptors of `pid` (0 once it is gone).
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Where the open descriptors of `pid` point (`/proc/PID/fd/*` links).
pub fn fd_targets(pid: u32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|t| t.to_string_lossy().into_owned())
        .collect()
}

/// The pids of the live children of `pid` (a master's workers), from /proc.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return kids;
    };
    for entry in entries.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // fields[0] = state, fields[1] = ppid
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid)
            && !matches!(fields.first(), Some(&"Z"))
        {
            kids.push(child);
        }
    }
    kids.sort_unstable();
    kids
}

/// Whether the main thread of `pid` is blocked in `epoll_wait` (from `/proc/PID/syscall`):
/// a worker whose event loop sleeps, waiting for a connection.
pub fn sleeps_in_epoll_wait(pid: u32) -> bool {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/syscall")) else {
        return false;
    };
    let nr = s
        .split_whitespace()
        .next()
        .and_then(|n| n.parse::<i64>().ok());
    #[cfg(target_arch = "x86_64")]
    let waits = [libc::SYS_epoll_wait, libc::SYS_epoll_pwait];
    #[cfg(not(target_arch = "x86_64"))]
    let waits = [libc::SYS_epoll_pwait];
    nr.is_some_and(|n| waits.contains(&n))
}
