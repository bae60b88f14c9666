"""The app's own work per request, with no server: calls a bench app's `application` in a
loop, as a WSGI server would, and prints the microseconds per call.

    python bench/bare.py django_app /hello/      # with the test venv's python (Django)
    python bench/bare.py flask_app /
    python bench/bare.py app /bench

At one worker a server's Python thread is the bottleneck of the `django` and `flask` rows:
its time per request is this figure plus what the server adds on that thread (building the
environ, `start_response`, handing the reply to the loop). Compare this figure with
1 / req/s of a saturated 1-worker row (docs/benchmarks.md, Django and Flask at 1 worker).

Each call gets a fresh environ like a server's for `GET PATH` with a `Host` header (the
dict built in Python, so its cost is in the figure too), the response is joined and
closed. 3,000 calls warm up, then 30,000 are timed; the median of 5 such runs is printed.
"""

import io
import statistics
import sys
import time

WARM_UP = 3_000
CALLS = 30_000
RUNS = 5


def environ(path):
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def start_response(status, headers, exc_info=None):
    return None


def call(app, path):
    body = app(environ(path), start_response)
    try:
        b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: bare.py MODULE PATH   (MODULE: app, django_app, flask_app)")
    module, path = sys.argv[1], sys.argv[2]
    app = __import__(module).application
    for _ in range(WARM_UP):
        call(app, path)
    runs = []
    for _ in range(RUNS):
        start = time.perf_counter()
        for _ in range(CALLS):
            call(app, path)
        runs.append((time.perf_counter() - start) / CALLS * 1e6)
    print(
        f"{module} {path}: {statistics.median(runs):.1f} µs per request "
        f"(runs {min(runs):.1f}–{max(runs):.1f})"
    )


if __name__ == "__main__":
    main()
