//! One thread's slot: its counters and the request it is running, readable by any process
//! without locks.
//!
//! # The seqlock
//! The request in progress (start time, method, URI) is several words; a reader in another
//! process (the master checking harakiri, a stats request) must never see the method of one
//! request with the URI of the next. The slot guards those words with a sequence counter
//! (a seqlock, as in Linux's `seqcount_t` and crossbeam's `AtomicCell`):
//!
//! - the writer makes the counter odd (a compare-exchange, so two writers of one slot take
//!   turns), issues a `Release` fence, stores the words, and makes the counter even again
//!   with a `Release` store;
//! - the reader loads the counter with `Acquire`, gives up this attempt if it is odd, loads
//!   the words, issues an `Acquire` fence and loads the counter again: the words form one
//!   snapshot only if both loads saw the same even value.
//!
//! Why that is enough (H.-J. Boehm, "Can seqlocks get along with programming language memory
//! models?", 2012): if any word the reader loaded was stored by a write that started after
//! the reader's first load, the writer's `Release` fence (before that word's store)
//! synchronizes with the reader's `Acquire` fence (after that word's load), so the writer's
//! odd store happens-before the reader's second load, which therefore cannot return the
//! first value: the reader retries. If no such word was loaded, every word comes from the
//! write that published the even value the first `Acquire` load saw. Every shared word is
//! an atomic (loaded and stored `Relaxed`), so a torn read is a retry, never undefined
//! behaviour. The words are whole `u64`s: copying a 30-byte URI is four stores.
//!
//! A writer stopped half-way (paused by `SIGSTOP`, killed by harakiri) leaves the counter
//! odd; the reader therefore tries a bounded number of times and then reports nothing, and
//! the master clears the slot when it reaps the process.

use std::fmt;
use std::hint;
use std::sync::atomic::{fence, AtomicU64, Ordering};

/// How many bytes of the request method a slot keeps (longer methods are cut).
pub const METHOD_CAPACITY: usize = 16;
/// How many bytes of the request URI a slot keeps (longer URIs are cut, and
/// [`RunningRequest::uri_truncated`] says so).
pub const URI_CAPACITY: usize = 240;

const WORD: usize = 8;
const METHOD_WORDS: usize = METHOD_CAPACITY / WORD;
const URI_WORDS: usize = URI_CAPACITY / WORD;

/// How many times [`ThreadSlot::snapshot`] tries before it reports nothing: a writer's
/// update is a few dozen stores, so a consistent read needs one or two attempts unless the
/// writer was stopped in the middle.
const READ_ATTEMPTS: usize = 1000;

/// The `lengths` word: method length in bits 0..16, URI length in bits 16..32, and bit 32
/// set when the URI was cut.
const URI_SHIFT: u32 = 16;
const TRUNCATED: u64 = 1 << 32;
const LENGTH_MASK: u64 = 0xffff;

/// One thread's slot (a Python thread of a worker). Written by the thread it belongs to,
/// read by any process. Times are microseconds since the Unix epoch
/// ([`now_micros`](crate::now_micros)), 0 meaning "none".
///
/// Cache-line aligned, so two threads writing their own slots never share a line.
#[repr(C, align(64))]
pub struct ThreadSlot {
    /// The seqlock's counter: odd while the request words below are being written.
    seq: AtomicU64,
    started_us: AtomicU64,
    lengths: AtomicU64,
    method: [AtomicU64; METHOD_WORDS],
    uri: [AtomicU64; URI_WORDS],
    /// The loop's ticket of the running request ([`RunningRequest::ticket`]), one of the
    /// seqlock's words.
    ticket: AtomicU64,
    /// The harakiri deadline the running request set for itself
    /// (`uwsgi.set_user_harakiri`), 0 for none. Written by the thread, cleared when a
    /// request starts or ends; read by the master.
    user_deadline_us: AtomicU64,
    /// The `started_us` of the request the master cut (harakiri), 0 for none: the worker
    /// answers that request and no other one this thread may run by then.
    cut_us: AtomicU64,
    /// Requests this thread finished.
    pub requests: AtomicU64,
    /// When this thread's last request ended.
    pub last_request_end: AtomicU64,
}

/// A consistent copy of the request a thread is running, as [`ThreadSlot::snapshot`] read
/// it. The method and URI are the request's bytes, cut to [`METHOD_CAPACITY`] and
/// [`URI_CAPACITY`] bytes (a cut may fall inside a UTF-8 sequence: they are bytes, as on the
/// wire).
#[derive(Clone, PartialEq, Eq)]
pub struct RunningRequest {
    /// When the request started, in microseconds since the Unix epoch.
    pub started_us: u64,
    /// What the worker's loop knows the request by (the ticket its handler was given),
    /// so the worker can answer the request the master cut.
    pub ticket: u64,
    method: [u8; METHOD_CAPACITY],
    method_len: usize,
    uri: [u8; URI_CAPACITY],
    uri_len: usize,
    uri_truncated: bool,
}

impl RunningRequest {
    /// The request method (`GET`, ...).
    pub fn method(&self) -> &[u8] {
        &self.method[..self.method_len]
    }

    /// The request URI, path and query, as the client sent it (cut to [`URI_CAPACITY`]).
    pub fn uri(&self) -> &[u8] {
        &self.uri[..self.uri_len]
    }

    /// Whether the URI was longer than [`URI_CAPACITY`] and [`RunningRequest::uri`] holds
    /// only its beginning.
    pub fn uri_truncated(&self) -> bool {
        self.uri_truncated
    }
}

impl fmt::Debug for RunningRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningRequest")
            .field("started_us", &self.started_us)
            .field("ticket", &self.ticket)
            .field("method", &String::from_utf8_lossy(self.method()))
            .field("uri", &String::from_utf8_lossy(self.uri()))
            .field("uri_truncated", &self.uri_truncated)
            .finish()
    }
}

impl ThreadSlot {
    /// Records that this thread started a request at `started_us` (microseconds since the
    /// Unix epoch, not 0), known to its loop by `ticket`: the method and URI are kept, cut
    /// to the slot's capacity.
    pub fn request_started(&self, started_us: u64, ticket: u64, method: &[u8], uri: &[u8]) {
        let method = &method[..method.len().min(METHOD_CAPACITY)];
        let truncated = uri.len() > URI_CAPACITY;
        let uri = &uri[..uri.len().min(URI_CAPACITY)];
        let mut lengths = method.len() as u64 | (uri.len() as u64) << URI_SHIFT;
        if truncated {
            lengths |= TRUNCATED;
        }
        self.user_deadline_us.store(0, Ordering::Relaxed);
        self.write(|| {
            self.started_us.store(started_us, Ordering::Relaxed);
            self.ticket.store(ticket, Ordering::Relaxed);
            self.lengths.store(lengths, Ordering::Relaxed);
            store_bytes(&self.method, method);
            store_bytes(&self.uri, uri);
        });
    }

    /// Records that this thread's request ended at `ended_us`: the slot shows no running
    /// request, `requests` counts one more. (Bytes and exceptions are the process slot's,
    /// written from the loop's exchange record.)
    pub fn request_finished(&self, ended_us: u64) {
        self.user_deadline_us.store(0, Ordering::Relaxed);
        self.write(|| {
            self.started_us.store(0, Ordering::Relaxed);
            self.lengths.store(0, Ordering::Relaxed);
        });
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.last_request_end.store(ended_us, Ordering::Relaxed);
    }

    /// The request this thread is running, read consistently (see the module's doc), or
    /// `None` when it runs none — or when its writer was stopped in the middle of an update
    /// (paused or killed), which the next look may show.
    pub fn snapshot(&self) -> Option<RunningRequest> {
        for _ in 0..READ_ATTEMPTS {
            let before = self.seq.load(Ordering::Acquire);
            if before % 2 == 0 {
                let started_us = self.started_us.load(Ordering::Relaxed);
                let ticket = self.ticket.load(Ordering::Relaxed);
                let lengths = self.lengths.load(Ordering::Relaxed);
                // A torn `lengths` is caught by the check below; the clamps keep it in
                // bounds until then.
                let method_len = ((lengths & LENGTH_MASK) as usize).min(METHOD_CAPACITY);
                let uri_len = ((lengths >> URI_SHIFT & LENGTH_MASK) as usize).min(URI_CAPACITY);
                let mut request = RunningRequest {
                    started_us,
                    ticket,
                    method: [0; METHOD_CAPACITY],
                    method_len,
                    uri: [0; URI_CAPACITY],
                    uri_len,
                    uri_truncated: lengths & TRUNCATED != 0,
                };
                load_bytes(&self.method, &mut request.method[..method_len]);
                load_bytes(&self.uri, &mut request.uri[..uri_len]);
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == before {
                    return (started_us != 0).then_some(request);
                }
            }
            hint::spin_loop();
        }
        None
    }

    /// Sets the running request's own harakiri deadline (`uwsgi.set_user_harakiri`), in
    /// microseconds since the Unix epoch; 0 removes it. It ends with the request.
    pub fn set_user_deadline(&self, deadline_us: u64) {
        self.user_deadline_us.store(deadline_us, Ordering::Relaxed);
    }

    /// The running request's own harakiri deadline, if it set one.
    pub fn user_deadline(&self) -> Option<u64> {
        match self.user_deadline_us.load(Ordering::Relaxed) {
            0 => None,
            at => Some(at),
        }
    }

    /// Marks the request that started at `started_us` as cut by harakiri (the master
    /// writes it before it tells the worker).
    pub fn mark_cut(&self, started_us: u64) {
        self.cut_us.store(started_us, Ordering::Release);
    }

    /// Whether `running` (a snapshot of this slot) is the request the master cut.
    pub fn is_cut(&self, running: &RunningRequest) -> bool {
        self.cut_us.load(Ordering::Acquire) == running.started_us
    }

    /// Zeroes the slot, counters included. Only for a slot no thread writes any more (its
    /// process was reaped), so it takes the write section without waiting: a writer killed
    /// inside its section left the counter odd, and it stays odd until the words are zero.
    pub(crate) fn clear(&self) {
        let odd = self.seq.load(Ordering::Relaxed) | 1;
        self.seq.store(odd, Ordering::Relaxed);
        fence(Ordering::Release);
        self.started_us.store(0, Ordering::Relaxed);
        self.ticket.store(0, Ordering::Relaxed);
        self.lengths.store(0, Ordering::Relaxed);
        for word in self.method.iter().chain(&self.uri) {
            word.store(0, Ordering::Relaxed);
        }
        self.seq.store(odd.wrapping_add(1), Ordering::Release);
        self.user_deadline_us.store(0, Ordering::Relaxed);
        self.cut_us.store(0, Ordering::Relaxed);
        self.requests.store(0, Ordering::Relaxed);
        self.last_request_end.store(0, Ordering::Relaxed);
    }

    /// Runs `update` (stores of the request words) as one seqlock write section.
    fn write(&self, update: impl FnOnce()) {
        let mut seq = self.seq.load(Ordering::Relaxed);
        loop {
            if seq % 2 == 1 {
                // Another writer of this slot is in its section: a few stores, wait them out.
                hint::spin_loop();
                seq = self.seq.load(Ordering::Relaxed);
                continue;
            }
            match self.seq.compare_exchange_weak(
                seq,
                seq.wrapping_add(1),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => seq = now,
            }
        }
        // Orders the odd counter before the word stores (the reader's Acquire fence pairs
        // with it, see the module's doc).
        fence(Ordering::Release);
        update();
        // Publishes the words with the even counter.
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }
}

impl fmt::Debug for ThreadSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadSlot")
            .field("running", &self.snapshot())
            .field("requests", &self.requests)
            .field("last_request_end", &self.last_request_end)
            .finish()
    }
}

/// Stores `bytes` into the first words of `words`, eight bytes a word (the last one padded
/// with zeros).
fn store_bytes(words: &[AtomicU64], bytes: &[u8]) {
    for (word, chunk) in words.iter().zip(bytes.chunks(WORD)) {
        let mut buf = [0; WORD];
        buf[..chunk.len()].copy_from_slice(chunk);
        word.store(u64::from_ne_bytes(buf), Ordering::Relaxed);
    }
}

/// Fills `out` from the first words of `words` (the inverse of [`store_bytes`]).
fn load_bytes(words: &[AtomicU64], out: &mut [u8]) {
    for (word, chunk) in words.iter().zip(out.chunks_mut(WORD)) {
        let buf = word.load(Ordering::Relaxed).to_ne_bytes();
        chunk.copy_from_slice(&buf[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    fn slot() -> ThreadSlot {
        // SAFETY: all-zero bytes are a valid ThreadSlot (atomics and arrays of them), the
        // state a fresh mapping holds.
        unsafe { mem::zeroed() }
    }

    #[test]
    fn a_slot_is_whole_cache_lines() {
        assert_eq!(mem::align_of::<ThreadSlot>(), 64);
        assert_eq!(mem::size_of::<ThreadSlot>() % 64, 0);
    }

    #[test]
    fn started_then_finished() {
        let slot = slot();
        assert!(slot.snapshot().is_none());
        slot.request_started(1_000, 9, b"GET", b"/hello?x=1");
        let running = slot.snapshot().unwrap();
        assert_eq!((running.started_us, running.ticket), (1_000, 9));
        assert_eq!(running.method(), b"GET");
        assert_eq!(running.uri(), b"/hello?x=1");
        assert!(!running.uri_truncated());
        slot.request_finished(2_000);
        assert!(slot.snapshot().is_none());
        assert_eq!(slot.requests.load(Ordering::Relaxed), 1);
        assert_eq!(slot.last_request_end.load(Ordering::Relaxed), 2_000);
    }

    #[test]
    fn a_cut_mark_and_a_user_deadline_belong_to_one_request() {
        let slot = slot();
        slot.request_started(10, 1, b"GET", b"/slow");
        slot.set_user_deadline(99);
        assert_eq!(slot.user_deadline(), Some(99));
        let running = slot.snapshot().unwrap();
        assert!(!slot.is_cut(&running));
        slot.mark_cut(running.started_us);
        assert!(slot.is_cut(&running));
        slot.request_finished(20);
        assert_eq!(
            slot.user_deadline(),
            None,
            "a deadline ends with its request"
        );
        slot.request_started(30, 2, b"GET", b"/next");
        assert!(
            !slot.is_cut(&slot.snapshot().unwrap()),
            "the next request is not cut"
        );
    }

    #[test]
    fn long_method_and_uri_are_cut_to_capacity() {
        let slot = slot();
        let uri = vec![b'a'; URI_CAPACITY + 10];
        slot.request_started(5, 0, b"PROPFIND-EXTENDED-METHOD", &uri);
        let running = slot.snapshot().unwrap();
        assert_eq!(
            running.method(),
            &b"PROPFIND-EXTENDED-METHOD"[..METHOD_CAPACITY]
        );
        assert_eq!(running.uri(), &uri[..URI_CAPACITY]);
        assert!(running.uri_truncated());
        // A shorter request after a long one shows none of the long one's bytes.
        slot.request_started(6, 0, b"GET", b"/");
        let running = slot.snapshot().unwrap();
        assert_eq!((running.method(), running.uri()), (&b"GET"[..], &b"/"[..]));
        assert!(!running.uri_truncated());
    }

    #[test]
    fn a_writer_stopped_mid_update_does_not_hang_the_reader() {
        let slot = slot();
        slot.request_started(5, 0, b"GET", b"/");
        slot.seq.fetch_add(1, Ordering::Relaxed); // as if the writer died in its section
        assert!(slot.snapshot().is_none());
        slot.clear();
        assert!(slot.snapshot().is_none());
        slot.request_started(7, 0, b"GET", b"/again");
        assert_eq!(slot.snapshot().unwrap().uri(), b"/again");
    }

    /// Writers alternate between requests whose method, URI and start time all derive from
    /// one number; readers racing them must only ever see one request's fields together.
    #[test]
    fn a_reader_racing_writers_never_sees_a_torn_request() {
        fn request(n: u64) -> (Vec<u8>, Vec<u8>) {
            let method = format!("M{n}").into_bytes();
            // Lengths vary so a torn read would mix lengths as well as bytes.
            let uri = format!("/{}", n.to_string().repeat(1 + (n % 40) as usize)).into_bytes();
            (method, uri)
        }
        let slot = Arc::new(slot());
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2u64)
            .map(|w| {
                let (slot, stop) = (slot.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut n = w + 1;
                    while !stop.load(Ordering::Relaxed) {
                        let (method, uri) = request(n);
                        slot.request_started(n, n, &method, &uri);
                        if n % 7 == 0 {
                            slot.request_finished(n);
                        }
                        n += 2;
                    }
                })
            })
            .collect();
        // Reads until it has seen many requests (writers get scheduled eventually, however
        // loaded the machine), each checked whole. A million: enough that a reader without
        // the second counter check fails here within the run.
        let mut seen = 0;
        while seen < 1_000_000 {
            if let Some(running) = slot.snapshot() {
                let (method, uri) = request(running.started_us);
                let uri = &uri[..uri.len().min(URI_CAPACITY)];
                assert_eq!(running.method(), &method[..], "{running:?}");
                assert_eq!(running.uri(), uri, "{running:?}");
                assert_eq!(running.ticket, running.started_us, "{running:?}");
                seen += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
    }
}
