#!/usr/bin/env python3
"""`just bench`: ruwsgi beside nginx, uWSGI, Gunicorn and Granian on this machine.

Run by bench/run.sh (which prepares bench/.venv and checks for nginx and wrk); see
bench/README.md for what is measured and how to read it. Environment:

- BENCH_SECONDS (default 5): length of each measured wrk run.
- BENCH_ROUNDS (default 3): interleaved rounds; each row's figures are medians over them.
- BENCH_WORKERS (default "1 2"): the worker counts to measure, one table each.
- BENCH_ONLY (optional): comma-separated row names or name prefixes to run (e.g. "nginx,ruwsgi").
- RUWSGI (default target/release/ruwsgi): the binary under test.
- RUWSGI_BASELINE (optional): a second ruwsgi binary (an older build) measured as the row
  "ruwsgi baseline" beside "ruwsgi", in the same interleaved rounds, to compare two builds.

Exit status: 0 when every ruwsgi row was measured, 1 when one failed, 2 on a setup error.
Missed targets are reported, not turned into a failure: on a shared 2-core box they are a
measurement, not a verdict.
"""

from __future__ import annotations

import datetime
import hashlib
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
APP = BENCH_DIR / "app.py"

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# wrk's fixed command line: one thread, 32 connections, latency distribution.
WRK_THREADS = 1
WRK_CONNECTIONS = 32
# Paths wrk requests and the readiness check uses; the Python app answers a CRC of it.
BENCH_PATH = "/bench"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
WARMUP_SECONDS = 1


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


# ---------------------------------------------------------------------------------------
# The rows
# ---------------------------------------------------------------------------------------


@dataclass
class Row:
    """One server configuration: how to start it for a port and a worker count."""

    name: str
    kind: str  # "builtin", "nginx", "ruwsgi-python", "peer-python", "granian"
    argv: Callable[[object, object, Path], list[str]]  # (port, workers, tmpdir) -> argv
    expect_python: bool  # the body must come from bench/app.py
    is_ruwsgi: bool = False


def nginx_conf(port: int, workers: int, tmpdir: Path) -> Path:
    """A private nginx config: `return 200`, no logging, its own temp paths, foreground."""
    root = tmpdir / f"nginx-{port}"
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "nginx.conf"
    conf.write_text(
        f"""# Written by bench/bench.py: nginx's `return 200` as the no-Python reference.
daemon off;
master_process on;
worker_processes {workers};
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
    # wrk keeps its 32 connections open; nginx's default of 1000 requests per connection
    # would make it reconnect, which no other row does.
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            default_type text/plain;
            return 200 "Hello World\\n";
        }}
    }}
}}
"""
    )
    return conf


def ruwsgi_bin() -> Path:
    return Path(os.environ.get("RUWSGI", REPO / "target" / "release" / "ruwsgi"))


def baseline_bin() -> Path | None:
    raw = os.environ.get("RUWSGI_BASELINE", "").strip()
    return Path(raw) if raw else None


def python_row(name: str, ruwsgi: str) -> Row:
    """ruwsgi serving the Python app: the row every target is about."""
    app = str(APP)
    return Row(
        name,
        "ruwsgi-python",
        lambda p, n, t: [ruwsgi, "--http-socket", f"127.0.0.1:{p}", "--master",
                         "--processes", str(n), "--disable-logging", "--wsgi-file", app],
        expect_python=True,
        is_ruwsgi=True,
    )


def rows(ruwsgi: str, baseline: str | None = None) -> list[Row]:
    """Every row; `ruwsgi` is the path of the binary the ruwsgi rows run, `baseline` the
    optional older binary of the "ruwsgi baseline" row."""
    venv = VENV_BIN
    app = str(APP)
    extra = [python_row("ruwsgi baseline", baseline)] if baseline else []
    return [
        Row(
            "ruwsgi builtin",
            "builtin",
            lambda p, n, t: [ruwsgi, "--builtin-handler", "--http-socket", f"127.0.0.1:{p}",
                             "--master", "--processes", str(n), "--disable-logging"],
            expect_python=False,
            is_ruwsgi=True,
        ),
        Row(
            "nginx return 200",
            "nginx",
            lambda p, n, t: [nginx_path(), "-e", str(t / f"nginx-{p}" / "error.log"),
                             "-c", str(nginx_conf(p, n, t))],
            expect_python=False,
        ),
        python_row("ruwsgi", ruwsgi),
        *extra,
        Row(
            "uWSGI",
            "peer-python",
            lambda p, n, t: [str(venv / "uwsgi"), "--http-socket", f"127.0.0.1:{p}", "--master",
                             "--processes", str(n), "--disable-logging", "--wsgi-file", app],
            expect_python=True,
        ),
        Row(
            "uWSGI --threads 4",
            "peer-python",
            lambda p, n, t: [str(venv / "uwsgi"), "--http-socket", f"127.0.0.1:{p}", "--master",
                             "--processes", str(n), "--threads", "4", "--disable-logging",
                             "--wsgi-file", app],
            expect_python=True,
        ),
        Row(
            "Gunicorn sync",
            "peer-python",
            lambda p, n, t: [str(venv / "gunicorn"), "--chdir", str(BENCH_DIR), "--bind",
                             f"127.0.0.1:{p}", "--workers", str(n), "app:application"],
            expect_python=True,
        ),
        Row(
            "Gunicorn gthread 4",
            "peer-python",
            lambda p, n, t: [str(venv / "gunicorn"), "--chdir", str(BENCH_DIR), "--bind",
                             f"127.0.0.1:{p}", "--workers", str(n), "-k", "gthread",
                             "--threads", "4", "app:application"],
            expect_python=True,
        ),
        Row(
            "Granian",
            "granian",
            lambda p, n, t: [str(venv / "granian"), "--interface", "wsgi", "--host", "127.0.0.1",
                             "--port", str(p), "--workers", str(n), "--working-dir",
                             str(BENCH_DIR), "app:application"],
            expect_python=True,
        ),
        Row(
            "Granian --blocking-threads 1",
            "granian",
            lambda p, n, t: [str(venv / "granian"), "--interface", "wsgi", "--host", "127.0.0.1",
                             "--port", str(p), "--workers", str(n), "--blocking-threads", "1",
                             "--working-dir", str(BENCH_DIR), "app:application"],
            expect_python=True,
        ),
    ]


def nginx_path() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if not found:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    return found


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


def http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """One HTTP/1.1 GET with `Connection: close`; (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
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


def keeps_alive(port: int, timeout: float = 2.0) -> bool:
    """Whether the server answers a second request on the connection of the first one."""
    request = f"GET {BENCH_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
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


def python_body_ok(body: bytes, path: str) -> bool:
    """The body bench/app.py computes for `path`: the CRC proves the app ran."""
    return body.startswith(b"hello from python ") and (
        b"crc=%08x" % zlib.crc32(path.encode("latin-1"))
    ) in body


class Server:
    """One running row: its process (a session leader), log and port."""

    def __init__(self, row: Row, workers: int, tmpdir: Path):
        self.row = row
        self.workers = workers
        self.port = free_port()
        self.log_path = tmpdir / f"{slug(row.name)}-{workers}w.log"
        self.argv = row.argv(self.port, workers, tmpdir)
        self.proc: subprocess.Popen | None = None
        self.failure: str | None = None
        self.keep_alive: bool | None = None

    def start(self) -> None:
        env = dict(os.environ)
        # The peers run from bench/.venv; ruwsgi embeds the Python it was built against and
        # finds bench/app.py by path (the app imports only the standard library).
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        env.pop("PYTHONPATH", None)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=BENCH_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as err:
            self.failure = f"cannot start: {err}"
        finally:
            log.close()

    def wait_ready(self) -> None:
        """Until the server answers the expected body, it exits, or READY_TIMEOUT passes."""
        if self.failure:
            return
        assert self.proc is not None
        deadline = time.monotonic() + READY_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                self.failure = f"exited with status {code} before serving"
                return
            try:
                status, body = http_get(self.port, BENCH_PATH)
            except OSError as err:
                last = f"{type(err).__name__}: {err}"
                time.sleep(0.1)
                continue
            if status != 200:
                self.failure = f"answered {status} to GET {BENCH_PATH}: {body[:120]!r}"
                return
            if self.row.expect_python and not python_body_ok(body, BENCH_PATH):
                self.failure = f"body is not bench/app.py's: {body[:120]!r}"
                return
            try:
                self.keep_alive = keeps_alive(self.port)
            except OSError:
                self.keep_alive = False
            return
        self.failure = f"not ready after {READY_TIMEOUT:.0f} s ({last})"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        tail = text.splitlines()[-lines:]
        return "\n".join(tail) if tail else "(empty log)"

    def stop(self) -> None:
        """SIGINT to the whole session (immediate stop for every server here), then SIGKILL."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        for sig, grace in ((signal.SIGINT, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                continue
            # The leader is gone; make sure nothing of its session stays behind.
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            break
        if self.proc.poll() is None:
            self.proc.wait(timeout=5)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


# ---------------------------------------------------------------------------------------
# wrk
# ---------------------------------------------------------------------------------------


@dataclass
class Sample:
    rps: float
    p99_ms: float
    requests: int
    errors: int
    read_eofs: int
    cpu_us_per_req: float
    rss_mib: float
    pss_mib: float | None
    # True: the app's counters covered every response; False: not checkable (not every
    # worker answered the counter GETs); None: not a Python row.
    app_verified: bool | None = None


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_latency_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"unparsable latency {text!r}")
    return float(m.group(1)) * _UNIT_MS[m.group(2)]


def parse_wrk(out: str) -> tuple[float, float, int, int, int]:
    """(requests/s, p99 ms, good responses, errors, read EOFs) from `wrk --latency` output.

    wrk's request count is of complete responses; non-2xx ones are subtracted and counted as
    errors with connect, write and timeout errors. Its "read" errors are kept apart: wrk counts
    one whenever a server closes a connection wrk expected to reuse (uWSGI's --http-socket
    answers HTTP/1.1 without `Connection: close` and then closes), so for such a server they
    are reconnects, not lost requests.
    """
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    total = re.search(r"^\s+(\d+) requests in ", out, re.M)
    if not (rps and p99 and total):
        raise ValueError("unexpected wrk output:\n" + out)
    errors = read_eofs = 0
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if sock:
        connect, read, write, timeout = (int(x) for x in sock.groups())
        errors += connect + write + timeout
        read_eofs = read
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = int(non2xx.group(1)) if non2xx else 0
    errors += bad
    good = int(total.group(1)) - bad
    return float(rps.group(1)), parse_latency_ms(p99.group(1)), good, errors, read_eofs


def run_wrk(port: int, seconds: int) -> str:
    argv = [
        "wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--latency",
        f"http://127.0.0.1:{port}{BENCH_PATH}",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


@dataclass
class Counters:
    """bench/app.py's request counters as seen by a few GETs: per worker pid, the highest
    `n` seen and how many of those GETs that worker answered."""

    highest: dict[int, int] = field(default_factory=dict)
    gets: dict[int, int] = field(default_factory=dict)


def app_counters(port: int, workers: int, attempts: int = 64) -> Counters:
    """GETs (each on a new connection) until every one of `workers` pids has answered twice,
    or `attempts` are spent; the caller compares the pid sets."""
    seen = Counters()
    for _ in range(attempts):
        status, body = http_get(port, BENCH_PATH)
        m = re.search(rb"pid=(\d+) n=(\d+) ", body)
        if status != 200 or not python_body_ok(body, BENCH_PATH) or not m:
            raise RuntimeError(f"unexpected answer from the app: {status} {body[:120]!r}")
        pid, n = int(m.group(1)), int(m.group(2))
        seen.highest[pid] = max(seen.highest.get(pid, 0), n)
        seen.gets[pid] = seen.gets.get(pid, 0) + 1
        if len(seen.gets) >= workers and min(seen.gets.values()) >= 2:
            break
    return seen


def app_runs(before: Counters, after: Counters, workers: int) -> int | None:
    """How many times the app ran between two `app_counters` calls, excluding the GETs of
    the second; None when the pids differ or not all workers answered (not checkable)."""
    if len(before.highest) != workers or set(before.highest) != set(after.highest):
        return None
    return sum(after.highest[p] - before.highest[p] - after.gets[p] for p in after.highest)


def measure(server: Server, seconds: int) -> Sample:
    assert server.proc is not None
    root = server.proc.pid
    # The workers' counters must advance once per response wrk counts: proof that every
    # response was computed by the app.
    check_app = server.row.expect_python
    try:
        counters = app_counters(server.port, server.workers) if check_app else Counters()
    except OSError as err:
        raise RuntimeError(f"the app does not answer before the run: {err}") from err
    before = tree_cpu_ticks(root)
    out = run_wrk(server.port, seconds)
    after = tree_cpu_ticks(root)
    if not server.alive():
        raise RuntimeError(f"the server exited during the run (status {server.proc.poll()})")
    rps, p99, served, errors, read_eofs = parse_wrk(out)
    if served == 0:
        raise RuntimeError("wrk got no 2xx response:\n" + out)
    app_verified = None
    if check_app:
        try:
            ran = app_runs(counters, app_counters(server.port, server.workers), server.workers)
        except OSError as err:
            raise RuntimeError(f"the app does not answer after the run: {err}") from err
        if ran is not None and ran < served:
            raise RuntimeError(
                f"wrk counted {served} responses but the app ran only {ran} times"
            )
        app_verified = ran is not None
    cpu_us = (after - before) * 1_000_000 / CLK_TCK / served
    rss, pss = tree_memory(root)
    return Sample(rps, p99, served, errors, read_eofs, cpu_us, rss, pss, app_verified)


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------


@dataclass
class Result:
    row: Row
    workers: int
    argv: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    failure: str | None = None
    log_tail: str = ""
    keep_alive: bool | None = None

    def median(self, attr: str) -> float | None:
        values = [getattr(s, attr) for s in self.samples if getattr(s, attr) is not None]
        return statistics.median(values) if values else None

    def span(self, attr: str) -> tuple[float, float] | None:
        """The lowest and highest value over the rounds."""
        values = [getattr(s, attr) for s in self.samples if getattr(s, attr) is not None]
        return (min(values), max(values)) if values else None


def selected(all_rows: list[Row]) -> list[Row]:
    only = os.environ.get("BENCH_ONLY", "").strip()
    if not only:
        return all_rows
    wanted = [w.strip().lower() for w in only.split(",") if w.strip()]
    return [r for r in all_rows if any(r.name.lower().startswith(w) for w in wanted)]


def bench_workers(workers: int, bench_rows: list[Row], seconds: int, rounds: int,
                  tmpdir: Path) -> list[Result]:
    print(f"\n== {workers} worker(s): starting {len(bench_rows)} servers", file=sys.stderr)
    servers = [Server(row, workers, tmpdir) for row in bench_rows]
    results = {id(s): Result(s.row, workers, s.argv) for s in servers}
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
                run_wrk(s.port, WARMUP_SECONDS)
            except (RuntimeError, subprocess.TimeoutExpired) as err:
                print(f"   {s.row.name}: warm-up: {err}", file=sys.stderr)
        # Interleaved rounds: A B C ... A B C ..., so a noisy moment hits every row alike.
        for rnd in range(1, rounds + 1):
            for s in live:
                r = results[id(s)]
                if r.failure:
                    continue
                try:
                    sample = measure(s, seconds)
                except (RuntimeError, ValueError, subprocess.TimeoutExpired) as err:
                    r.failure, r.log_tail = f"round {rnd}: {err}", s.log_tail()
                    print(f"   {s.row.name}: FAILED in round {rnd}: {err}", file=sys.stderr)
                    continue
                r.samples.append(sample)
                print(
                    f"   round {rnd}/{rounds} {s.row.name}: {sample.rps:,.0f} req/s, "
                    f"p99 {sample.p99_ms:.2f} ms, {sample.cpu_us_per_req:.1f} CPU µs/req"
                    + (f", {sample.errors} errors" if sample.errors else "")
                    + (f", {sample.read_eofs} unannounced closes" if sample.read_eofs else "")
                    + (", app counters not checkable" if sample.app_verified is False else ""),
                    file=sys.stderr,
                )
    finally:
        for s in servers:
            s.stop()
    return [results[id(s)] for s in servers]


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


def fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "–" if value is None else format(value, spec) + suffix


def best(results: list[Result], kind: str, attr: str, pick=max) -> float | None:
    values = [r.median(attr) for r in results if r.row.kind == kind and not r.failure]
    values = [v for v in values if v is not None]
    return pick(values) if values else None


def table(results: list[Result]) -> tuple[str, list[tuple[str, str]]]:
    granian_best = best(results, "granian", "rps")
    nginx_cpu = best(results, "nginx", "cpu_us_per_req", min)
    nginx_rps = best(results, "nginx", "rps")
    lines = [
        "| server | req/s | p99 ms | CPU µs/req | CPU range | RSS MiB | PSS MiB | errors | keep-alive | app ran per response | req/s ÷ Granian best | CPU/req ÷ nginx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if r.failure:
            reason = r.failure.splitlines()[0].replace("|", "\\|")
            lines.append(f"| {r.row.name} | failed: {reason} | | | | | | | | | | |")
            continue
        rps, cpu = r.median("rps"), r.median("cpu_us_per_req")
        cpu_span = r.span("cpu_us_per_req")
        errors = sum(s.errors for s in r.samples)
        checks = [s.app_verified for s in r.samples]
        if not r.row.expect_python:
            app = "–"
        elif all(checks):
            app = "verified"
        else:
            unchecked = sum(1 for c in checks if not c)
            app = f"unchecked in {unchecked}/{len(checks)} rounds"
        lines.append(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                r.row.name,
                fmt(rps, ",.0f"),
                fmt(r.median("p99_ms"), ".2f"),
                fmt(cpu, ".1f"),
                "–" if cpu_span is None else f"{cpu_span[0]:.1f}–{cpu_span[1]:.1f}",
                fmt(r.median("rss_mib"), ".1f"),
                fmt(r.median("pss_mib"), ".1f"),
                errors,
                "yes" if r.keep_alive else "no",
                app,
                fmt(rps / granian_best if rps and granian_best else None, ".2f", "×"),
                fmt(cpu / nginx_cpu if cpu and nginx_cpu else None, ".2f", "×"),
            )
        )

    def get(kind: str, attr: str) -> float | None:
        for r in results:
            if r.row.kind == kind and not r.failure:
                return r.median(attr)
        return None

    def verdict(value: float | None, limit: float | None, ok) -> str:
        if value is None or limit is None:
            return "not measured"
        return "met" if ok(value, limit) else "missed"

    b_cpu, b_rps = get("builtin", "cpu_us_per_req"), get("builtin", "rps")
    p_cpu, p_rps = get("ruwsgi-python", "cpu_us_per_req"), get("ruwsgi-python", "rps")
    targets = []
    if any(r.row.kind == "builtin" for r in results):
        targets += [
            (f"built-in CPU/req ≤ nginx's ({fmt(b_cpu, '.1f')} vs {fmt(nginx_cpu, '.1f')} µs)",
             verdict(b_cpu, nginx_cpu, lambda v, l: v <= l)),
            (f"built-in req/s ≥ 95 % of nginx's ({fmt(b_rps, ',.0f')} vs {fmt(nginx_rps and 0.95 * nginx_rps, ',.0f')})",
             verdict(b_rps, nginx_rps, lambda v, l: v >= 0.95 * l)),
        ]
    if any(r.row.kind == "ruwsgi-python" for r in results):
        targets += [
            (f"ruwsgi Python req/s ≥ 1.3 × Granian's best ({fmt(p_rps, ',.0f')} vs {fmt(granian_best and 1.3 * granian_best, ',.0f')})",
             verdict(p_rps, granian_best, lambda v, l: v >= 1.3 * l)),
            (f"ruwsgi Python CPU/req ≤ 1.35 × nginx's ({fmt(p_cpu, '.1f')} vs {fmt(nginx_cpu and 1.35 * nginx_cpu, '.1f')} µs)",
             verdict(p_cpu, nginx_cpu, lambda v, l: v <= 1.35 * l)),
        ]
    return "\n".join(lines), targets


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
        f"- wrk: `wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d<secs>s --latency "
        f"http://127.0.0.1:<port>{BENCH_PATH}`",
    ]


def main() -> int:
    seconds = env_int("BENCH_SECONDS", 5)
    rounds = env_int("BENCH_ROUNDS", 3)
    raw_workers = os.environ.get("BENCH_WORKERS", "1 2").replace(",", " ").split()
    try:
        worker_counts = [int(w) for w in raw_workers]
        if not worker_counts or min(worker_counts) < 1:
            raise ValueError
    except ValueError:
        die(f"bench: BENCH_WORKERS={raw_workers!r} must be whole numbers ≥ 1")
    all_names = [r.name for r in rows("ruwsgi")]
    if not selected(rows("ruwsgi")):
        die("bench: BENCH_ONLY matches no row; rows are: " + ", ".join(all_names))
    if not ruwsgi_bin().is_file():
        print(f"bench: {ruwsgi_bin()} is missing (cargo build --release -p ruwsgi); "
              "its rows will fail", file=sys.stderr)

    started = datetime.datetime.now(datetime.timezone.utc)
    sections = []
    any_ruwsgi_failed = False
    with tempfile.TemporaryDirectory(prefix="ruwsgi-bench-") as tmp:
        tmpdir = Path(tmp)
        ruwsgi = snapshot_ruwsgi(tmpdir, ruwsgi_bin())
        base_src = baseline_bin()
        baseline = snapshot_ruwsgi(tmpdir, base_src, "ruwsgi-baseline") if base_src else None
        bench_rows = selected(rows(str(ruwsgi), str(baseline) if baseline else None))
        header = [
            f"# ruwsgi bench, {started:%Y-%m-%d %H:%M} UTC",
            "",
            *machine_info(ruwsgi, baseline),
            f"- {seconds} s per run, {rounds} interleaved round(s), medians shown; "
            f"1 s unmeasured warm-up per server",
            "",
        ]
        print("\n".join(header), file=sys.stderr)
        for workers in worker_counts:
            results = bench_workers(workers, bench_rows, seconds, rounds, tmpdir)
            body, targets = table(results)
            text = [f"## {workers} worker{'s' if workers != 1 else ''}", "", body, ""]
            if targets:
                text += ["Targets:", ""] + [f"- {name}: **{v}**" for name, v in targets] + [""]
            failed = [r for r in results if r.failure]
            for r in failed:
                any_ruwsgi_failed |= r.row.is_ruwsgi
                text += [
                    f"<details><summary>{r.row.name} ({workers}w) failed: {r.failure.splitlines()[0]}</summary>",
                    "",
                    "```",
                    "$ " + " ".join(r.argv),
                    r.failure,
                    "--- log tail ---",
                    r.log_tail,
                    "```",
                    "</details>",
                    "",
                ]
            sections.append("\n".join(text))

    commands = ["## Command lines", ""]
    base_src = baseline_bin()
    for row in selected(rows(str(ruwsgi_bin()), str(base_src) if base_src else None)):
        if row.kind == "nginx":
            argv = ["nginx", "-c", "$TMP/nginx.conf", "(daemon off; worker_processes N;",
                    "access_log off; keepalive_requests 1000000; return 200)"]
        else:
            argv = row.argv("<port>", "N", Path("$TMP"))
        commands.append(f"- {row.name}: `{' '.join(argv)}`")
    report = "\n".join(header + sections + commands) + "\n"
    print(report)

    results_dir = BENCH_DIR / "results"
    results_dir.mkdir(exist_ok=True)
    out = results_dir / f"{started:%Y-%m-%d-%H%M%S}.md"
    out.write_text(report)
    print(f"bench: results written to {out}", file=sys.stderr)
    if any_ruwsgi_failed:
        print("bench: a ruwsgi row failed (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
