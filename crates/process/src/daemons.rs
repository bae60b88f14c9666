//! External daemons the master keeps running, as uWSGI's master does:
//!
//! - `attach-daemon CMD`: started with the master under `/bin/sh -c`, in a session of its
//!   own; respawned when it exits (after a pause when it keeps dying within 3 s of its
//!   start); stopped with the server (SIGTERM to its process group, SIGKILL past the
//!   server's stop deadline) and restarted by a reload, which stops it first. It must not
//!   daemonize: its exit is what the master watches. It dies with the master
//!   (`PR_SET_PDEATHSIG`).
//! - `smart-attach-daemon PIDFILE CMD`: CMD daemonizes itself and writes PIDFILE; the master
//!   watches the pid in the file (once a second) and runs CMD again when it is gone. A live
//!   pid in the file at start is adopted, so the daemon survives reloads and restarts of the
//!   server, which leave it alone.
//! - `smart-attach-daemon2 PIDFILE CMD`: the same for a command that does not daemonize:
//!   the master writes the pidfile (the shell's pid, which `exec`s the command).
//! - `attach-daemon2 key=value,...`: `cmd` (or `command`, `exec`), `pidfile`, `daemonize`,
//!   `control` (its death stops the server), `stopsignal`, `chdir`, `freq` (seconds a smart
//!   daemon has to write its pidfile; default 10); other keys warn.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::sys::{describe_status, reaped_now};

/// A daemon that dies sooner than this after its start is respawned after a pause.
const QUICK: Duration = Duration::from_secs(3);
/// The longest pause before a quickly dying daemon is respawned.
const MAX_THROTTLE: Duration = Duration::from_secs(300);
/// How long a reload waits for the `attach-daemon` processes it stops.
const RELOAD_WAIT: Duration = Duration::from_secs(3);

#[derive(Debug)]
struct Daemon {
    command: String,
    /// Smart daemons: the pidfile that tells whether it runs.
    pidfile: Option<PathBuf>,
    /// Smart: the master writes the pidfile (`smart-attach-daemon2`, `daemonize=1`).
    write_pidfile: bool,
    /// Its death stops the server (`attach-daemon2 control=1`).
    control: bool,
    stop_signal: Signal,
    chdir: Option<PathBuf>,
    /// Seconds a smart daemon has to show a live pid in its pidfile after a start.
    freq: Duration,
    /// The process the master started (a dumb daemon, or a smart one's shell), or the pid
    /// read from a smart daemon's pidfile.
    pid: Option<u32>,
    spawned: Option<Instant>,
    respawn_at: Option<Instant>,
    /// Quick deaths in a row (the pause before the next respawn grows with them).
    quick: u32,
}

impl Daemon {
    fn new(command: &str) -> Daemon {
        Daemon {
            command: command.trim().to_string(),
            pidfile: None,
            write_pidfile: false,
            control: false,
            stop_signal: Signal::SIGTERM,
            chdir: None,
            freq: Duration::from_secs(10),
            pid: None,
            spawned: None,
            respawn_at: None,
            quick: 0,
        }
    }

    /// `PIDFILE CMD` of the smart forms.
    fn smart(value: &str, write_pidfile: bool) -> Result<Daemon, String> {
        let (pidfile, command) = value
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("{value:?}: expected PIDFILE COMMAND"))?;
        let mut d = Daemon::new(command);
        // uWSGI reads `PIDFILE,FREQ`.
        let (pidfile, freq) = match pidfile.split_once(',') {
            Some((p, f)) => (p, f.parse().ok()),
            None => (pidfile, None),
        };
        d.pidfile = Some(PathBuf::from(pidfile));
        if let Some(freq) = freq {
            d.freq = Duration::from_secs(freq);
        }
        d.write_pidfile = write_pidfile;
        Ok(d)
    }

    /// The `key=value,...` form of `attach-daemon2`.
    fn keyed(value: &str) -> Result<Daemon, String> {
        let mut d = Daemon::new("");
        for pair in value.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("{value:?}: {pair:?} is not key=value"))?;
            let (key, v) = (key.trim(), v.trim());
            let flag = || matches!(v, "1" | "true" | "yes" | "on");
            match key {
                "cmd" | "command" | "exec" => d.command = v.to_string(),
                "pidfile" => d.pidfile = Some(PathBuf::from(v)),
                "daemonize" | "daemon" => d.write_pidfile = flag(),
                "control" => d.control = flag(),
                "stopsignal" | "stop_signal" => {
                    d.stop_signal = v
                        .parse::<i32>()
                        .ok()
                        .and_then(|n| Signal::try_from(n).ok())
                        .ok_or_else(|| {
                            format!("{value:?}: stopsignal={v} is not a signal number")
                        })?
                }
                "chdir" => d.chdir = Some(PathBuf::from(v)),
                "freq" => {
                    d.freq = Duration::from_secs(
                        v.parse()
                            .map_err(|_| format!("{value:?}: freq={v} is not a number"))?,
                    )
                }
                _ => log::warn!("attach-daemon2 {value:?}: {key} is not supported; ignored"),
            }
        }
        if d.command.is_empty() {
            return Err(format!("{value:?}: cmd= is missing"));
        }
        if d.write_pidfile && d.pidfile.is_none() {
            return Err(format!("{value:?}: daemonize needs a pidfile"));
        }
        Ok(d)
    }

    fn is_smart(&self) -> bool {
        self.pidfile.is_some()
    }

    /// Starts the command under `/bin/sh -c` in a session of its own.
    fn spawn(&mut self, now: Instant) {
        let mut command = self.command.clone();
        if let (true, Some(pidfile)) = (self.write_pidfile, &self.pidfile) {
            // The shell writes its pid, then becomes the command.
            command = format!("echo $$ > {} && exec {command}", shell_quote(pidfile));
        }
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(&command).stdin(Stdio::null());
        if let Some(dir) = &self.chdir {
            cmd.current_dir(dir);
        }
        let dies_with_master = !self.is_smart();
        // SAFETY: the closure runs in the child between fork and exec and calls only
        // setsid(2) and prctl(2), which are async-signal-safe.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                libc::setsid();
                if dies_with_master {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                }
                Ok(())
            });
        }
        match cmd.spawn() {
            Ok(child) => {
                // Reaped by the master's loop ([`Daemons::reaped`]).
                let pid = child.id();
                log::info!(
                    "[uwsgi-daemons] {}spawning \"{}\" (pid {pid})",
                    if self.spawned.is_some() { "re" } else { "" },
                    self.command
                );
                self.pid = Some(pid);
                self.spawned = Some(now);
            }
            Err(e) => {
                log::error!("[uwsgi-daemons] cannot spawn \"{}\": {e}", self.command);
                self.respawn_at = Some(now + Duration::from_secs(1));
            }
        }
    }

    /// Schedules the next start after the process ended at `now`: at once, or after a
    /// pause growing with quick deaths in a row.
    fn schedule_respawn(&mut self, now: Instant) {
        let quick = self.spawned.is_some_and(|s| now.duration_since(s) < QUICK);
        self.quick = if quick { self.quick + 1 } else { 0 };
        let pause = match self.quick {
            0 => Duration::ZERO,
            n => (Duration::from_secs(1) * n).min(MAX_THROTTLE),
        };
        if !pause.is_zero() {
            log::warn!(
                "[uwsgi-daemons] \"{}\" died within {} s of its start {} time(s) in a row; \
                 throttling it for {} s",
                self.command,
                QUICK.as_secs(),
                self.quick,
                pause.as_secs()
            );
        }
        self.respawn_at = Some(now + pause);
    }

    /// The live pid in a smart daemon's pidfile.
    fn pidfile_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.pidfile.as_ref()?).ok()?;
        let pid: i32 = text.trim().parse().ok().filter(|&p| p > 0)?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).ok()?;
        Some(pid as u32)
    }
}

/// `'path'` for the shell.
fn shell_quote(path: &std::path::Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// The server's external daemons.
#[derive(Debug, Default)]
pub(crate) struct Daemons {
    list: Vec<Daemon>,
}

impl Daemons {
    /// The daemons of `attach-daemon`, `smart-attach-daemon`, `smart-attach-daemon2` and
    /// `attach-daemon2`.
    pub(crate) fn from_options(
        attach: &[String],
        smart: &[String],
        smart2: &[String],
        keyed: &[String],
    ) -> Result<Daemons, String> {
        let mut list: Vec<Daemon> = attach.iter().map(|c| Daemon::new(c)).collect();
        for v in smart {
            list.push(Daemon::smart(v, false).map_err(|e| format!("smart-attach-daemon {e}"))?);
        }
        for v in smart2 {
            list.push(Daemon::smart(v, true).map_err(|e| format!("smart-attach-daemon2 {e}"))?);
        }
        for v in keyed {
            list.push(Daemon::keyed(v).map_err(|e| format!("attach-daemon2 {e}"))?);
        }
        if let Some(d) = list.iter().find(|d| d.command.is_empty()) {
            return Err(format!("attach-daemon: an empty command ({:?})", d.command));
        }
        Ok(Daemons { list })
    }

    /// Starts every daemon; a smart one whose pidfile names a live process is adopted.
    pub(crate) fn start_all(&mut self) {
        let now = Instant::now();
        for d in &mut self.list {
            match d.pidfile_pid() {
                Some(pid) => {
                    log::info!(
                        "[uwsgi-daemons] found valid/active pidfile for \"{}\" (pid: {pid})",
                        d.command
                    );
                    d.pid = Some(pid);
                }
                None => d.spawn(now),
            }
        }
    }

    /// Once a second, and whenever the loop wakes: starts the daemons due, and a smart
    /// daemon whose pidfile no longer names a live process (after `freq` seconds of grace
    /// from its start, while its command daemonizes).
    pub(crate) fn check(&mut self) {
        let now = Instant::now();
        for d in &mut self.list {
            if d.respawn_at.is_some_and(|at| at <= now) {
                d.respawn_at = None;
                d.spawn(now);
                continue;
            }
            if !d.is_smart() || d.respawn_at.is_some() {
                continue;
            }
            match d.pidfile_pid() {
                Some(pid) => d.pid = Some(pid),
                None if d.spawned.is_none_or(|s| now.duration_since(s) >= d.freq) => {
                    log::warn!(
                        "[uwsgi-daemons] \"{}\" is not running (no live pid in {}); spawning it",
                        d.command,
                        d.pidfile
                            .as_ref()
                            .map_or_else(String::new, |p| p.display().to_string())
                    );
                    d.spawn(now);
                }
                None => {}
            }
        }
    }

    /// When the next daemon is due to start.
    pub(crate) fn next_start(&self) -> Option<Instant> {
        self.list.iter().filter_map(|d| d.respawn_at).min()
    }

    /// Whether `pid` was one of the daemons' processes; `Some(true)` when it was a control
    /// daemon (the server then stops). A dumb daemon is scheduled to start again, unless
    /// `stopping`.
    pub(crate) fn reaped(&mut self, pid: u32, status: libc::c_int, stopping: bool) -> Option<bool> {
        let d = self.list.iter_mut().find(|d| d.pid == Some(pid))?;
        if d.is_smart() {
            // A smart daemon's shell that daemonized, or the daemon itself (a child of the
            // master under smart-attach-daemon2): its pidfile tells from now on.
            if d.write_pidfile {
                d.pid = None;
            }
            return Some(false);
        }
        d.pid = None;
        log::info!(
            "[uwsgi-daemons] \"{}\" (pid {pid}) exited: {}",
            d.command,
            describe_status(status)
        );
        if stopping {
            return Some(false);
        }
        if d.control {
            log::warn!(
                "[uwsgi-daemons] control daemon \"{}\" died; stopping the server",
                d.command
            );
            return Some(true);
        }
        d.schedule_respawn(Instant::now());
        Some(false)
    }

    /// Whether an `attach-daemon` process still runs (the server waits for them to stop).
    pub(crate) fn any_attached(&self) -> bool {
        self.list.iter().any(|d| !d.is_smart() && d.pid.is_some())
    }

    /// Sends each `attach-daemon` process group its stop signal (the server stops); smart
    /// daemons are left running, as in uWSGI.
    pub(crate) fn stop_attached(&mut self) {
        for d in &mut self.list {
            d.respawn_at = None;
            if let (false, Some(pid)) = (d.is_smart(), d.pid) {
                log::info!(
                    "[uwsgi-daemons] stopping daemon (pid: {pid}): {}",
                    d.command
                );
                signal_group(pid, d.stop_signal);
            }
        }
    }

    /// Kills the `attach-daemon` process groups still running (the stop deadline passed).
    pub(crate) fn kill_attached(&self) {
        for d in &self.list {
            if let (false, Some(pid)) = (d.is_smart(), d.pid) {
                log::warn!(
                    "[uwsgi-daemons] daemon did not die in time, killing (pid: {pid}): {}",
                    d.command
                );
                signal_group(pid, Signal::SIGKILL);
            }
        }
    }

    /// Before a reload's `exec`: stops the `attach-daemon` processes and waits for them (at
    /// most [`RELOAD_WAIT`], then kills them), since the new image starts them again. Only
    /// their pids are waited for: the workers' exits stay for the new image to see.
    pub(crate) fn stop_for_reload(&mut self) {
        self.stop_attached();
        let deadline = Instant::now() + RELOAD_WAIT;
        let mut killed = false;
        loop {
            for d in &mut self.list {
                if let (false, Some(pid)) = (d.is_smart(), d.pid) {
                    if reaped_now(pid) {
                        d.pid = None;
                    }
                }
            }
            if !self.any_attached() {
                return;
            }
            if Instant::now() >= deadline {
                if killed {
                    return;
                }
                self.kill_attached();
                killed = true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Sends `sig` to the process group `pid` leads (each daemon runs in a session of its own).
fn signal_group(pid: u32, sig: Signal) {
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), sig);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_parse() {
        let d = Daemons::from_options(
            &["memcached -p 11311".into()],
            &["/tmp/x.pid,5 /usr/bin/x --daemon".into()],
            &["/tmp/y.pid /usr/bin/y".into()],
            &["cmd=/usr/bin/z,control=1,stopsignal=2,freq=3,legion=l".into()],
        )
        .unwrap();
        let [a, s, s2, k] = &d.list[..] else {
            panic!("{d:?}")
        };
        assert_eq!(
            (a.command.as_str(), a.is_smart()),
            ("memcached -p 11311", false)
        );
        assert_eq!(s.pidfile, Some(PathBuf::from("/tmp/x.pid")));
        assert_eq!((s.freq, s.write_pidfile), (Duration::from_secs(5), false));
        assert!(s2.write_pidfile);
        assert_eq!(
            (k.command.as_str(), k.control, k.stop_signal),
            ("/usr/bin/z", true, Signal::SIGINT)
        );
        assert!(Daemons::from_options(&[], &["nopid".into()], &[], &[]).is_err());
        assert!(Daemons::from_options(&[], &[], &[], &["pidfile=/x".into()]).is_err());
        assert!(Daemons::from_options(&[], &[], &[], &["cmd=x,stopsignal=99".into()]).is_err());
    }

    #[test]
    fn a_daemon_that_keeps_dying_is_throttled() {
        let mut d = Daemon::new("false");
        let t0 = Instant::now();
        d.spawned = Some(t0);
        d.schedule_respawn(t0 + Duration::from_secs(1));
        assert_eq!(
            d.respawn_at,
            Some(t0 + Duration::from_secs(2)),
            "1 s after a quick death"
        );
        d.spawned = Some(t0 + Duration::from_secs(2));
        d.schedule_respawn(t0 + Duration::from_secs(2));
        assert_eq!(
            d.respawn_at,
            Some(t0 + Duration::from_secs(4)),
            "2 s after the second"
        );
        d.spawned = Some(t0);
        d.schedule_respawn(t0 + Duration::from_secs(60));
        assert_eq!(
            d.respawn_at,
            Some(t0 + Duration::from_secs(60)),
            "a long life: at once"
        );
    }
}
