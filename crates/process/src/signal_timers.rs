//! [`SignalTimers`]: the master runs the board's timer table (`timer`, `rbtimer`,
//! `uwsgi.add_timer`, `add_rb_timer`, `add_cron`, `add_file_monitor`) and raises each entry's
//! uWSGI signal when it is due.
//!
//! - A timer first fires one period after the master saw it, then every period; one that
//!   fell more than a period behind (a stopped master) fires once and starts again from now.
//!   An rb-timer stops after its iterations.
//! - A cron entry fires when its fields match the local time and it has not fired in the
//!   last 60 s, as `cron` lines (`cron.rs`): all fields -1 fires at once, then every minute.
//! - A file monitor fires when the file's modification time, size, inode or existence
//!   changes, looked at once a second (uWSGI uses inotify; a poll sees the same changes,
//!   a second later at most, and needs no descriptor per file).
//!
//! A signal nobody registered is logged once per entry until it is raised again.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ruwsgi_shm::{Scoreboard, TimerSpec};

use crate::cron::{LocalTime, Schedule};

/// How often file monitors look at their file.
const FILE_POLL: Duration = Duration::from_secs(1);

/// The `timer` and `rbtimer` options (`SIGNAL SECONDS`) as timer-table entries.
pub(crate) fn from_options(timer: &[String], rbtimer: &[String]) -> Result<Vec<TimerSpec>, String> {
    let parse = |name: &str, value: &str| -> Result<(u8, u64), String> {
        let mut words = value.split_whitespace();
        let (Some(signum), Some(secs), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!("{name} {value:?}: expected SIGNAL SECONDS"));
        };
        let signum = signum
            .parse::<u8>()
            .map_err(|_| format!("{name} {value:?}: the signal must be a number from 0 to 255"))?;
        let secs = secs
            .parse::<u64>()
            .ok()
            .filter(|&s| s > 0)
            .ok_or_else(|| format!("{name} {value:?}: the period must be at least 1 second"))?;
        Ok((signum, secs))
    };
    let mut specs = Vec::new();
    for value in timer {
        let (signum, secs) = parse("timer", value)?;
        specs.push(TimerSpec::Timer { signum, secs });
    }
    for value in rbtimer {
        let (signum, secs) = parse("rbtimer", value)?;
        specs.push(TimerSpec::RbTimer {
            signum,
            secs,
            iterations: 0,
        });
    }
    Ok(specs)
}

/// The master's schedule of the timer table's entries, by their place in the table.
#[derive(Debug, Default)]
pub(crate) struct SignalTimers {
    entries: HashMap<usize, Entry>,
}

#[derive(Debug)]
struct Entry {
    spec: TimerSpec,
    /// When it fires next (timers, file monitors' next look).
    next: Instant,
    /// Fires left (rb-timers with iterations); `None` for ever.
    left: Option<u32>,
    /// When a cron entry last fired (seconds since the epoch).
    last_cron: Option<i64>,
    /// What a file monitor saw last.
    file: Option<FileState>,
    /// The last raise failed and was logged.
    warned: bool,
}

/// What a file monitor compares: `None` when the file does not exist.
type FileState = Option<(i64, i64, u64, u64)>;

fn file_state(path: &PathBuf) -> FileState {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.mtime(), m.mtime_nsec(), m.size(), m.ino()))
}

impl SignalTimers {
    /// Fires what is due at `now` (`epoch`: seconds since the epoch, for cron entries),
    /// after taking in the entries added to the board since the last call.
    pub(crate) fn run(&mut self, board: &Scoreboard, now: Instant, epoch: i64) {
        for (place, spec) in board.signals().timers() {
            let known = self.entries.get(&place).is_some_and(|e| e.spec == spec);
            if !known {
                self.entries.insert(place, Entry::new(spec, now));
            }
        }
        let local = LocalTime::of(epoch);
        for entry in self.entries.values_mut() {
            if entry.due(now, epoch, local.as_ref()) {
                match board.signals().raise(entry.spec.signum()) {
                    Ok(_) => entry.warned = false,
                    Err(e) if !entry.warned => {
                        entry.warned = true;
                        log::warn!("{}: {e}", describe(&entry.spec));
                    }
                    Err(_) => {}
                }
            }
        }
    }

    /// When the next timer or file look is due (cron entries ride the master's tick).
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter(|e| e.left != Some(0) && !matches!(e.spec, TimerSpec::Cron { .. }))
            .map(|e| e.next)
            .min()
    }
}

impl Entry {
    fn new(spec: TimerSpec, now: Instant) -> Entry {
        let (next, left, file) = match &spec {
            TimerSpec::Timer { secs, .. } => (now + Duration::from_secs(*secs), None, None),
            TimerSpec::RbTimer {
                secs, iterations, ..
            } => (
                now + Duration::from_secs(*secs),
                (*iterations > 0).then_some(*iterations),
                None,
            ),
            TimerSpec::Cron { .. } => (now, None, None),
            TimerSpec::FileMonitor { path, .. } => {
                let path = PathBuf::from(String::from_utf8_lossy(path).into_owned());
                (now + FILE_POLL, None, Some(file_state(&path)))
            }
        };
        Entry {
            spec,
            next,
            left,
            last_cron: None,
            file,
            warned: false,
        }
    }

    /// Whether the entry fires now; moves its schedule on when it does.
    fn due(&mut self, now: Instant, epoch: i64, local: Option<&LocalTime>) -> bool {
        match &self.spec {
            TimerSpec::Timer { secs, .. } | TimerSpec::RbTimer { secs, .. } => {
                if self.left == Some(0) || now < self.next {
                    return false;
                }
                let period = Duration::from_secs(*secs);
                self.next += period;
                if self.next <= now {
                    self.next = now + period;
                }
                if let Some(left) = &mut self.left {
                    *left -= 1;
                }
                true
            }
            TimerSpec::Cron { fields, .. } => {
                let schedule = Schedule {
                    minute: fields[0].into(),
                    hour: fields[1].into(),
                    day: fields[2].into(),
                    month: fields[3].into(),
                    week: fields[4].into(),
                };
                let fire = local.is_some_and(|t| schedule.matches(t))
                    && self.last_cron.is_none_or(|last| epoch - last >= 60);
                if fire {
                    self.last_cron = Some(epoch);
                }
                fire
            }
            TimerSpec::FileMonitor { path, .. } => {
                if now < self.next {
                    return false;
                }
                self.next = now + FILE_POLL;
                let path = PathBuf::from(String::from_utf8_lossy(path).into_owned());
                let seen = file_state(&path);
                let changed = self.file.as_ref() != Some(&seen);
                self.file = Some(seen);
                changed
            }
        }
    }
}

fn describe(spec: &TimerSpec) -> String {
    match spec {
        TimerSpec::Timer { signum, secs } => format!("timer (signal {signum} every {secs} s)"),
        TimerSpec::RbTimer { signum, secs, .. } => {
            format!("rb_timer (signal {signum} every {secs} s)")
        }
        TimerSpec::Cron { signum, fields } => format!("cron {fields:?} (signal {signum})"),
        TimerSpec::FileMonitor { signum, path } => format!(
            "file monitor {} (signal {signum})",
            String::from_utf8_lossy(path)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruwsgi_shm::{Layout, ProcessKind, SignalTarget};

    #[test]
    fn the_options_parse() {
        let specs = from_options(&["3 10".into()], &["4 2".into()]).unwrap();
        assert_eq!(
            specs,
            [
                TimerSpec::Timer {
                    signum: 3,
                    secs: 10
                },
                TimerSpec::RbTimer {
                    signum: 4,
                    secs: 2,
                    iterations: 0
                }
            ]
        );
        for bad in ["3", "3 0", "300 1", "a 1", "1 2 3"] {
            assert!(from_options(&[bad.into()], &[]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn timers_fire_every_period_and_rb_timers_stop_after_their_iterations() {
        let board = Scoreboard::create(Layout::new(1, 1, 0)).unwrap();
        let worker = board.claim(100, 1, ProcessKind::Worker, 0).unwrap();
        board.signals().register(1, SignalTarget::AnyWorker);
        board.signals().register(2, SignalTarget::AnyWorker);
        let timer = TimerSpec::Timer { signum: 1, secs: 2 };
        let rb = TimerSpec::RbTimer {
            signum: 2,
            secs: 1,
            iterations: 2,
        };
        board.signals().add_timer(&timer).unwrap();
        board.signals().add_timer(&rb).unwrap();
        let mut timers = SignalTimers::default();
        let start = Instant::now();
        let epoch = 1_000_000;
        timers.run(&board, start, epoch);
        assert_eq!(board.signals().take(worker), vec![], "nothing at once");
        assert_eq!(timers.next_due(), Some(start + Duration::from_secs(1)));
        let mut fired = Vec::new();
        for s in 1..=6 {
            timers.run(&board, start + Duration::from_secs(s), epoch + s as i64);
            fired.push(board.signals().take(worker));
        }
        assert_eq!(
            fired,
            [
                vec![(2, 1)],
                vec![(1, 1), (2, 1)],
                vec![],
                vec![(1, 1)],
                vec![],
                vec![(1, 1)]
            ]
        );
    }

    #[test]
    fn a_file_monitor_fires_when_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watched");
        let board = Scoreboard::create(Layout::new(1, 1, 0)).unwrap();
        let worker = board.claim(100, 1, ProcessKind::Worker, 0).unwrap();
        board.signals().register(7, SignalTarget::Workers);
        let spec = TimerSpec::FileMonitor {
            signum: 7,
            path: path.to_str().unwrap().as_bytes().to_vec(),
        };
        board.signals().add_timer(&spec).unwrap();
        let mut timers = SignalTimers::default();
        let start = Instant::now();
        timers.run(&board, start, 0);
        timers.run(&board, start + Duration::from_secs(1), 0);
        assert_eq!(board.signals().take(worker), vec![], "unchanged");
        std::fs::write(&path, b"x").unwrap();
        timers.run(&board, start + Duration::from_secs(2), 0);
        assert_eq!(board.signals().take(worker), vec![(7, 1)], "created");
        timers.run(&board, start + Duration::from_secs(3), 0);
        assert_eq!(board.signals().take(worker), vec![]);
        std::fs::remove_file(&path).unwrap();
        timers.run(&board, start + Duration::from_secs(4), 0);
        assert_eq!(board.signals().take(worker), vec![(7, 1)], "removed");
    }
}
