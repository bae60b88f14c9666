# A WSGI app that fails at import: with need-app (the default) the server exits with 22.
raise RuntimeError("broken on purpose")
