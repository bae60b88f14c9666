"""Decorators over the ``uwsgi`` module, as uWSGI's ``uwsgidecorators`` offers them.

ruwsgi's own implementation, installed as ``sys.modules['uwsgidecorators']`` when the
interpreter starts; it uses only the standard library and the ``uwsgi`` module.

Signals, timers and cron (they need the master process)::

    @timer(5)                    # every 5 seconds
    @rbtimer(5)                  # the same, through uwsgi.add_rb_timer
    @cron(0, 3, -1, -1, -1)      # minute hour day month weekday: -1 any, -N every N
    @filemon("/tmp/reload.me")   # when the file or directory changes
    @signal(17)                  # raised with uwsgi.signal(17)
    def handler(num): ...        # handlers receive the signal number

``target`` picks who runs the handler ('' or 'worker': the first available worker;
'workers', 'active-workers', 'workerN', 'mule', 'mules', 'muleN'). Without ``signum`` a
free signal number is chosen (see :func:`get_free_signal`). These decorators return the
function unchanged.

Processes:

- ``@postfork``: run after each fork, in every worker and mule (respawned ones too), in
  registration order, after any ``uwsgi.post_fork_hook`` that was already set. One that
  raises is logged with its traceback and the others still run.
- ``@mule(N)``: the function is the body of mule N. It runs in that mule after fork, once
  the ``@postfork`` functions have run; when it returns, the mule goes on with its generic
  loop (handing messages to ``uwsgi.mule_msg_hook``, so ``@mulefunc`` calls still work).
- ``@muleloop(N)``: like ``@mule(N)`` but the function is called again each time it
  returns, for ever (the mule never reaches its generic loop). An exception is logged and
  the next call comes one second later.
- ``@mulefunc(N)``: calling the function outside a mule queues the call for mule N (0: any
  mule) and returns what ``uwsgi.mule_msg`` returned; inside a mule it runs the function.
- ``@thread``: each call runs the function in a new daemon thread and returns the
  ``threading.Thread``.
- ``@harakiri(secs)``: the request is killed if the call runs longer than ``secs``.
- ``@lock``: the call runs holding uWSGI lock 0 (needs ``uwsgi.lock``).
- ``@spool``, ``@spoolforever``, ``@spoolraw``: calling the function queues a job that
  runs it in the spooler (needs ``uwsgi.spool``); ``.spool(...)`` is the older name of the
  call, ``.f`` the function itself.

Wire formats (the server side must honour them):

- A ``@mulefunc`` message is ``pickle.dumps((MULEFUNC_MARKER, key, args, kwargs),
  protocol=3)``, where ``key`` is ``"<module>.<qualname>"`` of the function. The mule runs
  it through the dispatcher installed as ``uwsgi.mule_msg_hook``; any other message goes to
  the hook that was set before, if any.
- A spooled job is uWSGI's: a dict with ``ud_spool_func`` (the function's ``__name__``)
  and, but for ``@spoolraw``, ``ud_spool_ret`` (the code the job returns: ``"-2"``,
  SPOOL_OK, for ``@spool``; ``"-1"``, SPOOL_RETRY, for ``@spoolforever``); with
  ``pass_arguments=True`` the pickled positional and keyword arguments are in ``args``
  and ``kwargs``. The spooler runs it through the dispatcher installed as
  ``uwsgi.spooler``, so jobs queued under uWSGI run here and the other way round (jobs
  queued by earlier ruwsgi versions, keyed ``module.qualname``, run too).
"""

import functools
import pickle
import sys
import threading
import time
import traceback

import uwsgi

__all__ = [
    "uwsgi",
    "get_free_signal",
    "postfork",
    "timer",
    "rbtimer",
    "cron",
    "filemon",
    "signal",
    "mulefunc",
    "mule",
    "muleloop",
    "thread",
    "harakiri",
    "lock",
    "spool",
    "spoolforever",
    "spoolraw",
]

#: Signal numbers run from 0 to SIGNALS - 1.
SIGNALS = 256

#: The largest ``@mulefunc`` message, in bytes (what a generic mule reads at once).
MULE_MSG_MAX = 65536

#: The first item of every pickled ``@mulefunc`` message.
MULEFUNC_MARKER = "uwsgidecorators.mulefunc"

_MULEFUNC_PROTOCOL = 3


def _log(message):
    """Write one line to stderr, at once."""
    sys.stderr.write("uwsgidecorators: %s\n" % message)
    sys.stderr.flush()


def _log_exception(message):
    """Log ``message`` and the traceback of the exception being handled."""
    _log(message)
    traceback.print_exc()
    sys.stderr.flush()


def _key(f):
    """The name a function is known by across processes: ``module.qualname``."""
    name = getattr(f, "__qualname__", None) or getattr(f, "__name__", repr(f))
    return "%s.%s" % (getattr(f, "__module__", None) or "?", name)


def _needs_arguments(name, arg):
    """Refuse ``@name`` used bare when it takes arguments (``@name(...)``)."""
    if callable(arg):
        raise TypeError("@%s takes arguments: write @%s(...), not @%s" % (name, name, name))


# --- signals -----------------------------------------------------------------------------

_signals_lock = threading.Lock()
_signals_taken = set()


def _first_free_signal():
    for num in range(SIGNALS):
        if num not in _signals_taken and not uwsgi.signal_registered(num):
            return num
    raise RuntimeError(
        "no free uwsgi signal: all %d signal numbers (0-%d) are registered" % (SIGNALS, SIGNALS - 1)
    )


def get_free_signal():
    """The lowest signal number neither registered nor handed out by this module."""
    with _signals_lock:
        return _first_free_signal()


def _register(signum, target, handler):
    """Register ``handler`` for ``signum`` (a free number when None); the number used."""
    with _signals_lock:
        if signum is None:
            signum = _first_free_signal()
        uwsgi.register_signal(signum, target, handler)
        _signals_taken.add(signum)
    return signum


def signal(num, target=""):
    """Run the function, as ``f(num)``, when signal ``num`` is raised."""
    _needs_arguments("signal", num)

    def decorate(f):
        _register(num, target, f)
        return f

    return decorate


def timer(secs, target="", signum=None):
    """Run the function, as ``f(signum)``, every ``secs`` seconds."""
    _needs_arguments("timer", secs)

    def decorate(f):
        uwsgi.add_timer(_register(signum, target, f), secs)
        return f

    return decorate


def rbtimer(secs, target="", signum=None):
    """Like :func:`timer`, through ``uwsgi.add_rb_timer``."""
    _needs_arguments("rbtimer", secs)

    def decorate(f):
        uwsgi.add_rb_timer(_register(signum, target, f), secs)
        return f

    return decorate


def cron(minute, hour, day, month, weekday, target="", signum=None):
    """Run the function, as ``f(signum)``, when the time matches (-1 any, -N every N)."""
    _needs_arguments("cron", minute)

    def decorate(f):
        uwsgi.add_cron(_register(signum, target, f), minute, hour, day, month, weekday)
        return f

    return decorate


def filemon(path, target="", signum=None):
    """Run the function, as ``f(signum)``, when the file or directory ``path`` changes."""
    _needs_arguments("filemon", path)

    def decorate(f):
        uwsgi.add_file_monitor(_register(signum, target, f), path)
        return f

    return decorate


# --- after fork: postfork, mule, muleloop --------------------------------------------------

_postfork_functions = []
_earlier_post_fork_hooks = []
_mule_bodies = {}  # mule id -> (function, for ever?)


def _run_postfork_chain():
    """``uwsgi.post_fork_hook``: the earlier hooks, the ``@postfork`` functions, then (in
    a mule) the ``@mulefunc`` dispatcher check and the ``@mule``/``@muleloop`` body."""
    for f in list(_earlier_post_fork_hooks) + list(_postfork_functions):
        try:
            f()
        except Exception:
            _log_exception("postfork function %s raised" % _key(f))
    mule_id = uwsgi.mule_id()
    if mule_id:
        if _mulefunctions:
            _install_mule_dispatcher()
        _run_mule_body(mule_id)


def _install_postfork_chain():
    """Make :func:`_run_postfork_chain` the post-fork hook, keeping any other one set."""
    current = getattr(uwsgi, "post_fork_hook", None)
    if current is _run_postfork_chain:
        return
    if callable(current) and current not in _earlier_post_fork_hooks:
        _earlier_post_fork_hooks.append(current)
    uwsgi.post_fork_hook = _run_postfork_chain


def postfork(f):
    """Run ``f()`` in every worker and mule right after it is forked."""
    if not callable(f):
        raise TypeError("@postfork takes no arguments: write @postfork")
    _postfork_functions.append(f)
    _install_postfork_chain()
    return f


def _run_mule_body(mule_id):
    body = _mule_bodies.get(mule_id)
    if body is None:
        return
    f, forever = body
    while True:
        try:
            f()
        except Exception:
            _log_exception("the body of mule %d (%s) raised" % (mule_id, _key(f)))
            if forever:
                time.sleep(1)
        if not forever:
            return


def _add_mule_body(name, mule_id, forever):
    _needs_arguments(name, mule_id)
    if isinstance(mule_id, bool) or not isinstance(mule_id, int) or mule_id < 1:
        raise ValueError("@%s(%r): give a mule id, 1 or more" % (name, mule_id))

    def decorate(f):
        if mule_id in _mule_bodies:
            earlier = _key(_mule_bodies[mule_id][0])
            raise ValueError("@%s(%d): mule %d already runs %s" % (name, mule_id, mule_id, earlier))
        _mule_bodies[mule_id] = (f, forever)
        _install_postfork_chain()
        return f

    return decorate


def mule(mule_id):
    """Run ``f()`` once in mule ``mule_id`` after it is forked; then the mule goes on with
    its generic message loop."""
    return _add_mule_body("mule", mule_id, False)


def muleloop(mule_id):
    """Call ``f()`` in mule ``mule_id`` for ever, again each time it returns."""
    return _add_mule_body("muleloop", mule_id, True)


# --- mulefunc ----------------------------------------------------------------------------

_mulefunctions = {}
_earlier_mule_msg_hook = [None]


def _mulefunc_prefix():
    """The bytes every ``@mulefunc`` message starts with: the pickle up to the marker."""
    probe = pickle.dumps((MULEFUNC_MARKER, "", (), {}), protocol=_MULEFUNC_PROTOCOL)
    marker = MULEFUNC_MARKER.encode("utf-8")
    return probe[: probe.index(marker) + len(marker)]


_MULEFUNC_PREFIX = _mulefunc_prefix()


def _dispatch_mule_msg(message):
    """``uwsgi.mule_msg_hook``: run a ``@mulefunc`` call; hand anything else on."""
    if not bytes(message).startswith(_MULEFUNC_PREFIX):
        earlier = _earlier_mule_msg_hook[0]
        if earlier is not None:
            return earlier(message)
        _log("mule %d: dropped a message of %d bytes that is no @mulefunc call"
             % (uwsgi.mule_id(), len(message)))
        return None
    _marker, key, args, kwargs = pickle.loads(message)
    f = _mulefunctions.get(key)
    if f is None:
        _log("mule %d: no @mulefunc named %s in this process; call dropped"
             % (uwsgi.mule_id(), key))
        return None
    return f(*args, **kwargs)


def _install_mule_dispatcher():
    """Make :func:`_dispatch_mule_msg` the mule message hook, chaining any other one."""
    current = getattr(uwsgi, "mule_msg_hook", None)
    if current is _dispatch_mule_msg:
        return
    if callable(current):
        _earlier_mule_msg_hook[0] = current
    uwsgi.mule_msg_hook = _dispatch_mule_msg


def mulefunc(target):
    """Run the function in a mule: ``target`` is a mule id (0: any mule) or a farm name.

    Called outside a mule, the function queues ``(MULEFUNC_MARKER, key, args, kwargs)``,
    pickled, for the mule and returns what ``uwsgi.mule_msg`` returned (True when queued).
    Called in a mule it just runs. Arguments must be picklable.
    """
    _needs_arguments("mulefunc", target)

    def decorate(f):
        key = _key(f)
        _mulefunctions[key] = f
        _install_mule_dispatcher()
        _install_postfork_chain()

        @functools.wraps(f)
        def call(*args, **kwargs):
            if uwsgi.mule_id():
                return f(*args, **kwargs)
            message = pickle.dumps(
                (MULEFUNC_MARKER, key, args, kwargs), protocol=_MULEFUNC_PROTOCOL
            )
            if len(message) > MULE_MSG_MAX:
                raise ValueError(
                    "@mulefunc %s: the call pickles to %d bytes, more than a mule message "
                    "holds (%d)"
                    % (key, len(message), MULE_MSG_MAX)
                )
            return uwsgi.mule_msg(message, target)

        return call

    return decorate


# --- around a call: thread, harakiri, lock -----------------------------------------------


def thread(f):
    """Each call runs ``f`` in a new daemon thread and returns that ``threading.Thread``."""

    @functools.wraps(f)
    def start(*args, **kwargs):
        t = threading.Thread(target=f, args=args, kwargs=kwargs, name=_key(f))
        t.daemon = True
        t.start()
        return t

    return start


def harakiri(secs):
    """Kill the request if the call runs more than ``secs`` seconds
    (``uwsgi.set_user_harakiri``; the limit is removed when the call ends)."""
    _needs_arguments("harakiri", secs)

    def decorate(f):
        @functools.wraps(f)
        def call(*args, **kwargs):
            uwsgi.set_user_harakiri(secs)
            try:
                return f(*args, **kwargs)
            finally:
                uwsgi.set_user_harakiri(0)

        return call

    return decorate


def lock(f):
    """Each call runs holding uWSGI lock 0 (``uwsgi.lock()`` / ``uwsgi.unlock()``)."""

    @functools.wraps(f)
    def call(*args, **kwargs):
        if not (hasattr(uwsgi, "lock") and hasattr(uwsgi, "unlock")):
            raise RuntimeError(
                "@lock (%s) needs uwsgi.lock() and uwsgi.unlock(), which this server does "
                "not provide yet"
                % _key(f)
            )
        uwsgi.lock()
        try:
            return f(*args, **kwargs)
        finally:
            uwsgi.unlock()

    return call


# --- spooler -----------------------------------------------------------------------------

# Spool functions by ``__name__`` (the key uWSGI's decorators write in ``ud_spool_func``),
# and by ``module.qualname`` (the key of jobs queued by ruwsgi before it wrote uWSGI's).
_spool_functions = {}
_earlier_spooler = [None]
# Keyword arguments that go to uwsgi.spool, not to the function (``pass_arguments=True``).
_SPOOL_SPECIAL_KEYS = ("message_dict", "spooler", "priority", "at", "body")
# ``ud_spool_ret`` of jobs queued by ruwsgi before it wrote uWSGI's numbers.
_LEGACY_SPOOL_RET = {"spool": "-2", "spoolforever": "-1", "spoolraw": None}


def _text(value):
    """``value`` as str when it is UTF-8 bytes (as uWSGI's decorators decode job vars);
    other bytes (a binary body) stay bytes."""
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value)
    return value


def _run_spool_job(job):
    """``uwsgi.spooler``: runs a job queued by a decorated function, as uWSGI's dispatcher
    does: the function named by ``ud_spool_func`` gets the unpickled ``args`` and
    ``kwargs`` (``pass_arguments=True``) or else the job's vars with str keys and values;
    the result is ``ud_spool_ret`` when the job has one (``@spool``: SPOOL_OK,
    ``@spoolforever``: SPOOL_RETRY), else what the function returned (``@spoolraw``).
    Jobs of no decorated function go to the ``uwsgi.spooler`` set before."""
    given = job
    job = dict((_text(k), v) for k, v in job.items())
    name = _text(job.get("ud_spool_func"))
    f = _spool_functions.get(name) if name is not None else None
    if f is None:
        earlier = _earlier_spooler[0]
        if earlier is not None:
            return earlier(given)
        if name is not None:
            _log("spooler: no spool function named %s in this process; job left" % name)
        return getattr(uwsgi, "SPOOL_IGNORE", 0)
    arguments = None
    if "args" in job:
        kwargs = job.pop("kwargs", None)
        arguments = (pickle.loads(job.pop("args")), pickle.loads(kwargs) if kwargs else {})
    job = dict((k, _text(v)) for k, v in job.items())
    if arguments is not None:
        ret = f(*arguments[0], **arguments[1])
    else:
        ret = f(job)
    code = job.get("ud_spool_ret")
    code = _LEGACY_SPOOL_RET.get(code, code)
    if code is None:
        return ret
    return int(code)


def _install_spooler():
    current = getattr(uwsgi, "spooler", None)
    if current is _run_spool_job:
        return
    if callable(current):
        _earlier_spooler[0] = current
    uwsgi.spooler = _run_spool_job


class _SpoolTask(object):
    """A function run by the spooler: calling it (or ``.spool(...)``, the older name)
    queues a job, as uWSGI's decorators do; ``.f`` is the function itself."""

    def __init__(self, f, mode, pass_arguments):
        functools.update_wrapper(self, f)
        self.f = f
        self._mode = mode
        self.pass_arguments = pass_arguments
        self._name = getattr(f, "__name__", None) or _key(f)
        _spool_functions[self._name] = f
        _spool_functions[_key(f)] = f
        _install_spooler()

    def __call__(self, *args, **kwargs):
        """Queue a job for the spooler; returns what ``uwsgi.spool`` returns (the job file).

        With ``pass_arguments`` the function later gets these arguments (``spooler``,
        ``priority``, ``at``, ``body`` and ``message_dict`` go to ``uwsgi.spool``
        instead); without, it gets the job's dict: the first argument (a dict) updated
        with the keyword arguments.
        """
        if not hasattr(uwsgi, "spool"):
            raise RuntimeError(
                "@%s (%s) needs a spooler (uwsgi.spool()), which this server does not provide yet"
                % (self._mode, self._name)
            )
        job = {"ud_spool_func": self._name}
        if self._mode == "spool":
            job["ud_spool_ret"] = str(getattr(uwsgi, "SPOOL_OK", -2))
        elif self._mode == "spoolforever":
            job["ud_spool_ret"] = str(getattr(uwsgi, "SPOOL_RETRY", -1))
        if self.pass_arguments:
            for special in _SPOOL_SPECIAL_KEYS:
                if special in kwargs:
                    job[special] = kwargs.pop(special)
            job["args"] = pickle.dumps(args)
            job["kwargs"] = pickle.dumps(kwargs)
        else:
            if args:
                job.update(args[0])
            job.update(kwargs)
        return uwsgi.spool(job)

    def spool(self, *args, **kwargs):
        """The same as calling the task (uWSGI's name before 1.9.13)."""
        return self(*args, **kwargs)


def _spool_decorator(mode, f, pass_arguments):
    if f is None:
        return lambda g: _SpoolTask(g, mode, pass_arguments)
    if not callable(f):
        raise TypeError("@%s: write @%s or @%s(pass_arguments=True)" % (mode, mode, mode))
    return _SpoolTask(f, mode, pass_arguments)


def spool(f=None, pass_arguments=False):
    """Calling ``f(...)`` (or ``f.spool(...)``) queues a job that runs ``f`` in the
    spooler; the job is then done (SPOOL_OK)."""
    return _spool_decorator("spool", f, pass_arguments)


def spoolforever(f=None, pass_arguments=False):
    """Like :func:`spool`, but the job runs again and again (SPOOL_RETRY)."""
    return _spool_decorator("spoolforever", f, pass_arguments)


def spoolraw(f=None, pass_arguments=False):
    """Like :func:`spool`; ``f`` returns the result itself (uwsgi.SPOOL_OK, SPOOL_RETRY or
    SPOOL_IGNORE)."""
    return _spool_decorator("spoolraw", f, pass_arguments)
