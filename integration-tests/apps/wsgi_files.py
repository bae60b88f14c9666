# file_wrapper over a real file (sendfile) and over a file-like without fileno (read in
# chunks); the size comes from the query string.
import io
import os
import tempfile

_PATH = os.path.join(tempfile.gettempdir(), "ruwsgi-wsgi-files-%d.bin" % os.getpid())


def _ensure(size):
    if not os.path.exists(_PATH) or os.path.getsize(_PATH) != size:
        with open(_PATH, "wb") as f:
            block = bytes(range(256)) * 4096
            left = size
            while left:
                f.write(block[: min(left, len(block))])
                left -= min(left, len(block))


def application(environ, start_response):
    size = int(environ.get("QUERY_STRING") or 1048576)
    if environ["PATH_INFO"] == "/real":
        _ensure(size)
        f = open(_PATH, "rb")
        f.seek(10)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](f)
    data = (bytes(range(256)) * (size // 256 + 1))[:size]
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](io.BytesIO(data), 4096)
