# A WSGI app whose import kills the process: a worker that loads it (lazy-apps) crash-loops.
import os

os._exit(3)
