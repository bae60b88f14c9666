//! The incremental chunked transfer-coding decoder (RFC 9112 §7.1).
//!
//! ```text
//! chunked-body = *chunk last-chunk trailer-section CRLF
//! chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! chunk-size   = 1*HEXDIG
//! chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//! ```
//!
//! Strict where leniency lets two parsers disagree on where a body ends: every line ends
//! in CRLF (no bare LF, no bare CR), a size is hex digits only (no sign, no `0x`, no
//! whitespace unless an extension follows), and a size that overflows 64 bits is refused.
//! Extensions are checked for control bytes and skipped; trailer fields are checked
//! (a token name, a colon, a clean value; never `Content-Length`, `Transfer-Encoding` or
//! `Host`, RFC 9110 §6.5.1) and dropped.

use crate::error::{Error, ErrorKind};

/// The longest chunk extension accepted on one size line.
const MAX_EXTENSION: usize = 4096;
/// The most trailer bytes accepted (all trailer lines together).
const MAX_TRAILERS: usize = 8192;

/// Incremental chunked-body decoder (extensions and trailers consumed and ignored).
#[derive(Debug, Clone, Default)]
pub struct ChunkedDecoder {
    state: State,
    /// The current trailer line, kept only while trailers are being read.
    trailer: Vec<u8>,
    trailer_total: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    /// Reading the hex digits of a chunk size.
    #[default]
    SizeStart,
    Size(u64),
    /// Whitespace after the size: only an extension may follow.
    SizeWs(u64),
    /// Inside `;ext...` of a size line.
    Extension(u64, usize),
    /// The CR of a size line was read.
    SizeLf(u64),
    /// This many data bytes of the current chunk remain.
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line or of the final CRLF.
    TrailerStart,
    TrailerLine,
    TrailerLf,
    FinalLf,
    Done,
}

/// What one [`ChunkedDecoder::decode`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of input used.
    pub consumed: usize,
    /// Whether the body (last chunk and trailers) is complete.
    pub done: bool,
}

fn invalid() -> Error {
    ErrorKind::InvalidChunk.into()
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder::default()
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input`, appending body bytes to `out`; `consumed` bytes of input used.
    ///
    /// Input is used up to the end of the body and no further, so the bytes after it (a
    /// pipelined request) stay with the caller. Once an error is returned the decoder
    /// must not be used again.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Decoded, Error> {
        let mut i = 0;
        while i < input.len() {
            if let State::Data(remaining) = self.state {
                let take = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len() - i);
                out.extend_from_slice(&input[i..i + take]);
                i += take;
                let left = remaining - take as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data(left)
                };
                continue;
            }
            let b = input[i];
            i += 1;
            self.state = match self.state {
                State::SizeStart => match hex(b) {
                    Some(d) => State::Size(u64::from(d)),
                    None => return Err(invalid()),
                },
                State::Size(n) => match b {
                    b'\r' => State::SizeLf(n),
                    b';' => State::Extension(n, 0),
                    b' ' | b'\t' => State::SizeWs(n),
                    _ => match hex(b) {
                        Some(d) if n >> 60 == 0 => State::Size(n << 4 | u64::from(d)),
                        _ => return Err(invalid()),
                    },
                },
                State::SizeWs(n) => match b {
                    b' ' | b'\t' => State::SizeWs(n),
                    b';' => State::Extension(n, 0),
                    _ => return Err(invalid()),
                },
                State::Extension(n, len) => match b {
                    b'\r' => State::SizeLf(n),
                    _ if is_field_byte(b) && len < MAX_EXTENSION => State::Extension(n, len + 1),
                    _ => return Err(invalid()),
                },
                State::SizeLf(n) => match (b, n) {
                    (b'\n', 0) => State::TrailerStart,
                    (b'\n', n) => State::Data(n),
                    _ => return Err(invalid()),
                },
                State::Data(_) => unreachable!("handled above"),
                State::DataCr if b == b'\r' => State::DataLf,
                State::DataLf if b == b'\n' => State::SizeStart,
                State::DataCr | State::DataLf => return Err(invalid()),
                State::TrailerStart => match b {
                    b'\r' => State::FinalLf,
                    _ => {
                        self.trailer.clear();
                        self.push_trailer(b)?;
                        State::TrailerLine
                    }
                },
                State::TrailerLine => match b {
                    b'\r' => State::TrailerLf,
                    _ => {
                        self.push_trailer(b)?;
                        State::TrailerLine
                    }
                },
                State::TrailerLf if b == b'\n' => {
                    check_trailer(&self.trailer)?;
                    State::TrailerStart
                }
                State::TrailerLf => return Err(invalid()),
                State::FinalLf if b == b'\n' => {
                    self.state = State::Done;
                    self.trailer = Vec::new();
                    return Ok(Decoded {
                        consumed: i,
                        done: true,
                    });
                }
                State::FinalLf => return Err(invalid()),
                State::Done => {
                    return Ok(Decoded {
                        consumed: i - 1,
                        done: true,
                    });
                }
            };
        }
        Ok(Decoded {
            consumed: i,
            done: self.state == State::Done,
        })
    }

    fn push_trailer(&mut self, b: u8) -> Result<(), Error> {
        self.trailer_total += 1;
        if self.trailer_total > MAX_TRAILERS || b == b'\n' {
            return Err(ErrorKind::InvalidTrailer.into());
        }
        self.trailer.push(b);
        Ok(())
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A byte allowed in a field value or chunk extension: HTAB, visible ASCII, SP, obs-text.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

/// Whether `b` is a `tchar` of RFC 9110 §5.6.2: a byte allowed in a token (a method, a
/// header name, a chunk-extension name). A `const fn`, so callers can build lookup tables.
pub const fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// A trailer field line: `token ":" OWS value OWS`, and not a field that would change
/// framing or routing if someone merged it into the head.
fn check_trailer(line: &[u8]) -> Result<(), Error> {
    let bad = || Err(ErrorKind::InvalidTrailer.into());
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return bad();
    };
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
        return bad();
    }
    if !value.iter().all(|&b| is_field_byte(b)) {
        return bad();
    }
    for forbidden in [&b"content-length"[..], b"transfer-encoding", b"host"] {
        if name.eq_ignore_ascii_case(forbidden) {
            return bad();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Expect<'a> {
        /// The body, and the bytes left after it.
        Body(&'a [u8], &'a [u8]),
        Invalid,
        Incomplete,
    }
    use Expect::{Body, Incomplete, Invalid};

    /// Decodes `input` in pieces of `step` bytes.
    fn run(input: &[u8], step: usize) -> (Result<Vec<u8>, Error>, usize, bool) {
        let mut decoder = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < input.len() {
            let end = (pos + step).min(input.len());
            match decoder.decode(&input[pos..end], &mut out) {
                Ok(d) => {
                    pos += d.consumed;
                    if d.done {
                        return (Ok(out), pos, true);
                    }
                    assert_eq!(pos, end, "all input used until done");
                }
                Err(e) => return (Err(e), pos, false),
            }
        }
        (Ok(out), pos, false)
    }

    fn outcome<'a>(input: &'a [u8], step: usize) -> Expect<'a> {
        match run(input, step) {
            (Ok(body), pos, true) => Body(body.leak(), &input[pos..]),
            (Ok(_), _, false) => Incomplete,
            (Err(e), _, _) => {
                assert_eq!(e.status(), 400);
                Invalid
            }
        }
    }

    #[test]
    fn table() {
        let cases: &[(&str, &[u8], Expect<'_>)] = &[
            ("empty body", b"0\r\n\r\n", Body(b"", b"")),
            ("one chunk", b"5\r\nhello\r\n0\r\n\r\n", Body(b"hello", b"")),
            (
                "two chunks",
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                Body(b"hello world", b""),
            ),
            (
                "upper hex",
                b"A\r\n0123456789\r\n0\r\n\r\n",
                Body(b"0123456789", b""),
            ),
            (
                "leading zeros",
                b"0005\r\nhello\r\n000\r\n\r\n",
                Body(b"hello", b""),
            ),
            (
                "extension",
                b"5;name=value\r\nhello\r\n0;x\r\n\r\n",
                Body(b"hello", b""),
            ),
            (
                "quoted extension",
                b"5;a=\"b;c\"\r\nhello\r\n0\r\n\r\n",
                Body(b"hello", b""),
            ),
            (
                "bws before extension",
                b"5 ;a\r\nhello\r\n0\r\n\r\n",
                Body(b"hello", b""),
            ),
            (
                "trailers",
                b"5\r\nhello\r\n0\r\nVary: *\r\nX-T: 1\r\n\r\n",
                Body(b"hello", b""),
            ),
            (
                "pipelined rest",
                b"1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
                Body(b"a", b"GET / HTTP/1.1\r\n"),
            ),
            (
                "binary data",
                b"3\r\n\r\n\0\r\n0\r\n\r\n",
                Body(b"\r\n\0", b""),
            ),
            ("incomplete size", b"5", Incomplete),
            ("incomplete data", b"5\r\nhel", Incomplete),
            ("no last chunk", b"5\r\nhello\r\n", Incomplete),
            ("no final crlf", b"0\r\n", Incomplete),
            ("no final lf", b"0\r\n\r", Incomplete),
            ("empty size", b"\r\nhello\r\n0\r\n\r\n", Invalid),
            ("minus", b"-5\r\nhello\r\n0\r\n\r\n", Invalid),
            ("plus", b"+5\r\nhello\r\n0\r\n\r\n", Invalid),
            ("0x prefix", b"0x5\r\nhello\r\n0\r\n\r\n", Invalid),
            ("underscore", b"6_0\r\nhello\r\n0\r\n\r\n", Invalid),
            ("space before size", b" 5\r\nhello\r\n0\r\n\r\n", Invalid),
            ("space after size", b"5 \r\nhello\r\n0\r\n\r\n", Invalid),
            ("bare lf after size", b"5\nhello\r\n0\r\n\r\n", Invalid),
            ("bare cr after size", b"5\rhello\r\n0\r\n\r\n", Invalid),
            (
                "bare cr in extension",
                b"5;a\rb\r\nhello\r\n0\r\n\r\n",
                Invalid,
            ),
            (
                "ctl in extension",
                b"5;a\x01\r\nhello\r\n0\r\n\r\n",
                Invalid,
            ),
            ("data longer than size", b"3\r\nhello\r\n0\r\n\r\n", Invalid),
            ("data missing crlf", b"5\r\nhello0\r\n\r\n", Invalid),
            ("data bare lf", b"5\r\nhello\n0\r\n\r\n", Invalid),
            ("size overflow", b"10000000000000000\r\n", Invalid),
            ("max size ok so far", b"ffffffffffffffff\r\nab", Incomplete),
            ("trailer no colon", b"0\r\nVary\r\n\r\n", Invalid),
            (
                "trailer space before colon",
                b"0\r\nVary : *\r\n\r\n",
                Invalid,
            ),
            ("trailer obs-fold", b"0\r\nVary: *\r\n x\r\n\r\n", Invalid),
            ("trailer bare lf", b"0\r\nVary: *\n\r\n", Invalid),
            ("trailer nul", b"0\r\nVary: \0\r\n\r\n", Invalid),
            (
                "trailer content-length",
                b"0\r\nContent-Length: 5\r\n\r\n",
                Invalid,
            ),
            (
                "trailer transfer-encoding",
                b"0\r\nTransfer-Encoding: chunked\r\n\r\n",
                Invalid,
            ),
            ("trailer host", b"0\r\nhost: x\r\n\r\n", Invalid),
            ("final lf missing", b"0\r\n\rX", Invalid),
        ];
        for (name, input, expect) in cases {
            for step in [input.len().max(1), 1, 2, 3, 5] {
                assert_eq!(outcome(input, step), *expect, "{name} (step {step})");
            }
        }
    }

    #[test]
    fn long_extensions_and_trailers_are_bounded() {
        let mut input = b"1;".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_EXTENSION));
        assert_eq!(outcome(&input, 1000), Incomplete);
        input.push(b'x');
        assert_eq!(outcome(&input, 1000), Invalid);

        let mut input = b"0\r\n".to_vec();
        while input.len() < 2 * MAX_TRAILERS {
            input.extend_from_slice(b"X-Trailer: some value\r\n");
        }
        assert_eq!(outcome(&input, 1000), Invalid);
    }

    #[test]
    fn large_chunk_is_copied_in_one_go() {
        let data = vec![7u8; 100_000];
        let mut input = format!("{:x}\r\n", data.len()).into_bytes();
        input.extend_from_slice(&data);
        input.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(outcome(&input, input.len()), Body(&data, b""));
        assert_eq!(outcome(&input, 4096), Body(&data, b""));
    }

    #[test]
    fn done_decoder_consumes_nothing_more() {
        let mut decoder = ChunkedDecoder::new();
        let mut out = Vec::new();
        let d = decoder.decode(b"0\r\n\r\n", &mut out).unwrap();
        assert_eq!(
            d,
            Decoded {
                consumed: 5,
                done: true
            }
        );
        assert!(decoder.is_done());
        let d = decoder.decode(b"more", &mut out).unwrap();
        assert_eq!(
            d,
            Decoded {
                consumed: 0,
                done: true
            }
        );
        assert!(out.is_empty());
    }
}
