#!/usr/bin/env python3
"""`just bench`: ruwsgi beside nginx, uWSGI, Gunicorn and Granian on this machine, over
several workloads (hello world, the Django and Flask examples, a 3 ms CPU-bound view, a
64 KiB response, a 1 MiB upload, a browser's header set, and a 3 ms and a 200 ms view behind
nginx's `uwsgi_pass`), each at 1 and 2 workers (and at the core count when above 2).

Run by bench/run.sh (which prepares bench/.venv and checks for nginx and wrk); see
bench/README.md for what is measured and how to read it. Environment:

- BENCH_SECONDS (default 3): length of each measured wrk run (the 200 ms workload runs at
  least SLEEP_RUN_SECONDS).
- BENCH_ROUNDS (default 3): interleaved rounds; each row's figures are medians over them.
- BENCH_WORKERS (default "1 2", plus the core count when above 2): the worker counts.
- BENCH_WORKLOADS (optional): comma-separated workload names or prefixes (e.g. "hello,django").
- BENCH_ONLY (optional): comma-separated row names or name prefixes (e.g. "nginx,ruwsgi").
- BENCH_CPU_LOOPS (optional): the loop count of the 3 ms view; calibrated at start if unset.
- BENCH_SAVE (optional): a second path (relative to the repository) the report is written to,
  e.g. docs/benchmarks/<name>.md.
- RUWSGI (default target/release/ruwsgi): the binary under test.
- RUWSGI_BASELINE (optional): a second ruwsgi binary (an older build) measured as the row
  "ruwsgi baseline" beside "ruwsgi", in the same interleaved rounds, to compare two builds.
- RUWSGI_TEST_VENV (default target/venv): the venv whose site-packages give Django and Flask.

The reload section (bench/reloads.py; BENCH_WORKLOADS=reload runs it alone) puts each server
through five graceful reloads under load and counts failed requests.

Exit status: 0 when every ruwsgi row was measured, 1 when one failed (or ruwsgi failed a
request or missed new code in the reload section), 2 on a setup error.
Missed targets are reported, not turned into a failure: on a shared 2-core box they are a
measurement, not a verdict.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NoReturn

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
VENV_BIN = BENCH_DIR / ".venv" / "bin"
sys.path.insert(0, str(BENCH_DIR))
import counters  # noqa: E402  (bench/counters.py: the apps' shared per-worker counters)
import reloads  # noqa: E402  (bench/reloads.py: the reload section)

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

WRK_THREADS = 1
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
WARMUP_SECONDS = 1
# The 3 ms view's target duration, and the 200 ms view's sleep.
CPU_VIEW_MS = 3.0
SLEEP_VIEW_MS = 200
# The 200 ms workload: at 1 worker its FIFO ideal is 16 × 0.2 s = 3.2 s per request, so it
# runs long enough for wrk's timeout (2 × that ideal, see Workload.wrk_timeout) to fire
# inside the run for a request left waiting.
SLEEP_RUN_SECONDS = 12
# The upload workload's body (upload.lua sends as much).
UPLOAD_BYTES = 1 << 20
# The static workload's file: the size of a site's stylesheet.
STATIC_FILE = "bench.css"
STATIC_BYTES = 16 * 1024
# Estimated per-server cost outside the measured runs (start, readiness, counter reads), for
# the duration printed at start.
STARTUP_SECONDS = 6.0
PER_RUN_OVERHEAD = 0.6
# The reload section (bench/reloads.py): four servers, five reloads each.
RELOAD_SECTION_SECONDS = 120


def die(message: str) -> NoReturn:
    """A setup error: the message on stderr, exit status 2."""
    print(message, file=sys.stderr)
    sys.exit(2)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        die(f"bench: {name}={raw!r} is not a whole number")
    if value < 1:
        die(f"bench: {name} must be at least 1, not {value}")
    return value


def names_from(var: str) -> list[str]:
    return [w.strip().lower() for w in os.environ.get(var, "").split(",") if w.strip()]


# ---------------------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------------------


def test_venv() -> Path:
    """The venv holding Django and Flask (the integration tests' one)."""
    raw = os.environ.get("RUWSGI_TEST_VENV", "").strip()
    return Path(raw) if raw else REPO / "target" / "venv"


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise RuntimeError(f"no site-packages in {venv} (make the test venv: see integration-tests)")
    return found[0]


@dataclass
class Workload:
    """What the clients ask for, and of which app."""

    name: str  # what BENCH_WORKLOADS selects
    title: str
    module: str  # bench/<module>.py
    callable: str
    path: str  # what wrk requests
    body_ok: Callable[[bytes], bool]  # the readiness check's test of the answer
    script: str | None = None  # a wrk Lua script in bench/
    connections: int = 32
    behind_nginx: bool = False  # nginx uwsgi_pass on a unix socket in front of the server
    framework: bool = False  # imports Django or Flask from the test venv
    min_seconds: int = 0  # the run is at least this long
    ready_body: bytes | None = None  # the readiness check POSTs this instead of a GET
    static: bool = False  # a file each row serves itself (`static-map`, nginx `alias`)

    def run_seconds(self, seconds: int) -> int:
        return max(seconds, self.min_seconds)

    def wrk_timeout(self, workers: int) -> int | None:
        """wrk's --timeout in whole seconds (wrk takes no fraction; None: its default of 2 s):
        for the 200 ms view, twice the FIFO ideal latency at this worker count (one thread
        per worker), rounded up."""
        if self.name != "nginx-sleep":
            return None
        return math.ceil(2 * self.connections * SLEEP_VIEW_MS / 1000 / workers)


def python_body_ok(body: bytes, path: str) -> bool:
    """The body bench/app.py's hello computes for `path`: the CRC proves the app ran."""
    return body.startswith(b"hello from python ") and (
        b"crc=%08x" % zlib.crc32(path.encode("latin-1"))
    ) in body


WORKLOADS = [
    Workload("hello", "hello world (bench/app.py `application`)", "app", "application",
             "/bench", lambda b: python_body_ok(b, "/bench")),
    Workload("django", "the Django example's view `/hello/` (examples/django/mysite)",
             "django_app", "application", "/hello/",
             lambda b: b.startswith(b"Hello from Django"), framework=True),
    Workload("flask", "the Flask example's `/` (examples/flask/app.py)", "flask_app",
             "application", "/", lambda b: b.startswith(b"Hello from Flask"), framework=True),
    Workload("cpu", "a 3 ms CPU-bound view (pure-Python loop)", "app", "cpu", "/cpu",
             lambda b: b.startswith(b"cpu ")),
    Workload("64k", "a 64 KiB response", "app", "big", "/big", lambda b: len(b) == 65536),
    Workload("upload", "a 1 MiB upload (POST; the app reads it all and answers its length)",
             "app", "upload", "/upload", lambda b: b == b"received %d\n" % UPLOAD_BYTES,
             script="upload.lua", ready_body=b"u" * UPLOAD_BYTES),
    Workload("headers", "a request with a browser's header set (12 headers and a cookie)",
             "app", "headers", "/headers", lambda b: b.startswith(b"headers "),
             script="headers.lua"),
    Workload("static", f"a {STATIC_BYTES // 1024} KiB static file (`static-map`; nginx `alias`)",
             "app", "application", f"/static/{STATIC_FILE}", lambda b: b == static_body(),
             static=True),
    Workload("nginx-cpu", "the 3 ms view behind nginx `uwsgi_pass` (unix socket), 16 clients",
             "app", "cpu", "/cpu", lambda b: b.startswith(b"cpu "), connections=16,
             behind_nginx=True),
    Workload("nginx-sleep",
             "a 200 ms view (sleep) behind nginx `uwsgi_pass` (unix socket), 16 clients",
             "app", "sleep", "/sleep", lambda b: b.startswith(b"slept"), connections=16,
             behind_nginx=True, min_seconds=SLEEP_RUN_SECONDS),
]


def static_body() -> bytes:
    """The static workload's file: text, so every server gives it the same type."""
    line = b"/* ruwsgi bench: a stylesheet-sized static file */\n"
    return (line * (STATIC_BYTES // len(line) + 1))[:STATIC_BYTES]


def static_dir(t: Path) -> Path:
    """The directory the static workload's rows serve (`write_static` fills it)."""
    return t / "static"


def write_static(t: Path) -> None:
    """Writes the static workload's file into `static_dir(t)`, once per run."""
    d = static_dir(t)
    d.mkdir(parents=True, exist_ok=True)
    if not (d / STATIC_FILE).exists():
        (d / STATIC_FILE).write_bytes(static_body())


def static_flags(w: Workload, t: Path) -> list[str]:
    """ruwsgi's and uWSGI's shared flag for the static workload (none for the others)."""
    return ["--static-map", f"/static={static_dir(t)}"] if w.static else []


def selected_workloads() -> list[Workload]:
    wanted = names_from("BENCH_WORKLOADS")
    if not wanted:
        return WORKLOADS
    return [w for w in WORKLOADS if any(w.name.startswith(x) for x in wanted)]


def reload_selected() -> bool:
    """Whether the reload section runs: by default, or when BENCH_WORKLOADS names it."""
    wanted = names_from("BENCH_WORKLOADS")
    return not wanted or any("reload".startswith(x) for x in wanted)


def calibrate_cpu_loops() -> tuple[int, float, str]:
    """(loops, measured ms, how): the loop count of the `cpu` view. BENCH_CPU_LOOPS when set;
    otherwise timed here with app.spin (the same Python as the servers'), the fastest of
    several tries, scaled to CPU_VIEW_MS."""
    import app  # bench/app.py: its `spin` is the view's work

    def fastest(loops: int, tries: int) -> float:
        best_s = float("inf")
        for _ in range(tries):
            t0 = time.perf_counter()
            app.spin(loops)
            best_s = min(best_s, time.perf_counter() - t0)
        return best_s * 1000

    raw = os.environ.get("BENCH_CPU_LOOPS", "").strip()
    if raw:
        loops = env_int("BENCH_CPU_LOOPS", 1)
        return loops, fastest(loops, 5), "BENCH_CPU_LOOPS"
    probe = 20_000
    loops = max(1, round(probe * CPU_VIEW_MS / fastest(probe, 9)))
    return loops, fastest(loops, 5), "calibrated at start"


# ---------------------------------------------------------------------------------------
# The rows
# ---------------------------------------------------------------------------------------


@dataclass
class Row:
    """One server configuration: how to start it for an address (a port, or a unix socket
    path behind nginx), a worker count and a workload."""

    name: str
    kind: str  # "builtin", "nginx", "ruwsgi", "peer"
    # (address, workers, workload, temp dir) -> (argv, extra environment)
    launch: Callable[[object, object, Workload, Path], tuple[list[str], dict[str, str]]]
    expect_python: bool = True  # the answer comes from the bench's Python app
    is_ruwsgi: bool = False


def ruwsgi_bin() -> Path:
    return Path(os.environ.get("RUWSGI", REPO / "target" / "release" / "ruwsgi"))


def baseline_bin() -> Path | None:
    raw = os.environ.get("RUWSGI_BASELINE", "").strip()
    return Path(raw) if raw else None


def uwsgi_style_app(w: Workload) -> list[str]:
    """The app flags ruwsgi and uWSGI share: the file, its callable, the test venv."""
    args = ["--wsgi-file", str(BENCH_DIR / f"{w.module}.py")]
    if w.callable != "application":
        args += ["--callable", w.callable]
    if w.framework:
        args = ["--home", str(test_venv())] + args
    return args


def listen_flag(w: Workload, http_flag: str) -> str:
    return "--socket" if w.behind_nginx else http_flag


def address(addr: object, w: Workload) -> str:
    return str(addr) if w.behind_nginx else f"127.0.0.1:{addr}"


def ruwsgi_row(name: str, binary: str, watched: bool = False, static: bool = False) -> Row:
    """ruwsgi as the peers run; `watched` adds what operators set to watch a fleet (a
    stats socket and harakiri), so the report shows what the watching costs."""

    def launch(a, n, w, t):
        extra = []
        if watched:
            # Named after the port, or the socket file's name behind nginx (its whole
            # path would make the stats socket's longer than a unix socket path may be).
            stats = t / ("stats-" + re.sub(r"\W", "_", Path(str(a)).name) + f"-{n}.sock")
            extra = ["--stats", str(stats), "--harakiri", "60"]
        return ([binary, listen_flag(w, "--http-socket"), address(a, w), "--master",
                 "--processes", str(n), "--disable-logging", *extra, *static_flags(w, t),
                 *uwsgi_style_app(w)], {})

    return Row(name, "ruwsgi", launch, is_ruwsgi=True, expect_python=not static)


def uwsgi_row(name: str, http_flag: str, threads: int | None = None,
              static: bool = False) -> Row:
    extra = ["--threads", str(threads)] if threads else []
    # uWSGI leaves Nagle's algorithm on; ruwsgi turns it off by default. Without
    # --tcp-nodelay a kept-alive response written in two pieces (a static file's head,
    # then its sendfile) waits for the client's delayed ACK: 22 req/s instead of 8,000 on
    # the static row. Its best configuration turns it off on TCP (on the unix socket
    # behind nginx it would only log an error per connection).
    def nodelay(w: Workload) -> list[str]:
        return [] if w.behind_nginx else ["--tcp-nodelay"]

    return Row(
        name,
        "peer",
        lambda a, n, w, t: ([str(VENV_BIN / "uwsgi"), listen_flag(w, http_flag), address(a, w),
                          "--master", "--processes", str(n), *extra, *nodelay(w),
                          "--disable-logging",
                          *static_flags(w, t), *uwsgi_style_app(w)], {}),
        expect_python=not static,
    )


def gunicorn_row(name: str, threads: int | None = None) -> Row:
    extra = ["-k", "gthread", "--threads", str(threads)] if threads else []

    def launch(a, n, w, t):
        path = ["--pythonpath", str(site_packages(test_venv()))] if w.framework else []
        return ([str(VENV_BIN / "gunicorn"), "--chdir", str(BENCH_DIR), *path, "--bind",
                 f"127.0.0.1:{a}", "--workers", str(n), *extra, f"{w.module}:{w.callable}"], {})

    return Row(name, "peer", launch)


def granian_row(name: str, blocking_threads: int | None = None) -> Row:
    extra = ["--blocking-threads", str(blocking_threads)] if blocking_threads else []

    def launch(a, n, w, t):
        env = {"PYTHONPATH": str(site_packages(test_venv()))} if w.framework else {}
        return ([str(VENV_BIN / "granian"), "--interface", "wsgi", "--host", "127.0.0.1",
                 "--port", str(a), "--workers", str(n), *extra, "--working-dir",
                 str(BENCH_DIR), f"{w.module}:{w.callable}"], env)

    return Row(name, "peer", launch)


# The row of ruwsgi with a stats socket and harakiri set (`ruwsgi_row`'s `watched`).
WATCHED = "ruwsgi +stats +harakiri"


def rows_for(w: Workload, ruwsgi: str, baseline: str | None = None) -> list[Row]:
    """The rows of a workload; `ruwsgi` is the path of the binary the ruwsgi rows run,
    `baseline` the optional older binary of the "ruwsgi baseline" row."""
    if w.static:
        # Only the servers that serve files themselves; the app behind gets no request.
        rows = [ruwsgi_row("ruwsgi", ruwsgi, static=True)]
        if baseline:
            rows.append(ruwsgi_row("ruwsgi baseline", baseline, static=True))
        return rows + [
            Row("nginx static", "nginx",
                lambda a, n, w, t: ([nginx_path(), "-e", str(t / f"nginx-{a}" / "error.log"),
                                     "-c", str(nginx_conf(t / f"nginx-{a}", a, n,
                                                          static_location(static_dir(t))))],
                                    {}),
                expect_python=False),
            uwsgi_row("uWSGI --http11-socket", "--http11-socket", static=True),
            uwsgi_row("uWSGI --http-socket", "--http-socket", static=True),
        ]
    ours = [ruwsgi_row("ruwsgi", ruwsgi), ruwsgi_row(WATCHED, ruwsgi, watched=True)]
    if baseline:
        ours.append(ruwsgi_row("ruwsgi baseline", baseline))
    if w.behind_nginx:
        # nginx speaks the uwsgi protocol: the peers that do are ruwsgi and uWSGI.
        return ours + [uwsgi_row("uWSGI --socket", "--socket")]
    references = []
    if w.name == "hello":
        references = [
            Row("ruwsgi builtin", "builtin",
                lambda a, n, w, t: ([ruwsgi, "--builtin-handler", "--http-socket",
                                  f"127.0.0.1:{a}", "--master", "--processes", str(n),
                                  "--disable-logging"], {}),
                expect_python=False, is_ruwsgi=True),
            Row("nginx return 200", "nginx",
                lambda a, n, w, t: ([nginx_path(), "-e", str(t / f"nginx-{a}" / "error.log"),
                                     "-c", str(nginx_conf(t / f"nginx-{a}", a, n,
                                                          return_200_location()))], {}),
                expect_python=False),
        ]
    return references + ours + [
        uwsgi_row("uWSGI --http11-socket", "--http11-socket"),
        uwsgi_row("uWSGI --http11-socket --threads 4", "--http11-socket", threads=4),
        uwsgi_row("uWSGI --http-socket", "--http-socket"),
        gunicorn_row("Gunicorn sync"),
        gunicorn_row("Gunicorn gthread 4", threads=4),
        granian_row("Granian"),
        granian_row("Granian --blocking-threads 1", blocking_threads=1),
    ]


def selected_rows(all_rows: list[Row]) -> list[Row]:
    wanted = names_from("BENCH_ONLY")
    if not wanted:
        return all_rows
    return [r for r in all_rows if any(r.name.lower().startswith(x) for x in wanted)]


def nginx_path() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if not found:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    return found


UWSGI_PARAMS = Path("/etc/nginx/uwsgi_params")


def nginx_conf(root: Path, port: int, workers: int, location: str) -> Path:
    """A private nginx config in `root`: no logging, its own temp paths, foreground."""
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "nginx.conf"
    # As root, nginx's workers would switch to `nobody`, who cannot reach a unix socket in
    # this run's private temp dir: keep them as the bench's user.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(
        f"""# Written by bench/bench.py.
daemon off;
master_process on;
{user}worker_processes {workers};
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    # wrk keeps its connections open; nginx's default of 1000 requests per connection
    # would make it reconnect, which no other row does.
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{
{location}
        }}
    }}
}}
"""
    )
    return conf


def return_200_location() -> str:
    return '            default_type text/plain;\n            return 200 "Hello World\\n";'


def static_location(root: Path) -> str:
    """nginx serving the static workload's directory under /static/ (sendfile on, as
    ruwsgi and uWSGI use it)."""
    return (f"            sendfile on;\n            default_type text/css;\n"
            f"            location /static/ {{ alias {root}/; }}")


def uwsgi_pass_location(sock: Path) -> str:
    """Debian's stock uwsgi_params, and nginx's default upstream handling: a new connection
    to the server per request (no `upstream` keepalive)."""
    return f"            include {UWSGI_PARAMS};\n            uwsgi_pass unix:{sock};"


# ---------------------------------------------------------------------------------------
# Process trees from /proc
# ---------------------------------------------------------------------------------------


def read_stat(pid: int) -> tuple[int, int] | None:
    """(ppid, utime+stime+cutime+cstime in ticks) of one process, or None if it is gone.

    cutime/cstime hold the time of children the process has already reaped, so a worker
    that exits during a run is still counted once its parent waits for it.
    """
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    rest = raw[raw.rindex(b")") + 2:].split()
    # rest[0] is field 3 (state); field N is rest[N - 3].
    ppid = int(rest[1])
    utime, stime, cutime, cstime = (int(x) for x in rest[11:15])
    return ppid, utime + stime + cutime + cstime


def tree_pids(root: int) -> list[int]:
    """root and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = read_stat(int(entry))
        if stat is not None:
            children.setdefault(stat[0], []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_cpu_ticks(root: int) -> int:
    total = 0
    for pid in tree_pids(root):
        stat = read_stat(pid)
        if stat is not None:
            total += stat[1]
    return total


def tree_memory(root: int) -> tuple[float, float | None]:
    """(sum of RSS, sum of PSS or None when smaps_rollup is unreadable) in MiB."""
    rss = 0
    pss: int | None = 0
    for pid in tree_pids(root):
        try:
            statm = Path(f"/proc/{pid}/statm").read_text().split()
            rss += int(statm[1]) * PAGE_SIZE
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if pss is not None:
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                        break
            except (FileNotFoundError, ProcessLookupError):
                pass
            except PermissionError:
                pss = None
    return rss / 2**20, (pss / 2**20 if pss is not None else None)


# ---------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str, timeout: float = 2.0,
             post: bytes | None = None) -> tuple[int, bytes]:
    """One HTTP/1.1 GET (or POST of `post`) with `Connection: close`; (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        method = "GET" if post is None else "POST"
        length = "" if post is None else f"Content-Length: {len(post)}\r\n"
        s.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{length}"
            f"Connection: close\r\n\r\n".encode() + (post or b"")
        )
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
                if m and len(body) >= int(m.group(1)):
                    break
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise OSError(f"no complete response head: {data[:200]!r}")
    first = head.split(b"\r\n", 1)[0]
    status_line = first.split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise OSError(f"bad status line: {first!r}")
    return int(status_line[1]), body


def keeps_alive(port: int, path: str, timeout: float = 2.0) -> bool:
    """Whether the server answers a second request on the connection of the first one."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        for _ in range(2):
            try:
                s.sendall(request)
            except OSError:
                return False
            data = b""
            while True:
                head, sep, body = data.partition(b"\r\n\r\n")
                if sep:
                    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
                    if not m:
                        return False  # body framed by close (or chunked: not used here)
                    if len(body) >= int(m.group(1)):
                        break
                try:
                    chunk = s.recv(65536)
                except OSError:
                    return False
                if not chunk:
                    return False
                data += chunk
            if re.search(rb"(?im)^connection:\s*close\s*$", head):
                return False
        return True


def counter_dir() -> Path:
    """Where the apps' counter files live: /dev/shm (memory), else the temp dir."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


class Server:
    """One running row of one workload: its process (a session leader), log and port; for a
    workload behind nginx, also the private nginx in front of it (own session, own log)."""

    def __init__(self, row: Row, workload: Workload, workers: int, tmpdir: Path, cpu_loops: int):
        self.row = row
        self.workload = workload
        self.workers = workers
        self.cpu_loops = cpu_loops
        self.port = free_port()
        tag = f"{slug(row.name)}-{workload.name}-{workers}w"
        self.log_path = tmpdir / f"{tag}.log"
        self.counter_file = (counter_dir() / f"ruwsgi-bench-{os.getpid()}-{tag}"
                             if row.expect_python else None)
        self.proc: subprocess.Popen | None = None
        self.front: subprocess.Popen | None = None
        self.front_argv: list[str] = []
        self.failure: str | None = None
        self.keep_alive: bool | None = None
        self.argv: list[str] = []
        self.env: dict[str, str] = {}
        try:
            if workload.behind_nginx:
                sock = tmpdir / f"{tag}.sock"
                self.argv, self.env = row.launch(sock, workers, workload, tmpdir)
                root = tmpdir / f"front-{tag}"
                conf = nginx_conf(root, self.port, 1, uwsgi_pass_location(sock))
                self.front_argv = [nginx_path(), "-e", str(root / "error.log"), "-c", str(conf)]
            else:
                if workload.static:
                    write_static(tmpdir)
                self.argv, self.env = row.launch(self.port, workers, workload, tmpdir)
        except RuntimeError as err:
            self.failure = str(err)

    def _spawn(self, argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
        with open(log_path, "wb") as log:
            return subprocess.Popen(argv, cwd=BENCH_DIR, env=env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def start(self) -> None:
        if self.failure:
            return
        env = dict(os.environ)
        # The peers run from bench/.venv; ruwsgi embeds the Python it was built against. The
        # apps are found by path; Django and Flask through the row's flags (Row.launch).
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        env.pop("PYTHONPATH", None)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["BENCH_CPU_LOOPS"] = str(self.cpu_loops)
        env["BENCH_SLEEP_MS"] = str(SLEEP_VIEW_MS)
        if self.counter_file is not None:
            self.counter_file.write_bytes(bytes(counters.SIZE))
            env[counters.ENV] = str(self.counter_file)
        env.update(self.env)
        try:
            self.proc = self._spawn(self.argv, env, self.log_path)
            if self.front_argv:
                self.front = self._spawn(self.front_argv, dict(os.environ),
                                         self.log_path.with_suffix(".nginx.log"))
        except OSError as err:
            self.failure = f"cannot start: {err}"

    def wait_ready(self) -> None:
        """Until the server answers the workload's path as expected (and the app's counters
        show it), it exits, or READY_TIMEOUT passes."""
        if self.failure:
            return
        assert self.proc is not None
        path = self.workload.path
        deadline = time.monotonic() + READY_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            for what, proc in (("the server", self.proc), ("nginx in front", self.front)):
                code = proc.poll() if proc is not None else None
                if code is not None:
                    self.failure = f"{what} exited with status {code} before serving"
                    return
            try:
                status, body = http_get(self.port, path, post=self.workload.ready_body)
            except OSError as err:
                last = f"{type(err).__name__}: {err}"
                time.sleep(0.1)
                continue
            if self.front is not None and status in (502, 503, 504):
                last = f"nginx answered {status} (the server is not listening yet)"
                time.sleep(0.1)
                continue
            if status != 200:
                self.failure = f"answered {status} to {path}: {body[:120]!r}"
                return
            if self.row.expect_python or self.workload.static:
                if not self.workload.body_ok(body):
                    self.failure = f"body is not the expected one: {body[:120]!r}"
                    return
            if self.row.expect_python:
                if not counters.read(self.counter_file):
                    self.failure = (f"the app answered but its counter file stayed empty "
                                    f"({counters.ENV} not passed to the app?)")
                    return
            try:
                self.keep_alive = keeps_alive(self.port, path)
            except OSError:
                self.keep_alive = False
            return
        self.failure = f"not ready after {READY_TIMEOUT:.0f} s ({last})"

    def alive(self) -> bool:
        return (self.proc is not None and self.proc.poll() is None
                and (self.front is None or self.front.poll() is None))

    def log_tail(self, lines: int = 15) -> str:
        out = []
        for path in (self.log_path, self.log_path.with_suffix(".nginx.log")):
            try:
                text = path.read_text(errors="replace")
            except FileNotFoundError:
                continue
            tail = text.splitlines()[-lines:]
            out.append("\n".join(tail) if tail else f"(empty {path.name})")
        return "\n--- nginx in front ---\n".join(out) if out else "(no log)"

    def stop(self) -> None:
        for proc in (self.front, self.proc):
            if proc is not None:
                stop_session(proc)
        if self.counter_file is not None:
            try:
                self.counter_file.unlink()
            except FileNotFoundError:
                pass


def stop_session(proc: subprocess.Popen) -> None:
    """SIGINT to the whole session (immediate stop for every server here), then SIGKILL."""
    pgid = proc.pid
    for sig, grace in ((signal.SIGINT, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure nothing of its session stays behind.
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        break
    if proc.poll() is None:
        proc.wait(timeout=5)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


# ---------------------------------------------------------------------------------------
# wrk
# ---------------------------------------------------------------------------------------


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int  # 2xx responses
    errors: int  # non-2xx, connect and write errors
    timeouts: int
    read_eofs: int
    cpu_us_per_req: float
    rss_mib: float
    pss_mib: float | None
    # The app's requests per worker pid during the run (the counter file's increments);
    # empty for a row without the Python app.
    per_pid: dict[int, int] = field(default_factory=dict)


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_latency_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"unparsable latency {text!r}")
    return float(m.group(1)) * _UNIT_MS[m.group(2)]


@dataclass
class WrkOut:
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    good: int
    errors: int
    timeouts: int
    read_eofs: int


def parse_wrk(out: str) -> WrkOut:
    """The figures of `wrk --latency` output.

    wrk's request count is of complete responses; non-2xx ones are subtracted and counted as
    errors with connect and write errors; timeouts are kept apart. Its "read" errors are
    kept apart too: wrk counts one whenever a server closes a connection wrk expected to
    reuse (uWSGI's --http-socket answers HTTP/1.1 without `Connection: close` and then
    closes), so for such a server they are reconnects, not lost requests.
    """
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    latency = re.search(r"^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M)
    total = re.search(r"^\s+(\d+) requests in ", out, re.M)
    if not (rps and p50 and p99 and latency and total):
        raise ValueError("unexpected wrk output:\n" + out)
    errors = timeouts = read_eofs = 0
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if sock:
        connect, read, write, timeout = (int(x) for x in sock.groups())
        errors += connect + write
        timeouts = timeout
        read_eofs = read
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = int(non2xx.group(1)) if non2xx else 0
    errors += bad
    return WrkOut(float(rps.group(1)), parse_latency_ms(p50.group(1)),
                  parse_latency_ms(p99.group(1)), parse_latency_ms(latency.group(3)),
                  int(total.group(1)) - bad, errors, timeouts, read_eofs)


def wrk_argv(port: object, w: Workload, workers: object, seconds: object) -> list[str]:
    argv = ["wrk", f"-t{WRK_THREADS}", f"-c{w.connections}", f"-d{seconds}s", "--latency"]
    timeout = w.wrk_timeout(workers) if isinstance(workers, int) else None
    if timeout is not None:
        argv += ["--timeout", f"{timeout}s"]
    if w.script:
        argv += ["-s", str(BENCH_DIR / w.script)]
    return argv + [f"http://127.0.0.1:{port}{w.path}"]


def run_wrk(server: Server, seconds: int) -> str:
    argv = wrk_argv(server.port, server.workload, server.workers, seconds)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def measure(server: Server, seconds: int) -> Sample:
    assert server.proc is not None
    root = server.proc.pid
    python = server.counter_file is not None
    before_counts = counters.read(server.counter_file) if python else {}
    before = tree_cpu_ticks(root)
    out = run_wrk(server, seconds)
    after = tree_cpu_ticks(root)
    after_counts = counters.read(server.counter_file) if python else {}
    if not server.alive():
        raise RuntimeError("the server (or nginx in front) exited during the run")
    wrk = parse_wrk(out)
    if wrk.good == 0:
        raise RuntimeError("wrk got no 2xx response:\n" + out)
    per_pid = {pid: n - before_counts.get(pid, 0) for pid, n in after_counts.items()}
    per_pid = {pid: n for pid, n in per_pid.items() if n}
    # The workers' counters must advance once per response wrk counts: proof that every
    # response was computed by the app.
    if python and sum(per_pid.values()) < wrk.good:
        raise RuntimeError(f"wrk counted {wrk.good} responses but the app's counters rose "
                           f"by only {sum(per_pid.values())}")
    cpu_us = (after - before) * 1_000_000 / CLK_TCK / wrk.good
    rss, pss = tree_memory(root)
    return Sample(wrk.rps, wrk.p50_ms, wrk.p99_ms, wrk.max_ms, wrk.good, wrk.errors,
                  wrk.timeouts, wrk.read_eofs, cpu_us, rss, pss, per_pid)


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------


@dataclass
class Result:
    row: Row
    workload: Workload
    workers: int
    argv: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    failure: str | None = None
    log_tail: str = ""
    keep_alive: bool | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None and bool(self.samples)

    def median(self, attr: str) -> float | None:
        values = [getattr(s, attr) for s in self.samples if getattr(s, attr) is not None]
        return statistics.median(values) if values else None

    def span(self, attr: str) -> tuple[float, float] | None:
        """The lowest and highest value over the rounds."""
        values = [getattr(s, attr) for s in self.samples if getattr(s, attr) is not None]
        return (min(values), max(values)) if values else None

    def total(self, attr: str) -> int:
        return sum(getattr(s, attr) for s in self.samples)

    def shares(self) -> list[float] | None:
        """Each worker's fraction of the app's requests over all rounds, highest first; a
        worker that served nothing shows as 0 (the row has `workers` of them). None for a
        row without the Python app."""
        per_pid: dict[int, int] = {}
        for s in self.samples:
            for pid, n in s.per_pid.items():
                per_pid[pid] = per_pid.get(pid, 0) + n
        total = sum(per_pid.values())
        if not total:
            return None
        counts = sorted(per_pid.values(), reverse=True)
        counts += [0] * (self.workers - len(counts))
        return [n / total for n in counts]


def bench_group(w: Workload, workers: int, rows: list[Row], seconds: int, rounds: int,
                tmpdir: Path, cpu_loops: int) -> list[Result]:
    """One workload at one worker count: start every row's server, warm up, then the
    interleaved rounds."""
    print(f"\n== {w.name}, {workers} worker(s): starting {len(rows)} servers", file=sys.stderr)
    servers = [Server(row, w, workers, tmpdir, cpu_loops) for row in rows]
    results = {id(s): Result(s.row, w, workers, s.argv) for s in servers}
    run_seconds = w.run_seconds(seconds)
    try:
        for s in servers:
            s.start()
        for s in servers:
            s.wait_ready()
            r = results[id(s)]
            if s.failure:
                r.failure, r.log_tail = s.failure, s.log_tail()
                print(f"   {s.row.name}: FAILED: {s.failure}", file=sys.stderr)
                s.stop()
            else:
                r.keep_alive = s.keep_alive
                print(f"   {s.row.name}: ready on 127.0.0.1:{s.port}"
                      f"{'' if s.keep_alive else ' (closes every connection)'}", file=sys.stderr)
        live = [s for s in servers if not s.failure]
        # Warm-up: one short unmeasured run each (imports, caches, lazy allocations).
        for s in live:
            try:
                run_wrk(s, WARMUP_SECONDS)
            except (RuntimeError, subprocess.TimeoutExpired) as err:
                print(f"   {s.row.name}: warm-up: {err}", file=sys.stderr)
        # Interleaved rounds, A B C ... then C B A ..., so a noisy moment hits every row
        # alike and no row always runs right after the same one (the watched ruwsgi row
        # after the plain one, say).
        for rnd in range(1, rounds + 1):
            for s in (live if rnd % 2 else live[::-1]):
                r = results[id(s)]
                if r.failure:
                    continue
                try:
                    sample = measure(s, run_seconds)
                except (RuntimeError, ValueError, subprocess.TimeoutExpired) as err:
                    r.failure, r.log_tail = f"round {rnd}: {err}", s.log_tail()
                    print(f"   {s.row.name}: FAILED in round {rnd}: {err}", file=sys.stderr)
                    continue
                r.samples.append(sample)
                print(
                    f"   round {rnd}/{rounds} {s.row.name}: {sample.rps:,.0f} req/s, "
                    f"p99 {sample.p99_ms:.2f} ms, {sample.cpu_us_per_req:.1f} CPU µs/req"
                    + (f", share {share_text(sorted_shares(sample.per_pid, workers))}"
                       if sample.per_pid else "")
                    + (f", {sample.errors} errors" if sample.errors else "")
                    + (f", {sample.timeouts} timeouts" if sample.timeouts else "")
                    + (f", {sample.read_eofs} unannounced closes" if sample.read_eofs else ""),
                    file=sys.stderr,
                )
    finally:
        for s in servers:
            s.stop()
    return [results[id(s)] for s in servers]


def sorted_shares(per_pid: dict[int, int], workers: int) -> list[float]:
    total = sum(per_pid.values())
    counts = sorted(per_pid.values(), reverse=True) + [0] * (workers - len(per_pid))
    return [n / total for n in counts] if total else []


def share_text(shares: list[float] | None) -> str:
    """"52/48 %": each worker's share of the requests, highest first."""
    if not shares:
        return "–"
    return "/".join(f"{100 * s:.0f}" for s in shares) + " %"


def estimate_seconds(workloads: list[Workload], worker_counts: list[int], seconds: int,
                     rounds: int, rows_of: Callable[[Workload], list[Row]]) -> float:
    """The run's expected length: measured runs, warm-ups and per-server overhead."""
    total = 0.0
    for w in workloads:
        n_rows = len(rows_of(w))
        if not n_rows:
            continue
        per_group = (STARTUP_SECONDS + n_rows * (WARMUP_SECONDS + PER_RUN_OVERHEAD)
                     + rounds * n_rows * (w.run_seconds(seconds) + PER_RUN_OVERHEAD))
        total += per_group * len(worker_counts)
    return total


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


def fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "–" if value is None else format(value, spec) + suffix


def rps_text(value: float | None) -> str:
    """req/s: whole numbers, with a decimal below 100 (the 200 ms view's ~5-10 req/s)."""
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def compact(value: float) -> str:
    """12,345 -> "12.3k"; 987 -> "987"; 9.87 -> "9.9"."""
    if value >= 10_000:
        return f"{value / 1000:.1f}k"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def best_peer(results: list[Result], attr: str, pick=max) -> float | None:
    """The best median of `attr` over the peer rows (uWSGI, Gunicorn, Granian)."""
    values = [r.median(attr) for r in results if r.row.kind == "peer" and r.ok]
    values = [v for v in values if v is not None]
    return pick(values) if values else None


def find(results: list[Result], name: str) -> Result | None:
    for r in results:
        if r.row.name == name and r.ok:
            return r
    return None


def table(results: list[Result]) -> str:
    """One table for a workload: its rows at every worker count."""
    head = ("| server | workers | req/s | req/s range | p50 ms | p99 ms | max ms | errors "
            "| timeouts | CPU µs/req | CPU range | worker share | req/s ÷ best peer "
            "| CPU/req ÷ best peer | PSS MiB | keep-alive |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    by_workers: dict[int, list[Result]] = {}
    for r in results:
        by_workers.setdefault(r.workers, []).append(r)
    for workers, group in by_workers.items():
        peer_rps = best_peer(group, "rps")
        peer_cpu = best_peer(group, "cpu_us_per_req", min)
        for r in group:
            if not r.ok:
                reason = (r.failure or "no sample").splitlines()[0].strip().replace("|", "\\|")
                lines.append(f"| {r.row.name} | {workers} | failed: {reason} |"
                             + " |" * 13)
                continue
            rps, cpu = r.median("rps"), r.median("cpu_us_per_req")
            rps_span, cpu_span = r.span("rps"), r.span("cpu_us_per_req")
            lines.append("| " + " | ".join([
                r.row.name,
                str(workers),
                rps_text(rps),
                f"{compact(rps_span[0])}–{compact(rps_span[1])}",
                fmt(r.median("p50_ms"), ".2f"),
                fmt(r.median("p99_ms"), ".2f"),
                fmt(r.median("max_ms"), ".1f"),
                str(r.total("errors")),
                str(r.total("timeouts")),
                fmt(cpu, ".1f"),
                f"{cpu_span[0]:.1f}–{cpu_span[1]:.1f}",
                share_text(r.shares()),
                fmt(rps / peer_rps if rps and peer_rps else None, ".2f", "×"),
                fmt(cpu / peer_cpu if cpu and peer_cpu else None, ".2f", "×"),
                fmt(r.median("pss_mib"), ".1f"),
                "yes" if r.keep_alive else "no",
            ]) + " |")
    return "\n".join(lines)


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "missed")


def overlap(a: Result, b_attr_span: tuple[float, float] | None, attr: str) -> bool:
    s = a.span(attr)
    return bool(s and b_attr_span and s[0] <= b_attr_span[1] and b_attr_span[0] <= s[1])


def targets(w: Workload, results: list[Result]) -> list[tuple[str, str]]:
    """The issue's targets for this workload, per worker count: (what, verdict)."""
    out: list[tuple[str, str]] = []
    by_workers: dict[int, list[Result]] = {}
    for r in results:
        by_workers.setdefault(r.workers, []).append(r)
    for n, group in by_workers.items():
        ours = find(group, "ruwsgi")
        rps = ours.median("rps") if ours else None
        cpu = ours.median("cpu_us_per_req") if ours else None
        at = f"{n} worker{'s' if n != 1 else ''}"
        if w.name == "hello":
            granian = [r for r in group if r.row.name.startswith("Granian") and r.ok]
            g_rps = max((r.median("rps") for r in granian), default=None)
            g_cpu = min((r.median("cpu_us_per_req") for r in granian), default=None)
            nginx = find(group, "nginx return 200")
            n_cpu = nginx.median("cpu_us_per_req") if nginx else None
            n_rps = nginx.median("rps") if nginx else None
            out.append((f"{at}: ruwsgi req/s ≥ 1.3 × Granian's best ({fmt(rps, ',.0f')} vs "
                        f"{fmt(g_rps and 1.3 * g_rps, ',.0f')})",
                        verdict(None if rps is None or g_rps is None else rps >= 1.3 * g_rps)))
            if n == 1:
                out.append((f"{at}: ruwsgi CPU/req ≤ 0.6 × Granian's best ({fmt(cpu, '.1f')} vs "
                            f"{fmt(g_cpu and 0.6 * g_cpu, '.1f')} µs)",
                            verdict(None if cpu is None or g_cpu is None else cpu <= 0.6 * g_cpu)))
                out.append((f"{at}: ruwsgi CPU/req ≤ 1.35 × nginx's ({fmt(cpu, '.1f')} vs "
                            f"{fmt(n_cpu and 1.35 * n_cpu, '.1f')} µs)",
                            verdict(None if cpu is None or n_cpu is None else cpu <= 1.35 * n_cpu)))
            builtin = find(group, "ruwsgi builtin")
            if builtin and nginx:
                b_cpu, b_rps = builtin.median("cpu_us_per_req"), builtin.median("rps")
                out.append((f"{at}: built-in CPU/req ≤ nginx's ({b_cpu:.1f} vs {n_cpu:.1f} µs)",
                            verdict(b_cpu <= n_cpu)))
                out.append((f"{at}: built-in req/s ≥ 95 % of nginx's ({b_rps:,.0f} vs "
                            f"{0.95 * n_rps:,.0f})", verdict(b_rps >= 0.95 * n_rps)))
        elif w.name in ("django", "flask"):
            factor = 1.1 if n == 1 else 1.0
            peers = [r for r in group if r.row.kind == "peer" and r.ok]
            top = max(peers, key=lambda r: r.median("rps"), default=None)
            p_rps = top.median("rps") if top else None
            note = ""
            if ours and top and overlap(ours, top.span("rps"), "rps"):
                note = f"; the req/s ranges of ruwsgi and {top.row.name} overlap"
            out.append((f"{at}: ruwsgi req/s ≥ {factor} × the best peer ({fmt(rps, ',.0f')} vs "
                        f"{fmt(p_rps and factor * p_rps, ',.0f')}"
                        f"{', ' + top.row.name if top else ''}{note})",
                        verdict(None if rps is None or p_rps is None else rps >= factor * p_rps)))
            if n >= 2:
                low = min(peers, key=lambda r: r.median("cpu_us_per_req"), default=None)
                p_cpu = low.median("cpu_us_per_req") if low else None
                note = ""
                if ours and low and overlap(ours, low.span("cpu_us_per_req"), "cpu_us_per_req"):
                    note = f"; the CPU ranges of ruwsgi and {low.row.name} overlap"
                out.append((f"{at}: ruwsgi CPU/req the lowest ({fmt(cpu, '.1f')} vs "
                            f"{fmt(p_cpu, '.1f')} µs{', ' + low.row.name if low else ''}{note})",
                            verdict(None if cpu is None or p_cpu is None else cpu < p_cpu)))
        elif w.name == "nginx-cpu":
            peer = find(group, "uWSGI --socket")
            u_rps = peer.median("rps") if peer else None
            p99, u_p99 = (ours.median("p99_ms") if ours else None), (peer.median("p99_ms") if peer else None)
            out.append((f"{at}: ruwsgi req/s ≥ uWSGI's ({fmt(rps, ',.0f')} vs {fmt(u_rps, ',.0f')})",
                        verdict(None if rps is None or u_rps is None else rps >= u_rps)))
            out.append((f"{at}: ruwsgi p99 ≤ uWSGI's ({fmt(p99, '.1f')} vs {fmt(u_p99, '.1f')} ms)",
                        verdict(None if p99 is None or u_p99 is None else p99 <= u_p99)))
        elif w.name == "nginx-sleep" and not ours:
            out.append((f"{at}: ruwsgi's slowest request ≤ 1.5 × the FIFO ideal, no timeouts",
                        "not measured"))
        elif w.name == "nginx-sleep" and ours:
            worst = max(s.max_ms for s in ours.samples)
            ideal = w.connections / rps * 1000 if rps else None
            timeouts = ours.total("timeouts")
            out.append((f"{at}: ruwsgi's slowest request ≤ 1.5 × the FIFO ideal "
                        f"{w.connections} ÷ {rps:.1f} req/s ({worst:,.0f} vs "
                        f"{fmt(ideal and 1.5 * ideal, ',.0f')} ms, worst round)",
                        verdict(None if ideal is None else worst <= 1.5 * ideal)))
            out.append((f"{at}: ruwsgi has no timeouts ({timeouts})", verdict(timeouts == 0)))
        if ours and w.name != "nginx-sleep":
            # A request that never got an answer is a failure whatever the throughput: a
            # client starved for seconds shows here first (wrk's timeout is 2 s).
            errors, timeouts = ours.total("errors"), ours.total("timeouts")
            out.append((f"{at}: ruwsgi has no errors and no timeouts ({errors}, {timeouts})",
                        verdict(errors == 0 and timeouts == 0)))
        watched = find(group, WATCHED)
        if ours and watched and ours.ok and watched.ok:
            # The two rows run back to back in every round, so each round gives one paired
            # ratio; their median is what watching costs. The VM drifts by more than 3 %
            # between rounds, which a ratio of the two rows' medians would take for a cost.
            w_cpu = watched.median("cpu_us_per_req")
            ratios = [b.cpu_us_per_req / a.cpu_us_per_req
                      for a, b in zip(ours.samples, watched.samples)]
            ratio = statistics.median(ratios)
            # CPU time is counted in clock ticks: a run of fewer than 100 cannot tell 3 %.
            ticks = min(s.cpu_us_per_req * s.requests * CLK_TCK / 1e6 for s in ours.samples)
            text = (f"{at}: with stats and harakiri set, ruwsgi's CPU/req ≤ 1.03 × without "
                    f"(median of the rounds' paired ratios ×{ratio:.3f}, range "
                    f"×{min(ratios):.3f}–×{max(ratios):.3f}; medians {w_cpu:.1f} vs "
                    f"{cpu:.1f} µs")
            if ticks < 100:
                out.append((text + f"; {ticks:.0f} clock ticks in a run, too few to tell 3 %)",
                            verdict(None)))
            else:
                out.append((text + ")", verdict(ratio <= 1.03)))
        if n == 2 and ours:
            shares = ours.shares()
            out.append((f"{at}: each ruwsgi worker's share of the requests within 40–60 % "
                        f"({share_text(shares)})",
                        verdict(None if not shares else all(0.4 <= s <= 0.6 for s in shares))))
        elif n == 2 and not ours:
            out.append((f"{at}: ruwsgi row", "not measured"))
    return out


def snapshot_ruwsgi(tmpdir: Path, source: Path, name: str = "ruwsgi") -> Path:
    """A private copy of a ruwsgi binary, so that a build finishing during the run (the
    workspace is shared) cannot swap the binary between rows or rounds. The original path
    when it is missing (its rows then fail with the reason)."""
    if not source.is_file():
        return source
    copy = tmpdir / name
    shutil.copy2(source, copy)
    return copy


def binary_id(path: Path) -> str:
    """`--version` when the binary has one, else its build time; and a short SHA-256."""
    try:
        done = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=10)
        lines = done.stdout.strip().splitlines()
        described = lines[0] if done.returncode == 0 and lines else None
    except (OSError, subprocess.TimeoutExpired):
        described = None
    try:
        if described is None:
            built = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc)
            described = f"built {built:%Y-%m-%d %H:%M:%S} UTC"
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:
        return "missing"
    return f"{described}, sha256 {digest}"


def frameworks() -> str:
    """Django's and Flask's versions in the test venv, from their dist-info directories."""
    try:
        sp = site_packages(test_venv())
    except RuntimeError as err:
        return str(err)
    found = []
    for name in ("django", "flask"):
        dist = sorted(sp.glob(f"{name}-*.dist-info"), key=lambda p: p.name.lower())
        found.append(dist[0].name.removesuffix(".dist-info").replace("-", " ") if dist
                     else f"{name} missing")
    return f"{', '.join(found)} from `{sp}`"


def machine_info(ruwsgi: Path, baseline: Path | None) -> list[str]:
    def version(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            text = (done.stdout + done.stderr).strip().splitlines()
            return text[0] if text else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "not found"

    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (StopIteration, OSError):
        cpu = platform.processor() or "?"
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    commit = version(["git", "-C", str(REPO), "describe", "--always", "--dirty"])
    return [
        f"- host: {platform.node()}, {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}",
        f"- load average at start: {load}",
        f"- ruwsgi: `{ruwsgi_bin()}` ({binary_id(ruwsgi)}; tree at {commit}), run from a copy",
        *([f"- ruwsgi baseline: `{baseline_bin()}` ({binary_id(baseline)}), run from a copy"]
          if baseline else []),
        f"- uWSGI {version([str(VENV_BIN / 'uwsgi'), '--version'])}, "
        f"{version([str(VENV_BIN / 'gunicorn'), '--version'])}, "
        f"{version([str(VENV_BIN / 'granian'), '--version'])}, "
        f"{version([nginx_path(), '-v'])}, Python {platform.python_version()} (venv)",
        f"- {frameworks()}",
    ]


def command_lines(workloads: list[Workload], rows_of: Callable[[Workload], list[Row]]) -> list[str]:
    """Every row's command line per workload (N: the worker count), and wrk's."""
    out = ["## Command lines", ""]
    for w in workloads:
        out += [f"<details><summary>{w.name}</summary>", "", "```",
                "$ " + " ".join(wrk_argv("<port>", w, "N", "<secs>"))
                + (f"    # and --timeout <2 × {w.connections} × {SLEEP_VIEW_MS} ms ÷ N, rounded up>"
                   if w.name == "nginx-sleep" else "")]
        if w.behind_nginx:
            out.append(f"# nginx in front: worker_processes 1; location / {{ include "
                       f"{UWSGI_PARAMS}; uwsgi_pass unix:$TMP/<row>.sock; }}")
        for row in rows_of(w):
            if row.kind == "nginx":
                what = ("sendfile on; location /static/ { alias $TMP/static/; }" if w.static
                        else "return 200")
                argv = ["nginx", "-c", "$TMP/nginx.conf", "# daemon off; worker_processes N;",
                        "access_log off; keepalive_requests 1000000; " + what]
                env: dict[str, str] = {}
            else:
                addr = "$TMP/<row>.sock" if w.behind_nginx else "<port>"
                try:
                    argv, env = row.launch(addr, "N", w, Path("$TMP"))
                except RuntimeError as err:
                    argv, env = [f"({err})"], {}
            prefix = "".join(f"{k}={v} " for k, v in env.items())
            out.append(f"$ {prefix}{' '.join(argv)}    # {row.name}")
        out += ["```", "</details>", ""]
    return out


def write_report(path: Path, report: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report)
    print(f"bench: results written to {path}", file=sys.stderr)


def main() -> int:
    seconds = env_int("BENCH_SECONDS", 3)
    rounds = env_int("BENCH_ROUNDS", 3)
    cores = os.cpu_count() or 1
    default_workers = "1 2" + (f" {cores}" if cores > 2 else "")
    raw_workers = (os.environ.get("BENCH_WORKERS", "").strip() or default_workers)
    raw_workers = raw_workers.replace(",", " ").split()
    try:
        worker_counts = [int(w) for w in raw_workers]
        if not worker_counts or min(worker_counts) < 1:
            raise ValueError
    except ValueError:
        die(f"bench: BENCH_WORKERS={raw_workers!r} must be whole numbers ≥ 1")
    workloads = selected_workloads()
    with_reloads = reload_selected()
    if not workloads and not with_reloads:
        die("bench: BENCH_WORKLOADS matches no workload; workloads are: "
            + ", ".join(w.name for w in WORKLOADS) + ", reload")
    if workloads and not any(selected_rows(rows_for(w, "ruwsgi")) for w in workloads):
        names = sorted({r.name for w in WORKLOADS for r in rows_for(w, "ruwsgi")})
        die("bench: BENCH_ONLY matches no row of these workloads; rows are: " + ", ".join(names))
    save = os.environ.get("BENCH_SAVE", "").strip()
    if not ruwsgi_bin().is_file():
        print(f"bench: {ruwsgi_bin()} is missing (cargo build --release -p ruwsgi); "
              "its rows will fail", file=sys.stderr)

    started = datetime.datetime.now(datetime.timezone.utc)
    sections = []
    any_ruwsgi_failed = False
    cpu_loops, cpu_ms, cpu_how = calibrate_cpu_loops()
    with tempfile.TemporaryDirectory(prefix="ruwsgi-bench-") as tmp:
        tmpdir = Path(tmp)
        ruwsgi = snapshot_ruwsgi(tmpdir, ruwsgi_bin())
        base_src = baseline_bin()
        baseline = snapshot_ruwsgi(tmpdir, base_src, "ruwsgi-baseline") if base_src else None

        def rows_of(w: Workload) -> list[Row]:
            return selected_rows(rows_for(w, str(ruwsgi), str(baseline) if baseline else None))

        expected = estimate_seconds(workloads, worker_counts, seconds, rounds, rows_of)
        if with_reloads:
            expected += RELOAD_SECTION_SECONDS
        header = [
            f"# ruwsgi bench, {started:%Y-%m-%d %H:%M} UTC",
            "",
            *machine_info(ruwsgi, baseline),
            *([] if not workloads else [
            f"- {seconds} s per run ({SLEEP_RUN_SECONDS} s at least for nginx-sleep), "
            f"{rounds} interleaved round(s), medians shown, ranges over the rounds; "
            f"{WARMUP_SECONDS} s unmeasured warm-up per server; workers: "
            f"{', '.join(map(str, worker_counts))}",
            f"- the 3 ms view: {cpu_loops:,} loops of app.spin ({cpu_how}; "
            f"{cpu_ms:.2f} ms at start in the bench's Python)",
            "- every Python row's app counters rose by at least the responses wrk counted, "
            "in every round (a row fails otherwise)",
            ]),
            "",
        ]
        print("\n".join(header), file=sys.stderr)
        print(f"bench: {len(workloads)} workload(s) × {len(worker_counts)} worker count(s); "
              f"expected duration about {expected / 60:.0f} min "
              f"(ends near {(started + datetime.timedelta(seconds=expected)):%H:%M} UTC)",
              file=sys.stderr)
        all_results: dict[str, list[Result]] = {w.name: [] for w in workloads}
        for workers in worker_counts:
            for w in workloads:
                rows = rows_of(w)
                if rows:
                    all_results[w.name] += bench_group(w, workers, rows, seconds, rounds,
                                                       tmpdir, cpu_loops)
        for w in workloads:
            results = all_results[w.name]
            if not results:
                continue
            text = [f"## {w.name}: {w.title}", "", table(results), ""]
            goals = targets(w, results)
            if goals:
                text += ["Targets:", ""] + [f"- {name}: **{v}**" for name, v in goals] + [""]
            for r in results:
                if r.ok:
                    continue
                any_ruwsgi_failed |= r.row.is_ruwsgi
                text += [
                    f"<details><summary>{r.row.name} ({r.workers}w) failed: "
                    f"{(r.failure or 'no sample').splitlines()[0]}</summary>",
                    "",
                    "```",
                    "$ " + " ".join(r.argv),
                    r.failure or "no sample",
                    "--- log tail ---",
                    r.log_tail,
                    "```",
                    "</details>",
                    "",
                ]
            sections.append("\n".join(text))
        if with_reloads:
            text, ruwsgi_bad = reloads.section(ruwsgi, VENV_BIN, tmpdir, free_port,
                                               shown=ruwsgi_bin())
            sections.append(text)
            any_ruwsgi_failed |= ruwsgi_bad
        # The command lines name the binaries given, not the private copies.
        commands = command_lines(workloads, lambda w: selected_rows(
            rows_for(w, str(ruwsgi_bin()), str(base_src) if base_src else None))
        ) if workloads else []

    finished = datetime.datetime.now(datetime.timezone.utc)
    header.insert(-1, f"- took {(finished - started).total_seconds() / 60:.1f} min")
    report = "\n".join(header + sections + commands) + "\n"
    print(report)
    write_report(BENCH_DIR / "results" / f"{started:%Y-%m-%d-%H%M%S}.md", report)
    if save:
        write_report(REPO / save, report)
    if any_ruwsgi_failed:
        print("bench: a ruwsgi row failed (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
