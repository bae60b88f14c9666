//! The request log line: uWSGI 2.0's default format (checked against lines uWSGI wrote,
//! `integration-tests/data/`) or the `log-format` one, through `log` with target `ruwsgi::request`:
//!
//! ```text
//! [pid: 1234|app: 0|req: 1/1] 127.0.0.1 () {28 vars in 312 bytes} [Tue Nov 24 22:01:02 2026] GET /path => generated 12 bytes in 0 msecs (HTTP/1.1 200) 2 headers in 64 bytes (1 switches on core 0)
//! ```
//!
//! With `memory-report` the default line starts with the process's memory, as uWSGI writes
//! it (`{address space usage: 52310016 bytes/49MB} {rss usage: 20623360 bytes/19MB} [pid:
//! ...`), read from `/proc/self/statm` when the line is written.
//!
//! `log-format` takes uWSGI's `%(name)` placeholders ([`LogFormat`]); whatever else it holds
//! is copied as is. Which exchanges are logged: all of them, or under `disable-logging`
//! only those `log-4xx`, `log-5xx`, `log-slow`, `log-zero`, `log-big`, `log-sendfile` and
//! `log-ioerror` pick, as uWSGI decides.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::exchange::{Exchange, ExchangeOutcome, RequestLine};
use crate::handler::{Address, Head};
use crate::options::Options;

/// The `log` target of request lines.
pub const REQUEST_LOG_TARGET: &str = "ruwsgi::request";

/// Which exchanges get a line, and how it reads.
#[derive(Debug)]
pub(crate) struct RequestLog {
    pid: u32,
    worker_id: usize,
    /// Log every exchange (not `disable-logging`).
    all: bool,
    /// The conditions that log an exchange anyway (uWSGI's `logging_options`).
    when: Conditions,
    /// `memory-report`: start each default line with the address space and resident set.
    memory_report: bool,
    /// `log-micros`: the default line's time in microseconds.
    micros: bool,
    /// `log-x-forwarded-for`: the client address is the request's `X-Forwarded-For`.
    forwarded_for: bool,
    /// `log-format`, compiled; `None`: the default line.
    format: Option<LogFormat>,
    second: u64,
    stamp: String,
    line: String,
}

/// The `log-*` conditions under which an exchange is logged even with request logging off.
#[derive(Debug, Default)]
struct Conditions {
    status_4xx: bool,
    status_5xx: bool,
    slow: Option<Duration>,
    zero: bool,
    big: Option<u64>,
    sendfile: bool,
    ioerror: bool,
}

impl Conditions {
    fn any(&self) -> bool {
        self.status_4xx
            || self.status_5xx
            || self.slow.is_some()
            || self.zero
            || self.big.is_some()
            || self.sendfile
            || self.ioerror
    }

    fn hold(&self, e: &Exchange<'_>) -> bool {
        (self.status_4xx && (400..500).contains(&e.status))
            || (self.status_5xx && (500..600).contains(&e.status))
            || self.slow.is_some_and(|slow| e.duration >= slow)
            || (self.zero && e.body_bytes == 0)
            // uWSGI compares the response body's size, without the head.
            || self.big.is_some_and(|big| e.body_bytes >= big)
            || (self.sendfile && e.sendfile)
            // uWSGI wants a read and a write error on the request; an exchange is logged
            // here when its answer was cut short (see the README).
            || (self.ioerror && e.outcome != ExchangeOutcome::Complete)
    }
}

impl RequestLog {
    pub(crate) fn new(options: &Options) -> RequestLog {
        let nonzero = |n: u64| (n > 0).then_some(n);
        RequestLog {
            pid: std::process::id(),
            worker_id: options.worker_id,
            all: options.log_requests,
            when: Conditions {
                status_4xx: options.log_4xx,
                status_5xx: options.log_5xx,
                slow: nonzero(options.log_slow).map(Duration::from_millis),
                zero: options.log_zero,
                big: nonzero(options.log_big),
                sendfile: options.log_sendfile,
                ioerror: options.log_ioerror,
            },
            memory_report: options.memory_report,
            micros: options.log_micros,
            forwarded_for: options.log_x_forwarded_for,
            format: options.log_format.as_deref().map(LogFormat::parse),
            second: u64::MAX,
            stamp: String::new(),
            line: String::with_capacity(256),
        }
    }

    /// The request's side of its line, copied from its head when some line may be logged
    /// for it (copying costs allocations the hot path does not otherwise pay).
    pub(crate) fn capture(&self, head: &Head, peer: &Address) -> Option<RequestLine> {
        let possible = (self.all || self.when.any())
            && log::log_enabled!(target: REQUEST_LOG_TARGET, log::Level::Info);
        if !possible {
            return None;
        }
        let mut line = crate::request_vars::request_line(head, peer);
        if self.forwarded_for {
            if let Some(xff) = crate::request_vars::cgi_var(head, peer, "HTTP_X_FORWARDED_FOR") {
                line.remote = xff;
            }
        }
        if let Some(format) = &self.format {
            line.extra = format
                .wanted
                .iter()
                .map(|name| crate::request_vars::cgi_var(head, peer, name))
                .collect();
        }
        Some(line)
    }

    /// The line of exchange `e`, the loop's `requests`-th; `None` when it is not logged.
    pub(crate) fn line(&mut self, requests: u64, e: &Exchange<'_>) -> Option<&str> {
        let r = e.request?;
        if e.no_log || (!self.all && !self.when.hold(e)) {
            return None;
        }
        self.line.clear();
        if let Some(format) = &self.format {
            let facts = Facts {
                pid: self.pid,
                worker_id: self.worker_id,
            };
            format.render(&facts, r, e, &mut self.line);
            return Some(&self.line);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if now != self.second {
            self.second = now;
            self.stamp = ruwsgi_logging::ctime(now as i64);
        }
        if self.memory_report {
            let (vsz, rss) = memory_usage().unwrap_or((0, 0));
            let _ = write!(
                self.line,
                "{{address space usage: {vsz} bytes/{}MB}} {{rss usage: {rss} bytes/{}MB}} ",
                vsz >> 20,
                rss >> 20
            );
        }
        let (took, unit) = if self.micros {
            (e.duration.as_micros(), "micros")
        } else {
            (e.duration.as_millis(), "msecs")
        };
        let _ = write!(
            self.line,
            "[pid: {}|app: 0|req: {}/{}] {} ({}) {{{} vars in {} bytes}} [{}] {} {} => generated {} bytes in {took} {unit}{} ({} {}) {} headers in {} bytes (1 switches on core {})",
            self.pid,
            requests,
            requests,
            r.remote,
            r.user,
            r.vars,
            r.vars_bytes,
            self.stamp,
            r.method,
            r.uri,
            e.body_bytes,
            if e.sendfile { " via sendfile()" } else { "" },
            r.protocol,
            e.status,
            e.headers,
            e.head_bytes,
            e.thread.unwrap_or(0),
        );
        Some(&self.line)
    }
}

/// What a formatted line needs beyond the exchange.
struct Facts {
    pid: u32,
    worker_id: usize,
}

/// A compiled `log-format`: text and placeholders, and the request variables the
/// placeholders need copied from each request (`%(var.NAME)`, `%(host)`, ...).
#[derive(Debug)]
pub(crate) struct LogFormat {
    parts: Vec<Part>,
    /// CGI variable names, in the order of [`RequestLine::extra`].
    wanted: Vec<String>,
}

#[derive(Debug)]
enum Part {
    Text(String),
    Field(Field),
    /// The request variable at this index of [`RequestLine::extra`].
    RequestVar(usize),
    /// A value the app set with `uwsgi.set_logvar` (any name uWSGI does not know).
    LogVar(String),
}

/// uWSGI's log chunks (`uwsgi_register_logchunks`), less the request-variable ones.
#[derive(Debug, Clone, Copy)]
enum Field {
    Uri,
    Method,
    Addr,
    /// `REMOTE_USER` of a uwsgi request.
    User,
    Proto,
    Status,
    /// The response body's bytes.
    Rsize,
    /// The response head's bytes.
    Hsize,
    /// Head and body.
    Size,
    /// The request body's length.
    Cl,
    Micros,
    Msecs,
    Secs,
    Tmsecs,
    Tmicros,
    Time,
    Ltime,
    Ftime,
    Ctime,
    Epoch,
    Pid,
    Wid,
    Switches,
    Vars,
    Core,
    Vsz,
    Rss,
    VszM,
    RssM,
    Pktsize,
    Modifier1,
    Modifier2,
    Headers,
    Werr,
    Rerr,
    Ioerr,
}

impl Field {
    fn named(name: &str) -> Option<Field> {
        Some(match name {
            "uri" => Field::Uri,
            "method" => Field::Method,
            "addr" => Field::Addr,
            "user" => Field::User,
            "proto" => Field::Proto,
            "status" => Field::Status,
            "rsize" => Field::Rsize,
            "hsize" => Field::Hsize,
            "size" => Field::Size,
            "cl" => Field::Cl,
            "micros" => Field::Micros,
            "msecs" => Field::Msecs,
            "secs" => Field::Secs,
            "tmsecs" => Field::Tmsecs,
            "tmicros" => Field::Tmicros,
            "time" => Field::Time,
            "ltime" => Field::Ltime,
            "ftime" => Field::Ftime,
            "ctime" => Field::Ctime,
            "epoch" => Field::Epoch,
            "pid" => Field::Pid,
            "wid" => Field::Wid,
            "switches" => Field::Switches,
            "vars" => Field::Vars,
            "core" => Field::Core,
            "vsz" => Field::Vsz,
            "rss" => Field::Rss,
            "vszM" => Field::VszM,
            "rssM" => Field::RssM,
            "pktsize" => Field::Pktsize,
            "modifier1" => Field::Modifier1,
            "modifier2" => Field::Modifier2,
            "headers" => Field::Headers,
            "werr" => Field::Werr,
            "rerr" => Field::Rerr,
            "ioerr" => Field::Ioerr,
            _ => return None,
        })
    }
}

/// The chunks uWSGI reads from the request's variables.
fn request_var_of(name: &str) -> Option<&'static str> {
    Some(match name {
        "host" => "HTTP_HOST",
        "uagent" => "HTTP_USER_AGENT",
        "referer" => "HTTP_REFERER",
        _ => return None,
    })
}

impl LogFormat {
    /// Compiles `format` as uWSGI does (`uwsgi_build_log_format`): `%(name)` is a
    /// placeholder, anything else (a lone `%` too) is text; a line ends with a newline the
    /// log adds.
    pub(crate) fn parse(format: &str) -> LogFormat {
        let mut parts = Vec::new();
        let mut wanted: Vec<String> = Vec::new();
        let mut text = String::new();
        let mut rest = format;
        while let Some(at) = rest.find("%(") {
            let Some(len) = rest[at + 2..].find(')') else {
                break;
            };
            text.push_str(&rest[..at]);
            let name = &rest[at + 2..at + 2 + len];
            rest = &rest[at + 3 + len..];
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            let var = name.strip_prefix("var.").or_else(|| request_var_of(name));
            parts.push(match (Field::named(name), var) {
                (Some(field), _) => Part::Field(field),
                (None, Some(var)) => {
                    let index = match wanted.iter().position(|w| w == var) {
                        Some(i) => i,
                        None => {
                            wanted.push(var.to_string());
                            wanted.len() - 1
                        }
                    };
                    Part::RequestVar(index)
                }
                (None, None) => Part::LogVar(name.to_string()),
            });
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        LogFormat { parts, wanted }
    }

    /// Writes the line of `e` into `out`; an empty value reads `-`, as in uWSGI.
    fn render(&self, facts: &Facts, r: &RequestLine, e: &Exchange<'_>, out: &mut String) {
        // The wall-clock time the request started, from how long ago it did.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let started = now.saturating_sub(e.duration);
        let mut memory = None;
        for part in &self.parts {
            let mark = out.len();
            match part {
                Part::Text(t) => {
                    out.push_str(t);
                    continue;
                }
                Part::RequestVar(i) => {
                    if let Some(Some(v)) = r.extra.get(*i) {
                        out.push_str(v);
                    }
                }
                Part::LogVar(name) => {
                    if let Some((_, v)) = e.vars.iter().find(|(k, _)| k == name) {
                        out.push_str(v);
                    }
                }
                Part::Field(field) => {
                    let _ = field_value(*field, facts, r, e, started, &mut memory, out);
                }
            }
            if out.len() == mark {
                out.push('-');
            }
        }
    }
}

/// Writes one field's value.
fn field_value(
    field: Field,
    facts: &Facts,
    r: &RequestLine,
    e: &Exchange<'_>,
    started: Duration,
    memory: &mut Option<(u64, u64)>,
    out: &mut String,
) -> std::fmt::Result {
    let mut memory = || *memory.get_or_insert_with(|| memory_usage().unwrap_or((0, 0)));
    let secs = started.as_secs() as i64;
    match field {
        Field::Uri => out.push_str(&r.uri),
        Field::Method => out.push_str(&r.method),
        Field::Addr => out.push_str(&r.remote),
        Field::User => out.push_str(&r.user),
        Field::Proto => out.push_str(r.protocol),
        Field::Status => write!(out, "{}", e.status)?,
        Field::Rsize => write!(out, "{}", e.body_bytes)?,
        Field::Hsize => write!(out, "{}", e.head_bytes)?,
        Field::Size => write!(out, "{}", e.head_bytes as u64 + e.body_bytes)?,
        Field::Cl => write!(out, "{}", e.request_body)?,
        Field::Micros => write!(out, "{}", e.duration.as_micros())?,
        Field::Msecs => write!(out, "{}", e.duration.as_millis())?,
        Field::Secs => write!(out, "{:.6}", e.duration.as_secs_f64())?,
        Field::Tmsecs => write!(out, "{}", started.as_millis())?,
        Field::Tmicros => write!(out, "{}", started.as_micros())?,
        Field::Time => write!(out, "{secs}")?,
        // uWSGI formats `ftime` with `log-date`'s format only under `log-format-strftime`,
        // which ruwsgi does not have: without it uWSGI writes `ltime`'s form, and so do we.
        Field::Ltime | Field::Ftime => out.push_str(&ruwsgi_logging::strftime(LTIME, secs)),
        Field::Ctime => out.push_str(&ruwsgi_logging::ctime(secs)),
        Field::Epoch => write!(out, "{}", ruwsgi_logging::now_secs())?,
        Field::Pid => write!(out, "{}", facts.pid)?,
        Field::Wid => write!(out, "{}", facts.worker_id)?,
        Field::Switches => out.push('1'),
        Field::Vars => write!(out, "{}", r.vars)?,
        Field::Core => write!(out, "{}", e.thread.unwrap_or(0))?,
        Field::Vsz => write!(out, "{}", memory().0)?,
        Field::Rss => write!(out, "{}", memory().1)?,
        Field::VszM => write!(out, "{}", memory().0 >> 20)?,
        Field::RssM => write!(out, "{}", memory().1 >> 20)?,
        Field::Pktsize => write!(out, "{}", r.vars_bytes)?,
        Field::Modifier1 | Field::Modifier2 => out.push('0'),
        Field::Headers => write!(out, "{}", e.headers)?,
        // A write error is a client gone before its answer; reads that fail end the
        // exchange before it has a record.
        Field::Werr | Field::Ioerr => {
            let gone = e.outcome == ExchangeOutcome::ClientGone;
            write!(out, "{}", u8::from(gone))?
        }
        Field::Rerr => out.push('0'),
    }
    Ok(())
}

/// `%(ltime)`: the request's start, Apache's common log time.
const LTIME: &str = "%d/%b/%Y:%H:%M:%S %z";

/// This process's address space (virtual) size and resident set size in bytes, from
/// `/proc/self/statm` (sizes in pages), as uWSGI's `get_memusage` reads them on Linux.
fn memory_usage() -> Option<(u64, u64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut pages = statm.split_whitespace().map(|n| n.parse::<u64>().ok());
    let (vsz, rss) = (pages.next()??, pages.next()??);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    Some((vsz * page, rss * page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{ExchangeOutcome, RequestLine};
    use std::time::{Duration, Instant};

    #[test]
    fn the_line_has_uwsgi_default_shape() {
        let mut log = RequestLog::new(&Options::default());
        let request = RequestLine {
            remote: "127.0.0.1".into(),
            user: String::new(),
            vars: 28,
            vars_bytes: 312,
            method: "GET".into(),
            uri: "/path?x=1".into(),
            protocol: "HTTP/1.1",
            extra: Vec::new(),
        };
        let mut record = Exchange {
            outcome: ExchangeOutcome::Complete,
            status: 200,
            request: None,
            request_body: 0,
            headers: 2,
            head_bytes: 64,
            body_bytes: 12,
            sendfile: false,
            started: Instant::now(),
            duration: Duration::from_micros(1500),
            thread: None,
            exception: false,
            vars: &[],
            no_log: false,
        };
        assert!(
            log.line(3, &record).is_none(),
            "no request line, no log line"
        );
        record.request = Some(&request);
        let line = log.line(3, &record).unwrap();
        let pid = std::process::id();
        let prefix =
            format!("[pid: {pid}|app: 0|req: 3/3] 127.0.0.1 () {{28 vars in 312 bytes}} [");
        assert!(line.starts_with(&prefix), "{line}");
        assert!(
            line.ends_with("] GET /path?x=1 => generated 12 bytes in 1 msecs (HTTP/1.1 200) 2 headers in 64 bytes (1 switches on core 0)"),
            "{line}"
        );
        // [Www Mmm dd hh:mm:ss yyyy]
        let stamp = &line[prefix.len()..line.find("] GET").unwrap()];
        assert_eq!(stamp.len(), 24, "{stamp:?}");
        assert_eq!(stamp.split_whitespace().count(), 5, "{stamp:?}");

        // A uwsgi request's REMOTE_USER goes between the parentheses, as uWSGI writes it.
        let alice = RequestLine {
            user: "alice".into(),
            ..request.clone()
        };
        record.request = Some(&alice);
        let line = log.line(3, &record).unwrap();
        assert!(line.contains("] 127.0.0.1 (alice) {28 vars"), "{line}");
        record.request = Some(&request);

        // memory-report: uWSGI's memory text first, in its words and units.
        let mut log = RequestLog::new(&Options {
            memory_report: true,
            ..Options::default()
        });
        let line = log.line(3, &record).unwrap();
        let (memory, rest) = line.split_at(line.find("[pid: ").unwrap());
        assert!(rest.starts_with(&prefix), "{line}");
        let numbers: Vec<u64> = memory
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        let [vsz, vsz_mb, rss, rss_mb] = numbers[..] else {
            panic!("four numbers in {memory:?}");
        };
        assert_eq!(
            memory,
            format!(
                "{{address space usage: {vsz} bytes/{vsz_mb}MB}} {{rss usage: {rss} bytes/{rss_mb}MB}} "
            )
        );
        assert!(rss > 0 && vsz >= rss, "{memory}");
        assert_eq!((vsz >> 20, rss >> 20), (vsz_mb, rss_mb));
    }

    fn record<'a>(
        request: &'a RequestLine,
        status: u16,
        vars: &'a [(String, String)],
    ) -> Exchange<'a> {
        Exchange {
            outcome: ExchangeOutcome::Complete,
            status,
            request: Some(request),
            request_body: 5,
            headers: 3,
            head_bytes: 80,
            body_bytes: 12,
            sendfile: false,
            started: Instant::now(),
            duration: Duration::from_micros(2500),
            thread: Some(1),
            exception: false,
            vars,
            no_log: false,
        }
    }

    #[test]
    fn a_log_format_substitutes_uwsgi_variables() {
        let options = Options {
            log_format: Some(
                "%(method) %(uri) %(proto) %(status) %(size) %(rsize) %(hsize) %(cl) %(msecs) \
                 %(micros) %(headers) %(core) %(wid) %(host) %(uagent) %(var.HTTP_X_ID) \
                 %(user) %(mine) %(missing) 50% %(unclosed"
                    .into(),
            ),
            ..Options::default()
        };
        let mut log = RequestLog::new(&options);
        let format = log.format.as_ref().unwrap();
        assert_eq!(format.wanted, ["HTTP_HOST", "HTTP_USER_AGENT", "HTTP_X_ID"]);
        let request = RequestLine {
            remote: "10.0.0.1".into(),
            user: "alice".into(),
            vars: 20,
            vars_bytes: 300,
            method: "POST".into(),
            uri: "/a?b=1".into(),
            protocol: "HTTP/1.1",
            extra: vec![
                Some("h.example".into()),
                Some("curl/8".into()),
                Some("42".into()),
            ],
        };
        let vars = [("mine".to_string(), "set-by-app".to_string())];
        let line = log.line(7, &record(&request, 201, &vars)).unwrap();
        assert_eq!(
            line,
            "POST /a?b=1 HTTP/1.1 201 92 12 80 5 2 2500 3 1 1 h.example curl/8 42 alice set-by-app - \
             50% %(unclosed"
        );
    }

    #[test]
    fn under_disable_logging_only_the_chosen_exchanges_are_logged() {
        let options = Options {
            log_requests: false,
            log_5xx: true,
            log_slow: 2,
            ..Options::default()
        };
        let mut log = RequestLog::new(&options);
        let request = RequestLine {
            remote: "127.0.0.1".into(),
            user: String::new(),
            vars: 1,
            vars_bytes: 1,
            method: "GET".into(),
            uri: "/".into(),
            protocol: "HTTP/1.1",
            extra: Vec::new(),
        };
        assert!(log.line(1, &record(&request, 503, &[])).is_some());
        // 2.5 ms is slower than 2 ms.
        assert!(log.line(1, &record(&request, 200, &[])).is_some());
        let mut quick = record(&request, 404, &[]);
        quick.duration = Duration::from_millis(1);
        assert!(log.line(1, &quick).is_none());

        // log-big counts the body (12 bytes), not the head (80), as uWSGI.
        let mut log = RequestLog::new(&Options {
            log_requests: false,
            log_big: 50,
            ..Options::default()
        });
        assert!(log.line(1, &record(&request, 200, &[])).is_none());
        let mut big = record(&request, 200, &[]);
        big.body_bytes = 50;
        assert!(log.line(1, &big).is_some());
    }
}
