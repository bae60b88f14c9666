# The app behind the internal-routing tests. It counts the requests it served (one worker,
# one thread, so a plain global), which lets a test prove a routed answer never reached it.
#
# /xs?file=F&secret=S   answers "app body" with `X-Sendfile: F` (when given) and `X-Secret: S`
# /xsw?file=F           answers with `X-Sendfile: F` and a body sent through write()
# /status/NNN           answers with that status
# anything else         answers JSON of what the routing rules may have changed in the environ
#
# Every answer sets `X-Drop: app` (for delheader) and `X-Calls: N` (the count so far).
import json
from urllib.parse import parse_qs

CALLS = 0


def application(environ, start_response):
    global CALLS
    CALLS += 1
    path = environ["PATH_INFO"]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    headers = [("X-Drop", "app"), ("X-Calls", str(CALLS))]
    status = "200 OK"
    if path == "/xsw":
        # The same headers, the body through write() (a response rule answers in its place:
        # write() must not raise, and the next request on the connection is unharmed).
        headers += [("Content-Type", "text/plain"), ("X-Sendfile", query["file"][0])]
        write = start_response(status, headers)
        write(b"app body via write")
        return [b"app body after write"]
    if path == "/xs":
        headers.append(("Content-Type", "text/plain"))
        if "file" in query:
            headers.append(("X-Sendfile", query["file"][0]))
        headers.append(("X-Secret", query.get("secret", [""])[0]))
        body = b"app body"
    else:
        if path.startswith("/status/"):
            status = path.rsplit("/", 1)[-1] + " From App"
        headers.append(("Content-Type", "application/json"))
        seen = {
            key: environ.get(key)
            for key in (
                "PATH_INFO",
                "QUERY_STRING",
                "SCRIPT_NAME",
                "REQUEST_METHOD",
                "REQUEST_URI",
                "MYVAR",
                "HOSTVAR",
            )
        }
        seen["calls"] = CALLS
        body = json.dumps(seen).encode("utf-8", "surrogateescape")
    start_response(status, headers)
    return [body]
