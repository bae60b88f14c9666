"""The WSGI apps every Python row of `just bench` serves (ruwsgi, uWSGI, Gunicorn, Granian).

One callable per workload (bench.py names it with `--callable`, or `app:<name>` for Gunicorn
and Granian); every one counts its requests per worker thread in the shared counter file
(counters.py), from which bench.py proves the app ran once per response and reads each
worker's share.

- `application` (hello): the worker's pid, its request count and a CRC-32 of the path,
  computed in Python; bench.py checks the CRC before it measures.
- `cpu`: a pure-Python loop of `BENCH_CPU_LOOPS` iterations (bench.py calibrates the count
  to ~3 ms on the machine at start and passes it to every server alike).
- `sleep`: `time.sleep(BENCH_SLEEP_MS / 1000)` (200 ms by default), then a short body.
- `big`: a 64 KiB body.
- `upload`: reads the whole request body and answers its length.
- `headers`: counts the request's HTTP headers and the cookie's bytes and answers them.
"""

import os
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from counters import tick  # noqa: E402

CPU_LOOPS = int(os.environ.get("BENCH_CPU_LOOPS", "30000"))
SLEEP_SECONDS = int(os.environ.get("BENCH_SLEEP_MS", "200")) / 1000
BIG_BODY = b"x" * 65535 + b"\n"


def _remember_pid():
    global _pid
    _pid = os.getpid()


_remember_pid()
# A worker forked from a master that imported the app answers with its own pid.
os.register_at_fork(after_in_child=_remember_pid)


def spin(loops):
    """The CPU-bound work of the `cpu` view: pure Python, no allocation that grows."""
    total = 0
    for i in range(loops):
        total += i * i % 7
    return total


def _reply(start_response, body, content_type="text/plain"):
    start_response(
        "200 OK",
        [("Content-Type", content_type), ("Content-Length", str(len(body)))],
    )
    return [body]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    body = b"hello from python pid=%d n=%d crc=%08x\n" % (
        _pid,
        tick(),
        zlib.crc32(path.encode("latin-1")),
    )
    return _reply(start_response, body)


def cpu(environ, start_response):
    tick()
    return _reply(start_response, b"cpu %d\n" % spin(CPU_LOOPS))


def sleep(environ, start_response):
    tick()
    time.sleep(SLEEP_SECONDS)
    return _reply(start_response, b"slept\n")


def big(environ, start_response):
    tick()
    return _reply(start_response, BIG_BODY, "application/octet-stream")


def upload(environ, start_response):
    tick()
    stream = environ["wsgi.input"]
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    received = 0
    while remaining > 0:
        chunk = stream.read(min(remaining, 65536))
        if not chunk:
            break
        received += len(chunk)
        remaining -= len(chunk)
    return _reply(start_response, b"received %d\n" % received)


def headers(environ, start_response):
    tick()
    count = sum(1 for key in environ if key.startswith("HTTP_"))
    cookie = len(environ.get("HTTP_COOKIE", ""))
    return _reply(start_response, b"headers %d cookie %d\n" % (count, cookie))
