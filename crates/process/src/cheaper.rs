//! Cheaper mode (`cheaper N`): the master runs between `cheaper` and `processes` workers,
//! and once a second an algorithm says whether to spawn some (up to `cheaper-step`), stop
//! ("cheap") one, or hold. These are uWSGI's algorithms, ported from its `master_utils.c`
//! and `cheaper_busyness` plugin with their defaults and log lines:
//!
//! - `spare` (the default): when every worker is busy for `cheaper-overload` cycles in a
//!   row, spawn; once none is overloaded, cheap one worker every `cheaper-overload` idle
//!   cycles while more than `cheaper` run, except when exactly one worker is idle (one spare
//!   worker is the stable state).
//! - `spare2`: keep `cheaper` idle workers: spawn when fewer are idle, cheap one after
//!   `cheaper-idle` cycles with more idle.
//! - `backlog`: spawn while the listen queue holds more than `cheaper-overload` connections,
//!   cheap one while it holds fewer.
//! - `busyness`: every `cheaper-overload` seconds, the average share of time the workers
//!   spent in requests; above `cheaper-busyness-max` spawn, below `cheaper-busyness-min` for
//!   `cheaper-busyness-multiplier` periods cheap one (a penalty lengthens that wait when
//!   workers come back too soon after being cheaped), and "emergency" workers when the listen
//!   queue passes `cheaper-busyness-backlog-alert` or stays non-empty.
//! - `manual`: nothing on its own; the master FIFO's `+` and `-` only.
//!
//! A worker is busy, as in uWSGI, when any of its threads runs a request. This module only
//! decides, from the [`Sample`] the master reads off the scoreboard and the listening
//! sockets; `master.rs` spawns and stops. Times are microseconds on the master's clock.

use std::collections::HashMap;

use crate::options::Options;

/// The cheaper algorithms (`cheaper-algo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum CheaperAlgo {
    /// Spawn when every worker stays busy, cheap when idle (uWSGI's default).
    #[default]
    Spare,
    /// Keep `cheaper` idle workers.
    Spare2,
    /// Follow the listen queue.
    Backlog,
    /// Follow the share of time the workers spend in requests.
    Busyness,
    /// Only the master FIFO's `+` and `-`.
    Manual,
}

/// What cheaper mode is set to, as the options say (validated by [`Settings::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The fewest workers (`cheaper`).
    pub(crate) min: usize,
    /// The most (`processes`).
    pub(crate) max: usize,
    /// Workers at start (`cheaper-initial`, default `cheaper`).
    pub(crate) initial: usize,
    /// Workers spawned at once (`cheaper-step`, default 1).
    pub(crate) step: usize,
    /// `cheaper-overload` (default 3): cycles (spare), seconds (busyness), or a queue
    /// length (backlog).
    pub(crate) overload: u64,
    /// `cheaper-idle` (spare2; default 10 cycles).
    pub(crate) idle: u64,
    pub(crate) algo: CheaperAlgo,
    pub(crate) busyness: BusynessSettings,
}

/// The `cheaper-busyness-*` options, with uWSGI's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BusynessSettings {
    /// Above this average percentage, spawn (default 50).
    pub(crate) max: u64,
    /// Below it, cheap (default 25).
    pub(crate) min: u64,
    /// Periods of `cheaper-overload` seconds below `min` before a worker is cheaped
    /// (default 10).
    pub(crate) multiplier: u64,
    /// Added to the multiplier when workers are spawned again too soon (default 2).
    pub(crate) penalty: u64,
    /// Spawn emergency workers when the listen queue is longer (default 33).
    pub(crate) backlog_alert: u64,
    /// Emergency workers spawned at once (default 1).
    pub(crate) backlog_step: usize,
    /// The multiplier while emergency workers run (default 3).
    pub(crate) backlog_multiplier: u64,
    /// Spawn an emergency worker when the queue stays non-empty this many seconds
    /// (default 60).
    pub(crate) backlog_nonzero: u64,
    /// Log each period's figures.
    pub(crate) verbose: bool,
}

impl Default for BusynessSettings {
    fn default() -> BusynessSettings {
        BusynessSettings {
            max: 50,
            min: 25,
            multiplier: 10,
            penalty: 2,
            backlog_alert: 33,
            backlog_step: 1,
            backlog_multiplier: 3,
            backlog_nonzero: 60,
            verbose: false,
        }
    }
}

impl Settings {
    /// Cheaper mode as `opts` set it: `None` when off (`cheaper` unset or 0). The options
    /// are checked as uWSGI checks them: `cheaper` must be below `processes` (an error);
    /// `cheaper-initial` outside `cheaper..=processes` is brought inside it, and an unknown
    /// `cheaper-algo` falls back to `spare`, with a warning.
    pub(crate) fn from_options(opts: &Options) -> Result<Option<Settings>, String> {
        let min = match opts.cheaper {
            None | Some(0) => return Ok(None),
            Some(n) => n,
        };
        let max = opts.processes;
        if min >= max {
            return Err(format!(
                "cheaper ({min}) must be lower than processes ({max})"
            ));
        }
        let initial = match opts.cheaper_initial.filter(|&n| n > 0) {
            None => min,
            Some(n) if n < min => {
                log::warn!(
                    "cheaper-initial ({n}) must be at least cheaper ({min}); starting {min} workers"
                );
                min
            }
            Some(n) if n > max => {
                log::warn!(
                    "cheaper-initial ({n}) must be at most processes ({max}); starting {max} workers"
                );
                max
            }
            Some(n) => n,
        };
        let algo = match opts.cheaper_algo.as_deref() {
            None | Some("") | Some("spare") => CheaperAlgo::Spare,
            Some("spare2") => CheaperAlgo::Spare2,
            Some("backlog") => CheaperAlgo::Backlog,
            Some("busyness") => CheaperAlgo::Busyness,
            Some("manual") => CheaperAlgo::Manual,
            Some(other) => {
                log::warn!(
                    "cheaper-algo {other:?} is unknown (spare, spare2, backlog, busyness, \
                     manual); falling back to spare, as uWSGI does"
                );
                CheaperAlgo::Spare
            }
        };
        let d = BusynessSettings::default();
        let positive = |v: Option<u64>, default: u64| v.filter(|&n| n > 0).unwrap_or(default);
        let busyness = BusynessSettings {
            max: positive(opts.cheaper_busyness_max, d.max),
            min: positive(opts.cheaper_busyness_min, d.min),
            multiplier: positive(opts.cheaper_busyness_multiplier, d.multiplier),
            penalty: positive(opts.cheaper_busyness_penalty, d.penalty),
            backlog_alert: positive(opts.cheaper_busyness_backlog_alert, d.backlog_alert),
            backlog_step: positive(opts.cheaper_busyness_backlog_step, d.backlog_step as u64)
                as usize,
            backlog_multiplier: positive(
                opts.cheaper_busyness_backlog_multiplier,
                d.backlog_multiplier,
            ),
            backlog_nonzero: positive(opts.cheaper_busyness_backlog_nonzero, d.backlog_nonzero),
            verbose: opts.cheaper_busyness_verbose,
        };
        Ok(Some(Settings {
            min,
            max,
            initial,
            step: opts.cheaper_step.filter(|&n| n > 0).unwrap_or(1),
            overload: positive(opts.cheaper_overload, 3),
            idle: positive(opts.cheaper_idle, 10),
            algo,
            busyness,
        }))
    }
}

/// One running (not cheaped) worker, as the master sees it this cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WorkerLoad {
    /// The worker's index (0-based; `uwsgi.worker_id() - 1`).
    pub(crate) index: usize,
    /// Its process: a respawned worker's counters start again.
    pub(crate) pid: u32,
    /// Any of its threads runs a request now.
    pub(crate) busy: bool,
    /// Microseconds its process has spent in finished requests.
    pub(crate) busy_us: u64,
}

/// What the master reads once a cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Sample {
    /// The running workers.
    pub(crate) workers: Vec<WorkerLoad>,
    /// Workers that could be spawned (cheaped ones).
    pub(crate) cheaped: usize,
    /// Connections waiting in the listen queues.
    pub(crate) backlog: u64,
}

impl Sample {
    fn busy(&self) -> usize {
        self.workers.iter().filter(|w| w.busy).count()
    }
}

/// What to do this cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Hold,
    /// Spawn this many cheaped workers (at least 1, at most the cheaped ones).
    Spawn(usize),
    /// Stop one idle worker (the oldest).
    CheapOne,
}

/// The algorithm's memory between cycles.
#[derive(Debug)]
pub(crate) struct Cheaper {
    settings: Settings,
    /// spare: cycles with every worker busy; spare2: cycles with too many idle.
    overload_count: u64,
    idle_count: u64,
    busyness: Busyness,
}

#[derive(Debug, Default)]
struct Busyness {
    started: bool,
    /// When the current period began.
    tcheck: u64,
    /// Per worker index: (pid, `busy_us` at the period's start).
    last: HashMap<usize, (u32, u64)>,
    /// Per worker index: cycles seen busy this period.
    was_busy: HashMap<usize, u64>,
    last_cheaped: u64,
    next_cheap: u64,
    min_multi: u64,
    multi: u64,
    /// 1 spawned, 2 cheaped.
    last_action: u8,
    tolerance: u64,
    emergency: usize,
    backlog_nonzero_since: Option<u64>,
}

impl Cheaper {
    pub(crate) fn new(settings: Settings) -> Cheaper {
        Cheaper {
            settings,
            overload_count: 0,
            idle_count: 0,
            busyness: Busyness::default(),
        }
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// This cycle's decision (called once a second) at `now` (microseconds).
    pub(crate) fn decide(&mut self, now: u64, sample: &Sample) -> Decision {
        let decision = match self.settings.algo {
            CheaperAlgo::Spare => self.spare(sample),
            CheaperAlgo::Spare2 => self.spare2(sample),
            CheaperAlgo::Backlog => self.backlog(sample),
            CheaperAlgo::Busyness => self.busyness(now, sample),
            CheaperAlgo::Manual => Decision::Hold,
        };
        // Never below `cheaper`, never more than can be spawned.
        match decision {
            Decision::Spawn(n) if n > 0 && sample.cheaped > 0 => {
                Decision::Spawn(n.min(sample.cheaped))
            }
            Decision::CheapOne if sample.workers.len() > self.settings.min => Decision::CheapOne,
            _ => Decision::Hold,
        }
    }

    fn step(&self) -> Decision {
        Decision::Spawn(self.settings.step)
    }

    fn spare(&mut self, s: &Sample) -> Decision {
        if !s.workers.is_empty() && s.busy() == s.workers.len() {
            self.overload_count += 1;
            self.idle_count = 0;
        } else if self.overload_count > 0 {
            self.overload_count -= 1;
        }
        if self.overload_count >= self.settings.overload {
            self.overload_count = 0;
            return if s.cheaped > 0 {
                self.step()
            } else {
                Decision::Hold
            };
        }
        if self.overload_count == 0 {
            let active = s.workers.len();
            // One spare worker: the stable state.
            if active - s.busy() == 1 {
                return Decision::Hold;
            }
            self.idle_count += 1;
            if active > self.settings.min && self.idle_count % self.settings.overload == 0 {
                return Decision::CheapOne;
            }
        }
        Decision::Hold
    }

    fn spare2(&mut self, s: &Sample) -> Decision {
        let idle = s.workers.len() - s.busy();
        let want = self.settings.min;
        if idle < want {
            self.idle_count = 0;
            return Decision::Spawn((want - idle).min(self.settings.step));
        }
        if idle == want {
            self.idle_count = 0;
            return Decision::Hold;
        }
        self.idle_count += 1;
        if self.idle_count < self.settings.idle {
            return Decision::Hold;
        }
        self.idle_count = 0;
        Decision::CheapOne
    }

    fn backlog(&mut self, s: &Sample) -> Decision {
        let threshold = self.settings.overload;
        if s.backlog > threshold {
            self.step()
        } else if s.backlog < threshold {
            Decision::CheapOne
        } else {
            Decision::Hold
        }
    }

    fn busyness(&mut self, now: u64, s: &Sample) -> Decision {
        let settings = self.settings.clone();
        let bs = settings.busyness;
        let period = settings.overload * 1_000_000;
        let b = &mut self.busyness;
        if !b.started {
            b.started = true;
            b.tcheck = now;
            b.min_multi = bs.multiplier;
            b.multi = bs.multiplier;
            b.next_cheap = next_cheap(now, &settings, b);
            for w in &s.workers {
                b.last.insert(w.index, (w.pid, w.busy_us));
            }
            log::info!(
                "[busyness] settings: min={}%, max={}%, overload={}, multiplier={}, respawn \
                 penalty={}; backlog alert {} request(s), step {}, non-zero alert {} s",
                bs.min,
                bs.max,
                settings.overload,
                bs.multiplier,
                bs.penalty,
                bs.backlog_alert,
                bs.backlog_step,
                bs.backlog_nonzero
            );
        }
        let active = s.workers.len();
        for w in &s.workers {
            *b.was_busy.entry(w.index).or_default() += u64::from(w.busy);
        }
        let can_emergency = s.backlog > bs.backlog_alert && active < settings.max;
        if now.saturating_sub(b.tcheck) >= period {
            b.tcheck = now;
            let mut total = 0;
            for w in &s.workers {
                let before = match b.last.get(&w.index) {
                    Some(&(pid, at)) if pid == w.pid => at,
                    _ => 0,
                };
                let spent = w.busy_us.saturating_sub(before);
                let mut percent = (spent * 100 / period).min(100);
                let was_busy = b.was_busy.get(&w.index).copied().unwrap_or(0);
                if spent == 0 && was_busy > 0 {
                    // Busy all period without finishing a request.
                    percent = 100;
                }
                if bs.verbose && active > 1 {
                    log::info!(
                        "[busyness] worker nr {} {}s average busyness is at {percent}%",
                        w.index + 1,
                        settings.overload
                    );
                }
                total += percent;
            }
            b.was_busy.clear();
            b.last = s
                .workers
                .iter()
                .map(|w| (w.index, (w.pid, w.busy_us)))
                .collect();
            let avg = if active > 0 { total / active as u64 } else { 0 };
            if bs.verbose {
                log::info!(
                    "[busyness] {}s average busyness of {active} worker(s) is at {avg}%",
                    settings.overload
                );
            }
            if avg > bs.max {
                b.tolerance = 0;
                if s.cheaped == 0 {
                    log::info!(
                        "[busyness] {}s average busyness is at {avg}% but we already started \
                         the maximum number of workers ({active})",
                        settings.overload
                    );
                    return Decision::Hold;
                }
                b.last_action = 1;
                let since_cheaped = now.saturating_sub(b.last_cheaped) / period.max(1);
                if since_cheaped <= b.multi {
                    b.multi += bs.penalty;
                    log::info!(
                        "[busyness] worker(s) respawned too fast, increasing cheaper multiplier \
                         to {} (+{})",
                        b.multi,
                        bs.penalty
                    );
                } else if b.multi > b.min_multi {
                    b.multi -= 1;
                    log::info!("[busyness] decreasing cheaper multiplier to {}", b.multi);
                }
                b.next_cheap = next_cheap(now, &settings, b);
                let n = settings.step.min(s.cheaped);
                log::info!(
                    "[busyness] {}s average busyness is at {avg}%, will spawn {n} new worker(s)",
                    settings.overload
                );
                return Decision::Spawn(n);
            }
            if can_emergency {
                return emergency(now, s, &settings, b);
            }
            if active <= 1 {
                return Decision::Hold;
            }
            if avg < bs.min {
                b.tolerance = 0;
                if active > settings.min {
                    if now >= b.next_cheap {
                        if b.last_action == 2 && b.multi > b.min_multi {
                            b.multi -= 1;
                            log::info!("[busyness] decreasing cheaper multiplier to {}", b.multi);
                        }
                        b.next_cheap = next_cheap(now, &settings, b);
                        log::info!(
                            "[busyness] {}s average busyness is at {avg}%, cheap one of \
                             {active} running workers",
                            settings.overload
                        );
                        b.last_cheaped = now;
                        b.last_action = 2;
                        b.emergency = b.emergency.saturating_sub(1);
                        return Decision::CheapOne;
                    } else if bs.verbose {
                        log::info!(
                            "[busyness] need to wait {} more second(s) to cheap worker",
                            (b.next_cheap - now) / 1_000_000
                        );
                    }
                }
            } else {
                b.emergency = b.emergency.saturating_sub(1);
                b.tolerance += 1;
                if b.tolerance >= 3 {
                    b.next_cheap = next_cheap(now, &settings, b);
                } else {
                    b.next_cheap += period;
                }
            }
            return Decision::Hold;
        }
        if can_emergency {
            return emergency(now, s, &settings, b);
        }
        if s.backlog > 0 {
            match b.backlog_nonzero_since {
                Some(since) if now.saturating_sub(since) / 1_000_000 >= bs.backlog_nonzero => {
                    log::info!(
                        "[busyness] backlog was non-zero for {} second(s), spawning new worker(s)",
                        (now - since) / 1_000_000
                    );
                    b.backlog_nonzero_since = Some(now);
                    if active < settings.max {
                        return emergency(now, s, &settings, b);
                    }
                }
                Some(_) => {}
                None => b.backlog_nonzero_since = Some(now),
            }
        } else {
            b.backlog_nonzero_since = None;
        }
        Decision::Hold
    }
}

/// When busyness may next cheap a worker: `overload × multiplier` seconds from now (the
/// backlog multiplier while emergency workers run).
fn next_cheap(now: u64, settings: &Settings, b: &Busyness) -> u64 {
    let multi = if b.emergency > 0 {
        settings.busyness.backlog_multiplier
    } else {
        b.multi
    };
    now + settings.overload * multi * 1_000_000
}

/// Busyness's emergency workers: the listen queue is long (or stayed non-empty).
fn emergency(now: u64, s: &Sample, settings: &Settings, b: &mut Busyness) -> Decision {
    b.multi = b.min_multi;
    b.last_action = 1;
    let n = settings.busyness.backlog_step.min(s.cheaped);
    if n == 0 {
        log::info!(
            "[busyness] {} requests in listen queue but we already started the maximum number \
             of workers ({})",
            s.backlog,
            settings.max
        );
        b.next_cheap = next_cheap(now, settings, b);
        return Decision::Hold;
    }
    b.emergency += n;
    b.next_cheap = next_cheap(now, settings, b);
    log::info!(
        "[busyness] {} requests in listen queue, spawning {n} emergency worker(s) ({})",
        s.backlog,
        b.emergency
    );
    Decision::Spawn(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(algo: CheaperAlgo, min: usize, max: usize) -> Settings {
        let opts = Options {
            processes: max,
            cheaper: Some(min),
            cheaper_step: Some(2),
            cheaper_overload: Some(3),
            cheaper_idle: Some(2),
            ..Options::default()
        };
        Settings {
            algo,
            ..Settings::from_options(&opts).unwrap().unwrap()
        }
    }

    /// `active` running workers of which `busy` are busy, `max - active` cheaped.
    fn sample(active: usize, busy: usize, max: usize) -> Sample {
        Sample {
            workers: (0..active)
                .map(|i| WorkerLoad {
                    index: i,
                    pid: 100 + i as u32,
                    busy: i < busy,
                    busy_us: 0,
                })
                .collect(),
            cheaped: max - active,
            backlog: 0,
        }
    }

    const SECOND: u64 = 1_000_000;

    #[test]
    fn options_are_checked_as_uwsgi_checks_them() {
        let opts = |cheaper, initial, algo: &str| Options {
            processes: 8,
            cheaper: Some(cheaper),
            cheaper_initial: initial,
            cheaper_algo: Some(algo.to_string()),
            ..Options::default()
        };
        assert_eq!(Settings::from_options(&opts(0, None, "")), Ok(None), "off");
        assert!(Settings::from_options(&opts(8, None, "")).is_err());
        let s = Settings::from_options(&opts(2, Some(1), "busyness"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.initial, s.step, s.overload, s.algo),
            (2, 1, 3, CheaperAlgo::Busyness)
        );
        let s = Settings::from_options(&opts(2, Some(9), "nope"))
            .unwrap()
            .unwrap();
        assert_eq!((s.initial, s.algo), (8, CheaperAlgo::Spare));
    }

    #[test]
    fn spare_spawns_after_overload_cycles_then_cheaps_one_at_a_time() {
        let mut c = Cheaper::new(settings(CheaperAlgo::Spare, 1, 4));
        // Every worker busy: the third cycle in a row spawns `step` (2) workers.
        assert_eq!(c.decide(0, &sample(1, 1, 4)), Decision::Hold);
        assert_eq!(c.decide(SECOND, &sample(1, 1, 4)), Decision::Hold);
        assert_eq!(c.decide(2 * SECOND, &sample(1, 1, 4)), Decision::Spawn(2));
        // One spare worker: stable.
        for t in 3..10 {
            assert_eq!(c.decide(t * SECOND, &sample(3, 2, 4)), Decision::Hold);
        }
        // All idle: one cheaped every third cycle, down to `cheaper`.
        let mut decisions = Vec::new();
        for t in 10..16 {
            decisions.push(c.decide(t * SECOND, &sample(3, 0, 4)));
        }
        assert_eq!(
            decisions,
            [
                Decision::Hold,
                Decision::Hold,
                Decision::CheapOne,
                Decision::Hold,
                Decision::Hold,
                Decision::CheapOne
            ]
        );
        assert_eq!(c.decide(16 * SECOND, &sample(1, 0, 4)), Decision::Hold);
        // At the maximum, overload spawns nothing.
        for t in 17..30 {
            assert_eq!(c.decide(t * SECOND, &sample(4, 4, 4)), Decision::Hold);
        }
    }

    #[test]
    fn spare2_keeps_cheaper_idle_workers() {
        let mut c = Cheaper::new(settings(CheaperAlgo::Spare2, 2, 8));
        assert_eq!(c.decide(0, &sample(2, 2, 8)), Decision::Spawn(2));
        assert_eq!(c.decide(SECOND, &sample(4, 2, 8)), Decision::Hold);
        // Three idle for `cheaper-idle` (2) cycles: one goes.
        assert_eq!(c.decide(2 * SECOND, &sample(4, 1, 8)), Decision::Hold);
        assert_eq!(c.decide(3 * SECOND, &sample(4, 1, 8)), Decision::CheapOne);
    }

    #[test]
    fn backlog_follows_the_listen_queue() {
        let mut c = Cheaper::new(settings(CheaperAlgo::Backlog, 1, 4));
        let mut s = sample(2, 2, 4);
        s.backlog = 10;
        assert_eq!(c.decide(0, &s), Decision::Spawn(2));
        s.backlog = 3;
        assert_eq!(c.decide(SECOND, &s), Decision::Hold);
        s.backlog = 0;
        assert_eq!(c.decide(2 * SECOND, &s), Decision::CheapOne);
        assert_eq!(
            c.decide(3 * SECOND, &sample(1, 0, 4)),
            Decision::Hold,
            "never below cheaper"
        );
    }

    fn busy_for(sample: &mut Sample, us: &[u64]) {
        for (w, &u) in sample.workers.iter_mut().zip(us) {
            w.busy_us = u;
        }
    }

    #[test]
    fn busyness_spawns_above_max_and_cheaps_below_min_after_the_multiplier() {
        let mut c = Cheaper::new(settings(CheaperAlgo::Busyness, 1, 4));
        let mut s = sample(2, 0, 4);
        assert_eq!(c.decide(0, &s), Decision::Hold);
        // 3 s periods: 2.4 s of requests each is 80 %.
        busy_for(&mut s, &[2_400_000, 2_400_000]);
        assert_eq!(c.decide(3 * SECOND, &s), Decision::Spawn(2));
        // Quiet now: 0 % for 3 s periods; the first cheap waits overload × multiplier
        // (3 × 12 after the "respawned too fast" penalty) seconds.
        let mut s = sample(4, 0, 4);
        let mut cheaped_at = None;
        for period in 2..20 {
            let now = period * 3 * SECOND;
            if c.decide(now, &s) == Decision::CheapOne {
                cheaped_at = Some(now);
                break;
            }
            busy_for(&mut s, &[0, 0, 0, 0]);
        }
        // Spawned at 3 s; the multiplier became 12 (10 + the penalty of 2): 3 + 3 × 12.
        assert_eq!(cheaped_at, Some(39 * SECOND));
    }

    #[test]
    fn busyness_counts_a_worker_busy_all_period_without_a_finished_request() {
        let mut c = Cheaper::new(settings(CheaperAlgo::Busyness, 1, 4));
        let s = sample(1, 1, 4);
        assert_eq!(c.decide(0, &s), Decision::Hold);
        assert_eq!(c.decide(SECOND, &s), Decision::Hold);
        assert_eq!(c.decide(3 * SECOND, &s), Decision::Spawn(2));
    }

    #[test]
    fn busyness_spawns_emergency_workers_on_a_long_listen_queue() {
        let mut c = Cheaper::new(settings(CheaperAlgo::Busyness, 1, 4));
        let mut s = sample(1, 0, 4);
        assert_eq!(c.decide(0, &s), Decision::Hold);
        s.backlog = 40;
        assert_eq!(c.decide(SECOND, &s), Decision::Spawn(1));
    }

    #[test]
    fn manual_does_nothing_on_its_own() {
        let mut c = Cheaper::new(settings(CheaperAlgo::Manual, 1, 4));
        for t in 0..10 {
            assert_eq!(c.decide(t * SECOND, &sample(1, 1, 4)), Decision::Hold);
        }
    }
}
