# The app of the worker-health tests (integration-tests/tests/health.rs): every answer is
# the serving worker's pid.
import os
import re
import signal
import sys
import time

import uwsgi

HELD = []


def on_winch(signum, frame):
    # What an app does with harakiri-graceful-signal: flush its buffers (Sentry, tracing).
    # ruwsgi runs it on the worker's main thread.
    sys.stderr.write("app signal handler: signal %d in pid %d\n" % (signum, os.getpid()))
    sys.stderr.flush()


# Set at import (in the master, under preload): a signal the server does not use, so the
# handler stays and runs in the workers.
signal.signal(signal.SIGWINCH, on_winch)


def stuck_here(seconds):
    # The function harakiri's log must name in the stuck thread's stack.
    time.sleep(seconds)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/stuck":
        stuck_here(10)
    elif path.startswith("/sleep/"):
        time.sleep(float(path[len("/sleep/"):]))
    elif path == "/hold-gil":
        # Catastrophic backtracking: minutes inside the regex engine, which never releases
        # the GIL.
        re.match(r"(a+)+b", "a" * 40)
    elif path == "/user-harakiri":
        uwsgi.set_user_harakiri(1)
        stuck_here(10)
    elif path == "/raise":
        raise RuntimeError("raised on purpose in %d" % os.getpid())
    elif path == "/grow":
        # 40 MiB written, so resident, and kept for the worker's life.
        HELD.append(b"x" * (40 << 20))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
