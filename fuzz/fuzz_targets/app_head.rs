//! Fuzzes what an app may put in a response head. A status line and header pairs, as text
//! (fields split at U+001F), go through the WSGI layer's checks (`check_status`,
//! `check_header`); whatever passes is encoded as the loop encodes it and must read back —
//! parsed by httparse, as a client would — as exactly that status and those headers, in
//! order: no response splitting, no header lost, changed or added beyond the framing ones
//! the server owns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ruwsgi_proto::{
    check_header, check_status, encode_response_head, is_field_value, is_header_name, latin1,
    response_framing, HeaderError, ResponseContext, Version,
};

/// Headers the server writes itself (framing and connection management).
fn server_owned(name: &str) -> bool {
    ["content-length", "transfer-encoding", "connection"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &v[start..end]
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.split('\u{1f}');
    let status = fields.next().unwrap_or_default();
    let fields: Vec<&str> = fields.take(128).collect();

    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for pair in fields.chunks(2) {
        let (name, value) = (pair[0], pair.get(1).copied().unwrap_or_default());
        match check_header(name, value) {
            Ok(bytes) => {
                assert!(is_header_name(name));
                assert!(is_field_value(&bytes), "{value:?} passed as {bytes:?}");
                assert_eq!(bytes.len(), value.chars().count(), "one byte per character");
                headers.push((name.to_string(), bytes.into_owned()));
            }
            Err(HeaderError::Name) => assert!(!is_header_name(name)),
            Err(HeaderError::Value) => {
                assert!(latin1(value).is_none_or(|v| !is_field_value(&v)))
            }
            Err(HeaderError::ContentLength) => {
                assert!(name.eq_ignore_ascii_case("content-length"))
            }
        }
    }

    let Some((code, reason)) = check_status(status) else {
        return;
    };
    assert!((100..=999).contains(&code));
    for keep_alive in [true, false] {
        let ctx = ResponseContext {
            version: Version::Http11,
            head_request: false,
            keep_alive,
            uwsgi: false,
        };
        let framing = response_framing(code, &headers, &ctx, None);
        let mut out = Vec::new();
        encode_response_head(code, reason, &headers, &framing, &ctx, &mut out);

        let mut parsed = [httparse::EMPTY_HEADER; 160];
        let mut response = httparse::Response::new(&mut parsed);
        let n = match response.parse(&out) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("the head does not read back ({other:?}): {out:?}"),
        };
        assert_eq!(n, out.len(), "bytes after the head: {out:?}");
        assert_eq!(response.code, Some(code));
        if reason.is_ascii() {
            assert_eq!(response.reason, Some(reason));
        }
        let sent: Vec<(&str, &[u8])> = response
            .headers
            .iter()
            .filter(|h| !server_owned(h.name))
            .map(|h| (h.name, trim(h.value)))
            .collect();
        let given: Vec<(&str, &[u8])> = headers
            .iter()
            .filter(|(name, _)| !server_owned(name))
            .map(|(name, value)| (name.as_str(), trim(value)))
            .collect();
        assert_eq!(sent, given, "{out:?}");
    }
});
