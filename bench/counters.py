"""Per-worker request counters that every Python app of `just bench` keeps, in a shared file.

bench.py creates a zeroed file of `SIZE` bytes (in /dev/shm) for each server it starts and
passes its path in the environment variable `BENCH_COUNTERS`. Each serving thread claims one
slot of the file the first time it runs a request and from then on stores its request count
there on every request: one `struct.pack_into` into a `mmap` of the file, a memory write and
no system call. bench.py reads the file before and after each measured run; the increments,
summed per pid, are

- the proof that the app ran once per response (their sum must reach the responses wrk
  counted), and
- each worker's share of the requests, which shows whether the load was spread.

A slot is `<pid u32> <native thread id u32> <requests u64>`, little-endian. A slot belongs to
one thread, so a threaded server (uWSGI --threads, Gunicorn gthread, Granian) loses no
increment to a race between threads; bench.py sums the slots of a pid. Claiming a slot (once
per thread) takes an exclusive `flock` on the file, opened by the claiming process itself,
plus a lock between the threads of that process.

Without `BENCH_COUNTERS` (an app started by hand) `tick` only counts in the process.
"""

import fcntl
import mmap
import os
import struct
import threading

ENV = "BENCH_COUNTERS"
SLOT = struct.Struct("<IIQ")
SLOTS = 1024
SIZE = SLOT.size * SLOTS
_COUNT = struct.Struct("<Q")
_COUNT_AT = 8  # offset of the count inside a slot

_pack_count = _COUNT.pack_into
_local = threading.local()
_claim_lock = threading.Lock()
# The process's own descriptor and mapping of the file: (pid, fd, mmap), made on its first
# claim. A forked child must open its own descriptor (a `flock` on an inherited one would not
# exclude the parent), so the pid tells whether the one held here is this process's.
_mapping = None


def _reset_after_fork():
    global _local, _mapping, _claim_lock
    _local = threading.local()
    _mapping = None
    _claim_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def _claim():
    """This thread's slot: [mmap or None, offset, count]."""
    global _mapping
    path = os.environ.get(ENV)
    if not path:
        return [None, 0, 0]
    pid, tid = os.getpid(), threading.get_native_id() & 0xFFFFFFFF
    with _claim_lock:
        if _mapping is None or _mapping[0] != pid:
            fd = os.open(path, os.O_RDWR)
            _mapping = (pid, fd, mmap.mmap(fd, SIZE))
        _, fd, mm = _mapping
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            for offset in range(0, SIZE, SLOT.size):
                if SLOT.unpack_from(mm, offset)[0] == 0:
                    SLOT.pack_into(mm, offset, pid, tid, 0)
                    return [mm, offset + _COUNT_AT, 0]
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    raise RuntimeError(f"{path}: all {SLOTS} counter slots are taken")


def tick():
    """Count one request of this thread; returns its count so far."""
    try:
        slot = _local.slot
    except AttributeError:
        slot = _local.slot = _claim()
    slot[2] += 1
    if slot[0] is not None:
        _pack_count(slot[0], slot[1], slot[2])
    return slot[2]


def counted(app):
    """A WSGI middleware: `tick` on every request, then the wrapped app."""

    def counting(environ, start_response):
        tick()
        return app(environ, start_response)

    return counting


def read(path):
    """{pid: requests} summed over the slots of a counter file (bench.py's side)."""
    with open(path, "rb") as f:
        data = f.read(SIZE)
    per_pid = {}
    for pid, _tid, count in SLOT.iter_unpack(data[: len(data) - len(data) % SLOT.size]):
        if pid:
            per_pid[pid] = per_pid.get(pid, 0) + count
    return per_pid
