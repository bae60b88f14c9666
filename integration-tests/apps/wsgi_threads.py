# Each request sleeps one second and reports when it started and ended, by the app's own
# clock and on which thread: four of them overlap only if four Python threads serve them.
import json
import threading
import time


def application(environ, start_response):
    start = time.time()
    time.sleep(1.0)
    end = time.time()
    body = json.dumps(
        {"start": start, "end": end, "thread": threading.current_thread().name}
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
