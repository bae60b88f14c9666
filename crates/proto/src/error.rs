//! The one error type of this crate: why a request (or packet) was rejected.

use std::fmt;

/// Why a request was rejected.
///
/// [`Error::status`] is the HTTP status to answer with (400, 413, 414, 431, 501, 505; 503
/// for [`ErrorKind::SpillFull`], a busy server; and 500 for [`ErrorKind::UwsgiEncode`],
/// the one error the server itself causes);
/// `Display` is a lower-case message for the log. [`error_response`](crate::error_response)
/// writes the whole answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
}

/// The kinds of [`Error`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request line or headers are not valid HTTP/1.x syntax (httparse's reason).
    Syntax(&'static str),
    /// The request line is longer than `buffer-size`.
    RequestLineTooLong,
    /// The request head is longer than `buffer-size`.
    HeadersTooLarge,
    /// More header fields than `max_headers`.
    TooManyHeaders,
    /// An HTTP version other than 1.0 or 1.1.
    UnsupportedVersion,
    /// A header value contains a byte RFC 9110 §5.5 forbids (NUL, bare CR, LF).
    InvalidHeaderValue,
    /// An HTTP/1.1 request without a `Host` header (RFC 9112 §3.2), or several.
    MissingHost,
    /// Both `Content-Length` and `Transfer-Encoding` (RFC 9112 §6.3 item 3).
    ContentLengthAndTransferEncoding,
    /// A `Content-Length` that is not one non-negative decimal number, or several that differ.
    InvalidContentLength,
    /// A `Transfer-Encoding` whose final coding is not `chunked` (RFC 9112 §6.3 item 4).
    TransferEncodingNotChunked,
    /// A transfer coding this server does not implement (RFC 9112 §6.1: 501).
    UnknownTransferEncoding,
    /// A chunk size line that is not hex digits, too large, or malformed chunk framing.
    InvalidChunk,
    /// A malformed chunk trailer line, or one naming a forbidden field (RFC 9110 §6.5.1).
    InvalidTrailer,
    /// A uwsgi packet that is malformed (a var running past the packet end).
    InvalidUwsgiPacket,
    /// A uwsgi packet larger than `buffer-size`.
    UwsgiPacketTooLarge,
    /// A uwsgi var too long to encode (over 65535 bytes), or a packet over 65535 bytes.
    UwsgiEncode,
    /// A request body larger than `limit-post`.
    PayloadTooLarge,
    /// A request body that would go to a temp file and is alone larger than the worker's
    /// spill bound (`limit-spill`).
    SpillLimit,
    /// A request body that would go to a temp file while the worker's spill bound is taken
    /// by other bodies: the server is busy, not the request wrong (503).
    SpillFull,
}

impl Error {
    /// An error of the given kind.
    pub fn new(kind: ErrorKind) -> Error {
        Error { kind }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Whether the error ends a request (every kind but [`ErrorKind::UwsgiEncode`]): answer
    /// it with [`Error::status`] and close the connection.
    pub fn is_client_error(&self) -> bool {
        self.kind != ErrorKind::UwsgiEncode
    }

    /// The HTTP status code to answer the client with.
    pub fn status(&self) -> u16 {
        match self.kind {
            ErrorKind::RequestLineTooLong => 414,
            ErrorKind::HeadersTooLarge | ErrorKind::TooManyHeaders => 431,
            ErrorKind::UwsgiPacketTooLarge => 431,
            ErrorKind::UnsupportedVersion => 505,
            ErrorKind::UnknownTransferEncoding => 501,
            ErrorKind::PayloadTooLarge | ErrorKind::SpillLimit => 413,
            ErrorKind::SpillFull => 503,
            ErrorKind::UwsgiEncode => 500,
            _ => 400,
        }
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error { kind }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::Syntax(why) => write!(f, "malformed request head: {why}"),
            ErrorKind::RequestLineTooLong => {
                f.write_str("request line longer than buffer-size (raise --buffer-size)")
            }
            ErrorKind::HeadersTooLarge => {
                f.write_str("request headers larger than buffer-size (raise --buffer-size)")
            }
            ErrorKind::TooManyHeaders => f.write_str("too many request header fields"),
            ErrorKind::UnsupportedVersion => f.write_str("unsupported http version"),
            ErrorKind::InvalidHeaderValue => f.write_str("invalid byte in a header value"),
            ErrorKind::MissingHost => {
                f.write_str("http/1.1 request without exactly one host header")
            }
            ErrorKind::ContentLengthAndTransferEncoding => {
                f.write_str("both content-length and transfer-encoding")
            }
            ErrorKind::InvalidContentLength => f.write_str("invalid content-length"),
            ErrorKind::TransferEncodingNotChunked => {
                f.write_str("transfer-encoding does not end in chunked")
            }
            ErrorKind::UnknownTransferEncoding => f.write_str("unsupported transfer-encoding"),
            ErrorKind::InvalidChunk => f.write_str("invalid chunked body"),
            ErrorKind::InvalidTrailer => f.write_str("invalid or forbidden chunked trailer field"),
            ErrorKind::InvalidUwsgiPacket => f.write_str("malformed uwsgi packet"),
            ErrorKind::UwsgiPacketTooLarge => {
                f.write_str("uwsgi packet larger than buffer-size (raise --buffer-size)")
            }
            ErrorKind::UwsgiEncode => f.write_str("uwsgi var or packet over 65535 bytes"),
            ErrorKind::PayloadTooLarge => f.write_str("request body larger than limit-post"),
            ErrorKind::SpillLimit => f.write_str(
                "request body larger than limit-spill, the most bytes a worker keeps in temp files",
            ),
            ErrorKind::SpillFull => f.write_str(
                "the worker's temp-file space for request bodies (limit-spill) is in use; try again",
            ),
        }
    }
}

impl std::error::Error for Error {}
