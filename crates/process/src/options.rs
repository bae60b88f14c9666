//! [`Options`]: everything the process manager needs, as plain typed values. The field
//! names are uWSGI's option names (serde, kebab-case): the cli extracts [`Options`] and
//! [`SocketOptions`] from the configuration through figment; this crate parses no option.
//! `sockets` and `hooks` gather several options each: serde skips them and the cli sets them
//! from [`SocketOptions::specs`] and the extracted [`crate::Hooks`].

use std::path::PathBuf;
use std::time::Duration;

use ruwsgi_event_loop::Protocol;
use serde::{Deserialize, Deserializer};

/// The socket options as uWSGI names them; [`SocketOptions::specs`] gives one [`SocketSpec`]
/// per address.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SocketOptions {
    /// `socket`: addresses speaking `protocol` (the uwsgi protocol unless it says otherwise).
    pub socket: Vec<String>,
    /// `uwsgi-socket`: addresses speaking the uwsgi protocol.
    pub uwsgi_socket: Vec<String>,
    /// `http-socket`: addresses speaking HTTP.
    pub http_socket: Vec<String>,
    /// `http11-socket`: the same (ruwsgi's HTTP sockets keep connections alive).
    pub http11_socket: Vec<String>,
    /// `protocol` (`socket-protocol`): what the `socket` addresses speak, as uWSGI's
    /// "default sockets": `uwsgi` (when unset), `http` or `http11` (the config loader
    /// refuses any other value).
    pub protocol: Option<String>,
    /// `http`: the same (ruwsgi's workers serve it; no router process).
    pub http: Vec<String>,
    /// `http-timeout`: the socket timeout of the `http` addresses' connections, in seconds
    /// (uWSGI's HTTP router's; default 60).
    pub http_timeout: u64,
    /// `listen`: the backlog of each socket.
    pub listen: u32,
    /// `chmod-socket`: the mode of unix sockets, given in octal.
    #[serde(deserialize_with = "octal")]
    pub chmod_socket: Option<u32>,
    /// `reuse-port`.
    pub reuse_port: bool,
    /// `freebind`: TCP sockets may bind an address the machine does not have (yet).
    pub freebind: bool,
    /// `socket-rcvbuf`: the sockets' receive buffer, in bytes.
    pub socket_rcvbuf: Option<usize>,
    /// `socket-sndbuf`: the sockets' send buffer, in bytes.
    pub socket_sndbuf: Option<usize>,
}

impl SocketOptions {
    /// One spec per address: `socket`'s first, then the uwsgi sockets, then the HTTP ones,
    /// each in the order given.
    pub fn specs(&self) -> Vec<SocketSpec> {
        let default = match self.protocol.as_deref() {
            Some("http" | "http11") => Protocol::Http,
            _ => Protocol::Uwsgi,
        };
        let router = Some(Duration::from_secs(self.http_timeout));
        let kinds = [
            (&self.socket, default, None),
            (&self.uwsgi_socket, Protocol::Uwsgi, None),
            (&self.http_socket, Protocol::Http, None),
            (&self.http11_socket, Protocol::Http, None),
            (&self.http, Protocol::Http, router),
        ];
        kinds
            .into_iter()
            .flat_map(|(addresses, protocol, timeout)| {
                addresses.iter().map(move |address| SocketSpec {
                    address: address.clone(),
                    protocol,
                    backlog: self.listen,
                    chmod: self.chmod_socket,
                    reuse_port: self.reuse_port,
                    tuning: SocketTuning {
                        freebind: self.freebind,
                        rcvbuf: self.socket_rcvbuf,
                        sndbuf: self.socket_sndbuf,
                    },
                    timeout,
                })
            })
            .collect()
    }
}

/// Socket options set on a socket before it binds (uWSGI sets them on every socket it
/// binds; the accepted connections inherit the buffer sizes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketTuning {
    /// `freebind`: `IP_FREEBIND` on TCP sockets.
    pub freebind: bool,
    /// `socket-rcvbuf`: `SO_RCVBUF`, in bytes.
    pub rcvbuf: Option<usize>,
    /// `socket-sndbuf`: `SO_SNDBUF`, in bytes.
    pub sndbuf: Option<usize>,
}

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
    /// `freebind`, `socket-rcvbuf`, `socket-sndbuf`.
    pub tuning: SocketTuning,
    /// The connections' own socket timeout (`http-timeout` for `http` addresses); none:
    /// `socket-timeout`.
    pub timeout: Option<Duration>,
}

/// How the master and its workers run.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Options {
    /// The sockets to bind, in order (not read by serde: see [`SocketOptions`]).
    #[serde(skip)]
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
    /// `auto-procname`: processes take uWSGI's titles ("uWSGI master", "uWSGI worker 1");
    /// any `procname*` option turns it on too (`proctitle.rs`).
    pub auto_procname: bool,
    /// `procname-prefix`: text before every title.
    pub procname_prefix: Option<String>,
    /// `procname-prefix-spaced`: the same, followed by a space (wins over `procname-prefix`).
    pub procname_prefix_spaced: Option<String>,
    /// `procname-append`: text after every title.
    pub procname_append: Option<String>,
    /// `procname`: the title of every process, in place of uWSGI's names.
    pub procname: Option<String>,
    /// `procname-master`: the master's title.
    pub procname_master: Option<String>,
    /// `umask`, set first, before any file or socket is created (given in octal).
    #[serde(deserialize_with = "octal")]
    pub umask: Option<u32>,
    /// `max-fd`: the open-files limit (soft and hard, as uWSGI sets them), set at start,
    /// before dropping privileges (raising the hard limit needs root).
    pub max_fd: Option<u64>,
    /// `flock`: files the master locks (a write lock, `fcntl`) for its whole life; it stops
    /// at start when another process holds one (another instance of the same config).
    pub flock: Vec<PathBuf>,
    /// `reaper`: workers reap their exited children after each request.
    pub reaper: bool,
    /// `ksm N`: Linux same-page merging: workers mark their mappings mergeable every N
    /// requests, the master every N seconds (`ksm` alone: 1).
    pub ksm: Option<u64>,
    /// `cpu-affinity`: each worker is pinned to this many CPUs (uWSGI's mapping, `sys.rs`).
    pub cpu_affinity: Option<usize>,
    /// `honour-stdin`: keep stdin as it is; otherwise it is pointed at `/dev/null` at start,
    /// as uWSGI does.
    pub honour_stdin: bool,
    /// `limit-as`: the address-space limit of every process, in megabytes (`RLIMIT_AS`, soft
    /// and hard), set at start.
    pub limit_as: Option<u64>,
    /// `pidfile`: written before dropping privileges.
    pub pidfile: Option<PathBuf>,
    /// `pidfile2`: written after dropping privileges.
    pub pidfile2: Option<PathBuf>,
    /// `safe-pidfile`: the master's pid, written once the first workers are spawned (after
    /// dropping privileges), not again at a reload.
    pub safe_pidfile: Option<PathBuf>,
    /// `safe-pidfile2`: the same (uWSGI writes it after dropping privileges; ruwsgi writes
    /// both then).
    pub safe_pidfile2: Option<PathBuf>,
    /// `daemonize LOGFILE`: detach at once, logging to the file.
    pub daemonize: Option<PathBuf>,
    /// `daemonize2 LOGFILE`: detach after the app is loaded.
    pub daemonize2: Option<PathBuf>,
    /// `logto`: log to a file (before dropping privileges).
    pub logto: Option<PathBuf>,
    /// `logto2`: log to a file (after dropping privileges).
    pub logto2: Option<PathBuf>,
    /// `log-maxsize`: rotate the log file once it holds this many bytes (0: never; needs
    /// the master).
    pub log_maxsize: u64,
    /// `log-backupname`: the name a rotated log file gets (default: its name, a dot and the
    /// Unix time).
    pub log_backupname: Option<PathBuf>,
    /// `log-reopen`: reopen the log file after a reload.
    pub log_reopen: bool,
    /// `vacuum`: remove unix sockets and pidfiles on exit.
    pub vacuum: bool,
    /// `master-as-root`: the master keeps root's privileges; each worker, mule and spooler
    /// drops to `uid` and `gid` after its fork (with the `as-root` and `as-user` hooks).
    pub master_as_root: bool,
    /// `uid`: a user name or number.
    pub uid: Option<String>,
    /// `gid`: a group name or number.
    pub gid: Option<String>,
    /// `chown-socket`: `user` or `user:group` for unix sockets.
    pub chown_socket: Option<String>,
    /// `worker-reload-mercy`: how long a worker may take to finish in-flight requests when
    /// stopping gracefully before it is killed.
    #[serde(deserialize_with = "seconds")]
    pub worker_reload_mercy: Duration,
    /// `reload-mercy`: how long the master waits for workers on an immediate stop.
    #[serde(deserialize_with = "seconds")]
    pub reload_mercy: Duration,
    /// `master-fifo`: named pipes the master reads one-byte commands from (the first is
    /// active; `0`–`9` select another).
    pub master_fifo: Vec<PathBuf>,
    /// `stats`: the address the master serves its stats on (`host:port`, `:port`, a unix
    /// path or `@abstract`, as the sockets), bound with the first socket's `listen` and
    /// `chmod-socket`.
    pub stats: Option<String>,
    /// `stats-http`: answer on the stats address over HTTP (the JSON document, and
    /// Prometheus's text format at `/metrics`).
    pub stats_http: bool,
    /// `stats-minified`: the stats JSON without indentation.
    pub stats_minified: bool,
    /// `touch-reload`: touching one of these files reloads gracefully (as SIGHUP).
    pub touch_reload: Vec<PathBuf>,
    /// `subscribe-to`: subscription servers the master announces this instance to
    /// (`[SOCKET=]SERVER:KEY[,MODIFIER1]`, `subscribe.rs`).
    pub subscribe_to: Vec<String>,
    /// `subscribe-freq`: seconds between two announces (default 10).
    #[serde(deserialize_with = "seconds")]
    pub subscribe_freq: Duration,
    /// `unsubscribe-on-graceful-reload`: unsubscribe before a graceful reload too.
    pub unsubscribe_on_graceful_reload: bool,
    /// `emperor`: directories and glob patterns of vassal config files; the process
    /// becomes the Emperor, governing one instance per file ([`crate::run_emperor`]).
    pub emperor: Vec<String>,
    /// `emperor-freq`: how often the emperor looks for new, changed and removed files, in
    /// seconds (default 3).
    #[serde(deserialize_with = "seconds")]
    pub emperor_freq: Duration,
    /// `emperor-tyrant`: each vassal runs as the owner and group of its file.
    pub emperor_tyrant: bool,
    /// `emperor-pidfile`: the emperor writes its pid here.
    pub emperor_pidfile: Option<PathBuf>,
    /// `emperor-throttle`: the pause before a dead vassal starts again, in milliseconds
    /// (default 1000); one more per quick death in a row.
    #[serde(deserialize_with = "milliseconds")]
    pub emperor_throttle: Duration,
    /// `emperor-max-throttle`: the longest such pause, in milliseconds (default 180000).
    #[serde(deserialize_with = "milliseconds")]
    pub emperor_max_throttle: Duration,
    /// `emperor-graceful-shutdown`: vassals are stopped gracefully when their file goes
    /// and at SIGINT and SIGQUIT too (SIGTERM always stops them gracefully).
    pub emperor_graceful_shutdown: bool,
    /// `vassals-inherit`: each vassal gets `--inherit FILE` (a template its own file's
    /// values come before).
    pub vassals_inherit: Vec<String>,
    /// `vassals-include`: each vassal gets `--include FILE` after its own file.
    pub vassals_include: Vec<String>,
    /// `vassals-inherit-before`: `--inherit FILE` before the vassal's file.
    pub vassals_inherit_before: Vec<String>,
    /// `vassals-include-before`: `--include FILE` before the vassal's file.
    pub vassals_include_before: Vec<String>,
    /// `vassal-set`: each vassal gets `--set NAME=VALUE` before its file.
    pub vassal_set: Vec<String>,
    /// `touch-workers-reload`: touching one of these replaces the workers only.
    pub touch_workers_reload: Vec<PathBuf>,
    /// `touch-chain-reload`: touching one of these replaces the workers one at a time.
    pub touch_chain_reload: Vec<PathBuf>,
    /// `touch-logreopen`: touching one of these reopens the log file (as FIFO `l`).
    pub touch_logreopen: Vec<PathBuf>,
    /// `touch-logrotate`: touching one of these rotates the log file (as FIFO `L`).
    pub touch_logrotate: Vec<PathBuf>,
    /// `touch-exec`: `FILE COMMAND`; touching the file runs the command (`/bin/sh -c`).
    pub touch_exec: Vec<String>,
    /// `touch-signal`: `FILE SIGNAL`; touching the file raises the uWSGI signal.
    pub touch_signal: Vec<String>,
    /// `logfile-chown`: the log file (`logto`, `daemonize`, `logto2`, `daemonize2`) is
    /// given to `uid` and `gid` after it is opened (when running as root).
    pub logfile_chown: bool,
    /// `logfile-chmod`: the mode the log file gets after it is opened (given in octal).
    #[serde(deserialize_with = "octal")]
    pub logfile_chmod: Option<u32>,
    /// `wait-for-fs`: at start, wait until each of these paths exists.
    pub wait_for_fs: Vec<PathBuf>,
    /// `wait-for-file`: the same, for regular files.
    pub wait_for_file: Vec<PathBuf>,
    /// `wait-for-dir`: the same, for directories.
    pub wait_for_dir: Vec<PathBuf>,
    /// `wait-for-mountpoint`: the same, for directories something is mounted on.
    pub wait_for_mountpoint: Vec<PathBuf>,
    /// `wait-for-fs-timeout`: seconds the four above wait before the server stops (0: 60,
    /// as uWSGI).
    pub wait_for_fs_timeout: u64,
    /// `wait-for-socket`: at start, wait until each of these sockets (`host:port`, a unix
    /// path, `@name`) accepts a connection.
    pub wait_for_socket: Vec<String>,
    /// `wait-for-socket-timeout`: seconds `wait-for-socket` waits (0: 60, as uWSGI).
    pub wait_for_socket_timeout: u64,
    /// `exit-on-reload`: a reload (SIGHUP, FIFO `r`/`R`, a touched or changed file) stops
    /// the server instead (gracefully for a graceful one), with status 0.
    pub exit_on_reload: bool,
    /// `fs-reload`: any change of one of these files or directories reloads gracefully.
    pub fs_reload: Vec<PathBuf>,
    /// `fs-brutal-reload`: the same, as a brutal reload (FIFO `R`).
    pub fs_brutal_reload: Vec<PathBuf>,
    /// `harakiri`: a request running longer than this many seconds is cut and its worker
    /// replaced (0: never). Checked by the master once a second.
    pub harakiri: u64,
    /// `harakiri-verbose`: the harakiri log also names what each thread of the worker
    /// waits in (`/proc/PID/task/*/wchan`).
    pub harakiri_verbose: bool,
    /// `harakiri-graceful-timeout`: harakiri first sends `harakiri-graceful-signal` to the
    /// worker and cuts the request only this many seconds later (0: at once).
    pub harakiri_graceful_timeout: u64,
    /// `harakiri-graceful-signal`: the signal number (default 15, SIGTERM).
    pub harakiri_graceful_signal: Option<i32>,
    /// `harakiri-queue-threshold`: harakiri acts only while the listen queues hold at least
    /// this many connections (0: always).
    pub harakiri_queue_threshold: u64,
    /// `max-requests`: a worker recycles itself after this many requests (0: never).
    pub max_requests: u64,
    /// `max-requests-delta`: worker N recycles after `max-requests + N × delta`, so
    /// workers do not all recycle at once.
    pub max_requests_delta: Option<u64>,
    /// `max-worker-lifetime`: the master replaces a worker after this many seconds (0:
    /// never).
    pub max_worker_lifetime: u64,
    /// `max-worker-lifetime-delta`: worker N is replaced after `max-worker-lifetime +
    /// (N - 1) × delta` seconds, so the workers are not all replaced at once.
    pub max_worker_lifetime_delta: Option<u64>,
    /// `min-worker-lifetime`: `max-requests` does not recycle a worker younger than this
    /// many seconds (default 0, so `max-requests N` means N).
    pub min_worker_lifetime: u64,
    /// `reload-on-rss`: a worker recycles itself after a request that leaves its resident
    /// memory above this many megabytes.
    pub reload_on_rss: Option<u64>,
    /// `reload-on-as`: the same for the address space (virtual memory size).
    pub reload_on_as: Option<u64>,
    /// `reload-on-exception`: a worker recycles itself after a request whose app raised.
    pub reload_on_exception: bool,
    /// `evil-reload-on-rss`: the master kills a worker whose resident memory is above this
    /// many megabytes (checked once a second).
    pub evil_reload_on_rss: Option<u64>,
    /// `evil-reload-on-as`: the same for the address space.
    pub evil_reload_on_as: Option<u64>,
    /// `cheaper`: cheaper mode's fewest workers (`processes` is the most; unset or 0: off).
    pub cheaper: Option<usize>,
    /// `cheaper-initial`: workers at start (default `cheaper`).
    pub cheaper_initial: Option<usize>,
    /// `cheaper-step`: workers spawned at once (default 1).
    pub cheaper_step: Option<usize>,
    /// `cheaper-algo`: `spare` (default), `spare2`, `backlog`, `busyness`, `manual`.
    pub cheaper_algo: Option<String>,
    /// `cheaper-overload` (default 3; see the algorithms).
    pub cheaper_overload: Option<u64>,
    /// `cheaper-idle` (spare2; default 10).
    pub cheaper_idle: Option<u64>,
    /// `cheaper-busyness-max` (default 50).
    pub cheaper_busyness_max: Option<u64>,
    /// `cheaper-busyness-min` (default 25).
    pub cheaper_busyness_min: Option<u64>,
    /// `cheaper-busyness-multiplier` (default 10).
    pub cheaper_busyness_multiplier: Option<u64>,
    /// `cheaper-busyness-penalty` (default 2).
    pub cheaper_busyness_penalty: Option<u64>,
    /// `cheaper-busyness-backlog-alert` (default 33).
    pub cheaper_busyness_backlog_alert: Option<u64>,
    /// `cheaper-busyness-backlog-step` (default 1).
    pub cheaper_busyness_backlog_step: Option<u64>,
    /// `cheaper-busyness-backlog-multiplier` (default 3).
    pub cheaper_busyness_backlog_multiplier: Option<u64>,
    /// `cheaper-busyness-backlog-nonzero` (default 60).
    pub cheaper_busyness_backlog_nonzero: Option<u64>,
    /// `cheaper-busyness-verbose`.
    pub cheaper_busyness_verbose: bool,
    /// `cron`: `MINUTE HOUR DAY MONTH WEEKDAY COMMAND`, run by the master.
    pub cron: Vec<String>,
    /// `unique-cron`: the same, never two runs at once.
    pub unique_cron: Vec<String>,
    /// `cron2`: `key=value,... COMMAND`.
    pub cron2: Vec<String>,
    /// `attach-daemon`: commands the master keeps running.
    pub attach_daemon: Vec<String>,
    /// `smart-attach-daemon`: `PIDFILE COMMAND`, a self-daemonizing command watched by its
    /// pidfile.
    pub smart_attach_daemon: Vec<String>,
    /// `smart-attach-daemon2`: `PIDFILE COMMAND`, the master writes the pidfile.
    pub smart_attach_daemon2: Vec<String>,
    /// `attach-daemon2`: `key=value,...`.
    pub attach_daemon2: Vec<String>,
    /// `timer`: `SIGNAL SECONDS`, raised by the master.
    pub timer: Vec<String>,
    /// `rbtimer`: the same (uWSGI's red-black-tree timers behave alike here).
    pub rbtimer: Vec<String>,
    /// `mule`: one mule each, running the `FILE.py` or `module:function` given, or the
    /// generic loop when empty.
    pub mule: Vec<String>,
    /// `mules`: this many generic mules more.
    pub mules: usize,
    /// `locks`: this many user locks more than lock 0 (`uwsgi.lock(n)`, 0 to N).
    pub locks: usize,
    /// `spooler`: spool directories, each worked through by its spooler processes.
    pub spooler: Vec<String>,
    /// `spooler-processes`: spooler processes per directory.
    pub spooler_processes: usize,
    /// `spooler-frequency`: seconds between scans of a spool directory (a queued job
    /// wakes its spoolers at once).
    pub spooler_frequency: u64,
    /// `spooler-import`: modules a spooler imports before its first job.
    pub spooler_import: Vec<String>,
    /// `spooler-chdir`: the directory a spooler changes to before each job.
    pub spooler_chdir: Option<PathBuf>,
    /// `spooler-ordered`: jobs in queueing order (always so; accepted for uWSGI configs).
    pub spooler_ordered: bool,
    /// `spooler-quiet`: no log line per job.
    pub spooler_quiet: bool,
    /// `cache`: the items of the cache named `default` (0: none), created before every
    /// `cache2`.
    pub cache: u64,
    /// `cache-blocksize`: the largest value of the `cache` cache, in bytes.
    pub cache_blocksize: u64,
    /// `cache2`: `name=NAME,items=N[,blocksize=BYTES][,keysize=BYTES]`, a cache each.
    pub cache2: Vec<String>,
    /// `hook-pre-app`, `hook-master-start`, `hook-post-fork` (not read by serde: extract
    /// [`crate::Hooks`] on its own).
    #[serde(skip)]
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
            umask: None,
            max_fd: None,
            limit_as: None,
            honour_stdin: false,
            cpu_affinity: None,
            reaper: false,
            ksm: None,
            flock: Vec::new(),
            auto_procname: false,
            procname_prefix: None,
            procname_prefix_spaced: None,
            procname_append: None,
            procname: None,
            procname_master: None,
            pidfile: None,
            pidfile2: None,
            safe_pidfile: None,
            safe_pidfile2: None,
            daemonize: None,
            daemonize2: None,
            logto: None,
            logto2: None,
            log_maxsize: 0,
            log_backupname: None,
            log_reopen: false,
            vacuum: false,
            master_as_root: false,
            uid: None,
            gid: None,
            chown_socket: None,
            // uWSGI's defaults: worker-reload-mercy 60, reload-mercy 60.
            worker_reload_mercy: Duration::from_secs(60),
            reload_mercy: Duration::from_secs(60),
            master_fifo: Vec::new(),
            stats: None,
            stats_http: false,
            stats_minified: false,
            touch_reload: Vec::new(),
            subscribe_to: Vec::new(),
            subscribe_freq: Duration::from_secs(10),
            unsubscribe_on_graceful_reload: false,
            // uWSGI's defaults: a scan every 3 s, throttle 1 s, at most 3 minutes.
            emperor: Vec::new(),
            emperor_freq: Duration::from_secs(3),
            emperor_tyrant: false,
            emperor_pidfile: None,
            emperor_throttle: Duration::from_millis(1000),
            emperor_max_throttle: Duration::from_secs(180),
            emperor_graceful_shutdown: false,
            vassals_inherit: Vec::new(),
            vassals_include: Vec::new(),
            vassals_inherit_before: Vec::new(),
            vassals_include_before: Vec::new(),
            vassal_set: Vec::new(),
            touch_workers_reload: Vec::new(),
            touch_chain_reload: Vec::new(),
            touch_logreopen: Vec::new(),
            touch_logrotate: Vec::new(),
            touch_exec: Vec::new(),
            touch_signal: Vec::new(),
            logfile_chown: false,
            logfile_chmod: None,
            wait_for_fs: Vec::new(),
            wait_for_file: Vec::new(),
            wait_for_dir: Vec::new(),
            wait_for_mountpoint: Vec::new(),
            // uWSGI's defaults: 60 seconds each.
            wait_for_fs_timeout: 60,
            wait_for_socket: Vec::new(),
            wait_for_socket_timeout: 60,
            exit_on_reload: false,
            fs_reload: Vec::new(),
            fs_brutal_reload: Vec::new(),
            harakiri: 0,
            harakiri_verbose: false,
            harakiri_graceful_timeout: 0,
            harakiri_graceful_signal: None,
            harakiri_queue_threshold: 0,
            max_requests: 0,
            max_requests_delta: None,
            max_worker_lifetime: 0,
            max_worker_lifetime_delta: None,
            min_worker_lifetime: 0,
            reload_on_rss: None,
            reload_on_as: None,
            reload_on_exception: false,
            evil_reload_on_rss: None,
            evil_reload_on_as: None,
            cheaper: None,
            cheaper_initial: None,
            cheaper_step: None,
            cheaper_algo: None,
            cheaper_overload: None,
            cheaper_idle: None,
            cheaper_busyness_max: None,
            cheaper_busyness_min: None,
            cheaper_busyness_multiplier: None,
            cheaper_busyness_penalty: None,
            cheaper_busyness_backlog_alert: None,
            cheaper_busyness_backlog_step: None,
            cheaper_busyness_backlog_multiplier: None,
            cheaper_busyness_backlog_nonzero: None,
            cheaper_busyness_verbose: false,
            cron: Vec::new(),
            unique_cron: Vec::new(),
            cron2: Vec::new(),
            attach_daemon: Vec::new(),
            smart_attach_daemon: Vec::new(),
            smart_attach_daemon2: Vec::new(),
            attach_daemon2: Vec::new(),
            timer: Vec::new(),
            rbtimer: Vec::new(),
            mule: Vec::new(),
            mules: 0,
            locks: 0,
            spooler: Vec::new(),
            spooler_processes: 1,
            spooler_frequency: 30,
            spooler_import: Vec::new(),
            spooler_chdir: None,
            spooler_ordered: false,
            spooler_quiet: false,
            cache: 0,
            cache_blocksize: ruwsgi_shm::DEFAULT_BLOCKSIZE as u64,
            cache2: Vec::new(),
            hooks: crate::Hooks::default(),
        }
    }
}

impl Options {
    /// What worker `id` recycles itself for (`max-requests` with its delta,
    /// `min-worker-lifetime`, `reload-on-rss`).
    pub(crate) fn recycling(&self, id: usize) -> Recycling {
        let delta = self.max_requests_delta.unwrap_or(0);
        Recycling {
            max_requests: match self.max_requests {
                0 => 0,
                n => n.saturating_add((id as u64).saturating_mul(delta)),
            },
            min_lifetime: Duration::from_secs(self.min_worker_lifetime),
            reload_on_rss: self.reload_on_rss.filter(|&mb| mb > 0).map(|mb| mb << 20),
            reload_on_as: self.reload_on_as.filter(|&mb| mb > 0).map(|mb| mb << 20),
            reload_on_exception: self.reload_on_exception,
            mercy: self.worker_reload_mercy,
        }
    }
}

/// When a worker recycles itself: it stops accepting, its replacement is spawned, and it
/// exits once its in-flight requests are done (within `mercy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recycling {
    /// After this many requests (`max-requests` + id × `max-requests-delta`; 0: never).
    pub max_requests: u64,
    /// Not for `max_requests` before it has lived this long (`min-worker-lifetime`).
    pub min_lifetime: Duration,
    /// After a request that leaves its resident memory above this many bytes
    /// (`reload-on-rss`).
    pub reload_on_rss: Option<u64>,
    /// After a request that leaves its address space above this many bytes
    /// (`reload-on-as`).
    pub reload_on_as: Option<u64>,
    /// After a request whose app raised (`reload-on-exception`).
    pub reload_on_exception: bool,
    /// How long its in-flight requests may take (`worker-reload-mercy`).
    pub mercy: Duration,
}

/// A whole number of seconds, as uWSGI's timeouts are given.
fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_secs)
}

/// A whole number of milliseconds (`emperor-throttle`).
fn milliseconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

/// A file mode written in octal (`660`), as `chmod-socket` takes it.
fn octal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let Some(mode) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    u32::from_str_radix(&mode, 8).map(Some).map_err(|_| {
        serde::de::Error::custom(format!("{mode:?} is not an octal number such as 660"))
    })
}
