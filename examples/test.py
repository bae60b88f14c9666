# ruwsgi --http :8001 --wsgi-file examples/test.py
"""The seed tutorial's test.py, as written there (its `uwsgi --http :8001 --wsgi-file test.py`)."""


def application(env, start_response):
    start_response('200 OK', [('Content-Type', 'text/html')])
    return [b"Hello World"]
