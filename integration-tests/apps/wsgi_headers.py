# Headers real apps send: Connection: close, the other hop-by-hop headers, and str
# subclasses (Django's SafeString, MarkupSafe's Markup) as status, header names and values.


class Safe(str):
    """A str subclass, as Django's SafeString and MarkupSafe's Markup are."""


class Pair(tuple):
    """A tuple subclass, as a named tuple is."""


HOP_BY_HOP = [
    ("Keep-Alive", "timeout=5"),
    ("Proxy-Connection", "keep-alive"),
    ("TE", "trailers"),
    ("Trailer", "X-Checksum"),
    ("Upgrade", "h2c"),
    ("Transfer-Encoding", "chunked"),
]


def application(environ, start_response):
    path = environ["PATH_INFO"]
    text = ("Content-Type", "text/plain")
    if path == "/close":
        start_response("200 OK", [text, ("Connection", "close")])
        return [b"closing after this"]
    if path == "/hop":
        start_response("200 OK", [text] + HOP_BY_HOP + [("X-Kept", "yes")])
        return [b"hop-by-hop dropped"]
    if path == "/subclass":
        start_response(
            Safe("200 OK"),
            [(Safe("Content-Type"), Safe("text/plain")), Pair((Safe("X-Safe"), Safe("safe")))],
        )
        return [b"subclasses pass"]
    start_response("200 OK", [text])
    return [b"ok"]
