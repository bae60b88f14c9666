//! [`ExchangeState`]: one request's answer on its way out — the one place the response
//! rules live. It applies the reply's messages to the connection's [`Output`]: frames the
//! head (a `Content-Length` added when the whole body is known, chunked or close-delimited
//! otherwise), never sends more than a declared `Content-Length`, closes the connection
//! after a body that falls short of it, sends no body to HEAD or for 1xx/204/304, and
//! writes the 500 a failed or dropped reply gets. When the exchange ends it gives the
//! [`Exchange`] record.

use std::sync::Arc;
use std::time::Instant;

use ruwsgi_proto::{
    encode_chunk, encode_chunk_size, encode_last_chunk, encode_response_head, response_framing,
    ResponseContext, ResponseFraming,
};

use super::output::{Output, COALESCE, COPY_MAX};
use super::HeaderEdits;
use crate::body_limit::BodyLimit;
use crate::exchange::{Exchange, ExchangeOutcome, RequestLine};
use crate::handler::{Head, ResponseHead};
use crate::reply::{Msg, Notes};
use crate::spill::BodyFile;

/// Room for a chunk's size line and CRLFs, or the last chunk (`0\r\n\r\n`).
const CHUNK_FRAMING: usize = 16 + 4;

const INTERNAL_ERROR_REASON: &str = "Internal Server Error";
const INTERNAL_ERROR_BODY: &[u8] = b"Internal Server Error\n";
const CUT_REASON: &str = "Gateway Timeout";
const CUT_BODY: &[u8] = b"Gateway Timeout: the request ran past its time limit (harakiri)\n";

/// What the loop knows of the request being served, for its response and its record.
#[derive(Debug)]
pub(crate) struct ExchangeState {
    started: Instant,
    ctx: ResponseContext,
    /// The request's side of the log line (only while request logging is on).
    request: Option<RequestLine>,
    /// The request body's length, once the request went to the handler.
    request_body: Option<u64>,
    head_sent: bool,
    framing: ResponseFraming,
    /// The `Content-Length` of a `Length` framing.
    limit: Option<BodyLimit>,
    /// Whether the connection stays open after this response.
    pub(crate) keep: bool,
    status: u16,
    headers: usize,
    head_bytes: usize,
    body_bytes: u64,
    sendfile: bool,
    /// The handler finished, responded or aborted.
    pub(crate) ended: bool,
    /// The response ended abnormally (closing the connection after what was sent).
    aborted: bool,
    notes: Notes,
    /// `add-header` and `del-header`: what every response's head gets.
    header_edits: Arc<HeaderEdits>,
}

impl ExchangeState {
    /// The exchange of a request whose `head` was just read (`uwsgi`: on a uwsgi socket).
    pub(crate) fn new(
        now: Instant,
        head: &Head,
        uwsgi: bool,
        request: Option<RequestLine>,
        header_edits: Arc<HeaderEdits>,
    ) -> ExchangeState {
        ExchangeState {
            started: now,
            ctx: ResponseContext {
                version: head.version(),
                head_request: head.is_head(),
                keep_alive: head.keep_alive(),
                uwsgi,
            },
            request,
            request_body: None,
            head_sent: false,
            framing: ResponseFraming::NoBody,
            limit: None,
            keep: false,
            status: 0,
            headers: 0,
            head_bytes: 0,
            body_bytes: 0,
            sendfile: false,
            ended: false,
            aborted: false,
            notes: Notes::default(),
            header_edits,
        }
    }

    /// The request went to the handler with a body of `len` bytes.
    pub(crate) fn dispatched(&mut self, len: u64) {
        self.request_body = Some(len);
    }

    /// Whether the request went to the handler (only those exchanges have a record).
    pub(crate) fn is_dispatched(&self) -> bool {
        self.request_body.is_some()
    }

    /// The record of the exchange, ended at `now` (see [`Exchange`]).
    pub(crate) fn record(&self, now: Instant, gone: bool) -> Exchange<'_> {
        let outcome = if gone {
            ExchangeOutcome::ClientGone
        } else if self.aborted {
            ExchangeOutcome::Aborted
        } else {
            ExchangeOutcome::Complete
        };
        Exchange {
            outcome,
            status: self.status,
            request: self.request.as_ref(),
            request_body: self.request_body.unwrap_or(0),
            headers: self.headers,
            head_bytes: self.head_bytes,
            body_bytes: self.body_bytes,
            sendfile: self.sendfile,
            started: self.started,
            duration: now.saturating_duration_since(self.started),
            thread: self.notes.thread,
            exception: self.notes.exception,
            vars: &self.notes.vars,
            no_log: self.notes.no_log,
        }
    }

    /// Applies one message of the handler's reply (`closing`: the loop wants the connection
    /// closed after this response — it is stopping, or the worker holds more than its share
    /// of connections — so a head started now is not kept alive).
    pub(crate) fn apply(&mut self, msg: Msg, out: &mut Output, closing: bool) {
        if self.ended {
            return;
        }
        let head_sent = self.head_sent;
        match msg {
            Msg::Start(head, data) if !head_sent => {
                self.start(head, None, out, closing);
                if self.ended {
                    // `start` refused the head (a 500 went out): the body is not sent.
                    out.flow.written(data.len());
                } else if !data.is_empty() {
                    self.body(data, true, out);
                }
            }
            // A second head is ignored; its body goes out under the first one.
            Msg::Start(_, data) if !data.is_empty() => self.body(data, true, out),
            Msg::Start(..) => {}
            Msg::Data(data) if head_sent => self.body(data, true, out),
            Msg::Data(data) => {
                out.flow.written(data.len());
                self.abort(out);
            }
            Msg::File { file, offset, len } if head_sent => {
                self.file(Arc::new(file.into()), offset, len, out)
            }
            Msg::Spill { file, offset, len } if head_sent => {
                self.file(file, offset, Some(len), out)
            }
            Msg::Finish(notes) if head_sent => {
                self.notes = notes;
                self.end(out);
            }
            Msg::File { .. } | Msg::Spill { .. } => self.abort(out),
            Msg::Close(notes) => {
                // Routing's bare `break`: no answer, the connection closes.
                self.notes = notes;
                self.ended = true;
                self.keep = false;
                self.aborted = true;
            }
            // End before any head.
            Msg::Finish(notes) | Msg::Abort(notes) => {
                self.notes = notes;
                self.abort(out);
            }
            Msg::Respond(head, body, notes) => {
                self.notes = notes;
                // After a head (Start) only the body counts, as a second head is ignored.
                if !head_sent {
                    self.start(head, Some(body.len() as u64), out, closing);
                }
                // `start` aborts (a 500) on a bad status.
                if !self.ended {
                    self.body(body, false, out);
                    self.end(out);
                }
            }
            Msg::RespondFile {
                head,
                file,
                offset,
                len,
                notes,
            } => {
                self.notes = notes;
                if !head_sent {
                    self.start(head, Some(len), out, closing);
                }
                if !self.ended {
                    self.file(Arc::new(file.into()), offset, Some(len), out);
                    self.end(out);
                }
            }
            Msg::Fail(notes) => {
                self.notes = notes;
                if head_sent {
                    self.abort(out);
                } else {
                    // The app's error: a 500, and the connection lives as the request allows.
                    self.internal_error(out, !closing);
                }
            }
        }
    }

    /// Frames and queues the head; `whole_body`: the body's length when it comes with it.
    fn start(
        &mut self,
        mut head: ResponseHead,
        whole_body: Option<u64>,
        out: &mut Output,
        closing: bool,
    ) {
        if !(100..=999).contains(&head.status) {
            log::error!("invalid response status {}", head.status);
            self.abort(out);
            return;
        }
        self.header_edits.apply(&mut head.headers);
        let ctx = ResponseContext {
            keep_alive: self.ctx.keep_alive && !closing,
            ..self.ctx
        };
        let framing = response_framing(head.status, &head.headers, &ctx, whole_body);
        // The head, and a small body after it in the same buffer.
        let room = 128
            + head
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len() + 4)
                .sum::<usize>()
            + whole_body.filter(|&n| n <= COPY_MAX as u64).unwrap_or(0) as usize;
        let mut head_bytes = 0;
        out.push_with(room.min(COALESCE), |buf| {
            let before = buf.len();
            encode_response_head(
                head.status,
                &head.reason,
                &head.headers,
                &framing,
                &ctx,
                buf,
            );
            head_bytes = buf.len() - before;
        });
        self.head_sent = true;
        self.limit = match framing.body {
            ResponseFraming::Length(n) => Some(BodyLimit::new(n, false)),
            _ => None,
        };
        self.framing = framing.body;
        self.keep = framing.keep_alive;
        self.status = head.status;
        self.headers = head.headers.len() + usize::from(framing.added_length.is_some());
        self.head_bytes = head_bytes;
    }

    /// Queues body bytes (`counted`: already counted in the flow by `Reply::send`).
    fn body(&mut self, mut data: Vec<u8>, counted: bool, out: &mut Output) {
        let n = data.len();
        match self.framing {
            ResponseFraming::NoBody => {
                if counted {
                    out.flow.written(n);
                }
            }
            ResponseFraming::Length(_) => {
                // A Content-Length is never exceeded on the wire.
                let take = self.limit.as_mut().map_or(0, |l| l.take(n as u64)) as usize;
                self.body_bytes += take as u64;
                data.truncate(take);
                if counted {
                    out.flow.written(n - take);
                    out.push_counted(data);
                } else {
                    out.push_owned(data);
                }
            }
            ResponseFraming::Chunked => {
                self.body_bytes += n as u64;
                if n <= COALESCE {
                    // Framed straight into the output buffer (`data` is counted again as
                    // part of the framed bytes).
                    if counted {
                        out.flow.written(n);
                    }
                    out.push_with(n + CHUNK_FRAMING, |buf| encode_chunk(&data, buf));
                } else {
                    // The chunk's size line and trailing CRLF around the data, without
                    // copying it.
                    out.push_with(CHUNK_FRAMING, |buf| encode_chunk_size(n as u64, buf));
                    if counted {
                        out.push_counted(data);
                    } else {
                        out.push_owned(data);
                    }
                    out.push_bytes(b"\r\n");
                }
            }
            ResponseFraming::Close => {
                self.body_bytes += n as u64;
                if counted {
                    out.push_counted(data);
                } else {
                    out.push_owned(data);
                }
            }
        }
    }

    /// Queues `len` bytes of `file` from `offset` (to its end when `None`).
    fn file(&mut self, file: Arc<BodyFile>, offset: u64, len: Option<u64>, out: &mut Output) {
        // fstat(2) only for a file sent to its end (never for the spill file's ranges).
        let mut len = len.unwrap_or_else(|| {
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            size.saturating_sub(offset)
        });
        match self.framing {
            ResponseFraming::NoBody => return,
            ResponseFraming::Length(_) => len = self.limit.as_mut().map_or(0, |l| l.take(len)),
            _ => {}
        }
        if len == 0 {
            return;
        }
        self.body_bytes += len;
        self.sendfile = true;
        let chunked = self.framing == ResponseFraming::Chunked;
        if chunked {
            out.push_with(CHUNK_FRAMING, |buf| encode_chunk_size(len, buf));
        }
        out.push_file(file, offset, len);
        if chunked {
            out.push_bytes(b"\r\n");
        }
    }

    /// Ends the body normally.
    fn end(&mut self, out: &mut Output) {
        self.ended = true;
        match self.framing {
            ResponseFraming::Chunked => out.push_with(CHUNK_FRAMING, encode_last_chunk),
            ResponseFraming::Length(declared) if self.limit.is_some_and(|l| l.remaining() > 0) => {
                // The body fell short of its Content-Length: the client can only tell by
                // the connection closing.
                log::error!(
                    "the app sent {} bytes of its Content-Length of {declared}; closing the connection",
                    self.body_bytes
                );
                self.keep = false;
                self.aborted = true;
            }
            _ => {}
        }
    }

    /// Ends the response abnormally: a 500 if nothing was sent yet, then close.
    fn abort(&mut self, out: &mut Output) {
        if !self.head_sent {
            self.internal_error(out, false);
        }
        self.ended = true;
        self.keep = false;
        self.aborted = true;
    }

    /// Ends the exchange without its handler, which still runs (harakiri cut it): `504
    /// Gateway Timeout` when nothing was sent yet on an HTTP socket; otherwise — on a uwsgi
    /// socket, whose peer (nginx) then answers 502 as it does for uWSGI, or after a head
    /// already went out — the connection closes after what was sent. Whatever the handler
    /// sends later is ignored, and the connection is not kept alive.
    pub(crate) fn cut(&mut self, out: &mut Output) {
        if self.ended {
            return;
        }
        if !self.head_sent && !self.ctx.uwsgi {
            self.answer(504, CUT_REASON, CUT_BODY, out, false);
        } else {
            self.aborted = true;
        }
        self.ended = true;
        self.keep = false;
    }

    /// Answers `500 Internal Server Error` (the connection kept alive only if `keep_alive`
    /// and the request allows it).
    fn internal_error(&mut self, out: &mut Output, keep_alive: bool) {
        self.answer(
            500,
            INTERNAL_ERROR_REASON,
            INTERNAL_ERROR_BODY,
            out,
            keep_alive,
        );
    }

    /// Answers the loop's own plain-text response.
    fn answer(
        &mut self,
        status: u16,
        reason: &'static str,
        body: &[u8],
        out: &mut Output,
        keep_alive: bool,
    ) {
        let head = ResponseHead::new(
            status,
            reason,
            vec![("Content-Type".to_string(), b"text/plain".to_vec())],
        );
        self.start(head, Some(body.len() as u64), out, !keep_alive);
        self.body(body.to_vec(), false, out);
        self.end(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::Protocol;
    use crate::options::Options;
    use crate::reply::Flow;
    use ruwsgi_proto::Limits;

    fn state(request: &[u8]) -> ExchangeState {
        let limits = Limits {
            buffer_size: 4096,
            max_headers: 100,
        };
        let new =
            super::super::read::parse_head(request, Protocol::Http, &Options::default(), &limits)
                .unwrap()
                .unwrap();
        let mut ex = ExchangeState::new(Instant::now(), &new.head, false, None, Arc::default());
        ex.dispatched(0);
        ex
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

    fn head(status: u16, headers: &[(&str, &str)]) -> ResponseHead {
        ResponseHead::new(
            status,
            "OK",
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        )
    }

    /// Applies `msgs` to a fresh exchange of `request`; returns the wire bytes and state.
    fn run(request: &[u8], msgs: Vec<Msg>) -> (String, ExchangeState, Output) {
        let mut ex = state(request);
        let mut out = Output::new(Flow::new(1 << 20));
        for msg in msgs {
            ex.apply(msg, &mut out, false);
        }
        (String::from_utf8(out.contents()).unwrap(), ex, out)
    }

    fn respond(status: u16, headers: &[(&str, &str)], body: &str) -> Msg {
        Msg::Respond(
            head(status, headers),
            body.as_bytes().to_vec(),
            Notes::default(),
        )
    }

    #[test]
    fn a_whole_body_gets_its_content_length() {
        let (wire, ex, _) = run(
            GET,
            vec![respond(200, &[("Content-Type", "text/plain")], "hello")],
        );
        assert_eq!(
            wire,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
        );
        assert!(ex.ended && ex.keep);
        let r = ex.record(Instant::now(), false);
        assert_eq!((r.status, r.headers, r.body_bytes), (200, 2, 5));
        assert_eq!(r.head_bytes, wire.len() - 5);
        assert_eq!(r.outcome, ExchangeOutcome::Complete);
    }

    #[test]
    fn head_answers_announce_the_length_and_send_no_body() {
        let (wire, _, _) = run(
            b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n",
            vec![respond(200, &[], "hello")],
        );
        assert_eq!(wire, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        for status in [204, 304] {
            let (wire, _, _) = run(GET, vec![respond(status, &[], "x")]);
            assert_eq!(wire, format!("HTTP/1.1 {status} OK\r\n\r\n"));
        }
    }

    #[test]
    fn a_declared_length_is_never_exceeded() {
        let (wire, ex, _) = run(GET, vec![respond(200, &[("Content-Length", "3")], "hello")]);
        assert_eq!(wire, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhel");
        assert!(ex.keep);
        // Streamed: the same, and the dropped bytes leave the flow.
        let mut ex = state(GET);
        let mut out = Output::new(Flow::new(1 << 20));
        ex.apply(
            Msg::Start(head(200, &[("Content-Length", "3")]), Vec::new()),
            &mut out,
            false,
        );
        for piece in ["he", "llo"] {
            out.flow.queued(piece.len());
            ex.apply(Msg::Data(piece.as_bytes().to_vec()), &mut out, false);
        }
        ex.apply(Msg::Finish(Notes::default()), &mut out, false);
        assert!(out.contents().ends_with(b"\r\n\r\nhel"));
        assert_eq!(out.flow.pending(), out.contents().len());
    }

    #[test]
    fn a_short_body_closes_the_connection() {
        let (wire, ex, _) = run(
            GET,
            vec![respond(200, &[("Content-Length", "10")], "hello")],
        );
        assert!(wire.ends_with("\r\n\r\nhello"), "{wire}");
        assert!(!ex.keep);
        assert_eq!(
            ex.record(Instant::now(), false).outcome,
            ExchangeOutcome::Aborted
        );
    }

    #[test]
    fn streams_are_chunked_on_http11_and_close_delimited_on_http10() {
        let msgs = || {
            vec![
                Msg::Start(head(200, &[]), Vec::new()),
                Msg::Data(b"abc".to_vec()),
                Msg::Finish(Notes::default()),
            ]
        };
        let (wire, ex, _) = run(GET, msgs());
        assert_eq!(
            wire,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        );
        assert!(ex.keep);
        let (wire, ex, _) = run(b"GET / HTTP/1.0\r\n\r\n", msgs());
        assert_eq!(wire, "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nabc");
        assert!(!ex.keep);
    }

    #[test]
    fn a_file_as_the_whole_body() {
        use std::io::Write;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"0123456789").unwrap();
        let (wire, ex, _) = run(
            GET,
            vec![Msg::RespondFile {
                head: head(200, &[]),
                file,
                offset: 2,
                len: 5,
                notes: Notes::default(),
            }],
        );
        assert_eq!(wire, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n23456");
        assert!(ex.record(Instant::now(), false).sendfile);
    }

    #[test]
    fn a_failed_app_gets_a_500_and_the_connection_lives() {
        let notes = Notes {
            thread: Some(3),
            exception: true,
            vars: vec![("k".into(), "v".into())],
            no_log: false,
        };
        let (wire, ex, _) = run(GET, vec![Msg::Fail(notes)]);
        assert_eq!(
            wire,
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n\r\nInternal Server Error\n"
        );
        assert!(ex.keep);
        let r = ex.record(Instant::now(), false);
        assert_eq!((r.status, r.thread, r.exception), (500, Some(3), true));
        assert_eq!(r.vars.len(), 1);
    }

    #[test]
    fn a_dropped_reply_gets_a_500_and_closes() {
        let (wire, ex, _) = run(GET, vec![Msg::Abort(Notes::default())]);
        assert_eq!(
            wire,
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 22\r\nConnection: close\r\n\r\nInternal Server Error\n"
        );
        assert!(!ex.keep);
        // After a head, only the close.
        let (wire, ex, _) = run(
            GET,
            vec![
                Msg::Start(head(200, &[]), Vec::new()),
                Msg::Abort(Notes::default()),
            ],
        );
        assert_eq!(
            wire,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        assert!(!ex.keep && ex.ended);
        // A body before any head, or a bad status: a 500 too.
        let (wire, _, _) = run(GET, vec![Msg::Data(b"x".to_vec())]);
        assert!(wire.starts_with("HTTP/1.1 500 "), "{wire}");
        let (wire, _, _) = run(GET, vec![respond(42, &[], "x")]);
        assert!(wire.starts_with("HTTP/1.1 500 "), "{wire}");
    }

    #[test]
    fn a_cut_request_gets_a_504_on_http_and_a_close_on_uwsgi() {
        let mut ex = state(GET);
        let mut out = Output::new(Flow::new(1 << 20));
        ex.cut(&mut out);
        assert!(ex.ended && !ex.keep);
        // The app's late answer is ignored.
        ex.apply(respond(200, &[], "late"), &mut out, false);
        let sent = String::from_utf8(out.contents()).unwrap();
        assert!(
            sent.starts_with("HTTP/1.1 504 Gateway Timeout\r\n"),
            "{sent}"
        );
        assert!(sent.contains("Connection: close\r\n"), "{sent}");
        assert!(!sent.contains("late"), "{sent}");

        let mut ex = state(GET);
        ex.ctx.uwsgi = true;
        let mut out = Output::new(Flow::new(1 << 20));
        ex.cut(&mut out);
        assert!(ex.ended && !ex.keep && ex.aborted);
        assert!(
            out.contents().is_empty(),
            "nothing is written on a uwsgi socket"
        );
    }

    #[test]
    fn a_second_head_and_late_messages_are_ignored() {
        let (wire, _, _) = run(
            GET,
            vec![
                Msg::Start(head(200, &[("Content-Length", "2")]), Vec::new()),
                Msg::Start(head(404, &[]), Vec::new()),
                respond(201, &[], "ok"),
                Msg::Data(b"late".to_vec()),
            ],
        );
        assert_eq!(wire, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
}
