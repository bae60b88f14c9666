//! ruwsgi-proto: sans-IO codecs (to be filled by the serving issue).
//!
//! The two request types below are the contract with `ruwsgi-event-loop` and `ruwsgi-wsgi`.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

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
