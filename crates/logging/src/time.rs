//! Local-time text for log lines: `ctime(3)`'s form (uWSGI's default request line and its
//! `log-date` prefix) and `strftime(3)` formats (`log-date FORMAT`, `%(ltime)`).

use std::ffi::CString;

/// The local broken-down time of `secs` since the Unix epoch; `None` if the C library
/// cannot represent it.
fn local(secs: i64) -> Option<libc::tm> {
    // SAFETY: tm is plain data; all-zero is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let t = secs as libc::time_t;
    // SAFETY: both pointers are valid for the call; localtime_r is the thread-safe form.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    ok.then_some(tm)
}

/// `ctime(3)` without its newline, in local time: `Tue Nov 24 22:01:02 2026`.
pub fn ctime(secs: i64) -> String {
    let Some(tm) = local(secs) else {
        return secs.to_string();
    };
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

/// `strftime(3)` of `secs` in local time with `format` (at most 255 bytes of output, as
/// uWSGI's 64-byte buffer is generous for its uses); empty when the format has a NUL or
/// the output does not fit.
pub fn strftime(format: &str, secs: i64) -> String {
    let (Ok(c_format), Some(tm)) = (CString::new(format), local(secs)) else {
        return String::new();
    };
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its length, the format is NUL-terminated and tm valid.
    let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), buf.len(), c_format.as_ptr(), &tm) };
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_and_strftime_agree_on_the_same_instant() {
        let t = 1_700_000_000;
        let c = ctime(t);
        assert_eq!(c.len(), 24, "{c}");
        assert_eq!(strftime("%a %b %e %H:%M:%S %Y", t), c);
        assert_eq!(strftime("", t), "");
        assert_eq!(strftime("bad\0format", t), "");
    }
}
