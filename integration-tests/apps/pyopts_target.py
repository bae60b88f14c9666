# A module pymodule-alias maps from its file (integration-tests/tests/wsgi.rs, pyopts_*).
VALUE = "run from pyopts_target.py as " + __name__
