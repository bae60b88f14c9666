# ruwsgi --http 127.0.0.1:8000 --home target/venv --chdir2 examples/django/mysite --module mysite.wsgi
"""WSGI config for mysite: exposes the WSGI callable as a module-level variable named
``application`` (what `--module mysite.wsgi` loads)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = get_wsgi_application()
