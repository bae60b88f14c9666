# The app of the spooler tests (integration-tests/tests/spooler.rs): queues jobs from
# requests and runs them in the spooler, recording each run in $SPOOL_LOG as
#   run:NAME pid=PID t=EPOCH
import os
import time
from urllib.parse import parse_qs

import uwsgi
from uwsgidecorators import spool

LOG = os.environ["SPOOL_LOG"]


def record(what):
    with open(LOG, "a") as f:
        f.write("%s pid=%d t=%.3f\n" % (what, os.getpid(), time.time()))


def runs(what):
    try:
        with open(LOG) as f:
            return sum(1 for line in f if line.split(" ")[0] == what)
    except FileNotFoundError:
        return 0


def spooler(job):
    # uWSGI's form: the job's vars with bytes keys and values.
    name = job[b"name"].decode()
    record("run:" + name)
    count = runs("run:" + name)
    if name.startswith("retry") and count < 3:
        return uwsgi.SPOOL_RETRY
    if name.startswith("boom") and count == 1:
        raise RuntimeError("the first run of %s fails" % name)
    if name.startswith("slow") and count == 1:
        time.sleep(60)
    if b"body" in job or "body" in job:
        record("body:%d" % len(job["body"]))
    return uwsgi.SPOOL_OK


# Set before @spool, which keeps it for the jobs that are not its own.
uwsgi.spooler = spooler


@spool(pass_arguments=True)
def decorated(x):
    record("decorated:" + x)


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    path = environ["PATH_INFO"]
    if path == "/spool":
        job = {"name": q["name"]}
        if "at" in q:
            job["at"] = str(time.time() + float(q["at"]))
        if "body" in q:
            job["body"] = b"x" * int(q["body"])
        body = uwsgi.spool(job)
    elif path == "/decorated":
        body = decorated.spool(q["x"])
        body = b"queued" if body else b"not queued"
    else:
        body = b"pid %d" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
