//! [`Reply`]: the handle a handler answers one request through, from any thread.
//!
//! A reply's messages travel to the loop over one crossbeam channel shared by the whole
//! loop, tagged with the connection's slab key and id, and wake it through a `mio::Waker`
//! — at most once per batch (see [`Notify`]). Back-pressure is per connection: a [`Flow`]
//! counts the response bytes held in memory and not yet written to the socket; above the
//! high-water mark [`Reply::send`] appends to the reply's spill file (up to `spill_max`)
//! and queues that range, and past it parks the calling thread until the loop, as the
//! client drains, brings the count back down.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crossbeam_channel::Sender;
use mio::Waker;

use crate::body_limit::BodyLimit;
use crate::handler::{Gone, ResponseHead};
use crate::spill::{BodyFile, SpillBudget};

/// What a reply tells the loop. The messages that end the reply carry its [`Notes`].
#[derive(Debug)]
pub(crate) enum Msg {
    /// The head, with the first piece of body (empty when the next message is no body).
    Start(ResponseHead, Vec<u8>),
    Data(Vec<u8>),
    File {
        file: File,
        offset: u64,
        len: Option<u64>,
    },
    /// `len` bytes of the reply's spill file from `offset`.
    Spill {
        file: Arc<BodyFile>,
        offset: u64,
        len: u64,
    },
    /// Head, whole body and end.
    Respond(ResponseHead, Vec<u8>, Notes),
    /// Head, `len` bytes of `file` from `offset` as the whole body, and end.
    RespondFile {
        head: ResponseHead,
        file: File,
        offset: u64,
        len: u64,
        notes: Notes,
    },
    Finish(Notes),
    /// End abnormally: close after what was sent (a 500 if nothing was).
    Abort(Notes),
    /// Close without an answer (routing's bare `break`).
    Close(Notes),
    /// The app failed: a 500 if no head was sent (the connection lives), else as `Abort`.
    Fail(Notes),
}

/// What the handler tells the loop about an exchange for its record (see
/// [`crate::Exchange`]): sent with the reply's last message.
#[derive(Debug, Default)]
pub(crate) struct Notes {
    pub(crate) thread: Option<usize>,
    pub(crate) exception: bool,
    pub(crate) vars: Vec<(String, String)>,
    /// Routing's `donotlog`: no request-log line.
    pub(crate) no_log: bool,
}

impl Notes {
    /// Sets a log variable: a second value for the same name replaces the first.
    pub(crate) fn set_var(&mut self, name: String, value: String) {
        match self.vars.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name, value)),
        }
    }
}

/// What edits a reply's first response head before it goes out (routing's response
/// rules, `crate::routing`); given with [`Reply::set_edits`].
pub(crate) trait HeadEdit: Send + std::fmt::Debug {
    /// Edits `head` (and the exchange's `notes`); `Some` to answer in its place.
    fn apply(self: Box<Self>, head: &mut ResponseHead, notes: &mut Notes) -> Option<Replacement>;
}

/// An answer that takes the place of the head a [`HeadEdit`] was given, and of what the
/// handler sends after it.
#[derive(Debug)]
pub(crate) enum Replacement {
    /// A head and a body in memory.
    Bytes(ResponseHead, Vec<u8>),
    /// A head and a range of a file: offset and length.
    File(ResponseHead, File, u64, u64),
    /// A 500 (the file to answer with could not be read).
    Fail,
    /// No answer: the connection closes.
    Close,
}

/// A message for the connection `key` (slab key) whose id is `id` (a reused slab slot has
/// a new id, so a late message for a closed connection is dropped).
#[derive(Debug)]
pub(crate) struct Completion {
    pub(crate) key: usize,
    pub(crate) id: u64,
    pub(crate) msg: Msg,
}

/// Wakes the loop at most once per batch: senders wake it only when it has not been told
/// yet; the loop clears `pending` right before it sleeps.
#[derive(Debug)]
pub(crate) struct Notify {
    waker: Waker,
    pending: AtomicBool,
}

impl Notify {
    pub(crate) fn new(waker: Waker) -> Notify {
        Notify {
            waker,
            pending: AtomicBool::new(true),
        }
    }

    pub(crate) fn notify(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            let _ = self.waker.wake();
        }
    }

    /// Wakes the loop whatever it is doing (stop requests, which it checks after a poll).
    pub(crate) fn wake_now(&self) {
        let _ = self.waker.wake();
    }

    /// The loop is about to sleep: the next message must wake it.
    pub(crate) fn arm(&self) {
        self.pending.store(false, Ordering::SeqCst);
    }

    /// The loop is awake and will drain the channel before it sleeps again.
    pub(crate) fn disarm(&self) {
        self.pending.store(true, Ordering::SeqCst);
    }
}

/// Per-connection flow control shared by the loop and the connection's replies.
#[derive(Debug)]
pub(crate) struct Flow {
    /// Response bytes queued (in the channel or the connection's output) and not written.
    queued: AtomicUsize,
    gone: AtomicBool,
    high_water: usize,
    /// Bytes a reply may spill to its temp file above the high-water mark.
    spill_max: u64,
    /// The worker's spill bound, which every reply's spill file counts against (`None`:
    /// replies do not spill).
    budget: Option<Arc<SpillBudget>>,
    lock: Mutex<()>,
    cond: Condvar,
}

impl Flow {
    pub(crate) fn new(high_water: usize) -> Flow {
        Flow {
            queued: AtomicUsize::new(0),
            gone: AtomicBool::new(false),
            high_water,
            spill_max: 0,
            budget: None,
            lock: Mutex::new(()),
            cond: Condvar::new(),
        }
    }

    /// Lets replies spill up to `spill_max` bytes each to a temp file above the high-water
    /// mark, while `budget` has room.
    pub(crate) fn with_spill(mut self, spill_max: u64, budget: &Arc<SpillBudget>) -> Flow {
        self.spill_max = spill_max;
        self.budget = Some(budget.clone());
        self
    }

    pub(crate) fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    fn above_high_water(&self) -> bool {
        self.queued.load(Ordering::Acquire) > self.high_water
    }

    /// The client is gone: every waiting sender returns [`Gone`].
    pub(crate) fn set_gone(&self) {
        self.gone.store(true, Ordering::Release);
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.cond.notify_all();
    }

    /// `n` more bytes are queued.
    pub(crate) fn queued(&self, n: usize) {
        if n > 0 {
            self.queued.fetch_add(n, Ordering::AcqRel);
        }
    }

    /// `n` queued bytes were written (or dropped); wakes senders when the count falls to
    /// the high-water mark.
    pub(crate) fn written(&self, n: usize) {
        if n == 0 {
            return;
        }
        let before = self.queued.fetch_sub(n, Ordering::AcqRel);
        if before > self.high_water && before - n <= self.high_water {
            // Under the lock, so a sender between its check and its wait cannot miss it.
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.cond.notify_all();
        }
    }

    /// Bytes queued and not written.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Blocks while more than the high-water mark is queued.
    pub(crate) fn wait_below(&self) -> Result<(), Gone> {
        if self.queued.load(Ordering::Acquire) > self.high_water {
            let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            while self.queued.load(Ordering::Acquire) > self.high_water && !self.is_gone() {
                guard = self.cond.wait(guard).unwrap_or_else(|e| e.into_inner());
            }
        }
        if self.is_gone() {
            Err(Gone)
        } else {
            Ok(())
        }
    }
}

/// Where a [`Reply`] sends its messages.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) key: usize,
    pub(crate) id: u64,
    pub(crate) tx: Sender<Completion>,
    pub(crate) notify: Arc<Notify>,
    pub(crate) flow: Arc<Flow>,
    /// The request is HEAD: no body goes out, so a body past its length is not worth a log.
    pub(crate) head_request: bool,
}

/// Answers one request. `Send`, so it can move to the thread that runs the app.
///
/// Messages are delivered in order. [`Reply::send`] applies back-pressure: above the
/// connection's high-water mark of unwritten output it spills to a temp file, and once that
/// reaches `spill_max` (or the worker's `limit-spill` is taken) it blocks the calling thread (the WSGI bridge releases the GIL around
/// it); it returns [`Gone`] once the client has disconnected. A reply dropped before it is
/// finished closes the connection (with a 500 if no head was sent).
///
/// What the handler knows of the exchange and the loop does not — the thread that served
/// it, whether the app raised, log variables — it sets here ([`Reply::set_thread`],
/// [`Reply::mark_exception`], [`Reply::set_logvar`]); the notes go with the reply's last
/// message into the exchange's [`crate::Exchange`] record.
#[derive(Debug)]
pub struct Reply {
    link: Link,
    done: bool,
    notes: Notes,
    /// The started head's Content-Length, counted against before posting.
    limit: Option<BodyLimit>,
    /// The unlinked temp file the body spills to while the client lags, once needed.
    spill: Option<Arc<BodyFile>>,
    /// Bytes written to `spill` so far.
    spilled: u64,
    /// The head [`Reply::start`] was given, held until the next message so that it travels
    /// with the first piece of body: one message, and one write for the loop (a head
    /// written alone, then its body, waits on the client's delayed ACK under Nagle).
    pending_head: Option<ResponseHead>,
    /// Edits of the response head (routing's response rules), applied to the first head
    /// given; `None` without routing.
    edits: Option<Box<dyn HeadEdit>>,
    /// The edits answered in place of the handler's response ([`Reply::is_replaced`]).
    replaced: bool,
}

impl Reply {
    pub(crate) fn new(link: Link) -> Reply {
        Reply {
            link,
            done: false,
            notes: Notes::default(),
            limit: None,
            spill: None,
            spilled: 0,
            pending_head: None,
            edits: None,
            replaced: false,
        }
    }

    /// Gives the reply edits of its response head (routing's response rules).
    pub(crate) fn set_edits(&mut self, edits: Box<dyn HeadEdit>) {
        self.edits = Some(edits);
    }

    /// Applies the edits to the first head: `true` when they answered in its place, and
    /// that answer went out (the reply is then done: what the app sends after it is
    /// dropped, and [`Reply::send`] says [`Gone`]).
    fn edit(&mut self, head: &mut ResponseHead) -> bool {
        let Some(edits) = self.edits.take() else {
            return false;
        };
        let Some(answer) = edits.apply(head, &mut self.notes) else {
            return false;
        };
        self.pending_head = None;
        self.replaced = true;
        let Some(notes) = self.end() else {
            return true;
        };
        let _ = self.post(match answer {
            Replacement::Bytes(head, body) => Msg::Respond(head, body, notes),
            Replacement::File(head, file, offset, len) => Msg::RespondFile {
                head,
                file,
                offset,
                len,
                notes,
            },
            Replacement::Fail => Msg::Fail(notes),
            Replacement::Close => Msg::Close(notes),
        });
        true
    }

    /// Closes the connection without an answer (routing's bare `break`, as uWSGI).
    pub(crate) fn close(mut self) {
        if let Some(notes) = self.end() {
            let _ = self.post(Msg::Close(notes));
        }
    }

    /// Above the high-water mark, within `spill_max` and while the worker's spill bound has
    /// room: appends `data` to the spill file and queues that range (sendfile(2) sends it),
    /// instead of waiting for the client. Returns `data` back when it must take the memory
    /// path (no room, or the disk failed).
    fn try_spill(&mut self, data: Vec<u8>) -> Result<Result<(), Gone>, Vec<u8>> {
        let flow = &self.link.flow;
        let room = flow.spill_max.saturating_sub(self.spilled);
        let Some(budget) = &flow.budget else {
            return Err(data);
        };
        if !flow.above_high_water() || (data.len() as u64) > room {
            return Err(data);
        }
        if self.spill.is_none() {
            match BodyFile::temp(budget) {
                Ok(f) => self.spill = Some(Arc::new(f)),
                Err(e) => {
                    log::warn!("cannot create a response spill file: {e}; waiting for the client");
                    self.spilled = flow.spill_max; // no more tries for this reply
                    return Err(data);
                }
            }
        }
        let file = self.spill.clone().expect("created above");
        if !file.hold(data.len() as u64) {
            // The worker's bound is taken: wait for this client (or try again next time).
            return Err(data);
        }
        // Writes go to the end (the file position); sendfile reads ranges by offset and
        // leaves the position alone.
        if let Err(e) = (&**file).write_all(&data) {
            log::warn!("cannot write the response spill file: {e}; waiting for the client");
            self.spilled = self.link.flow.spill_max; // what was written is never sent
            return Err(data);
        }
        let offset = self.spilled;
        self.spilled += data.len() as u64;
        Ok(self.post(Msg::Spill {
            file,
            offset,
            len: data.len() as u64,
        }))
    }

    /// Posts `msg` to the loop, after the head [`Reply::start`] holds, if any: a piece of
    /// body travels in the head's own message.
    fn post(&mut self, msg: Msg) -> Result<(), Gone> {
        match (self.pending_head.take(), msg) {
            (None, msg) => self.send_to_loop(msg),
            (Some(head), Msg::Data(data)) => self.send_to_loop(Msg::Start(head, data)),
            (Some(head), msg) => {
                self.send_to_loop(Msg::Start(head, Vec::new()))?;
                self.send_to_loop(msg)
            }
        }
    }

    fn send_to_loop(&self, msg: Msg) -> Result<(), Gone> {
        self.link
            .tx
            .send(Completion {
                key: self.link.key,
                id: self.link.id,
                msg,
            })
            .map_err(|_| Gone)?;
        self.link.notify.notify();
        Ok(())
    }

    fn check(&self) -> Result<(), Gone> {
        if self.done || self.link.flow.is_gone() {
            Err(Gone)
        } else {
            Ok(())
        }
    }

    /// Sends the status line and headers. Must come before any body. The head goes out
    /// with whatever is sent next (the first piece of body, or the end).
    pub fn start(&mut self, mut head: ResponseHead) -> Result<(), Gone> {
        self.check()?;
        if self.edit(&mut head) {
            return Ok(());
        }
        if self.limit.is_none() {
            self.limit = BodyLimit::of(&head.headers, self.link.head_request);
        }
        if self.pending_head.is_none() {
            self.pending_head = Some(head);
        }
        Ok(())
    }

    /// Sends a piece of the body. Above the connection's high-water mark of unwritten
    /// output the piece goes to the reply's temp file, up to `spill_max` bytes; past that it
    /// blocks until the client drains.
    ///
    /// Call it from a thread of the handler's own: on the loop thread, a response larger
    /// than the high-water mark would wait for a loop that cannot run. Answer on the loop
    /// thread with [`Reply::respond`] instead.
    ///
    /// Bytes past the head's `Content-Length` are dropped here (see [`Reply::is_complete`]).
    pub fn send(&mut self, mut data: Vec<u8>) -> Result<(), Gone> {
        self.check()?;
        if let Some(limit) = &mut self.limit {
            data.truncate(limit.take(data.len() as u64) as usize);
        }
        if data.is_empty() {
            return Ok(());
        }
        let was_above = self.link.flow.above_high_water();
        let data = match self.try_spill(data) {
            Ok(posted) => return posted,
            Err(data) => data,
        };
        self.link.flow.queued(data.len());
        self.post(Msg::Data(data))?;
        if !was_above && self.spilled < self.link.flow.spill_max {
            // Memory was below the mark: if this piece took it over, the next one spills
            // (while there is room), so there is no need to wait for the client now.
            return Ok(());
        }
        self.link.flow.wait_below()
    }

    /// Sends `len` bytes of `file` from `offset` (all of the rest when `len` is `None`),
    /// with `sendfile(2)` where the socket allows it.
    pub fn send_file(&mut self, file: File, offset: u64, mut len: Option<u64>) -> Result<(), Gone> {
        self.check()?;
        if let (Some(limit), Some(n)) = (&mut self.limit, &mut len) {
            *n = limit.take(*n);
        }
        self.post(Msg::File { file, offset, len })?;
        self.link.flow.wait_below()
    }

    /// Head, whole body and end in one message: the fast path for small responses. The
    /// loop adds a `Content-Length` when the head has none. After [`Reply::start`] the
    /// head given here is ignored: the body and the end go out under the first one.
    pub fn respond(mut self, mut head: ResponseHead, body: Vec<u8>) {
        if self.edit(&mut head) {
            return;
        }
        let Some(notes) = self.end() else { return };
        let _ = self.post(Msg::Respond(head, body, notes));
    }

    /// Head, `len` bytes of `file` from `offset` as the whole body (with `sendfile(2)`),
    /// and end, in one message; the loop adds a `Content-Length` when the head has none.
    /// After [`Reply::start`] the head given here is ignored, as with [`Reply::respond`].
    pub fn respond_file(mut self, mut head: ResponseHead, file: File, offset: u64, len: u64) {
        if self.edit(&mut head) {
            return;
        }
        let Some(notes) = self.end() else { return };
        let _ = self.post(Msg::RespondFile {
            head,
            file,
            offset,
            len,
            notes,
        });
    }

    /// Ends the response normally.
    pub fn finish(mut self) {
        if let Some(notes) = self.end() {
            let _ = self.post(Msg::Finish(notes));
        }
    }

    /// Ends the response abnormally: the connection is closed after what was already sent
    /// (and answered with a 500 if no head was sent yet).
    pub fn abort(mut self) {
        if let Some(notes) = self.end() {
            let _ = self.post(Msg::Abort(notes));
        }
    }

    /// The app failed: if no head was sent yet the loop answers `500 Internal Server
    /// Error` and the connection stays open as the request allows; after the head, the
    /// connection is closed after what was sent, as with [`Reply::abort`]. Marks the
    /// exchange's record with an exception ([`Reply::mark_exception`]).
    pub fn fail(mut self) {
        self.notes.exception = true;
        if let Some(notes) = self.end() {
            let _ = self.post(Msg::Fail(notes));
        }
    }

    /// What the loop knows this request by: give it to [`Stopper::cut`](crate::Stopper::cut)
    /// (from any thread) to have the loop answer the request without waiting for this
    /// reply (harakiri).
    pub fn ticket(&self) -> u64 {
        self.link.id
    }

    /// Whether a routing rule answered in place of the handler's response (uWSGI's
    /// X-Sendfile and error pages): what the handler sends is dropped and [`Reply::send`]
    /// says [`Gone`], but the client is not gone — stop producing, quietly.
    pub fn is_replaced(&self) -> bool {
        self.replaced
    }

    /// Whether the client is already known to be gone.
    pub fn is_gone(&self) -> bool {
        self.link.flow.is_gone()
    }

    /// Whether body bytes past the started head's `Content-Length` were dropped: whatever
    /// more is sent is dropped too, so the producer may stop (PEP 3333 asks the server to
    /// stop iterating once enough data was sent).
    pub fn is_complete(&self) -> bool {
        self.limit.is_some_and(|l| l.overflowed())
    }

    /// Records which of the handler's threads serves the request (a Python thread's index).
    pub fn set_thread(&mut self, thread: usize) {
        self.notes.thread = Some(thread);
    }

    /// Leaves the exchange out of the request log (routing's `donotlog`).
    pub(crate) fn set_no_log(&mut self) {
        self.notes.no_log = true;
    }

    /// Records that the app raised while serving the request.
    pub fn mark_exception(&mut self) {
        self.notes.exception = true;
    }

    /// Sets a log variable of the exchange (uWSGI's `uwsgi.set_logvar`): a second value
    /// for the same name replaces the first.
    pub fn set_logvar(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.notes.set_var(name.into(), value.into());
    }

    /// Marks the reply done and takes its notes for its last message; `None` when it was
    /// done already (a response rule answered in its place): nothing more may reach the
    /// loop then, which may be serving the connection's next request.
    fn end(&mut self) -> Option<Notes> {
        if self.done {
            return None;
        }
        self.done = true;
        Some(std::mem::take(&mut self.notes))
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(notes) = self.end() {
            let _ = self.post(Msg::Abort(notes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn send_blocks_above_high_water_until_written() {
        let flow = Arc::new(Flow::new(100));
        flow.queued(150);
        let (tx, rx) = std::sync::mpsc::channel();
        let f = flow.clone();
        let t = std::thread::spawn(move || {
            let r = f.wait_below();
            tx.send(r).unwrap();
        });
        // Still above the mark: the sender stays parked.
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
        flow.written(30);
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
        flow.written(30); // 90 <= 100
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), Ok(()));
        t.join().unwrap();
        assert_eq!(flow.pending(), 90);
    }

    #[test]
    fn gone_unblocks_a_waiting_sender() {
        let flow = Arc::new(Flow::new(10));
        flow.queued(1000);
        let f = flow.clone();
        let t = std::thread::spawn(move || f.wait_below());
        flow.set_gone();
        assert_eq!(t.join().unwrap(), Err(Gone));
    }

    #[test]
    fn below_high_water_does_not_block() {
        let flow = Flow::new(10);
        flow.queued(10);
        assert_eq!(flow.wait_below(), Ok(()));
    }

    /// A reply of a GET with a 1 MiB high-water mark, and the channel its messages go to
    /// (keep the poll alive while the waker is used).
    fn streaming_reply() -> (mio::Poll, Reply, crossbeam_channel::Receiver<Completion>) {
        let poll = mio::Poll::new().unwrap();
        let notify = Arc::new(Notify::new(
            Waker::new(poll.registry(), mio::Token(0)).unwrap(),
        ));
        let (tx, rx) = crossbeam_channel::unbounded();
        let reply = Reply::new(Link {
            key: 0,
            id: 0,
            tx,
            notify,
            flow: Arc::new(Flow::new(1 << 20)),
            head_request: false,
        });
        (poll, reply, rx)
    }

    #[test]
    fn a_streamed_body_keeps_to_the_content_length_before_it_is_posted() {
        let (_poll, mut reply, rx) = streaming_reply();
        let head = ResponseHead::new(200, "OK", vec![("Content-Length".into(), b"3".to_vec())]);
        reply.start(head).unwrap();
        reply.send(b"he".to_vec()).unwrap();
        assert!(!reply.is_complete());
        reply.send(b"llo".to_vec()).unwrap();
        assert!(reply.is_complete(), "the producer may stop");
        reply.send(b"more".to_vec()).unwrap();
        let data: Vec<Vec<u8>> = rx
            .try_iter()
            .filter_map(|c| match c.msg {
                Msg::Start(_, d) | Msg::Data(d) => Some(d),
                _ => None,
            })
            .collect();
        // The first piece travels with the head.
        assert_eq!(data, [b"he".to_vec(), b"l".to_vec()]);
        assert_eq!(reply.link.flow.pending(), 3);
    }

    #[test]
    fn the_head_travels_with_the_first_piece_of_body() {
        let (_poll, mut reply, rx) = streaming_reply();
        reply
            .start(ResponseHead::new(200, "OK", Vec::new()))
            .unwrap();
        assert!(rx.is_empty(), "the head waits for the body");
        reply.send(b"body".to_vec()).unwrap();
        reply.finish();
        let msgs: Vec<Msg> = rx.try_iter().map(|c| c.msg).collect();
        assert!(
            matches!(&msgs[..], [Msg::Start(h, d), Msg::Finish(_)] if h.status == 200 && d == b"body"),
            "{msgs:?}"
        );
    }

    #[test]
    fn a_dropped_reply_aborts_and_notifies_once() {
        let mut poll = mio::Poll::new().unwrap();
        let notify = Arc::new(Notify::new(
            Waker::new(poll.registry(), mio::Token(0)).unwrap(),
        ));
        notify.arm();
        let (tx, rx) = crossbeam_channel::unbounded();
        let flow = Arc::new(Flow::new(10));
        let link = |id| Link {
            key: 3,
            id,
            tx: tx.clone(),
            notify: notify.clone(),
            flow: flow.clone(),
            head_request: false,
        };
        drop(Reply::new(link(7)));
        let mut reply = Reply::new(link(8));
        reply.set_thread(2);
        reply.set_logvar("user", "a");
        reply.set_logvar("user", "b");
        reply.finish();
        let a = rx.try_recv().unwrap();
        assert!(matches!(
            a,
            Completion {
                key: 3,
                id: 7,
                msg: Msg::Abort(_)
            }
        ));
        let b = rx.try_recv().unwrap();
        let Completion {
            id: 8,
            msg: Msg::Finish(notes),
            ..
        } = b
        else {
            panic!("{b:?}");
        };
        // The notes travel with the last message.
        assert_eq!(notes.thread, Some(2));
        assert_eq!(notes.vars, [("user".to_string(), "b".to_string())]);
        assert!(!notes.exception);
        assert!(rx.try_recv().is_err());
        let mut events = mio::Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(events.iter().count(), 1, "one wake for the batch");
    }
}
