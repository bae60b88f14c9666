//! Percent-decoding of request paths (RFC 3986 §2.1), shared by the WSGI `PATH_INFO` and
//! the static-file lookup, so both see the same path.

use std::borrow::Cow;

/// Percent-decodes `b` once; a malformed escape (`%zz`, a `%` too near the end) stays as
/// it is. Borrows when there is nothing to decode.
pub fn percent_decode(b: &[u8]) -> Cow<'_, [u8]> {
    if !b.contains(&b'%') {
        return Cow::Borrowed(b);
    }
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_once_and_keeps_malformed_escapes() {
        assert!(matches!(percent_decode(b"/plain"), Cow::Borrowed(_)));
        assert_eq!(&*percent_decode(b"/a%20b"), b"/a b");
        assert_eq!(&*percent_decode(b"/%2e%2E/x"), b"/../x");
        assert_eq!(&*percent_decode(b"/%252e%252e"), b"/%2e%2e");
        assert_eq!(&*percent_decode(b"/bad%zz%4"), b"/bad%zz%4");
        assert_eq!(&*percent_decode(b"/end%"), b"/end%");
        assert_eq!(&*percent_decode(b"/%41"), b"/A");
    }
}
