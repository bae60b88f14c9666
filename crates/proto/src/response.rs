//! Response heads, body framing and chunk encoding (RFC 9112 §4, §6, §7; RFC 9110 §6.4.1).

use crate::app_head::{is_field_value, is_header_name, latin1};
use crate::error::Error;
use crate::request::{parse_decimal, trim_ows};
use crate::Version;

/// How a response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// A `Content-Length` of this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The body ends when the connection closes.
    Close,
    /// No body is sent.
    NoBody,
}

/// What the server knows of the request a response answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseContext {
    /// The version of the request.
    pub version: Version,
    /// Whether the request was `HEAD`.
    pub head_request: bool,
    /// The request allows keep-alive and the server is not closing.
    pub keep_alive: bool,
    /// A uwsgi socket: never chunked, always ends by close.
    pub uwsgi: bool,
}

/// The framing of one response: how its body is delimited, whether the connection stays
/// open after it, and the `Content-Length` the server adds to the handler's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    /// How the body is delimited.
    pub body: ResponseFraming,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// A `Content-Length` the server writes: the handler gave none and the whole body
    /// (`whole_body` of [`response_framing`]) was known when the head went out.
    pub added_length: Option<u64>,
}

/// The `Content-Length` among a response's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclaredLength {
    /// No `Content-Length` header.
    None,
    /// One valid `Content-Length`.
    Valid(u64),
    /// A value that is not a decimal number, or two headers: not one to trust.
    Invalid,
}

/// Reads the `Content-Length` of a response's headers (the one parse [`response_framing`]
/// and a sender counting against it share).
pub fn declared_length(headers: &[(String, Vec<u8>)]) -> DeclaredLength {
    let mut found = DeclaredLength::None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("content-length") {
            found = match (found, parse_decimal(trim_ows(value))) {
                (DeclaredLength::None, Some(n)) => DeclaredLength::Valid(n),
                _ => DeclaredLength::Invalid,
            };
        }
    }
    found
}

/// Decides the framing and whether the connection stays open.
///
/// - 1xx, 204, 304 and any answer to HEAD have no body (RFC 9110 §6.4.1): `NoBody`.
/// - A valid `Content-Length` from the handler frames the body: `Length(n)`.
/// - Without one, when the whole body is known (`whole_body`: the handler gave head and
///   body at once) and the status allows a body, the server adds `Content-Length` (also
///   to the answer to HEAD, which announces the length of the body it omits).
/// - Otherwise HTTP/1.1 gets `Chunked`, HTTP/1.0 gets `Close`.
/// - On a uwsgi socket the connection always closes after the response, and the body is
///   never chunked (nginx reads to EOF): `Length(n)` if known, else `Close`.
///
/// The connection stays open only if `ctx.keep_alive`, the socket is HTTP, the body is
/// not ended by closing, and the handler did not send `Connection: close`.
pub fn response_framing(
    status: u16,
    headers: &[(String, Vec<u8>)],
    ctx: &ResponseContext,
    whole_body: Option<u64>,
) -> Framing {
    let content_length = declared_length(headers);
    let handler_closes = headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("connection")
            && value
                .split(|&b| b == b',')
                .any(|t| trim_ows(t).eq_ignore_ascii_case(b"close"))
    });
    let no_body = (100..200).contains(&status) || status == 204 || status == 304;
    let added_length = match content_length {
        DeclaredLength::None if !no_body => whole_body,
        _ => None,
    };
    let length = match content_length {
        DeclaredLength::Valid(n) => Some(n),
        _ => added_length,
    };
    let body = if no_body || ctx.head_request {
        ResponseFraming::NoBody
    } else {
        match length {
            Some(n) => ResponseFraming::Length(n),
            None if ctx.uwsgi || ctx.version == Version::Http10 => ResponseFraming::Close,
            None => ResponseFraming::Chunked,
        }
    };
    let keep_alive =
        ctx.keep_alive && !ctx.uwsgi && !handler_closes && body != ResponseFraming::Close;
    Framing {
        body,
        keep_alive,
        added_length,
    }
}

/// Writes the response head to `out`: the status line in the request's version, the
/// handler's headers, the framing and connection headers, and the empty line.
///
/// The status line is the code and `reason` as given, if the code has three digits and the
/// reason is latin-1 field text; otherwise it says `500 Internal Server Error`.
///
/// The handler's `Transfer-Encoding` and `Connection` fields are replaced by ours, which
/// always agree with `framing`; a `Content-Length` is kept only where the framing allows
/// one (Length, and HEAD / 304 answers, RFC 9110 §8.6), and `framing.added_length` is
/// written after the handler's fields. The reason phrase is written in latin-1. A header
/// whose name is not a token or whose value is not [`is_field_value`] is left out
/// (response splitting); the WSGI layer refuses such a head before it gets here
/// ([`check_status`](crate::check_status), [`check_header`](crate::check_header)).
pub fn encode_response_head(
    status: u16,
    reason: &str,
    headers: &[(String, Vec<u8>)],
    framing: &Framing,
    ctx: &ResponseContext,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(match ctx.version {
        Version::Http10 => b"HTTP/1.0 ",
        Version::Http11 => b"HTTP/1.1 ",
    });
    // A status the WSGI layer should have refused is never written as given.
    let reason = latin1(reason).filter(|r| is_field_value(r));
    let code = if let (true, Some(reason)) = ((100..=999).contains(&status), reason) {
        encode_decimal(u64::from(status), out);
        out.push(b' ');
        out.extend_from_slice(&reason);
        status
    } else {
        out.extend_from_slice(b"500 Internal Server Error");
        500
    };
    out.extend_from_slice(b"\r\n");
    let keep_length = match framing.body {
        ResponseFraming::Length(_) => true,
        ResponseFraming::NoBody => code == 304 || (ctx.head_request && code >= 200 && code != 204),
        ResponseFraming::Chunked | ResponseFraming::Close => false,
    };
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("transfer-encoding") || name.eq_ignore_ascii_case("connection")
        {
            continue;
        }
        if name.eq_ignore_ascii_case("content-length") && !keep_length {
            continue;
        }
        if !is_header_name(name) || !is_field_value(value) {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(n) = framing.added_length.filter(|_| keep_length) {
        out.extend_from_slice(b"Content-Length: ");
        encode_decimal(n, out);
        out.extend_from_slice(b"\r\n");
    }
    if framing.body == ResponseFraming::Chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    if !ctx.uwsgi {
        if !framing.keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if ctx.version == Version::Http10 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal.
fn encode_decimal(n: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(decimal(n, &mut [0; 20]));
}

/// `n` in decimal ASCII digits, written at the end of `buf` (20 bytes hold any `u64`),
/// without the formatting machinery or a temporary `String`: status codes and
/// `Content-Length` here, ports in the WSGI environ.
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Appends one chunk holding `data` (nothing if `data` is empty, which would end the body).
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    out.reserve(16 + 4 + data.len());
    encode_chunk_size(data.len() as u64, out);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the size line (`<hex>\r\n`) of a chunk of `len` bytes whose data the caller
/// sends separately (a large buffer or a file range), followed by `\r\n` after the data.
/// `len` must not be 0, which would end the body.
pub fn encode_chunk_size(len: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 16];
    let mut n = len;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// Appends the last chunk and the empty trailer section (`0\r\n\r\n`).
pub fn encode_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

/// The standard reason phrase of `status` (RFC 9110 §15), for the statuses a server
/// writes itself (this crate's refusals, the event loop's routing answers).
pub fn reason_phrase(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        418 => "I'm a teapot",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => return None,
    })
}

/// Appends a complete error response for a rejected request: status line,
/// `Content-Type: text/plain`, `Content-Length`, `Connection: close`, and a short body
/// naming the problem.
pub fn error_response(err: &Error, out: &mut Vec<u8>) {
    let status = err.status();
    let reason = reason_phrase(status).unwrap_or("Error");
    let body = format!("{status} {reason}: {err}\n");
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    const HTTP11: ResponseContext = ResponseContext {
        version: Version::Http11,
        head_request: false,
        keep_alive: true,
        uwsgi: false,
    };

    /// The answer to a HEAD request.
    const HEAD: ResponseContext = ResponseContext {
        head_request: true,
        ..HTTP11
    };

    /// An answer on a uwsgi socket (one request per connection).
    const UWSGI: ResponseContext = ResponseContext {
        uwsgi: true,
        keep_alive: false,
        ..HTTP11
    };

    fn hdrs(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn framing_table() {
        use ResponseFraming::*;
        let http10 = ResponseContext {
            version: Version::Http10,
            ..HTTP11
        };
        let closing = ResponseContext {
            keep_alive: false,
            ..HTTP11
        };
        let cl = hdrs(&[("Content-Length", "5")]);
        let none = hdrs(&[("Content-Type", "text/plain")]);
        let bad_cl = hdrs(&[("Content-Length", "5x")]);
        let two_cl = hdrs(&[("Content-Length", "5"), ("content-length", "6")]);
        let app_close = hdrs(&[("Content-Length", "5"), ("Connection", "close")]);
        type Case<'a> = (
            &'a str,
            u16,
            &'a [(String, Vec<u8>)],
            ResponseContext,
            ResponseFraming,
            bool,
        );
        let cases: &[Case<'_>] = &[
            ("1.1 length", 200, &cl, HTTP11, Length(5), true),
            ("1.1 no length", 200, &none, HTTP11, Chunked, true),
            ("1.1 bad length", 200, &bad_cl, HTTP11, Chunked, true),
            ("1.1 two lengths", 200, &two_cl, HTTP11, Chunked, true),
            ("1.1 closing", 200, &cl, closing, Length(5), false),
            ("1.1 closing chunked", 200, &none, closing, Chunked, false),
            ("app says close", 200, &app_close, HTTP11, Length(5), false),
            ("1.0 length", 200, &cl, http10, Length(5), true),
            ("1.0 no length", 200, &none, http10, Close, false),
            ("head", 200, &cl, HEAD, NoBody, true),
            ("head no length", 200, &none, HEAD, NoBody, true),
            ("204", 204, &none, HTTP11, NoBody, true),
            ("304", 304, &cl, HTTP11, NoBody, true),
            ("101", 101, &none, HTTP11, NoBody, true),
            ("uwsgi length", 200, &cl, UWSGI, Length(5), false),
            ("uwsgi no length", 200, &none, UWSGI, Close, false),
            (
                "uwsgi kept",
                200,
                &none,
                ResponseContext {
                    keep_alive: true,
                    ..UWSGI
                },
                Close,
                false,
            ),
            (
                "uwsgi head",
                200,
                &cl,
                ResponseContext {
                    head_request: true,
                    ..UWSGI
                },
                NoBody,
                false,
            ),
        ];
        for (name, status, headers, ctx, framing, keep_alive) in cases {
            let got = response_framing(*status, headers, ctx, None);
            assert_eq!(
                (got.body, got.keep_alive),
                (*framing, *keep_alive),
                "{name}"
            );
            assert_eq!(got.added_length, None, "{name}");
        }
    }

    #[test]
    fn decimal_writes_every_u64() {
        for (n, text) in [
            (0, "0"),
            (7, "7"),
            (65535, "65535"),
            (u64::MAX, "18446744073709551615"),
        ] {
            assert_eq!(decimal(n, &mut [0; 20]), text.as_bytes());
        }
    }

    #[test]
    fn a_known_whole_body_gets_a_content_length() {
        use ResponseFraming::*;
        let none = hdrs(&[("Content-Type", "text/plain")]);
        let cl = hdrs(&[("Content-Length", "5")]);
        type Case<'a> = (
            &'a str,
            u16,
            &'a [(String, Vec<u8>)],
            ResponseContext,
            Framing,
        );
        let cases: &[Case<'_>] = &[
            (
                "added",
                200,
                &none,
                HTTP11,
                Framing {
                    body: Length(7),
                    keep_alive: true,
                    added_length: Some(7),
                },
            ),
            (
                "the app's wins",
                200,
                &cl,
                HTTP11,
                Framing {
                    body: Length(5),
                    keep_alive: true,
                    added_length: None,
                },
            ),
            (
                "head announces it",
                200,
                &none,
                HEAD,
                Framing {
                    body: NoBody,
                    keep_alive: true,
                    added_length: Some(7),
                },
            ),
            (
                "not on 204",
                204,
                &none,
                HTTP11,
                Framing {
                    body: NoBody,
                    keep_alive: true,
                    added_length: None,
                },
            ),
            (
                "not on 304",
                304,
                &none,
                HTTP11,
                Framing {
                    body: NoBody,
                    keep_alive: true,
                    added_length: None,
                },
            ),
            (
                "uwsgi",
                200,
                &none,
                UWSGI,
                Framing {
                    body: Length(7),
                    keep_alive: false,
                    added_length: Some(7),
                },
            ),
        ];
        for (name, status, headers, ctx, want) in cases {
            assert_eq!(
                response_framing(*status, headers, ctx, Some(7)),
                *want,
                "{name}"
            );
        }
    }

    fn head_with(
        status: &str,
        list: &[(&str, &str)],
        ctx: ResponseContext,
        whole: Option<u64>,
    ) -> String {
        let headers = hdrs(list);
        let code = crate::app_head::status_code(status).unwrap();
        let framing = response_framing(code, &headers, &ctx, whole);
        let mut out = Vec::new();
        encode_response_head(code, &status[4..], &headers, &framing, &ctx, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn head(status: &str, list: &[(&str, &str)], ctx: ResponseContext) -> String {
        head_with(status, list, ctx, None)
    }

    #[test]
    fn heads_on_the_wire() {
        let http10 = ResponseContext {
            version: Version::Http10,
            ..HTTP11
        };
        let cases: &[(&str, String, &str)] = &[
            (
                "1.1 length",
                head(
                    "200 OK",
                    &[("Content-Type", "text/plain"), ("Content-Length", "2")],
                    HTTP11,
                ),
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n",
            ),
            (
                "1.1 chunked",
                head("200 OK", &[("X-A", "b")], HTTP11),
                "HTTP/1.1 200 OK\r\nX-A: b\r\nTransfer-Encoding: chunked\r\n\r\n",
            ),
            (
                "1.1 closing",
                head(
                    "200 OK",
                    &[("Content-Length", "2")],
                    ResponseContext {
                        keep_alive: false,
                        ..HTTP11
                    },
                ),
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
            ),
            (
                "1.0 keep-alive",
                head("200 OK", &[("Content-Length", "2")], http10),
                "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n",
            ),
            (
                "1.0 close-delimited",
                head("200 OK", &[], http10),
                "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n",
            ),
            (
                "head keeps length",
                head(
                    "200 OK",
                    &[("Content-Length", "10")],
                    ResponseContext {
                        head_request: true,
                        ..HTTP11
                    },
                ),
                "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
            ),
            (
                "204 drops length",
                head("204 No Content", &[("Content-Length", "0")], HTTP11),
                "HTTP/1.1 204 No Content\r\n\r\n",
            ),
            (
                "304 keeps length",
                head("304 Not Modified", &[("Content-Length", "10")], HTTP11),
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
            ),
            (
                "app hop-by-hop replaced",
                head(
                    "200 OK",
                    &[
                        ("Transfer-Encoding", "chunked"),
                        ("Connection", "close"),
                        ("Content-Length", "1"),
                    ],
                    HTTP11,
                ),
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n",
            ),
            (
                "bad length dropped",
                head("200 OK", &[("Content-Length", "x")], HTTP11),
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            ),
            (
                "response splitting refused",
                head(
                    "200 OK",
                    &[
                        ("X-A", "b\r\nSet-Cookie: x"),
                        ("X B", "c"),
                        ("Content-Length", "0"),
                    ],
                    HTTP11,
                ),
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            ),
            (
                "bad status",
                {
                    let ctx = HTTP11;
                    let mut out = Vec::new();
                    let framing = Framing {
                        body: ResponseFraming::Length(0),
                        keep_alive: true,
                        added_length: None,
                    };
                    encode_response_head(42, "OK", &[], &framing, &ctx, &mut out);
                    String::from_utf8(out).unwrap()
                },
                "HTTP/1.1 500 Internal Server Error\r\n\r\n",
            ),
            (
                "uwsgi: never chunked, no connection header",
                head(
                    "200 OK",
                    &[("X-A", "b")],
                    ResponseContext {
                        uwsgi: true,
                        keep_alive: false,
                        ..HTTP11
                    },
                ),
                "HTTP/1.1 200 OK\r\nX-A: b\r\n\r\n",
            ),
            (
                "bad reason",
                {
                    let mut out = Vec::new();
                    let framing = response_framing(200, &[], &HTTP11, Some(0));
                    encode_response_head(200, "OK\r\nX: y", &[], &framing, &HTTP11, &mut out);
                    String::from_utf8(out).unwrap()
                },
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
            ),
            (
                "added length after the app's headers",
                head_with(
                    "200 OK",
                    &[("Content-Type", "text/plain")],
                    HTTP11,
                    Some(12345),
                ),
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12345\r\n\r\n",
            ),
            (
                "head: the added length announced",
                head_with(
                    "200 OK",
                    &[],
                    ResponseContext {
                        head_request: true,
                        ..HTTP11
                    },
                    Some(0),
                ),
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            ),
            (
                "an empty reason as given",
                head_with("200 ", &[], HTTP11, Some(0)),
                "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
            ),
        ];
        for (name, got, want) in cases {
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn declared_lengths() {
        use DeclaredLength::*;
        for (list, want) in [
            (&[][..], None),
            (&[("X-A", "1")][..], None),
            (&[("content-length", " 12 ")][..], Valid(12)),
            (&[("Content-Length", "x")][..], Invalid),
            (
                &[("Content-Length", "1"), ("Content-Length", "1")][..],
                Invalid,
            ),
        ] {
            assert_eq!(declared_length(&hdrs(list)), want, "{list:?}");
        }
    }

    #[test]
    fn chunks() {
        let mut out = Vec::new();
        encode_chunk(b"hello", &mut out);
        encode_chunk(b"", &mut out);
        encode_chunk(&[b'x'; 0x1a2], &mut out);
        encode_last_chunk(&mut out);
        let mut want = b"5\r\nhello\r\n1a2\r\n".to_vec();
        want.extend_from_slice(&[b'x'; 0x1a2]);
        want.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(out, want);
        // What we encode, our decoder reads back.
        let mut body = Vec::new();
        let d = crate::ChunkedDecoder::new()
            .decode(&out, &mut body)
            .unwrap();
        assert!(d.done);
        assert_eq!(d.consumed, out.len());
        assert_eq!(body.len(), 5 + 0x1a2);
    }

    #[test]
    fn chunk_size_lines() {
        for (len, want) in [
            (1u64, "1\r\n"),
            (0xf, "f\r\n"),
            (0x10, "10\r\n"),
            (1 << 20, "100000\r\n"),
            (u64::MAX, "ffffffffffffffff\r\n"),
        ] {
            let mut out = b"x".to_vec();
            encode_chunk_size(len, &mut out);
            assert_eq!(out, format!("x{want}").into_bytes(), "{len}");
        }
    }

    #[test]
    fn error_responses() {
        for (kind, status) in [
            (ErrorKind::MissingHost, 400),
            (ErrorKind::RequestLineTooLong, 414),
            (ErrorKind::HeadersTooLarge, 431),
            (ErrorKind::TooManyHeaders, 431),
            (ErrorKind::UnsupportedVersion, 505),
            (ErrorKind::UnknownTransferEncoding, 501),
            (ErrorKind::PayloadTooLarge, 413),
            (ErrorKind::SpillLimit, 413),
            (ErrorKind::SpillFull, 503),
        ] {
            let err = Error::new(kind);
            let mut out = Vec::new();
            error_response(&err, &mut out);
            let text = String::from_utf8(out).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let mut lines = head.split("\r\n");
            let status_line = lines.next().unwrap();
            assert!(
                status_line.starts_with(&format!("HTTP/1.1 {status} ")),
                "{status_line}"
            );
            let fields: Vec<&str> = lines.collect();
            assert!(fields.contains(&"Content-Type: text/plain"));
            assert!(fields.contains(&"Connection: close"));
            assert!(fields.contains(&format!("Content-Length: {}", body.len()).as_str()));
            assert!(body.contains(&err.to_string()), "{body}");
        }
    }

    #[test]
    fn a_reason_phrase_goes_out_in_latin_1() {
        let framing = response_framing(200, &[], &HTTP11, Some(0));
        let mut out = Vec::new();
        encode_response_head(299, "Ünï", &[], &framing, &HTTP11, &mut out);
        assert!(out.starts_with(b"HTTP/1.1 299 \xdcn\xef\r\n"), "{out:?}");
        // Past latin-1, or a control character: not written as given.
        for reason in ["€", "a\x01"] {
            out.clear();
            encode_response_head(200, reason, &[], &framing, &HTTP11, &mut out);
            assert!(out.starts_with(b"HTTP/1.1 500 "), "{reason:?}");
        }
    }
}
