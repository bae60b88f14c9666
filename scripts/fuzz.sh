#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS seconds each (default 30).
# Usage: scripts/fuzz.sh [SECONDS]      (the `just fuzz SECONDS` recipe)
#
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets this stable toolchain accept them.
# The HTTP target starts from gunicorn's request corpus; new inputs go to fuzz/corpus/,
# crashes to fuzz/artifacts/ (both ignored by git). Exits non-zero on the first crash.
set -euo pipefail

seconds="${1:-30}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz
fi

seeds="crates/proto/tests/corpus/http-requests"
for target in http_request chunked uwsgi; do
    mkdir -p "fuzz/corpus/$target"
    extra=()
    if [ "$target" = http_request ]; then
        extra=("$seeds/valid" "$seeds/invalid")
    fi
    echo "== fuzzing $target for ${seconds}s" >&2
    cargo fuzz run "$target" "fuzz/corpus/$target" "${extra[@]}" -- \
        -max_total_time="$seconds" -max_len=16384 -print_final_stats=1
done
echo "== all fuzz targets ran ${seconds}s without a crash" >&2
