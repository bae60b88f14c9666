# Reports what the loading options did: env/unenv, pythonpath globs, import, chdir2,
# whether uwsgi.post_fork_hook ran in this worker, and the worker's umask and open-files
# limit.
import json
import os
import resource
import sys

import uwsgi

forked = []
uwsgi.post_fork_hook = lambda: forked.append(os.getpid())
at_fork = []
os.register_at_fork(after_in_child=lambda: at_fork.append(os.getpid()))


def application(environ, start_response):
    mask = os.umask(0)
    os.umask(mask)
    body = json.dumps(
        {
            "foo": os.environ.get("RUWSGI_T_FOO"),
            "gone": "RUWSGI_T_GONE" in os.environ,
            "imported": "wsgi_imported_mod" in sys.modules,
            "cwd": os.getcwd(),
            "post_fork": forked == [os.getpid()],
            "at_fork": at_fork == [os.getpid()],
            "umask": "%03o" % mask,
            "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
            "address_space": resource.getrlimit(resource.RLIMIT_AS),
            "stdin_is_null": os.path.samestat(os.fstat(0), os.stat("/dev/null")),
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
