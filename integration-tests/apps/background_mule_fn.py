# A mule's module:function (mule = background_mule_fn:run) for
# integration-tests/tests/signals.rs: records that it started, then each message it gets,
# in $BACKGROUND_LOG.
import os
import threading
import time

import uwsgi

LOG = os.environ["BACKGROUND_LOG"]


def record(event):
    with open(LOG, "a") as f:
        f.write(
            "%s pid=%d worker=%d mule=%d thread=%s t=%.3f\n"
            % (
                event,
                os.getpid(),
                uwsgi.worker_id(),
                uwsgi.mule_id(),
                threading.current_thread().name,
                time.time(),
            )
        )


def run():
    record("fn-started")
    while True:
        record("fn-got:" + uwsgi.mule_get_msg().decode())
