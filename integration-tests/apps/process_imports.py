# A WSGI app that records each import: one line "pid" appended to $PROCESS_IMPORT_LOG, so a
# test can count in which processes the app was loaded (preload: the master; lazy-apps: each
# worker). It answers with the serving worker's pid and uid.
import os

with open(os.environ["PROCESS_IMPORT_LOG"], "a") as f:
    f.write("%d\n" % os.getpid())


def application(environ, start_response):
    body = ("pid=%d uid=%d gid=%d" % (os.getpid(), os.getuid(), os.getgid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
