//! The option table: every option ruwsgi knows, declared once. clap's arguments, the ini/env
//! keys, `--help`, the unknown-key suggestions and the README's migration table all come from
//! [`OPTIONS`].
//!
//! Names, aliases, short flags and kinds follow uWSGI 2.0's own option tables (the core's,
//! the Python plugin's and the HTTP router's); the help lines are ours.

/// How an option takes its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// On or off: alone (`--master`, a bare ini key) it is on; a value must be a boolean
    /// (`true/false`, `on/off`, `yes/no`, `1/0`). The last one wins.
    Flag,
    /// One string; the last one given wins.
    Str,
    /// One unsigned integer; the last one given wins.
    Int,
    /// Every occurrence adds a value, in order (`socket`, `env`, `static-map`).
    List,
    /// Like [`Kind::List`], each value a `key=value[,key=value...]` set (`cron2`, `cache2`).
    KeyValList,
    /// Config-language keyword (`if-env`, `endif`, `for`, ...): steers the loader, stores nothing.
    Logic,
    /// Loads another config file where it appears (`ini`, `json`, `yaml`, `toml`, `xml`).
    Include,
}

/// A value as its option's [`Kind`] reads it: what the figment provider hands to the typed
/// extraction (`crate::provider`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Typed {
    /// A [`Kind::Flag`] value that reads as a boolean.
    Bool(bool),
    /// A [`Kind::Int`] value that reads as a whole number.
    Num(u64),
    /// Any other value, as given: a string option's value, or a flag or number that does not
    /// read as one (the typed extraction refuses it, naming its origin).
    Text(String),
}

impl std::fmt::Display for Typed {
    /// The normalised value `--show-config` prints (`true`, `4`, or the text).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Typed::Bool(b) => write!(f, "{b}"),
            Typed::Num(n) => write!(f, "{n}"),
            Typed::Text(t) => f.write_str(t),
        }
    }
}

impl Kind {
    /// Reads a value as uWSGI does for this kind: the one place for its leniency. Flags take
    /// `true/false`, `on/off`, `yes/no`, `1/0` in any case, or nothing (on); numbers are
    /// whole numbers. Both may be followed by an ini-style comment (`60   ; seconds`), which
    /// uWSGI's ini reader keeps in the value but its number and boolean parsers ignore: then
    /// the second element is the word that was read, for a warning. A value that does not
    /// read stays [`Typed::Text`].
    pub(crate) fn read(self, raw: &str) -> (Typed, Option<String>) {
        let trimmed = raw.trim();
        let typed = |word: &str| match self {
            Kind::Flag => parse_bool(word).map(Typed::Bool),
            Kind::Int => word.parse().ok().map(Typed::Num),
            _ => None,
        };
        if !matches!(self, Kind::Flag | Kind::Int) {
            return (Typed::Text(raw.to_string()), None);
        }
        if let Some(t) = typed(trimmed) {
            return (t, None);
        }
        match leading_word(trimmed).and_then(|w| typed(w).map(|t| (t, w))) {
            Some((t, word)) => (t, Some(word.to_string())),
            None => (Typed::Text(raw.to_string()), None),
        }
    }

    /// What a value of this kind must look like, for error messages.
    pub(crate) fn expected(self) -> &'static str {
        match self {
            Kind::Flag => "true/false, on/off, yes/no or 1/0 (or the key alone)",
            Kind::Int => "a whole number such as 4",
            _ => "a string",
        }
    }
}

/// uWSGI's booleans (what uWSGI reads as true, and the key alone).
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "" | "true" | "on" | "yes" | "1" => Some(true),
        "false" | "off" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// `60   ; comment` → `60`: the leading word of a value followed by an ini-style comment.
fn leading_word(v: &str) -> Option<&str> {
    let word_end = v.find(char::is_whitespace)?;
    let rest = v[word_end..].trim_start();
    (rest.starts_with(';') || rest.starts_with('#')).then(|| &v[..word_end])
}

/// Whether ruwsgi acts on an option yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The option works.
    Implemented,
    /// ruwsgi's own option, which uWSGI lacks; it works.
    Addition,
    /// The option works, but not exactly as in uWSGI: how it differs, in a few words (the
    /// README's prose says more).
    Differs(&'static str),
    /// Parsed and validated but without effect until the named later issue; setting it logs a
    /// warning.
    NotYet(Issue),
}

/// The open issue that brings an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Issue {
    /// The issue's number, `None` while no issue is filed for it.
    pub number: Option<u32>,
    /// What the issue is about, as the warning names it (`worker health`).
    pub title: &'static str,
}

impl std::fmt::Display for Issue {
    /// `issue 12: worker health`, or the title alone when no issue is filed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.number {
            Some(n) => write!(f, "issue {n}: {}", self.title),
            None => f.write_str(self.title),
        }
    }
}

const fn not_yet(number: Option<u32>, title: &'static str) -> Status {
    Status::NotYet(Issue { number, title })
}

/// Options no open issue brings.
const UNFILED: Status = not_yet(None, "no issue filed yet");

/// How the touch options differ from uWSGI's.
const TOUCH: Status = Status::Differs("a removed file does not fire it (uWSGI's does)");

/// How every routing rule differs from uWSGI's (the README lists the actions and
/// conditions).
const ROUTE: Status = Status::Differs(
    "the README's actions and conditions; Rust regular expressions (no look-around or back-references)",
);

/// One option of the table.
#[derive(Debug)]
pub struct OptionSpec {
    /// The canonical name (`processes`).
    pub name: &'static str,
    /// Other names uWSGI accepts for it (`workers`).
    pub aliases: &'static [&'static str],
    /// uWSGI's one-letter flag (`-p`).
    pub short: Option<char>,
    /// How it takes values.
    pub kind: Kind,
    /// For options whose value is optional: the value they take when given alone
    /// (`chmod-socket` alone is `666`).
    pub implied: Option<&'static str>,
    /// The value [`crate::Config`] reports when no source sets it.
    pub default: Option<&'static str>,
    /// Implemented, or which later issue brings it.
    pub status: Status,
    /// One line for `--help`.
    pub help: &'static str,
}

impl OptionSpec {
    /// Whether repeated occurrences accumulate.
    pub fn is_list(&self) -> bool {
        matches!(self.kind, Kind::List | Kind::KeyValList | Kind::Include)
    }
}

#[allow(clippy::too_many_arguments)]
const fn opt(
    name: &'static str,
    aliases: &'static [&'static str],
    short: Option<char>,
    kind: Kind,
    implied: Option<&'static str>,
    default: Option<&'static str>,
    status: Status,
    help: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        aliases,
        short,
        kind,
        implied,
        default,
        status,
        help,
    }
}

/// Every option, in `--help` order: sockets, app, processes, logging, static files, background
/// tasks, config files, commands, then the rest of uWSGI 2.0 that real config files use.
#[rustfmt::skip]
pub static OPTIONS: &[OptionSpec] = &[
    opt("socket", &[], Some('s'), Kind::List, None, None, Status::Implemented,
        "bind a socket speaking the uwsgi protocol (TCP host:port or a unix path)"),
    opt("uwsgi-socket", &[], None, Kind::List, None, None, Status::Implemented,
        "bind a socket speaking the uwsgi protocol"),
    opt("http-socket", &[], None, Kind::List, None, None, Status::Implemented,
        "bind a socket speaking HTTP/1.1 directly"),
    opt("http11-socket", &[], None, Kind::List, None, None, Status::Implemented,
        "bind a socket speaking HTTP/1.1 with keep-alive (what http-socket does in ruwsgi)"),
    opt("http", &[], None, Kind::List, None, None, Status::Differs(
        "served by the workers themselves; there is no HTTP router process"),
        "serve HTTP on this address (ruwsgi: the workers serve it, no router process)"),
    opt("listen", &[], Some('l'), Kind::Int, None, Some("100"), Status::Implemented,
        "listen queue (backlog) size of each socket"),
    opt("buffer-size", &[], Some('b'), Kind::Int, None, Some("8192"), Status::Implemented,
        "largest request head (uwsgi packet or HTTP head) in bytes"),
    opt("chmod-socket", &["chmod"], Some('C'), Kind::Str, Some("666"), None, Status::Implemented,
        "permissions of unix sockets (octal; alone: 666)"),
    opt("chown-socket", &[], None, Kind::Str, None, None, Status::Implemented,
        "owner of unix sockets (user or user:group)"),
    opt("socket-timeout", &[], Some('z'), Kind::Int, None, Some("4"), Status::Implemented,
        "longest wait in seconds between two reads or writes on a connection (--http ones: http-timeout)"),
    opt("post-buffering", &[], None, Kind::Int, None, Some("1048576"), Status::Implemented,
        "request bodies above this size in bytes are spooled to a temp file"),
    opt("limit-post", &[], None, Kind::Int, None, Some("0"), Status::Implemented,
        "largest accepted request body in bytes (0: no limit; above: 413)"),
    opt("limit-spill", &[], None, Kind::Int, None, Some("1073741824"), Status::Addition,
        "most bytes one worker keeps in temp files (request bodies, responses for slow \
         readers; 0: no bound; above: 503, or 413 for a body larger than it)"),
    opt("reuse-port", &[], None, Kind::Flag, None, None, Status::Implemented,
        "set SO_REUSEPORT on TCP sockets"),
    opt("tcp-nodelay", &[], None, Kind::Flag, None, Some("true"), Status::Implemented,
        "set TCP_NODELAY on accepted connections (on by default; tcp-nodelay = false turns it off)"),
    opt("so-keepalive", &[], None, Kind::Flag, None, None, Status::Implemented,
        "set SO_KEEPALIVE on accepted connections"),
    opt("freebind", &[], None, Kind::Flag, None, None, Status::Implemented,
        "let TCP sockets bind an address the machine does not have yet (IP_FREEBIND)"),
    opt("socket-rcvbuf", &[], None, Kind::Int, None, None, Status::Implemented,
        "the sockets' receive buffer in bytes (SO_RCVBUF)"),
    opt("socket-sndbuf", &[], None, Kind::Int, None, None, Status::Implemented,
        "the sockets' send buffer in bytes (SO_SNDBUF)"),
    opt("thunder-lock", &[], None, Kind::Flag, None, None, Status::Implemented,
        "wake one worker per connection (EPOLLEXCLUSIVE in ruwsgi)"),
    opt("module", &["wsgi"], Some('w'), Kind::Str, None, None, Status::Implemented,
        "the WSGI module to load (module or module:callable)"),
    opt("wsgi-file", &["file"], None, Kind::Str, None, None, Status::Implemented,
        "the Python file holding the WSGI callable"),
    opt("callable", &[], None, Kind::Str, None, Some("application"), Status::Implemented,
        "name of the WSGI callable in the module or file"),
    opt("chdir", &[], None, Kind::Str, None, None, Status::Implemented,
        "change to this directory before loading the app"),
    opt("chdir2", &[], None, Kind::Str, None, None, Status::Implemented,
        "change to this directory after loading the app"),
    opt("home", &["virtualenv", "venv", "pyhome"], Some('H'), Kind::Str, None, None, Status::Implemented,
        "the Python virtualenv (PYTHONHOME) to use"),
    opt("pythonpath", &["python-path", "pp"], None, Kind::List, None, None, Status::Implemented,
        "add a directory (or glob) to sys.path"),
    opt("env", &[], None, Kind::List, None, None, Status::Implemented,
        "set an environment variable (NAME=VALUE)"),
    opt("unenv", &[], None, Kind::List, None, None, Status::Implemented,
        "unset an environment variable"),
    opt("lazy-apps", &["lazy"], None, Kind::Flag, None, None, Status::Implemented,
        "load the app in each worker after fork instead of once in the master"),
    opt("need-app", &[], None, Kind::Flag, None, Some("true"), Status::Implemented,
        "exit with status 22 if the app cannot be loaded (no-need-app turns it off)"),
    opt("no-need-app", &[], None, Kind::Flag, None, None, Status::Addition,
        "keep running when no app loads (uWSGI 2.0 dynamic mode)"),
    opt("mount", &[], None, Kind::List, None, None, Status::Implemented,
        "load an app under a mountpoint (/path=module-or-file)"),
    opt("manage-script-name", &[], None, Kind::Flag, None, None, Status::Implemented,
        "rewrite SCRIPT_NAME and PATH_INFO for mounted apps"),
    opt("import", &["pyimport", "py-import", "python-import"], None, Kind::List, None, None, Status::Implemented,
        "import a Python module before loading the app"),
    opt("single-interpreter", &[], Some('i'), Kind::Flag, None, None, Status::Implemented,
        "use one Python interpreter (ruwsgi always does)"),
    opt("wsgi-disable-file-wrapper", &[], None, Kind::Flag, None, None, Status::Implemented,
        "do not offer wsgi.file_wrapper to the app"),
    opt("master", &[], Some('M'), Kind::Flag, None, None, Status::Implemented,
        "run a master process that supervises the workers"),
    opt("processes", &["workers"], Some('p'), Kind::Int, None, Some("1"), Status::Implemented,
        "number of worker processes"),
    opt("threads", &[], None, Kind::Int, None, Some("1"), Status::Implemented,
        "number of Python threads per worker"),
    opt("enable-threads", &[], Some('T'), Kind::Flag, None, None, Status::Differs(
        "Python threads always work, set or not"),
        "allow Python threads (always on in ruwsgi)"),
    opt("harakiri", &[], Some('t'), Kind::Int, None, Some("0"), Status::Differs(
        "only the stuck request is cut (504 over HTTP); the worker's other threads finish theirs"),
        "cut a request running longer than this many seconds and replace its worker"),
    opt("harakiri-verbose", &[], None, Kind::Flag, None, None, Status::Implemented,
        "log what each thread of a harakiri'd worker waits in"),
    opt("harakiri-graceful-timeout", &[], None, Kind::Int, None, Some("0"), Status::Implemented,
        "on harakiri, send harakiri-graceful-signal first and cut the request this many seconds later"),
    opt("harakiri-graceful-signal", &[], None, Kind::Int, None, None, Status::Implemented,
        "the signal harakiri-graceful-timeout sends (default 15, SIGTERM)"),
    opt("harakiri-queue-threshold", &[], None, Kind::Int, None,
        Some("0"), Status::Implemented,
        "harakiri only while the listen queue holds at least this many connections"),
    opt("max-requests", &[], Some('R'), Kind::Int, None, Some("0"), Status::Differs(
        "threads and pipelining clients may get a worker a few requests past N"),
        "recycle a worker after this many requests"),
    opt("max-requests-delta", &[], None, Kind::Int, None, None, Status::Implemented,
        "add worker id times this to max-requests, so workers recycle apart"),
    opt("max-worker-lifetime", &[], None, Kind::Int, None, Some("0"), Status::Implemented,
        "replace a worker after this many seconds"),
    opt("max-worker-lifetime-delta", &[], None, Kind::Int, None, None, Status::Implemented,
        "worker N lives (N-1) × this many seconds longer, so workers are not replaced at once"),
    opt("min-worker-lifetime", &[], None, Kind::Int, None, Some("0"), Status::Differs(
        "default 0 (uWSGI: 60 s)"),
        "max-requests does not recycle a worker younger than this many seconds"),
    opt("reload-on-rss", &[], None, Kind::Int, None, None, Status::Implemented,
        "recycle a worker whose resident memory exceeds this many megabytes after a request"),
    opt("evil-reload-on-rss", &[], None, Kind::Int, None, None, Status::Implemented,
        "kill a worker whose resident memory exceeds this many megabytes"),
    opt("evil-reload-on-as", &[], None, Kind::Int, None, None, Status::Implemented,
        "kill a worker whose address space exceeds this many megabytes"),
    opt("exit-on-reload", &[], None, Kind::Flag, None, None, Status::Implemented,
        "stop (status 0) when a reload is asked for, for a supervisor to start the server again"),
    opt("reload-mercy", &[], None, Kind::Int, None, Some("60"), Status::Implemented,
        "seconds to wait for workers when the whole server reloads or stops"),
    opt("worker-reload-mercy", &[], None, Kind::Int, None, Some("60"), Status::Implemented,
        "seconds a worker may take to finish its requests on reload"),
    opt("die-on-term", &[], None, Kind::Flag, None, None, Status::Differs(
        "no effect: SIGTERM always stops gracefully (uWSGI 2.0 reloads without it)"),
        "stop (not reload) on SIGTERM (ruwsgi always stops gracefully on SIGTERM)"),
    opt("pidfile", &[], None, Kind::Str, None, None, Status::Implemented,
        "write the master's pid here (before dropping privileges)"),
    opt("pidfile2", &[], None, Kind::Str, None, None, Status::Implemented,
        "write the master's pid here (after dropping privileges)"),
    opt("daemonize", &[], Some('d'), Kind::Str, None, None, Status::Implemented,
        "go to the background and log to this file"),
    opt("daemonize2", &[], None, Kind::Str, None, None, Status::Implemented,
        "go to the background after loading the app, logging to this file"),
    opt("logto", &[], None, Kind::Str, None, None, Status::Implemented,
        "log to this file"),
    opt("logto2", &[], None, Kind::Str, None, None, Status::Implemented,
        "log to this file after dropping privileges"),
    opt("vacuum", &[], None, Kind::Flag, None, None, Status::Implemented,
        "remove unix sockets and pidfiles on exit"),
    opt("uid", &[], None, Kind::Str, None, None, Status::Implemented,
        "run as this user (name or id) after binding"),
    opt("master-as-root", &[], None, Kind::Flag, None, None, Status::Implemented,
        "keep the master as root; workers, mules and spoolers drop to uid/gid after forking"),
    opt("gid", &[], None, Kind::Str, None, None, Status::Implemented,
        "run as this group (name or id) after binding"),
    opt("touch-reload", &[], None, Kind::List, None, None, TOUCH,
        "reload gracefully when this file is touched (checked every second)"),
    opt("touch-workers-reload", &[], None, Kind::List, None, None, TOUCH,
        "replace the workers (not the master) when this file is touched"),
    opt("touch-chain-reload", &[], None, Kind::List, None, None, TOUCH,
        "replace the workers one at a time when this file is touched (needs lazy-apps)"),
    opt("touch-logreopen", &[], None, Kind::List, None, None, TOUCH,
        "reopen the log file (logto, daemonize) when this file is touched"),
    opt("touch-logrotate", &[], None, Kind::List, None, None, TOUCH,
        "rotate the log file (logto, daemonize) when this file is touched"),
    opt("touch-exec", &[], None, Kind::List, None, None, Status::Differs(
        "a removed file does not fire it (uWSGI's does); a value without a command or a valid signal stops the start"),
        "run a shell command when a file is touched: FILE COMMAND"),
    opt("touch-signal", &[], None, Kind::List, None, None, Status::Differs(
        "a removed file does not fire it (uWSGI's does); a value without a command or a valid signal stops the start"),
        "raise a uWSGI signal when a file is touched: FILE SIGNAL"),
    opt("logfile-chown", &[], None, Kind::Flag, None, None, Status::Differs(
        "given again after each reopening or rotation by the master"),
        "give the log file (logto, daemonize) to uid and gid (when started as root)"),
    opt("logfile-chmod", &[], None, Kind::Str, None, None, Status::Differs(
        "set again after each reopening or rotation by the master"),
        "set the mode of the log file (logto, daemonize), in octal such as 640"),
    opt("wait-for-fs", &[], None, Kind::List, None, None, Status::Differs(
        "waits whoever starts the server (uWSGI: only root)"),
        "wait at start until this file or directory exists"),
    opt("wait-for-file", &[], None, Kind::List, None, None, Status::Differs(
        "waits whoever starts the server, for a regular file (uWSGI: only root, any type)"),
        "wait at start until this regular file exists"),
    opt("wait-for-dir", &[], None, Kind::List, None, None, Status::Differs(
        "waits whoever starts the server, for a directory (uWSGI: only root, any type)"),
        "wait at start until this directory exists"),
    opt("wait-for-mountpoint", &[], None, Kind::List, None, None, Status::Differs(
        "waits whoever starts the server (uWSGI: only root)"),
        "wait at start until a file system is mounted on this directory"),
    opt("wait-for-fs-timeout", &[], None, Kind::Int, None, Some("60"), Status::Implemented,
        "seconds wait-for-fs, -file, -dir and -mountpoint wait before the server stops"),
    opt("wait-for-socket", &[], None, Kind::List, None, None, Status::Differs(
        "waits before the sockets are bound (uWSGI: after dropping privileges), at the first start only"),
        "wait at start until this socket (host:port, a unix path or @name) accepts a connection"),
    opt("wait-for-socket-timeout", &[], None, Kind::Int, None, Some("60"), Status::Implemented,
        "seconds wait-for-socket waits before the server stops"),
    opt("fs-reload", &[], None, Kind::List, None, None, Status::Differs(
        "looked at once a second, as the touch options (uWSGI: inotify); a directory's entries count, not deeper"),
        "reload gracefully when this file or directory (or an entry of it) changes"),
    opt("fs-brutal-reload", &[], None, Kind::List, None, None, Status::Differs(
        "looked at once a second, as the touch options (uWSGI: inotify)"),
        "reload brutally (workers stopped at once) when this file or directory changes"),
    opt("py-autoreload", &["python-autoreload", "py-auto-reload", "python-auto-reload"], None, Kind::Int, None, None, Status::Differs(
        "a module imported since the last look also counts as changed if its file is newer"),
        "reload when a Python module changes (check every N seconds)"),
    opt("py-tracebacker", &[], None, Kind::Str, None, None, Status::Implemented,
        "each worker answers on the unix socket PREFIX<id> with its threads' Python stacks"),
    opt("py-auto-reload-ignore", &[], None, Kind::List, None, None, Status::Implemented,
        "a module (its name in sys.modules) the py-autoreload look skips"),
    opt("pyargv", &[], None, Kind::Str, None, None, Status::Implemented,
        "set sys.argv to uwsgi and these words (split on spaces and tabs)"),
    opt("py-executable", &["py-sys-executable"], None, Kind::Str, None, None, Status::Implemented,
        "override sys.executable"),
    opt("py-programname", &["py-program-name"], None, Kind::Str, None, None, Status::Differs(
        "sys.executable follows it unless py-executable is set (uWSGI's stays the uwsgi binary)"),
        "the program name Python starts with (sys.prefix and the standard library derive from it)"),
    opt("pymodule-alias", &[], None, Kind::List, None, None, Status::Differs(
        "a value without NAME=TARGET stops the start (uWSGI logs it and goes on)"),
        "make sys.modules[NAME] the module TARGET, or the module run from the file TARGET (a path with /)"),
    opt("wsgi-env-behaviour", &["wsgi-env-behavior"], None, Kind::Str, None, None, Status::Differs(
        "cheat and holy both build a new environ dict for each request (uWSGI's holy)"),
        "the strategy for allocating the WSGI environ: cheat or holy"),
    opt("reload-on-exception-type", &[], None, Kind::List, None, None, Status::Differs(
        "compares the type (module.Name or Name); uWSGI 2.0 compares str(exception)"),
        "recycle a worker after a request whose app raised an exception of this type"),
    opt("reload-on-exception-value", &[], None, Kind::List, None, None, Status::Implemented,
        "recycle a worker after a request whose app raised an exception whose str() is this"),
    opt("reload-on-exception-repr", &[], None, Kind::List, None, None, Status::Differs(
        "compares module.Name: str(exception); uWSGI 2.0 compares str(exception)"),
        "recycle a worker after a request whose app raised an exception written as this"),
    opt("thread-stacksize", &["threads-stacksize", "thread-stack-size", "threads-stack-size"], None, Kind::Int, None, None, Status::Differs(
        "every request thread gets it, the first too (uWSGI's first runs on the main thread)"),
        "the stack size of the Python request threads, in KiB"),
    opt("cheaper", &[], None, Kind::Int, None, None, Status::Implemented,
        "adaptive process spawning: keep at least this many workers"),
    opt("cheaper-initial", &[], None, Kind::Int, None, None, Status::Implemented,
        "workers to start with in cheaper mode"),
    opt("cheaper-step", &[], None, Kind::Int, None, None, Status::Implemented,
        "workers to add at each overload in cheaper mode"),
    opt("master-fifo", &[], None, Kind::List, None, None, Status::Implemented,
        "control the master through this FIFO"),
    opt("stats", &["stats-server"], None, Kind::Str, None, None, Status::Differs(
        "avg_rt is the plain mean; locks and apps are empty; version is ruwsgi's"),
        "serve the stats JSON on this address (host:port, :port or a unix path), from the master"),
    opt("stats-http", &[], None, Kind::Flag, None, None, Status::Implemented,
        "answer on the stats address over HTTP (the JSON; Prometheus text at /metrics)"),
    opt("stats-minified", &["stats-min"], None, Kind::Flag, None, None, Status::Implemented,
        "write the stats JSON without indentation"),
    opt("disable-logging", &[], Some('L'), Kind::Flag, None, None, Status::Implemented,
        "do not log requests (errors are still logged)"),
    opt("log-format", &["logformat"], None, Kind::Str, None, None, Status::Implemented,
        "request log line format (%(var) placeholders)"),
    opt("log-x-forwarded-for", &[], None, Kind::Flag, None, None, Status::Implemented,
        "log the address from X-Forwarded-For instead of REMOTE_ADDR"),
    opt("log-date", &["logdate"], None, Kind::Str, Some(""), None, Status::Implemented,
        "prefix server log lines with the date: ctime form (no value, true, 1, on, yes) or a strftime format"),
    opt("log-master", &[], None, Kind::Flag, None, None, Status::Differs(
        "accepted and changes nothing: every process already writes the log itself"),
        "accepted and changes nothing: master and workers already write to one log (stderr, logto or daemonize file)"),
    opt("threaded-logger", &[], None, Kind::Flag, None, None, Status::Differs(
        "changes nothing: a serving process always writes its log lines from a thread of its own"),
        "accepted and changes nothing: every serving process writes its log from a thread"),
    opt("log-4xx", &[], None, Kind::Flag, None, None, Status::Implemented,
        "log requests answered with 4xx"),
    opt("log-5xx", &[], None, Kind::Flag, None, None, Status::Implemented,
        "log requests answered with 5xx"),
    opt("log-slow", &[], None, Kind::Int, None, Some("0"), Status::Implemented,
        "log requests slower than this many milliseconds"),
    opt("log-big", &[], None, Kind::Int, None, Some("0"), Status::Implemented,
        "log requests answered with a body of at least this many bytes"),
    opt("log-sendfile", &[], None, Kind::Flag, None, None, Status::Implemented,
        "log requests answered with sendfile"),
    opt("log-micros", &[], None, Kind::Flag, None, None, Status::Implemented,
        "give request times in microseconds in the default log line"),
    opt("log-maxsize", &[], None, Kind::Int, None, Some("0"), Status::Implemented,
        "rotate the log file (logto, daemonize) once it is this many bytes"),
    opt("log-backupname", &[], None, Kind::Str, None, None, Status::Implemented,
        "the name a rotated log file gets (default: the file's name, a dot and the time)"),
    opt("memory-report", &[], Some('m'), Kind::Flag, None, None, Status::Implemented,
        "add memory usage to the request log"),
    opt("static-map", &[], None, Kind::List, None, None, Status::Implemented,
        "serve files: /mountpoint=directory (the mountpoint stripped from the path)"),
    opt("static-map2", &[], None, Kind::List, None, None, Status::Implemented,
        "like static-map, appending the whole request path"),
    opt("check-static", &["static-check"], None, Kind::List, None, None, Status::Implemented,
        "serve a file from this directory if it exists"),
    opt("static-index", &[], None, Kind::List, None, None, Status::Implemented,
        "file to serve when a directory is requested"),
    opt("static-expires", &[], None, Kind::List, None, None, Status::Implemented,
        "set Expires and Cache-Control for files matching a regexp (REGEXP SECONDS, split at the first space)"),
    opt("static-expires-mtime", &[], None, Kind::List, None, None, Status::Implemented,
        "like static-expires, counted from the file's mtime"),
    opt("static-expires-uri", &[], None, Kind::List, None, None, Status::Implemented,
        "set Expires for REQUEST_URIs matching a regexp (REGEXP SECONDS)"),
    opt("static-expires-uri-mtime", &[], None, Kind::List, None, None, Status::Implemented,
        "like static-expires-uri, counted from the file's mtime"),
    opt("static-expires-path-info", &[], None, Kind::List, None, None, Status::Implemented,
        "set Expires for PATH_INFOs matching a regexp (REGEXP SECONDS)"),
    opt("static-expires-path-info-mtime", &[], None, Kind::List, None, None, Status::Implemented,
        "like static-expires-path-info, counted from the file's mtime"),
    opt("static-expires-type", &[], None, Kind::List, None, None, Status::Implemented,
        "set Expires for files of a content type (TYPE=SECONDS)"),
    opt("static-skip-ext", &[], None, Kind::List, None, None, Status::Implemented,
        "never serve files with this extension as static"),
    opt("static-safe", &[], None, Kind::List, None, None, Status::Implemented,
        "follow symlinks out of a static root when their target is under this directory"),
    opt("static-gzip", &[], None, Kind::List, None, None, Status::Implemented,
        "serve the .gz sibling of static files matching this regexp to clients taking gzip"),
    opt("static-gzip-ext", &["static-gzip-suffix"], None, Kind::List, None, None, Status::Implemented,
        "serve the .gz sibling of static files with this extension to clients taking gzip"),
    opt("disable-sendfile", &[], None, Kind::Flag, None, None, Status::Implemented,
        "send static files with read and write instead of sendfile()"),
    opt("offload-threads", &[], None, Kind::Int, None, Some("0"), Status::Differs(
        "changes nothing: each worker's loop sends static files and file_wrapper files itself and spills responses for slow clients to a temp file, so no thread waits on a client"),
        "accepted: the loop already sends files and slow clients' responses without a thread"),
    opt("cron", &[], None, Kind::List, None, None, Status::Implemented,
        "run a command on a cron schedule (minute hour day month weekday command)"),
    opt("cron2", &[], None, Kind::KeyValList, None, None, Status::Implemented,
        "run a command on a schedule given as key=value pairs"),
    opt("unique-cron", &[], None, Kind::List, None, None, Status::Implemented,
        "like cron, but never run two instances at once"),
    opt("timer", &[], None, Kind::List, None, None, Status::Implemented,
        "raise a uWSGI signal every N seconds (SIGNAL SECONDS)"),
    opt("rbtimer", &[], None, Kind::List, None, None, Status::Implemented,
        "raise a uWSGI signal every N seconds (SIGNAL SECONDS), as timer"),
    opt("mule", &[], None, Kind::List, Some(""), None, Status::Implemented,
        "add a mule (alone: a mule for signals and messages; =FILE.py or =module:function: \
         a mule running it)"),
    opt("mules", &[], None, Kind::Int, None, Some("0"), Status::Implemented,
        "add this many mules for signals and messages"),
    opt("locks", &[], None, Kind::Int, None, Some("0"), Status::Implemented,
        "create this many user locks more than lock 0 (uwsgi.lock(N), 0 to N)"),
    opt("attach-daemon", &[], None, Kind::List, None, None, Status::Implemented,
        "run and supervise a command beside the workers"),
    opt("smart-attach-daemon", &[], None, Kind::List, None, None, Status::Implemented,
        "supervise a daemon that manages its own pidfile (PIDFILE COMMAND)"),
    opt("smart-attach-daemon2", &[], None, Kind::List, None, None, Status::Implemented,
        "supervise a command the master writes a pidfile for (PIDFILE COMMAND)"),
    opt("attach-daemon2", &[], None, Kind::KeyValList, None, None, Status::Implemented,
        "attach a daemon given as key=value pairs (cmd, pidfile, daemonize, control, stopsignal)"),
    opt("spooler", &[], Some('Q'), Kind::List, None, None, Status::Implemented,
        "run a spooler on this directory"),
    opt("add-header", &[], None, Kind::List, None, None, Status::Implemented,
        "add this header (Name: value) to every response"),
    opt("del-header", &["rem-header"], None, Kind::List, None, None, Status::Implemented,
        "remove this header (by name, any case) from every response"),
    opt("ini", &[], None, Kind::Include, None, None, Status::Implemented,
        "load options from an ini file (file[:section])"),
    opt("json", &["js"], Some('j'), Kind::Include, None, None, Status::Implemented,
        "load options from a JSON file (file[:section])"),
    opt("yaml", &["yml"], Some('y'), Kind::Include, None, None, Status::Differs(
        "a quoted value loses its quotes, as YAML means"),
        "load options from a YAML file (file[:section])"),
    opt("toml", &[], None, Kind::Include, None, None, Status::Addition,
        "load options from a TOML file (file[:section])"),
    opt("xml", &["xmlconfig"], Some('x'), Kind::Include, None, None, Status::Implemented,
        "load options from an XML file (children of <uwsgi>)"),
    opt("include", &[], None, Kind::Include, None, None, Status::Implemented,
        "load options from a config file where this line is, its format by extension (file[:section])"),
    opt("inherit", &[], None, Kind::Include, None, None, Status::Implemented,
        "load options from a config file after everything else, its format by extension (a template)"),
    opt("strict", &[], None, Kind::Flag, None, None, Status::Differs(
        "also covers what was read before it"),
        "refuse unknown options in files and variables"),
    opt("set-placeholder", &["set-ph"], None, Kind::List, None, None, Status::Implemented,
        "define a placeholder: name=value"),
    opt("set", &[], Some('S'), Kind::List, None, None, Status::Implemented,
        "set an option (name=value, as if written here) or, for a name that is no option, a placeholder"),
    opt("show-config", &[], None, Kind::Flag, None, None, Status::Differs(
        "prints each value's origin and exits without starting"),
        "print the merged configuration with each value's origin, then exit"),
    opt("stop", &[], None, Kind::Str, None, None, Status::Implemented,
        "stop the instance whose pidfile is given (SIGINT)"),
    opt("reload", &[], None, Kind::Str, None, None, Status::Implemented,
        "reload the instance whose pidfile is given (SIGHUP)"),
    opt("version", &[], None, Kind::Flag, None, None, Status::Implemented,
        "print the version and exit"),
    opt("builtin-handler", &[], None, Kind::Flag, None, None, Status::Addition,
        "serve a fixed body from Rust, without Python"),
    opt("hook-pre-app", &[], None, Kind::List, None, None, Status::Implemented,
        "run an action (exec:COMMAND) before loading the app"),
    opt("hook-master-start", &[], None, Kind::List, None, None, Status::Implemented,
        "run an action (exec:COMMAND) when the master starts"),
    opt("hook-post-fork", &[], None, Kind::List, None, None, Status::Implemented,
        "run an action (exec:COMMAND) in each worker after fork"),
    opt("hook-asap", &[], None, Kind::List, None, None, Status::Implemented,
        "run an action (exec:COMMAND) first, before anything is created"),
    opt("exec-asap", &[], None, Kind::List, None, None, Status::Implemented,
        "run a command first, before anything is created"),
    opt("hook-as-root", &[], None, Kind::List, None, None, Status::Implemented,
        "run an action (exec:COMMAND) before dropping privileges, when started as root"),
    opt("hook-as-user", &[], None, Kind::List, None, None, Status::Implemented,
        "run an action (exec:COMMAND) after dropping privileges"),
    opt("exec-as-user", &[], None, Kind::List, None, None, Status::Implemented,
        "run a command after dropping privileges"),
    opt("exec-pre-app", &[], None, Kind::List, None, None, Status::Implemented,
        "run a command before loading the app"),
    opt("hook-post-app", &[], None, Kind::List, None, None, Status::Implemented,
        "run an action (exec:COMMAND) after loading the app"),
    opt("exec-post-app", &[], None, Kind::List, None, None, Status::Implemented,
        "run a command after loading the app"),
    opt("hook-accepting", &[], None, Kind::List, None, None, Status::Implemented,
        "run an action (exec:COMMAND) in each worker about to accept"),
    opt("hook-accepting1", &[], None, Kind::List, None, None, Status::Implemented,
        "run an action (exec:COMMAND) in worker 1 about to accept"),
    opt("hook-accepting-once", &[], None, Kind::List, None, None, Status::Implemented,
        "run an action (exec:COMMAND) in each worker about to accept, at its first spawn only"),
    opt("hook-accepting1-once", &[], None, Kind::List, None, None, Status::Implemented,
        "run an action (exec:COMMAND) in worker 1 about to accept, at its first spawn only"),
    opt("cache2", &[], None, Kind::KeyValList, None, None, Status::Differs(
        "keys but name, items, blocksize, keysize and lazy_expire (store, bitmap, purge_lru, nodes, ...) are ignored, with a warning"),
        "create a shared cache: name=NAME,items=N[,blocksize=BYTES][,keysize=BYTES]"),
    opt("cache", &[], None, Kind::Int, None, Some("0"), Status::Implemented,
        "create the shared cache named default with this many items"),
    opt("cache-blocksize", &[], None, Kind::Int, None, Some("65536"), Status::Implemented,
        "the largest value, in bytes, of the cache the cache option creates"),
    opt("plugins", &["plugin"], None, Kind::List, None, None, Status::Implemented,
        "load plugins (ruwsgi has Python and HTTP built in)"),
    opt("need-plugin", &["need-plugins"], None, Kind::List, None, None, Status::Implemented,
        "require these plugins (comma-separated): a plugin ruwsgi does not have built in stops the start"),
    opt("plugins-dir", &[], None, Kind::List, None, None, Status::Implemented,
        "add a directory to the plugin search path (ignored: all built in)"),
    opt("disable-write-exception", &[], None, Kind::Flag, None, None, Status::Implemented,
        "write() to a client that is gone returns instead of raising OSError"),
    opt("ignore-sigpipe", &[], None, Kind::Flag, None, None, Status::Implemented,
        "accepted: SIGPIPE is always ignored (a closed client is an error return, never a signal)"),
    opt("ignore-write-errors", &[], None, Kind::Flag, None, None, Status::Implemented,
        "do not log clients that leave before or during their response"),
    opt("auto-procname", &[], None, Kind::Flag, None, None, Status::Differs(
        "a title longer than the command line is cut to its length"),
        "title the processes as uWSGI does: uWSGI master, uWSGI worker N, uWSGI mule N, uWSGI spooler"),
    opt("protocol", &["socket-protocol"], None, Kind::Str, None, None, Status::Implemented,
        "the protocol of the sockets given with --socket: uwsgi (the default), http or http11"),
    opt("http-timeout", &[], None, Kind::Int, None, Some("60"), Status::Differs(
        "the socket timeout of --http connections: ruwsgi has no router, so it does not bound the app's time (harakiri does)"),
        "socket timeout in seconds of the --http addresses' connections (in place of socket-timeout)"),
    opt("logger", &[], None, Kind::List, None, None, Status::Implemented,
        "add a logger: [NAME] stdio, file:PATH (or file:logfile=PATH,maxsize=N) or syslog[:IDENT]"),
    opt("procname-prefix-spaced", &[], None, Kind::Str, None, None, Status::Implemented,
        "put this text and a space before the process titles (turns on auto-procname)"),
    opt("procname-prefix", &[], None, Kind::Str, None, None, Status::Implemented,
        "put this text before the process titles (turns on auto-procname)"),
    opt("procname-append", &[], None, Kind::Str, None, None, Status::Implemented,
        "put this text after the process titles (turns on auto-procname)"),
    opt("procname", &[], None, Kind::Str, None, None, Status::Implemented,
        "the title of every process (turns on auto-procname)"),
    opt("procname-master", &[], None, Kind::Str, None, None, Status::Implemented,
        "the master's title (turns on auto-procname)"),
    opt("close-on-exec", &[], None, Kind::Flag, None, None, Status::Differs(
        "changes nothing: ruwsgi's sockets are always close-on-exec"),
        "accepted: connection sockets are always close-on-exec"),
    opt("close-on-exec2", &[], None, Kind::Flag, None, None, Status::Differs(
        "changes nothing: ruwsgi's sockets are always close-on-exec"),
        "accepted: listening sockets are close-on-exec in the workers"),
    opt("http-keepalive", &[], None, Kind::Int, Some("1"), None, Status::Differs(
        "changes nothing: --http connections are always kept alive, for http-timeout"),
        "accepted: --http connections are always kept alive"),
    opt("no-default-app", &[], None, Kind::Flag, None, None, Status::Implemented,
        "answer 500 to a request whose SCRIPT_NAME is no app's mount, not the default app"),
    opt("cheaper-algo", &[], None, Kind::Str, None, None, Status::Implemented,
        "algorithm of cheaper mode"),
    opt("cheaper-busyness-backlog-alert", &[], None, Kind::Int, None, None, Status::Implemented,
        "busyness: spawn emergency workers above this listen queue"),
    opt("cheaper-busyness-max", &[], None, Kind::Int, None, None, Status::Implemented,
        "busyness: add workers above this percent"),
    opt("cheaper-busyness-min", &[], None, Kind::Int, None, None, Status::Implemented,
        "busyness: remove workers below this percent"),
    opt("cheaper-busyness-multiplier", &[], None, Kind::Int, None, None, Status::Implemented,
        "busyness: idle cycles before a worker is removed"),
    opt("cheaper-busyness-backlog-step", &[], None, Kind::Int, None, None, Status::Implemented,
        "busyness: emergency workers to add at once"),
    opt("cheaper-busyness-verbose", &[], None, Kind::Flag, None, None, Status::Implemented,
        "busyness: log its decisions"),
    opt("cheaper-overload", &[], None, Kind::Int, None, None, Status::Implemented,
        "cheaper: overload cycles (spare), seconds per period (busyness), queue length (backlog)"),
    opt("cheaper-idle", &[], None, Kind::Int, None, None, Status::Implemented,
        "cheaper spare2: idle cycles before a worker is stopped"),
    opt("cheaper-busyness-penalty", &[], None, Kind::Int, None, None, Status::Implemented,
        "cheaper busyness: added to the multiplier when workers come back too soon"),
    opt("cheaper-busyness-backlog-multiplier", &[], None, Kind::Int, None, None, Status::Implemented,
        "cheaper busyness: the multiplier while emergency workers run"),
    opt("cheaper-busyness-backlog-nonzero", &[], None, Kind::Int, None, None, Status::Implemented,
        "cheaper busyness: spawn a worker when the listen queue stays non-empty this many seconds"),
    opt("if-env", &["ifenv"], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) apply the following lines if the variable is set (NAME or NAME=VALUE)"),
    opt("if-not-env", &[], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) apply the following lines if the variable is not set"),
    opt("if-exists", &["ifexists"], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) apply the following lines if the path exists"),
    opt("if-not-exists", &[], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) apply the following lines if the path does not exist"),
    opt("if-file", &[], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) apply the following lines if the path is a file"),
    opt("if-not-file", &[], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) apply the following lines if the path is not a file"),
    opt("if-dir", &["ifdir", "if-directory"], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) apply the following lines if the path is a directory"),
    opt("if-not-dir", &[], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) apply the following lines if the path is not a directory"),
    opt("if-opt", &[], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) apply the following lines if the option is set (NAME or NAME=VALUE)"),
    opt("if-not-opt", &[], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) apply the following lines if the option is not set"),
    opt("endif", &["end-if"], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) end an if-* block"),
    opt("for", &[], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) repeat the following lines for each space-separated item (%(_))"),
    opt("endfor", &["end-for"], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) end a for block"),
    opt("for-glob", &[], None, Kind::Logic, None, None, Status::Differs(
        "a value uWSGI would read leniently (a bad pattern or number, an unreadable file) stops the start"),
        "(config logic) repeat the following lines for each path the glob pattern matches (%(_), sorted)"),
    opt("for-times", &[], None, Kind::Logic, None, None, Status::Differs(
        "a value uWSGI would read leniently (a bad pattern or number, an unreadable file) stops the start"),
        "(config logic) repeat the following lines N times, %(_) counting from 1"),
    opt("for-readline", &[], None, Kind::Logic, None, None, Status::Differs(
        "a value uWSGI would read leniently (a bad pattern or number, an unreadable file) stops the start"),
        "(config logic) repeat the following lines for each line of the file (%(_))"),
    opt("if-hostname", &[], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) apply the following lines if the machine's host name is NAME"),
    opt("if-not-hostname", &[], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) apply the following lines if the machine's host name is not NAME"),
    opt("if-hostname-match", &[], None, Kind::Logic, None, None, Status::Differs(
        "the pattern is a Rust regex (no look-around or back-references); a bad one is an error"),
        "(config logic) apply the following lines if the host name matches the regular expression"),
    opt("if-not-hostname-match", &[], None, Kind::Logic, None, None, Status::Differs(
        "the pattern is a Rust regex (no look-around or back-references); a bad one is an error"),
        "(config logic) apply the following lines if the host name does not match the regular expression"),
    opt("if-reload", &[], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) apply the following lines if this start is a reload (the master re-executed)"),
    opt("if-not-reload", &[], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) apply the following lines if this start is not a reload"),
    opt("if-plugin", &["ifplugin"], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) apply the following lines if the plugin is built in (python*, http, corerouter, logfile)"),
    opt("if-not-plugin", &[], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) apply the following lines if the plugin is not built in"),
    opt("else", &[], None, Kind::Logic, None, None, Status::Implemented,
        "(config logic) apply the following lines if the if-* block before tested false"),
    opt("early-envdir", &[], None, Kind::List, None, None, Status::Differs(
        "its variables show as env/unenv lines in --show-config; an unenv option removes them"),
        "read a daemontools envdir at once: later $(VAR) and if-env see it, and the app's processes get it"),
    opt("envdir", &[], None, Kind::List, None, None, Status::Differs(
        "its variables show as env/unenv lines in --show-config; an unenv option removes them"),
        "read a daemontools envdir once the config is read: its variables are set like env (after every env)"),
    opt("max-fd", &[], None, Kind::Int, None, None, Status::Implemented,
        "set the open-files limit, soft and hard, to this number at start (above the hard limit: as root)"),
    opt("no-defer-accept", &[], None, Kind::Flag, None, None, Status::Differs(
        "changes nothing: ruwsgi never sets TCP_DEFER_ACCEPT"),
        "accepted: ruwsgi never defers accepts (TCP_DEFER_ACCEPT)"),
    opt("reload-on-as", &[], None, Kind::Int, None, None, Status::Implemented,
        "recycle a worker after a request that leaves its address space above this many megabytes"),
    opt("req-logger", &[], None, Kind::List, None, None, Status::Implemented,
        "add a request logger (as logger)"),
    opt("safe-pidfile", &[], None, Kind::Str, None, None, Status::Implemented,
        "write the master's pid to this file once the workers are spawned (not again at a reload)"),
    opt("safe-pidfile2", &[], None, Kind::Str, None, None, Status::Differs(
        "the same as safe-pidfile: both are written after dropping privileges"),
        "as safe-pidfile (uWSGI: after dropping privileges; ruwsgi writes both then)"),
    opt("spooler-chdir", &[], None, Kind::Str, None, None, Status::Implemented,
        "change to this directory before each spooler task"),
    opt("spooler-import", &["spooler-py-import", "spooler-pyimport"], None, Kind::List, None, None, Status::Implemented,
        "import a Python module in the spooler"),
    opt("spooler-processes", &[], None, Kind::Int, None, Some("1"), Status::Implemented,
        "number of processes per spooler"),
    opt("catch-exceptions", &[], None, Kind::Flag, None, None, Status::Differs(
        "the body is Python's traceback, not uWSGI's report of the exception"),
        "answer an app error with its traceback as the 500's body (development only)"),
    opt("cpu-affinity", &[], None, Kind::Int, None, None, Status::Implemented,
        "pin each worker to this many CPUs (worker N from CPU (N-1)×count on, as uWSGI)"),
    opt("emperor", &[], None, Kind::List, None, None, Status::Differs(
        "directories and glob patterns only (no zmq://, pg://, ... monitors); the emperor serves no socket or app itself"),
        "govern a vassal per config file in this directory or matching this glob pattern"),
    opt("emperor-freq", &[], None, Kind::Int, None, Some("3"), Status::Implemented,
        "seconds between two looks at the emperor's directories and patterns"),
    opt("emperor-tyrant", &[], None, Kind::Flag, None, None, Status::Implemented,
        "run each vassal as the owner and group of its config file (none owned by root)"),
    opt("emperor-pidfile", &[], None, Kind::Str, None, None, Status::Implemented,
        "write the emperor's pid to this file"),
    opt("emperor-throttle", &[], None, Kind::Int, None, Some("1000"), Status::Differs(
        "the pause before a dead vassal starts again: this many ms, once more per quick death in a row"),
        "milliseconds a dead vassal waits before it starts again, once more per quick death"),
    opt("emperor-max-throttle", &[], None, Kind::Int, None, Some("180000"), Status::Implemented,
        "the longest pause, in milliseconds, before a dead vassal starts again"),
    opt("vassals-inherit", &[], None, Kind::List, None, None, Status::Implemented,
        "give every vassal this template: --inherit FILE after its own file"),
    opt("vassals-include", &[], None, Kind::List, None, None, Status::Implemented,
        "give every vassal --include FILE after its own file"),
    opt("vassals-inherit-before", &[], None, Kind::List, None, None, Status::Implemented,
        "give every vassal --inherit FILE before its own file"),
    opt("vassals-include-before", &[], None, Kind::List, None, None, Status::Implemented,
        "give every vassal --include FILE before its own file"),
    opt("vassal-set", &[], None, Kind::List, None, None, Status::Implemented,
        "give every vassal --set NAME=VALUE"),
    opt("emperor-graceful-shutdown", &[], None, Kind::Flag, None, None, Status::Implemented,
        "stop vassals gracefully at SIGINT/SIGQUIT and when their file goes"),
    opt("exec-as-root", &[], None, Kind::List, None, None, Status::Implemented,
        "run a command before dropping privileges"),
    opt("flock", &[], None, Kind::List, None, None, Status::Implemented,
        "lock this file (fcntl write lock) for the server's life; stop at start if it is locked"),
    opt("gevent", &[], None, Kind::Int, None, None, UNFILED,
        "use the gevent loop engine with this many async cores"),
    opt("honour-stdin", &[], None, Kind::Flag, None, None, Status::Implemented,
        "keep stdin (for a debugger); without it stdin is /dev/null, as in uWSGI"),
    opt("http-auto-chunked", &[], None, Kind::Flag, None, None, Status::Differs(
        "changes nothing: a response of unknown length to an HTTP/1.1 client is always chunked"),
        "accepted: responses of unknown length to HTTP/1.1 clients are always chunked"),
    opt("https", &[], None, Kind::List, None, None, UNFILED,
        "serve HTTPS on this address (addr,cert,key)"),
    opt("ksm", &[], None, Kind::Int, Some("1"), None, Status::Implemented,
        "Linux same-page merging: mark memory mergeable every N requests (workers), N seconds (master)"),
    opt("limit-as", &[], None, Kind::Int, None, None, Status::Implemented,
        "limit the address space of every process to this many megabytes (RLIMIT_AS)"),
    opt("log-encoder", &[], None, Kind::List, None, None, Status::Implemented,
        "add an encoder to the log chain: prefix, suffix, nl, format, json[:LOGGER] ARGS"),
    opt("log-ioerror", &[], None, Kind::Flag, None, None, Status::Differs(
        "picks answers cut short (client gone, shorter than their Content-Length, aborted); uWSGI wants a read and a write error"),
        "log requests whose answer was cut short (the client left, shorter than its Content-Length, aborted)"),
    opt("log-reopen", &[], None, Kind::Flag, None, None, Status::Implemented,
        "reopen the log file (logto, daemonize) after a reload"),
    opt("log-zero", &[], None, Kind::Flag, None, None, Status::Implemented,
        "log responses without a body"),
    opt("log-route", &[], None, Kind::List, None, None, Status::Implemented,
        "send log lines matching a regexp to a named logger: NAME REGEX"),
    opt("log-req-route", &[], None, Kind::List, None, None, Status::Implemented,
        "send request lines matching a regexp to a named request logger: NAME REGEX"),
    opt("log-req-encoder", &[], None, Kind::List, None, None, Status::Implemented,
        "add an encoder to the request log chain (as log-encoder)"),
    opt("log-drain", &[], None, Kind::List, None, None, Status::Implemented,
        "do not log lines matching this regular expression (repeatable)"),
    opt("log-filter", &[], None, Kind::List, None, None, Status::Implemented,
        "log only lines matching one of these regular expressions (repeatable)"),
    opt("mimefile", &["mime-file"], None, Kind::List, None, None, Status::Implemented,
        "mime types file for static files (default /etc/mime.types, else a built-in table)"),
    opt("no-orphans", &[], None, Kind::Flag, None, None, Status::Differs(
        "changes nothing: workers, mules and spoolers always die with the master"),
        "accepted: workers always die with the master"),
    opt("print", &[], None, Kind::List, None, None, Status::Implemented,
        "print this text while loading the configuration"),
    opt("py-call-osafterfork", &[], None, Kind::Flag, None, None, Status::Differs(
        "changes nothing: os.register_at_fork's after_in_child handlers always run in each forked process"),
        "accepted: os.register_at_fork's after_in_child handlers always run in workers"),
    opt("reaper", &[], Some('r'), Kind::Flag, None, None, Status::Implemented,
        "after each request, reap the worker's exited children (the app's forgotten subprocesses)"),
    opt("reload-on-exception", &[], None, Kind::Flag, None, None, Status::Implemented,
        "recycle a worker after a request whose app raised"),
    opt("so-send-timeout", &["so-write-timeout", "socket-send-timeout", "socket-write-timeout"], None, Kind::Int, None, None, Status::Differs(
        "changes nothing: connections are non-blocking, and socket-timeout (http-timeout on --http) bounds the wait for each write"),
        "accepted: socket-timeout (http-timeout on --http) bounds the wait for each write"),
    opt("spooler-frequency", &[], None, Kind::Int, None, Some("30"), Status::Implemented,
        "seconds between spooler scans (a queued job wakes the spooler at once)"),
    opt("spooler-ordered", &[], None, Kind::Flag, None, None, Status::Differs(
        "changes nothing: jobs always run in queueing order"),
        "run spooler tasks in order (ruwsgi always does)"),
    opt("spooler-quiet", &[], None, Kind::Flag, None, None, Status::Implemented,
        "do not log spooler tasks"),
    opt("static-cache-paths", &[], None, Kind::Int, None, None, Status::Differs(
        "changes nothing: static paths are resolved for each request"),
        "accepted: static paths are resolved for each request"),
    opt("static-cache-paths-name", &[], None, Kind::Str, None, None, Status::Differs(
        "changes nothing: static paths are resolved for each request"),
        "accepted: static paths are resolved for each request"),
    opt("static-expires-type-mtime", &[], None, Kind::List, None, None, Status::Implemented,
        "set Expires from content type and file mtime (TYPE=SECONDS)"),
    opt("static-gzip-all", &[], None, Kind::Flag, None, None, Status::Implemented,
        "serve a .gz sibling of static files if it exists"),
    opt("static-gzip-dir", &["static-gzip-prefix"], None, Kind::List, None, None, Status::Implemented,
        "serve .gz siblings of static files under this directory"),
    opt("subscribe-to", &["st", "subscribe"], None, Kind::List, None, None, Status::Differs(
        "signed subscriptions (KEY,MODIFIER1,SIGNKEY) are refused"),
        "announce this instance to a subscription server: [SOCKET=]SERVER:KEY[,MODIFIER1]"),
    opt("subscribe-freq", &[], None, Kind::Int, None, Some("10"), Status::Implemented,
        "seconds between two announces to the subscription servers"),
    opt("umask", &[], None, Kind::Str, None, None, Status::Implemented,
        "set the umask (octal, such as 022) before any file or socket is created"),
    opt("unsubscribe-on-graceful-reload", &[], None, Kind::Flag, None, None, Status::Implemented,
        "unsubscribe from the subscription servers before a graceful reload too"),
    opt("vhost", &["vhost-host"], None, Kind::Flag, None, None, Status::Implemented,
        "virtual hosting: a request's app is the one mounted at HOST|SCRIPT_NAME"),
    opt("route", &[], None, Kind::List, None, None, ROUTE,
        "add a request route: REGEX (on PATH_INFO) ACTION"),
    opt("route-host", &[], None, Kind::List, None, None, ROUTE,
        "add a request route on HTTP_HOST: REGEX ACTION"),
    opt("route-uri", &[], None, Kind::List, None, None, ROUTE,
        "add a request route on REQUEST_URI: REGEX ACTION"),
    opt("route-qs", &[], None, Kind::List, None, None, ROUTE,
        "add a request route on QUERY_STRING: REGEX ACTION"),
    opt("route-remote-addr", &[], None, Kind::List, None, None, ROUTE,
        "add a request route on REMOTE_ADDR: REGEX ACTION"),
    opt("route-user-agent", &[], None, Kind::List, None, None, ROUTE,
        "add a request route on HTTP_USER_AGENT: REGEX ACTION"),
    opt("route-remote-user", &[], None, Kind::List, None, None, ROUTE,
        "add a request route on REMOTE_USER: REGEX ACTION"),
    opt("route-referer", &[], None, Kind::List, None, None, ROUTE,
        "add a request route on HTTP_REFERER: REGEX ACTION"),
    opt("route-if", &[], None, Kind::List, None, None, ROUTE,
        "add a request route on a condition: COND:ARGS ACTION"),
    opt("route-if-not", &[], None, Kind::List, None, None, ROUTE,
        "add a request route on a negated condition: COND:ARGS ACTION"),
    opt("route-run", &[], None, Kind::List, None, None, ROUTE,
        "add a request route that always runs its ACTION"),
    opt("route-label", &[], None, Kind::List, None, None, Status::Implemented,
        "add a label to the request routes (for goto)"),
    opt("error-route", &[], None, Kind::List, None, None, ROUTE,
        "add an error route (run when the status is known): REGEX (on PATH_INFO) ACTION"),
    opt("error-route-status", &[], None, Kind::List, None, None, ROUTE,
        "add an error route on the response's status: STATUS ACTION"),
    opt("error-route-host", &[], None, Kind::List, None, None, ROUTE,
        "add an error route on HTTP_HOST: REGEX ACTION"),
    opt("error-route-uri", &[], None, Kind::List, None, None, ROUTE,
        "add an error route on REQUEST_URI: REGEX ACTION"),
    opt("error-route-qs", &[], None, Kind::List, None, None, ROUTE,
        "add an error route on QUERY_STRING: REGEX ACTION"),
    opt("error-route-remote-addr", &[], None, Kind::List, None, None, ROUTE,
        "add an error route on REMOTE_ADDR: REGEX ACTION"),
    opt("error-route-user-agent", &[], None, Kind::List, None, None, ROUTE,
        "add an error route on HTTP_USER_AGENT: REGEX ACTION"),
    opt("error-route-remote-user", &[], None, Kind::List, None, None, ROUTE,
        "add an error route on REMOTE_USER: REGEX ACTION"),
    opt("error-route-referer", &[], None, Kind::List, None, None, ROUTE,
        "add an error route on HTTP_REFERER: REGEX ACTION"),
    opt("error-route-if", &[], None, Kind::List, None, None, ROUTE,
        "add an error route on a condition: COND:ARGS ACTION"),
    opt("error-route-if-not", &[], None, Kind::List, None, None, ROUTE,
        "add an error route on a negated condition: COND:ARGS ACTION"),
    opt("error-route-run", &[], None, Kind::List, None, None, ROUTE,
        "add an error route that always runs its ACTION"),
    opt("error-route-label", &[], None, Kind::List, None, None, Status::Implemented,
        "add a label to the error routes (for goto)"),
    opt("response-route", &[], None, Kind::List, None, None, ROUTE,
        "add a response route: REGEX (on PATH_INFO) ACTION"),
    opt("response-route-status", &[], None, Kind::List, None, None, ROUTE,
        "add a response route on the response's status: STATUS ACTION"),
    opt("response-route-host", &[], None, Kind::List, None, None, ROUTE,
        "add a response route on HTTP_HOST: REGEX ACTION"),
    opt("response-route-uri", &[], None, Kind::List, None, None, ROUTE,
        "add a response route on REQUEST_URI: REGEX ACTION"),
    opt("response-route-qs", &[], None, Kind::List, None, None, ROUTE,
        "add a response route on QUERY_STRING: REGEX ACTION"),
    opt("response-route-remote-addr", &[], None, Kind::List, None, None, ROUTE,
        "add a response route on REMOTE_ADDR: REGEX ACTION"),
    opt("response-route-user-agent", &[], None, Kind::List, None, None, ROUTE,
        "add a response route on HTTP_USER_AGENT: REGEX ACTION"),
    opt("response-route-remote-user", &[], None, Kind::List, None, None, ROUTE,
        "add a response route on REMOTE_USER: REGEX ACTION"),
    opt("response-route-referer", &[], None, Kind::List, None, None, ROUTE,
        "add a response route on HTTP_REFERER: REGEX ACTION"),
    opt("response-route-if", &[], None, Kind::List, None, None, ROUTE,
        "add a response route on a condition: COND:ARGS ACTION"),
    opt("response-route-if-not", &[], None, Kind::List, None, None, ROUTE,
        "add a response route on a negated condition: COND:ARGS ACTION"),
    opt("response-route-run", &[], None, Kind::List, None, None, ROUTE,
        "add a response route that always runs its ACTION"),
    opt("response-route-label", &[], None, Kind::List, None, None, Status::Implemented,
        "add a label to the response routes (for goto)"),
    opt("collect-header", &["response-header-collect"], None, Kind::List, None, None, Status::Implemented,
        "copy a response header into a request variable for the response routes: HEADER VAR"),
    opt("pull-header", &[], None, Kind::List, None, None, Status::Implemented,
        "move a response header into a request variable for the response routes: HEADER VAR"),
];

/// Every option a uWSGI user may have in a config, one per line after a `#` header that
/// says where the names come from (uWSGI 2.0 and its development branch, core and python
/// plugin, and the plugins `pip install uwsgi` builds).
const UWSGI_OPTIONS: &str = include_str!("../data/uwsgi-options.txt");

/// uWSGI's option names, sorted (see [`UWSGI_OPTIONS`]).
pub fn uwsgi_option_names() -> impl Iterator<Item = &'static str> {
    UWSGI_OPTIONS
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// What the migration table says of a uWSGI option ruwsgi does not know (the README says
/// what happens to one: a warning in a file, an error on the command line).
const NOT_SUPPORTED: &str = "not supported";

/// The README's migration table (Markdown): every option ruwsgi knows, with its aliases,
/// short flag and status, then every other option of uWSGI's, as not supported. A test
/// keeps the README's copy in sync.
pub fn migration_table() -> String {
    let mut out = String::from("| option (aliases, short flag) | status in ruwsgi |\n|---|---|\n");
    for o in OPTIONS {
        let mut names: Vec<String> = o.aliases.iter().map(|a| format!("`--{a}`")).collect();
        if let Some(s) = o.short {
            names.push(format!("`-{s}`"));
        }
        let names = if names.is_empty() {
            String::new()
        } else {
            format!(" ({})", names.join(", "))
        };
        let status = match o.status {
            Status::Implemented => "works".to_string(),
            Status::Addition => "works (ruwsgi addition)".to_string(),
            Status::Differs(how) => format!("works, differs: {how}"),
            Status::NotYet(issue) => format!("parsed, warns: not implemented yet ({issue})"),
        };
        out.push_str(&format!("| `--{}`{names} | {status} |\n", o.name));
    }
    for name in uwsgi_option_names().filter(|n| lookup(n).is_none()) {
        out.push_str(&format!("| `--{name}` | {NOT_SUPPORTED} |\n"));
    }
    out
}

/// Normalises an option name as written: leading dashes dropped, `_` read as `-` (uWSGI's
/// environment variables and many hand-written files spell names with underscores).
pub(crate) fn normalize(name: &str) -> String {
    name.trim_start_matches('-').replace('_', "-")
}

/// Whether `name` (canonical) is an option of uWSGI's internal routing: a rule
/// (`route*`, `error-route*`, `response-route*`), whose `${VAR}` texts are routing's own
/// syntax, or `collect-header` / `pull-header`. Their values keep one order across these
/// options (a `goto` and its label may be set by different ones).
pub fn is_routing(name: &str) -> bool {
    ["route", "error-route", "response-route"]
        .iter()
        .any(|p| name.starts_with(p))
        || matches!(name, "collect-header" | "pull-header")
}

/// The option a name (canonical or alias, `_` or `-`) refers to.
pub fn lookup(name: &str) -> Option<&'static OptionSpec> {
    let name = normalize(name);
    OPTIONS
        .iter()
        .find(|o| o.name == name || o.aliases.contains(&name.as_str()))
}

/// The closest known option name to an unknown one, if any is close: a small edit distance
/// (`vaccum` → `vacuum`, `hunder-lock` → `thunder-lock`), ties going to the longer common
/// prefix (`gui` → `gid`), else an option that contains the name (`timeout` →
/// `socket-timeout`).
pub fn suggest(name: &str) -> Option<&'static str> {
    let name = normalize(name).to_lowercase();
    if name.is_empty() {
        return None;
    }
    let len = name.chars().count();
    // Short names need more room: `gui` is two edits from `gid`.
    let limit = if len <= 4 { 2 } else { (len / 4).max(1) };
    let mut best: Option<(usize, usize, &'static str)> = None;
    for o in OPTIONS {
        // Two-letter aliases (`pp`, `js`) are too short to suggest.
        for candidate in std::iter::once(&o.name)
            .chain(o.aliases.iter())
            .filter(|c| c.len() > 2)
        {
            let d = distance(&name, candidate);
            if d > limit {
                continue;
            }
            let prefix = name
                .chars()
                .zip(candidate.chars())
                .take_while(|(a, b)| a == b)
                .count();
            let better = match best {
                None => true,
                Some((bd, bp, _)) => d < bd || (d == bd && prefix > bp),
            };
            if better {
                best = Some((d, prefix, o.name));
            }
        }
    }
    if let Some((_, _, n)) = best {
        return Some(n);
    }
    if name.len() >= 4 {
        return OPTIONS
            .iter()
            .find(|o| o.name.contains(name.as_str()))
            .map(|o| o.name);
    }
    None
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_aliases_and_shorts_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for o in OPTIONS {
            for n in std::iter::once(&o.name).chain(o.aliases.iter()) {
                assert!(seen.insert(*n), "{n} is declared twice");
            }
        }
        let mut shorts = std::collections::HashSet::new();
        for s in OPTIONS.iter().filter_map(|o| o.short) {
            assert!(shorts.insert(s), "-{s} is declared twice");
        }
    }

    #[test]
    fn aliases_resolve_to_the_canonical_option() {
        for (alias, canonical) in [
            ("workers", "processes"),
            ("wsgi", "module"),
            ("virtualenv", "home"),
            ("venv", "home"),
            ("pyhome", "home"),
            ("file", "wsgi-file"),
            ("lazy", "lazy-apps"),
            ("plugin", "plugins"),
            ("python_path", "pythonpath"),
            ("--http_socket", "http-socket"),
        ] {
            assert_eq!(lookup(alias).map(|o| o.name), Some(canonical), "{alias}");
        }
        let short = |c| OPTIONS.iter().find(|o| o.short == Some(c)).map(|o| o.name);
        assert_eq!(short('p'), Some("processes"));
        assert_eq!(short('M'), Some("master"));
        assert!(lookup("no-such-option").is_none());
    }

    #[test]
    fn every_option_the_issue_names_is_in_the_table() {
        let names = "socket http http-socket uwsgi-socket listen buffer-size chmod-socket \
            chown-socket socket-timeout post-buffering limit-post reuse-port tcp-nodelay \
            so-keepalive thunder-lock module wsgi-file callable chdir chdir2 home pythonpath env \
            unenv lazy-apps need-app mount manage-script-name import single-interpreter \
            wsgi-disable-file-wrapper master processes threads enable-threads harakiri \
            harakiri-verbose max-requests max-requests-delta max-worker-lifetime \
            min-worker-lifetime reload-on-rss evil-reload-on-rss reload-mercy worker-reload-mercy \
            die-on-term pidfile pidfile2 daemonize daemonize2 logto logto2 vacuum uid gid \
            touch-reload py-autoreload cheaper cheaper-initial cheaper-step master-fifo stats \
            stats-http stats-minified disable-logging log-format log-x-forwarded-for log-date log-master log-4xx \
            log-5xx log-slow memory-report static-map static-map2 check-static static-index \
            static-expires static-skip-ext offload-threads cron unique-cron timer mule mules \
            attach-daemon smart-attach-daemon spooler add-header ini json yaml toml strict \
            set-placeholder show-config stop reload version if-env if-not-env if-exists \
            if-not-exists if-file if-not-file if-dir if-opt endif for endfor hook-pre-app \
            hook-master-start hook-post-fork cron2 cache2 builtin-handler no-need-app";
        for n in names.split_whitespace() {
            let o = lookup(n).unwrap_or_else(|| panic!("{n} missing"));
            assert_eq!(o.name, n, "{n} must be canonical");
        }
    }

    #[test]
    fn the_readme_migration_table_lists_every_option_with_its_status() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
                .unwrap();
        let section = readme
            .split("\n## Migrating from uWSGI\n")
            .nth(1)
            .expect("README.md has a \"## Migrating from uWSGI\" section");
        for row in migration_table().lines() {
            assert!(
                section.contains(row),
                "README.md's migration table lacks or differs on:\n{row}\n\
                 (print the table with `cargo run -p ruwsgi-config --example migration_table`)"
            );
        }
        let rows = section.lines().filter(|l| l.starts_with("| `--")).count();
        assert_eq!(
            rows,
            migration_table().lines().count() - 2,
            "the README table has options the table does not"
        );
    }

    #[test]
    fn every_option_but_our_additions_is_one_of_uwsgis() {
        let uwsgi: std::collections::HashSet<&str> = uwsgi_option_names().collect();
        assert!(uwsgi.len() > 1000, "{} uWSGI options", uwsgi.len());
        for o in OPTIONS.iter().filter(|o| o.status != Status::Addition) {
            for name in std::iter::once(&o.name).chain(o.aliases) {
                assert!(
                    uwsgi.contains(name),
                    "{name} is no uWSGI option: a typo, or a ruwsgi addition"
                );
            }
        }
    }

    #[test]
    fn suggestions_find_the_typos_of_real_files() {
        assert_eq!(suggest("vaccum"), Some("vacuum"));
        assert_eq!(suggest("hunder-lock"), Some("thunder-lock"));
        assert_eq!(suggest("py-callos-afterfork"), Some("py-call-osafterfork"));
        assert_eq!(suggest("gui"), Some("gid"));
        assert_eq!(suggest("timeout"), Some("socket-timeout"));
        assert_eq!(suggest("procesess"), Some("processes"));
        assert_eq!(suggest("completely-unrelated-words"), None);
    }
}
