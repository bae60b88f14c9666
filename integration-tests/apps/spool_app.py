# The app of the spooler tests (integration-tests/tests/spooler.rs): queues jobs from
# requests and runs them in the spooler, recording each run in $SPOOL_LOG as
#   WHAT pid=PID t=EPOCH [key=value ...]
import os
import time
from urllib.parse import parse_qs

import uwsgi
from uwsgidecorators import spool, spoolforever, spoolraw

LOG = os.environ["SPOOL_LOG"]


def record(what, **extra):
    fields = "".join(" %s=%s" % kv for kv in sorted(extra.items()))
    with open(LOG, "a") as f:
        f.write("%s pid=%d t=%.6f%s\n" % (what, os.getpid(), time.time(), fields))


def runs(what):
    try:
        with open(LOG) as f:
            return sum(1 for line in f if line.split(" ")[0] == what)
    except FileNotFoundError:
        return 0


def runs_starting(prefix):
    try:
        with open(LOG) as f:
            return sum(1 for line in f if line.startswith(prefix))
    except FileNotFoundError:
        return 0


def spooler(job):
    # uWSGI's form: the job's vars with bytes keys and values, the file's name under a
    # str key.
    name = job[b"name"].decode()
    record(
        "run:" + name,
        at=job.get(b"at", b"-").decode(),
        cwd=os.getcwd(),
        task=job["spooler_task_name"].decode(),
    )
    count = runs("run:" + name)
    if name.startswith("retry") and count < 3:
        return uwsgi.SPOOL_RETRY
    if name.startswith("boom") and count == 1:
        raise RuntimeError("the first run of %s fails" % name)
    if name.startswith("slow") and count == 1:
        time.sleep(60)
    if name.startswith("hold"):
        # Waits (15 s at most) until two hold jobs run at once: two spooler processes.
        deadline = time.time() + 15
        while runs_starting("run:hold") < 2 and time.time() < deadline:
            time.sleep(0.02)
        record("held:" + name if runs_starting("run:hold") >= 2 else "alone:" + name)
    if b"body" in job or "body" in job:
        record("body:%d" % len(job["body"]))
    return uwsgi.SPOOL_OK


# Set before @spool, which keeps it for the jobs that are not its own.
uwsgi.spooler = spooler


@spool(pass_arguments=True)
def decorated(x):
    record("decorated:" + x)


@spool
def dictjob(args):
    # uWSGI's decorators pass the job's vars with str keys and values.
    record(
        "dict:" + args["a"],
        func=args["ud_spool_func"],
        ret=args["ud_spool_ret"],
        task=args["spooler_task_name"],
    )


@spoolforever(pass_arguments=True)
def forever():
    record("forever")


@spoolraw(pass_arguments=True)
def ignored():
    record("ignored")
    return uwsgi.SPOOL_IGNORE


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    path = environ["PATH_INFO"]
    if path == "/spool":
        job = {"name": q["name"]}
        if "at" in q:
            job["at"] = str(time.time() + float(q["at"]))
        for key in ("at_abs", "priority", "spooler"):
            if key in q:
                job[key.replace("_abs", "")] = q[key]
        if "body" in q:
            job["body"] = b"x" * int(q["body"])
        body = uwsgi.spool(job)
    elif path == "/spool-many":
        # n jobs from this worker, all due at the same time.
        at = "%.6f" % (time.time() + float(q["at"]))
        for n in range(int(q["n"])):
            uwsgi.spool({"name": "order-%d" % n, "at": at})
        body = b"queued"
    elif path == "/decorated":
        # Calling the task queues it, as under uWSGI; .spool() is the older name.
        body = decorated(q["x"]) if "alias" not in q else decorated.spool(q["x"])
    elif path == "/dictjob":
        body = dictjob({"a": q["a"]})
    elif path == "/forever":
        body = forever()
    elif path == "/ignored":
        body = ignored()
    else:
        body = b"pid %d" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
