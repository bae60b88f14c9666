# Failures in every place an app can fail; /ok shows the worker still serves after each.
import sys
import time

closed = []


class Closing:
    def __init__(self, parts, fail_at=None):
        self.parts, self.fail_at = parts, fail_at

    def __iter__(self):
        for i, p in enumerate(self.parts):
            if i == self.fail_at:
                raise RuntimeError("boom-in-iteration")
            yield p

    def close(self):
        closed.append(1)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/crash":
        raise ValueError("boom-before-start")
    if path == "/crash-after-head":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing([b"partial-", b"never"], fail_at=1)
    if path == "/exit":
        raise SystemExit(3)
    if path == "/bad-header":
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Evil", "a\r\nSet-Cookie: x=1")])
        return [b"never"]
    if path == "/control-in-header":
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Ctl", "a\x01b")])
        return [b"never"]
    if path == "/latin-1-reason":
        start_response("299 Ünïcode", [("X-Latin", "café")])
        return [b"latin"]
    if path == "/not-bytes":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["a str"]
    if path == "/too-long":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return Closing([b"12345", b"6789"])
    if path == "/too-short":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
        return Closing([b"12345"])
    if path == "/no-start":
        return [b"no start_response"]
    if path == "/endless":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def endless():
            while True:
                yield b"y" * 65536

        gen = endless()

        class Wrapped:
            def __iter__(self):
                return gen

            def close(self):
                closed.append(1)

        return Wrapped()
    if path == "/exc-after-head":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"head-is-out")
        try:
            raise KeyError("reraised-by-start-response")
        except KeyError:
            # PEP 3333: after the head went out, start_response re-raises exc_info.
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"never"]
    if path == "/bytes":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return b"raw bytes body"
    if path == "/closed":
        body = str(len(closed)).encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    body = b"ok " + str(2 + 2).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
