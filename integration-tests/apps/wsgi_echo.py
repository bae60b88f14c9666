# Echo and stream app for the serving tests run through Python: every response carries
# something computed in Python.
import os
import time
import zlib
from urllib.parse import parse_qs


def application(environ, start_response):
    path = environ["PATH_INFO"]
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if path == "/echo":
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [body]
    if path == "/digest":
        checksum, total = 1, 0
        while True:
            block = environ["wsgi.input"].read(65536)
            if not block:
                break
            total += len(block)
            checksum = zlib.adler32(block, checksum)
        body = ("%d %d" % (total, checksum)).encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    if path == "/stream":
        n, size = int(q.get("n", "10")), int(q.get("size", "1024"))
        delay = float(q.get("delay", "0"))

        def gen():
            for i in range(n):
                if delay:
                    time.sleep(delay)
                yield bytes([97 + i % 26]) * size

        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return gen()
    if path == "/write":
        # Writes n KiB through write(), one every delay seconds, and logs how it ended.
        n, delay = int(q.get("n", "100")), float(q.get("delay", "0.02"))
        write = start_response("200 OK", [("Content-Type", "application/octet-stream")])
        for i in range(n):
            try:
                write(b"w" * 1024)
            except OSError as e:
                environ["wsgi.errors"].write("write raised %s at %d\n" % (type(e).__name__, i))
                raise
            time.sleep(delay)
        environ["wsgi.errors"].write("write loop ended after %d\n" % n)
        return []
    if path == "/spawn":
        # A child the app never waits for: a zombie once it exits, unless reaped.
        pid = os.spawnlp(os.P_NOWAIT, "true", "true")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(pid).encode()]
    if path == "/child-fds":
        # What a child process started without close_fds inherits: its descriptors' targets.
        import subprocess

        script = 'for f in /proc/$$/fd/*; do readlink "$f"; done'
        out = subprocess.run(["sh", "-c", script], close_fds=False, capture_output=True).stdout
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [out]
    if path == "/sleep":
        environ["wsgi.errors"].write("sleep started in %d\n" % os.getpid())
        time.sleep(float(q.get("s", "1")))
    if path in ("/sleep", "/pid"):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
    body = ("hello %s %d" % (path, sum(range(100)))).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
