# A WSGI app for the process tests: /slow answers after one second (first creating the file
# $PROCESS_SLOW_MARK, if set, so a test knows the request is in flight); anything else at once.
import os
import time


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/slow":
        mark = os.environ.get("PROCESS_SLOW_MARK")
        if mark:
            open(mark, "w").close()
        time.sleep(1.0)
        body = b"slow done"
    else:
        body = b"fast"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
