//! ruwsgi's log sink for the [`log`] facade. In every process that serves (a worker, a
//! mule, a spooler, or the one process of a server without a master) records are formatted
//! on the calling thread and leave through a bounded buffer that one writer thread drains
//! to standard error (the terminal, or the `logto` / `daemonize` file the process manager
//! points it at). So a slow disk (or a full pipe, or a stopped terminal) never stalls the
//! event loop or a Python thread: a line that finds the buffer full is dropped and counted,
//! and the writer logs how many were dropped as soon as it can write again — never
//! silently.
//!
//! The master writes its own lines directly instead: it stays single-threaded for its whole
//! life (it forks at every respawn, and a fork copies only the forking thread), its lines
//! are few, and none of them sits on a request's path.
//!
//! uWSGI's logger chain — `logger`, `req-logger`, `log-route`, `log-encoder` and their
//! `req-` forms — applies to every line on its way out ([`Chain`], `outputs.rs`). With a
//! chain configured, what the app writes to its standard output and error (`print`,
//! Python's `logging` to stderr) is captured through a pipe and takes the chain too, as
//! under uWSGI's log master.
//!
//! What a server process calls:
//! - [`init`] first thing in `main` (direct writes; the filter comes from the caller:
//!   `RUST_LOG`), and [`configure`] once the options are known;
//! - [`start_writer`] in a process that is about to serve, first thing after `fork` (the
//!   child never touches the parent's buffer, whose lock a writer may have held at the fork);
//! - [`flush`] before it exits or re-executes itself, so the lines it buffered are written;
//! - [`follow_reopens`] in the master where its log files can be reopened or rotated
//!   (master FIFO `l`/`L`, `log-maxsize`, a file logger's `maxsize`): the writers of the
//!   processes it forks afterwards reopen them whenever the counter they are given changes.

#![deny(missing_docs)]

mod outputs;
mod time;

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{Read, Write as _};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use log::{Log, Metadata, Record};

pub use outputs::{pattern_of, Chain, Encoder, LoggerSpec, LoggerTarget, Route};
pub use time::{ctime, now_secs, strftime};

/// Lines a process may have waiting for its writer. About a second of request lines at the
/// loop's peak rate; what does not fit is dropped and counted. Not tuned to a benchmark.
pub const BUFFERED_LINES: usize = 16 * 1024;

/// How often an idle writer looks whether its log files were reopened elsewhere.
const REOPEN_CHECK: Duration = Duration::from_secs(1);

/// The writer writes what it has gathered once it holds this much.
const BATCH_BYTES: usize = 64 * 1024;

/// The longest piece of captured app output taken as one line when no newline comes.
const RAW_LINE_MAX: usize = 16 * 1024;

/// How server messages are dated (`log-date`); request lines carry their own time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DatePrefix {
    /// No date (uWSGI's default).
    #[default]
    None,
    /// `ctime(3)`'s form, then ` - ` (`log-date` without a value).
    Ctime,
    /// A `strftime(3)` format, then ` - ` (`log-date = FORMAT`).
    Strftime(String),
}

/// What shapes each line and where it goes.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `log-date`: the prefix of server messages.
    pub date: DatePrefix,
    /// Targets whose records are request lines, written bare (already in uWSGI's format),
    /// without level and pid.
    pub request_targets: Vec<&'static str>,
    /// `logger`, `log-route`, `log-encoder`: the chain every line takes.
    pub general: Chain,
    /// `req-logger`, `log-req-route`, `log-req-encoder`: the chain request lines take when
    /// it has a logger (else they take the general one).
    pub requests: Chain,
    /// `log-drain`: lines matching any of these are not logged.
    pub drain: Vec<regex::Regex>,
    /// `log-filter`: when set, only lines matching one of these are logged.
    pub filter: Vec<regex::Regex>,
}

impl Settings {
    /// Whether lines take more than the plain way to standard error: then the app's own
    /// output is captured too, so that every line meets the same rules (uWSGI's log
    /// master).
    fn has_chain(&self) -> bool {
        !self.general.is_empty()
            || !self.requests.is_empty()
            || !self.drain.is_empty()
            || !self.filter.is_empty()
    }
}

/// Log files to reopen whenever `epoch` changes (the master bumps it after it rotated or
/// was asked to reopen one).
#[derive(Clone)]
pub struct Reopen {
    /// The log file standard error goes to, if any (`logto`, `daemonize`).
    pub path: Option<PathBuf>,
    /// The counter to follow.
    pub epoch: Arc<dyn Fn() -> u64 + Send + Sync>,
}

impl std::fmt::Debug for Reopen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reopen")
            .field("path", &self.path)
            .field("epoch", &(self.epoch)())
            .finish()
    }
}

/// A message to the writer.
enum Msg {
    /// A formatted record; `true` for a request line.
    Line(String, bool),
    /// A line the app wrote to its standard output or error.
    Raw(Vec<u8>),
    /// Write what is gathered, then answer.
    Flush(Sender<()>),
}

/// How one process writes its lines, and how they are shaped. Pipelines are replaced whole
/// (a process starting to serve, a new configuration) and the old one is leaked, never
/// touched again: a child must not use a channel or lock the parent's writer may have held
/// at the fork.
struct Pipeline {
    out: Out,
    settings: Arc<Settings>,
    reopen: Option<Reopen>,
}

/// Where a process's lines go.
enum Out {
    /// Written on the calling thread (the master, and any process before it serves); the
    /// lock is never contended (one thread).
    Direct(Mutex<Outlet>),
    /// Into the bounded buffer of this process's writer thread.
    Buffered {
        tx: Sender<Msg>,
        dropped: Arc<AtomicU64>,
    },
}

impl Pipeline {
    fn direct(settings: Arc<Settings>, reopen: Option<Reopen>) -> Pipeline {
        Pipeline {
            out: Out::Direct(Mutex::new(Outlet::new(&settings, libc::STDERR_FILENO))),
            settings,
            reopen,
        }
    }

    /// A new buffer and the writer thread draining it (and, with a logger chain, the
    /// thread that captures the app's output).
    fn buffered(settings: Arc<Settings>, reopen: Option<Reopen>) -> Pipeline {
        let (tx, rx) = bounded(BUFFERED_LINES);
        let dropped = Arc::new(AtomicU64::new(0));
        // With a chain, stdout and stderr become a pipe the writer reads; the writer
        // writes where stderr went before.
        let mut out_fd = libc::STDERR_FILENO;
        if settings.has_chain() {
            match capture_output(tx.clone()) {
                Ok(fd) => out_fd = fd,
                Err(e) => write_stderr(
                    libc::STDERR_FILENO,
                    format!(
                        "WARN [pid {}] the app's output is not captured for the loggers: {e}\n",
                        std::process::id()
                    )
                    .as_bytes(),
                ),
            }
        }
        let writer = Writer {
            rx,
            dropped: dropped.clone(),
            reopen: reopen.clone().map(|r| {
                let seen = (r.epoch)();
                (r, seen)
            }),
            outlet: Outlet::new(&settings, out_fd),
            buf: Vec::with_capacity(BATCH_BYTES),
        };
        let spawned = std::thread::Builder::new()
            .name("log writer".into())
            .spawn(move || writer.run());
        if spawned.is_err() {
            // No thread to be had: write directly rather than into a buffer nobody drains.
            return Pipeline::direct(settings, reopen);
        }
        Pipeline {
            out: Out::Buffered { tx, dropped },
            settings,
            reopen,
        }
    }
}

/// Where the lines of one process end: the logger chains, opened, and the descriptor the
/// plain log goes to.
struct Outlet {
    general: Option<outputs::Open>,
    requests: Option<outputs::Open>,
    fd: RawFd,
    /// `log-drain` and `log-filter`, when either is set.
    rules: Option<Box<LineRules>>,
}

/// `log-drain` and `log-filter`.
struct LineRules {
    drain: Vec<regex::Regex>,
    filter: Vec<regex::Regex>,
}

impl LineRules {
    /// Whether `line` is logged: it matches no drain, and a filter if there is one.
    fn keep(&self, line: &[u8]) -> bool {
        let text = String::from_utf8_lossy(line);
        !self.drain.iter().any(|r| r.is_match(&text))
            && (self.filter.is_empty() || self.filter.iter().any(|r| r.is_match(&text)))
    }
}

impl Outlet {
    fn new(settings: &Settings, fd: RawFd) -> Outlet {
        let open = |chain: &Chain| (!chain.is_empty()).then(|| outputs::Open::new(chain.clone()));
        Outlet {
            general: open(&settings.general),
            requests: if settings.requests.loggers.is_empty() {
                None
            } else {
                open(&settings.requests)
            },
            fd,
            rules: (!settings.drain.is_empty() || !settings.filter.is_empty()).then(|| {
                Box::new(LineRules {
                    drain: settings.drain.clone(),
                    filter: settings.filter.clone(),
                })
            }),
        }
    }

    /// Sends one line on its way; what reaches the plain log is appended to `plain`.
    /// `log-drain` and `log-filter` apply to the general log, as uWSGI's log master applies
    /// them, not to request lines a `req-logger` takes.
    fn write(&mut self, line: &[u8], request: bool, plain: &mut Vec<u8>) {
        let own_logger = request && self.requests.is_some();
        if let (false, Some(rules)) = (own_logger, &self.rules) {
            if !rules.keep(line) {
                return;
            }
        }
        let chain = match (request, &mut self.requests) {
            (true, Some(requests)) => Some(requests),
            _ => self.general.as_mut(),
        };
        match chain {
            Some(chain) => chain.write(line, &mut |bytes| plain.extend_from_slice(bytes)),
            None => plain.extend_from_slice(line),
        }
    }

    fn reopen(&mut self, path: Option<&std::path::Path>) -> std::io::Result<()> {
        for chain in [&mut self.general, &mut self.requests]
            .into_iter()
            .flatten()
        {
            chain.reopen();
        }
        match path {
            Some(path) if self.fd == libc::STDERR_FILENO => reopen(path),
            Some(path) => reopen_onto(path, &[self.fd]),
            None => Ok(()),
        }
    }
}

/// The global sink behind the `log` facade.
struct Sink {
    filter: Box<dyn Fn(&Metadata<'_>) -> bool + Send + Sync>,
    pipeline: AtomicPtr<Pipeline>,
}

static SINK: OnceLock<Sink> = OnceLock::new();

impl Sink {
    fn pipeline(&self) -> &Pipeline {
        // SAFETY: the pointer comes from `Box::leak` in `install` and is never freed.
        unsafe { &*self.pipeline.load(Ordering::Acquire) }
    }

    fn install(&self, pipeline: Pipeline) {
        self.pipeline
            .store(Box::leak(Box::new(pipeline)), Ordering::Release);
    }
}

impl Log for Sink {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        (self.filter)(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let pipeline = self.pipeline();
        let request = pipeline.settings.request_targets.contains(&record.target());
        let line = format_line(&pipeline.settings, record, request);
        match &pipeline.out {
            Out::Direct(outlet) => {
                let mut outlet = outlet.lock().unwrap_or_else(|e| e.into_inner());
                let mut plain = Vec::new();
                outlet.write(line.as_bytes(), request, &mut plain);
                write_stderr(outlet.fd, &plain);
            }
            Out::Buffered { tx, dropped } => match tx.try_send(Msg::Line(line, request)) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Disconnected(Msg::Line(line, _))) => {
                    write_stderr(libc::STDERR_FILENO, line.as_bytes())
                }
                Err(TrySendError::Disconnected(_)) => {}
            },
        }
    }

    fn flush(&self) {
        flush(Duration::from_secs(1));
    }
}

/// One record as a line: bare for request lines, else level, pid and message (a master and
/// its workers share one log), after the `log-date` prefix.
fn format_line(settings: &Settings, record: &Record<'_>, request: bool) -> String {
    let mut line = String::with_capacity(128);
    if request {
        let _ = writeln!(line, "{}", record.args());
        return line;
    }
    match &settings.date {
        DatePrefix::None => {}
        DatePrefix::Ctime => {
            let _ = write!(line, "{} - ", ctime(now_secs()));
        }
        DatePrefix::Strftime(format) => {
            let _ = write!(line, "{} - ", strftime(format, now_secs()));
        }
    }
    let _ = writeln!(
        line,
        "{} [pid {}] {}",
        record.level(),
        std::process::id(),
        record.args()
    );
    line
}

/// Installs the sink as the `log` facade's logger, writing directly, with `filter`
/// deciding which records are written and `max_level` the facade's cheap pre-filter. Only
/// the first call counts.
pub fn init(
    filter: impl Fn(&Metadata<'_>) -> bool + Send + Sync + 'static,
    max_level: log::LevelFilter,
) {
    let mut fresh = false;
    let sink = SINK.get_or_init(|| {
        fresh = true;
        let sink = Sink {
            filter: Box::new(filter),
            pipeline: AtomicPtr::new(std::ptr::null_mut()),
        };
        sink.install(Pipeline::direct(Arc::new(Settings::default()), None));
        sink
    });
    if fresh && log::set_logger(sink).is_ok() {
        log::set_max_level(max_level);
    }
}

/// Applies `settings` to the lines logged from now on (call it before the process starts
/// threads of its own).
pub fn configure(settings: Settings) {
    replace(|old| (Arc::new(settings), old.reopen.clone()));
}

/// The writers this process starts from now on (in the children it forks) reopen `path`
/// (the file standard error goes to, if any) and the file loggers' files whenever `epoch()`
/// changes.
pub fn follow_reopens(path: Option<PathBuf>, epoch: impl Fn() -> u64 + Send + Sync + 'static) {
    let reopen = Reopen {
        path,
        epoch: Arc::new(epoch),
    };
    replace(|old| (old.settings.clone(), Some(reopen)));
}

/// Reopens this process's file loggers (the master, after it rotated one; its standard
/// error is reopened by [`reopen`]).
pub fn reopen_loggers() {
    let Some(sink) = SINK.get() else { return };
    if let Out::Direct(outlet) = &sink.pipeline().out {
        let mut outlet = outlet.lock().unwrap_or_else(|e| e.into_inner());
        let _ = outlet.reopen(None);
    }
}

/// The file loggers' files of the current settings (`logger`, `req-logger`), each with its
/// `maxsize` (0: never rotated) and backup name: the master rotates them.
pub fn logger_files() -> Vec<(PathBuf, u64, Option<PathBuf>)> {
    let Some(sink) = SINK.get() else {
        return Vec::new();
    };
    let settings = &sink.pipeline().settings;
    settings
        .general
        .files()
        .chain(settings.requests.files())
        .map(|(path, maxsize, backup)| (path.clone(), maxsize, backup.cloned()))
        .collect()
}

/// A new pipeline made from the current one by `make`, of the same kind.
fn replace(make: impl FnOnce(&Pipeline) -> (Arc<Settings>, Option<Reopen>)) {
    let Some(sink) = SINK.get() else { return };
    flush(Duration::from_secs(1));
    let old = sink.pipeline();
    let (settings, reopen) = make(old);
    let new = match old.out {
        Out::Direct(_) => Pipeline::direct(settings, reopen),
        Out::Buffered { .. } => Pipeline::buffered(settings, reopen),
    };
    sink.install(new);
}

/// Call in a process about to serve, first thing after `fork(2)` (or before serving in a
/// server without a master): its lines go through a buffer and a writer thread of its own
/// from now on. Lines the parent had buffered stay the parent's to write.
pub fn start_writer() {
    let Some(sink) = SINK.get() else { return };
    let old = sink.pipeline();
    let (settings, reopen) = (old.settings.clone(), old.reopen.clone());
    sink.install(Pipeline::buffered(settings, reopen));
}

/// Writes every line buffered so far, waiting at most `timeout` for the writer (a log on
/// a wedged disk must not keep a process from exiting). Call it before exiting or
/// re-executing; nothing to do for direct writes.
pub fn flush(timeout: Duration) {
    let Some(sink) = SINK.get() else { return };
    let Out::Buffered { tx, .. } = &sink.pipeline().out else {
        return;
    };
    let (ack, done) = bounded(1);
    if tx.send_timeout(Msg::Flush(ack), timeout).is_ok() {
        let _ = done.recv_timeout(timeout);
    }
}

/// Opens `path` for appending (created 0640 when missing) onto standard output and error:
/// how a log file is reopened after a rotation.
pub fn reopen(path: &std::path::Path) -> std::io::Result<()> {
    reopen_onto(path, &[libc::STDOUT_FILENO, libc::STDERR_FILENO])
}

fn reopen_onto(path: &std::path::Path, fds: &[RawFd]) -> std::io::Result<()> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)?;
    for &target in fds {
        // SAFETY: both descriptors are valid; dup2 replaces the target atomically.
        if unsafe { libc::dup2(file.as_raw_fd(), target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Points standard output and error at a pipe whose lines a thread sends to the writer as
/// [`Msg::Raw`]; the descriptor standard error pointed at before (where the writer writes).
fn capture_output(tx: Sender<Msg>) -> std::io::Result<RawFd> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these descriptors, owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: fd 2 is open; F_DUPFD_CLOEXEC returns a new descriptor or -1.
    let original = unsafe { libc::fcntl(libc::STDERR_FILENO, libc::F_DUPFD_CLOEXEC, 3) };
    if original < 0 {
        return Err(std::io::Error::last_os_error());
    }
    for target in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: both descriptors are valid; dup2 replaces the target atomically.
        if unsafe { libc::dup2(write.as_raw_fd(), target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    drop(write);
    std::thread::Builder::new()
        .name("log capture".into())
        .spawn(move || {
            let mut pipe = std::fs::File::from(read);
            let mut pending = Vec::new();
            let mut chunk = [0u8; 8192];
            loop {
                let n = match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                pending.extend_from_slice(&chunk[..n]);
                while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    // Blocking: the app's writes wait for the log, as they would on a file.
                    if tx.send(Msg::Raw(line)).is_err() {
                        return;
                    }
                }
                if pending.len() >= RAW_LINE_MAX {
                    pending.push(b'\n');
                    if tx.send(Msg::Raw(std::mem::take(&mut pending))).is_err() {
                        return;
                    }
                }
            }
        })?;
    Ok(original)
}

/// Writes `bytes` whole to `fd`, retrying short writes and EINTR; errors are dropped (there
/// is nowhere left to report them).
fn write_stderr(fd: RawFd, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    // SAFETY: fd stays open for the life of the process; ManuallyDrop keeps it so.
    let mut out = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    let _ = out.write_all(bytes);
}

/// The thread that drains a pipeline's buffer.
struct Writer {
    rx: Receiver<Msg>,
    dropped: Arc<AtomicU64>,
    reopen: Option<(Reopen, u64)>,
    outlet: Outlet,
    buf: Vec<u8>,
}

impl Writer {
    fn run(mut self) {
        loop {
            let mut acks = Vec::new();
            let first = match self.rx.recv_timeout(REOPEN_CHECK) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            // Reopen first, so what is gathered next goes to the new files.
            self.follow_reopen();
            if let Some(msg) = first {
                self.take(msg, &mut acks);
            }
            // Gather what else is waiting, up to a batch.
            while self.buf.len() < BATCH_BYTES {
                match self.rx.try_recv() {
                    Ok(msg) => self.take(msg, &mut acks),
                    Err(_) => break,
                }
            }
            let dropped = self.dropped.swap(0, Ordering::Relaxed);
            if dropped > 0 {
                let line = format!(
                    "WARN [pid {}] {dropped} log lines dropped: the log could not keep up\n",
                    std::process::id()
                );
                self.outlet.write(line.as_bytes(), false, &mut self.buf);
            }
            write_stderr(self.outlet.fd, &self.buf);
            self.buf.clear();
            for ack in acks {
                let _ = ack.send(());
            }
        }
    }

    fn take(&mut self, msg: Msg, acks: &mut Vec<Sender<()>>) {
        match msg {
            Msg::Line(line, request) => self.outlet.write(line.as_bytes(), request, &mut self.buf),
            Msg::Raw(line) => self.outlet.write(&line, false, &mut self.buf),
            Msg::Flush(ack) => acks.push(ack),
        }
    }

    /// Reopens the log files when their epoch moved.
    fn follow_reopen(&mut self) {
        let Some((reopen, seen)) = &mut self.reopen else {
            return;
        };
        let now = (reopen.epoch)();
        if now == *seen {
            return;
        }
        *seen = now;
        if let Err(e) = self.outlet.reopen(reopen.path.as_deref()) {
            let line = format!(
                "ERROR [pid {}] cannot reopen the log file {:?}: {e}\n",
                std::process::id(),
                reopen.path
            );
            self.buf.extend_from_slice(line.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_buffer_drops_and_counts_instead_of_blocking() {
        // A pipeline whose writer never runs: its buffer fills, then lines are counted.
        let (tx, _rx) = bounded(2);
        let dropped = Arc::new(AtomicU64::new(0));
        let pipeline = Pipeline {
            out: Out::Buffered {
                tx,
                dropped: dropped.clone(),
            },
            settings: Arc::new(Settings::default()),
            reopen: None,
        };
        let sink = Sink {
            filter: Box::new(|_| true),
            pipeline: AtomicPtr::new(Box::leak(Box::new(pipeline))),
        };
        let started = std::time::Instant::now();
        for i in 0..10 {
            sink.log(
                &Record::builder()
                    .args(format_args!("line {i}"))
                    .level(log::Level::Info)
                    .target("t")
                    .build(),
            );
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(dropped.load(Ordering::Relaxed), 8);
    }

    #[test]
    fn lines_are_bare_for_request_targets_and_dated_when_asked() {
        let settings = Settings {
            date: DatePrefix::Strftime("%Y".into()),
            request_targets: vec!["req"],
            ..Settings::default()
        };
        let record = |target: &str| {
            format_line(
                &settings,
                &Record::builder()
                    .args(format_args!("hello"))
                    .level(log::Level::Warn)
                    .target(target)
                    .build(),
                settings.request_targets.contains(&target),
            )
        };
        assert_eq!(record("req"), "hello\n");
        let server = record("server");
        let year = strftime("%Y", now_secs());
        assert_eq!(
            server,
            format!("{year} - WARN [pid {}] hello\n", std::process::id())
        );
    }
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
