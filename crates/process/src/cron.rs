//! `cron`, `unique-cron`, `cron2`: shell commands the master runs on a schedule, as uWSGI
//! runs them.
//!
//! - `cron = MINUTE HOUR DAY MONTH WEEKDAY COMMAND`: each field a number, or `-1` for any, or
//!   `-N` for "every N" (the field's value divisible by N); day of month and day of week are
//!   ORed when both are set, as in crontab; weekday 7 is Sunday too.
//! - `unique-cron`: the same, but not started again while the previous run still runs.
//! - `cron2 = minute=M,hour=H,day=D,month=M,week=W,unique=1 COMMAND`: missing keys are -1.
//!
//! The master looks once a second. A job runs when the local time matches and its last run
//! was at least 60 s ago — so a job whose fields are all -1 runs when the server starts and
//! then every minute, as in uWSGI. The command runs under `/bin/sh -c`, its output going to
//! the server's log; the master reaps it and logs how long it took.

use std::process::{Command, Stdio};

/// uWSGI's five cron fields (minute, hour, day of month, month, day of week): a number, -1
/// for any, -N for every N. Cron lines and `uwsgi.add_cron` share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    pub(crate) minute: i32,
    pub(crate) hour: i32,
    pub(crate) day: i32,
    pub(crate) month: i32,
    pub(crate) week: i32,
}

impl Schedule {
    /// Every minute (all fields -1).
    pub(crate) const ANY: Schedule = Schedule {
        minute: -1,
        hour: -1,
        day: -1,
        month: -1,
        week: -1,
    };

    /// Whether the schedule matches `t` (uWSGI's `uwsgi_cron_task_needs_execution`).
    pub(crate) fn matches(&self, t: &LocalTime) -> bool {
        // A negative field is "every N": it matches when the value divides by N.
        let field = |want: i32, now: i32| want == now || (want < 0 && now % want.abs() == 0);
        let week = if self.week == 7 { 0 } else { self.week };
        let common =
            field(self.minute, t.minute) && field(self.hour, t.hour) && field(self.month, t.month);
        if self.day >= 0 && week >= 0 {
            // Both set: day of month OR day of week, as crontab.
            common && (t.day == self.day || t.weekday == week)
        } else {
            common && field(self.day, t.day) && field(week, t.weekday)
        }
    }
}

/// One scheduled command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CronJob {
    schedule: Schedule,
    command: String,
    unique: bool,
    /// When it last started (seconds since the epoch).
    last_run: Option<i64>,
    /// The running command's pid and start time, until it is reaped.
    running: Option<(u32, i64)>,
}

/// The local time fields a schedule is matched against (`month` 1-12, `weekday` 0-6 from
/// Sunday), as `localtime_r` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LocalTime {
    pub(crate) minute: i32,
    pub(crate) hour: i32,
    pub(crate) day: i32,
    pub(crate) month: i32,
    pub(crate) weekday: i32,
}

impl LocalTime {
    /// The local time of `epoch` (seconds).
    pub(crate) fn of(epoch: i64) -> Option<LocalTime> {
        let t = epoch as libc::time_t;
        // SAFETY: an all-zero `tm` is valid (integers and a null zone pointer).
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid for the call; localtime_r is the thread-safe form.
        let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
        ok.then_some(LocalTime {
            minute: tm.tm_min,
            hour: tm.tm_hour,
            day: tm.tm_mday,
            month: tm.tm_mon + 1,
            weekday: tm.tm_wday,
        })
    }
}

impl CronJob {
    /// `cron` / `unique-cron`: five numbers and the command.
    pub(crate) fn parse(line: &str, unique: bool) -> Result<CronJob, String> {
        let mut rest = line.trim_start();
        let mut fields = [0i32; 5];
        for field in &mut fields {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            *field = rest[..end].parse().map_err(|_| {
                format!(
                    "{line:?}: expected five numbers (minute hour day month weekday; -1 for \
                     any, -N for every N) and a command"
                )
            })?;
            rest = rest[end..].trim_start();
        }
        if rest.is_empty() {
            return Err(format!("{line:?}: the command is missing"));
        }
        let [minute, hour, day, month, week] = fields;
        let schedule = Schedule {
            minute,
            hour,
            day,
            month,
            week,
        };
        Ok(CronJob::new(schedule, rest, unique))
    }

    /// `cron2`: `key=value,...` (minute, hour, day, month, week, unique) then the command.
    pub(crate) fn parse_keyed(value: &str) -> Result<CronJob, String> {
        let value = value.trim();
        let (keys, command) = match value.split_once(' ') {
            Some((keys, command)) if keys.contains('=') => (keys, command.trim()),
            _ if value.split(' ').next().is_some_and(|w| w.contains('=')) => {
                return Err(format!("{value:?}: the command is missing"));
            }
            _ => ("", value),
        };
        let mut job = CronJob::new(Schedule::ANY, command, false);
        for pair in keys.split(',').filter(|p| !p.is_empty()) {
            let (key, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("{value:?}: {pair:?} is not key=value"))?;
            let number = v
                .parse::<i32>()
                .map_err(|_| format!("{value:?}: {key}={v:?} is not a number"))?;
            match key {
                "minute" => job.schedule.minute = number,
                "hour" => job.schedule.hour = number,
                "day" => job.schedule.day = number,
                "month" => job.schedule.month = number,
                "week" => job.schedule.week = number,
                "unique" => job.unique = number != 0,
                "harakiri" | "legion" => {
                    log::warn!("cron2 {value:?}: {key} is not supported; ignored")
                }
                _ => return Err(format!("{value:?}: unknown key {key:?}")),
            }
        }
        if job.command.is_empty() {
            return Err(format!("{value:?}: the command is missing"));
        }
        Ok(job)
    }

    fn new(schedule: Schedule, command: &str, unique: bool) -> CronJob {
        CronJob {
            schedule,
            command: command.to_string(),
            unique,
            last_run: None,
            running: None,
        }
    }

    /// Whether the job is to start at `now` (seconds since the epoch, local time `t`).
    fn due(&self, now: i64, t: &LocalTime) -> bool {
        if self.unique && self.running.is_some() {
            return false;
        }
        self.schedule.matches(t) && self.last_run.is_none_or(|last| now - last >= 60)
    }
}

/// The server's scheduled commands.
#[derive(Debug, Default)]
pub(crate) struct Crons {
    jobs: Vec<CronJob>,
}

impl Crons {
    /// The jobs of `cron`, `unique-cron` and `cron2`, in that order.
    pub(crate) fn from_options(
        cron: &[String],
        unique: &[String],
        keyed: &[String],
    ) -> Result<Crons, String> {
        let mut jobs = Vec::new();
        for line in cron {
            jobs.push(CronJob::parse(line, false).map_err(|e| format!("cron {e}"))?);
        }
        for line in unique {
            jobs.push(CronJob::parse(line, true).map_err(|e| format!("unique-cron {e}"))?);
        }
        for value in keyed {
            jobs.push(CronJob::parse_keyed(value).map_err(|e| format!("cron2 {e}"))?);
        }
        Ok(Crons { jobs })
    }

    /// Starts the jobs due at `now` (seconds since the epoch).
    pub(crate) fn run_due(&mut self, now: i64) {
        let Some(t) = LocalTime::of(now) else {
            return;
        };
        for job in &mut self.jobs {
            if !job.due(now, &t) {
                continue;
            }
            job.last_run = Some(now);
            match spawn_shell(&job.command) {
                Ok(pid) => {
                    // Reaped by the master's loop ([`Crons::reaped`]), not waited for here.
                    log::info!("[uwsgi-cron] running \"{}\" (pid {pid})", job.command);
                    job.running = Some((pid, now));
                }
                Err(e) => log::error!("[uwsgi-cron] cannot run \"{}\": {e}", job.command),
            }
        }
    }

    /// Whether `pid` was a job's command (then logged as finished at `now`).
    pub(crate) fn reaped(&mut self, pid: u32, status: libc::c_int, now: i64) -> bool {
        for job in &mut self.jobs {
            if let Some((running, started)) = job.running {
                if running == pid {
                    job.running = None;
                    log::info!(
                        "[uwsgi-cron] command \"{}\" running with pid {pid} exited after {} \
                         second(s) ({})",
                        job.command,
                        now - started,
                        crate::sys::describe_status(status)
                    );
                    return true;
                }
            }
        }
        false
    }
}

/// Starts `command` under `/bin/sh -c` with stdin on `/dev/null` and the server's log as
/// its output; returns its pid. The caller's master reaps it (cron jobs, `touch-exec`).
pub(crate) fn spawn_shell(command: &str) -> std::io::Result<u32> {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .spawn()
        .map(|child| child.id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i32, hour: i32, day: i32, month: i32, weekday: i32) -> LocalTime {
        LocalTime {
            minute,
            hour,
            day,
            month,
            weekday,
        }
    }

    #[test]
    fn uwsgi_cron_lines_parse() {
        let job = CronJob::parse("59 2 -1 -1 -1 /usr/bin/backup --full", false).unwrap();
        assert_eq!(
            (job.schedule.minute, job.schedule.hour, job.schedule.day),
            (59, 2, -1)
        );
        assert_eq!(job.command, "/usr/bin/backup --full");
        assert!(CronJob::parse("59 2 -1 -1 /usr/bin/x", false).is_err());
        assert!(CronJob::parse("1 2 3 4 5", false).is_err(), "no command");
        let job = CronJob::parse_keyed("minute=-5,unique=1 touch /tmp/x").unwrap();
        assert_eq!(
            (job.schedule.minute, job.schedule.hour, job.unique),
            (-5, -1, true)
        );
        assert_eq!(job.command, "touch /tmp/x");
        assert_eq!(CronJob::parse_keyed("echo hi").unwrap().command, "echo hi");
        assert!(CronJob::parse_keyed("minute=5").is_err());
        assert!(CronJob::parse_keyed("minute=x echo").is_err());
    }

    #[test]
    fn schedules_match_as_uwsgi_matches_them() {
        let every = CronJob::parse("-1 -1 -1 -1 -1 x", false).unwrap();
        assert!(every.schedule.matches(&at(17, 3, 9, 12, 0)));
        let every_5 = CronJob::parse("-5 -1 -1 -1 -1 x", false).unwrap();
        assert!(every_5.schedule.matches(&at(15, 3, 9, 12, 0)));
        assert!(!every_5.schedule.matches(&at(16, 3, 9, 12, 0)));
        let nightly = CronJob::parse("30 2 -1 -1 -1 x", false).unwrap();
        assert!(nightly.schedule.matches(&at(30, 2, 1, 1, 4)));
        assert!(!nightly.schedule.matches(&at(30, 3, 1, 1, 4)));
        // Day of month OR day of week when both are set; 7 is Sunday.
        let first_or_sunday = CronJob::parse("0 0 1 -1 7 x", false).unwrap();
        assert!(first_or_sunday.schedule.matches(&at(0, 0, 1, 6, 3)));
        assert!(first_or_sunday.schedule.matches(&at(0, 0, 14, 6, 0)));
        assert!(!first_or_sunday.schedule.matches(&at(0, 0, 14, 6, 3)));
    }

    #[test]
    fn a_job_runs_at_most_once_a_minute_and_a_unique_one_not_while_running() {
        let t = at(0, 0, 1, 1, 0);
        let mut job = CronJob::parse("-1 -1 -1 -1 -1 x", false).unwrap();
        assert!(job.due(1000, &t), "all -1: due at start");
        job.last_run = Some(1000);
        assert!(!job.due(1059, &t));
        assert!(job.due(1060, &t));
        job.running = Some((42, 1000));
        assert!(job.due(1060, &t), "not unique: starts again");
        job.unique = true;
        assert!(!job.due(1060, &t), "unique: waits for the running one");
    }
}
