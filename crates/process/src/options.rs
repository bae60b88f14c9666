//! [`Options`]: everything the process manager needs, as plain typed values (the cli maps
//! the configuration onto it; this crate parses no option).

use std::path::PathBuf;
use std::time::Duration;

use ruwsgi_event_loop::Protocol;

/// One socket to bind (`socket`, `uwsgi-socket`, `http-socket`, `http`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSpec {
    /// As configured: `127.0.0.1:8000`, `:8000` (all interfaces), `[::1]:80`, a unix path,
    /// or `@name` (an abstract unix socket).
    pub address: String,
    /// What the socket speaks.
    pub protocol: Protocol,
    /// The `listen` backlog.
    pub backlog: u32,
    /// `chmod-socket` for unix sockets (`0o666` when given without a value).
    pub chmod: Option<u32>,
    /// `reuse-port`.
    pub reuse_port: bool,
}

/// How the master and its workers run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The sockets to bind, in order.
    pub sockets: Vec<SocketSpec>,
    /// `master`: supervise workers from a master process.
    pub master: bool,
    /// `processes` / `workers`.
    pub processes: usize,
    /// `threads` per worker (sizes the scoreboard).
    pub threads: usize,
    /// `lazy-apps`: load the app in each worker after fork instead of once in the master.
    pub lazy_apps: bool,
    /// `need-app`: stop with status 22 when no app loads.
    pub need_app: bool,
    /// `chdir`, applied after pidfile/daemonize paths are resolved and before binding.
    pub chdir: Option<PathBuf>,
    /// `pidfile`: written before dropping privileges.
    pub pidfile: Option<PathBuf>,
    /// `pidfile2`: written after dropping privileges.
    pub pidfile2: Option<PathBuf>,
    /// `daemonize LOGFILE`: detach at once, logging to the file.
    pub daemonize: Option<PathBuf>,
    /// `daemonize2 LOGFILE`: detach after the app is loaded.
    pub daemonize2: Option<PathBuf>,
    /// `logto`: log to a file (before dropping privileges).
    pub logto: Option<PathBuf>,
    /// `logto2`: log to a file (after dropping privileges).
    pub logto2: Option<PathBuf>,
    /// `vacuum`: remove unix sockets and pidfiles on exit.
    pub vacuum: bool,
    /// `uid`: a user name or number.
    pub uid: Option<String>,
    /// `gid`: a group name or number.
    pub gid: Option<String>,
    /// `chown-socket`: `user` or `user:group` for unix sockets.
    pub chown_socket: Option<String>,
    /// `worker-reload-mercy`: how long a worker may take to finish in-flight requests when
    /// stopping gracefully before it is killed.
    pub worker_reload_mercy: Duration,
    /// `reload-mercy`: how long the master waits for workers on an immediate stop.
    pub reload_mercy: Duration,
    /// `hook-pre-app`, `hook-master-start`, `hook-post-fork`.
    pub hooks: crate::Hooks,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            sockets: Vec::new(),
            master: false,
            processes: 1,
            threads: 1,
            lazy_apps: false,
            need_app: true,
            chdir: None,
            pidfile: None,
            pidfile2: None,
            daemonize: None,
            daemonize2: None,
            logto: None,
            logto2: None,
            vacuum: false,
            uid: None,
            gid: None,
            chown_socket: None,
            // uWSGI's defaults: worker-reload-mercy 60, reload-mercy 60.
            worker_reload_mercy: Duration::from_secs(60),
            reload_mercy: Duration::from_secs(60),
            hooks: crate::Hooks::default(),
        }
    }
}
