//! [`Conn`]: one client connection — its read buffer, the request being parsed or served,
//! and its output queue.
//!
//! The states follow one request's way (DESIGN.md): `Head` (waiting for a request head) →
//! `Body` (receiving the body into a [`Sink`]) → the request goes to the handler, or waits
//! in `Ready` while the handler has no capacity → `Handling` (response messages arrive and
//! are written) → back to `Head` for the next (pipelined) request on a kept-alive
//! connection, or `Closing`: write side shut down, input drained briefly, then closed, so
//! the kernel never answers unread input with an RST that eats the response.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use ruwsgi_proto::{
    encode_chunk, encode_chunk_size, encode_last_chunk, encode_response_head, error_response,
    parse_request, parse_uwsgi, response_framing, status_code, BodyFraming, ChunkedDecoder,
    Error as ProtoError, ErrorKind, Limits, Parsed, ResponseContext, ResponseFraming, Version,
};

use crate::body::Sink;
use crate::handler::{Address, Body, Head, Protocol, Request, ResponseHead};
use crate::listen::Stream;
use crate::options::Options;
use crate::reply::{Flow, Msg};
use crate::sys;

/// Bytes of output coalesced into one buffer (one write) before a new buffer is queued.
const COALESCE: usize = 16 * 1024;
/// An owned buffer up to this size is copied into the last queued one rather than queued
/// as a buffer of its own.
const COPY_MAX: usize = 4096;
/// Largest sendfile(2) call, so one big file does not starve other connections.
const SENDFILE_MAX: usize = 1 << 20;
/// Buffers handed to one writev(2).
const MAX_IOVECS: usize = 32;
/// Room for a chunk's size line and CRLFs, or the last chunk (`0\r\n\r\n`).
const CHUNK_FRAMING: usize = 16 + 4;

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
const INTERNAL_ERROR: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 22\r\nConnection: close\r\n\r\nInternal Server Error\n";

/// Where a connection is in serving its current request.
#[derive(Debug)]
pub(crate) enum State {
    Head,
    Body(Box<BodyReader>),
    Ready(Box<Request>),
    Handling,
    /// Closing after the output drains; `shut` once the write side is shut down.
    Closing {
        shut: bool,
    },
}

#[derive(Debug)]
pub(crate) struct BodyReader {
    head: Head,
    framing: Framing,
    sink: Sink,
    done: bool,
}

#[derive(Debug)]
enum Framing {
    Length(u64),
    Chunked(ChunkedDecoder, Vec<u8>),
}

/// What the loop knows of the request being served, for its response and its log line.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub(crate) started: Instant,
    version: Version,
    head_request: bool,
    keep_alive: bool,
    uwsgi: bool,
    pub(crate) log: Option<LogFields>,
    pub(crate) head_sent: bool,
    framing: ResponseFraming,
    remaining: u64,
    /// Whether the connection stays open after this response.
    pub(crate) keep: bool,
    pub(crate) status: u16,
    pub(crate) headers: usize,
    pub(crate) headers_bytes: usize,
    pub(crate) body_bytes: u64,
    pub(crate) sendfile: bool,
    /// The handler finished, responded or aborted.
    pub(crate) ended: bool,
}

/// The request's side of the log line (kept only when request logging is on).
#[derive(Debug)]
pub(crate) struct LogFields {
    pub(crate) remote: String,
    pub(crate) method: String,
    pub(crate) uri: String,
    pub(crate) protocol: &'static str,
    pub(crate) vars: usize,
    pub(crate) vars_bytes: usize,
}

#[derive(Debug)]
enum Chunk {
    Bytes {
        buf: Vec<u8>,
        pos: usize,
    },
    /// A range of a file: one the app sent, or the reply's spill file (shared by its chunks).
    File {
        file: Arc<File>,
        offset: u64,
        left: u64,
    },
}

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

/// The result of parsing what is buffered.
#[derive(Debug)]
pub(crate) enum Progress {
    /// More bytes are needed.
    NeedMore,
    /// The state advanced (a head was parsed); parse again.
    Advanced,
    /// A complete request (not boxed: it goes to the handler at once, usually).
    Request(Request),
}

/// The result of one read.
#[derive(Debug)]
pub(crate) enum ReadOutcome {
    /// Bytes arrived; `drained` when fewer than asked (the socket is empty for now).
    Data {
        drained: bool,
    },
    WouldBlock,
    Eof,
    Error,
}

/// One client connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: u64,
    pub(crate) stream: Stream,
    pub(crate) protocol: Protocol,
    pub(crate) listener: usize,
    pub(crate) peer: Address,
    pub(crate) local: Address,
    pub(crate) buf: Vec<u8>,
    pub(crate) state: State,
    out: VecDeque<Chunk>,
    pub(crate) flow: Arc<Flow>,
    /// The socket may have input we have not read (edge-triggered readiness).
    pub(crate) readable: bool,
    pub(crate) exchange: Option<Exchange>,
    pub(crate) requests: u64,
    /// When the connection times out, if it can.
    pub(crate) deadline: Option<Instant>,
    /// The earliest timer entry pending for it.
    pub(crate) armed: Option<Instant>,
    /// Waiting in the loop's queue of requests that wait for capacity.
    pub(crate) stalled: bool,
}

impl Conn {
    pub(crate) fn new(
        id: u64,
        stream: Stream,
        protocol: Protocol,
        listener: usize,
        peer: Address,
        local: Address,
        flow: Flow,
    ) -> Conn {
        Conn {
            id,
            stream,
            protocol,
            listener,
            peer,
            local,
            buf: Vec::new(),
            state: State::Head,
            out: VecDeque::new(),
            flow: Arc::new(flow),
            readable: true,
            exchange: None,
            requests: 0,
            deadline: None,
            armed: None,
            stalled: false,
        }
    }

    /// Whether the connection sits between requests with nothing buffered.
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self.state, State::Head) && self.buf.is_empty() && self.out.is_empty()
    }

    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Reads once into `scratch`; body bytes go straight to the body, the rest to `buf`.
    pub(crate) fn read(
        &mut self,
        scratch: &mut [u8],
        opts: &Options,
    ) -> Result<ReadOutcome, ParseError> {
        let n = match self.stream.read(scratch) {
            Ok(0) => return Ok(ReadOutcome::Eof),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadOutcome::WouldBlock),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                return Ok(ReadOutcome::Data { drained: false })
            }
            Err(_) => return Ok(ReadOutcome::Error),
        };
        let drained = n < scratch.len();
        let data = &scratch[..n];
        if self.buf.is_empty() && matches!(self.state, State::Body(_)) {
            let (used, _) = self.feed_body(data, opts)?;
            self.buf.extend_from_slice(&data[used..]);
        } else {
            self.buf.extend_from_slice(data);
        }
        Ok(ReadOutcome::Data { drained })
    }

    /// Feeds body bytes; returns how many were used and whether the body is complete.
    fn feed_body(&mut self, data: &[u8], opts: &Options) -> Result<(usize, bool), ParseError> {
        let State::Body(reader) = &mut self.state else {
            return Ok((0, false));
        };
        match &mut reader.framing {
            Framing::Length(left) => {
                let take = (*left).min(data.len() as u64) as usize;
                reader.sink.write(&data[..take])?;
                *left -= take as u64;
                reader.done = *left == 0;
                Ok((take, reader.done))
            }
            Framing::Chunked(decoder, tmp) => {
                tmp.clear();
                let d = decoder.decode(data, tmp)?;
                reader.sink.write(tmp)?;
                if opts.limit_post > 0 && reader.sink.len() > opts.limit_post {
                    return Err(ProtoError::new(ErrorKind::PayloadTooLarge).into());
                }
                reader.done = d.done;
                Ok((d.consumed, d.done))
            }
        }
    }

    /// Parses what is buffered as far as it goes.
    pub(crate) fn parse(
        &mut self,
        opts: &Options,
        limits: &Limits,
        now: Instant,
    ) -> Result<Progress, ParseError> {
        match self.state {
            State::Head if self.buf.is_empty() => Ok(Progress::NeedMore),
            State::Head => self.parse_head(opts, limits, now),
            State::Body(ref reader) => {
                if reader.done {
                    return self.finish_body();
                }
                if self.buf.is_empty() {
                    return Ok(Progress::NeedMore);
                }
                let buf = std::mem::take(&mut self.buf);
                let r = self.feed_body(&buf, opts);
                let (used, done) = match r {
                    Ok(v) => v,
                    Err(e) => {
                        self.buf = buf;
                        return Err(e);
                    }
                };
                self.buf = buf;
                self.buf.drain(..used);
                if done {
                    self.finish_body()
                } else {
                    Ok(Progress::NeedMore)
                }
            }
            _ => Ok(Progress::NeedMore),
        }
    }

    fn finish_body(&mut self) -> Result<Progress, ParseError> {
        let State::Body(reader) = std::mem::replace(&mut self.state, State::Handling) else {
            unreachable!("finish_body outside Body");
        };
        let reader = *reader;
        let body = reader.sink.finish()?;
        Ok(Progress::Request(self.request(reader.head, body)))
    }

    fn request(&self, head: Head, body: Body) -> Request {
        Request {
            protocol: self.protocol,
            head,
            body,
            peer: self.peer.clone(),
            local: self.local.clone(),
            listener: self.listener,
        }
    }

    fn parse_head(
        &mut self,
        opts: &Options,
        limits: &Limits,
        now: Instant,
    ) -> Result<Progress, ParseError> {
        let log = opts.log_requests
            && log::log_enabled!(target: crate::REQUEST_LOG_TARGET, log::Level::Info);
        let (head, len, consumed, expect_continue) = match self.protocol {
            Protocol::Http => {
                let (head, framing, n) = match parse_request(&self.buf, limits)? {
                    Parsed::Complete((head, framing), n) => (head, framing, n),
                    Parsed::Partial => return Ok(Progress::NeedMore),
                };
                let fields = log.then(|| LogFields {
                    remote: remote_of(&self.peer),
                    method: head.method.clone(),
                    uri: String::from_utf8_lossy(&head.target).into_owned(),
                    protocol: match head.version {
                        Version::Http10 => "HTTP/1.0",
                        Version::Http11 => "HTTP/1.1",
                    },
                    // The CGI vars uWSGI would build: one per header plus its fixed set.
                    vars: head.headers.len() + 12,
                    vars_bytes: head
                        .headers
                        .iter()
                        .map(|(k, v)| k.len() + 5 + v.len())
                        .sum::<usize>()
                        + head.target.len() * 2
                        + 160,
                });
                self.exchange = Some(Exchange::new(
                    now,
                    head.version,
                    head.method == "HEAD",
                    head.keep_alive,
                    false,
                    fields,
                ));
                let len = match framing {
                    BodyFraming::None => Some(0),
                    BodyFraming::Length(n) => Some(n),
                    BodyFraming::Chunked => None,
                };
                let expect = head.expect_continue && head.version == Version::Http11;
                (Head::Http(head), len, n, expect)
            }
            Protocol::Uwsgi => {
                let (packet, n) = match parse_uwsgi(&self.buf, limits)? {
                    Parsed::Complete(p, n) => (p, n),
                    Parsed::Partial => return Ok(Progress::NeedMore),
                };
                let len = packet.content_length()?;
                let var = |k: &[u8]| {
                    String::from_utf8_lossy(packet.var(k).unwrap_or_default()).into_owned()
                };
                let version = if packet.var(b"SERVER_PROTOCOL") == Some(b"HTTP/1.0") {
                    Version::Http10
                } else {
                    Version::Http11
                };
                let fields = log.then(|| LogFields {
                    remote: var(b"REMOTE_ADDR"),
                    method: var(b"REQUEST_METHOD"),
                    uri: var(b"REQUEST_URI"),
                    protocol: if version == Version::Http10 {
                        "HTTP/1.0"
                    } else {
                        "HTTP/1.1"
                    },
                    vars: packet.vars.len(),
                    vars_bytes: packet.vars.iter().map(|(k, v)| k.len() + v.len() + 4).sum(),
                });
                self.exchange = Some(Exchange::new(
                    now,
                    version,
                    packet.var(b"REQUEST_METHOD") == Some(b"HEAD"),
                    false,
                    true,
                    fields,
                ));
                (Head::Uwsgi(packet), Some(len), n, false)
            }
        };
        self.buf.drain(..consumed);
        if let Some(n) = len {
            if opts.limit_post > 0 && n > opts.limit_post {
                return Err(ProtoError::new(ErrorKind::PayloadTooLarge).into());
            }
            if n == 0 {
                self.state = State::Handling;
                return Ok(Progress::Request(self.request(head, Body::Empty)));
            }
        }
        // RFC 9110 §10.1.1: answer 100 only when the body is really awaited.
        let buffered = self.buf.len() as u64;
        if expect_continue && len.is_none_or(|n| buffered < n) && buffered == 0 {
            self.push_bytes(CONTINUE);
        }
        let framing = match len {
            Some(n) => Framing::Length(n),
            None => Framing::Chunked(ChunkedDecoder::new(), Vec::new()),
        };
        self.state = State::Body(Box::new(BodyReader {
            head,
            framing,
            sink: Sink::new(len, opts.post_buffering)?,
            done: false,
        }));
        Ok(Progress::Advanced)
    }

    /// Answers a refused request with its status and closes after it.
    pub(crate) fn reject(&mut self, err: &ProtoError) {
        let mut out = Vec::with_capacity(256);
        error_response(err, &mut out);
        self.buf.clear();
        self.exchange = None;
        self.push_owned(out);
        self.state = State::Closing { shut: false };
    }

    /// Applies one message of the handler's reply.
    pub(crate) fn apply(&mut self, msg: Msg, stopping: bool) {
        let Some(ex) = self.exchange.as_ref() else {
            return;
        };
        if ex.ended {
            return;
        }
        let head_sent = ex.head_sent;
        match msg {
            Msg::Start(head) if !head_sent => self.start(head, None, stopping),
            Msg::Start(_) => {}
            Msg::Data(data) if head_sent => self.body(data, true),
            Msg::Data(data) => {
                self.flow.written(data.len());
                self.abort();
            }
            Msg::File { file, offset, len } if head_sent => self.file(Arc::new(file), offset, len),
            Msg::Spill { file, offset, len } if head_sent => self.file(file, offset, Some(len)),
            Msg::Finish if head_sent => self.end(),
            // Body or end before any head.
            Msg::File { .. } | Msg::Spill { .. } | Msg::Finish => self.abort(),
            Msg::Respond(head, body) => {
                // After a head (Start) only the body counts, as a second head is ignored.
                if !head_sent {
                    self.start(head, Some(body.len()), stopping);
                }
                // `start` aborts (a 500) on a bad status.
                if self.exchange.as_ref().is_some_and(|e| !e.ended) {
                    self.body(body, false);
                    self.end();
                }
            }
            Msg::Abort => self.abort(),
        }
    }

    fn start(&mut self, head: ResponseHead, body_len: Option<usize>, stopping: bool) {
        let Some(status) = status_code(&head.status) else {
            log::error!("invalid response status {:?}", head.status);
            self.abort();
            return;
        };
        let ex = self.exchange.as_mut().expect("an exchange");
        let mut headers = head.headers;
        if let Some(len) = body_len {
            let may_have_body = status >= 200 && status != 204 && status != 304;
            if may_have_body
                && !headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            {
                headers.push(("Content-Length".to_string(), len.to_string().into_bytes()));
            }
        }
        let ctx = ResponseContext {
            version: ex.version,
            head_request: ex.head_request,
            keep_alive: ex.keep_alive && !stopping,
            uwsgi: ex.uwsgi,
        };
        let (framing, keep) = response_framing(status, &headers, &ctx);
        let capacity = 128
            + headers
                .iter()
                .map(|(k, v)| k.len() + v.len() + 4)
                .sum::<usize>()
            + body_len.filter(|&n| n <= COPY_MAX).unwrap_or(0);
        let mut out = Vec::with_capacity(capacity);
        encode_response_head(&head.status, &headers, &framing, keep, &ctx, &mut out);
        ex.head_sent = true;
        ex.remaining = match framing {
            ResponseFraming::Length(n) => n,
            _ => u64::MAX,
        };
        ex.framing = framing;
        ex.keep = keep;
        ex.status = status;
        ex.headers = headers.len();
        ex.headers_bytes = out.len();
        self.push_owned(out);
    }

    /// Queues body bytes (`counted`: already counted in the flow by `Reply::send`).
    fn body(&mut self, mut data: Vec<u8>, counted: bool) {
        let ex = self.exchange.as_mut().expect("an exchange");
        let n = data.len();
        match ex.framing {
            ResponseFraming::NoBody => {
                if counted {
                    self.flow.written(n);
                }
            }
            ResponseFraming::Length(_) => {
                // A handler's Content-Length is never exceeded on the wire.
                let take = ex.remaining.min(n as u64) as usize;
                ex.remaining -= take as u64;
                ex.body_bytes += take as u64;
                data.truncate(take);
                if counted {
                    self.flow.written(n - take);
                    self.push_counted(data);
                } else {
                    self.push_owned(data);
                }
            }
            ResponseFraming::Chunked => {
                ex.body_bytes += n as u64;
                if n <= COALESCE {
                    // Framed straight into the output buffer (`data` is counted again as
                    // part of the framed bytes).
                    if counted {
                        self.flow.written(n);
                    }
                    self.push_with(n + CHUNK_FRAMING, |out| encode_chunk(&data, out));
                } else {
                    // The chunk's size line and trailing CRLF around the data, without
                    // copying it.
                    self.push_with(CHUNK_FRAMING, |out| encode_chunk_size(n as u64, out));
                    if counted {
                        self.push_counted(data);
                    } else {
                        self.push_owned(data);
                    }
                    self.push_bytes(b"\r\n");
                }
            }
            ResponseFraming::Close => {
                ex.body_bytes += n as u64;
                if counted {
                    self.push_counted(data);
                } else {
                    self.push_owned(data);
                }
            }
        }
    }

    fn file(&mut self, file: Arc<File>, offset: u64, len: Option<u64>) {
        let ex = self.exchange.as_mut().expect("an exchange");
        // fstat(2) only for a file sent to its end (never for the spill file's ranges).
        let mut len = len.unwrap_or_else(|| {
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            size.saturating_sub(offset)
        });
        match ex.framing {
            ResponseFraming::NoBody => return,
            ResponseFraming::Length(_) => {
                len = len.min(ex.remaining);
                ex.remaining -= len;
            }
            _ => {}
        }
        if len == 0 {
            return;
        }
        ex.body_bytes += len;
        ex.sendfile = true;
        let chunked = matches!(ex.framing, ResponseFraming::Chunked);
        if chunked {
            self.push_with(CHUNK_FRAMING, |out| encode_chunk_size(len, out));
        }
        self.out.push_back(Chunk::File {
            file,
            offset,
            left: len,
        });
        if chunked {
            self.push_bytes(b"\r\n");
        }
    }

    fn end(&mut self) {
        let ex = self.exchange.as_mut().expect("an exchange");
        ex.ended = true;
        match ex.framing {
            ResponseFraming::Chunked => self.push_with(CHUNK_FRAMING, encode_last_chunk),
            ResponseFraming::Length(_) if ex.remaining > 0 => {
                // The body fell short of its Content-Length: the client can only tell by
                // the connection closing.
                log::warn!("response body shorter than its content-length: closing");
                ex.keep = false;
            }
            _ => {}
        }
    }

    /// Ends the response abnormally: a 500 if nothing was sent yet, then close.
    pub(crate) fn abort(&mut self) {
        let Some(ex) = self.exchange.as_mut() else {
            return;
        };
        ex.ended = true;
        ex.keep = false;
        if !ex.head_sent {
            ex.head_sent = true;
            ex.status = 500;
            ex.headers = 3;
            ex.headers_bytes = INTERNAL_ERROR.len() - 22;
            ex.body_bytes = 22;
            self.push_bytes(INTERNAL_ERROR);
        }
    }

    fn push_bytes(&mut self, data: &[u8]) {
        self.push_with(data.len(), |out| out.extend_from_slice(data));
    }

    /// Queues (and counts) the bytes `encode` appends, at most `room` of them: in the last
    /// output buffer when they fit within [`COALESCE`], else in a new one.
    fn push_with(&mut self, room: usize, encode: impl FnOnce(&mut Vec<u8>)) {
        let fits = matches!(self.out.back(), Some(Chunk::Bytes { buf, .. }) if buf.len() + room <= COALESCE);
        if !fits {
            self.out.push_back(Chunk::Bytes {
                buf: Vec::with_capacity(room),
                pos: 0,
            });
        }
        let Some(Chunk::Bytes { buf, .. }) = self.out.back_mut() else {
            unreachable!("a bytes buffer was just ensured");
        };
        let before = buf.len();
        encode(buf);
        let n = buf.len() - before;
        if buf.is_empty() {
            // Nothing was encoded: an empty buffer would make the next write return 0.
            self.out.pop_back();
        }
        self.flow.queued(n);
    }

    fn push_owned(&mut self, data: Vec<u8>) {
        self.flow.queued(data.len());
        self.push_counted(data);
    }

    fn push_counted(&mut self, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        if let Some(Chunk::Bytes { buf, .. }) = self.out.back_mut() {
            if data.len() <= COPY_MAX && buf.len() + data.len() <= COALESCE {
                buf.extend_from_slice(&data);
                return;
            }
        }
        self.out.push_back(Chunk::Bytes { buf: data, pos: 0 });
    }

    /// Writes queued output until it is all written or the socket is full. Returns whether
    /// anything was written.
    pub(crate) fn flush(&mut self) -> io::Result<bool> {
        let mut progress = false;
        loop {
            let n = match self.out.front_mut() {
                None => return Ok(progress),
                Some(Chunk::File { file, offset, left }) => {
                    let count = (*left).min(SENDFILE_MAX as u64) as usize;
                    match sys::sendfile(self.stream.raw_fd(), file.as_raw_fd(), offset, count) {
                        Ok(0) => {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "file shorter than announced",
                            ))
                        }
                        Ok(n) => {
                            *left -= n as u64;
                            if *left == 0 {
                                self.out.pop_front();
                            }
                            progress = true;
                            continue;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(progress),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                }
                Some(Chunk::Bytes { .. }) => {
                    let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                    let mut count = 0;
                    for c in self.out.iter().take(MAX_IOVECS) {
                        match c {
                            Chunk::Bytes { buf, pos } => {
                                slices[count] = IoSlice::new(&buf[*pos..]);
                                count += 1;
                            }
                            Chunk::File { .. } => break,
                        }
                    }
                    let r = if count == 1 {
                        self.stream.write(&slices[0])
                    } else {
                        self.stream.write_vectored(&slices[..count])
                    };
                    match r {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(progress),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                }
            };
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            progress = true;
            self.flow.written(n);
            let mut left = n;
            while left > 0 {
                let Some(Chunk::Bytes { buf, pos }) = self.out.front_mut() else {
                    break;
                };
                let avail = buf.len() - *pos;
                if left >= avail {
                    left -= avail;
                    self.out.pop_front();
                } else {
                    *pos += left;
                    left = 0;
                }
            }
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.flow.set_gone();
    }
}

impl Exchange {
    fn new(
        now: Instant,
        version: Version,
        head_request: bool,
        keep_alive: bool,
        uwsgi: bool,
        log: Option<LogFields>,
    ) -> Exchange {
        Exchange {
            started: now,
            version,
            head_request,
            keep_alive,
            uwsgi,
            log,
            head_sent: false,
            framing: ResponseFraming::NoBody,
            remaining: 0,
            keep: false,
            status: 0,
            headers: 0,
            headers_bytes: 0,
            body_bytes: 0,
            sendfile: false,
            ended: false,
        }
    }
}

fn remote_of(peer: &Address) -> String {
    match peer {
        Address::Inet(a) => a.ip().to_string(),
        Address::Unix(p) => p.clone(),
    }
}
