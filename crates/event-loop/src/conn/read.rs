//! Reading a request: its head from the connection's buffer ([`parse_head`]) and its body
//! into a [`Sink`] ([`BodyReader`]) — memory up to `post-buffering`, then a temp file within
//! the worker's spill bound — so the handler gets the whole request at once.

use std::io;
use std::sync::Arc;

use ruwsgi_proto::{
    parse_request, parse_uwsgi, BodyFraming, ChunkedDecoder, Error as ProtoError, ErrorKind,
    Limits, Parsed, Version,
};

use crate::body::{Sink, SinkError};
use crate::handler::{Body, Head, Protocol};
use crate::options::Options;
use crate::spill::SpillBudget;

/// Why the connection cannot go on parsing.
#[derive(Debug)]
pub(crate) enum ParseError {
    /// The client sent something refused: answer with its status, then close.
    Client(ProtoError),
    /// A local failure (the body's temp file): close.
    Io(io::Error),
}

impl From<ProtoError> for ParseError {
    fn from(e: ProtoError) -> ParseError {
        ParseError::Client(e)
    }
}

impl From<io::Error> for ParseError {
    fn from(e: io::Error) -> ParseError {
        ParseError::Io(e)
    }
}

impl From<SinkError> for ParseError {
    fn from(e: SinkError) -> ParseError {
        match e {
            SinkError::Io(e) => ParseError::Io(e),
            SinkError::TooLarge => ProtoError::new(ErrorKind::SpillLimit).into(),
            SinkError::Full => ProtoError::new(ErrorKind::SpillFull).into(),
        }
    }
}

/// A request head read from the front of the buffer.
#[derive(Debug)]
pub(crate) struct NewHead {
    pub(crate) head: Head,
    /// Bytes of the buffer it took.
    pub(crate) consumed: usize,
    /// The body's length; `None` when it is chunked.
    pub(crate) body_len: Option<u64>,
    /// The client waits for `100 Continue` before it sends the body.
    pub(crate) expect_continue: bool,
}

/// Reads a request head from the front of `buf`: `None` while it is incomplete. A body
/// declared larger than `limit-post` is refused here, before it is read.
pub(crate) fn parse_head(
    buf: &[u8],
    protocol: Protocol,
    opts: &Options,
    limits: &Limits,
) -> Result<Option<NewHead>, ParseError> {
    let new = match protocol {
        Protocol::Http => {
            let (head, framing, consumed) = match parse_request(buf, limits)? {
                Parsed::Complete((head, framing), n) => (head, framing, n),
                Parsed::Partial => return Ok(None),
            };
            let body_len = match framing {
                BodyFraming::None => Some(0),
                BodyFraming::Length(n) => Some(n),
                BodyFraming::Chunked => None,
            };
            let expect_continue = head.expect_continue && head.version == Version::Http11;
            NewHead {
                head: Head::Http(head),
                consumed,
                body_len,
                expect_continue,
            }
        }
        Protocol::Uwsgi => {
            let (packet, consumed) = match parse_uwsgi(buf, limits)? {
                Parsed::Complete(p, n) => (p, n),
                Parsed::Partial => return Ok(None),
            };
            let len = packet.content_length()?;
            NewHead {
                head: Head::Uwsgi(packet),
                consumed,
                body_len: Some(len),
                expect_continue: false,
            }
        }
    };
    if let Some(n) = new.body_len {
        if opts.limit_post > 0 && n > opts.limit_post {
            return Err(ProtoError::new(ErrorKind::PayloadTooLarge).into());
        }
    }
    Ok(Some(new))
}

/// A request body being received.
#[derive(Debug)]
pub(crate) struct BodyReader {
    pub(crate) head: Head,
    framing: Framing,
    sink: Sink,
    pub(crate) done: bool,
}

#[derive(Debug)]
enum Framing {
    Length(u64),
    Chunked(ChunkedDecoder, Vec<u8>),
}

impl BodyReader {
    /// A reader for the body of `head`: `len` bytes, or chunked when `None`. A body of
    /// known length bound for a temp file is refused here when `budget` has no room for it.
    pub(crate) fn new(
        head: Head,
        len: Option<u64>,
        opts: &Options,
        budget: &Arc<SpillBudget>,
    ) -> Result<BodyReader, ParseError> {
        let framing = match len {
            Some(n) => Framing::Length(n),
            None => Framing::Chunked(ChunkedDecoder::new(), Vec::new()),
        };
        Ok(BodyReader {
            head,
            framing,
            sink: Sink::new(len, opts.post_buffering, budget)?,
            done: false,
        })
    }

    /// Feeds body bytes; returns how many were used and whether the body is complete. A
    /// chunked body past `limit-post`, or past what the spill bound leaves it, is refused.
    pub(crate) fn feed(
        &mut self,
        data: &[u8],
        opts: &Options,
    ) -> Result<(usize, bool), ParseError> {
        match &mut self.framing {
            Framing::Length(left) => {
                let take = (*left).min(data.len() as u64) as usize;
                self.sink.write(&data[..take])?;
                *left -= take as u64;
                self.done = *left == 0;
                Ok((take, self.done))
            }
            Framing::Chunked(decoder, tmp) => {
                tmp.clear();
                let d = decoder.decode(data, tmp)?;
                self.sink.write(tmp)?;
                if opts.limit_post > 0 && self.sink.len() > opts.limit_post {
                    return Err(ProtoError::new(ErrorKind::PayloadTooLarge).into());
                }
                self.done = d.done;
                Ok((d.consumed, d.done))
            }
        }
    }

    /// The bytes of a `Content-Length` body still to come (`None` for a chunked body).
    pub(crate) fn left(&self) -> Option<u64> {
        match self.framing {
            Framing::Length(left) => Some(left),
            Framing::Chunked(..) => None,
        }
    }

    /// Room to read the rest of a `Content-Length` body into directly, when it is kept in
    /// memory ([`Sink::room`]); then [`BodyReader::filled`].
    pub(crate) fn room(&mut self) -> Option<&mut [std::mem::MaybeUninit<u8>]> {
        match self.framing {
            Framing::Length(left) if left > 0 => {
                self.sink.room(usize::try_from(left).unwrap_or(usize::MAX))
            }
            _ => None,
        }
    }

    /// `n` bytes were read into the last [`BodyReader::room`].
    pub(crate) fn filled(&mut self, n: usize) {
        if let Framing::Length(left) = &mut self.framing {
            self.sink.filled(n);
            *left -= n as u64;
            self.done = *left == 0;
        }
    }

    /// The head and the whole body.
    pub(crate) fn finish(self) -> io::Result<(Head, Body)> {
        Ok((self.head, self.sink.finish()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::Address;
    use crate::request_vars::request_line;
    use ruwsgi_proto::encode_uwsgi;

    fn opts() -> Options {
        Options::default()
    }

    fn limits() -> Limits {
        Limits {
            buffer_size: 4096,
            max_headers: 100,
        }
    }

    #[test]
    fn an_http_head_in_pieces() {
        let req = b"POST /up?x=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
        let head_len = req.len() - 5;
        for cut in [0, 10, head_len - 1] {
            assert!(parse_head(&req[..cut], Protocol::Http, &opts(), &limits())
                .unwrap()
                .is_none());
        }
        let new = parse_head(req, Protocol::Http, &opts(), &limits())
            .unwrap()
            .unwrap();
        assert_eq!(new.consumed, head_len);
        assert_eq!(new.body_len, Some(5));
        assert!(!new.expect_continue);
        assert!(!new.head.is_head());
        assert!(new.head.keep_alive());
        let line = request_line(&new.head, &Address::Unix(String::new()));
        assert_eq!(
            (line.method.as_str(), line.uri.as_str(), line.protocol),
            ("POST", "/up?x=1", "HTTP/1.1")
        );
    }

    #[test]
    fn head_requests_and_http10_and_expect() {
        let new = parse_head(
            b"HEAD / HTTP/1.0\r\n\r\n",
            Protocol::Http,
            &opts(),
            &limits(),
        )
        .unwrap()
        .unwrap();
        assert!(new.head.is_head());
        assert!(!new.head.keep_alive());
        assert_eq!(new.head.version(), Version::Http10);
        assert_eq!(new.body_len, Some(0));
        let new = parse_head(
            b"PUT / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
            Protocol::Http,
            &opts(),
            &limits(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(new.body_len, None);
        assert!(new.expect_continue);
    }

    #[test]
    fn a_uwsgi_packet() {
        let vars: &[(&[u8], &[u8])] = &[
            (b"REQUEST_METHOD", b"HEAD"),
            (b"REQUEST_URI", b"/x"),
            (b"SERVER_PROTOCOL", b"HTTP/1.0"),
            (b"REMOTE_ADDR", b"10.0.0.1"),
            (b"CONTENT_LENGTH", b"3"),
        ];
        let packet = ruwsgi_proto::UwsgiPacket {
            modifier1: 0,
            modifier2: 0,
            vars: vars.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect(),
        };
        let mut bytes = Vec::new();
        encode_uwsgi(&packet, &mut bytes).unwrap();
        let packet = bytes;
        let new = parse_head(&packet, Protocol::Uwsgi, &opts(), &limits())
            .unwrap()
            .unwrap();
        assert_eq!(new.consumed, packet.len());
        assert_eq!(new.body_len, Some(3));
        assert!(new.head.is_head());
        assert!(
            !new.head.keep_alive(),
            "nginx sends one request per connection"
        );
        let line = request_line(&new.head, &Address::Unix(String::new()));
        assert_eq!(
            (line.remote.as_str(), line.uri.as_str(), line.protocol),
            ("10.0.0.1", "/x", "HTTP/1.0")
        );
        assert_eq!(line.vars, 5);
    }

    #[test]
    fn limit_post_refuses_a_declared_body_before_reading_it() {
        let opts = Options {
            limit_post: 4,
            ..Options::default()
        };
        let e = parse_head(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n",
            Protocol::Http,
            &opts,
            &limits(),
        )
        .unwrap_err();
        assert!(matches!(e, ParseError::Client(e) if e.status() == 413));
    }

    fn http_head() -> Head {
        let new = parse_head(
            b"POST / HTTP/1.1\r\nHost: t\r\n\r\n",
            Protocol::Http,
            &opts(),
            &limits(),
        )
        .unwrap()
        .unwrap();
        new.head
    }

    #[test]
    fn a_length_body_takes_only_its_bytes() {
        let mut r = BodyReader::new(http_head(), Some(5), &opts(), &SpillBudget::new(0)).unwrap();
        assert_eq!(r.feed(b"hel", &opts()).unwrap(), (3, false));
        // The rest of the buffer is the next (pipelined) request.
        assert_eq!(r.feed(b"loGET /", &opts()).unwrap(), (2, true));
        match r.finish().unwrap().1 {
            Body::Memory(v) => assert_eq!(v, b"hello"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_chunked_body_is_decoded_and_limited() {
        let mut r = BodyReader::new(http_head(), None, &opts(), &SpillBudget::new(0)).unwrap();
        let (used, done) = r
            .feed(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nnext", &opts())
            .unwrap();
        assert!(done);
        assert_eq!(used, 20);
        match r.finish().unwrap().1 {
            Body::Memory(v) => assert_eq!(v, b"abcde"),
            other => panic!("{other:?}"),
        }
        let small = Options {
            limit_post: 4,
            ..Options::default()
        };
        let mut r = BodyReader::new(http_head(), None, &small, &SpillBudget::new(0)).unwrap();
        let e = r.feed(b"5\r\nabcde\r\n", &small).unwrap_err();
        assert!(matches!(e, ParseError::Client(e) if e.status() == 413));
    }

    #[test]
    fn the_spill_bound_refuses_with_413_or_503() {
        let opts = Options {
            post_buffering: 4,
            ..Options::default()
        };
        let budget = SpillBudget::new(10);
        let status = |r: Result<BodyReader, ParseError>| match r {
            Err(ParseError::Client(e)) => e.status(),
            other => panic!("{other:?}"),
        };
        // Alone larger than the bound: 413, before a byte is read.
        assert_eq!(
            status(BodyReader::new(http_head(), Some(11), &opts, &budget)),
            413
        );
        // In memory: not counted.
        let _small = BodyReader::new(http_head(), Some(4), &opts, &budget).unwrap();
        let held = BodyReader::new(http_head(), Some(8), &opts, &budget).unwrap();
        // The bound is taken by another body: 503; free again once that body is gone.
        assert_eq!(
            status(BodyReader::new(http_head(), Some(5), &opts, &budget)),
            503
        );
        drop(held);
        assert!(BodyReader::new(http_head(), Some(5), &opts, &budget).is_ok());
        // A chunked body is refused when it grows past the bound.
        let mut r = BodyReader::new(http_head(), None, &opts, &budget).unwrap();
        let e = r.feed(b"b\r\nabcdefghijk\r\n", &opts).unwrap_err();
        assert!(matches!(e, ParseError::Client(e) if e.status() == 413));
    }
}
