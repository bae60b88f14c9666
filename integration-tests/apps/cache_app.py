# The app of the cache tests (integration-tests/tests/cache.rs): each answer is
# "PID RESULT", RESULT the repr of what the uwsgi cache call returned.
#
#   /get?key=K[&cache=C]                       uwsgi.cache_get
#   /set?key=K&value=V[&expires=S][&cache=C]   uwsgi.cache_set
#   /update?...                                uwsgi.cache_update
#   /del?key=K[&cache=C]  /exists?key=K[&cache=C]  /clear[?cache=C]
#   /big?key=K&size=N[&cache=C]                cache_set of N bytes
#   /sleep?seconds=S                           holds the worker's thread
#
# Run as a mule script (`mule = cache_app.py`), it stores its pid under "mule" in the
# first cache and waits.
import os
import time
from urllib.parse import parse_qs

import uwsgi


def call(path, q):
    key = q.get("key")
    cache = q.get("cache")
    opt = (cache,) if cache is not None else ()
    if path == "/get":
        return uwsgi.cache_get(key, *opt)
    if path in ("/set", "/update"):
        f = uwsgi.cache_set if path == "/set" else uwsgi.cache_update
        return f(key, q["value"].encode(), int(q.get("expires", "0")), *opt)
    if path == "/big":
        return uwsgi.cache_set(key, b"x" * int(q["size"]), 0, *opt)
    if path == "/del":
        return uwsgi.cache_del(key, *opt)
    if path == "/exists":
        return uwsgi.cache_exists(key, *opt)
    if path == "/clear":
        return uwsgi.cache_clear(*opt)
    if path == "/sleep":
        time.sleep(float(q["seconds"]))
        return None
    raise ValueError(path)


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    result = call(environ["PATH_INFO"], q)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%d %r" % (os.getpid(), result)).encode()]


if __name__ == "__main__":
    uwsgi.cache_update("mule", str(os.getpid()))
    while True:
        time.sleep(60)
