"""Served behind nginx's `uwsgi_pass` in tests/nginx.rs: echoes what the request looked like
(and which instance answered: the INSTANCE variable the test sets with `env`)."""
import os
import zlib


def application(environ, start_response):
    body = environ["wsgi.input"].read()
    lines = [
        "method=%s" % environ["REQUEST_METHOD"],
        "path=%s" % environ["PATH_INFO"],
        "query=%s" % environ["QUERY_STRING"],
        "host=%s" % environ.get("HTTP_HOST", ""),
        "x-custom=%s" % environ.get("HTTP_X_CUSTOM", ""),
        "length=%d" % len(body),
        "crc32=%d" % zlib.crc32(body),
        "instance=%s" % os.environ.get("INSTANCE", ""),
    ]
    out = ("\n".join(lines) + "\n").encode()
    if environ["PATH_INFO"] == "/big":
        # A body larger than nginx's proxy buffers: streamed, ended by the close.
        out = b"x" * (4 * 1024 * 1024)
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-App", "ruwsgi-test")])
    return [out]
