//! [`Conn`]: one client connection — its read buffer, the request being read or served,
//! and its output queue. Each job has a module of its own: [`read`] reads a request (head,
//! then body), [`exchange`] turns the reply's messages into the response and the record,
//! [`output`] writes what is queued.
//!
//! The states follow one request's way: `Head` (waiting for a request head) → `Body`
//! (receiving the body) → the request goes to the handler, or waits in `Ready` while the
//! handler has no capacity → `Handling` (response messages arrive and are written) → back
//! to `Head` for the next (pipelined) request on a kept-alive connection, or `Closing`:
//! write side shut down, input drained briefly, then closed, so the kernel never answers
//! unread input with an RST that eats the response.

mod exchange;
mod output;
mod read;

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ruwsgi_proto::{error_response, Error as ProtoError, Limits};

use crate::handler::{Address, Body, Head, Protocol, Request};
use crate::listen::Stream;
use crate::options::Options;
use crate::reply::{Flow, Msg};
use crate::spill::SpillBudget;

pub(crate) use exchange::ExchangeState;
pub(crate) use output::Output;
pub(crate) use read::ParseError;
use read::{parse_head, BodyReader};

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

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

/// What every exchange of the loop shares, set up once from the options: which request
/// lines to copy for the log, and the `add-header` and `del-header` edits.
#[derive(Debug)]
pub(crate) struct ExchangePlan {
    pub(crate) log: crate::request_log::RequestLog,
    pub(crate) header_edits: Arc<HeaderEdits>,
}

/// What every response's head gets, shared by the loop's exchanges: `del-header` names
/// removed from the handler's fields, then `add-header` fields added (uWSGI compares the
/// removed names with the app's headers only, never with its added lines).
#[derive(Debug, Default)]
pub(crate) struct HeaderEdits {
    pub(crate) add: Vec<(String, Vec<u8>)>,
    pub(crate) del: Vec<String>,
}

impl HeaderEdits {
    /// Applies the edits to a response's header fields.
    pub(crate) fn apply(&self, headers: &mut Vec<(String, Vec<u8>)>) {
        if !self.del.is_empty() {
            headers.retain(|(n, _)| !self.del.iter().any(|d| n.eq_ignore_ascii_case(d)));
        }
        headers.extend(self.add.iter().cloned());
    }
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
    pub(crate) out: Output,
    /// The socket may have input we have not read (edge-triggered readiness).
    pub(crate) readable: bool,
    /// The peer closed its side (or the socket failed): a read will return the end, so a
    /// short read does not mean there is nothing left to read — the end is still to come,
    /// and no further readiness event would announce it.
    pub(crate) peer_closed: bool,
    pub(crate) exchange: Option<ExchangeState>,
    pub(crate) requests: u64,
    /// The longest wait between two reads or two writes, and for its next request: the
    /// `socket-timeout`, or its listener's own ([`crate::Listener::with_timeout`]).
    pub(crate) timeout: Duration,
    /// When the connection times out, if it can.
    pub(crate) deadline: Option<Instant>,
    /// The earliest timer entry pending for it.
    pub(crate) armed: Option<Instant>,
    /// Waiting in the loop's queue of requests that wait for capacity.
    pub(crate) stalled: bool,
    /// Just accepted and counted against the accept budget until its first request is
    /// dispatched (or [`FRESH_WINDOW`](crate::event_loop) passes).
    pub(crate) fresh: bool,
    /// The socket's `SO_RCVLOWAT`: 1 (the kernel's default) except while the rest of a
    /// `Content-Length` body is awaited (see [`Conn::read`]).
    pub(crate) low_water: usize,
    /// A socket timeout found a body's bytes waiting below the low-water mark (a slow
    /// client): the rest of this connection's bodies are read as they come.
    pub(crate) low_water_off: bool,
}

/// Where an accepted connection came from, and what its listener sets for it.
pub(crate) struct Accepted {
    pub(crate) protocol: Protocol,
    /// The listener's index in the loop.
    pub(crate) listener: usize,
    pub(crate) peer: Address,
    pub(crate) local: Address,
    /// See [`Conn::timeout`].
    pub(crate) timeout: Duration,
}

impl Conn {
    pub(crate) fn new(id: u64, stream: Stream, accepted: Accepted, flow: Flow) -> Conn {
        let Accepted {
            protocol,
            listener,
            peer,
            local,
            timeout,
        } = accepted;
        Conn {
            id,
            stream,
            protocol,
            listener,
            peer,
            local,
            buf: Vec::new(),
            state: State::Head,
            out: Output::new(flow),
            readable: true,
            peer_closed: false,
            exchange: None,
            requests: 0,
            timeout,
            deadline: None,
            armed: None,
            stalled: false,
            fresh: false,
            low_water: 1,
            low_water_off: false,
        }
    }

    /// Whether the connection sits between requests with nothing buffered.
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self.state, State::Head) && self.buf.is_empty() && self.out.is_empty()
    }

    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// The request is handed to the handler: its exchange learns the body's length.
    pub(crate) fn dispatched(&mut self, request: &Request) {
        if let Some(ex) = &mut self.exchange {
            ex.dispatched(request.content_length());
        }
    }

    /// Reads once: the rest of a `Content-Length` body kept in memory straight into the
    /// body's own buffer; otherwise into `scratch`, from which body bytes go to the body and
    /// the rest to `buf`.
    ///
    /// When a read drains the socket in the middle of a `Content-Length` body, the kernel
    /// is asked to report input again only once the whole rest is there (`SO_RCVLOWAT`, TCP
    /// only; docs/architecture.md, "The loop waits for the rest of a body in one piece"). A
    /// socket timeout tells a slow client from an idle one by the bytes queued
    /// (`EventLoop::expire_timers`).
    pub(crate) fn read(
        &mut self,
        scratch: &mut [u8],
        opts: &Options,
    ) -> Result<ReadOutcome, ParseError> {
        let outcome = self.read_once(scratch, opts)?;
        let drained = matches!(
            outcome,
            ReadOutcome::WouldBlock | ReadOutcome::Data { drained: true }
        );
        let left = match &self.state {
            State::Body(reader) if drained => reader.left().filter(|&n| n > 0),
            _ => None,
        };
        if let Some(left) = left {
            if !self.low_water_off && crate::sys::low_water_is_reliable() {
                self.set_low_water(usize::try_from(left).unwrap_or(usize::MAX));
            }
        }
        Ok(outcome)
    }

    /// Sets the socket's `SO_RCVLOWAT` to `bytes` unless it is already so. Lowering it to
    /// 1 marks the socket readable: what was queued below the old mark raised no event.
    pub(crate) fn set_low_water(&mut self, bytes: usize) {
        if self.low_water != bytes && self.stream.set_recv_low_water(bytes) {
            self.low_water = bytes;
            if bytes == 1 {
                self.readable = true;
            }
        }
    }

    fn read_once(&mut self, scratch: &mut [u8], opts: &Options) -> Result<ReadOutcome, ParseError> {
        if let (true, State::Body(reader)) = (self.buf.is_empty(), &mut self.state) {
            if let Some(room) = reader.room() {
                let want = room.len();
                return Ok(match self.stream.read_into(room) {
                    Ok(0) => ReadOutcome::Eof,
                    Ok(n) => {
                        reader.filled(n);
                        ReadOutcome::Data {
                            drained: n < want && !self.peer_closed,
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => ReadOutcome::WouldBlock,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                        ReadOutcome::Data { drained: false }
                    }
                    Err(_) => ReadOutcome::Error,
                });
            }
        }
        let n = match self.stream.read(scratch) {
            Ok(0) => return Ok(ReadOutcome::Eof),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadOutcome::WouldBlock),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                return Ok(ReadOutcome::Data { drained: false })
            }
            Err(_) => return Ok(ReadOutcome::Error),
        };
        let drained = n < scratch.len() && !self.peer_closed;
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
        match &mut self.state {
            State::Body(reader) => reader.feed(data, opts),
            _ => Ok((0, false)),
        }
    }

    /// Parses what is buffered as far as it goes.
    pub(crate) fn parse(
        &mut self,
        opts: &Options,
        limits: &Limits,
        spill: &Arc<SpillBudget>,
        plan: &ExchangePlan,
        now: Instant,
    ) -> Result<Progress, ParseError> {
        match self.state {
            State::Head if self.buf.is_empty() => Ok(Progress::NeedMore),
            State::Head => self.parse_head(opts, limits, spill, plan, now),
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
        // The next head may be a few bytes: report them as they come.
        self.set_low_water(1);
        let State::Body(reader) = std::mem::replace(&mut self.state, State::Handling) else {
            unreachable!("finish_body outside Body");
        };
        let (head, body) = reader.finish()?;
        Ok(Progress::Request(self.request(head, body)))
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
        spill: &Arc<SpillBudget>,
        plan: &ExchangePlan,
        now: Instant,
    ) -> Result<Progress, ParseError> {
        let Some(new) = parse_head(&self.buf, self.protocol, opts, limits)? else {
            return Ok(Progress::NeedMore);
        };
        let line = plan.log.capture(&new.head, &self.peer);
        let uwsgi = self.protocol == Protocol::Uwsgi;
        self.exchange = Some(ExchangeState::new(
            now,
            &new.head,
            uwsgi,
            line,
            plan.header_edits.clone(),
        ));
        self.buf.drain(..new.consumed);
        if new.body_len == Some(0) {
            self.state = State::Handling;
            return Ok(Progress::Request(self.request(new.head, Body::Empty)));
        }
        // Before the 100: a body the spill bound refuses is not asked for.
        let reader = BodyReader::new(new.head, new.body_len, opts, spill)?;
        // RFC 9110 §10.1.1: answer 100 only when the body is really awaited.
        if new.expect_continue && self.buf.is_empty() {
            self.out.push_bytes(CONTINUE);
        }
        self.state = State::Body(Box::new(reader));
        Ok(Progress::Advanced)
    }

    /// Answers a refused request with its status and closes after it.
    pub(crate) fn reject(&mut self, err: &ProtoError) {
        let mut out = Vec::with_capacity(256);
        error_response(err, &mut out);
        self.buf.clear();
        self.exchange = None;
        self.out.push_owned(out);
        self.state = State::Closing { shut: false };
        self.set_low_water(1);
    }

    /// Applies one message of the handler's reply (`closing`: a head it starts says
    /// `Connection: close`).
    pub(crate) fn apply(&mut self, msg: Msg, closing: bool) {
        if let Some(ex) = &mut self.exchange {
            ex.apply(msg, &mut self.out, closing);
        }
    }

    /// Writes queued output until it is all written or the socket is full. Returns whether
    /// anything was written.
    pub(crate) fn flush(&mut self) -> io::Result<bool> {
        let fd = self.stream.raw_fd();
        self.out.flush(&mut self.stream, fd)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.out.flow.set_gone();
    }
}
