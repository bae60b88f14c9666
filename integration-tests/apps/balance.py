# A WSGI app for the balance tests: `/?ms=N` sleeps N milliseconds, then answers the pid of
# the worker that served it.
import os
import time


def application(environ, start_response):
    ms = environ.get("QUERY_STRING", "").partition("ms=")[2]
    time.sleep(int(ms or 0) / 1000)
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
