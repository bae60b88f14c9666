//! uWSGI's logger chain: `logger` / `req-logger` (where lines go: `stdio`, `file:PATH`,
//! `syslog`), `log-route` / `log-req-route` (a line that matches a route's regular
//! expression goes to that named logger only) and `log-encoder` / `log-req-encoder`
//! (rewrite a line on its way: `prefix`, `suffix`, `nl`, `format`, `json`), as uWSGI's log
//! master applies them:
//!
//! 1. a line that matches one or more routes goes to each of those loggers, and no further;
//! 2. otherwise it goes to every logger without a name;
//! 3. with none, it is written where the log goes (stderr, or the `logto` file).
//!
//! Each step runs the encoders on the way: those with a `:NAME` only for the logger of that
//! name, the others for every logger and for the plain log. Request lines take the `req-`
//! chain when there is a `req-logger`, the general one otherwise.

use std::ffi::CString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use regex::Regex;

/// Where a logger writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoggerTarget {
    /// `stdio`: where the log goes anyway (stderr, or the `logto` file).
    Stdio,
    /// `file:PATH`, or `file:logfile=PATH[,maxsize=BYTES][,backupname=PATH]`: appended to
    /// by every process; the master rotates it past `maxsize`.
    File {
        /// The file.
        path: PathBuf,
        /// Rotate once it holds this many bytes (0: never).
        maxsize: u64,
        /// The rotated file's name (default: its name, a dot and the time).
        backup: Option<PathBuf>,
    },
    /// `syslog[:IDENT[,FACILITY]]`: the system log, `LOG_INFO`, through `syslog(3)`.
    Syslog {
        /// The ident (default `ruwsgi`).
        ident: String,
        /// The facility number (`local0`... or a name `syslog(3)` knows; default `user`).
        facility: libc::c_int,
    },
}

/// One `logger` / `req-logger` value: `[NAME] PLUGIN[:ARGS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggerSpec {
    /// The name routes and encoders use (`logger = NAME file:...`); none for a logger that
    /// takes every line no route took.
    pub id: Option<String>,
    /// Where it writes.
    pub target: LoggerTarget,
}

impl LoggerSpec {
    /// Reads a `logger` value; the error says what is wrong with it.
    pub fn parse(value: &str) -> Result<LoggerSpec, String> {
        let value = value.trim();
        // A name comes first when the value has a space before the plugin.
        let (id, plugin) = match value.split_once(' ') {
            Some((id, rest)) if !id.contains(':') => (Some(id.to_string()), rest.trim()),
            _ => (None, value),
        };
        let (name, args) = match plugin.split_once(':') {
            Some((name, args)) => (name, args),
            None => (plugin, ""),
        };
        let target = match name {
            "stdio" => LoggerTarget::Stdio,
            "file" => file_target(args)?,
            "syslog" => {
                let (ident, facility) = match args.split_once(',') {
                    Some((ident, facility)) => (ident, Some(facility)),
                    None => (args, None),
                };
                LoggerTarget::Syslog {
                    ident: if ident.is_empty() { "ruwsgi" } else { ident }.to_string(),
                    facility: match facility {
                        None => libc::LOG_USER,
                        Some(f) => facility_named(f)
                            .ok_or_else(|| format!("unknown syslog facility {f:?}"))?,
                    },
                }
            }
            other => {
                return Err(format!(
                    "logger plugin {other:?} is not supported (ruwsgi has stdio, file and syslog)"
                ))
            }
        };
        Ok(LoggerSpec { id, target })
    }
}

fn file_target(args: &str) -> Result<LoggerTarget, String> {
    if !args.contains('=') {
        if args.is_empty() {
            return Err("file needs a path (file:PATH)".into());
        }
        return Ok(LoggerTarget::File {
            path: args.into(),
            maxsize: 0,
            backup: None,
        });
    }
    let (mut path, mut maxsize, mut backup) = (None, 0, None);
    for pair in args.split(',') {
        match pair.split_once('=') {
            Some(("logfile", v)) => path = Some(PathBuf::from(v)),
            Some(("maxsize", v)) => {
                maxsize = v
                    .parse()
                    .map_err(|_| format!("maxsize {v:?} is not a number of bytes"))?
            }
            Some(("backupname", v)) => backup = Some(PathBuf::from(v)),
            _ => return Err(format!("unknown file logger key in {pair:?}")),
        }
    }
    Ok(LoggerTarget::File {
        path: path.ok_or("the file logger needs logfile=PATH")?,
        maxsize,
        backup,
    })
}

fn facility_named(name: &str) -> Option<libc::c_int> {
    Some(match name {
        "user" => libc::LOG_USER,
        "daemon" => libc::LOG_DAEMON,
        "local0" => libc::LOG_LOCAL0,
        "local1" => libc::LOG_LOCAL1,
        "local2" => libc::LOG_LOCAL2,
        "local3" => libc::LOG_LOCAL3,
        "local4" => libc::LOG_LOCAL4,
        "local5" => libc::LOG_LOCAL5,
        "local6" => libc::LOG_LOCAL6,
        "local7" => libc::LOG_LOCAL7,
        _ => return None,
    })
}

/// A log option's regular expression (`log-route`, `log-drain`, `log-filter`); the error
/// says what is wrong with it.
pub fn pattern_of(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern.trim()).map_err(|e| {
        let lookaround = pattern.contains("(?=")
            || pattern.contains("(?!")
            || pattern.contains("(?<=")
            || pattern.contains("(?<!");
        if lookaround {
            format!("{pattern:?} uses look-around, which ruwsgi's regular expressions do not have (uWSGI's PCRE does)")
        } else {
            format!("{pattern:?} is not a regular expression: {e}")
        }
    })
}

/// One `log-route` value: `NAME REGEX`.
#[derive(Debug, Clone)]
pub struct Route {
    /// The logger the matching lines go to.
    pub logger: String,
    /// What a line must match (anywhere in it).
    pub pattern: Regex,
}

impl Route {
    /// Reads a `log-route` value; the error says what is wrong with it.
    pub fn parse(value: &str) -> Result<Route, String> {
        let (logger, pattern) = value
            .trim()
            .split_once(' ')
            .ok_or("a route is `LOGGER REGEX`")?;
        Ok(Route {
            logger: logger.to_string(),
            pattern: pattern_of(pattern)?,
        })
    }
}

/// A piece of a `format` or `json` encoder's template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// `${msg}`: the line without its newline.
    Msg,
    /// `${msgnl}`: the line with it.
    MsgNl,
    /// `${unix}`, `${micros}`, `${millis}`: the time now.
    Unix,
    Micros,
    Millis,
    /// `${strftime:FORMAT}`.
    Strftime(String),
}

/// What an encoder does to a line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Encoding {
    Prefix(String),
    Suffix(String),
    Nl,
    Format(Vec<Piece>),
    /// As `Format`, with the line and the `strftime` text escaped for a JSON string.
    Json(Vec<Piece>),
}

/// One `log-encoder` value: `NAME[:LOGGER] [ARGS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoder {
    /// Only for the logger of this name.
    use_for: Option<String>,
    encoding: Encoding,
}

impl Encoder {
    /// Reads a `log-encoder` value; the error says what is wrong with it.
    pub fn parse(value: &str) -> Result<Encoder, String> {
        let (head, args) = match value.split_once(' ') {
            Some((head, args)) => (head, args),
            None => (value, ""),
        };
        let (name, use_for) = match head.split_once(':') {
            Some((name, logger)) => (name, Some(logger.to_string())),
            None => (head, None),
        };
        let encoding = match name {
            "prefix" => Encoding::Prefix(args.to_string()),
            "suffix" => Encoding::Suffix(args.to_string()),
            "nl" => Encoding::Nl,
            "format" => Encoding::Format(template(args)),
            "json" => Encoding::Json(template(args)),
            other => {
                return Err(format!(
                    "log encoder {other:?} is not supported (ruwsgi has prefix, suffix, nl, format and json)"
                ))
            }
        };
        Ok(Encoder { use_for, encoding })
    }

    fn applies_to(&self, logger: Option<&str>) -> bool {
        match &self.use_for {
            None => true,
            Some(name) => logger == Some(name.as_str()),
        }
    }

    fn apply(&self, msg: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(msg.len() + 32);
        match &self.encoding {
            Encoding::Prefix(p) => {
                out.extend_from_slice(p.as_bytes());
                out.extend_from_slice(msg);
            }
            Encoding::Suffix(s) => {
                out.extend_from_slice(msg);
                out.extend_from_slice(s.as_bytes());
            }
            Encoding::Nl => {
                out.extend_from_slice(msg);
                out.push(b'\n');
            }
            Encoding::Format(pieces) => render(pieces, msg, false, &mut out),
            Encoding::Json(pieces) => render(pieces, msg, true, &mut out),
        }
        out
    }
}

/// Splits an encoder template into text and `${...}` variables, as uWSGI does (an unknown
/// variable writes nothing).
fn template(args: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = args;
    while let Some(at) = rest.find("${") {
        let Some(len) = rest[at + 2..].find('}') else {
            break;
        };
        if at > 0 {
            pieces.push(Piece::Text(rest[..at].to_string()));
        }
        let var = &rest[at + 2..at + 2 + len];
        rest = &rest[at + 3 + len..];
        pieces.push(match var {
            "msg" => Piece::Msg,
            "msgnl" => Piece::MsgNl,
            "unix" => Piece::Unix,
            "micros" => Piece::Micros,
            "millis" => Piece::Millis,
            _ => match var.strip_prefix("strftime:") {
                Some(format) => Piece::Strftime(format.to_string()),
                None => Piece::Text(String::new()),
            },
        });
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    pieces
}

fn render(pieces: &[Piece], msg: &[u8], json: bool, out: &mut Vec<u8>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let bare = msg.strip_suffix(b"\n").unwrap_or(msg);
    let text = |bytes: &[u8], out: &mut Vec<u8>| {
        if json {
            escape_json(bytes, out)
        } else {
            out.extend_from_slice(bytes)
        }
    };
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.extend_from_slice(t.as_bytes()),
            Piece::Msg => text(bare, out),
            Piece::MsgNl => text(msg, out),
            Piece::Unix => out.extend_from_slice(now.as_secs().to_string().as_bytes()),
            Piece::Micros => out.extend_from_slice(now.as_micros().to_string().as_bytes()),
            Piece::Millis => out.extend_from_slice(now.as_millis().to_string().as_bytes()),
            Piece::Strftime(f) => {
                let stamp = crate::strftime(f, now.as_secs() as i64);
                text(stamp.as_bytes(), out)
            }
        }
    }
}

/// The bytes of `s` as the inside of a JSON string.
fn escape_json(s: &[u8], out: &mut Vec<u8>) {
    for ch in String::from_utf8_lossy(s).chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

/// One chain (general or requests): its loggers, routes and encoders.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    /// `logger` values, in order.
    pub loggers: Vec<LoggerSpec>,
    /// `log-route` values, in order.
    pub routes: Vec<Route>,
    /// `log-encoder` values, in order.
    pub encoders: Vec<Encoder>,
}

impl Chain {
    /// Whether the chain changes anything (else lines go straight to the log).
    pub fn is_empty(&self) -> bool {
        self.loggers.is_empty() && self.routes.is_empty() && self.encoders.is_empty()
    }

    /// The file loggers' files, with their rotation settings (the master rotates them).
    pub fn files(&self) -> impl Iterator<Item = (&PathBuf, u64, Option<&PathBuf>)> {
        self.loggers.iter().filter_map(|l| match &l.target {
            LoggerTarget::File {
                path,
                maxsize,
                backup,
            } => Some((path, *maxsize, backup.as_ref())),
            _ => None,
        })
    }

    /// Routes that name no logger of the chain (they take nothing, as in uWSGI).
    pub fn dangling_routes(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter().filter(|r| {
            !self
                .loggers
                .iter()
                .any(|l| l.id.as_deref() == Some(r.logger.as_str()))
        })
    }
}

/// A chain made ready to write in one process: its loggers opened.
pub(crate) struct Open {
    chain: Chain,
    loggers: Vec<Sink>,
}

enum Sink {
    Stdio,
    File(PathBuf, Option<File>),
    Syslog(libc::c_int),
}

impl fmt::Debug for Open {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Open").field("chain", &self.chain).finish()
    }
}

impl Open {
    pub(crate) fn new(chain: Chain) -> Open {
        let loggers = chain
            .loggers
            .iter()
            .map(|l| match &l.target {
                LoggerTarget::Stdio => Sink::Stdio,
                LoggerTarget::File { path, .. } => Sink::File(path.clone(), open_append(path)),
                LoggerTarget::Syslog { ident, facility } => {
                    // openlog keeps the pointer: the ident lives as long as the process.
                    let ident = CString::new(ident.as_str()).unwrap_or_default();
                    // SAFETY: the ident is leaked, so it outlives every later syslog call.
                    unsafe {
                        libc::openlog(
                            Box::leak(ident.into_boxed_c_str()).as_ptr(),
                            libc::LOG_PID,
                            *facility,
                        )
                    };
                    Sink::Syslog(*facility)
                }
            })
            .collect();
        Open { chain, loggers }
    }

    /// Reopens the file loggers' files (after the master rotated them).
    pub(crate) fn reopen(&mut self) {
        for sink in &mut self.loggers {
            if let Sink::File(path, file) = sink {
                *file = open_append(path);
            }
        }
    }

    /// Sends one line down the chain; `plain` writes to where the log goes.
    pub(crate) fn write(&mut self, msg: &[u8], plain: &mut dyn FnMut(&[u8])) {
        let text = String::from_utf8_lossy(msg);
        let mut routed = false;
        for route in &self.chain.routes {
            if !route.pattern.is_match(&text) {
                continue;
            }
            let found = self
                .chain
                .loggers
                .iter()
                .position(|l| l.id.as_deref() == Some(route.logger.as_str()));
            if let Some(i) = found {
                let line = encode(&self.chain.encoders, Some(&route.logger), msg);
                emit(&mut self.loggers[i], &line, plain);
                routed = true;
            }
        }
        if routed {
            return;
        }
        let mut taken = false;
        for (i, logger) in self.chain.loggers.iter().enumerate() {
            if logger.id.is_none() {
                let line = encode(&self.chain.encoders, None, msg);
                emit(&mut self.loggers[i], &line, plain);
                taken = true;
            }
        }
        if !taken {
            plain(&encode(&self.chain.encoders, None, msg));
        }
    }
}

fn encode(encoders: &[Encoder], logger: Option<&str>, msg: &[u8]) -> Vec<u8> {
    let mut line = msg.to_vec();
    for e in encoders.iter().filter(|e| e.applies_to(logger)) {
        line = e.apply(&line);
    }
    line
}

fn emit(sink: &mut Sink, line: &[u8], plain: &mut dyn FnMut(&[u8])) {
    match sink {
        Sink::Stdio => plain(line),
        Sink::File(_, Some(file)) => {
            let _ = file.write_all(line);
        }
        Sink::File(_, None) => {}
        Sink::Syslog(facility) => {
            let text =
                CString::new(line.strip_suffix(b"\n").unwrap_or(line).to_vec()).unwrap_or_default();
            // SAFETY: both strings are NUL-terminated; the format takes one string.
            unsafe { libc::syslog(*facility | libc::LOG_INFO, c"%s".as_ptr(), text.as_ptr()) };
        }
    }
}

fn open_append(path: &PathBuf) -> Option<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logger_values_from_real_configs_parse() {
        let cases = [
            ("file:/dev/null", None, "/dev/null"),
            ("qcluster file:/opt/q.log", Some("qcluster"), "/opt/q.log"),
            (
                "file:logfile=/x/app.log,maxsize=20971520",
                None,
                "/x/app.log",
            ),
        ];
        for (value, id, path) in cases {
            let spec = LoggerSpec::parse(value).unwrap();
            assert_eq!(spec.id.as_deref(), id, "{value}");
            let LoggerTarget::File { path: p, .. } = spec.target else {
                panic!("{value}");
            };
            assert_eq!(p, PathBuf::from(path));
        }
        let stdio = LoggerSpec::parse("applogger stdio").unwrap();
        assert_eq!(stdio.id.as_deref(), Some("applogger"));
        assert_eq!(stdio.target, LoggerTarget::Stdio);
        assert!(LoggerSpec::parse("redislog 127.0.0.1:6379")
            .unwrap_err()
            .contains("not supported"));
        assert!(Route::parse("default ^((?!\\{).)*$")
            .unwrap_err()
            .contains("look-around"));
    }

    #[test]
    fn routes_loggers_and_encoders_as_uwsgi_applies_them() {
        let chain = Chain {
            loggers: vec![
                LoggerSpec::parse("applogger stdio").unwrap(),
                LoggerSpec::parse("default stdio").unwrap(),
            ],
            routes: vec![
                Route::parse("applogger \\{").unwrap(),
                Route::parse("default ^[^{]*$").unwrap(),
            ],
            encoders: vec![
                Encoder::parse("format:applogger ${msg}").unwrap(),
                Encoder::parse("json:default {\"message\": \"${msg}\", \"source\": \"uwsgi\"}")
                    .unwrap(),
                Encoder::parse("nl").unwrap(),
            ],
        };
        let mut open = Open::new(chain);
        let mut out = Vec::new();
        open.write(b"{\"app\": 1}\n", &mut |l| out.extend_from_slice(l));
        open.write(b"plain \"quoted\"\n", &mut |l| out.extend_from_slice(l));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"app\": 1}\n{\"message\": \"plain \\\"quoted\\\"\", \"source\": \"uwsgi\"}\n"
        );
    }

    #[test]
    fn without_routes_unnamed_loggers_take_the_line_and_prefix_applies() {
        let chain = Chain {
            loggers: Vec::new(),
            routes: Vec::new(),
            encoders: vec![
                Encoder::parse("prefix [app]").unwrap(),
                Encoder::parse("format ${unix} ${msgnl}").unwrap(),
            ],
        };
        let mut open = Open::new(chain);
        let mut out = Vec::new();
        open.write(b"hello\n", &mut |l| out.extend_from_slice(l));
        let text = String::from_utf8(out).unwrap();
        let (unix, rest) = text.split_once(' ').unwrap();
        assert!(unix.parse::<u64>().is_ok(), "{text}");
        assert_eq!(rest, "[app]hello\n");
    }
}
