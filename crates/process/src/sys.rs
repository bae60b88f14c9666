//! Small OS helpers of the process manager: signalling a pid, naming a wait status, the
//! open-files limit (through nix), the loop thread's scheduling policy and how much freed
//! memory the allocator keeps.

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// Sends `sig` to `pid`; an already dead process is not an error.
pub(crate) fn kill(pid: u32, sig: Signal) {
    let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), sig);
}

/// The name of a signal number, for log lines (`SIGKILL`; `signal 40` for one without a
/// name, such as a realtime signal).
pub(crate) fn signal_name(sig: libc::c_int) -> String {
    match Signal::try_from(sig) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => format!("signal {sig}"),
    }
}

/// Describes a raw `waitpid` status: "exit status 3" or "killed by SIGKILL".
///
/// The master reaps with a raw waitpid(2) and decodes here, rather than with nix's
/// `waitpid`: nix turns the status into a `Signal` and fails, losing the reaped pid, when a
/// child dies of a signal it has no name for (a realtime signal).
/// One exited child, if any: its pid and its wait status (`WNOHANG`; never blocks). Raw,
/// not nix's waitpid: that one loses the pid of a child killed by a signal it cannot name
/// (see [`describe_status`]).
pub(crate) fn reap_one() -> Option<(u32, libc::c_int)> {
    let mut status = 0;
    // SAFETY: `status` is a valid, writable int for the kernel to fill.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    (pid > 0).then_some((pid as u32, status))
}

pub(crate) fn describe_status(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exit status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        let core = if libc::WCOREDUMP(status) {
            ", core dumped"
        } else {
            ""
        };
        format!("killed by {}{core}", signal_name(libc::WTERMSIG(status)))
    } else {
        format!("wait status {status}")
    }
}

/// The CPUs `cpu-affinity n` pins worker `id` to, as uWSGI maps them: `n` consecutive CPUs
/// from `(id - 1) × n`, wrapping over the `cpus` online ones.
pub(crate) fn affinity_cpus(id: usize, n: usize, cpus: usize) -> Vec<usize> {
    let cpus = cpus.max(1);
    (0..n).map(|i| ((id - 1) * n + i) % cpus).collect()
}

/// Pins the calling thread, and the threads it starts from now on, to `cpus`
/// (`sched_setaffinity`; a worker calls it before it starts its threads).
pub(crate) fn pin_to_cpus(cpus: &[usize]) -> nix::Result<()> {
    let mut set = nix::sched::CpuSet::new();
    for &cpu in cpus {
        set.set(cpu)?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
}

/// Reaps every exited child of this process without waiting (`reaper`): the processes an
/// app started and never waited for would stay zombies otherwise.
pub(crate) fn reap_children() {
    while reap_one().is_some() {}
}

/// The number of online CPUs (uWSGI's count for `cpu-affinity`), at least 1.
pub(crate) fn online_cpus() -> usize {
    let n = nix::unistd::sysconf(nix::unistd::SysconfVar::_NPROCESSORS_ONLN);
    n.ok().flatten().map_or(1, |n| n.max(1) as usize)
}

/// Sets a resource limit, soft and hard, to `n` (`max-fd`, `limit-as`, as uWSGI sets them).
pub(crate) fn set_limit(resource: Resource, n: u64) -> nix::Result<()> {
    setrlimit(resource, n, n)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, so a worker can hold as many
/// connections as the system lets it (one fd per connection). Returns the new soft limit.
pub(crate) fn raise_nofile_limit() -> std::io::Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard.max(soft))
}

/// Puts the calling thread under `SCHED_BATCH` (sched(7)): it keeps its fair share of the
/// CPU but does not preempt a running thread when it wakes up.
///
/// A worker's loop thread calls this: it wakes for every request that arrives and every
/// reply its Python threads post, and under the default policy each of those wake-ups
/// preempts the Python thread running on that core. See docs/architecture.md, "The loop
/// thread does not preempt Python". nix has no call for the scheduling policy.
pub(crate) fn batch_scheduling() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param (priority 0, the
    // only one SCHED_BATCH takes) that outlives the call, which only reads it.
    let res = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    if res == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Blocks up to this size come from the heap rather than from a mapping of their own
/// (glibc's largest allowed value on 64-bit).
const HEAP_BLOCKS_UP_TO: libc::c_int = 32 << 20;
/// Freed memory the allocator keeps at the top of the heap before it returns it to the
/// kernel.
const KEEP_FREED: libc::c_int = 64 << 20;

/// Makes glibc's allocator reuse freed memory instead of returning it to the kernel after
/// each request: a worker that buffers request bodies (up to `post-buffering`, 1 MiB by
/// default, for each request read ahead of its threads) otherwise maps fresh pages for every
/// body, and pays a page fault per 4 KiB (measured: 66,000 to 322,000 faults/s and 1,600 to
/// 2,500 req/s on 1 MiB uploads; with this, under 600 faults/s and 3,700 to 4,700 req/s).
/// See docs/architecture.md, "Decisions taken while building". The cost: a worker's
/// resident memory stays at its peak, up to [`KEEP_FREED`] above what it uses.
/// Other C libraries keep their own policy.
pub(crate) fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters, under the allocator's own lock (any
    // thread may call it at any time); both values are in their valid ranges.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, HEAP_BLOCKS_UP_TO);
        libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_FREED);
    }
}

/// Reaps `pid` if it exited, or is no child of ours (never blocks): what a master waiting for
/// its daemons, mules and spoolers before a re-exec asks.
pub(crate) fn reaped_now(pid: u32) -> bool {
    let mut status = 0;
    // SAFETY: waitpid(2) on one pid with WNOHANG writes only `status`.
    let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
    r == pid as libc::pid_t || r == -1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_take_consecutive_cpus_wrapping_as_in_uwsgi() {
        assert_eq!(affinity_cpus(1, 1, 2), [0]);
        assert_eq!(affinity_cpus(2, 1, 2), [1]);
        assert_eq!(affinity_cpus(3, 1, 2), [0]);
        assert_eq!(affinity_cpus(2, 2, 3), [2, 0]);
        assert_eq!(affinity_cpus(1, 3, 2), [0, 1, 0]);
    }

    #[test]
    fn statuses_are_described_as_uwsgi_logs_them() {
        assert_eq!(describe_status(3 << 8), "exit status 3");
        assert_eq!(describe_status(libc::SIGKILL), "killed by SIGKILL");
        assert_eq!(
            describe_status(libc::SIGSEGV | 0x80),
            "killed by SIGSEGV, core dumped"
        );
        // A realtime signal has no name: still described, not an error.
        let rt = libc::SIGRTMIN() + 3;
        assert_eq!(describe_status(rt), format!("killed by signal {rt}"));
    }

    #[test]
    fn nofile_limit_reaches_the_hard_limit() {
        let soft = raise_nofile_limit().unwrap();
        let (now_soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(soft, hard);
        assert_eq!(now_soft, hard);
    }
}
