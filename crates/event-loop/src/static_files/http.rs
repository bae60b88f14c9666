//! The HTTP pieces of a static answer: dates (RFC 9110 §5.6.7), entity tags and their
//! comparison (§8.8.3, §13.1.2), a single byte range (§14.1.2) and whether the client
//! takes gzip (§12.5.3). Pure functions over bytes, tested here.

/// Days from 1970-01-01 to the civil date `y-m-d` (proleptic Gregorian; Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `secs` since the epoch as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form
/// RFC 9110 §5.6.7 asks senders to use.
pub(crate) fn http_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Reads an IMF-fixdate; `None` for anything else (the obsolete RFC 850 and asctime forms
/// included: a date we cannot read makes the condition false, RFC 9110 §13.1.3).
pub(crate) fn parse_http_date(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let b = s.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = &s[r];
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let d = num(5..7)?;
    let m = MONTHS.iter().position(|&mo| mo == &s[8..11])? as i64 + 1;
    let y = num(12..16)?;
    let (hh, mm, ss) = (num(17..19)?, num(20..22)?, num(23..25)?);
    if b[16] != b' '
        || b[19] != b':'
        || b[22] != b':'
        || d == 0
        || d > 31
        || hh > 23
        || mm > 59
        || ss > 60
    {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// A strong entity tag from the file's modification time and size (as nginx forms its
/// own): it changes when the file is replaced or rewritten.
pub(crate) fn etag(mtime: i64, size: u64) -> String {
    format!("\"{mtime:x}-{size:x}\"")
}

/// Whether an `If-None-Match` value matches `tag`: `*`, or any listed tag equal to it by
/// the weak comparison (RFC 9110 §13.1.2: `W/` ignored on both sides).
pub(crate) fn none_match(header: &[u8], tag: &str) -> bool {
    let header = String::from_utf8_lossy(header);
    if header.trim() == "*" {
        return true;
    }
    let tag = tag.trim_start_matches("W/");
    header
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag)
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Range {
    /// No range to honour (absent, malformed, not `bytes`, or several ranges: the whole
    /// file with 200 is a valid answer to each, RFC 9110 §14.2).
    Whole,
    /// Bytes `start..=end` (206).
    Part { start: u64, end: u64 },
    /// No byte of the range exists (416).
    Unsatisfiable,
}

/// Reads a `Range` header for a file of `size` bytes: one `bytes=a-b`, `bytes=a-` or
/// `bytes=-n` (RFC 9110 §14.1.2).
pub(crate) fn range(header: &[u8], size: u64) -> Range {
    let Ok(h) = std::str::from_utf8(header) else {
        return Range::Whole;
    };
    let h = h.trim();
    let Some(spec) = h
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("bytes="))
        .map(|_| h[6..].trim())
    else {
        return Range::Whole;
    };
    if spec.contains(',') {
        return Range::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Range::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
    if first.is_empty() {
        // A suffix: the last n bytes.
        let Some(n) = digits(last).then(|| last.parse::<u64>().ok()).flatten() else {
            return Range::Whole;
        };
        if n == 0 || size == 0 {
            return Range::Unsatisfiable;
        }
        return Range::Part {
            start: size.saturating_sub(n),
            end: size - 1,
        };
    }
    let Some(start) = digits(first).then(|| first.parse::<u64>().ok()).flatten() else {
        return Range::Whole;
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match digits(last).then(|| last.parse::<u64>().ok()).flatten() {
            Some(end) if end >= start => end,
            // `5-3` is invalid: ignore the header (§14.1.1).
            _ => return Range::Whole,
        }
    };
    if start >= size {
        return Range::Unsatisfiable;
    }
    Range::Part {
        start,
        end: end.min(size - 1),
    }
}

/// Whether an `If-Range` value still describes the file: its strong entity tag, or its
/// `Last-Modified` date exactly (RFC 9110 §13.1.5).
pub(crate) fn if_range_holds(header: &[u8], tag: &str, last_modified: &str) -> bool {
    let v = String::from_utf8_lossy(header);
    let v = v.trim();
    if v.starts_with('"') {
        v == tag
    } else {
        v == last_modified
    }
}

/// Whether `Accept-Encoding` lets the answer be gzip: `gzip`, `x-gzip` or `*` listed
/// without `q=0` (RFC 9110 §12.5.3).
pub(crate) fn accepts_gzip(header: &[u8]) -> bool {
    String::from_utf8_lossy(header).split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.len() > 2
                && p[..2].eq_ignore_ascii_case("q=")
                && p[2..].trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
        });
        !refused
            && (coding.eq_ignore_ascii_case("gzip")
                || coding.eq_ignore_ascii_case("x-gzip")
                || coding == "*")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_in_the_imf_fixdate_form() {
        // RFC 9110 §5.6.7's own example.
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        for t in [0, 784_111_777, 951_782_400, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse_http_date(http_date(t).as_bytes()), Some(t), "{t}");
        }
        for bad in [
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 0x Nov 1994 08:49:37 GMT",
            "",
        ] {
            assert_eq!(parse_http_date(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn entity_tags_compare_weakly_for_if_none_match() {
        let tag = etag(0x5f00_0000, 0x10);
        assert_eq!(tag, "\"5f000000-10\"");
        assert!(none_match(b"*", &tag));
        assert!(none_match(tag.as_bytes(), &tag));
        assert!(none_match(b"\"x\", W/\"5f000000-10\"", &tag));
        assert!(!none_match(b"\"5f000000-11\"", &tag));
    }

    #[test]
    fn byte_ranges() {
        use Range::*;
        let table: &[(&str, u64, Range)] = &[
            ("bytes=0-3", 10, Part { start: 0, end: 3 }),
            ("bytes=2-", 10, Part { start: 2, end: 9 }),
            ("bytes=-3", 10, Part { start: 7, end: 9 }),
            ("bytes=-30", 10, Part { start: 0, end: 9 }),
            ("bytes=5-100", 10, Part { start: 5, end: 9 }),
            ("BYTES=1-1", 10, Part { start: 1, end: 1 }),
            ("bytes=10-", 10, Unsatisfiable),
            ("bytes=10-20", 10, Unsatisfiable),
            ("bytes=-0", 10, Unsatisfiable),
            ("bytes=0-", 0, Unsatisfiable),
            ("bytes=5-3", 10, Whole),
            ("bytes=0-1,4-5", 10, Whole),
            ("items=0-1", 10, Whole),
            ("bytes=a-b", 10, Whole),
            ("bytes=", 10, Whole),
            ("bytes=+1-2", 10, Whole),
        ];
        for (h, size, want) in table {
            assert_eq!(&range(h.as_bytes(), *size), want, "{h} of {size}");
        }
    }

    #[test]
    fn if_range_takes_the_strong_tag_or_the_exact_date() {
        let lm = http_date(784_111_777);
        assert!(if_range_holds(b"\"a-1\"", "\"a-1\"", &lm));
        assert!(!if_range_holds(b"\"a-2\"", "\"a-1\"", &lm));
        assert!(if_range_holds(lm.as_bytes(), "\"a-1\"", &lm));
        assert!(!if_range_holds(
            b"Sun, 06 Nov 1994 08:49:38 GMT",
            "\"a-1\"",
            &lm
        ));
    }

    #[test]
    fn accept_encoding() {
        for yes in [
            "gzip",
            "gzip, deflate, br",
            "deflate;q=0.5, GZIP;q=0.1",
            "*",
            "x-gzip",
        ] {
            assert!(accepts_gzip(yes.as_bytes()), "{yes}");
        }
        for no in ["", "identity", "br", "gzip;q=0", "gzip; q=0.0", "gzipx"] {
            assert!(!accepts_gzip(no.as_bytes()), "{no}");
        }
    }
}
