//! `py-autoreload N`: a thread in each worker that every N seconds looks at the modification
//! times of the files of the modules in its `sys.modules` ([`ruwsgi_wsgi::module_files`]:
//! modules imported after the first request count, such as the views Django's `urls.py`
//! imports) and, when one changed, asks the master for a graceful reload (SIGHUP), as
//! uWSGI's autoreloader calls `uwsgi.reload()`. The workers that see the same change ask
//! once between them ([`Scoreboard::ask_reload`]); a draining worker looks no more.
//!
//! A file seen for the first time (a module imported since the last look) counts as changed
//! when its mtime is later than that last look: it may have been edited after the import,
//! and uWSGI's rule (a first mtime is only a baseline) misses exactly the common case of a
//! view imported by the first request and edited right after. Its cost is a reload nobody
//! needed when the edit came between the last look and the import, and a reload drops
//! nothing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;
use ruwsgi_shm::{ProcessIndex, ProcessStatus, Scoreboard};

use crate::service::WorkerContext;
use crate::sys::kill;

/// Starts the looking thread of the worker `ctx` describes, every `every`.
pub(crate) fn start(every: Duration, ctx: &WorkerContext) {
    let Some(master) = ctx.master_pid else {
        if ctx.id == 1 {
            log::warn!("py-autoreload needs a master (--master) to reload; it is off");
        }
        return;
    };
    let (board, slot) = (ctx.scoreboard.clone(), ctx.slot);
    let spawned = std::thread::Builder::new()
        .name("ruwsgi-autoreload".into())
        .spawn(move || watch(every, master, &board, slot));
    if let Err(e) = spawned {
        log::error!("py-autoreload: cannot start its thread: {e}");
    }
}

fn watch(every: Duration, master: u32, board: &Arc<Scoreboard>, slot: ProcessIndex) {
    let mut seen: HashMap<PathBuf, SystemTime> = HashMap::new();
    // Modules already imported when the worker starts came from before it (the master's
    // import under preload): their files count as changed only if touched since.
    let mut last_look = SystemTime::now();
    loop {
        std::thread::sleep(every);
        if board.process(slot).status() == ProcessStatus::Stopping {
            return;
        }
        let look = SystemTime::now();
        let mut newest: Option<(PathBuf, SystemTime)> = None;
        for file in ruwsgi_wsgi::module_files() {
            let Ok(mtime) = std::fs::metadata(&file).and_then(|m| m.modified()) else {
                continue;
            };
            let changed = match seen.insert(file.clone(), mtime) {
                Some(before) => before != mtime,
                None => mtime > last_look,
            };
            if changed && newest.as_ref().is_none_or(|(_, t)| mtime > *t) {
                newest = Some((file, mtime));
            }
        }
        last_look = look;
        let Some((file, mtime)) = newest else {
            continue;
        };
        let at = mtime
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        if board.ask_reload(at) {
            log::info!("py-autoreload: {} changed; reloading", file.display());
            kill(master, Signal::SIGHUP);
        }
    }
}
