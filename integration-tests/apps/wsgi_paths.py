"""Answers where the interpreter thinks it lives: sys.executable, sys.prefix,
sys.base_prefix and the standard library's os.py, one per line."""
import os
import sys


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    lines = [sys.executable, sys.prefix, sys.base_prefix, os.__file__]
    return ["\n".join(lines).encode()]
