//! HTTP/1.x request heads and their body framing (RFC 9112).
//!
//! [`parse_request`] runs `httparse` over the head, then applies what httparse leaves to the
//! caller: the size limits, bare LF, the request-target forms, and the framing rules of
//! RFC 9112 §6 (Content-Length, Transfer-Encoding, Host). The policy is written in the crate
//! front page.

use std::mem::MaybeUninit;

use crate::error::{Error, ErrorKind};
use crate::{RequestHead, Version};

/// Limits from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Max bytes of a request head / uwsgi packet (`buffer-size`, default 8192).
    pub buffer_size: usize,
    /// Max number of header fields (default 100).
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            buffer_size: 8192,
            max_headers: 100,
        }
    }
}

/// The outcome of a parse that did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// A whole value, and the number of bytes of input it took.
    Complete(T, usize),
    /// More bytes are needed.
    Partial,
}

/// How a request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    None,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// A chunked body follows; decode it with [`crate::ChunkedDecoder`].
    Chunked,
}

/// Header slots kept on the stack; more than this (a configured `max_headers` above it)
/// falls back to one heap allocation per parse.
const STACK_HEADERS: usize = 128;

/// Parses an HTTP/1.x request head at the start of `buf`.
///
/// Returns [`Parsed::Partial`] while more bytes are needed and `buf` is shorter than
/// `limits.buffer_size`; past it the head is refused with 414 (the request line alone does
/// not fit) or 431. On success the head and the framing of the body that follows it are
/// returned with the number of bytes the head took; the body is not touched.
pub fn parse_request(
    buf: &[u8],
    limits: &Limits,
) -> Result<Parsed<(RequestHead, BodyFraming)>, Error> {
    if limits.max_headers <= STACK_HEADERS {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
        parse_with_slots(buf, limits, &mut slots[..limits.max_headers])
    } else {
        let mut slots = Vec::with_capacity(limits.max_headers);
        slots.resize_with(limits.max_headers, MaybeUninit::uninit);
        parse_with_slots(buf, limits, &mut slots)
    }
}

fn parse_with_slots<'b>(
    buf: &'b [u8],
    limits: &Limits,
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<Parsed<(RequestHead, BodyFraming)>, Error> {
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if buf.len() >= limits.buffer_size {
                return Err(too_large(buf, limits));
            }
            return Ok(Parsed::Partial);
        }
        Err(httparse::Error::Version) if buf.len() < limits.buffer_size => {
            return match version_error(buf) {
                Some(e) => Err(e),
                None => Ok(Parsed::Partial),
            };
        }
        Err(e) => return Err(syntax_error(e, buf, limits)),
    };
    if len > limits.buffer_size {
        return Err(too_large(buf, limits));
    }
    let head = &buf[..len];
    // httparse accepts a bare LF as a line end (RFC 9112 §2.2 allows that); we do not: a
    // peer that reads lines differently than we do is how requests are smuggled.
    if has_bare_lf(head) {
        return Err(ErrorKind::Syntax("bare lf in request head").into());
    }
    let version = match req.version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    let method = req.method.unwrap_or_default();
    let target = req.path.unwrap_or_default().as_bytes();
    check_target(method, target)?;

    let mut headers = Vec::with_capacity(req.headers.len());
    let mut content_length: Option<u64> = None;
    let mut te = TransferCodings::default();
    let mut hosts = 0usize;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let name = h.name;
        // `X_Foo` and `X-Foo` would both become HTTP_X_FOO; nginx drops the underscore form,
        // so do we (before it can influence framing; docs/architecture.md).
        if name.as_bytes().contains(&b'_') {
            continue;
        }
        let value = h.value;
        if name.eq_ignore_ascii_case("content-length") {
            if content_length.is_some() {
                // RFC 9112 §6.3 item 5 allows identical repeats; refusing them costs
                // nothing legitimate and closes a smuggling door.
                return Err(ErrorKind::InvalidContentLength.into());
            }
            content_length = Some(parse_content_length(value)?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            te.add(value)?;
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in list_elements(value) {
                if token.eq_ignore_ascii_case(b"close") {
                    conn_close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    conn_keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = trim_ows(value).eq_ignore_ascii_case(b"100-continue");
        }
        headers.push((name.to_owned(), value.to_vec()));
    }

    // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without a Host field
    // and to any request with more than one.
    if hosts > 1 || (hosts == 0 && version == Version::Http11) {
        return Err(ErrorKind::MissingHost.into());
    }
    let framing = if te.present {
        // RFC 9112 §6.1: Transfer-Encoding on HTTP/1.0 means faulty framing; with
        // Content-Length it is a smuggling attempt (§6.3 item 3); we refuse both.
        if version == Version::Http10 {
            return Err(ErrorKind::Syntax("transfer-encoding in an http/1.0 request").into());
        }
        if content_length.is_some() {
            return Err(ErrorKind::ContentLengthAndTransferEncoding.into());
        }
        te.framing()?
    } else {
        match content_length {
            Some(0) | None => BodyFraming::None,
            Some(n) => BodyFraming::Length(n),
        }
    };
    let keep_alive = match version {
        Version::Http11 => !conn_close,
        Version::Http10 => conn_keep_alive && !conn_close,
    };
    let head = RequestHead {
        method: method.to_owned(),
        target: target.to_vec(),
        version,
        headers,
        keep_alive,
        // RFC 9110 §10.1.1: a 100-continue expectation in HTTP/1.0 is ignored.
        expect_continue: expect_continue && version == Version::Http11,
    };
    Ok(Parsed::Complete((head, framing), len))
}

/// The refusal of a head that does not fit in `buffer-size`: 414 when its request line
/// alone does not fit, 431 otherwise.
fn too_large(buf: &[u8], limits: &Limits) -> Error {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    let line_end = buf[start..].iter().position(|&b| b == b'\n');
    match line_end {
        Some(end) if start + end < limits.buffer_size => ErrorKind::HeadersTooLarge.into(),
        _ => ErrorKind::RequestLineTooLong.into(),
    }
}

fn syntax_error(e: httparse::Error, buf: &[u8], limits: &Limits) -> Error {
    // Garbage past `buffer-size` is the size's fault: the answer must not depend on how
    // much the client managed to send before we looked. (Recursion depth one: the shorter
    // buffer is not over the limit.)
    if buf.len() > limits.buffer_size && e != httparse::Error::TooManyHeaders {
        return match parse_request(&buf[..limits.buffer_size], limits) {
            Err(e) => e,
            Ok(_) => too_large(buf, limits),
        };
    }
    match e {
        httparse::Error::TooManyHeaders => ErrorKind::TooManyHeaders.into(),
        httparse::Error::Version => {
            version_error(buf).unwrap_or_else(|| ErrorKind::Syntax("invalid http version").into())
        }
        httparse::Error::HeaderValue => ErrorKind::InvalidHeaderValue.into(),
        other => ErrorKind::Syntax(other.description_str()).into(),
    }
}

/// httparse refuses every version but 1.0 and 1.1 alike; a well-formed `HTTP/x.y` of
/// another version is answered 505 (RFC 9110 §15.6.6), anything else 400. None while the
/// version is an unfinished prefix of `HTTP/x.y` (the answer depends on what follows).
fn version_error(buf: &[u8]) -> Option<Error> {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    let line = &buf[start..];
    let (line, complete) = match line.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(end) => (&line[..end], true),
        None => (line, false),
    };
    let version = match line.iter().rposition(|&b| b == b' ') {
        Some(sp) => &line[sp + 1..],
        None => line,
    };
    let pattern: &[fn(u8) -> bool] = &[
        |b| b == b'H',
        |b| b == b'T',
        |b| b == b'T',
        |b| b == b'P',
        |b| b == b'/',
        |b| (b'1'..=b'9').contains(&b),
        |b| b == b'.',
        |b| b.is_ascii_digit(),
    ];
    let matches =
        version.len() <= pattern.len() && version.iter().zip(pattern).all(|(&b, accept)| accept(b));
    if matches && !complete {
        None
    } else if matches && version.len() == pattern.len() {
        Some(ErrorKind::UnsupportedVersion.into())
    } else {
        Some(ErrorKind::Syntax("invalid http version").into())
    }
}

trait Describe {
    fn description_str(&self) -> &'static str;
}

impl Describe for httparse::Error {
    fn description_str(&self) -> &'static str {
        match self {
            httparse::Error::HeaderName => "invalid header name",
            httparse::Error::HeaderValue => "invalid header value",
            httparse::Error::NewLine => "invalid line ending",
            httparse::Error::Status => "invalid status",
            httparse::Error::Token => "invalid token in the request line",
            httparse::Error::TooManyHeaders => "too many headers",
            httparse::Error::Version => "invalid http version",
        }
    }
}

fn has_bare_lf(head: &[u8]) -> bool {
    let mut prev = 0u8;
    for &b in head {
        if b == b'\n' && prev != b'\r' {
            return true;
        }
        prev = b;
    }
    false
}

/// `Content-Length = 1*DIGIT` (RFC 9110 §8.6); no sign, no list, no overflow.
fn parse_content_length(value: &[u8]) -> Result<u64, Error> {
    parse_decimal(value).ok_or_else(|| ErrorKind::InvalidContentLength.into())
}

pub(crate) fn parse_decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// The codings named by the Transfer-Encoding fields of a request, in order.
#[derive(Default)]
struct TransferCodings {
    present: bool,
    last_is_chunked: bool,
    chunked_seen: bool,
    chunked_not_last: bool,
    other: bool,
}

impl TransferCodings {
    fn add(&mut self, value: &[u8]) -> Result<(), Error> {
        self.present = true;
        let mut any = false;
        for coding in list_elements(value) {
            any = true;
            // A transfer-coding may carry parameters (`name;param=value`).
            let name = match coding.iter().position(|&b| b == b';') {
                Some(semi) => trim_ows(&coding[..semi]),
                None => coding,
            };
            if self.last_is_chunked {
                self.chunked_not_last = true;
            }
            if name.eq_ignore_ascii_case(b"chunked") {
                if self.chunked_seen {
                    self.chunked_not_last = true;
                }
                self.chunked_seen = true;
                self.last_is_chunked = true;
            } else {
                self.other = true;
                self.last_is_chunked = false;
            }
        }
        if !any {
            return Err(ErrorKind::TransferEncodingNotChunked.into());
        }
        Ok(())
    }

    fn framing(&self) -> Result<BodyFraming, Error> {
        // RFC 9112 §6.3 item 4: chunked must be the final coding (and only once, §6.1),
        // otherwise the length is unknowable: 400.
        if !self.last_is_chunked || self.chunked_not_last {
            return Err(ErrorKind::TransferEncodingNotChunked.into());
        }
        // RFC 9112 §6.1: a coding the server does not implement (all but chunked): 501.
        if self.other {
            return Err(ErrorKind::UnknownTransferEncoding.into());
        }
        Ok(BodyFraming::Chunked)
    }
}

/// The non-empty elements of a comma-separated list field (RFC 9110 §5.6.1), trimmed.
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 9112 §3.2: origin-form (`/path?query`), absolute-form (`scheme://authority/...`),
/// authority-form (`host:port`, CONNECT only) and asterisk-form (`*`, OPTIONS only).
fn check_target(method: &str, target: &[u8]) -> Result<(), Error> {
    let bad = || Err(ErrorKind::Syntax("invalid request target").into());
    if method == "CONNECT" {
        return if is_authority(target, true) {
            Ok(())
        } else {
            bad()
        };
    }
    match target.first() {
        Some(b'/') => Ok(()),
        Some(b'*') if target.len() == 1 => {
            if method == "OPTIONS" {
                Ok(())
            } else {
                bad()
            }
        }
        _ => {
            // absolute-form: scheme "://" authority path-abempty [ "?" query ]
            let Some(colon) = target.iter().position(|&b| b == b':') else {
                return bad();
            };
            let scheme = &target[..colon];
            let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
                && scheme
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            let rest = &target[colon + 1..];
            if !scheme_ok || !rest.starts_with(b"//") {
                return bad();
            }
            let rest = &rest[2..];
            let end = rest
                .iter()
                .position(|&b| matches!(b, b'/' | b'?' | b'#'))
                .unwrap_or(rest.len());
            if is_authority(&rest[..end], false) {
                Ok(())
            } else {
                bad()
            }
        }
    }
}

/// `authority = [ userinfo "@" ] host [ ":" port ]` (RFC 3986 §3.2), with a non-empty host;
/// CONNECT's authority-form has no userinfo and needs the port.
fn is_authority(a: &[u8], connect: bool) -> bool {
    let hostport = match a.iter().rposition(|&b| b == b'@') {
        Some(at) if !connect => {
            if !a[..at]
                .iter()
                .all(|&b| is_unreserved_or_sub(b) || b == b':' || b == b'%')
            {
                return false;
            }
            &a[at + 1..]
        }
        Some(_) => return false,
        None => a,
    };
    let (host, port) = if let Some(inner) = hostport.strip_prefix(b"[") {
        let Some(close) = inner.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &inner[..close];
        if literal.is_empty()
            || !literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
        {
            // IPv6 addresses (and IPvFuture's common subset); zone ids are not allowed.
            return false;
        }
        let after = &inner[close + 1..];
        match after {
            [] => (literal, None),
            [b':', port @ ..] => (literal, Some(port)),
            _ => return false,
        }
    } else {
        match hostport.iter().rposition(|&b| b == b':') {
            Some(c) => (&hostport[..c], Some(&hostport[c + 1..])),
            None => (hostport, None),
        }
    };
    let host_ok = !host.is_empty()
        && (hostport.starts_with(b"[")
            || host.iter().all(|&b| is_unreserved_or_sub(b) || b == b'%'));
    let port_ok = match port {
        Some(p) => p.iter().all(u8::is_ascii_digit) && (!connect || !p.is_empty()),
        None => !connect,
    };
    host_ok && port_ok
}

fn is_unreserved_or_sub(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        )
}

/// The path and query of a request-target: origin-form, or absolute-form whose scheme and
/// authority are dropped (RFC 9112 §3.2.2: a server must accept it). The path is what
/// becomes `PATH_INFO` (after percent-decoding), the query `QUERY_STRING`.
#[inline]
pub fn split_target(target: &[u8]) -> (&[u8], &[u8]) {
    let mut t = target;
    for scheme in [&b"http://"[..], &b"https://"[..]] {
        if t.len() > scheme.len() && t[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &t[scheme.len()..];
            let slash = rest
                .iter()
                .position(|&c| c == b'/' || c == b'?')
                .unwrap_or(rest.len());
            t = &rest[slash..];
            break;
        }
    }
    match t.iter().position(|&c| c == b'?') {
        Some(i) => (&t[..i], &t[i + 1..]),
        None => (t, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Expect {
        Head(BodyFraming),
        Status(u16),
        Partial,
    }
    use Expect::{Head, Partial, Status};

    fn outcome(input: &[u8], limits: &Limits) -> Expect {
        match parse_request(input, limits) {
            Ok(Parsed::Complete((_, framing), n)) => {
                assert!(n <= input.len());
                Head(framing)
            }
            Ok(Parsed::Partial) => Partial,
            Err(e) => Status(e.status()),
        }
    }

    fn head(input: &[u8]) -> (RequestHead, BodyFraming, usize) {
        match parse_request(input, &Limits::default()) {
            Ok(Parsed::Complete((head, framing), n)) => (head, framing, n),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
        }
    }

    const H: &str = "Host: a\r\n";

    #[test]
    fn framing_and_rejections() {
        let cases: &[(&str, String, Expect)] = &[
            ("plain get", format!("GET / HTTP/1.1\r\n{H}\r\n"), Head(BodyFraming::None)),
            ("leading empty line", format!("\r\nGET / HTTP/1.1\r\n{H}\r\n"), Head(BodyFraming::None)),
            ("content-length", format!("POST / HTTP/1.1\r\n{H}Content-Length: 5\r\n\r\n"), Head(BodyFraming::Length(5))),
            ("content-length 0", format!("POST / HTTP/1.1\r\n{H}Content-Length: 0\r\n\r\n"), Head(BodyFraming::None)),
            ("content-length ows", format!("POST / HTTP/1.1\r\n{H}Content-Length:  7 \r\n\r\n"), Head(BodyFraming::Length(7))),
            ("chunked", format!("POST / HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n"), Head(BodyFraming::Chunked)),
            ("chunked any case", format!("POST / HTTP/1.1\r\n{H}transfer-encoding: ChUnKeD\r\n\r\n"), Head(BodyFraming::Chunked)),
            ("http/1.0 content-length", "POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n".into(), Head(BodyFraming::Length(3))),
            ("http/1.0 without host", "GET / HTTP/1.0\r\n\r\n".into(), Head(BodyFraming::None)),
            ("incomplete", format!("GET / HTTP/1.1\r\n{H}"), Partial),
            ("incomplete request line", "GET / HT".into(), Partial),
            ("incomplete version 2", "GET / HTTP/2".into(), Partial),
            // Framing (RFC 9112 §6).
            ("cl and te", format!("POST / HTTP/1.1\r\n{H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), Status(400)),
            ("te and cl", format!("POST / HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), Status(400)),
            ("cl list", format!("POST / HTTP/1.1\r\n{H}Content-Length: 5, 5\r\n\r\n"), Status(400)),
            ("cl repeated", format!("POST / HTTP/1.1\r\n{H}Content-Length: 5\r\nContent-Length: 5\r\n\r\n"), Status(400)),
            ("cl differing", format!("POST / HTTP/1.1\r\n{H}Content-Length: 5\r\nContent-Length: 6\r\n\r\n"), Status(400)),
            ("cl negative", format!("POST / HTTP/1.1\r\n{H}Content-Length: -1\r\n\r\n"), Status(400)),
            ("cl plus", format!("POST / HTTP/1.1\r\n{H}Content-Length: +5\r\n\r\n"), Status(400)),
            ("cl hex", format!("POST / HTTP/1.1\r\n{H}Content-Length: 0x5\r\n\r\n"), Status(400)),
            ("cl empty", format!("POST / HTTP/1.1\r\n{H}Content-Length: \r\n\r\n"), Status(400)),
            ("cl overflow", format!("POST / HTTP/1.1\r\n{H}Content-Length: 18446744073709551616\r\n\r\n"), Status(400)),
            ("te not final chunked", format!("POST / HTTP/1.1\r\n{H}Transfer-Encoding: chunked, gzip\r\n\r\n"), Status(400)),
            ("te identity", format!("POST / HTTP/1.1\r\n{H}Transfer-Encoding: identity\r\n\r\n"), Status(400)),
            ("te chunked twice", format!("POST / HTTP/1.1\r\n{H}Transfer-Encoding: chunked, chunked\r\n\r\n"), Status(400)),
            ("te chunked in two fields", format!("POST / HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), Status(400)),
            ("te empty", format!("POST / HTTP/1.1\r\n{H}Transfer-Encoding: \r\n\r\n"), Status(400)),
            ("te unknown coding", format!("POST / HTTP/1.1\r\n{H}Transfer-Encoding: gzip, chunked\r\n\r\n"), Status(501)),
            ("te unknown in two fields", format!("POST / HTTP/1.1\r\n{H}Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"), Status(501)),
            ("te in http/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n".into(), Status(400)),
            // Host (RFC 9112 §3.2).
            ("no host", "GET / HTTP/1.1\r\n\r\n".into(), Status(400)),
            ("two hosts", format!("GET / HTTP/1.1\r\n{H}{H}\r\n"), Status(400)),
            ("two hosts in 1.0", format!("GET / HTTP/1.0\r\n{H}{H}\r\n"), Status(400)),
            // Syntax.
            ("obs-fold", format!("GET / HTTP/1.1\r\n{H}X-A: b\r\n c\r\n\r\n"), Status(400)),
            ("space before colon", format!("GET / HTTP/1.1\r\n{H}X-A : b\r\n\r\n"), Status(400)),
            ("bare cr in value", format!("GET / HTTP/1.1\r\n{H}X-A: b\rc\r\n\r\n"), Status(400)),
            ("nul in value", format!("GET / HTTP/1.1\r\n{H}X-A: b\0c\r\n\r\n"), Status(400)),
            ("del in value", format!("GET / HTTP/1.1\r\n{H}X-A: b\x7fc\r\n\r\n"), Status(400)),
            ("bare lf line end", format!("GET / HTTP/1.1\n{H}\r\n"), Status(400)),
            ("bare lf header end", "GET / HTTP/1.1\r\nHost: a\n\r\n".into(), Status(400)),
            ("bad name token", format!("GET / HTTP/1.1\r\n{H}X(A): b\r\n\r\n"), Status(400)),
            ("empty name", format!("GET / HTTP/1.1\r\n{H}: b\r\n\r\n"), Status(400)),
            ("no colon", format!("GET / HTTP/1.1\r\n{H}X-A\r\n\r\n"), Status(400)),
            ("bad method", format!("G@T / HTTP/1.1\r\n{H}\r\n"), Status(400)),
            ("two spaces", format!("GET  / HTTP/1.1\r\n{H}\r\n"), Status(400)),
            ("no target", format!("GET HTTP/1.1\r\n{H}\r\n"), Status(400)),
            // Versions.
            ("http/2.0", format!("GET / HTTP/2.0\r\n{H}\r\n"), Status(505)),
            ("http/1.2", format!("GET / HTTP/1.2\r\n{H}\r\n"), Status(505)),
            ("http/0.9", format!("GET / HTTP/0.9\r\n{H}\r\n"), Status(400)),
            ("http/1.10", format!("GET / HTTP/1.10\r\n{H}\r\n"), Status(400)),
            ("ftp", format!("GET / FTP/1.1\r\n{H}\r\n"), Status(400)),
            ("lower-case version", format!("GET / http/1.1\r\n{H}\r\n"), Status(400)),
            // Request-target forms (RFC 9112 §3.2).
            ("asterisk options", format!("OPTIONS * HTTP/1.1\r\n{H}\r\n"), Head(BodyFraming::None)),
            ("asterisk get", format!("GET * HTTP/1.1\r\n{H}\r\n"), Status(400)),
            ("authority connect", format!("CONNECT example.com:443 HTTP/1.1\r\n{H}\r\n"), Head(BodyFraming::None)),
            ("authority ipv6 connect", format!("CONNECT [::1]:443 HTTP/1.1\r\n{H}\r\n"), Head(BodyFraming::None)),
            ("authority without port", format!("CONNECT example.com HTTP/1.1\r\n{H}\r\n"), Status(400)),
            ("connect origin-form", format!("CONNECT / HTTP/1.1\r\n{H}\r\n"), Status(400)),
            ("authority get", format!("GET example.com:443 HTTP/1.1\r\n{H}\r\n"), Status(400)),
            ("absolute", format!("GET http://example.com/x?y HTTP/1.1\r\n{H}\r\n"), Head(BodyFraming::None)),
            ("absolute ipv6", format!("GET http://[::1]:8080/ HTTP/1.1\r\n{H}\r\n"), Head(BodyFraming::None)),
            ("absolute bad host", format!("PUT s://]ufd/: HTTP/1.1\r\n{H}\r\n"), Status(400)),
            ("absolute empty host", format!("GET http:///x HTTP/1.1\r\n{H}\r\n"), Status(400)),
            ("relative", format!("GET foo/bar HTTP/1.1\r\n{H}\r\n"), Status(400)),
        ];
        for (name, input, expect) in cases {
            assert_eq!(
                outcome(input.as_bytes(), &Limits::default()),
                *expect,
                "{name}"
            );
        }
    }

    #[test]
    fn every_prefix_of_a_valid_head_is_partial() {
        let input = format!("POST /a?b HTTP/1.1\r\n{H}Content-Length: 5\r\nX-Y: z\r\n\r\n");
        for end in 0..input.len() {
            assert_eq!(
                outcome(&input.as_bytes()[..end], &Limits::default()),
                Partial,
                "{end}"
            );
        }
        assert_eq!(
            outcome(input.as_bytes(), &Limits::default()),
            Head(BodyFraming::Length(5))
        );
    }

    #[test]
    fn limits() {
        let small = Limits {
            buffer_size: 64,
            max_headers: 3,
        };
        let long_target = format!("GET /{} HTTP/1.1\r\n{H}\r\n", "a".repeat(100));
        // The request line alone is over the limit, complete or not: 414.
        assert_eq!(outcome(long_target.as_bytes(), &small), Status(414));
        assert_eq!(outcome(&long_target.as_bytes()[..64], &small), Status(414));
        assert_eq!(outcome(&long_target.as_bytes()[..63], &small), Partial);
        // The head is over the limit, the request line is not: 431.
        let long_header = format!("GET / HTTP/1.1\r\n{H}X-A: {}\r\n\r\n", "b".repeat(100));
        assert_eq!(outcome(long_header.as_bytes(), &small), Status(431));
        assert_eq!(outcome(&long_header.as_bytes()[..64], &small), Status(431));
        // A head of exactly buffer-size bytes fits.
        let exact = format!("GET / HTTP/1.1\r\n{H}X-A: {}\r\n\r\n", "b".repeat(64 - 34));
        assert_eq!(exact.len(), 64);
        assert_eq!(outcome(exact.as_bytes(), &small), Head(BodyFraming::None));
        // An error inside the first buffer-size bytes is the error; one past them is
        // the size (however much the client sent).
        let early = format!("GET / HTTP/1.1\r\nX A: b\r\n{}", "c".repeat(100));
        assert_eq!(outcome(early.as_bytes(), &small), Status(400));
        let late = format!("GET / HTTP/1.1\r\n{H}X-A: {}\0\r\n\r\n", "b".repeat(100));
        assert_eq!(outcome(late.as_bytes(), &small), Status(431));
        // Field count.
        let three = format!("GET / HTTP/1.1\r\n{H}A: 1\r\nB: 2\r\n\r\n");
        assert_eq!(outcome(three.as_bytes(), &small), Head(BodyFraming::None));
        let four = format!("GET / HTTP/1.1\r\n{H}A: 1\r\nB: 2\r\nC: 3\r\n\r\n");
        assert_eq!(outcome(four.as_bytes(), &small), Status(431));
        // More slots than the stack array holds.
        let many: String = (0..150).map(|i| format!("X-{i}: {i}\r\n")).collect();
        let input = format!("GET / HTTP/1.1\r\n{H}{many}\r\n");
        let big = Limits {
            buffer_size: 65536,
            max_headers: 200,
        };
        assert_eq!(outcome(input.as_bytes(), &big), Head(BodyFraming::None));
        assert_eq!(
            outcome(
                input.as_bytes(),
                &Limits {
                    max_headers: 150,
                    ..big
                }
            ),
            Status(431)
        );
        assert_eq!(outcome(input.as_bytes(), &Limits::default()), Status(431));
    }

    #[test]
    fn head_fields() {
        let input = b"PUT /p?q=1 HTTP/1.1\r\nHost: example.com\r\nX_Forwarded: evil\r\nContent_Length: 99\r\nX-Thing:  padded value \t\r\nContent-Length: 3\r\n\r\nabc";
        let (head, framing, n) = head(input);
        assert_eq!(head.method, "PUT");
        assert_eq!(head.target, b"/p?q=1");
        assert_eq!(head.version, Version::Http11);
        let names: Vec<&str> = head.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["Host", "X-Thing", "Content-Length"],
            "names with '_' dropped"
        );
        assert_eq!(head.headers[1].1, b"padded value");
        assert_eq!(
            framing,
            BodyFraming::Length(3),
            "Content_Length does not frame the body"
        );
        assert_eq!(&input[n..], b"abc");
        assert!(head.keep_alive);
        assert!(!head.expect_continue);
    }

    #[test]
    fn keep_alive_and_expect() {
        let cases: &[(&str, bool, bool)] = &[
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", true, false),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                false,
                false,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, Close\r\n\r\n",
                false,
                false,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
                true,
                false,
            ),
            ("GET / HTTP/1.0\r\n\r\n", false, false),
            (
                "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
                true,
                false,
            ),
            (
                "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
                false,
                false,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
                true,
                true,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nExpect: something\r\nContent-Length: 1\r\n\r\n",
                true,
                false,
            ),
            (
                "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
                false,
                false,
            ),
        ];
        for (input, keep_alive, expect_continue) in cases {
            let (head, _, _) = head(input.as_bytes());
            assert_eq!(head.keep_alive, *keep_alive, "{input:?}");
            assert_eq!(head.expect_continue, *expect_continue, "{input:?}");
        }
    }

    #[test]
    fn pipelined_heads_are_consumed_one_at_a_time() {
        let one = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
        let two = "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
        let input = format!("{one}{two}");
        let (first, _, n) = head(input.as_bytes());
        assert_eq!(first.target, b"/1");
        assert_eq!(n, one.len());
        let (second, _, m) = head(&input.as_bytes()[n..]);
        assert_eq!(second.target, b"/2");
        assert_eq!(m, two.len());
    }
}
