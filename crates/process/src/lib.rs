//! ruwsgi-process: the master and its prefork workers, as uWSGI runs them.
//!
//! # Running a server
//! [`run`] takes the [`Options`] (plain values the cli maps from the configuration) and a
//! [`Service`] (what the workers serve: the WSGI app on the event loop, or
//! [`FixedService`]) and does, in uWSGI's order:
//!
//! 1. stdin to `/dev/null` (unless `honour-stdin`), `umask`, `max-fd`, `limit-as`; then
//!    `daemonize` (fork, `setsid`, log to the file; the umask becomes 0 unless `umask` is
//!    given) or `logto`, with paths relative to the directory ruwsgi started in, the file
//!    getting its `logfile-chmod` mode and `logfile-chown` owner; then the `flock` files
//!    and `pidfile` (same);
//! 2. `chdir`; wait for the `wait-for-*` paths and sockets (`wait_for.rs`); bind every
//!    socket (relative unix paths now resolve in the new directory), `chmod-socket`,
//!    `chown-socket`;
//! 3. [`Service::initialize`] (the Python runtime starts with the starting user's rights,
//!    as uWSGI's plugins do); drop privileges (`gid`, `uid`), then `logto2`, `pidfile2`
//!    (under `master-as-root` the master keeps them, and each child drops them after its
//!    fork);
//! 4. map the [`ruwsgi_shm::Scoreboard`], the caches ([`ruwsgi_shm::Cache`], `cache2` and
//!    `cache`; a reload adopts the previous image's) and the mules' queues, then
//!    [`Service::load`] here unless `lazy-apps` (preload), as the unprivileged user (as
//!    root under `master-as-root`) — an
//!    app that registers uWSGI signals or timers at import writes them to the board, one
//!    that fills a cache at import fills the shared one;
//! 5. with `master`: fork `processes` workers, the mules and the spoolers, and supervise
//!    them (respawn with back-off, signals, cron, timers, attached daemons); without it,
//!    serve in this process as the single worker;
//! 6. on exit, `vacuum` removes the unix sockets and pidfiles it created, nothing else.
//!
//! # Signals (as uWSGI 2.0, except TERM: see docs/architecture.md, "Compatibility contract")
//! TERM: graceful stop, workers finish in-flight requests within `worker-reload-mercy`.
//! INT, QUIT: immediate stop. HUP: graceful reload — the master re-executes itself in place
//! (same pid), and its running workers serve until the new image's are ready (`reexec.rs`).
//! USR1: the scoreboard to the log. TSTP: pause or resume the workers.
//!
//! [`stop`] and [`reload`] are `--stop PIDFILE` and `--reload PIDFILE`.
//!
//! # Features
//! `wsgi` (default): `WsgiService`, the WSGI bridge (`ruwsgi-wsgi`, which links libpython)
//! served on the event loop. Without it the crate runs [`FixedService`] or an embedder's own
//! [`Service`], and builds and tests without Python.

#![deny(missing_docs)]

mod activation;
#[cfg(feature = "wsgi")]
mod autoreload;
mod bind;
mod builtin;
mod caches;
mod cheaper;
#[cfg(feature = "wsgi")]
mod control;
mod cron;
mod daemon;
mod daemons;
mod early_signals;
mod emperor;
mod error;
mod fifo;
mod hooks;
mod kept_handlers;
mod ksm;
mod logfile;
mod master;
mod mules;
mod notify;
mod on_loop;
mod options;
mod privileges;
mod proctitle;
mod reexec;
mod service;
mod signal_timers;
mod spooler;
mod stats;
mod stats_report;
mod stats_server;
mod subscribe;
mod sys;
mod touch;
mod vassal;
mod wait_for;
mod worker;
#[cfg(feature = "wsgi")]
mod wsgi_service;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kept_handlers::KeptHandlers;

pub use activation::sockets_passed;
pub use bind::Bound;
pub use builtin::FixedService;
pub use error::{Error, ErrorKind};
pub use hooks::Hooks;
pub use mules::MuleQueues;
pub use options::{Options, Recycling, SocketOptions, SocketSpec};
pub use service::{
    MuleContext, ServerContext, Service, ServiceError, ServiceErrorKind, Serving, Stop,
    ThreadStacks, WorkerContext,
};
#[cfg(feature = "wsgi")]
pub use wsgi_service::{WsgiService, WsgiServiceOptions};

/// The signals the master and the workers handle themselves: an app's Python handler for
/// one of them, set while the app loads, is undone ([`KeptHandlers`]).
const SERVER_SIGNALS: [libc::c_int; 8] = [
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGCHLD,
    libc::SIGTSTP,
];

/// `--stop PIDFILE`: sends SIGINT to the pid in the file (as uWSGI).
pub fn stop(pidfile: &Path) -> Result<u32, Error> {
    daemon::signal_pidfile(pidfile, nix::sys::signal::Signal::SIGINT)
}

/// `--reload PIDFILE`: sends SIGHUP to the pid in the file.
pub fn reload(pidfile: &Path) -> Result<u32, Error> {
    daemon::signal_pidfile(pidfile, nix::sys::signal::Signal::SIGHUP)
}

/// Runs the server `opts` describes with `service` until it stops; returns the exit status
/// (0 after a stop by signal, 22 when a worker could not load the app under `need-app`).
///
/// In a master re-executed by a reload, an error that keeps the new image from taking over
/// (a socket that no longer binds, an app that no longer imports) does not end the server:
/// the previous workers keep serving until a later reload succeeds or a stop signal comes.
pub fn run(opts: &Options, service: &mut dyn Service) -> Result<i32, Error> {
    proctitle::remember();
    let handover = reexec::Handover::take();
    let mut cleanup = Vacuum {
        enabled: opts.vacuum,
        paths: Vec::new(),
    };
    let result = serve(opts, service, handover.as_ref(), &mut cleanup);
    match (result, handover) {
        (Err(e), Some(previous)) => {
            // The socket files and pidfile are the previous workers' still.
            cleanup.enabled = false;
            let why = match e.kind() {
                ErrorKind::NoApp(msg) => format!("no app could be loaded ({msg})"),
                _ => e.to_string(),
            };
            let code = reexec::keep_previous_workers(previous, &why);
            cleanup.enabled = opts.vacuum;
            Ok(code)
        }
        (result, _) => result,
    }
}

/// A re-executed master's configuration could not even be read (the cli calls this with
/// the error before it gives up): if this process is one, its previous workers keep serving
/// as [`run`] does for its own errors, and the exit status is returned when it stops.
/// `None` when this process is no re-executed master.
pub fn reload_failed(why: &dyn std::fmt::Display) -> Option<i32> {
    reexec::Handover::take().map(|previous| reexec::keep_previous_workers(previous, why))
}

/// What uWSGI's `daemonize` and `daemonize2` do once detached: the umask becomes 0 unless
/// `umask` is given, so what is created from then on gets the mode asked for (a unix socket
/// bound after `daemonize` is 0777, which lets a web server running as another user
/// connect without `chmod-socket`).
fn daemon_umask(opts: &Options) {
    if opts.umask.is_none() {
        nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    }
}

/// What every process does first: stdin on `/dev/null` (unless `honour-stdin`), then
/// `umask`, `max-fd` and `limit-as`, then the `asap` hooks, before any file or socket is
/// created.
fn set_up_process(opts: &Options) -> Result<(), Error> {
    if !opts.honour_stdin {
        daemon::stdin_to_null()?;
    }
    if let Some(mask) = opts.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    if let Some(n) = opts.max_fd {
        if let Err(e) = sys::set_limit(nix::sys::resource::Resource::RLIMIT_NOFILE, n) {
            log::warn!("max-fd {n}: cannot set the open-files limit: {e}");
        }
    }
    if let Some(mb) = opts.limit_as.filter(|&mb| mb > 0) {
        let resource = nix::sys::resource::Resource::RLIMIT_AS;
        if let Err(e) = sys::set_limit(resource, mb << 20) {
            log::warn!("limit-as {mb}: cannot set the address-space limit: {e}");
        }
    }
    hooks::run("asap", &opts.hooks.asap(), true)
}

/// `as-root` hooks (as root only), the privilege drop to `uid` and `gid`, then the
/// `as-user` hooks: in the server's process, or in each child under `master-as-root`.
fn drop_to_user(opts: &Options) -> Result<(), Error> {
    hooks::run_root_hooks(&opts.hooks)?;
    privileges::drop_privileges(opts.uid.as_deref(), opts.gid.as_deref())?;
    hooks::run("as-user", &opts.hooks.as_user(), true)
}

/// `p` made absolute against the current directory (before `chdir`, so relative paths
/// mean what they meant where the server started).
fn absolute(p: &Option<PathBuf>) -> Result<Option<PathBuf>, Error> {
    p.as_ref()
        .map(|p| {
            std::path::absolute(p).map_err(|e| Error::os(format!("bad path {}", p.display()), e))
        })
        .transpose()
}

/// `daemonize LOG` (detach, umask 0 unless `umask`), else `logto LOG`.
fn detach(opts: &Options, daemonize: Option<&Path>, logto: Option<&Path>) -> Result<(), Error> {
    if let Some(log) = daemonize {
        daemon::daemonize(log)?;
        daemon_umask(opts);
    } else if let Some(log) = logto {
        daemon::log_to(log)?;
    }
    Ok(())
}

/// `chdir`, when given.
fn change_dir(opts: &Options) -> Result<(), Error> {
    if let Some(dir) = &opts.chdir {
        std::env::set_current_dir(dir)
            .map_err(|e| Error::os(format!("cannot chdir to {}", dir.display()), e))?;
    }
    Ok(())
}

/// Runs the Emperor (`emperor.rs`): this process governs a vassal per config file the
/// `emperor` directories and patterns hold, until a stop signal and every vassal has
/// exited; returns the exit status. Of the process's own options it honours `daemonize`
/// or `logto`, `flock`, `pidfile` and `emperor-pidfile`, `chdir`, `umask`, `max-fd`,
/// `limit-as`, the `asap`, `as-root` and `as-user` hooks, `uid` and `gid`, `touch-reload`
/// (reloads every vassal),
/// `reload-mercy`, `worker-reload-mercy` and `vacuum`; it serves no socket and loads no
/// app.
pub fn run_emperor(opts: &Options) -> Result<i32, Error> {
    set_up_process(opts)?;
    let mut cleanup = Vacuum {
        enabled: opts.vacuum,
        paths: Vec::new(),
    };
    let log = absolute(&opts.daemonize)?.or(absolute(&opts.logto)?);
    detach(
        opts,
        absolute(&opts.daemonize)?.as_deref(),
        absolute(&opts.logto)?.as_deref(),
    )?;
    if let Some(log) = &log {
        logfile::Ownership::from_options(opts)?.apply_at_start(log)?;
    }
    let locks = opts
        .flock
        .iter()
        .map(|p| daemon::lock_file(p, false))
        .collect::<Result<Vec<_>, _>>()?;
    let signals = master::MasterSignals::install()?;
    for p in [absolute(&opts.pidfile)?, absolute(&opts.emperor_pidfile)?]
        .into_iter()
        .flatten()
    {
        daemon::write_pidfile(&p)?;
        cleanup.paths.push(p);
    }
    let touch_reload = opts
        .touch_reload
        .iter()
        .map(|p| absolute(&Some(p.clone())).map(Option::unwrap_or_default))
        .collect::<Result<Vec<_>, _>>()?;
    change_dir(opts)?;
    if !wait_for::all(opts, &|| signals.stop_pending())? {
        return Ok(0);
    }
    let here =
        std::env::current_dir().map_err(|e| Error::os("cannot read the current directory", e))?;
    let settings = emperor::Settings::from_options(opts, &here)
        .map_err(|e| Error::new(ErrorKind::Config(format!("emperor {e}"))))?;
    drop_to_user(opts)?;
    let code = emperor::Emperor::new(settings, &touch_reload, signals)?.run()?;
    drop(locks);
    Ok(code)
}

fn serve(
    opts: &Options,
    service: &mut dyn Service,
    handover: Option<&reexec::Handover>,
    cleanup: &mut Vacuum,
) -> Result<i32, Error> {
    set_up_process(opts)?;
    let start_dir =
        std::env::current_dir().map_err(|e| Error::os("cannot read the current directory", e))?;
    // Paths of the pidfiles and logs resolve against the starting directory, before chdir.
    let (pidfile, pidfile2) = (absolute(&opts.pidfile)?, absolute(&opts.pidfile2)?);
    let safe_pidfiles: Vec<PathBuf> = [
        absolute(&opts.safe_pidfile)?,
        absolute(&opts.safe_pidfile2)?,
    ]
    .into_iter()
    .flatten()
    .collect();
    let (daemonize, daemonize2) = (absolute(&opts.daemonize)?, absolute(&opts.daemonize2)?);
    let (logto, logto2) = (absolute(&opts.logto)?, absolute(&opts.logto2)?);

    // A re-executed master is the same process: already detached, already logging.
    let detached = handover.is_some_and(|h| h.detached);
    let ownership = logfile::Ownership::from_options(opts)?;
    if !detached {
        detach(opts, daemonize.as_deref(), logto.as_deref())?;
        if let Some(log) = daemonize.as_ref().or(logto.as_ref()) {
            ownership.apply_at_start(log)?;
        }
    }
    // After daemonize: a lock is the process's, and its forked child would not hold it.
    // Absolute: `daemonize2` takes them again after `chdir`.
    let flock: Vec<PathBuf> = opts
        .flock
        .iter()
        .map(|p| absolute(&Some(p.clone())).map(Option::unwrap_or_default))
        .collect::<Result<_, _>>()?;
    let lock_all = |wait: bool| -> Result<Vec<std::fs::File>, Error> {
        flock.iter().map(|p| daemon::lock_file(p, wait)).collect()
    };
    let mut locks = lock_all(false)?;
    if daemonize2.is_none() || detached {
        if let Some(p) = &pidfile {
            daemon::write_pidfile(p)?;
            cleanup.paths.push(p.clone());
        }
    }
    // A vassal runs a master, which holds the emperor's line (uWSGI forces one too).
    let emperor = vassal::EmperorLink::from_env();
    let master = opts.master || opts.processes > 1 || emperor.is_some();
    // The master's handlers exist before the app imports: a signal meanwhile waits for its
    // loop. A reload blocked them across exec; pending ones are delivered now, to these.
    let signals = master.then(master::MasterSignals::install).transpose()?;
    reexec::unblock();
    change_dir(opts)?;
    if !master {
        if handover.is_some() {
            return Err(Error::new(ErrorKind::Config(
                "a reload cannot turn the master off (master = false); stop and start instead"
                    .into(),
            )));
        }
        early_signals::remember();
    }
    // `wait-for-*`, at the first start only: a re-executed master's previous workers serve
    // meanwhile, and what they needed was there. A stop signal, or an emperor's stop order
    // (or its line closing), ends the wait and the server; a reload order the emperor
    // sends meanwhile is dropped (the configuration is read already).
    if handover.is_none() {
        let stop_pending = || {
            let signalled = signals
                .as_ref()
                .map_or_else(early_signals::stop_pending, |s| s.stop_pending());
            let ordered = emperor.as_ref().is_some_and(|e| {
                e.orders()
                    .iter()
                    .any(|o| !matches!(o, vassal::Order::Do(fifo::Command::Reload)))
            });
            signalled || ordered
        };
        if !wait_for::all(opts, &stop_pending)? {
            return Ok(0);
        }
    }
    let somax = bind::somaxconn();
    let mut sockets = Vec::new();
    // Sockets systemd passed (socket activation), or those a previous image had from it.
    let mut passed = match handover {
        None => activation::take(),
        Some(h) => h
            .passed
            .iter()
            .map(|(address, fd)| {
                reexec::adopt(*fd).map_err(|e| Error::os(format!("socket {address}"), e))
            })
            .collect::<Result<_, _>>()?,
    };
    for spec in &opts.sockets {
        if let Some(max) = somax.filter(|&m| spec.backlog > m) {
            log::warn!(
                "listen queue size {} of {} is greater than the system max net.core.somaxconn ({max}); \
                 the kernel will use {max}",
                spec.backlog,
                spec.address
            );
        }
        let inherited = handover.and_then(|h| {
            h.sockets
                .iter()
                .find(|(address, _)| *address == spec.address)
        });
        if let Some((_, fd)) = inherited {
            let b = bind::adopt(spec, *fd)?;
            if let Some(path) = &b.unix_path {
                cleanup.paths.push(path.clone());
            }
            log::info!(
                "{} socket {} taken over from the previous image",
                describe(spec),
                spec.address
            );
            sockets.push(b);
            continue;
        }
        if let Some(i) = passed.iter().position(|fd| bind::names(&spec.address, fd)) {
            // systemd's socket: its file stays when the server stops.
            sockets.push(bind::listening(spec, passed.remove(i), true)?);
            log::info!(
                "{} socket {} passed by systemd",
                describe(spec),
                spec.address
            );
            continue;
        }
        let b = bind::bind(spec)?;
        if let Some(path) = &b.unix_path {
            cleanup.paths.push(path.clone());
            if let Some(owner) = &opts.chown_socket {
                privileges::chown_socket(path, owner)?;
            }
        }
        match b.local_addr {
            Some(local) => log::info!(
                "{} socket bound to {} ({local})",
                describe(spec),
                spec.address
            ),
            None => log::info!("{} socket bound to {}", describe(spec), spec.address),
        }
        sockets.push(b);
    }
    // Passed sockets no option names serve the uwsgi protocol, as under uWSGI.
    for fd in passed {
        let address = bind::address_of(&fd).map_err(|e| Error::os("a socket systemd passed", e))?;
        let spec = SocketSpec {
            address,
            protocol: ruwsgi_event_loop::Protocol::Uwsgi,
            backlog: 100,
            chmod: None,
            reuse_port: false,
            tuning: Default::default(),
            timeout: None,
        };
        log::info!(
            "uwsgi socket {} passed by systemd (no socket option names it)",
            spec.address
        );
        sockets.push(bind::listening(&spec, fd, true)?);
    }
    let stats = match &opts.stats {
        Some(address) if master => {
            let b = bind_stats(address, &opts.sockets)?;
            cleanup.paths.extend(b.unix_path.clone());
            log::info!("stats server bound to {address}");
            Some(b)
        }
        Some(_) => {
            log::warn!("stats needs a master (--master); no stats server is started");
            None
        }
        None => None,
    };
    if !opts.master && opts.processes > 1 {
        log::warn!(
            "processes = {} without master: running a master anyway \
             (ruwsgi does not run unsupervised workers)",
            opts.processes
        );
    }
    let numproc = if master { opts.processes.max(1) } else { 1 };
    if !master {
        warn_needs_master(opts);
    }
    let mule_specs = if master {
        mules::from_options(&opts.mule, opts.mules)
    } else {
        if !opts.mule.is_empty() || opts.mules > 0 {
            log::warn!("mules need a master (--master); no mule is started");
        }
        Vec::new()
    };
    let here =
        std::env::current_dir().map_err(|e| Error::os("cannot read the current directory", e))?;
    let spooler_specs = if master {
        spooler::from_options(&opts.spooler, opts.spooler_processes, &here)
    } else {
        if !opts.spooler.is_empty() {
            log::warn!("the spooler needs a master (--master); no spooler is started");
        }
        Vec::new()
    };
    // Before the app is imported: a preloaded app registers signals and timers in it.
    let extra = mule_specs.len() + spooler_specs.len();
    let layout = ruwsgi_shm::Layout::new(numproc, opts.threads, extra)
        .with_locks(opts.locks.saturating_add(1));
    let board = Arc::new(scoreboard(layout, handover)?);
    // The log files the server writes to, rotated and reopened by the master.
    let log_path = [&daemonize, &logto, &logto2, &daemonize2]
        .into_iter()
        .flatten()
        .next()
        .cloned();
    let log_files = master.then(|| {
        let files = logfile::LogFiles::new(
            log_path,
            opts.log_backupname
                .as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
            opts.log_maxsize,
            board.clone(),
            ownership,
        );
        if handover.is_some() && opts.log_reopen {
            files.reopen();
        }
        files
    });
    if handover.is_some() {
        // The new image's app registers its signals and timers again.
        board.signals().clear();
    }
    // Also before the app is imported, which may fill them; adopted across a reload.
    let cache_specs = caches::from_options(opts.cache, opts.cache_blocksize, &opts.cache2)
        .map_err(|e| Error::new(ErrorKind::Config(e)))?;
    let caches = caches::setup(&cache_specs, handover.map_or(&[][..], |h| &h.caches))?;
    let mule_queues = if mule_specs.is_empty() {
        None
    } else {
        let queues = mules::MuleQueues::create(mule_specs.len())
            .map_err(|e| Error::os("cannot make the mules' message queues", e))?;
        Some(Arc::new(queues))
    };
    let spool = if spooler_specs.is_empty() {
        None
    } else {
        let mut dirs: Vec<PathBuf> = spooler_specs.iter().map(|s| s.dir.clone()).collect();
        dirs.dedup();
        let spool = spooler::Spool::new(dirs, board.clone())
            .map_err(|e| Error::os("cannot set up the spooler", e))?;
        Some(Arc::new(spool))
    };
    // The runtime starts before the privileges drop (as uWSGI initializes its plugins),
    // the app is imported after it.
    let server = ServerContext {
        numproc,
        scoreboard: board.clone(),
        master,
        mules: mule_queues.clone(),
        spool: spool.clone(),
        caches: caches.clone(),
    };
    service
        .initialize(&server)
        .map_err(|e| Error::new(ErrorKind::Service(e.to_string())))?;
    if master && opts.master_as_root {
        // Each worker, mule and spooler drops them after its fork (`Master::enter_child`).
        log::info!("master-as-root: the master keeps its privileges");
    } else {
        drop_to_user(opts)?;
    }
    if let Some(log) = &logto2 {
        daemon::log_to(log)?;
        ownership.apply_at_start(log)?;
    }
    if daemonize2.is_none() || detached {
        if let Some(p) = &pidfile2 {
            daemon::write_pidfile(p)?;
            cleanup.paths.push(p.clone());
        }
    }
    let preload = !master || !opts.lazy_apps;
    if preload {
        hooks::run("pre-app", &opts.hooks.pre_app(), true)?;
        let kept = KeptHandlers::save(&SERVER_SIGNALS);
        let loaded = service.load();
        kept.restore(if master { "master" } else { "worker 1" });
        if let Err(e) = loaded {
            if e.kind() == ServiceErrorKind::AppLoad && opts.need_app {
                return Err(Error::new(ErrorKind::NoApp(e.to_string())));
            }
            log::warn!("no app loaded ({e}); serving without it (need-app is off)");
        }
        hooks::run("post-app", &opts.hooks.post_app(), true)?;
    }
    if let (Some(log), false) = (&daemonize2, detached) {
        service.before_fork();
        daemon::daemonize(log)?;
        daemon_umask(opts);
        ownership.apply_at_start(log)?;
        service.after_fork_child();
        // The parent that held the locks exits now: this process takes them again, waiting
        // for that exit to release them.
        drop(std::mem::take(&mut locks));
        locks = lock_all(true)?;
        for p in [&pidfile, &pidfile2].into_iter().flatten() {
            daemon::write_pidfile(p)?;
            cleanup.paths.push(p.clone());
        }
    }
    let fifos = if master {
        fifo::Fifos::create(&opts.master_fifo)?
    } else {
        if !opts.master_fifo.is_empty() {
            log::warn!("master-fifo needs a master (--master); no FIFO is created");
        }
        fifo::Fifos::default()
    };
    cleanup.paths.extend(fifos.paths().map(Path::to_path_buf));
    let code = if let Some(signals) = signals {
        let mut opts = opts.clone();
        opts.processes = numproc;
        let startup = master::Startup {
            binary: std::env::current_exe()
                .map_err(|e| Error::os("cannot find the running binary", e))?,
            start_dir,
            detached: detached || daemonize.is_some() || logto.is_some() || daemonize2.is_some(),
            previous: handover.cloned(),
            pidfiles: [&pidfile, &pidfile2]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
            safe_pidfiles: safe_pidfiles.clone(),
            fifos,
            stats,
            log_files,
            emperor,
        };
        // Written by the master once it runs; removed with the other pidfiles.
        cleanup.paths.extend(safe_pidfiles);
        let extras = master::Extras {
            mules: mule_specs,
            mule_queues,
            spoolers: spooler_specs,
            spool,
            caches,
        };
        master::Master::new(service, &opts, sockets, board, startup, signals, extras)?.run()?
    } else {
        let slot = board
            .claim(std::process::id(), 1, ruwsgi_shm::ProcessKind::Worker, 0)
            .map_err(|e| Error::with(ErrorKind::Os("cannot set up the scoreboard".into()), e))?;
        let ctx = WorkerContext {
            id: 1,
            master_pid: None,
            numproc: 1,
            scoreboard: board,
            slot,
            // Nobody would spawn the replacement (warn_needs_master said so).
            recycling: Recycling::default(),
            reaper: opts.reaper,
            ksm: opts.ksm.unwrap_or(0),
            mules: None,
            spool: None,
            caches,
        };
        // This process serves: its lines leave through a log writer from now on.
        ruwsgi_logging::start_writer();
        let worker_hooks = worker::WorkerHooks {
            load: None,
            accepting: opts.hooks.accepting(1, true),
        };
        worker::run(
            service,
            &ctx,
            sockets,
            worker_hooks,
            opts.need_app,
            opts.worker_reload_mercy,
            false,
        )
    };
    // The `flock` files stay locked until the server stops.
    drop(locks);
    Ok(code)
}

/// Warns about each worker-health option set on a server without a master, which none of
/// them works without: the master watches the workers and spawns the replacements.
fn warn_needs_master(opts: &Options) {
    let set = [
        ("harakiri", opts.harakiri > 0),
        ("max-requests", opts.max_requests > 0),
        ("max-worker-lifetime", opts.max_worker_lifetime > 0),
        ("log-maxsize", opts.log_maxsize > 0),
        ("reload-on-rss", opts.reload_on_rss.is_some_and(|mb| mb > 0)),
        ("reload-on-as", opts.reload_on_as.is_some_and(|mb| mb > 0)),
        ("reload-on-exception", opts.reload_on_exception),
        ("subscribe-to", !opts.subscribe_to.is_empty()),
        ("fs-reload", !opts.fs_reload.is_empty()),
        ("fs-brutal-reload", !opts.fs_brutal_reload.is_empty()),
        ("touch-logrotate", !opts.touch_logrotate.is_empty()),
        ("touch-exec", !opts.touch_exec.is_empty()),
        ("touch-signal", !opts.touch_signal.is_empty()),
        (
            "evil-reload-on-rss",
            opts.evil_reload_on_rss.is_some_and(|mb| mb > 0),
        ),
        (
            "evil-reload-on-as",
            opts.evil_reload_on_as.is_some_and(|mb| mb > 0),
        ),
    ];
    for (name, _) in set.iter().filter(|(_, on)| *on) {
        log::warn!("{name} needs a master (--master): it is ignored");
    }
}

/// The scoreboard: the one a previous image handed over, when it has this layout (the
/// previous workers keep their slots in it), else a new one.
fn scoreboard(
    layout: ruwsgi_shm::Layout,
    handover: Option<&reexec::Handover>,
) -> Result<ruwsgi_shm::Scoreboard, Error> {
    let inherited = handover.and_then(|h| h.board).and_then(|fd| {
        let fd = reexec::adopt(fd)
            .map_err(|e| log::warn!("cannot take over the scoreboard: {e}"))
            .ok()?;
        ruwsgi_shm::Scoreboard::from_fd(fd, layout)
            .map_err(|e| log::info!("a new scoreboard for the reloaded server: {e}"))
            .ok()
    });
    match inherited {
        Some(board) => Ok(board),
        None => ruwsgi_shm::Scoreboard::create(layout)
            .map_err(|e| Error::with(ErrorKind::Os("cannot set up the scoreboard".into()), e)),
    }
}

/// Binds the stats server's `address` in the sockets' address forms, with the first
/// socket's `listen` backlog and `chmod-socket` (uWSGI binds it with the same options).
fn bind_stats(address: &str, sockets: &[SocketSpec]) -> Result<Bound, Error> {
    let first = sockets.first();
    bind::bind(&SocketSpec {
        address: address.to_string(),
        // Not read: the master answers on it itself.
        protocol: ruwsgi_event_loop::Protocol::Http,
        backlog: first.map_or(100, |s| s.backlog),
        chmod: first.and_then(|s| s.chmod),
        reuse_port: false,
        tuning: Default::default(),
        timeout: None,
    })
}

fn describe(spec: &SocketSpec) -> &'static str {
    match spec.protocol {
        ruwsgi_event_loop::Protocol::Http => "http",
        ruwsgi_event_loop::Protocol::Uwsgi => "uwsgi",
    }
}

/// Removes, on drop, the unix sockets and pidfiles this server created (`vacuum`).
struct Vacuum {
    enabled: bool,
    paths: Vec<PathBuf>,
}

impl Drop for Vacuum {
    fn drop(&mut self) {
        if !self.enabled {
            return;
        }
        for p in &self.paths {
            match std::fs::remove_file(p) {
                Ok(()) => log::info!("vacuum: removed {}", p.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => log::warn!("vacuum: cannot remove {}: {e}", p.display()),
            }
        }
    }
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
