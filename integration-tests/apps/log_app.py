# Answers /status/NNN with that status and anything else with 200, ten bytes of body, and
# sets the log variable `mine` (uwsgi.set_logvar) from the path; /print also prints a line
# to stdout and one to stderr. For the conditional-logging tests: /zero answers with an
# empty body, /big with 60 bytes, /sleep after 0.4 s, and /short promises 100 bytes in its
# Content-Length and sends 10.
import sys
import time

import uwsgi


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/print":
        print("printed by the app", flush=True)
        print("{\"json\": \"from the app\"}", file=sys.stderr, flush=True)
    uwsgi.set_logvar("mine", "v" + path.replace("/", "-"))
    status = path.rsplit("/", 1)[-1] if path.startswith("/status/") else "200"
    headers = [("Content-Type", "text/plain")]
    body = b"0123456789"
    if path == "/zero":
        body = b""
    elif path == "/big":
        body = b"x" * 60
    elif path == "/sleep":
        time.sleep(0.4)
    elif path == "/short":
        headers.append(("Content-Length", "100"))
    start_response(status + " X", headers)
    return [body]
