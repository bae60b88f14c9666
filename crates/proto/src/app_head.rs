//! What an app may put in a response head: the checks a WSGI `start_response` makes on the
//! status line and each header (RFC 9110 §5.1, §5.5; RFC 9112 §4), in one place that the
//! response encoder and the fuzz target share. Text is latin-1 (PEP 3333: "native strings"
//! whose characters are all below U+0100), one byte per character on the wire.

use std::borrow::Cow;

use crate::chunked::is_token_byte;

/// Why a header cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// The name is empty or not a token.
    Name,
    /// The value has a character above U+00FF or a control character other than HTAB.
    Value,
    /// A `Content-Length` that is not one decimal number.
    ContentLength,
}

/// Whether `v` may be sent as a field value or a reason phrase: HTAB, SP, visible ASCII and
/// obs-text (0x80–0xFF); no other control byte (CR, LF and NUL would split the response,
/// and the others are refused by strict clients).
pub fn is_field_value(v: &[u8]) -> bool {
    v.iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
}

/// `s` in latin-1, one byte per character; `None` when a character is above U+00FF.
/// Borrowed when `s` is ASCII.
pub fn latin1(s: &str) -> Option<Cow<'_, [u8]>> {
    if s.is_ascii() {
        return Some(Cow::Borrowed(s.as_bytes()));
    }
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect::<Option<Vec<u8>>>()
        .map(Cow::Owned)
}

/// The numeric code of a WSGI status string such as `"200 OK"`: three digits, then a
/// space or the end (PEP 3333).
pub fn status_code(status: &str) -> Option<u16> {
    match status.as_bytes() {
        [a @ b'1'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9', rest @ ..]
            if rest.is_empty() || rest[0] == b' ' =>
        {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// Checks a WSGI status line such as `"200 OK"`: three digits (100–999), a space and a
/// reason phrase that [`is_field_value`] in latin-1. Returns the code and the reason.
pub fn check_status(status: &str) -> Option<(u16, &str)> {
    let code = status_code(status)?;
    let reason = status.get(4..)?;
    latin1(reason)
        .filter(|r| is_field_value(r))
        .map(|_| (code, reason))
}

/// Checks one header: the name a token, the value latin-1 text that [`is_field_value`], a
/// `Content-Length` digits only (leading and trailing blanks allowed). Returns the value's
/// bytes as they go on the wire.
pub fn check_header<'a>(name: &str, value: &'a str) -> Result<Cow<'a, [u8]>, HeaderError> {
    if !is_header_name(name) {
        return Err(HeaderError::Name);
    }
    let bytes = latin1(value)
        .filter(|v| is_field_value(v))
        .ok_or(HeaderError::Value)?;
    if name.eq_ignore_ascii_case("content-length") {
        // Digits only: `parse` alone would also take a leading `+`.
        let digits = value.trim_matches([' ', '\t']);
        let valid = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && digits.parse::<u64>().is_ok();
        if !valid {
            return Err(HeaderError::ContentLength);
        }
    }
    Ok(bytes)
}

/// Whether `name` is a valid header name: a non-empty token.
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_token_byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes() {
        let cases: &[(&str, Option<u16>)] = &[
            ("200 OK", Some(200)),
            ("404 Not Found", Some(404)),
            ("599", Some(599)),
            ("100 Continue", Some(100)),
            ("20 OK", None),
            ("2000 OK", None),
            ("099 X", None),
            ("OK 200", None),
            ("", None),
            ("２00 OK", None),
        ];
        for (s, want) in cases {
            assert_eq!(status_code(s), *want, "{s:?}");
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(check_status("200 OK"), Some((200, "OK")));
        assert_eq!(check_status("404 Not Found"), Some((404, "Not Found")));
        assert_eq!(check_status("200 "), Some((200, "")));
        assert_eq!(check_status("299 Ünïcode"), Some((299, "Ünïcode")));
        for bad in [
            "200",
            "200OK",
            "99 x",
            "099 x",
            "2000 x",
            "200 a\r\nX: y",
            "200 \x01",
            "200 \x7f",
            "200 €",
            "",
        ] {
            assert_eq!(check_status(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn headers() {
        assert_eq!(check_header("X-A", "b\tc").unwrap(), &b"b\tc"[..]);
        assert_eq!(check_header("X-A", "é").unwrap(), &[0xe9][..]);
        assert_eq!(
            check_header("Content-Length", " 12 ").unwrap(),
            &b" 12 "[..]
        );
        assert_eq!(check_header("X A", "b"), Err(HeaderError::Name));
        assert_eq!(check_header("", "b"), Err(HeaderError::Name));
        for bad in ["a\r\nb", "a\nb", "a\0b", "a\x01b", "a\x7fb", "€"] {
            assert_eq!(check_header("X-A", bad), Err(HeaderError::Value), "{bad:?}");
        }
        for bad in ["", "+1", "-1", "1 2", "x", "99999999999999999999999"] {
            assert_eq!(
                check_header("content-length", bad),
                Err(HeaderError::ContentLength),
                "{bad:?}"
            );
        }
    }
}
