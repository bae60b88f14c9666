//! ruwsgi-proto: the sans-IO codecs of ruwsgi.
//!
//! Bytes in, values out: nothing here reads a socket, allocates a body buffer or knows of
//! Python. The event loop owns the buffers and calls these functions on what it has read.
//!
//! # Requests
//!
//! - [`parse_request`] reads an HTTP/1.x request head from the front of a buffer and says
//!   how its body is framed ([`BodyFraming`]). It returns [`Parsed::Partial`] while the head
//!   is incomplete, [`Parsed::Complete`] with the bytes used, or an [`Error`] whose
//!   [`Error::status`] is the answer to send before closing.
//! - [`ChunkedDecoder`] removes the chunked coding from a body, incrementally.
//! - [`parse_uwsgi`] reads a uwsgi packet ([`UwsgiPacket`]), as nginx's `uwsgi_pass` sends it;
//!   [`encode_uwsgi`] writes one.
//!
//! # Responses
//!
//! - [`response_framing`] picks Content-Length, chunked, close or no body from the status,
//!   the handler's headers, the [`ResponseContext`] and the body's length when it is known
//!   whole, says whether the connection stays open and which `Content-Length` the server
//!   adds ([`Framing`]); [`encode_response_head`] writes the head that matches.
//! - [`encode_chunk`] (or [`encode_chunk_size`] around data sent apart) and
//!   [`encode_last_chunk`] frame a chunked body; [`error_response`]
//!   writes the whole answer to a rejected request.
//!
//! # Decisions
//!
//! The head syntax is httparse's (strict: no whitespace before the colon, no obs-fold, no
//! bare CR, no NUL or other control bytes in values, token methods and names). On top of it:
//!
//! | Input | Answer | Why |
//! |---|---|---|
//! | request line longer than `buffer-size` | 414 | RFC 9110 §15.5.15 |
//! | head longer than `buffer-size`, more than `max_headers` fields | 431 | RFC 6585 §5 |
//! | `HTTP/x.y` other than 1.0 and 1.1 (e.g. `HTTP/2.0`, `HTTP/1.2`) | 505 | RFC 9110 §15.6.6; httparse cannot read 1.2 as 1.1 |
//! | any other version string | 400 | not HTTP |
//! | a bare LF as line end | 400 | RFC 9112 §2.2 allows it, but a proxy that disagrees is a smuggling vector |
//! | HTTP/1.1 without Host, or two Host fields | 400 | RFC 9112 §3.2 |
//! | `*` without OPTIONS, authority-form without CONNECT, relative or malformed targets | 400 | RFC 9112 §3.2 |
//! | Content-Length not `1*DIGIT`, a list (`5, 5`), repeated (even if equal), overflowing | 400 | RFC 9112 §6.3 (5); repeats refused to be safe |
//! | Content-Length and Transfer-Encoding | 400 | RFC 9112 §6.3 (3): reject rather than guess |
//! | Transfer-Encoding in HTTP/1.0 | 400 | RFC 9112 §6.1: framing is faulty |
//! | Transfer-Encoding whose final coding is not a single `chunked` (incl. `identity`) | 400 | RFC 9112 §6.3 (4) |
//! | other codings before `chunked` (`gzip, chunked`) | 501 | RFC 9112 §6.1; only chunked is implemented |
//! | a header name containing `_` | dropped | `X_Foo` and `X-Foo` both map to `HTTP_X_FOO`; nginx drops them too |
//! | chunk size not `1*HEXDIG`, over 64 bits, whitespace without an extension, bare CR/LF | 400 | RFC 9112 §7.1 |
//! | trailer fields | checked, dropped | `Content-Length`, `Transfer-Encoding`, `Host` there: 400 (RFC 9110 §6.5.1) |
//! | uwsgi packet over `buffer-size` | 431 | uWSGI refuses it too ("increase buffer size") |
//!
//! Methods are any RFC 9110 token (lower case too), request targets any bytes httparse
//! allows (including obs-text and `#`): they go to the application unchanged.
//! `Expect: 100-continue` is honoured on HTTP/1.1 only (RFC 9110 §10.1.1). HTTP/1.1
//! connections stay open unless `Connection: close`; HTTP/1.0 ones only with
//! `Connection: keep-alive`.
//!
//! Responses: answers to HEAD and 1xx/204/304 have no body; a HEAD or 304 answer keeps the
//! handler's Content-Length. Without a Content-Length, HTTP/1.1 responses are chunked and
//! HTTP/1.0 ones end by close. On uwsgi sockets a response is never chunked and always
//! ends the connection. A server that closes after a response says `Connection: close`; an
//! HTTP/1.0 response on a kept connection says `Connection: keep-alive`.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod app_head;
mod chunked;
mod error;
mod percent;
mod request;
mod response;
mod uwsgi;

pub use app_head::{
    check_header, check_status, is_field_value, is_header_name, latin1, status_code, HeaderError,
};
pub use chunked::{is_token_byte, ChunkedDecoder, Decoded};
pub use error::{Error, ErrorKind};
pub use percent::percent_decode;
pub use request::{parse_request, split_target, BodyFraming, Limits, Parsed};
pub use response::{
    decimal, declared_length, encode_chunk, encode_chunk_size, encode_last_chunk,
    encode_response_head, error_response, reason_phrase, response_framing, DeclaredLength, Framing,
    ResponseContext, ResponseFraming,
};
pub use uwsgi::{encode_uwsgi, parse_uwsgi};

/// The HTTP version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0
    Http10,
    /// HTTP/1.1
    Http11,
}

/// A validated HTTP/1.x request head.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The method token, e.g. `GET`.
    pub method: String,
    /// The raw request-target bytes as sent (not percent-decoded).
    pub target: Vec<u8>,
    /// The HTTP version.
    pub version: Version,
    /// Header names (as sent) and values, in order; names with `_` already dropped.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Whether the connection may be kept alive after this request.
    pub keep_alive: bool,
    /// Whether the client sent `Expect: 100-continue`.
    pub expect_continue: bool,
}

/// A uwsgi request packet.
#[derive(Debug, Clone)]
pub struct UwsgiPacket {
    /// modifier1 (0 for WSGI requests).
    pub modifier1: u8,
    /// modifier2.
    pub modifier2: u8,
    /// The vars, in order, as raw bytes.
    pub vars: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
