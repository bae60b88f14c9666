# A WSGI app that starts a background thread at import, as schedulers and APM agents do:
# under preload the master must warn, naming it, since forked workers do not have it.
import threading
import time


def _tick():
    while True:
        time.sleep(60)


threading.Thread(target=_tick, name="my-scheduler", daemon=True).start()


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
