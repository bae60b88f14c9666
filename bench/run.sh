#!/usr/bin/env bash
# `just bench`: prepares the peers once (bench/.venv with uWSGI, Gunicorn and Granian pinned in
# bench/requirements.txt), checks nginx and wrk, then runs bench/bench.py. See bench/README.md.
# Environment: BENCH_SECONDS (3), BENCH_ROUNDS (3), BENCH_WORKERS ("1 2", plus the core count
# when above 2), BENCH_WORKLOADS (workloads), BENCH_ONLY (rows), BENCH_CPU_LOOPS, BENCH_SAVE,
# RUWSGI (target/release/ruwsgi), RUWSGI_BASELINE, RUWSGI_TEST_VENV (target/venv: Django and
# Flask), PYO3_PYTHON (the Python the venv is made from).
set -euo pipefail
cd "$(dirname "$0")"

python=${PYO3_PYTHON:-python3}
venv=.venv
stamp="$venv/.ruwsgi-bench-v1"

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench: ${missing[*]} not installed; install with: apt-get install ${missing[*]}" >&2
    exit 2
fi

if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ]; then
    echo "bench: creating bench/$venv from $python (uWSGI may compile from source: a minute)" >&2
    "$python" -m venv "$venv" || {
        echo "bench: cannot create a venv with $python (install python3-venv)" >&2
        exit 2
    }
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt || {
        echo "bench: cannot install bench/requirements.txt (no access to PyPI? gcc and the Python headers for uWSGI?)" >&2
        exit 2
    }
    touch "$stamp"
fi

exec "$venv/bin/python" bench.py "$@"
