//! The spooler: jobs queued as files (`uwsgi.spool(dict)`, `@spool`), worked through by
//! spooler processes the master forks beside the workers (`spooler DIR`, repeatable;
//! `spooler-processes` per directory), as uWSGI's spooler does.
//!
//! - **A job is a file** in the spool directory named `uwsgi_spoolfile_on_HOST_PID_N_...`
//!   holding a uwsgi packet (modifier1 17, the job's vars) followed by its `body`, uWSGI's
//!   format. [`Spool::enqueue`] writes it under a dot name and renames it into place, so a
//!   spooler never sees half a job; the special vars `spooler` (which directory), `priority`
//!   (a numbered subdirectory, worked through first, lowest number first) and `at` (not
//!   before this Unix time) are read as uWSGI reads them.
//! - **A spooler process** scans its directory every `spooler-frequency` seconds (default
//!   30) and at once when a job is queued (the writer wakes it through the board), takes
//!   each job file with `flock` (so the processes of one directory never run one job
//!   twice), and hands it to the app's `uwsgi.spooler` function. `SPOOL_OK` removes the
//!   file, `SPOOL_RETRY` (or an exception) leaves it for the next scan, `SPOOL_IGNORE`
//!   leaves it alone.
//! - **At least once.** The file is removed only after the job succeeded: a spooler killed
//!   mid-job (or a server that stops) leaves the file, and the job runs again later. Jobs
//!   survive restarts because they are files; files are not fsynced, so a power loss may
//!   lose the newest ones.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
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
        let temp = dir.join(format!(".{name}.tmp"));
        let written = File::create(&temp)
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

fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "localhost".into())
        .replace(['/', '_'], "-")
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
        if let Some(dir) = &self.chdir {
            if let Err(e) = std::env::set_current_dir(dir) {
                log::error!("spooler-chdir {}: {e}", dir.display());
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
/// number first), then its own; each group by name (the name carries the queueing time).
pub(crate) fn job_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut priorities: Vec<(u64, PathBuf)> = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            if let Ok(n) = name.parse::<u64>() {
                priorities.push((n, entry.path()));
            }
        } else if name.starts_with(PREFIX) {
            files.push(entry.path());
        }
    }
    priorities.sort();
    files.sort();
    let mut all: Vec<PathBuf> = Vec::new();
    for (_, sub) in priorities {
        let mut in_sub: Vec<PathBuf> = fs::read_dir(&sub)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(PREFIX))
            .map(|e| e.path())
            .collect();
        in_sub.sort();
        all.extend(in_sub);
    }
    all.extend(files);
    all
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
    fn return_codes_read_as_uwsgi_reads_them() {
        assert_eq!(Outcome::from_code(-2), Outcome::Done);
        assert_eq!(Outcome::from_code(-1), Outcome::Retry);
        assert_eq!(Outcome::from_code(0), Outcome::Ignore);
        assert_eq!(Outcome::from_code(7), Outcome::Retry);
    }
}
