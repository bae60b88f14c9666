# Fails at import: with need-app the server must exit with status 22, the traceback and a
# hint in its log.
import wsgi_no_such_dependency  # noqa: F401


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"unreachable"]
