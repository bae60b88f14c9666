# The WSGI test app behind wsgiref.validate.validator: every path of the bridge (GET, POST,
# chunked upload, write(), generator, file_wrapper, exc_info, HEAD) must pass the validator's
# checks of the server's side, and /noncompliant must be caught by them.
import os
import sys
import tempfile
from wsgiref.validate import validator

_FILE = tempfile.NamedTemporaryFile(prefix="ruwsgi-validate-", delete=False)
_FILE.write(b"file-wrapper-body\n" * 100)
_FILE.close()


def _app(environ, start_response):
    path = environ["PATH_INFO"]
    text = [("Content-Type", "text/plain")]
    if path == "/hello":
        body = b"hello from python " + str(sum(range(10))).encode()
        start_response("200 OK", text + [("Content-Length", str(len(body)))])
        return [body]
    if path == "/echo":
        n = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(n)
        start_response("200 OK", text)
        return [b"got:", body]
    if path == "/lines":
        inp = environ["wsgi.input"]
        first = inp.readline()
        second = inp.readline(3)
        rest = inp.readlines()
        environ["wsgi.errors"].write("lines read\n")
        environ["wsgi.errors"].writelines(["ok\n"])
        environ["wsgi.errors"].flush()
        start_response("200 OK", text)
        return [b"%d|%s|%s|%d" % (len(first), first.strip(), second, len(rest))]
    if path == "/iter":
        lines = [line for line in environ["wsgi.input"]]
        start_response("200 OK", text)
        return [b"%d lines" % len(lines)]
    if path == "/write":
        write = start_response("200 OK", text)
        write(b"written-")
        return [b"and-returned"]
    if path == "/gen":
        start_response("200 OK", text)
        return (b"chunk%d;" % i for i in range(5))
    if path == "/file":
        start_response("200 OK", text)
        return environ["wsgi.file_wrapper"](open(_FILE.name, "rb"), 64)
    if path == "/exc_info":
        start_response("200 OK", text)
        try:
            raise ValueError("replaced before the head went out")
        except ValueError:
            start_response("500 Internal Server Error", text, sys.exc_info())
        return [b"error page from the app"]
    if path == "/empty":
        start_response("204 No Content", [])
        return []
    start_response("404 Not Found", text)
    return [b"not found"]


def _noncompliant(environ, start_response):
    # No Content-Type: wsgiref.validate must catch it (and ruwsgi answer 500).
    start_response("200 OK", [("X-Only", "1")])
    return [b"should never be seen"]


_valid = validator(_app)
_invalid = validator(_noncompliant)


def application(environ, start_response):
    if environ["PATH_INFO"] == "/noncompliant":
        return _invalid(environ, start_response)
    return _valid(environ, start_response)
