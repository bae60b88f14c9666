# ruwsgi --ini examples/tasks/tasks.ini
"""Background work inside the server with uwsgidecorators: a timer, a cron job, a mule fed
from a route, and a post-fork hook. It imports uwsgi, so it runs only under the server."""
import os
import sys
import time

import uwsgi
from flask import Flask, request
from uwsgidecorators import cron, mulefunc, postfork, timer

app = Flask(__name__)


def log(message):
    print("[tasks] %s (pid %d)" % (message, os.getpid()), file=sys.stderr, flush=True)


@postfork
def forked():
    if uwsgi.mule_id():
        log("postfork: mule %d is up" % uwsgi.mule_id())
    else:
        log("postfork: worker %d is up" % uwsgi.worker_id())


@timer(5)
def heartbeat(signum):
    log("heartbeat (signal %d) in worker %d" % (signum, uwsgi.worker_id()))


@cron(-1, -1, -1, -1, -1)
def every_minute(signum):
    log("cron: every minute, now %s (signal %d)" % (time.strftime("%H:%M"), signum))


@mulefunc(1)
def process(n):
    log("mule %d: processing job n=%d" % (uwsgi.mule_id(), n))


@app.route("/")
def index():
    return "tasks example: GET /enqueue?n=42 hands a job to mule 1\n"


@app.route("/enqueue")
def enqueue():
    n = request.args.get("n", default=1, type=int)
    queued = process(n)
    return "queued n=%d for mule 1: %s\n" % (n, queued)
