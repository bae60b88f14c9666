//! The spooler: jobs queued as files (`uwsgi.spool(dict)`, `@spool`), worked through by
//! spooler processes the master forks beside the workers (`spooler DIR`, repeatable;
//! `spooler-processes` per directory), as uWSGI's spooler does.
//!
//! - **A job is a file** in the spool directory named
//!   `uwsgi_spoolfile_on_HOST_PID_COUNTER_SECS_MICROS` holding a uwsgi packet (modifier1
//!   17, the job's vars) followed by its `body`, uWSGI's format; like uWSGI's, it is
//!   readable by its owner only (mode 0600: jobs may carry secrets). [`Spool::enqueue`]
//!   writes it under a dot name (`.NAME.tmp`) and renames it into place, so a spooler never
//!   sees half a job; a temporary whose writer died is removed by the next scan (see
//!   [`job_files`]). The special vars `spooler` (which directory), `priority` (a numbered
//!   subdirectory, worked through first, lowest number first) and `at` (not before this Unix
//!   time) are read as uWSGI reads them.
//! - **A spooler process** scans its directory every `spooler-frequency` seconds (default
//!   30) and at once when a job is queued (the writer wakes it through the board), takes
//!   each job file with `flock` (so the processes of one directory never run one job
//!   twice), and hands it to the app's `uwsgi.spooler` function. Jobs run in queueing
//!   order: by the time in their names, not by the names as strings (uWSGI's plain scan
//!   follows the directory's order; its `spooler-ordered` sorts the names, which puts the
//!   jobs of pid 10 before those of pid 9). `SPOOL_OK` removes the file, `SPOOL_RETRY` (or
//!   an exception) leaves it for the next scan, `SPOOL_IGNORE` leaves it alone (it is
//!   offered again at the next scan, as in uWSGI).
//! - **Where a job runs**: as in uWSGI, in the directory of its file (the spool directory,
//!   or its priority subdirectory), or in `spooler-chdir` when that is given; the app gets
//!   the file's bare name as `spooler_task_name`.
//! - **At least once.** The file is removed only after the job succeeded: a spooler killed
//!   mid-job (or a server that stops) leaves the file, and the job runs again later. Jobs
//!   survive restarts because they are files; files are not fsynced, so a power loss may
//!   lose the newest ones.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ruwsgi_proto::{encode_uwsgi, parse_uwsgi, Limits, Parsed, UwsgiPacket};
use ruwsgi_shm::{ProcessIndex, ProcessKind, Scoreboard};

/// Every job file's name starts with this (uWSGI's prefix).
pub(crate) const PREFIX: &str = "uwsgi_spoolfile_on_";
/// The uwsgi packet's modifier1 of a spool file (uWSGI's `UWSGI_MODIFIER_SPOOL_REQUEST`).
const SPOOL_MODIFIER: u8 = 17;
/// A job being written is named `.NAME` + this, `NAME` being its final name.
const TEMP_SUFFIX: &str = ".tmp";
/// A temporary job file untouched for this long is a dead writer's, whoever wrote it (a pid
/// may have been reused, or the writer ran on another host sharing the directory); a live
/// writer touches it with every write and renames it within milliseconds.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// One spooler process: the directory it works through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpoolerSpec {
    pub(crate) dir: PathBuf,
}

/// The spooler processes the options ask for: `processes` for each `spooler` directory,
/// ids from 1 in that order. Relative directories are taken from `base` (the server's
/// directory after `chdir`).
pub(crate) fn from_options(dirs: &[String], processes: usize, base: &Path) -> Vec<SpoolerSpec> {
    dirs.iter()
        .flat_map(|d| {
            let dir = base.join(d);
            (0..processes.max(1)).map(move |_| SpoolerSpec { dir: dir.clone() })
        })
        .collect()
}

/// What a job said when it ran: uWSGI's return codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `SPOOL_OK` (-2): done, the file is removed.
    Done,
    /// `SPOOL_RETRY` (-1), any other number, or an exception: run it again at the next scan.
    Retry,
    /// `SPOOL_IGNORE` (0): not this spooler's job (or no `uwsgi.spooler`); left alone.
    Ignore,
}

impl Outcome {
    /// uWSGI's reading of a spooler function's return code.
    pub fn from_code(code: i64) -> Outcome {
        match code {
            -2 => Outcome::Done,
            0 => Outcome::Ignore,
            _ => Outcome::Retry,
        }
    }
}

/// A job read back from its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The job file.
    pub path: PathBuf,
    /// The job's vars, in the order they were queued.
    pub vars: Vec<(Vec<u8>, Vec<u8>)>,
    /// Its `body` (empty when it has none).
    pub body: Vec<u8>,
}

/// Runs one job in a spooler process (the app's `uwsgi.spooler`).
pub type JobRunner = Box<dyn FnMut(&Job) -> Outcome>;

/// Where jobs are queued: the server's spool directories (the first is the default), shared
/// by every process. [`Spool::enqueue`] is `uwsgi.spool()`.
#[derive(Debug)]
pub struct Spool {
    dirs: Vec<PathBuf>,
    board: Arc<Scoreboard>,
    counter: AtomicU64,
}

impl Spool {
    /// The spool over `dirs` (each made if missing), waking the spoolers on `board`.
    pub(crate) fn new(dirs: Vec<PathBuf>, board: Arc<Scoreboard>) -> io::Result<Spool> {
        for dir in &dirs {
            fs::create_dir_all(dir)
                .map_err(|e| io::Error::new(e.kind(), format!("spooler {}: {e}", dir.display())))?;
        }
        Ok(Spool {
            dirs,
            board,
            counter: AtomicU64::new(0),
        })
    }

    /// Queues a job: its vars (`spooler`, `priority` and `at` among them are read as uWSGI
    /// reads them) and body, written atomically; wakes the spoolers. Returns the job file.
    pub fn enqueue(&self, vars: Vec<(Vec<u8>, Vec<u8>)>, body: &[u8]) -> Result<PathBuf, String> {
        let var = |name: &[u8]| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        let mut dir = match var(b"spooler") {
            None => self
                .dirs
                .first()
                .cloned()
                .ok_or("no spooler is configured (--spooler DIR)")?,
            Some(wanted) => self
                .dirs
                .iter()
                .find(|d| d.as_os_str() == wanted.as_str() || d.ends_with(&wanted))
                .cloned()
                .ok_or_else(|| format!("unknown spooler {wanted:?}"))?,
        };
        if let Some(priority) = var(b"priority") {
            if priority.is_empty() || !priority.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("priority {priority:?} is not a number"));
            }
            dir.push(priority);
            fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        if let Some(at) = var(b"at") {
            if at.trim().parse::<f64>().is_err() {
                return Err(format!("at {at:?} is not a Unix time"));
            }
        }
        let mut data = Vec::with_capacity(256 + body.len());
        let packet = UwsgiPacket {
            modifier1: SPOOL_MODIFIER,
            modifier2: 0,
            vars,
        };
        encode_uwsgi(&packet, &mut data)
            .map_err(|_| "the job's vars exceed 64 KiB (put big data in body)".to_string())?;
        data.extend_from_slice(body);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!(
            "{PREFIX}{}_{}_{}_{}_{}",
            hostname(),
            std::process::id(),
            self.counter.fetch_add(1, Ordering::Relaxed),
            now.as_secs(),
            now.subsec_micros()
        );
        let path = dir.join(&name);
        let temp = dir.join(format!(".{name}{TEMP_SUFFIX}"));
        // A leftover of a dead writer that had our pid would make `create_new` fail.
        let _ = fs::remove_file(&temp);
        // Owner only, as uWSGI creates job files: a job may carry secrets.
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .and_then(|mut f| f.write_all(&data))
            .and_then(|()| fs::rename(&temp, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(format!("cannot write {}: {e}", path.display()));
        }
        self.board.signals().wake_kind(ProcessKind::Spooler);
        Ok(path)
    }
}

/// The host name as job file names carry it: `/` and `_` (the names' separator) become `-`.
fn hostname() -> String {
    ruwsgi_event_loop::hostname().replace(['/', '_'], "-")
}

/// How one spooler process works (see the module doc).
pub(crate) struct SpoolerLoop {
    pub(crate) dir: PathBuf,
    pub(crate) frequency: Duration,
    pub(crate) quiet: bool,
    pub(crate) chdir: Option<PathBuf>,
    pub(crate) board: Arc<Scoreboard>,
    pub(crate) slot: ProcessIndex,
    pub(crate) runner: JobRunner,
}

impl SpoolerLoop {
    /// Works through the directory for ever (the process ends by signal).
    pub(crate) fn run(mut self) -> ! {
        let pid = std::process::id();
        log::info!(
            "[spooler {} pid: {pid}] working every {} s and when a job is queued",
            self.dir.display(),
            self.frequency.as_secs()
        );
        loop {
            let signals = self.board.signals();
            let seen = signals.seq(self.slot);
            for path in job_files(&self.dir) {
                self.run_job(&path);
            }
            self.board
                .signals()
                .wait(self.slot, seen, self.frequency.max(Duration::from_secs(1)));
        }
    }

    fn run_job(&mut self, path: &Path) {
        // Taken by another spooler of this directory, or gone since the scan: skip it.
        let Some((file, job)) = take(path) else {
            return;
        };
        let at = job
            .vars
            .iter()
            .find(|(k, _)| k == b"at")
            .and_then(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse::<f64>().ok());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        if at.is_some_and(|at| at > now) {
            return;
        }
        // uWSGI runs a job in the directory of its file (it changes into the spool
        // directory to scan it), or in `spooler-chdir` when that is given.
        let cwd = self.chdir.as_deref().or(path.parent());
        if let Some(dir) = cwd {
            if let Err(e) = std::env::set_current_dir(dir) {
                log::error!("[spooler] cannot change to {}: {e}", dir.display());
            }
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let pid = std::process::id();
        if !self.quiet {
            log::info!(
                "[spooler {} pid: {pid}] managing request {name} ...",
                self.dir.display()
            );
        }
        let started = Instant::now();
        match (self.runner)(&job) {
            Outcome::Done => {
                if let Err(e) = fs::remove_file(path) {
                    log::error!("[spooler] cannot remove the done job {name}: {e}");
                }
                if !self.quiet {
                    log::info!(
                        "[spooler {} pid: {pid}] done with task {name} after {:.3} seconds",
                        self.dir.display(),
                        started.elapsed().as_secs_f64()
                    );
                }
            }
            Outcome::Retry => {
                if !self.quiet {
                    log::info!(
                        "[spooler {} pid: {pid}] task {name} will run again",
                        self.dir.display()
                    );
                }
            }
            Outcome::Ignore => {}
        }
        // The lock goes with the file.
        drop(file);
    }
}

/// The job files of `dir`: those of its numbered priority subdirectories first (lowest
/// number first), then its own; each group in queueing order ([`queue_key`]). Removes the
/// stale temporaries it meets ([`is_stale_temp`]).
pub(crate) fn job_files(dir: &Path) -> Vec<PathBuf> {
    let mut priorities: Vec<(u64, PathBuf)> = Vec::new();
    let files = jobs_in(dir, Some(&mut priorities));
    priorities.sort();
    let mut all: Vec<PathBuf> = Vec::new();
    for (_, sub) in priorities {
        all.extend(jobs_in(&sub, None));
    }
    all.extend(files);
    all
}

/// The job files directly in `dir`, in queueing order; its numbered subdirectories go to
/// `priorities` when asked for. Stale temporaries are removed on the way.
fn jobs_in(dir: &Path, mut priorities: Option<&mut Vec<(u64, PathBuf)>>) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            if let (Some(priorities), Ok(n)) = (priorities.as_deref_mut(), name.parse::<u64>()) {
                priorities.push((n, entry.path()));
            }
        } else if name.starts_with(PREFIX) {
            files.push(entry.path());
        } else if is_stale_temp(&name, entry.metadata().ok().and_then(|m| m.modified().ok())) {
            match fs::remove_file(entry.path()) {
                Ok(()) => log::warn!(
                    "[spooler] removed {}, a job its writer never finished",
                    entry.path().display()
                ),
                // Another spooler of this directory removed it first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => log::error!("[spooler] cannot remove {}: {e}", entry.path().display()),
            }
        }
    }
    files.sort_by_cached_key(|p| (queue_key(p), p.clone()));
    files
}

/// When the job at `path` was queued, as `(secs, micros, pid, counter)`: read from its name
/// (`..._PID_COUNTER_SECS_MICROS`; a name written by uWSGI, which puts a random number
/// before the time, reads as `(secs, micros, counter, random)`), else the file's mtime.
/// Sorting by it runs jobs in the order they were queued, across every writer process,
/// where sorting the names as strings would put `_PID_10_` before `_PID_2_`.
fn queue_key(path: &Path) -> (u64, u64, u64, u64) {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    if let Some(key) = name_key(&name) {
        return key;
    }
    let mtime = fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    (mtime.as_secs(), u64::from(mtime.subsec_micros()), 0, 0)
}

/// `(secs, micros, pid, counter)` from a job file's name, when it has that form.
fn name_key(name: &str) -> Option<(u64, u64, u64, u64)> {
    let (_, [pid, counter, secs, micros]) = name_fields(name)?;
    Some((secs, micros, pid, counter))
}

/// The fields of a job file's name as [`Spool::enqueue`] writes it,
/// `PREFIX` + `HOST_PID_COUNTER_SECS_MICROS`: the host and `[pid, counter, secs, micros]`.
/// A name uWSGI wrote (`HOST_PID_COUNTER_RANDOM_SECS_MICROS`) reads as host `HOST_PID`,
/// pid COUNTER and counter RANDOM, which still orders it by its time.
fn name_fields(name: &str) -> Option<(&str, [u64; 4])> {
    let mut fields = name.strip_prefix(PREFIX)?.rsplitn(5, '_');
    let mut number = || fields.next()?.parse::<u64>().ok();
    let (micros, secs, counter, pid) = (number()?, number()?, number()?, number()?);
    Some((fields.next()?, [pid, counter, secs, micros]))
}

/// Whether `name` (last modified at `modified`) is a temporary job file whose writer will
/// never finish it: its writer ran on this host and its pid is gone, or it was untouched
/// for [`STALE_TEMP`]. Such a file is no job and nothing else would remove it.
fn is_stale_temp(name: &str, modified: Option<std::time::SystemTime>) -> bool {
    let Some(job) = name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(TEMP_SUFFIX))
        .filter(|n| n.starts_with(PREFIX))
    else {
        return false;
    };
    let old = modified
        .and_then(|m| m.elapsed().ok())
        .is_some_and(|age| age > STALE_TEMP);
    // Our host names carry no `_` (`hostname`), so the name's host field is exact.
    let writer = name_fields(job).and_then(|(host, [pid, ..])| {
        let pid = i32::try_from(pid).ok().filter(|&pid| pid > 0)?;
        (host == hostname()).then_some(pid)
    });
    let dead = writer.is_some_and(|pid| {
        matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        )
    });
    old || dead
}

/// Opens and locks the job file at `path` and reads it; `None` when another process holds
/// it, it is gone, or it is no job (logged).
fn take(path: &Path) -> Option<(File, Job)> {
    let mut file = File::open(path).ok()?;
    // SAFETY: flock(2) on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return None;
    }
    // Another spooler may have run and removed it between our open and our lock.
    let same = fs::metadata(path)
        .ok()
        .zip(file.metadata().ok())
        .is_some_and(|(now, ours)| now.ino() == ours.ino());
    if !same {
        return None;
    }
    let mut data = Vec::new();
    if let Err(e) = file.read_to_end(&mut data) {
        log::error!("[spooler] cannot read {}: {e}", path.display());
        return None;
    }
    match parse_job(path, &data) {
        Some(job) => Some((file, job)),
        None => {
            log::error!("[spooler] {} is no spool file; left alone", path.display());
            None
        }
    }
}

/// Reads a job file's contents: the packet, then the body.
fn parse_job(path: &Path, data: &[u8]) -> Option<Job> {
    let limits = Limits {
        buffer_size: usize::from(u16::MAX),
        ..Limits::default()
    };
    match parse_uwsgi(data, &limits) {
        Ok(Parsed::Complete(packet, used)) if packet.modifier1 == SPOOL_MODIFIER => Some(Job {
            path: path.to_path_buf(),
            vars: packet.vars,
            body: data[used..].to_vec(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruwsgi_shm::Layout;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    fn new_spool(dirs: &[PathBuf]) -> Spool {
        let board = Arc::new(Scoreboard::create(Layout::new(1, 1, 1)).unwrap());
        Spool::new(dirs.to_vec(), board).unwrap()
    }

    #[test]
    fn a_job_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let spool = new_spool(&[dir.path().to_path_buf()]);
        let path = spool
            .enqueue(vars(&[("task", "mail"), ("to", "a@b")]), b"the body")
            .unwrap();
        assert!(path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(PREFIX));
        assert_eq!(job_files(dir.path()), std::slice::from_ref(&path));
        let (_file, job) = take(&path).unwrap();
        assert_eq!(job.vars, vars(&[("task", "mail"), ("to", "a@b")]));
        assert_eq!(job.body, b"the body");
        assert!(
            take(&path).is_none(),
            "locked while the first taker holds it"
        );
    }

    #[test]
    fn priorities_come_first_and_bad_special_vars_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let spool = new_spool(&[dir.path().to_path_buf(), other.path().to_path_buf()]);
        let plain = spool.enqueue(vars(&[("n", "1")]), b"").unwrap();
        let urgent = spool
            .enqueue(vars(&[("n", "2"), ("priority", "0")]), b"")
            .unwrap();
        let later = spool
            .enqueue(vars(&[("n", "3"), ("priority", "5")]), b"")
            .unwrap();
        assert_eq!(job_files(dir.path()), [urgent, later, plain]);
        let elsewhere = spool
            .enqueue(vars(&[("spooler", other.path().to_str().unwrap())]), b"")
            .unwrap();
        assert_eq!(job_files(other.path()), [elsewhere]);
        assert!(spool.enqueue(vars(&[("priority", "../x")]), b"").is_err());
        assert!(spool.enqueue(vars(&[("at", "soon")]), b"").is_err());
        assert!(spool
            .enqueue(vars(&[("spooler", "/nowhere")]), b"")
            .is_err());
        assert!(
            new_spool(&[]).enqueue(vars(&[]), b"").is_err(),
            "no spooler"
        );
    }

    #[test]
    fn jobs_run_in_queueing_order_not_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let touch = |name: &str| {
            let path = dir.path().join(name);
            fs::write(&path, b"").unwrap();
            path
        };
        // As strings each pair sorts the other way round: pid 10 before pid 9, counter 10
        // before counter 9 (the same microsecond), pid 7 before pid 8.
        let first = touch(&format!("{PREFIX}h_9_0_1000_5"));
        let second = touch(&format!("{PREFIX}h_10_0_1000_6"));
        let third = touch(&format!("{PREFIX}h_9_9_1001_5"));
        let fourth = touch(&format!("{PREFIX}h_9_10_1001_5"));
        let fifth = touch(&format!("{PREFIX}h_8_0_1002_99"));
        let sixth = touch(&format!("{PREFIX}h_7_0_1002_100"));
        // uWSGI's form (a random number before the time) reads by its time too.
        let uwsgi = touch(&format!("{PREFIX}h_9_3_12345_1003_0"));
        // No time in the name: its mtime (now) puts it last.
        let odd = touch(&format!("{PREFIX}odd"));
        assert_eq!(
            job_files(dir.path()),
            [first, second, third, fourth, fifth, sixth, uwsgi, odd]
        );
        // Many jobs queued by one process come back in the order they were queued.
        let queued = tempfile::tempdir().unwrap();
        let spool = new_spool(&[queued.path().to_path_buf()]);
        let paths: Vec<PathBuf> = (0..25)
            .map(|n| spool.enqueue(vars(&[("n", &n.to_string())]), b"").unwrap())
            .collect();
        assert_eq!(job_files(queued.path()), paths);
    }

    #[test]
    fn job_files_are_private_and_stale_temporaries_go() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let spool = new_spool(&[dir.path().to_path_buf()]);
        let job = spool.enqueue(vars(&[("secret", "s3cr3t")]), b"").unwrap();
        let mode = fs::metadata(&job).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");

        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let host = hostname();
        let temp = |host: &str, pid: u32| {
            let path = dir
                .path()
                .join(format!(".{PREFIX}{host}_{pid}_0_1000_0{TEMP_SUFFIX}"));
            fs::write(&path, b"half a job").unwrap();
            path
        };
        let of_dead = temp(&host, dead);
        let of_live = temp(&host, std::process::id());
        let elsewhere = temp("otherhost", dead);
        let old_elsewhere = temp("otherhost", 1);
        File::options()
            .write(true)
            .open(&old_elsewhere)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - STALE_TEMP * 2)
            .unwrap();
        let unrelated = dir.path().join(".keep.tmp");
        fs::write(&unrelated, b"").unwrap();

        assert_eq!(job_files(dir.path()), std::slice::from_ref(&job));
        assert!(!of_dead.exists(), "its writer is dead");
        assert!(of_live.exists(), "its writer may still finish it");
        assert!(elsewhere.exists(), "another host's writer may be alive");
        assert!(!old_elsewhere.exists(), "untouched for too long");
        assert!(unrelated.exists(), "not a job's temporary");
    }

    #[test]
    fn return_codes_read_as_uwsgi_reads_them() {
        assert_eq!(Outcome::from_code(-2), Outcome::Done);
        assert_eq!(Outcome::from_code(-1), Outcome::Retry);
        assert_eq!(Outcome::from_code(0), Outcome::Ignore);
        assert_eq!(Outcome::from_code(7), Outcome::Retry);
    }
}
