//! [`WsgiHandler`]: the event loop's [`Handler`] for WSGI apps, and its pool of Python
//! threads.
//!
//! The loop thread never runs Python: `handle` only queues the request. Each pool thread
//! attaches to the interpreter once and detaches while it waits for work (granian's
//! `blocking.rs` shape); it drains every queued job before it sleeps, so a busy worker pays
//! for the GIL handoff once per batch, not per request (docs/architecture.md: the handoff is
//! cheap if it is batched).
//!
//! Each pool thread writes its scoreboard thread slot (`ruwsgi-shm`): the start, method and
//! URI of the request it runs, cleared when the request is done, so the master (harakiri,
//! stats) sees what every thread is doing without asking it.

use std::collections::VecDeque;
use std::fs::File;
use std::os::fd::BorrowedFd;
use std::sync::{Arc, Condvar, Mutex};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use ruwsgi_event_loop::{Handler, Reply, Request};
use ruwsgi_shm::{now_micros, ProcessIndex, Scoreboard, ThreadSlot};

use crate::environ::{AddrCache, EnvironTemplate};
use crate::error::Error;
use crate::exception_recycle::ExceptionRecycle;
use crate::file_wrapper::FileWrapper;
use crate::input::Input;
use crate::load::Apps;
use crate::options::Options;
use crate::pool_load::{Load, QUEUED_MAX};
use crate::response::{ErrorPolicy, StartResponse};
use crate::stacks::Stacks;
use crate::traceback::log_exception;

struct Job {
    request: Request,
    reply: Reply,
}

/// What every pool thread of a worker shares.
struct Worker {
    template: EnvironTemplate,
    apps: Apps,
    load: Arc<Load>,
    sendfile: bool,
    /// What a request does when its client is gone or its app raised
    /// (`disable-write-exception`, `ignore-write-errors`, `catch-exceptions`).
    errors: ErrorPolicy,
    /// The scoreboard and this process's slot on it, whose thread slots the threads write.
    board: Option<(Arc<Scoreboard>, ProcessIndex)>,
    /// Where each thread records its Python thread ident, so its stack can be read.
    stacks: Stacks,
    /// `reload-on-exception-type`, `-value` and `-repr`.
    recycle: Option<ExceptionRecycle>,
}

impl Worker {
    /// Thread `index`'s scoreboard slot (none without a board, or past its layout).
    fn thread_slot(&self, index: usize) -> Option<&ThreadSlot> {
        let (board, slot) = self.board.as_ref()?;
        board.threads_of(*slot).get(index)
    }
}

/// The jobs waiting for a Python thread. A mutex and a condition variable rather than a
/// channel: a thread with nothing to do parks at once (a futex wait) instead of spinning on
/// `sched_yield` first, which on a small machine takes the CPU from the loop thread that is
/// about to hand it work; and the loop wakes a thread only when one is parked.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    jobs: VecDeque<Job>,
    /// Threads waiting in `pop`.
    parked: usize,
    /// Wakeups `wake` has handed out that no parked thread has taken yet (so a spurious
    /// wakeup neither loses one nor makes a thread run twice).
    wakeups: usize,
    closed: bool,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a job without waking anyone: [`Queue::wake`] does, once per loop iteration.
    fn push(&self, job: Job) {
        self.lock().jobs.push_back(job);
    }

    /// Wakes as many parked threads as there are queued jobs. The loop calls it (through
    /// `Handler::flush`) after each batch of events, so a burst of requests costs one wake
    /// per idle thread rather than one per request.
    fn wake(&self) {
        let mut st = self.lock();
        let n = st.jobs.len().min(st.parked - st.wakeups);
        st.wakeups += n;
        drop(st);
        for _ in 0..n {
            self.ready.notify_one();
        }
    }

    fn try_pop(&self) -> Option<Job> {
        self.lock().jobs.pop_front()
    }

    /// Waits for a job; `None` once the queue is closed and empty.
    fn pop(&self) -> Option<Job> {
        let mut st = self.lock();
        loop {
            if let Some(job) = st.jobs.pop_front() {
                return Some(job);
            }
            if st.closed {
                return None;
            }
            st.parked += 1;
            loop {
                st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner());
                if st.wakeups > 0 {
                    st.wakeups -= 1;
                    break;
                }
                if st.closed {
                    break;
                }
            }
            st.parked -= 1;
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

/// Serves requests by calling the WSGI app on a pool of Python threads.
pub struct WsgiHandler {
    queue: Arc<Queue>,
    load: Arc<Load>,
    threads: usize,
    stacks: Stacks,
    recycle: Option<ExceptionRecycle>,
}

impl std::fmt::Debug for WsgiHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsgiHandler")
            .field("threads", &self.threads)
            .field("busy", &self.busy())
            .finish()
    }
}

impl WsgiHandler {
    /// Starts `opts.threads` Python threads serving `apps` (in the worker, after fork),
    /// each with a stack of `thread-stacksize` KiB if set.
    /// With a `board` (the scoreboard and this process's slot), thread `i` records the
    /// request it runs in `board.threads_of(slot)[i]`.
    pub fn new(
        apps: Apps,
        opts: &Options,
        board: Option<(Arc<Scoreboard>, ProcessIndex)>,
    ) -> Result<WsgiHandler, Error> {
        let threads = opts.threads.max(1);
        let template = Python::attach(|py| {
            EnvironTemplate::new(
                py,
                threads > 1,
                opts.numproc > 1,
                opts.file_wrapper,
                opts.manage_script_name,
            )
        })
        .map_err(Error::python)?;
        let load = Arc::new(Load::default());
        let stacks = Stacks::new(threads);
        let recycle = ExceptionRecycle::new(opts);
        let worker = Arc::new(Worker {
            template,
            apps,
            load: load.clone(),
            sendfile: opts.file_wrapper,
            errors: ErrorPolicy {
                raise: !opts.disable_write_exception,
                log: !opts.ignore_write_errors,
                catch: opts.catch_exceptions,
            },
            board,
            stacks: stacks.clone(),
            recycle: recycle.clone(),
        });
        let queue = Arc::new(Queue::default());
        let stack = stack_size(opts.thread_stacksize);
        for i in 0..threads {
            let (w, q) = (worker.clone(), queue.clone());
            let mut builder = std::thread::Builder::new().name(format!("ruwsgi-py-{i}"));
            if let Some(bytes) = stack {
                builder = builder.stack_size(bytes);
            }
            builder.spawn(move || pool_thread(w, q, i)).map_err(|e| {
                let size = stack.map_or(String::new(), |b| {
                    format!(" with a stack of {} KiB (thread-stacksize)", b >> 10)
                });
                Error::python(format!("cannot start a python thread{size}: {e}"))
            })?;
        }
        Ok(WsgiHandler {
            queue,
            load,
            threads,
            stacks,
            recycle,
        })
    }

    /// What tells the process manager that an app exception matched
    /// `reload-on-exception-type`, `-value` or `-repr`; `None` when none is set.
    pub fn exception_recycle(&self) -> Option<ExceptionRecycle> {
        self.recycle.clone()
    }

    /// Reads the Python stacks of this handler's threads (thread `i` is the one whose
    /// scoreboard thread slot is `i`).
    pub fn stacks(&self) -> Stacks {
        self.stacks.clone()
    }

    /// How many requests are being served or queued right now.
    fn busy(&self) -> usize {
        self.load.busy()
    }
}

impl Drop for WsgiHandler {
    fn drop(&mut self) {
        self.queue.close();
    }
}

impl Handler for WsgiHandler {
    fn handle(&mut self, request: Request, reply: Reply) {
        self.load.started();
        self.queue.push(Job { request, reply });
    }

    fn flush(&mut self) {
        self.queue.wake();
    }

    /// A request starts at once on an idle thread or waits in the queue, up to
    /// `QUEUED_MAX` beyond the threads.
    fn has_capacity(&self) -> bool {
        self.busy() < self.threads + QUEUED_MAX
    }

    /// Threads with nothing to do: the loop accepts new connections only into these.
    fn idle(&self) -> usize {
        self.load.idle(self.threads)
    }

    fn is_flowing(&self) -> bool {
        self.load.flowing()
    }

    fn queued(&self) -> usize {
        self.load.busy().saturating_sub(self.threads)
    }
}

/// The stack size in bytes of the request threads under `thread-stacksize KIB`: `None`
/// when unset or 0, and, as uWSGI (whose `pthread_attr_setstacksize` then fails), when
/// below the system's smallest thread stack (logged; the threads keep the default).
fn stack_size(kib: Option<u64>) -> Option<usize> {
    let kib = kib.filter(|&k| k > 0)?;
    let bytes = usize::try_from(kib).ok().and_then(|k| k.checked_mul(1024));
    match bytes {
        Some(bytes) if bytes >= libc::PTHREAD_STACK_MIN => Some(bytes),
        Some(_) => {
            log::warn!(
                "thread-stacksize {kib} (KiB) is below the smallest thread stack ({} KiB): the \
                 python threads keep the default stack size",
                libc::PTHREAD_STACK_MIN >> 10
            );
            None
        }
        None => {
            log::warn!(
                "thread-stacksize {kib} KiB is too large: the python threads keep the \
                 default stack size"
            );
            None
        }
    }
}

/// Python thread `index` of the worker: serves queued jobs until the queue closes.
fn pool_thread(w: Arc<Worker>, queue: Arc<Queue>, index: usize) {
    Python::attach(|py| {
        w.stacks.register(py, index);
        crate::uwsgi_module::set_thread_slot(
            w.board
                .as_ref()
                .map(|(board, slot)| (board.clone(), *slot, index)),
        );
        let mut cache = AddrCache::default();
        loop {
            // Drain what is queued while attached; detach only to wait.
            let job = match queue.try_pop() {
                Some(job) => job,
                None => match py.detach(|| queue.pop()) {
                    Some(job) => job,
                    None => break,
                },
            };
            let slot = w.thread_slot(index);
            if let Some(slot) = slot {
                let head = &job.request.head;
                let ticket = job.reply.ticket();
                slot.request_started(now_micros(), ticket, head.method(), head.uri());
            }
            // A bug of ours must not take the thread (and the worker's capacity) with it: the
            // request's reply is dropped, which answers 500 or closes the connection.
            let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                serve(py, &w, job, index, &mut cache)
            }));
            if let Some(slot) = slot {
                slot.request_finished(now_micros());
            }
            if served.is_err() {
                log::error!(
                    "internal error while serving a request (see the panic above); \
                     the thread goes on"
                );
            }
        }
    });
}

fn serve(py: Python<'_>, w: &Worker, job: Job, thread: usize, cache: &mut AddrCache) {
    crate::uwsgi_module::clear_logvars();
    let Job { request, mut reply } = job;
    // The client left while its request waited for a thread (nginx closes the upstream
    // connection of a client that gave up): nobody will read the answer, so the app does
    // not run for it, and the requests behind it do not wait for it.
    if reply.is_gone() {
        log::log!(
            w.errors.level(),
            "the client left before its request started ({} {}); not running it",
            String::from_utf8_lossy(request.head.method()),
            String::from_utf8_lossy(request.head.uri())
        );
        w.load.done();
        return;
    }
    reply.set_thread(thread);
    let sr = StartResponse::new(reply, w.load.clone(), w.errors, w.recycle.clone());
    let (env, app) = match w.template.build(py, &request, &w.apps, cache) {
        Ok(x) => x,
        Err(e) => {
            sr.fail(py, &e);
            return;
        }
    };
    let Some(app) = app else {
        let why = if w.apps.is_empty() {
            "no WSGI app is loaded (dynamic mode): see the startup log".to_string()
        } else {
            let var = |name| env.get_item(name).ok().flatten().map(|s| s.to_string());
            let script_name = var(intern!(py, "SCRIPT_NAME")).unwrap_or_default();
            if w.apps.vhost {
                let host = var(intern!(py, "HTTP_HOST"))
                    .or_else(|| var(intern!(py, "SERVER_NAME")))
                    .unwrap_or_default();
                format!(
                    "no app is mounted at {:?} (vhost)",
                    format!("{host}|{script_name}")
                )
            } else {
                format!("no app is mounted at SCRIPT_NAME {script_name:?} (no-default-app)")
            }
        };
        sr.fail(py, &pyo3::exceptions::PyRuntimeError::new_err(why));
        return;
    };
    let input = match Bound::new(py, Input::new(request.body)) {
        Ok(i) => i,
        Err(e) => return sr.fail(py, &e),
    };
    if let Err(e) = env.set_item(intern!(py, "wsgi.input"), &input) {
        return sr.fail(py, &e);
    }
    let sr = match Bound::new(py, sr) {
        Ok(sr) => sr,
        Err(e) => {
            log_exception(py, &e, "cannot build start_response");
            return;
        }
    };
    match app.callable.bind(py).call1((env, &sr)) {
        Err(e) => sr.get().fail(py, &e),
        Ok(result) => {
            drive(py, w, sr.get(), &result);
            close(py, &result);
        }
    }
    input.get().release();
    // Whatever happened, this thread is free again.
    sr.get().release();
}

/// Sends what the app returned.
fn drive(py: Python<'_>, w: &Worker, sr: &StartResponse, result: &Bound<'_, PyAny>) {
    if let Ok(list) = result.cast_exact::<PyList>() {
        if sr.head_pending() {
            match join_list(list) {
                Ok(body) => sr.respond_whole(body),
                Err(e) => sr.fail(py, &e),
            }
            return;
        }
    }
    // Not an iterable of bytes but bytes itself: uWSGI sends it as the body (iterating it
    // would yield ints), and so do we.
    if let Ok(b) = result.cast_exact::<PyBytes>() {
        if sr.head_pending() {
            sr.respond_whole(b.as_bytes().to_vec());
        } else {
            match sr.send(py, b.as_bytes()) {
                Ok(_) => sr.complete(py),
                Err(e) => sr.fail(py, &e),
            }
        }
        return;
    }
    if w.sendfile {
        if let Ok(fw) = result.cast::<FileWrapper>() {
            if let Some((file, offset, len)) = real_file(py, fw.get()) {
                match sr.send_file(py, file, offset, len) {
                    Ok(()) => sr.complete(py),
                    Err(e) => sr.fail(py, &e),
                }
                return;
            }
        }
    }
    let iter = match result.try_iter() {
        Ok(it) => it,
        Err(e) => return sr.fail(py, &e),
    };
    for item in iter {
        let chunk = match item {
            Ok(c) => c,
            Err(e) => return sr.fail(py, &e),
        };
        let Ok(bytes) = chunk.cast::<PyBytes>() else {
            let e = pyo3::exceptions::PyTypeError::new_err(format!(
                "the app yielded {} where bytes are required (PEP 3333)",
                chunk
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ));
            return sr.fail(py, &e);
        };
        match sr.send(py, bytes.as_bytes()) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return sr.fail(py, &e),
        }
    }
    sr.complete(py);
}

/// A list of bytes as one buffer (no copy beyond the one into the reply).
fn join_list(list: &Bound<'_, PyList>) -> PyResult<Vec<u8>> {
    if list.len() == 1 {
        let item = list.get_item(0)?;
        return match item.cast::<PyBytes>() {
            Ok(b) => Ok(b.as_bytes().to_vec()),
            Err(_) => Err(not_bytes(&item)),
        };
    }
    let mut total = 0;
    for item in list.iter() {
        match item.cast::<PyBytes>() {
            Ok(b) => total += b.as_bytes().len(),
            Err(_) => return Err(not_bytes(&item)),
        }
    }
    let mut body = Vec::with_capacity(total);
    for item in list.iter() {
        if let Ok(b) = item.cast::<PyBytes>() {
            body.extend_from_slice(b.as_bytes());
        }
    }
    Ok(body)
}

fn not_bytes(item: &Bound<'_, PyAny>) -> PyErr {
    pyo3::exceptions::PyTypeError::new_err(format!(
        "the response list holds {} where bytes are required (PEP 3333)",
        item.get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default()
    ))
}

/// The file behind a file_wrapper, if it is a regular file with a real descriptor: a
/// duplicate of it, the current position and the bytes left.
fn real_file(py: Python<'_>, fw: &FileWrapper) -> Option<(File, u64, u64)> {
    let f = fw.filelike.bind(py);
    let fd: i32 = f.call_method0(intern!(py, "fileno")).ok()?.extract().ok()?;
    if fd < 0 {
        return None;
    }
    // SAFETY: the descriptor belongs to `filelike`, which the wrapper keeps open for the
    // duration of this borrow; it is duplicated before the borrow ends.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let file = File::from(borrowed.try_clone_to_owned().ok()?);
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let offset: u64 = f
        .call_method0(intern!(py, "tell"))
        .ok()
        .and_then(|t| t.extract().ok())
        .unwrap_or(0);
    Some((file, offset, meta.len().saturating_sub(offset)))
}

/// PEP 3333: the server calls the iterable's `close()` when the request ends, however it
/// ends (also on error and on client disconnect).
fn close(py: Python<'_>, result: &Bound<'_, PyAny>) {
    if result.is_exact_instance_of::<PyList>() || result.is_exact_instance_of::<PyBytes>() {
        return;
    }
    if let Ok(close) = result.getattr(intern!(py, "close")) {
        if let Err(e) = close.call0() {
            log_exception(py, &e, "the response's close() failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_size_is_kib_unless_unset_zero_or_below_the_minimum() {
        assert_eq!(stack_size(None), None);
        assert_eq!(stack_size(Some(0)), None);
        assert_eq!(stack_size(Some(1)), None);
        assert_eq!(stack_size(Some(5000)), Some(5000 * 1024));
    }
}
