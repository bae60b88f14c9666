"""The Django example (examples/django/mysite, view `/hello/`) wrapped in the bench's counting
middleware (counters.py), for the `django` workload of `just bench`.

Django itself comes from the test venv (`$RUWSGI_TEST_VENV`, else target/venv): bench.py
passes `--home` to ruwsgi and uWSGI, `--pythonpath <its site-packages>` to Gunicorn and
`PYTHONPATH` to Granian, so every server imports the same Django.
"""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here)
sys.path.insert(0, os.path.join(os.path.dirname(_here), "examples", "django", "mysite"))

from counters import counted  # noqa: E402
from mysite.wsgi import application as _django  # noqa: E402

application = counted(_django)
