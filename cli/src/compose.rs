//! Turns the merged [`Config`] into each crate's typed options and runs the server.
//!
//! A thin mapping: option names → `ruwsgi_process::Options` (+ the sockets) and the
//! service the workers run; then [`ruwsgi_process::run`]. Exit statuses as uWSGI's: 1 for
//! configuration and bind errors, 22 when no app loads under `need-app`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use ruwsgi_config::Config;
use ruwsgi_event_loop::Protocol;
use ruwsgi_process::{FixedService, Hooks, InterimWsgi, InterimWsgiOptions, Options, Service, SocketSpec};

/// uWSGI's default `listen` backlog.
const DEFAULT_LISTEN: u64 = 100;

/// Process-manager options that parse but are not implemented yet (later issues); each
/// draws a warning so nothing is silently ignored.
const NOT_YET: &[&str] = &[
    "py-autoreload",
    "harakiri",
    "max-requests",
    "max-worker-lifetime",
    "reload-on-rss",
    "evil-reload-on-rss",
    "touch-reload",
    "master-fifo",
    "cheaper",
    "stats",
];

/// Runs the server the configuration describes; returns the process exit code.
pub fn run(config: &Config) -> anyhow::Result<i32> {
    if let Some(pidfile) = config.str("stop") {
        let pid = ruwsgi_process::stop(pidfile.as_ref())?;
        log::info!("sent SIGINT to {pid} (from {pidfile})");
        return Ok(0);
    }
    if let Some(pidfile) = config.str("reload") {
        let pid = ruwsgi_process::reload(pidfile.as_ref())?;
        log::info!("sent SIGHUP to {pid} (from {pidfile})");
        return Ok(0);
    }
    for name in NOT_YET {
        if config.is_set(name) {
            log::warn!("option {name} is not implemented yet and has no effect");
        }
    }
    let opts = process_options(config)?;
    if opts.sockets.is_empty() {
        anyhow::bail!("no socket to serve on: give --http-socket, --socket or --http");
    }
    let mut service = service(config)?;
    match ruwsgi_process::run(&opts, service.as_mut()) {
        Ok(code) => Ok(code),
        Err(err) if err.exit_code() != 1 => {
            log::error!("{err}");
            Ok(err.exit_code())
        }
        Err(err) => Err(err.into()),
    }
}

/// The service the workers run: the built-in fixed handler, or the WSGI app.
fn service(config: &Config) -> anyhow::Result<Box<dyn Service>> {
    if config.flag("builtin-handler") {
        return Ok(Box::new(FixedService::new("Hello World\n")));
    }
    if config.str("module").is_none() && config.str("wsgi-file").is_none() {
        anyhow::bail!("no app to serve: give --module or --wsgi-file (or --builtin-handler)");
    }
    // INTERIM: until the WSGI bridge (ruwsgi-wsgi) and the event loop land, the process
    // crate's interim WSGI service serves the app.
    Ok(Box::new(InterimWsgi::new(InterimWsgiOptions {
        module: config.str("module").map(str::to_string),
        wsgi_file: config.str("wsgi-file").map(PathBuf::from),
        callable: config.str("callable").map(str::to_string),
        pythonpath: config
            .list("pythonpath")
            .into_iter()
            .map(str::to_string)
            .collect(),
        home: config.str("home").map(PathBuf::from),
        env: config.list("env").into_iter().map(str::to_string).collect(),
    })))
}

fn sockets(config: &Config) -> anyhow::Result<Vec<SocketSpec>> {
    let backlog = config.u64("listen").unwrap_or(DEFAULT_LISTEN);
    let backlog = u32::try_from(backlog).context("listen: the backlog is too large")?;
    let chmod =
        match config.str("chmod-socket") {
            None => None,
            // `chmod-socket` alone means 666, as in uWSGI.
            Some("" | "1" | "true") => Some(0o666),
            Some(mode) => Some(u32::from_str_radix(mode, 8).with_context(|| {
                format!("chmod-socket: {mode:?} is not an octal mode such as 660")
            })?),
        };
    let mut specs = Vec::new();
    let kinds = [
        ("socket", Protocol::Uwsgi),
        ("uwsgi-socket", Protocol::Uwsgi),
        ("http-socket", Protocol::Http),
        ("http", Protocol::Http),
    ];
    for (name, protocol) in kinds {
        for address in config.list(name) {
            specs.push(SocketSpec {
                address: address.to_string(),
                protocol,
                backlog,
                chmod,
                reuse_port: config.flag("reuse-port"),
                tcp_nodelay: config.flag("tcp-nodelay"),
                so_keepalive: config.flag("so-keepalive"),
            });
        }
    }
    Ok(specs)
}

fn process_options(config: &Config) -> anyhow::Result<Options> {
    let path = |name: &str| config.str(name).map(PathBuf::from);
    let secs = |name: &str, default: u64| Duration::from_secs(config.u64(name).unwrap_or(default));
    let need_app = if config.is_set("need-app") {
        config.flag("need-app")
    } else {
        !config.flag("no-need-app")
    };
    Ok(Options {
        sockets: sockets(config)?,
        master: config.flag("master"),
        processes: config.u64("processes").unwrap_or(1).max(1) as usize,
        threads: config.u64("threads").unwrap_or(1).max(1) as usize,
        lazy_apps: config.flag("lazy-apps") || config.flag("lazy"),
        need_app,
        chdir: path("chdir"),
        pidfile: path("pidfile"),
        pidfile2: path("pidfile2"),
        daemonize: path("daemonize"),
        daemonize2: path("daemonize2"),
        logto: path("logto"),
        logto2: path("logto2"),
        vacuum: config.flag("vacuum"),
        uid: config.str("uid").map(str::to_string),
        gid: config.str("gid").map(str::to_string),
        chown_socket: config.str("chown-socket").map(str::to_string),
        worker_reload_mercy: secs("worker-reload-mercy", 60),
        reload_mercy: secs("reload-mercy", 60),
        hooks: Hooks {
            pre_app: strings(config.list("hook-pre-app")),
            master_start: strings(config.list("hook-master-start")),
            post_fork: strings(config.list("hook-post-fork")),
        },
    })
}

fn strings(values: Vec<&str>) -> Vec<String> {
    values.into_iter().map(str::to_string).collect()
}
