# A mule script (mule = background_mule.py) for integration-tests/tests/signals.rs: waits
# for messages with uwsgi.mule_get_msg() and records each in $BACKGROUND_LOG.
import os
import threading
import time

import uwsgi

LOG = os.environ["BACKGROUND_LOG"]

while True:
    msg = uwsgi.mule_get_msg()
    with open(LOG, "a") as f:
        f.write(
            "got:%s pid=%d worker=%d mule=%d thread=%s t=%.3f\n"
            % (
                msg.decode(),
                os.getpid(),
                uwsgi.worker_id(),
                uwsgi.mule_id(),
                threading.current_thread().name,
                time.time(),
            )
        )
