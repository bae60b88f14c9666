"""The WSGI app every Python row of `just bench` serves (ruwsgi, uWSGI, Gunicorn, Granian).

Each response carries values computed in Python for that request: the worker's pid, its
request counter (`itertools.count`, whose `next` is atomic under the GIL, so threaded servers
lose no increment) and a CRC-32 of the path. bench.py checks the CRC before it measures a
row, and that the workers' counters advanced by at least the responses wrk counted — so no
row can be answered without running the app once per request.
"""

import itertools
import os
import zlib


def _reset():
    global _pid, _served
    _pid = os.getpid()
    _served = itertools.count(1)


_reset()
# A worker forked from a master that imported the app starts its own count under its own pid.
os.register_at_fork(after_in_child=_reset)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    body = b"hello from python pid=%d n=%d crc=%08x\n" % (
        _pid,
        next(_served),
        zlib.crc32(path.encode("latin-1")),
    )
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
    )
    return [body]
