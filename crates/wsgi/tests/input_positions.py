# wsgi.input against io.BytesIO at every position: each case seeks both to the same place,
# runs the same method, and records where results, positions or exception types differ.
# The bridge's unit tests (src/input.rs) call `differences` directly; the end-to-end tests
# serve this file as an app at / (POST a body: the answer is the list of differences, one per
# line, none when it matches).
import io

SEEKS = [
    (0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (100, 0), (-1, 0),
    (-1, 1), (-100, 1), (5, 1), (1000, 1),
    (0, 2), (-1, 2), (-100, 2), (1, 2), (100, 2),
    (0, 3),
]

OPS = [
    ("read()", lambda f: f.read()),
    ("read(-1)", lambda f: f.read(-1)),
    ("read(None)", lambda f: f.read(None)),
    ("read(0)", lambda f: f.read(0)),
    ("read(2)", lambda f: f.read(2)),
    ("readline()", lambda f: f.readline()),
    ("readline(1)", lambda f: f.readline(1)),
    ("readline(-5)", lambda f: f.readline(-5)),
    ("readlines()", lambda f: f.readlines()),
    ("readlines(1)", lambda f: f.readlines(1)),
    ("list()", lambda f: list(f)),
    ("next()", lambda f: next(f, "end")),
    ("tell()", lambda f: f.tell()),
]


def _outcome(call):
    try:
        return ("ok", call())
    except Exception as e:  # noqa: BLE001 - the type is what is compared
        return ("raised", type(e).__name__)


def differences(inp, data):
    found = []
    ref = io.BytesIO(data)
    for start in (0, 1):
        for offset, whence in SEEKS:
            for name, op in OPS:
                # Start each case from the same place, then seek (relative seeks see it).
                inp.seek(start)
                ref.seek(start)
                got = _outcome(lambda: inp.seek(offset, whence))
                want = _outcome(lambda: ref.seek(offset, whence))
                case = "from %d seek(%d, %d) then %s" % (start, offset, whence, name)
                if got != want:
                    found.append("%s: seek gave %r, BytesIO %r" % (case, got, want))
                    continue
                got, want = _outcome(lambda: op(inp)), _outcome(lambda: op(ref))
                if got != want or inp.tell() != ref.tell():
                    found.append(
                        "%s: %r at %d, BytesIO %r at %d"
                        % (case, got, inp.tell(), want, ref.tell())
                    )
    return found


def application(environ, start_response):
    inp = environ["wsgi.input"]
    data = inp.read()
    found = differences(inp, data)
    body = ("%d bytes, %d differences\n" % (len(data), len(found))).encode()
    body += "".join(line + "\n" for line in found).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
