# Reports what the loading options did: env/unenv, pythonpath globs, import, chdir2, and
# whether uwsgi.post_fork_hook ran in this worker.
import json
import os
import sys

import uwsgi

forked = []
uwsgi.post_fork_hook = lambda: forked.append(os.getpid())


def application(environ, start_response):
    body = json.dumps(
        {
            "foo": os.environ.get("RUWSGI_T_FOO"),
            "gone": "RUWSGI_T_GONE" in os.environ,
            "imported": "wsgi_imported_mod" in sys.modules,
            "cwd": os.getcwd(),
            "post_fork": forked == [os.getpid()],
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
