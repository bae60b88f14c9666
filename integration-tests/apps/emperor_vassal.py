# A vassal's app for the emperor tests: reports who serves (worker pid, master pid, uid,
# gid), the VERSION and EXTRA its config set; on /slow it says so on stderr and sleeps a second.
import json
import os
import sys
import time


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/slow":
        sys.stderr.write("slow request started\n")
        sys.stderr.flush()
        time.sleep(1)
    body = json.dumps(
        {
            "pid": os.getpid(),
            "master": os.getppid(),
            "uid": os.getuid(),
            "gid": os.getgid(),
            "version": os.environ.get("VERSION"),
            "extra": os.environ.get("EXTRA"),
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
