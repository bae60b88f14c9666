# The app of the background-work tests (integration-tests/tests/signals.rs): uWSGI signals,
# timers, cron entries, file monitors, mules and @postfork, each recording what ran where in
# the file $BACKGROUND_LOG, one line per event:
#   EVENT pid=PID worker=WORKER_ID mule=MULE_ID thread=THREAD_NAME t=EPOCH
import os
import threading
import time
from urllib.parse import parse_qs

import uwsgi
from uwsgidecorators import mulefunc, postfork, timer

LOG = os.environ["BACKGROUND_LOG"]


def record(event):
    line = "%s pid=%d worker=%d mule=%d thread=%s t=%.3f\n" % (
        event,
        os.getpid(),
        uwsgi.worker_id(),
        uwsgi.mule_id(),
        threading.current_thread().name,
        time.time(),
    )
    with open(LOG, "a") as f:
        f.write(line)


@postfork
def forked():
    record("postfork")


if os.environ.get("BACKGROUND_TIMER"):

    @timer(1)
    def tick(num):
        record("tick")


def everyone(num):
    record("everyone")


uwsgi.register_signal(30, "workers", everyone)

if "BACKGROUND_CRON_MINUTE" in os.environ:

    def cron_fired(num):
        record("cron")

    uwsgi.register_signal(31, "", cron_fired)
    uwsgi.add_cron(31, int(os.environ["BACKGROUND_CRON_MINUTE"]), -1, -1, -1, -1)

if "BACKGROUND_WATCH" in os.environ:

    def changed(num):
        record("changed")

    uwsgi.register_signal(32, "worker", changed)
    uwsgi.add_file_monitor(32, os.environ["BACKGROUND_WATCH"])


if os.environ.get("BACKGROUND_TARGETS"):

    def second(num):
        record("worker2signal")

    def active(num):
        record("activesignal")

    def rb(num):
        record("rbtick")

    uwsgi.register_signal(35, "worker2", second)
    uwsgi.register_signal(36, "active-workers", active)
    uwsgi.register_signal(34, "worker", rb)
    # Three ticks a second apart, then no more.
    uwsgi.add_rb_timer(34, 1, 3)


def to_mules(num):
    record("mulesignal")


uwsgi.register_signal(33, "mules", to_mules)


@mulefunc(int(os.environ.get("BACKGROUND_MULEFUNC_MULE", "1")))
def offloaded(text):
    record("mulefunc:" + text)


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    path = environ["PATH_INFO"]
    if path == "/signal":
        uwsgi.signal(int(q["num"]))
        body = b"raised"
    elif path == "/mule":
        ok = uwsgi.mule_msg(q["msg"].encode(), int(q.get("to", "0")))
        body = b"queued" if ok else b"full"
    elif path == "/mulefunc":
        offloaded(q["text"])
        body = b"offloaded"
    elif path == "/bad-target":
        try:
            uwsgi.register_signal(40, "farm1", everyone)
            body = b"registered"
        except ValueError as e:
            body = str(e).encode()
    else:
        body = b"pid %d" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
