# Answers /status/NNN with that status and anything else with 200, ten bytes of body, and
# sets the log variable `mine` (uwsgi.set_logvar) from the path; /print also prints a line
# to stdout and one to stderr.
import sys

import uwsgi


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/print":
        print("printed by the app", flush=True)
        print("{\"json\": \"from the app\"}", file=sys.stderr, flush=True)
    uwsgi.set_logvar("mine", "v" + path.replace("/", "-"))
    status = path.rsplit("/", 1)[-1] if path.startswith("/status/") else "200"
    start_response(status + " X", [("Content-Type", "text/plain")])
    return [b"0123456789"]
