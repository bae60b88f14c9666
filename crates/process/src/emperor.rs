//! The Emperor (`emperor`): this process governs one ruwsgi instance, a vassal, per config
//! file it finds, as uWSGI's Emperor does with its directory and glob monitors.
//!
//! - **Finding vassals.** Every `emperor-freq` seconds (default 3) each `emperor` value is
//!   scanned: a directory gives its `.ini`, `.yml`, `.yaml`, `.json`, `.js` and `.xml`
//!   files; a glob pattern (`/etc/uwsgi/vassals/*.ini`, `/srv/*/uwsgi.ini`) the regular
//!   files it matches (a leading dot is matched only by a dot, as glob(3)). Symbolic links
//!   are followed.
//! - **Starting one.** A vassal is this binary run as `ruwsgi --ini FILE` (`--yaml`,
//!   `--json`, `--xml` by extension), with uWSGI's template arguments around the file
//!   (`vassals-inherit-before`, `vassals-include-before`, `vassal-set` before it,
//!   `vassals-inherit` and `vassals-include` after it), in the file's directory for a
//!   directory monitor and in the emperor's for a glob, with stdin on `/dev/null` and the emperor's stdout and
//!   stderr. Its end of a socket pair is in `UWSGI_EMPEROR_FD` (`vassal.rs`, uWSGI's
//!   protocol); `UWSGI_VASSAL_X` variables reach it as `UWSGI_X`; `NOTIFY_SOCKET`,
//!   systemd's `LISTEN_*` sockets and the `UWSGI_EMPEROR*` options the emperor may have
//!   been given are not passed on. It dies with the emperor (`PR_SET_PDEATHSIG`).
//! - **Governing it.** A file whose modification time changes reloads its vassal
//!   gracefully (byte `1`, as SIGHUP: the vassal's workers hand over, nothing is dropped);
//!   a file that goes away stops it (byte `0`, or `2` under `emperor-graceful-shutdown`).
//!   A vassal that exits on its own is started again after `emperor-throttle`
//!   milliseconds (default 1000), one more for each quick death in a row (dead before it
//!   said its workers accept, or within [`QUICK`] of its start), up to
//!   `emperor-max-throttle` (default 3 minutes).
//! - **`emperor-tyrant`.** Each vassal runs as the owner and group of its file (set before
//!   `exec`, supplementary groups cleared); a file owned by root, user or group, is
//!   refused; a running vassal whose file changes owner is stopped, and started again as
//!   the new owner.
//! - **Signals.** SIGHUP (and `touch-reload`) reloads every vassal; SIGTERM stops them
//!   gracefully, SIGINT and SIGQUIT at once (gracefully under `emperor-graceful-shutdown`);
//!   the emperor exits once every vassal has, killing those still running after the
//!   longer of `reload-mercy` and `worker-reload-mercy`, plus [`STOP_SLACK`]. SIGUSR1 logs
//!   each vassal's state. Under systemd (`NOTIFY_SOCKET`), `READY=1` after the first scan,
//!   then uWSGI's `STATUS=The Emperor is governing N vassals`, and `STOPPING=1`.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::Signal;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1};
use slab::Slab;

use crate::error::Error;
use crate::master::MasterSignals;
use crate::notify::Notifier;
use crate::options::Options;
use crate::sys::{describe_status, kill};
use crate::touch::Touched;
use crate::vassal::{self, byte, Line};

/// The signal pipe's token; a vassal's line is `Token(key + 1)`.
const SIGNAL_TOKEN: Token = Token(0);
/// How often the loop wakes at least (for `touch-reload`).
const TICK: Duration = Duration::from_secs(1);
/// A vassal dead sooner than this after its start, or before it said its workers accept,
/// died quickly: its next start waits one more `emperor-throttle`.
pub(crate) const QUICK: Duration = Duration::from_secs(10);
/// Added to the vassals' own stop deadlines before the emperor kills one.
pub(crate) const STOP_SLACK: Duration = Duration::from_secs(5);

/// Where vassal config files are looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Monitor {
    /// Every config file in this directory.
    Dir(PathBuf),
    /// Every config file this absolute pattern matches.
    Glob(String),
}

impl Monitor {
    /// An `emperor` value, relative to `base`: a glob pattern when it holds `*`, `?` or
    /// `[`, a directory otherwise. uWSGI's other monitors (`zmq://`, `pg://`, ...) are
    /// refused by name.
    fn parse(value: &str, base: &Path) -> Result<Monitor, String> {
        if let Some((scheme, _)) = value.split_once("://") {
            return Err(format!(
                "{value:?}: the {scheme}:// monitor is not supported; give a directory or a \
                 glob pattern"
            ));
        }
        // Normalised (`%d/vassals` expands to `dir//vassals`), for the log lines.
        let path: PathBuf = base.join(value).components().collect();
        if value.contains(['*', '?', '[']) {
            let pattern = path.to_string_lossy().into_owned();
            glob::Pattern::new(&pattern).map_err(|e| format!("{value:?}: {e}"))?;
            return Ok(Monitor::Glob(pattern));
        }
        if !path.is_dir() {
            return Err(format!("{value:?}: no such directory"));
        }
        Ok(Monitor::Dir(path))
    }

    /// The config files found now, each with the directory its vassal runs in.
    fn files(&self, emperor_dir: &Path) -> Vec<(PathBuf, PathBuf)> {
        match self {
            Monitor::Dir(dir) => match std::fs::read_dir(dir) {
                Ok(entries) => {
                    let mut files: Vec<_> = entries
                        .filter_map(|e| e.ok())
                        .map(|e| e.path())
                        .filter(|p| config_flag(p).is_some())
                        .map(|p| (p, dir.clone()))
                        .collect();
                    files.sort();
                    files
                }
                Err(e) => {
                    log::error!("[emperor] cannot read {}: {e}", dir.display());
                    Vec::new()
                }
            },
            Monitor::Glob(pattern) => {
                let options = glob::MatchOptions {
                    require_literal_leading_dot: true,
                    ..glob::MatchOptions::new()
                };
                match glob::glob_with(pattern, options) {
                    Ok(paths) => paths
                        .filter_map(|p| p.ok())
                        .filter(|p| config_flag(p).is_some())
                        .map(|p| (p, emperor_dir.to_path_buf()))
                        .collect(),
                    Err(e) => {
                        log::error!("[emperor] {pattern:?}: {e}");
                        Vec::new()
                    }
                }
            }
        }
    }
}

/// The option that loads a vassal's file, by its extension (uWSGI's list); `None` for a
/// file that is no vassal config.
fn config_flag(path: &Path) -> Option<&'static str> {
    match path.extension()?.to_str()? {
        "ini" => Some("--ini"),
        "yml" | "yaml" => Some("--yaml"),
        "json" | "js" => Some("--json"),
        "xml" => Some("--xml"),
        _ => None,
    }
}

/// What the emperor's own options ask of it.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    monitors: Vec<Monitor>,
    freq: Duration,
    tyrant: bool,
    throttle: Duration,
    max_throttle: Duration,
    graceful_shutdown: bool,
    /// How long a stopping vassal has before it is killed.
    mercy: Duration,
    /// Arguments every vassal gets before its file (`vassals-inherit-before`,
    /// `vassals-include-before`, `vassal-set`) and after it (`vassals-inherit`,
    /// `vassals-include`), in uWSGI's order; files made absolute against the emperor's
    /// directory, since a vassal runs in its file's.
    args_before: Vec<OsString>,
    args_after: Vec<OsString>,
}

impl Settings {
    /// The settings `opts` give, the `emperor` values resolved against `base`.
    pub(crate) fn from_options(opts: &Options, base: &Path) -> Result<Settings, String> {
        let monitors = opts
            .emperor
            .iter()
            .map(|v| Monitor::parse(v, base))
            .collect::<Result<_, _>>()?;
        Ok(Settings {
            monitors,
            freq: opts.emperor_freq.max(Duration::from_secs(1)),
            tyrant: opts.emperor_tyrant,
            throttle: opts.emperor_throttle,
            max_throttle: opts.emperor_max_throttle.max(opts.emperor_throttle),
            graceful_shutdown: opts.emperor_graceful_shutdown,
            mercy: opts.reload_mercy.max(opts.worker_reload_mercy) + STOP_SLACK,
            args_before: [
                ("--inherit", &opts.vassals_inherit_before),
                ("--include", &opts.vassals_include_before),
            ]
            .into_iter()
            .flat_map(|(flag, files)| vassal_args(flag, files, base))
            .chain(
                opts.vassal_set
                    .iter()
                    .flat_map(|v| ["--set".into(), v.into()]),
            )
            .collect(),
            args_after: [
                ("--inherit", &opts.vassals_inherit),
                ("--include", &opts.vassals_include),
            ]
            .into_iter()
            .flat_map(|(flag, files)| vassal_args(flag, files, base))
            .collect(),
        })
    }

    /// The pause before the next start of a vassal that died quickly `quick_deaths` times in
    /// a row.
    fn pause(&self, quick_deaths: u32) -> Duration {
        (self.throttle * quick_deaths.max(1)).min(self.max_throttle)
    }
}

/// `FLAG FILE` for each of `files`, each made absolute against `base`.
fn vassal_args(flag: &str, files: &[String], base: &Path) -> Vec<OsString> {
    files
        .iter()
        .flat_map(|f| [OsString::from(flag), base.join(f).into_os_string()])
        .collect()
}

/// One vassal: its file, and the instance running it.
#[derive(Debug)]
struct Vassal {
    config: PathBuf,
    /// The directory it runs in.
    cwd: PathBuf,
    mtime: SystemTime,
    /// The file's owner and group (tyrant mode runs the vassal as them).
    owner: (u32, u32),
    child: Option<Child>,
    /// The emperor's end of the vassal's line.
    line: Option<Line>,
    started: Option<Instant>,
    /// It said its workers accept, since its last start.
    accepting: bool,
    respawn_at: Option<Instant>,
    quick_deaths: u32,
    /// Told to stop (it is forgotten once it exits).
    stopping: bool,
    /// While stopping: when it is killed if still running (`None` once killed).
    kill_at: Option<Instant>,
}

impl Vassal {
    fn name(&self) -> String {
        self.config.display().to_string()
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends `b` down the vassal's line; false when it has none or the write fails.
    fn tell(&self, b: u8) -> bool {
        let Some(line) = &self.line else {
            return false;
        };
        match line.tell(b) {
            Ok(()) => true,
            Err(e) => {
                log::warn!("[emperor] cannot tell vassal {} {b}: {e}", self.name());
                false
            }
        }
    }
}

/// The emperor's state.
pub(crate) struct Emperor {
    settings: Settings,
    binary: PathBuf,
    /// The emperor's working directory (a glob's vassals run there).
    dir: PathBuf,
    vassals: Slab<Vassal>,
    /// Files tyrant mode refused, with what was refused (so each is logged once).
    refused: Vec<(PathBuf, (u32, u32), SystemTime)>,
    poll: Poll,
    signals: MasterSignals,
    notify: Option<Notifier>,
    touched: Touched,
    /// Stopping: the emperor exits once no vassal is left.
    stopping: bool,
    governed: Option<usize>,
}

impl Emperor {
    pub(crate) fn new(
        settings: Settings,
        touch_reload: &[PathBuf],
        mut signals: MasterSignals,
    ) -> Result<Emperor, Error> {
        let poll = Poll::new().map_err(|e| Error::os("cannot create the emperor's poll", e))?;
        poll.registry()
            .register(&mut signals.read, SIGNAL_TOKEN, Interest::READABLE)
            .map_err(|e| Error::os("cannot register the signal pipe", e))?;
        Ok(Emperor {
            settings,
            binary: std::env::current_exe()
                .map_err(|e| Error::os("cannot find the running binary", e))?,
            dir: std::env::current_dir()
                .map_err(|e| Error::os("cannot read the current directory", e))?,
            vassals: Slab::new(),
            refused: Vec::new(),
            poll,
            signals,
            notify: Notifier::from_env(),
            touched: Touched::new(touch_reload, &[], &[], &[]),
            stopping: false,
            governed: None,
        })
    }

    /// Governs the vassals until a stop signal, then until each has exited; returns the
    /// exit status (0).
    pub(crate) fn run(mut self) -> Result<i32, Error> {
        log::info!("*** starting the Emperor (pid {}) ***", std::process::id());
        self.scan();
        if let Some(n) = &self.notify {
            n.send("READY=1");
        }
        let mut events = Events::with_capacity(64);
        let mut next_scan = Instant::now() + self.settings.freq;
        let mut next_tick = Instant::now() + TICK;
        loop {
            self.report_status();
            let now = Instant::now();
            let wake = self
                .vassals
                .iter()
                .filter_map(|(_, v)| v.respawn_at.or(v.kill_at))
                .chain([next_scan, next_tick])
                .min()
                .unwrap_or(next_tick);
            if let Err(e) = self
                .poll
                .poll(&mut events, Some(wake.saturating_duration_since(now)))
            {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(Error::os("the emperor's poll failed", e));
                }
            }
            self.signals.drain();
            self.handle_signals();
            for event in events.iter() {
                if event.token() != SIGNAL_TOKEN {
                    self.hear(event.token().0 - 1);
                }
            }
            self.reap();
            let now = Instant::now();
            if self.stopping {
                if self.vassals.is_empty() {
                    log::info!("The Emperor is buried.");
                    return Ok(0);
                }
                self.kill_overdue(now);
                continue;
            }
            if now >= next_scan {
                self.scan();
                next_scan = now + self.settings.freq;
            }
            if now >= next_tick {
                next_tick = now + TICK;
                for (path, _) in self.touched.changed() {
                    log::info!(
                        "[emperor] {} was touched: reloading every vassal",
                        path.display()
                    );
                    self.reload_all();
                }
            }
            self.kill_overdue(now);
            self.respawn_due(now);
        }
    }

    fn handle_signals(&mut self) {
        let _ = self.signals.take(SIGCHLD); // reaping happens on every wake
        if self.signals.take(SIGTERM) {
            log::info!("[emperor] SIGTERM received: stopping every vassal gracefully");
            self.stop_all(true);
        }
        if self.signals.take(SIGINT) || self.signals.take(SIGQUIT) {
            log::info!("[emperor] SIGINT/SIGQUIT received: stopping every vassal");
            self.stop_all(self.settings.graceful_shutdown);
        }
        if self.signals.take(SIGHUP) {
            log::info!("[emperor] SIGHUP received: reloading every vassal");
            self.reload_all();
        }
        if self.signals.take(SIGUSR1) {
            for (_, v) in &self.vassals {
                log::info!(
                    "[emperor] vassal {}: pid {}, {}{}",
                    v.name(),
                    v.pid().map_or("none".to_string(), |p| p.to_string()),
                    if v.accepting {
                        "accepting"
                    } else {
                        "not accepting"
                    },
                    if v.stopping { ", stopping" } else { "" }
                );
            }
        }
    }

    /// Tells systemd how many vassals run, when that changed.
    fn report_status(&mut self) {
        let running = self
            .vassals
            .iter()
            .filter(|(_, v)| v.child.is_some())
            .count();
        if self.governed == Some(running) {
            return;
        }
        self.governed = Some(running);
        if let Some(n) = &self.notify {
            n.send(&format!(
                "STATUS=The Emperor is governing {running} vassals"
            ));
        }
    }

    /// Looks at every monitor: starts the new files' vassals, reloads those whose file
    /// changed, stops those whose file is gone.
    fn scan(&mut self) {
        let mut seen = HashSet::new();
        let monitors = self.settings.monitors.clone();
        for monitor in &monitors {
            for (config, cwd) in monitor.files(&self.dir) {
                let Ok(meta) = std::fs::metadata(&config) else {
                    continue;
                };
                if !meta.is_file() || !seen.insert(config.clone()) {
                    continue;
                }
                let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                let owner = (meta.uid(), meta.gid());
                let found = self.vassals.iter().find(|(_, v)| v.config == config);
                let Some(key) = found.map(|(key, _)| key) else {
                    self.add(config, cwd, mtime, owner);
                    continue;
                };
                let v = &mut self.vassals[key];
                if v.stopping {
                    continue;
                }
                if self.settings.tyrant && v.owner != owner {
                    log::warn!(
                        "[emperor-tyrant] the owner of {} changed: stopping its vassal",
                        v.name()
                    );
                    self.stop(key, false);
                } else if v.mtime != mtime {
                    v.mtime = mtime;
                    log::info!("[emperor] {} changed: reloading its vassal", v.name());
                    self.reload(key);
                }
            }
        }
        let gone: Vec<usize> = self
            .vassals
            .iter()
            .filter(|(_, v)| !v.stopping && !seen.contains(&v.config))
            .map(|(key, _)| key)
            .collect();
        for key in gone {
            log::info!(
                "[emperor] {} is gone: stopping its vassal",
                self.vassals[key].name()
            );
            self.stop(key, self.settings.graceful_shutdown);
        }
    }

    /// A new vassal file: start it (tyrant mode refuses one owned by root).
    fn add(&mut self, config: PathBuf, cwd: PathBuf, mtime: SystemTime, owner: (u32, u32)) {
        if self.settings.tyrant && (owner.0 == 0 || owner.1 == 0) {
            let refusal = (config.clone(), owner, mtime);
            if !self.refused.contains(&refusal) {
                log::error!(
                    "[emperor-tyrant] invalid permissions for vassal {}: owned by uid {}, \
                     gid {} (a tyrant runs no vassal as root)",
                    config.display(),
                    owner.0,
                    owner.1
                );
                self.refused.retain(|(p, ..)| *p != config);
                self.refused.push(refusal);
            }
            return;
        }
        self.refused.retain(|(p, ..)| *p != config);
        let key = self.vassals.insert(Vassal {
            config,
            cwd,
            mtime,
            owner,
            child: None,
            line: None,
            started: None,
            accepting: false,
            respawn_at: None,
            quick_deaths: 0,
            stopping: false,
            kill_at: None,
        });
        self.spawn(key);
    }

    /// Starts vassal `key`'s instance; on failure, tries again after the throttle.
    fn spawn(&mut self, key: usize) {
        let now = Instant::now();
        match self.start(key) {
            Ok((child, line)) => {
                let v = &mut self.vassals[key];
                log::info!("[emperor] vassal {} started (pid {})", v.name(), child.id());
                let registered = self.poll.registry().register(
                    &mut mio::unix::SourceFd(&line.raw_fd()),
                    Token(key + 1),
                    Interest::READABLE,
                );
                if let Err(e) = registered {
                    log::warn!(
                        "[emperor] vassal {}: its line cannot be read: {e}",
                        v.name()
                    );
                }
                v.child = Some(child);
                v.line = Some(line);
                v.started = Some(now);
                v.accepting = false;
                v.respawn_at = None;
            }
            Err(e) => {
                let v = &mut self.vassals[key];
                v.quick_deaths += 1;
                let pause = self.settings.pause(v.quick_deaths);
                log::error!(
                    "[emperor] cannot start vassal {}: {e}; trying again in {} ms",
                    v.name(),
                    pause.as_millis()
                );
                v.respawn_at = Some(now + pause);
            }
        }
    }

    /// Forks and executes vassal `key`: its instance, and the emperor's end of its line.
    fn start(&self, key: usize) -> io::Result<(Child, Line)> {
        let v = &self.vassals[key];
        let flag = config_flag(&v.config).unwrap_or("--ini");
        let (ours, theirs) = UnixStream::pair()?;
        let fd = theirs.as_raw_fd();
        let mut cmd = Command::new(&self.binary);
        cmd.args(&self.settings.args_before)
            .arg(flag)
            .arg(&v.config)
            .args(&self.settings.args_after)
            .current_dir(&v.cwd)
            .stdin(Stdio::null());
        for (name, value) in std::env::vars_os() {
            let name_str = name.to_string_lossy();
            if [
                "NOTIFY_SOCKET",
                "LISTEN_FDS",
                "LISTEN_PID",
                "LISTEN_FDNAMES",
            ]
            .contains(&name_str.as_ref())
                || name_str.starts_with("UWSGI_EMPEROR")
                || name_str == "UWSGI_RELOADS"
            {
                cmd.env_remove(&name);
            } else if let Some(option) = name_str.strip_prefix("UWSGI_VASSAL_") {
                cmd.env_remove(&name);
                cmd.env(format!("UWSGI_{option}"), value);
            }
        }
        // Set last: the loop above removes an emperor's own `UWSGI_EMPEROR_FD`.
        cmd.env(vassal::ENV, fd.to_string());
        let tyrant = self.settings.tyrant.then_some(v.owner);
        // SAFETY: the closure runs in the child between fork and exec and calls only
        // prctl(2), geteuid(2), setgroups(2), setgid(2), setuid(2) and fcntl(2), which are
        // async-signal-safe, and reads values copied before the fork.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if let Some((uid, gid)) = tyrant {
                    if libc::geteuid() == 0 && libc::setgroups(0, std::ptr::null()) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    if libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                // The vassal's end of the line survives exec.
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        if let Some((uid, gid)) = tyrant {
            log::info!(
                "[emperor-tyrant] vassal {} runs as uid {uid}, gid {gid}",
                v.name()
            );
        }
        let child = cmd.spawn()?;
        // `theirs` closes here: the vassal holds the only copy of its end.
        drop(theirs);
        Ok((child, Line::new(ours)?))
    }

    /// Reads what vassal `key` says on its line.
    fn hear(&mut self, key: usize) {
        let Some(v) = self.vassals.get_mut(key) else {
            return;
        };
        let Some((bytes, closed)) = v.line.as_ref().map(Line::read) else {
            return;
        };
        let mut stop_me = false;
        for b in bytes {
            match b {
                byte::RELOAD_OR_SPAWNED => {
                    log::info!("[emperor] vassal {} has been spawned", v.name())
                }
                byte::ACCEPTING => {
                    v.accepting = true;
                    log::info!("[emperor] vassal {} is ready to accept requests", v.name());
                }
                byte::STOP_ME => stop_me = true,
                _ => {}
            }
        }
        if closed {
            self.close_line(key);
        }
        if stop_me && !self.vassals[key].stopping {
            log::info!(
                "[emperor] vassal {} asked to be stopped",
                self.vassals[key].name()
            );
            self.stop(key, false);
        }
    }

    fn close_line(&mut self, key: usize) {
        if let Some(line) = self.vassals[key].line.take() {
            let _ = self
                .poll
                .registry()
                .deregister(&mut mio::unix::SourceFd(&line.raw_fd()));
        }
    }

    /// Reloads vassal `key` gracefully; one not running starts now.
    fn reload(&mut self, key: usize) {
        let v = &mut self.vassals[key];
        if v.child.is_none() {
            v.quick_deaths = 0;
            v.respawn_at = Some(Instant::now());
            return;
        }
        v.accepting = false;
        if !v.tell(byte::RELOAD_OR_SPAWNED) {
            // Its line is gone: it cannot hear a reload, so it is started again.
            log::warn!(
                "[emperor] vassal {} cannot be told to reload: killing it",
                v.name()
            );
            if let Some(pid) = v.pid() {
                kill(pid, Signal::SIGKILL);
            }
        }
    }

    fn reload_all(&mut self) {
        let keys: Vec<usize> = self
            .vassals
            .iter()
            .filter(|(_, v)| !v.stopping)
            .map(|(k, _)| k)
            .collect();
        for key in keys {
            self.reload(key);
        }
    }

    /// Stops vassal `key` (gracefully or at once); one not running is forgotten now.
    fn stop(&mut self, key: usize, graceful: bool) {
        let v = &mut self.vassals[key];
        if v.child.is_none() {
            log::info!("[emperor] vassal {} removed", v.name());
            self.vassals.remove(key);
            return;
        }
        let told = v.tell(if graceful {
            byte::GRACEFUL_STOP
        } else {
            byte::STOP
        });
        if !told {
            if let Some(pid) = v.pid() {
                kill(
                    pid,
                    if graceful {
                        Signal::SIGTERM
                    } else {
                        Signal::SIGINT
                    },
                );
            }
        }
        v.respawn_at = None;
        v.stopping = true;
        v.kill_at = Some(Instant::now() + self.settings.mercy);
    }

    fn stop_all(&mut self, graceful: bool) {
        if !self.stopping {
            if let Some(n) = &self.notify {
                n.send("STOPPING=1\nSTATUS=stopping");
            }
        }
        self.stopping = true;
        let keys: Vec<usize> = self.vassals.iter().map(|(k, _)| k).collect();
        for key in keys {
            // An immediate stop during a graceful one is passed on; not the reverse.
            if !graceful || !self.vassals[key].stopping {
                self.stop(key, graceful);
            }
        }
    }

    /// Reaps the vassals that exited: one told to stop is forgotten, any other is started
    /// again after the throttle.
    fn reap(&mut self) {
        let now = Instant::now();
        let mut exited = Vec::new();
        for (key, v) in &mut self.vassals {
            if let Some(child) = &mut v.child {
                match child.try_wait() {
                    Ok(Some(status)) => exited.push((key, status)),
                    Ok(None) => {}
                    Err(e) => {
                        log::warn!("[emperor] waiting for vassal {}: {e}", v.config.display())
                    }
                }
            }
        }
        for (key, status) in exited {
            self.close_line(key);
            let raw = std::os::unix::process::ExitStatusExt::into_raw(status);
            let v = &mut self.vassals[key];
            let pid = v.pid().unwrap_or(0);
            v.child = None;
            if v.stopping {
                log::info!(
                    "[emperor] vassal {} (pid {pid}) stopped ({})",
                    v.name(),
                    describe_status(raw)
                );
                self.vassals.remove(key);
                continue;
            }
            let quick = !v.accepting || v.started.is_none_or(|s| now - s < QUICK);
            v.quick_deaths = if quick { v.quick_deaths + 1 } else { 1 };
            let pause = self.settings.pause(v.quick_deaths);
            log::warn!(
                "[emperor] vassal {} (pid {pid}) exited ({}); starting it again in {} ms",
                v.name(),
                describe_status(raw),
                pause.as_millis()
            );
            v.respawn_at = Some(now + pause);
        }
    }

    fn respawn_due(&mut self, now: Instant) {
        let due: Vec<usize> = self
            .vassals
            .iter()
            .filter(|(_, v)| v.child.is_none() && v.respawn_at.is_some_and(|t| t <= now))
            .map(|(k, _)| k)
            .collect();
        for key in due {
            self.spawn(key);
        }
    }

    /// Kills the stopping vassals past their deadline.
    fn kill_overdue(&mut self, now: Instant) {
        for (_, v) in &mut self.vassals {
            if let Some(deadline) = v.kill_at {
                if now >= deadline {
                    if let Some(pid) = v.pid() {
                        log::warn!(
                            "[emperor] vassal {} (pid {pid}) did not stop in time; killing it",
                            v.name()
                        );
                        kill(pid, Signal::SIGKILL);
                    }
                    v.kill_at = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_a_glob_a_directory_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir(base.join("vassals")).unwrap();
        assert_eq!(
            Monitor::parse("vassals", base).unwrap(),
            Monitor::Dir(base.join("vassals"))
        );
        assert_eq!(
            Monitor::parse("vassals/*.ini", base).unwrap(),
            Monitor::Glob(format!("{}/vassals/*.ini", base.display()))
        );
        assert_eq!(
            Monitor::parse("missing", base).unwrap_err(),
            "\"missing\": no such directory"
        );
        assert!(Monitor::parse("zmq://tcp://127.0.0.1:5250", base)
            .unwrap_err()
            .contains("the zmq:// monitor is not supported"));
    }

    #[test]
    fn only_config_files_are_vassals_and_globs_skip_hidden_ones() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        for name in ["a.ini", "b.yaml", "c.json", "d.xml", "e.txt", ".f.ini"] {
            std::fs::write(base.join(name), "").unwrap();
        }
        std::fs::create_dir_all(base.join("site/conf")).unwrap();
        std::fs::write(base.join("site/conf/uwsgi.ini"), "").unwrap();
        let names = |files: Vec<(PathBuf, PathBuf)>| -> Vec<String> {
            files
                .into_iter()
                .map(|(p, _)| p.strip_prefix(base).unwrap().display().to_string())
                .collect()
        };
        let in_dir = Monitor::Dir(base.to_path_buf()).files(Path::new("/"));
        assert!(in_dir.iter().all(|(_, cwd)| cwd == base));
        assert_eq!(
            names(in_dir),
            [".f.ini", "a.ini", "b.yaml", "c.json", "d.xml"]
        );
        let glob = Monitor::parse("*/*/*.ini", base).unwrap();
        assert_eq!(names(glob.files(Path::new("/x"))), ["site/conf/uwsgi.ini"]);
        let top = Monitor::parse("*.ini", base).unwrap();
        assert_eq!(names(top.files(Path::new("/x"))), ["a.ini"]);
    }

    #[test]
    fn the_pause_grows_with_quick_deaths_up_to_the_max() {
        let opts = Options {
            emperor_throttle: Duration::from_millis(100),
            emperor_max_throttle: Duration::from_millis(250),
            ..Options::default()
        };
        let s = Settings::from_options(&opts, Path::new("/")).unwrap();
        let pauses: Vec<u128> = (0..5).map(|n| s.pause(n).as_millis()).collect();
        assert_eq!(pauses, [100, 100, 200, 250, 250]);
    }
}
