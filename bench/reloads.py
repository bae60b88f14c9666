"""The reload section of `just bench`: ruwsgi, uWSGI, Gunicorn and Granian, each with 2
workers of 4 threads, under load through five graceful reloads in a row (each server's own reload signal,
SIGHUP for all four), counting the requests that failed and checking that every reload
serves the changed app.

The app answers its VERSION; before each reload the bench rewrites it with a new version
(whose length changes, so Python's bytecode cache, keyed by size and mtime in seconds, never
serves the old module). After the signal it asks `/fast` on new connections until the new
version answers (at most RELOAD_WAIT seconds), lets the load run another second, and goes
on.

The load: 8 client threads, half on kept-alive connections and half opening one connection
per request, alternating a 200 ms endpoint and a fast one. A client on a kept-alive
connection retries a request once when the connection turns out closed before any byte of
the response (the server closed it while idle: urllib3 and nginx's upstream keep-alive do
the same for idempotent requests); every other error, and every status but 200, is a failed
request.
"""

from __future__ import annotations

import http.client
import os
import signal
import sys
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

RELOADS = 5
CLIENTS = 8
THREADS = 4
RELOAD_WAIT = 30.0
READY_TIMEOUT = 30.0

APP = """import time
VERSION = {version!r}


def application(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        time.sleep(0.2)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [VERSION.encode()]
"""


def version(n: int) -> str:
    return f"v{n}" + "-" * n


def write_app(app_dir: Path, n: int) -> None:
    (app_dir / "app.py").write_text(APP.format(version=version(n)))


@dataclass
class Tally:
    ok: int = 0
    failed: int = 0
    retried: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ok: bool, error: str = "", retried: bool = False) -> None:
        with self.lock:
            self.retried += retried
            if ok:
                self.ok += 1
            else:
                self.failed += 1
                self.errors[error] = self.errors.get(error, 0) + 1


def client(port: int, kept: bool, stop: threading.Event, tally: Tally) -> None:
    conn: http.client.HTTPConnection | None = None
    reused = False
    n = 0
    while not stop.is_set():
        path = "/slow" if n % 2 == 0 else "/fast"
        n += 1
        for attempt in (0, 1):
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
                reused = False
            try:
                conn.request("GET", path, headers={} if kept else {"Connection": "close"})
                response = conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                # Nothing of the response came: retried once on a kept connection that had
                # served before (the server may have closed it while idle).
                conn.close()
                conn = None
                if kept and reused and attempt == 0:
                    continue
                tally.add(False, type(e).__name__)
                break
            except OSError as e:
                conn.close()
                conn = None
                tally.add(False, type(e).__name__)
                break
            try:
                response.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = None
                tally.add(False, f"{type(e).__name__} in the body")
                break
            tally.add(response.status == 200, f"status {response.status}", retried=attempt == 1)
            if kept and (response.getheader("connection") or "").lower() != "close":
                reused = True
            else:
                conn.close()
                conn = None
            break
    if conn is not None:
        conn.close()


def fetch(port: int, path: str) -> str | None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
        conn.close()
        return body if response.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None


@dataclass
class Outcome:
    name: str
    argv: list[str]
    tally: Tally
    served: list[float | None]  # seconds until each reload's version answered (None: never)
    same_pid: bool
    failure: str = ""


def stop_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGINT, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def measure(name: str, argv: list[str], port: int, app_dir: Path) -> Outcome:
    write_app(app_dir, 0)
    log = open(app_dir / f"{name.split()[0].lower()}.log", "wb")
    proc = subprocess.Popen(argv, cwd=app_dir, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    tally = Tally()
    outcome = Outcome(name, argv, tally, [], True)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while fetch(port, "/fast") != version(0):
            if time.monotonic() > deadline or proc.poll() is not None:
                outcome.failure = "did not start"
                return outcome
            time.sleep(0.1)
        stop = threading.Event()
        threads = [threading.Thread(target=client, args=(port, i % 2 == 0, stop, tally))
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        for n in range(1, RELOADS + 1):
            write_app(app_dir, n)
            sent = time.monotonic()
            os.kill(proc.pid, signal.SIGHUP)
            took = None
            while time.monotonic() - sent < RELOAD_WAIT:
                if fetch(port, "/fast") == version(n):
                    took = time.monotonic() - sent
                    break
                time.sleep(0.05)
            outcome.served.append(took)
            time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join()
        outcome.same_pid = proc.poll() is None
    finally:
        stop_group(proc)
        log.close()
    return outcome


def servers(ruwsgi: Path, venv_bin: Path, free_port) -> list[tuple[str, list[str], int]]:
    """Name, command line (run in the app's directory) and port of each server: 2 workers of
    THREADS threads each, so all eight clients are served at once by every server (a
    single-threaded uWSGI worker on --http11-socket is held by one kept-alive client, and
    the others, the version check included, would wait behind it)."""
    p = [free_port() for _ in range(4)]
    t = str(THREADS)
    return [
        ("ruwsgi", [str(ruwsgi), "--http-socket", f"127.0.0.1:{p[0]}", "--master",
                    "--processes", "2", "--threads", t, "--disable-logging", "--wsgi-file",
                    "app.py"], p[0]),
        ("uWSGI --http11-socket", [str(venv_bin / "uwsgi"), "--http11-socket",
                                   f"127.0.0.1:{p[1]}", "--master", "--processes", "2",
                                   "--threads", t, "--disable-logging", "--wsgi-file",
                                   "app.py"], p[1]),
        ("Gunicorn", [str(venv_bin / "gunicorn"), "--bind", f"127.0.0.1:{p[2]}", "--workers",
                      "2", "-k", "gthread", "--threads", t, "app:application"], p[2]),
        ("Granian", [str(venv_bin / "granian"), "--interface", "wsgi", "--host", "127.0.0.1",
                     "--port", str(p[3]), "--workers", "2", "--blocking-threads", t,
                     "app:application"], p[3]),
    ]


def section(ruwsgi: Path, venv_bin: Path, tmpdir: Path, free_port,
            shown: Path | None = None) -> tuple[str, bool]:
    """The report's reload section, and whether ruwsgi failed a request or missed new code.
    `shown` is the ruwsgi path the command lines name (the bench runs a private copy)."""
    lines = [
        f"## reload: {RELOADS} graceful reloads (SIGHUP) under load, 2 workers × {THREADS} "
        "threads",
        "",
        f"{CLIENTS} clients (half kept-alive, half one connection per request; a 200 ms "
        "endpoint and a fast one). A kept-alive client retries once only when its connection "
        "closed before any byte of the response; every other error or non-200 is a failed "
        "request. \"new code\": seconds from the signal until the changed app answered, per "
        f"reload (— when it did not within {RELOAD_WAIT:.0f} s).",
        "",
        "| server | requests | failed | retried | new code after each reload (s) | master kept |",
        "|---|---:|---:|---:|---|---|",
    ]
    ruwsgi_bad = False
    commands = []
    for name, argv, port in servers(ruwsgi, venv_bin, free_port):
        app_dir = tmpdir / f"reload-{name.split()[0].lower()}"
        app_dir.mkdir(exist_ok=True)
        print(f"bench: reload, {name}", file=sys.stderr)
        o = measure(name, argv, port, app_dir)
        commands.append("$ " + " ".join(str(shown) if a == str(ruwsgi) and shown else a
                                        for a in argv))
        if o.failure:
            lines.append(f"| {name} | — | — | — | {o.failure} | — |")
            ruwsgi_bad |= name == "ruwsgi"
            continue
        served = ", ".join("—" if s is None else f"{s:.2f}" for s in o.served)
        failed = f"{o.tally.failed}"
        if o.tally.errors:
            kinds = ", ".join(f"{k} × {v}" for k, v in sorted(o.tally.errors.items()))
            failed += f" ({kinds})"
        total = o.tally.ok + o.tally.failed
        lines.append(f"| {name} | {total:,} | {failed} | {o.tally.retried} | {served} | "
                     f"{'yes' if o.same_pid else 'no'} |")
        if name == "ruwsgi":
            ruwsgi_bad |= o.tally.failed > 0 or None in o.served or not o.same_pid
    lines += ["", "```", *commands, "```", ""]
    return "\n".join(lines), ruwsgi_bad
