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
use ruwsgi_process::{
    FixedService, Hooks, Options, Service, SocketSpec, WsgiService, WsgiServiceOptions,
};

/// uWSGI's default `listen` backlog.
const DEFAULT_LISTEN: u64 = 100;

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
        let event_loop = wsgi_service_options(config)?.event_loop;
        return Ok(Box::new(FixedService::with_options(
            "Hello World\n",
            event_loop,
        )));
    }
    if config.str("module").is_none()
        && config.str("wsgi-file").is_none()
        && config.list("mount").is_empty()
    {
        anyhow::bail!(
            "no app to serve: give --module, --wsgi-file or --mount (or --builtin-handler)"
        );
    }
    Ok(Box::new(WsgiService::new(wsgi_service_options(config)?)))
}

/// Options `uwsgi.opt` shows the app (those apps and APM agents probe), when set.
const OPT_NAMES: &[&str] = &[
    "master",
    "processes",
    "threads",
    "enable-threads",
    "lazy-apps",
    "socket",
    "uwsgi-socket",
    "http",
    "http-socket",
    "module",
    "wsgi-file",
    "callable",
    "chdir",
    "chdir2",
    "home",
    "pythonpath",
    "env",
    "mount",
    "manage-script-name",
    "import",
    "buffer-size",
    "post-buffering",
    "harakiri",
    "max-requests",
    "vacuum",
    "pidfile",
    "daemonize",
    "py-autoreload",
    "thunder-lock",
    "single-interpreter",
    "need-app",
    "die-on-term",
    "disable-logging",
    "logto",
    "uid",
    "gid",
    "stats",
];

/// The WSGI bridge's and the event loop's options, from the configuration.
fn wsgi_service_options(config: &Config) -> anyhow::Result<WsgiServiceOptions> {
    let strings =
        |name: &str| -> Vec<String> { config.list(name).into_iter().map(str::to_string).collect() };
    let flag_like = |v: &str| matches!(v, "true" | "1" | "");
    let mut opt = Vec::new();
    for name in OPT_NAMES {
        for v in config.list(name) {
            let value = if flag_like(v) && config.flag(name) {
                None
            } else {
                Some(v.to_string())
            };
            opt.push((name.to_string(), value));
        }
    }
    let buffer_size = config.u64("buffer-size").unwrap_or(8192) as usize;
    let wsgi = ruwsgi_wsgi::Options {
        module: config.str("module").map(str::to_string),
        wsgi_file: config.str("wsgi-file").map(PathBuf::from),
        callable: config.str("callable").map(str::to_string),
        chdir2: config.str("chdir2").map(PathBuf::from),
        pythonpath: strings("pythonpath"),
        env: strings("env"),
        unenv: strings("unenv"),
        home: config.str("home").map(PathBuf::from),
        mounts: strings("mount"),
        manage_script_name: config.flag("manage-script-name"),
        imports: strings("import"),
        threads: config.u64("threads").unwrap_or(1).max(1) as usize,
        file_wrapper: !config.flag("wsgi-disable-file-wrapper"),
        buffer_size,
        // WsgiService sets it: the master's worker count at initialize, each worker's at serve.
        numproc: 1,
        opt,
    };
    let defaults = ruwsgi_event_loop::Options::default();
    let event_loop = ruwsgi_event_loop::Options {
        buffer_size,
        post_buffering: config
            .u64("post-buffering")
            .map_or(defaults.post_buffering, |v| v as usize),
        limit_post: config.u64("limit-post").unwrap_or(defaults.limit_post),
        socket_timeout: config
            .u64("socket-timeout")
            .map_or(defaults.socket_timeout, Duration::from_secs),
        tcp_nodelay: config.flag("tcp-nodelay"),
        so_keepalive: config.flag("so-keepalive"),
        log_requests: !config.flag("disable-logging"),
        thunder_lock: config.flag("thunder-lock"),
        ..defaults
    };
    Ok(WsgiServiceOptions { wsgi, event_loop })
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
        // `lazy` is an alias: the config resolves it to `lazy-apps`.
        lazy_apps: config.flag("lazy-apps"),
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
