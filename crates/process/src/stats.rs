//! What the master and a worker running without one log on SIGUSR1, and the memory sizes
//! they record and report: read from the scoreboard and /proc. A leaf: both `master.rs` and
//! `worker.rs` use it, and it uses neither.

use std::sync::atomic::Ordering;

use ruwsgi_shm::{ProcessKind, Scoreboard};

/// The resident set size of process `pid` in bytes, from /proc/PID/statm.
pub(crate) fn rss_bytes(pid: u32) -> Option<u64> {
    memory_usage(pid).map(|(rss, _)| rss)
}

/// The resident set size and the address space size of process `pid` in bytes, from
/// /proc/PID/statm.
pub(crate) fn memory_usage(pid: u32) -> Option<(u64, u64)> {
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p.max(1) as u64);
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let mut pages = statm.split_whitespace().map(|n| n.parse::<u64>().ok());
    let (size, resident) = (pages.next()??, pages.next()??);
    Some((resident * page, size * page))
}

/// Logs the scoreboard: each live process's counters and what each of its threads is running
/// (SIGUSR1, to the master or to a worker running without one, as in uWSGI). `who` and `pid`
/// name the process that was asked.
pub(crate) fn log_stats(board: &Scoreboard, who: &str, pid: u32) {
    log::info!("stats of {who} pid {pid}:");
    let now = ruwsgi_shm::now_micros();
    for (index, s) in board.live() {
        log::info!(
            "{} {} pid {} status {} requests {} bytes {} exceptions {} respawns {} rss {}",
            s.kind().map_or("process", ProcessKind::name),
            s.worker_id(),
            s.pid().unwrap_or(0),
            s.status().name(),
            s.requests.load(Ordering::Relaxed),
            s.bytes_out.load(Ordering::Relaxed),
            s.exceptions.load(Ordering::Relaxed),
            s.respawns.load(Ordering::Relaxed),
            s.rss.load(Ordering::Relaxed),
        );
        // What each thread is running now, as its thread slot tells (what harakiri
        // reads).
        for (thread, slot) in board.threads_of(index).iter().enumerate() {
            if let Some(running) = slot.snapshot() {
                log::info!(
                    "  thread {thread}: {} {} running for {} ms",
                    String::from_utf8_lossy(running.method()),
                    String::from_utf8_lossy(running.uri()),
                    now.saturating_sub(running.started_us) / 1000,
                );
            }
        }
    }
}
