//! The request log line, in uWSGI's default format (`core/logging.c`,
//! `uwsgi_logit_simple`), through `log` with target `ruwsgi::request`:
//!
//! ```text
//! [pid: 1234|app: 0|req: 1/1] 127.0.0.1 () {28 vars in 312 bytes} [Tue Nov 24 22:01:02 2026] GET /path => generated 12 bytes in 0 msecs (HTTP/1.1 200) 2 headers in 64 bytes (1 switches on core 0)
//! ```
//!
//! With `memory-report` the line starts with the process's memory, as uWSGI writes it
//! (`{address space usage: 52310016 bytes/49MB} {rss usage: 20623360 bytes/19MB} [pid: ...`),
//! read from `/proc/self/statm` when the line is written.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::exchange::Exchange;

/// The `log` target of request lines.
pub const REQUEST_LOG_TARGET: &str = "ruwsgi::request";

/// Formats request lines into one reused buffer; caches the timestamp text for the
/// current second.
#[derive(Debug)]
pub(crate) struct RequestLog {
    pid: u32,
    /// `memory-report`: start each line with the address space and resident set sizes.
    memory_report: bool,
    second: u64,
    stamp: String,
    line: String,
}

impl RequestLog {
    pub(crate) fn new(memory_report: bool) -> RequestLog {
        RequestLog {
            pid: std::process::id(),
            memory_report,
            second: u64::MAX,
            stamp: String::new(),
            line: String::with_capacity(256),
        }
    }

    /// The line of exchange `e`, the loop's `requests`-th; `None` without its request line
    /// (request logging is off).
    pub(crate) fn line(&mut self, requests: u64, e: &Exchange<'_>) -> Option<&str> {
        let r = e.request?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if now != self.second {
            self.second = now;
            self.stamp = ctime(now as i64);
        }
        self.line.clear();
        if self.memory_report {
            let (vsz, rss) = memory_usage().unwrap_or((0, 0));
            let _ = write!(
                self.line,
                "{{address space usage: {vsz} bytes/{}MB}} {{rss usage: {rss} bytes/{}MB}} ",
                vsz >> 20,
                rss >> 20
            );
        }
        let _ = write!(
            self.line,
            "[pid: {}|app: 0|req: {}/{}] {} () {{{} vars in {} bytes}} [{}] {} {} => generated {} bytes in {} msecs{} ({} {}) {} headers in {} bytes (1 switches on core 0)",
            self.pid,
            requests,
            requests,
            r.remote,
            r.vars,
            r.vars_bytes,
            self.stamp,
            r.method,
            r.uri,
            e.body_bytes,
            e.duration.as_millis(),
            if e.sendfile { " via sendfile()" } else { "" },
            r.protocol,
            e.status,
            e.headers,
            e.head_bytes,
        );
        Some(&self.line)
    }
}

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

/// `ctime(3)` without its newline, in local time: `Tue Nov 24 22:01:02 2026`.
fn ctime(secs: i64) -> String {
    // SAFETY: tm is plain data; all-zero is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: both pointers are valid for the call; localtime_r is the thread-safe form.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return secs.to_string();
    }
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[tm.tm_wday.clamp(0, 6) as usize],
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tm.tm_year + 1900
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{ExchangeOutcome, RequestLine};
    use std::time::{Duration, Instant};

    #[test]
    fn the_line_has_uwsgi_default_shape() {
        let mut log = RequestLog::new(false);
        let request = RequestLine {
            remote: "127.0.0.1".into(),
            vars: 28,
            vars_bytes: 312,
            method: "GET".into(),
            uri: "/path?x=1".into(),
            protocol: "HTTP/1.1",
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

        // memory-report: uWSGI's memory text first, in its words and units.
        let mut log = RequestLog::new(true);
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
}
