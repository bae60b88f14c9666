#!/usr/bin/env bash
# `just test-pythons [VERSIONS...]`: builds ruwsgi against each CPython (default 3.9 to 3.13,
# and 3.14 when there is one) and runs the bridge's tests and every end-to-end test (WSGI,
# Django/Flask, the process manager, nginx) with that build. Each version gets its own target
# directory and test venv under target/pythons/, so the main build is never replaced and a
# second run only rebuilds what changed. Fails loudly when a version is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

versions=("$@")
if [ ${#versions[@]} -eq 0 ]; then
    versions=(3.9 3.10 3.11 3.12 3.13)
fi

pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}

# The python3.X executable of VERSION: pyenv's newest patch release (by version number, so
# 3.9.18 beats 3.9.9; free-threaded `t` builds are skipped), else one on PATH.
find_python() {
    local version=$1 found="" dir
    dir=$(find "$pyenv_root/versions" -mindepth 1 -maxdepth 1 -name "$version.*" 2>/dev/null |
        grep -E "/$version\.[0-9]+$" | sort -V | tail -n 1 || true)
    if [ -n "$dir" ] && [ -x "$dir/bin/python$version" ]; then found="$dir/bin/python$version"; fi
    if [ -z "$found" ]; then found=$(command -v "python$version" || true); fi
    [ -n "$found" ] && printf '%s\n' "$found"
}

# 3.14, when the machine has it, is tested by default too.
if [ $# -eq 0 ] && find_python 3.14 >/dev/null; then versions+=(3.14); fi

results=()
failed=0
for version in "${versions[@]}"; do
    python=$(find_python "$version") || {
        echo "test-pythons: Python $version not found (PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install $version)" >&2
        exit 1
    }
    printf '\n== Python %s (%s)\n' "$version" "$python" >&2
    dir="$PWD/target/pythons/$version"
    # Chained with && (set -e does not apply inside an `if` condition).
    if (
        export PYO3_PYTHON="$python" CARGO_TARGET_DIR="$dir" RUWSGI_TEST_VENV="$dir/venv" &&
            ./scripts/test-env.sh &&
            cargo build -p ruwsgi &&
            cargo test -p ruwsgi-wsgi &&
            cargo test -p ruwsgi-integration-tests --test integration
    ); then
        results+=("Python $version: passed")
    else
        results+=("Python $version: FAILED")
        failed=1
    fi
done

printf '\n== test-pythons\n' >&2
printf '%s\n' "${results[@]}" >&2
exit "$failed"
