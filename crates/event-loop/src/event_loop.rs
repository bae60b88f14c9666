//! [`EventLoop`]: one worker's mio loop, shaped like mio's `examples/tcp_server.rs`:
//! constant tokens for the listeners and the waker, the slab key as a connection's token,
//! `poll` retried on `Interrupted`, accept drained until `WouldBlock`, unknown tokens
//! ignored, deregistration before drop.
//!
//! One iteration: poll; handle readiness (accept, read, parse, dispatch, write); drain every
//! completion the handler's replies sent (writing each response directly, since the socket
//! usually accepts it); expire timers; hand waiting requests to the handler while it has
//! capacity; listen only while the handler could start another request.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::{Events, Interest, Poll, Token, Waker};
use ruwsgi_proto::{Error as ProtoError, ErrorKind, Limits};
use slab::Slab;

use crate::balance::{over_share, Balance, Siblings};
use crate::conn::{Accepted, Conn, ParseError, Progress, ReadOutcome, State};
use crate::conn::{ExchangePlan, HeaderEdits};
use crate::exchange::{Exchange, ExchangeSink};
use crate::handler::{Address, Handler};
use crate::listen::Listener;
use crate::options::Options;
use crate::reply::{Completion, Flow, Link, Notify, Reply};
use crate::request_log::{RequestLog, REQUEST_LOG_TARGET};
use crate::spill::SpillBudget;
use crate::timer::Timers;

const WAKER: Token = Token(usize::MAX);
/// Listener `i` has token `LISTENER_BASE - i`; connections have their slab key.
const LISTENER_BASE: usize = usize::MAX - 1;
/// Connection keys stay below this, far from the listener tokens.
const MAX_KEY: usize = usize::MAX / 2;
/// The descriptor [`EventLoop::with_watch`] watches.
const WATCH: Token = Token(MAX_KEY);
/// How long to stop accepting after EMFILE/ENFILE.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// How long a just-accepted connection counts as a request about to start (against the
/// handler's idle threads, [`Handler::idle`]) while it has not sent one: a client sends its
/// request right after connecting (wrk, nginx, browsers alike, within a round trip), and
/// until it arrives the worker must not take more connections than it has idle threads. A
/// connection that stays silent (a browser's preconnect) stops counting after this.
const FRESH_WINDOW: Duration = Duration::from_millis(50);
/// How long a closing connection's input is drained after its write side is shut down.
const LINGER: Duration = Duration::from_secs(1);
/// The read buffer shared by every connection of the loop.
const SCRATCH: usize = 64 * 1024;
/// The most pipelined bytes read ahead while a connection's request is being served.
const PIPELINE_MAX: usize = 64 * 1024;

const RUNNING: u8 = 0;
const GRACEFUL: u8 = 1;
const IMMEDIATE: u8 = 2;
const RETIRING: u8 = 3;

#[derive(Debug)]
struct Control {
    state: AtomicU8,
    grace: Mutex<Duration>,
    /// Tickets of requests to answer without their handler ([`Stopper::cut`]).
    cuts: Mutex<Vec<u64>>,
    /// The loop closed its listeners for good (a stop or a retirement) or returned
    /// ([`Stopper::closed`]).
    closed: AtomicBool,
}

/// Stops a running [`EventLoop`] from another thread (`Send + Clone`).
#[derive(Debug, Clone)]
pub struct Stopper {
    control: Arc<Control>,
    notify: Arc<Notify>,
}

impl Stopper {
    /// The server stops: take every connection the kernel has queued on the listeners (no
    /// process will take them once the listeners close), stop accepting, finish in-flight
    /// requests for up to `deadline`, close idle keep-alive connections, then return from
    /// [`EventLoop::run`].
    pub fn graceful(&self, deadline: Duration) {
        *self.control.grace.lock().unwrap_or_else(|e| e.into_inner()) = deadline;
        let _ = self.control.state.compare_exchange(
            RUNNING,
            GRACEFUL,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.notify.wake_now();
    }

    /// Retire: stop accepting — leaving the connections the kernel queued to the sibling
    /// workers and to the replacement, unlike [`Stopper::graceful`] — end each connection
    /// after its response, finish in-flight requests for up to `deadline`, then return
    /// from [`EventLoop::run`]. How a worker leaves while its siblings or its replacement
    /// keep the listeners: it recycles itself (`reload-on-rss`, harakiri) or a reload
    /// replaces it.
    pub fn retire(&self, deadline: Duration) {
        *self.control.grace.lock().unwrap_or_else(|e| e.into_inner()) = deadline;
        let _ = self.control.state.compare_exchange(
            RUNNING,
            RETIRING,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.notify.wake_now();
    }

    /// Answers the request known by `ticket` ([`Reply::ticket`]) without waiting for its
    /// handler, which may never answer (harakiri): `504 Gateway Timeout` if nothing was
    /// sent yet on an HTTP socket, else the connection closes (a uwsgi socket's peer, nginx,
    /// then answers 502). Its reply is gone from then on. A ticket whose request already
    /// ended is ignored.
    pub fn cut(&self, ticket: u64) {
        self.control
            .cuts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ticket);
        self.notify.wake_now();
    }

    /// Return from [`EventLoop::run`] at once, closing every connection.
    pub fn immediate(&self) {
        self.control.state.store(IMMEDIATE, Ordering::Release);
        self.notify.wake_now();
    }

    /// Whether the loop has closed its listeners for good — it stops or retires, or has
    /// returned — so it accepts no connection any more. A process replaced by another
    /// waits for this before telling the replacement to start accepting.
    pub fn closed(&self) -> bool {
        self.control.closed.load(Ordering::Acquire)
    }
}

/// The event loop of one worker, generic over the [`Handler`] that answers requests.
pub struct EventLoop<H> {
    poll: Poll,
    events: Events,
    /// This iteration's events: the token, whether it is readable, whether the peer closed.
    ready: Vec<(Token, bool, bool)>,
    listeners: Vec<Listener>,
    listening: bool,
    conns: Slab<Conn>,
    handler: H,
    options: Options,
    limits: Limits,
    /// The bytes this worker keeps in temp files (`limit-spill`): request bodies, and
    /// through each connection's [`Flow`], spilled responses.
    spill: Arc<SpillBudget>,
    notify: Arc<Notify>,
    tx: Sender<Completion>,
    rx: Receiver<Completion>,
    control: Arc<Control>,
    timers: Timers,
    scratch: Vec<u8>,
    next_id: u64,
    paused_until: Option<Instant>,
    /// EMFILE was seen and not yet followed by a successful accept (logged once).
    fd_starved: bool,
    stalled: VecDeque<usize>,
    /// Connections accepted and not yet past their first dispatch (`Conn::fresh`), oldest
    /// first, with when they were accepted: entries of connections no longer fresh are
    /// skipped when they reach the front.
    fresh: VecDeque<(Instant, usize, u64)>,
    /// How many connections are fresh.
    fresh_count: usize,
    touched: Vec<usize>,
    /// When the loop stops waiting for in-flight requests: set once it stops or retires.
    stopping: Option<Instant>,
    /// Requests handed to the handler (what `max_requests` counts).
    dispatched: u64,
    /// The ordinal (a value `dispatched` took) of the last first request of a connection
    /// handed to the handler, 0 before any: a newcomer ([`EventLoop::newcomer_waits`]).
    newcomer: u64,
    /// `requests` (exchanges ended) when that newcomer was handed over.
    ended_at_newcomer: u64,
    /// When the loop was built (what `min_lifetime` counts from).
    born: Instant,
    /// Called once when the loop retires for `max_requests` ([`EventLoop::on_retire`]).
    retire_notice: Option<Box<dyn FnMut() + Send>>,
    /// A descriptor to watch and what to call when it is readable ([`EventLoop::with_watch`]).
    watch: Option<(OwnedFd, Box<dyn FnMut() + Send>)>,
    /// Exchanges ended, answered or cut short (`req` of the request log's line, and what
    /// [`EventLoop::newcomer_waits`] watches).
    requests: u64,
    now: Instant,
    /// The request log and the `add-header` headers, shared by every exchange.
    plan: ExchangePlan,
    sink: Option<Box<dyn ExchangeSink>>,
    balance: Option<Box<dyn Balance>>,
    /// What was last published through `balance` (connections, idle threads).
    published: (usize, usize),
}

impl<H> fmt::Debug for EventLoop<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("listeners", &self.listeners)
            .field("connections", &self.conns.len())
            .field("options", &self.options)
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

impl<H: Handler> EventLoop<H> {
    /// A loop serving `listeners` with `handler`. Create it in the worker, after fork.
    pub fn new(options: Options, listeners: Vec<Listener>, handler: H) -> io::Result<EventLoop<H>> {
        let poll = Poll::new()?;
        let notify = Arc::new(Notify::new(Waker::new(poll.registry(), WAKER)?));
        let (tx, rx) = crossbeam_channel::unbounded();
        let plan = ExchangePlan {
            log: RequestLog::new(&options),
            header_edits: Arc::new(HeaderEdits {
                add: options.add_header_fields().map_err(|bad| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("add-header {bad:?} is not `Name: value`"),
                    )
                })?,
                del: options.del_header.clone(),
            }),
        };
        let limits = Limits {
            buffer_size: options.buffer_size,
            max_headers: options.max_headers,
        };
        Ok(EventLoop {
            poll,
            events: Events::with_capacity(1024),
            ready: Vec::with_capacity(1024),
            listeners,
            listening: false,
            conns: Slab::with_capacity(64),
            handler,
            spill: SpillBudget::new(options.limit_spill),
            options,
            limits,
            notify,
            tx,
            rx,
            control: Arc::new(Control {
                state: AtomicU8::new(RUNNING),
                grace: Mutex::new(Duration::ZERO),
                cuts: Mutex::new(Vec::new()),
                closed: AtomicBool::new(false),
            }),
            timers: Timers::default(),
            scratch: vec![0; SCRATCH],
            next_id: 0,
            paused_until: None,
            fd_starved: false,
            stalled: VecDeque::new(),
            fresh: VecDeque::new(),
            fresh_count: 0,
            touched: Vec::new(),
            stopping: None,
            dispatched: 0,
            newcomer: 0,
            ended_at_newcomer: 0,
            born: Instant::now(),
            retire_notice: None,
            watch: None,
            requests: 0,
            now: Instant::now(),
            plan,
            sink: None,
            balance: None,
            published: (usize::MAX, usize::MAX),
        })
    }

    /// Hands every exchange's [`Exchange`](crate::Exchange) record to `sink`, on the loop
    /// thread, when the exchange ends: the response written (also an error answer), or
    /// the connection closed while the request was with the handler (the client left, a
    /// timeout, a stop). Requests refused before they reach the handler (400, 413…) have
    /// no record.
    pub fn with_exchange_sink(mut self, sink: impl ExchangeSink + 'static) -> EventLoop<H> {
        self.sink = Some(Box::new(sink));
        self
    }

    /// Shares this worker's connection count with its siblings through `balance`, and
    /// closes keep-alive connections after their response while it holds more than its
    /// share (see [`Balance`]).
    pub fn with_balance(mut self, balance: impl Balance + 'static) -> EventLoop<H> {
        self.balance = Some(Box::new(balance));
        self
    }

    /// Calls `notice` once, on the loop thread, when the loop retires because it handed
    /// `max_requests` requests to the handler ([`Options::max_requests`]): from that
    /// request on it accepts no connection, each response ends its connection, and the
    /// loop returns once its in-flight requests are done (within `retire_mercy`). The
    /// requests already read on connections it holds are still served, so with several
    /// threads or pipelining clients a few more than `max_requests` may run; one client at
    /// a time gets exactly `max_requests`. The process manager spawns the replacement
    /// when told.
    pub fn on_retire(mut self, notice: impl FnMut() + Send + 'static) -> EventLoop<H> {
        self.retire_notice = Some(Box::new(notice));
        self
    }

    /// Watches `fd` (non-blocking): when it turns readable, the loop reads it empty and
    /// calls `on_ready` on the loop thread. How a worker runs the app's Python signal
    /// handlers on its main thread (`ruwsgi_wsgi::SignalDispatch`).
    pub fn with_watch(
        mut self,
        fd: OwnedFd,
        on_ready: impl FnMut() + Send + 'static,
    ) -> io::Result<EventLoop<H>> {
        self.poll.registry().register(
            &mut mio::unix::SourceFd(&fd.as_raw_fd()),
            WATCH,
            Interest::READABLE,
        )?;
        self.watch = Some((fd, Box::new(on_ready)));
        Ok(self)
    }

    /// The watched descriptor is readable: empty it, then call its callback.
    fn watched(&mut self) {
        let Some((fd, on_ready)) = &mut self.watch else {
            return;
        };
        let mut buf = [0u8; 64];
        while matches!(nix::unistd::read(&*fd, &mut buf), Ok(n) if n > 0) {}
        on_ready();
    }

    /// Whether this worker has fallen behind: every thread busy while a sibling has an
    /// idle one, and more than its share of connections ([`over_share`]). Its keep-alive
    /// responses then close their connections, so those clients reconnect to the sibling.
    fn fallen_behind(&self) -> bool {
        let Some(balance) = &self.balance else {
            return false;
        };
        if self.handler.idle() > 0 {
            return false;
        }
        let siblings = balance.siblings();
        siblings.any_idle
            && siblings
                .least_connections
                .is_some_and(|least| over_share(self.conns.len(), least))
    }

    /// Tells the [`Balance`] how many connections the loop holds and how many threads are
    /// idle, when that changed.
    fn publish_load(&mut self) {
        if let Some(balance) = &mut self.balance {
            let now = (self.conns.len(), self.handler.idle());
            if now != self.published {
                self.published = now;
                balance.publish(now.0, now.1);
            }
        }
    }

    /// A handle that stops [`EventLoop::run`] from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            control: self.control.clone(),
            notify: self.notify.clone(),
        }
    }

    /// Serves until stopped.
    pub fn run(self) -> io::Result<()> {
        let control = self.control.clone();
        let served = self.serve();
        control.closed.store(true, Ordering::Release);
        served
    }

    fn serve(mut self) -> io::Result<()> {
        self.sync_listening();
        loop {
            let timeout = self.poll_timeout();
            self.notify.arm();
            // A reply that posted while we were awake did not wake us: do not sleep on it.
            let timeout = if self.rx.is_empty() {
                timeout
            } else {
                Some(Duration::ZERO)
            };
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.notify.disarm();
            self.now = Instant::now();
            match self.control.state.load(Ordering::Acquire) {
                IMMEDIATE => return Ok(()),
                GRACEFUL if self.stopping.is_none() => self.begin_stop(),
                RETIRING if self.stopping.is_none() => {
                    let grace = *self.control.grace.lock().unwrap_or_else(|e| e.into_inner());
                    self.begin_retire(grace);
                }
                _ => {}
            }
            self.apply_cuts();

            let mut ready = std::mem::take(&mut self.ready);
            ready.extend(self.events.iter().map(|e| {
                let closed = e.is_read_closed() || e.is_error();
                (e.token(), e.is_readable() || closed, closed)
            }));
            for &(token, readable, closed) in &ready {
                match token {
                    WAKER => {}
                    WATCH => self.watched(),
                    Token(t) if t > LISTENER_BASE - self.listeners.len() && t <= LISTENER_BASE => {
                        self.accept(LISTENER_BASE - t)
                    }
                    Token(key) => {
                        if let Some(conn) = self.conns.get_mut(key) {
                            conn.readable |= readable;
                            conn.peer_closed |= closed;
                            self.drive(key);
                        }
                    }
                }
            }
            ready.clear();
            self.ready = ready;

            self.drain_completions();
            self.expire_timers();
            self.drain_completions();
            self.handler.flush();
            self.sync_listening();

            if let Some(deadline) = self.stopping {
                if self.conns.is_empty() {
                    return Ok(());
                }
                if self.now >= deadline {
                    log::warn!(
                        "graceful stop: {} connection(s) still open at the deadline, closing them",
                        self.conns.len()
                    );
                    return Ok(());
                }
            }
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        // Deregistered for want of idle threads, the loop must wake when a fresh connection
        // stops counting.
        let fresh_expiry = match self.listening {
            false => self.fresh.front().map(|&(at, _, _)| at + FRESH_WINDOW),
            true => None,
        };
        [
            self.timers.next(),
            self.paused_until,
            self.stopping,
            fresh_expiry,
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Listens only while the handler has an idle thread for another connection
    /// ([`EventLoop::can_accept`]; docs/architecture.md: "a worker accepts only what it can
    /// start", so the kernel hands connections to idle siblings).
    ///
    /// Stopping, an EMFILE pause and the connection limit deregister the listeners at once.
    /// A worker without an idle thread deregisters them lazily — only when a connection
    /// arrives while it is busy ([`EventLoop::accept`]) — so a worker with one thread does
    /// not pay two `epoll_ctl` per request while its clients keep their connections alive.
    /// Not so with `thunder-lock`, where a busy worker that slept registered would swallow
    /// the one wake-up a new connection gives.
    fn sync_listening(&mut self) {
        if self.paused_until.is_some_and(|t| self.now >= t) {
            self.paused_until = None;
        }
        self.expire_fresh();
        self.publish_load();
        // With thunder-lock a connection wakes one sleeping worker, so a busy worker must
        // not sleep registered: it would take the wake-up and leave an idle sibling asleep.
        let blocked = self.stopping.is_some()
            || self.paused_until.is_some()
            || self.conns.len() >= self.options.max_connections
            || (self.options.thunder_lock && !self.can_accept());
        if blocked {
            self.set_listening(false);
        } else if !self.listening && self.can_accept() {
            self.set_listening(true);
        }
    }

    /// Whether another connection may be accepted: the handler has an idle thread that no
    /// fresh connection (accepted, its first request not yet started) is about to take. So
    /// a burst of connections (a client pool opening, nginx passing many requests at once)
    /// spreads over the workers with idle threads instead of going to whichever woke first,
    /// and a keep-alive connection belongs to a worker that had room for it.
    ///
    /// With no idle thread anywhere (every worker busy, say with keep-alive clients), a
    /// worker that holds no more connections than any sibling takes new connections one at
    /// a time, no faster than it ends requests ([`EventLoop::newcomer_waits`]), so a new
    /// client does not wait in the kernel's queue until some worker drains (see
    /// [`Balance`]); a loop with no [`Balance`] is alone and does the same. Behind a proxy
    /// that opens a connection per request, every request is a newcomer and the rest stay
    /// in the kernel's queue, in arrival order, for whichever worker frees a thread first;
    /// beside kept-alive clients, whose next requests keep the queue full, newcomers join
    /// it as fast as requests end instead of waiting for it to empty, which it may never do.
    fn can_accept(&self) -> bool {
        if self.fresh_count < self.handler.idle() {
            return true;
        }
        if self.fresh_count > 0 {
            return false;
        }
        let siblings = match &self.balance {
            Some(b) => b.siblings(),
            None => Siblings::default(),
        };
        self.handler.is_flowing()
            && !self.newcomer_waits()
            && !siblings.any_idle
            && siblings
                .least_connections
                .is_none_or(|least| self.conns.len() <= least)
    }

    /// Whether a worker with no idle thread must leave new connections in the kernel's
    /// queue for now: the last first request of a connection it handed to the handler
    /// still waits for a thread (the handler starts requests in the order it got them, so
    /// the first `dispatched - queued` have started), and no request has ended since. The
    /// second half bounds the ramp when many clients connect at once to a worker whose
    /// queue their predecessors keep full: each newcomer would otherwise wait for the one
    /// before it to start, behind every kept-alive request queued ahead of it, and the
    /// last of wrk's 32 connections waited 1.7 s on a 3 ms view.
    fn newcomer_waits(&self) -> bool {
        let started = self.dispatched.saturating_sub(self.handler.queued() as u64);
        started < self.newcomer && self.requests == self.ended_at_newcomer
    }

    /// Stops counting fresh connections accepted more than [`FRESH_WINDOW`] ago.
    fn expire_fresh(&mut self) {
        while let Some(&(at, key, id)) = self.fresh.front() {
            if at + FRESH_WINDOW > self.now {
                return;
            }
            self.fresh.pop_front();
            if self.conns.get(key).is_some_and(|c| c.id == id) {
                self.unfresh(key);
            }
        }
    }

    /// The connection `key` no longer counts as fresh (its first request started, it
    /// closed, or its window passed).
    fn unfresh(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        if conn.fresh {
            conn.fresh = false;
            self.fresh_count -= 1;
        }
        // Keep the queue to the connections that still count.
        while let Some(&(_, key, id)) = self.fresh.front() {
            match self.conns.get(key) {
                Some(c) if c.id == id && c.fresh => return,
                _ => {
                    self.fresh.pop_front();
                }
            }
        }
    }

    fn set_listening(&mut self, want: bool) {
        if want == self.listening {
            return;
        }
        for (i, l) in self.listeners.iter_mut().enumerate() {
            let exclusive = self.options.thunder_lock;
            let r = if want {
                // Registering reports connections already queued, so none is missed.
                l.register(self.poll.registry(), Token(LISTENER_BASE - i), exclusive)
            } else {
                l.deregister(self.poll.registry(), exclusive)
            };
            if let Err(e) = r {
                log::error!("cannot (de)register a listener: {e}");
            }
        }
        self.listening = want;
    }

    /// Accepts what the kernel queued on listener `i`: while serving, only what
    /// [`EventLoop::can_accept`] allows; while stopping ([`EventLoop::begin_stop`]), every
    /// queued connection up to `max-connections`, since no process will take them after
    /// this one closes the listener.
    fn accept(&mut self, i: usize) {
        let draining = self.stopping.is_some();
        loop {
            self.expire_fresh();
            let full = self.conns.len() >= self.options.max_connections;
            if full || (!draining && !self.can_accept()) {
                // Leave the rest to idle siblings; re-registering reports what is left.
                if !draining {
                    self.set_listening(false);
                }
                return;
            }
            let listener = &self.listeners[i];
            let (stream, peer) = match listener.accept() {
                Ok(v) => v,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                    ) {
                        if !self.fd_starved {
                            log::warn!("accept: {e}; pausing accepts for {ACCEPT_PAUSE:?} at a time until connections close");
                            self.fd_starved = true;
                        }
                        self.paused_until = Some(self.now + ACCEPT_PAUSE);
                        self.set_listening(false);
                    } else {
                        log::warn!("accept: {e}");
                    }
                    return;
                }
            };
            if self.fd_starved {
                log::info!("accepting again");
                self.fd_starved = false;
            }
            stream.configure(self.options.tcp_nodelay, self.options.so_keepalive);
            let local = match stream.local_addr() {
                Some(a) if listener.is_unspecified() => Address::Inet(a),
                _ => listener.local_addr().clone(),
            };
            let protocol = listener.protocol();
            let timeout = listener.timeout().unwrap_or(self.options.socket_timeout);
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            if key >= MAX_KEY {
                return;
            }
            let mut stream = stream;
            if let Err(e) = self.poll.registry().register(
                &mut stream,
                Token(key),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                log::error!("cannot register a connection: {e}");
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            let accepted = Accepted {
                protocol,
                listener: i,
                peer,
                local,
                timeout,
            };
            let conn = entry.insert(Conn::new(
                id,
                stream,
                accepted,
                Flow::new(self.options.high_water).with_spill(self.options.spill_max, &self.spill),
            ));
            // The registration reports input already there; no read that would only
            // return EAGAIN.
            conn.readable = false;
            conn.fresh = true;
            self.fresh_count += 1;
            self.fresh.push_back((self.now, key, id));
            let at = self.now + conn.timeout;
            arm(&mut self.timers, conn, key, Some(at));
            self.publish_load();
        }
    }

    /// Advances one connection as far as it can go without waiting.
    fn drive(&mut self, key: usize) {
        loop {
            let stopping = self.stopping.is_some();
            let now = self.now;
            let Some(conn) = self.conns.get_mut(key) else {
                return;
            };
            let timeout = conn.timeout;
            if conn.has_output() {
                match conn.flush() {
                    Ok(true) => arm(&mut self.timers, conn, key, Some(now + timeout)),
                    Ok(false) => {}
                    Err(e) => {
                        log::debug!("write failed: {e}");
                        self.close(key);
                        return;
                    }
                }
            }
            match conn.state {
                State::Closing { shut } => {
                    if conn.has_output() {
                        if conn.deadline.is_none() {
                            arm(&mut self.timers, conn, key, Some(now + timeout));
                        }
                        return;
                    }
                    if !shut {
                        conn.stream.shutdown_write();
                        conn.state = State::Closing { shut: true };
                        arm(&mut self.timers, conn, key, Some(now + LINGER.min(timeout)));
                        conn.readable = true;
                    }
                    if !conn.readable {
                        return;
                    }
                    // Drain what the client still sends, so closing does not RST.
                    loop {
                        match io::Read::read(&mut conn.stream, &mut self.scratch) {
                            Ok(0) => {
                                self.close(key);
                                return;
                            }
                            Ok(_) => continue,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                conn.readable = false;
                                return;
                            }
                            Err(_) => {
                                self.close(key);
                                return;
                            }
                        }
                    }
                }
                State::Handling => {
                    let ended = conn.exchange.as_ref().is_none_or(|e| e.ended);
                    if ended && !conn.has_output() {
                        self.end_exchange(key);
                        continue;
                    }
                    if !ended && self.watch_client(key) {
                        return;
                    }
                    let Some(conn) = self.conns.get_mut(key) else {
                        return;
                    };
                    // Waiting for the client to drain is bounded; waiting for the app is not
                    // (harakiri's business).
                    if conn.has_output() {
                        if conn.deadline.is_none() {
                            arm(&mut self.timers, conn, key, Some(now + timeout));
                        }
                    } else {
                        conn.deadline = None;
                    }
                    return;
                }
                State::Ready(_) => {
                    if self.handler.has_capacity() {
                        let State::Ready(req) = std::mem::replace(&mut conn.state, State::Handling)
                        else {
                            unreachable!()
                        };
                        self.dispatch(key, *req);
                        continue;
                    }
                    conn.deadline = None;
                    if !conn.stalled {
                        conn.stalled = true;
                        self.stalled.push_back(key);
                    }
                    self.watch_client(key);
                    return;
                }
                State::Head | State::Body(_) => {
                    match conn.parse(&self.options, &self.limits, &self.spill, &self.plan, now) {
                        Ok(Progress::Advanced) => continue,
                        Ok(Progress::Request(req)) => {
                            if self.handler.has_capacity() {
                                self.dispatch(key, req);
                            } else {
                                conn.state = State::Ready(Box::new(req));
                            }
                            continue;
                        }
                        Ok(Progress::NeedMore) => {}
                        Err(ParseError::Client(e)) => {
                            log_refusal(&conn.peer, &e);
                            conn.reject(&e);
                            continue;
                        }
                        Err(ParseError::Io(e)) => {
                            log::error!("cannot buffer a request body: {e}");
                            self.close(key);
                            return;
                        }
                    }
                    if stopping && conn.is_idle() && conn.requests > 0 {
                        self.close(key);
                        return;
                    }
                    if !conn.readable {
                        if conn.deadline.is_none() {
                            arm(&mut self.timers, conn, key, Some(now + timeout));
                        }
                        return;
                    }
                    match conn.read(&mut self.scratch, &self.options) {
                        Ok(ReadOutcome::Data { drained }) => {
                            // A short read emptied the socket: skip the read that would
                            // only return EAGAIN; the next edge says when more arrives.
                            if drained {
                                conn.readable = false;
                            }
                            arm(&mut self.timers, conn, key, Some(now + timeout));
                        }
                        Ok(ReadOutcome::WouldBlock) => conn.readable = false,
                        Ok(ReadOutcome::Eof | ReadOutcome::Error) => {
                            self.close(key);
                            return;
                        }
                        Err(ParseError::Client(e)) => {
                            log_refusal(&conn.peer, &e);
                            conn.reject(&e);
                        }
                        Err(ParseError::Io(e)) => {
                            log::error!("cannot buffer a request body: {e}");
                            self.close(key);
                            return;
                        }
                    }
                }
            }
        }
    }

    /// While a request waits for the handler or is with it, keeps reading, so a client that
    /// leaves is seen at once: EOF or a read error closes the connection, which marks its
    /// reply gone ([`Reply::send`] and [`Reply::is_gone`] then say [`crate::Gone`]; an app
    /// can stop computing). Bytes that arrive are pipelined requests, not a close: they are
    /// kept, up to [`PIPELINE_MAX`]; past it reading stops until the request is answered.
    ///
    /// A client that half-closes (shutdown(SHUT_WR)) after its request looks the same as
    /// one that left; as with Go's net/http, it is taken for gone. Returns whether the
    /// connection was closed.
    fn watch_client(&mut self, key: usize) -> bool {
        let Some(conn) = self.conns.get_mut(key) else {
            return true;
        };
        while conn.readable && conn.buf.len() < PIPELINE_MAX {
            match conn.read(&mut self.scratch, &self.options) {
                Ok(ReadOutcome::Data { drained }) => conn.readable = !drained,
                Ok(ReadOutcome::WouldBlock) => conn.readable = false,
                Ok(ReadOutcome::Eof | ReadOutcome::Error) | Err(_) => {
                    let level = if self.options.ignore_write_errors {
                        log::Level::Debug
                    } else {
                        log::Level::Info
                    };
                    log::log!(
                        level,
                        "client {} went away while its request was being served",
                        describe(&conn.peer)
                    );
                    self.close(key);
                    return true;
                }
            }
        }
        false
    }

    fn dispatch(&mut self, key: usize, req: crate::handler::Request) {
        self.unfresh(key);
        let conn = &mut self.conns[key];
        // `requests` counts the exchanges that ended: none, so this is its first.
        let first = conn.requests == 0;
        conn.state = State::Handling;
        conn.deadline = None;
        conn.dispatched(&req);
        let reply = Reply::new(Link {
            key,
            id: conn.id,
            tx: self.tx.clone(),
            notify: self.notify.clone(),
            flow: Arc::<Flow>::clone(&conn.out.flow),
            head_request: req.is_head(),
        });
        self.handler.handle(req, reply);
        self.dispatched += 1;
        if first {
            self.newcomer = self.dispatched;
            self.ended_at_newcomer = self.requests;
        }
        let max = self.options.max_requests;
        if max > 0
            && self.dispatched >= max
            && self.stopping.is_none()
            && self.now.saturating_duration_since(self.born) >= self.options.min_lifetime
        {
            self.retire_for_max_requests();
        }
    }

    /// `max_requests` reached: tell the embedder, then retire.
    fn retire_for_max_requests(&mut self) {
        // A later `Stopper::graceful` must not turn the retirement into a stop that takes
        // the queued connections.
        let _ = self.control.state.compare_exchange(
            RUNNING,
            RETIRING,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        if let Some(notice) = &mut self.retire_notice {
            notice();
        }
        self.begin_retire(self.options.retire_mercy);
    }

    /// Answers the requests [`Stopper::cut`] named.
    fn apply_cuts(&mut self) {
        let tickets =
            std::mem::take(&mut *self.control.cuts.lock().unwrap_or_else(|e| e.into_inner()));
        for ticket in tickets {
            let Some(key) = self
                .conns
                .iter()
                .find(|(_, c)| c.id == ticket)
                .map(|(k, _)| k)
            else {
                continue;
            };
            let conn = &mut self.conns[key];
            let Some(ex) = &mut conn.exchange else {
                continue;
            };
            if ex.ended || !ex.is_dispatched() {
                continue;
            }
            ex.cut(&mut conn.out);
            // The handler's reply is gone: a blocked `Reply::send` returns.
            conn.out.flow.set_gone();
            self.drive(key);
        }
    }

    fn end_exchange(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        let Some(ex) = conn.exchange.take() else {
            conn.state = State::Closing { shut: false };
            return;
        };
        conn.requests += 1;
        self.exchange_ended(&ex.record(self.now, false));
        let conn = &mut self.conns[key];
        if ex.keep && self.stopping.is_none() {
            conn.state = State::Head;
            if conn.buf.is_empty() && conn.buf.capacity() > SCRATCH {
                conn.buf = Vec::new();
            }
            let at = self.now + conn.timeout;
            arm(&mut self.timers, conn, key, Some(at));
        } else {
            conn.state = State::Closing { shut: false };
        }
    }

    /// Counts an ended exchange, writes its request line (when one is due) and hands its
    /// record to the sink.
    fn exchange_ended(&mut self, record: &Exchange<'_>) {
        self.requests += 1;
        if let Some(line) = self.plan.log.line(self.requests, record) {
            log::info!(target: REQUEST_LOG_TARGET, "{line}");
        }
        if let Some(sink) = &mut self.sink {
            sink.exchange(record);
        }
    }

    fn close(&mut self, key: usize) {
        self.unfresh(key);
        let mut conn = self.conns.remove(key);
        let _ = self.poll.registry().deregister(&mut conn.stream);
        // An exchange cut short (the client left, a timeout, a stop) still has its record,
        // and its request line, as uWSGI logs a request whose answer could not be written
        // (with `werr` and `ioerr` 1).
        if let Some(ex) = conn.exchange.as_ref().filter(|ex| ex.is_dispatched()) {
            self.exchange_ended(&ex.record(self.now, true));
        }
        // Dropping the connection marks its flow gone: a blocked Reply::send returns.
        self.publish_load();
    }

    fn drain_completions(&mut self) {
        loop {
            while !self.stalled.is_empty() && self.handler.has_capacity() {
                let key = self.stalled.pop_front().expect("not empty");
                if let Some(conn) = self.conns.get_mut(key) {
                    conn.stalled = false;
                    self.drive(key);
                }
            }
            // Responses started now end their connection when the loop stops or this worker
            // holds more than its share of keep-alive connections.
            let closing = self.stopping.is_some() || self.fallen_behind();
            let mut any = false;
            while let Ok(c) = self.rx.try_recv() {
                any = true;
                if let Some(conn) = self.conns.get_mut(c.key) {
                    if conn.id == c.id {
                        conn.apply(c.msg, closing);
                        if self.touched.last() != Some(&c.key) {
                            self.touched.push(c.key);
                        }
                    }
                }
            }
            if !any {
                return;
            }
            let mut touched = std::mem::take(&mut self.touched);
            for &key in &touched {
                self.drive(key);
            }
            touched.clear();
            self.touched = touched;
        }
    }

    fn expire_timers(&mut self) {
        let mut progressed = Vec::new();
        while let Some(e) = self.timers.pop_due(self.now) {
            let Some(conn) = self.conns.get_mut(e.key) else {
                continue;
            };
            if conn.id != e.id || conn.armed != Some(e.at) {
                continue; // stale
            }
            conn.armed = None;
            match conn.deadline {
                None => {}
                Some(d) if d > self.now => {
                    self.timers.push(d, e.key, e.id);
                    conn.armed = Some(d);
                }
                // Bytes of a body came since the last read, below the low-water mark (see
                // `Conn::read`): the client is slow, not idle. Read them, and read its
                // bodies as they come from now on.
                Some(_) if conn.low_water > 1 && conn.stream.queued_input() > 0 => {
                    conn.low_water_off = true;
                    conn.set_low_water(1);
                    let at = self.now + conn.timeout;
                    arm(&mut self.timers, conn, e.key, Some(at));
                    progressed.push(e.key);
                }
                Some(_) => {
                    log::debug!("connection from {} timed out", describe(&conn.peer));
                    self.close(e.key);
                }
            }
        }
        for key in progressed {
            self.drive(key);
        }
    }

    /// The server stops: take every connection the kernel queued (docs/architecture.md,
    /// "stopping drains"), busy or not, then close the listeners, so no connection is
    /// left in a queue that dies with the last process holding the socket.
    fn begin_stop(&mut self) {
        let grace = *self.control.grace.lock().unwrap_or_else(|e| e.into_inner());
        self.stopping = Some(self.now + grace);
        for i in 0..self.listeners.len() {
            self.accept(i);
        }
        self.close_listeners_and_idle();
    }

    /// Stops accepting without taking what the kernel queued (the listeners stay open in
    /// the siblings and the replacement), then winds down as a stop does.
    fn begin_retire(&mut self, grace: Duration) {
        self.stopping = Some(self.now + grace);
        self.close_listeners_and_idle();
    }

    /// Closes this loop's listeners and its idle keep-alive connections: what is left are
    /// requests in flight, each of which closes its connection after its response.
    fn close_listeners_and_idle(&mut self) {
        self.sync_listening();
        self.listeners.clear();
        self.control.closed.store(true, Ordering::Release);
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_idle() && c.requests > 0)
            .map(|(k, _)| k)
            .collect();
        for key in idle {
            self.close(key);
        }
    }
}

/// Sets a connection's deadline, pushing a timer entry only when none is pending at or
/// before it (see [`Timers`]).
fn arm(timers: &mut Timers, conn: &mut Conn, key: usize, at: Option<Instant>) {
    conn.deadline = at;
    if let Some(at) = at {
        if conn.armed.is_none_or(|a| at < a) {
            timers.push(at, key, conn.id);
            conn.armed = Some(at);
        }
    }
}

/// Logs a request refused before the handler saw it: a malformed one at info level (the
/// client's fault), one the worker's spill bound refused as a warning (the operator may
/// need to raise `limit-spill`).
fn log_refusal(peer: &Address, e: &ProtoError) {
    match e.kind() {
        ErrorKind::SpillLimit | ErrorKind::SpillFull => {
            log::warn!("refused a request body from {}: {e}", describe(peer));
        }
        _ => log::info!("bad request from {}: {e}", describe(peer)),
    }
}

fn describe(a: &Address) -> String {
    match a {
        Address::Inet(a) => a.to_string(),
        Address::Unix(p) if p.is_empty() => "a unix socket".to_string(),
        Address::Unix(p) => p.clone(),
    }
}
