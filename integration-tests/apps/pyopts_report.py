# The app of the Python-plugin option tests (integration-tests/tests/wsgi.rs, pyopts_*):
# /report answers, as JSON, what pyargv, py-executable, py-programname and pymodule-alias
# set; /env whether the environ is the previous request's; /stack the stack size of the
# thread serving the request; /pid the worker's pid; /raise?Type:message raises
# builtins.Type(message).
import builtins
import ctypes
import json
import os
import sys
import urllib.parse

# Taken at import: the aliases exist before the app is imported.
ALIASES = {
    name: sys.modules.get(name)
    for name in ("pyopts_json", "pyopts_cwd", "pyopts_file", "pyopts_pkg")
}

_previous = None


def thread_stack_size():
    # glibc: pthread_getattr_np on the calling thread gives its stack as it was created.
    libc = ctypes.CDLL(None)
    libc.pthread_self.restype = ctypes.c_ulong
    attr = ctypes.create_string_buffer(256)
    if libc.pthread_getattr_np(ctypes.c_ulong(libc.pthread_self()), attr) != 0:
        return None
    addr, size = ctypes.c_void_p(), ctypes.c_size_t()
    libc.pthread_attr_getstack(attr, ctypes.byref(addr), ctypes.byref(size))
    libc.pthread_attr_destroy(attr)
    return size.value


def report():
    import json as real_json

    out = {"argv": sys.argv, "executable": sys.executable, "prefix": sys.prefix}
    json_alias, file_alias, pkg_alias = (ALIASES[n] for n in ("pyopts_json", "pyopts_file", "pyopts_pkg"))
    out["json_alias_is_json"] = json_alias is real_json
    if ALIASES["pyopts_cwd"] is not None:
        out["cwd_alias"] = ALIASES["pyopts_cwd"].__name__
    if file_alias is not None:
        out["file_alias"] = [file_alias.__name__, file_alias.VALUE, file_alias.__file__]
    if pkg_alias is not None:
        import pyopts_pkg.sub

        out["pkg_alias"] = [pkg_alias.VALUE, pyopts_pkg.sub.VALUE]
    return out


def application(environ, start_response):
    global _previous
    path = environ["PATH_INFO"]
    if path == "/raise":
        kind, _, message = urllib.parse.unquote(environ["QUERY_STRING"]).partition(":")
        raise getattr(builtins, kind)(message)
    if path == "/pid":
        body = os.getpid()
    elif path == "/env":
        body = {"same_dict": environ is _previous, "leaked": "pyopts.mark" in environ}
        environ["pyopts.mark"] = True
        _previous = environ
    elif path == "/stack":
        body = thread_stack_size()
    else:
        body = report()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
