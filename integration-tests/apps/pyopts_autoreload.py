# The app of the py-auto-reload-ignore test (integration-tests/tests/wsgi.rs): it imports
# the two modules the test writes on its pythonpath, and answers its pid.
import os

import pyopts_ignored  # noqa: F401
import pyopts_watched  # noqa: F401


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
