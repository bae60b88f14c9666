#!/usr/bin/env bash
# Prepares what `just test` needs, once: a Python venv with Django and Flask in the build
# tree (target/venv), made from the Python the binary is built against. Fails loudly, naming
# what it cannot install.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYO3_PYTHON:-python3}
venv=${RUWSGI_TEST_VENV:-target/venv}
stamp="$venv/.ruwsgi-test-env-v2"
requirements="integration-tests/requirements.txt"

if [ ! -f "$stamp" ] || [ "$requirements" -nt "$stamp" ]; then
    echo "test-env: creating $venv from $python" >&2
    "$python" -m venv "$venv" || { echo "test-env: cannot create a venv with $python (install python3-venv)" >&2; exit 1; }
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" \
        || { echo "test-env: cannot install $requirements into $venv (no access to PyPI?)" >&2; exit 1; }
    # The build backend's wheel, for the install test's fresh venvs to build offline.
    "$venv/bin/python" -m pip download --quiet --disable-pip-version-check --dest "$venv/wheels" \
        "maturin>=1.5,<2" \
        || { echo "test-env: cannot download maturin into $venv/wheels (no access to PyPI?)" >&2; exit 1; }
    touch "$stamp"
fi

for tool in nginx; do
    if ! command -v "$tool" >/dev/null && [ ! -x "/usr/sbin/$tool" ]; then
        echo "test-env: '$tool' is required by the tests and is not installed (apt-get install $tool)" >&2
        exit 1
    fi
done
