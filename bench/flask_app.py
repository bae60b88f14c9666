"""The Flask example (examples/flask/app.py, view `/`) wrapped in the bench's counting
middleware (counters.py), for the `flask` workload of `just bench`.

Flask comes from the test venv, passed to each server as for the Django example (see
django_app.py). The example is loaded by path under the module name `flask_example`: its
file is also called app.py, like the bench's own apps.
"""

import importlib.util
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here)

from counters import counted  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "flask_example", os.path.join(os.path.dirname(_here), "examples", "flask", "app.py")
)
_example = importlib.util.module_from_spec(_spec)
sys.modules["flask_example"] = _example
_spec.loader.exec_module(_example)

application = counted(_example.app)
