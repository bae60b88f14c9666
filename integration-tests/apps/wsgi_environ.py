# Reports every environ key with its type and value, as JSON (str values as they are, other
# values by repr), and the uwsgi module's view of the worker.
import json

import uwsgi


def application(environ, start_response):
    out = {}
    for k, v in environ.items():
        out[k] = [type(v).__name__, v if isinstance(v, str) else repr(v)]
    out["wsgi.input.read"] = ["bytes", environ["wsgi.input"].read().decode("latin-1")]
    out["uwsgi.worker_id()"] = ["int", str(uwsgi.worker_id())]
    out["uwsgi.numproc"] = ["int", str(uwsgi.numproc)]
    out["uwsgi.opt"] = ["dict", repr(sorted(uwsgi.opt))]
    body = json.dumps(out, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
