# What libraries read from the uwsgi module (Sentry's SDK, ddtrace and New Relic's agent
# read uwsgi.opt flags before they start a thread; others read version_info, numproc, ...),
# as JSON, with the Python version it runs on.
import json
import sys

import uwsgi
import uwsgidecorators


def flag(name):
    # A flag read the way those libraries read it: True, or b"true"/b"1".
    value = uwsgi.opt.get(name, False)
    if isinstance(value, bytes):
        value = value.decode()
    return value is True or str(value).lower() in ("true", "1")


CALLS = (
    "worker_id", "masterpid", "reload", "stop", "set_logvar", "register_signal", "signal",
    "add_timer", "add_cron", "lock", "unlock", "cache_get", "cache_set", "spool", "mule_msg",
)
DECORATORS = ("postfork", "timer", "cron", "signal", "lock", "spool", "mulefunc")


def application(environ, start_response):
    out = {
        "python": "%d.%d" % sys.version_info[:2],
        "version": [type(uwsgi.version).__name__, uwsgi.version.decode()],
        "version_info": [type(uwsgi.version_info).__name__, list(uwsgi.version_info)],
        "hostname": type(uwsgi.hostname).__name__,
        "numproc": uwsgi.numproc,
        "cores": uwsgi.cores,
        "has_threads": uwsgi.has_threads,
        "buffer_size": uwsgi.buffer_size,
        "started_on": uwsgi.started_on,
        "enable-threads": flag("enable-threads"),
        "master": flag("master"),
        "lazy-apps": flag("lazy-apps"),
        "threads": uwsgi.opt["threads"].decode(),
        "env": [v.decode() for v in uwsgi.opt["env"]],
        "worker_id": uwsgi.worker_id(),
        "masterpid": uwsgi.masterpid(),
        "spool_codes": [uwsgi.SPOOL_OK, uwsgi.SPOOL_RETRY, uwsgi.SPOOL_IGNORE],
        "calls": [n for n in CALLS if callable(getattr(uwsgi, n, None))],
        "decorators": [n for n in DECORATORS if callable(getattr(uwsgidecorators, n, None))],
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(out).encode()]
