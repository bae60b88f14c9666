# The app of the lock tests (integration-tests/tests/locks.rs): read-modify-write of a
# counter in the file $LOCKS_COUNTER, with and without uwsgi.lock(); every answer is the
# serving worker's pid.
import os
import time

import uwsgi
from uwsgidecorators import lock

COUNTER = os.environ["LOCKS_COUNTER"]


def bump():
    with open(COUNTER) as f:
        value = int(f.read() or 0)
    time.sleep(0.02)
    with open(COUNTER, "w") as f:
        f.write(str(value + 1))


@lock
def bump_locked():
    bump()


def application(environ, start_response):
    path = environ["PATH_INFO"]
    body = b"pid %d" % os.getpid()
    if path == "/locked":
        bump_locked()
    elif path == "/unlocked":
        bump()
    elif path == "/hold-and-die":
        # The worker dies holding lock 1: the next taker must get it anyway.
        uwsgi.lock(1)
        os._exit(3)
    elif path == "/lock1":
        uwsgi.lock(1)
        uwsgi.unlock(1)
        body += b" took lock 1"
    elif path == "/bad":
        try:
            uwsgi.lock(9)
        except ValueError as e:
            body = str(e).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
