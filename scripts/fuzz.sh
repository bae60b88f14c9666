#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS seconds each (default 30).
# Usage: scripts/fuzz.sh [SECONDS]      (the `just fuzz SECONDS` recipe)
#
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets this stable toolchain accept them.
# The HTTP target starts from gunicorn's request corpus, the config target from the real
# config files of crates/config/tests/corpus; new inputs go to fuzz/corpus/,
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
# The config target's first byte picks the format (0 ini, 1 YAML, 2 JSON, 3 XML, 4 TOML):
# its seeds are the real config files of crates/config/tests/corpus with that byte in front.
config_seeds="fuzz/corpus/config-seeds"
mkdir -p "$config_seeds"
for f in crates/config/tests/corpus/*.ini crates/config/tests/corpus/*.yaml \
    crates/config/tests/corpus/*.json crates/config/tests/corpus/*.xml; do
    case "$f" in
        *.ini) byte='\000' ;; *.yaml) byte='\001' ;; *.json) byte='\002' ;; *.xml) byte='\003' ;;
    esac
    { printf "$byte"; cat "$f"; } > "$config_seeds/$(basename "$f")"
done
for target in http_request chunked uwsgi config; do
    mkdir -p "fuzz/corpus/$target"
    extra=()
    if [ "$target" = http_request ]; then
        extra=("$seeds/valid" "$seeds/invalid")
    elif [ "$target" = config ]; then
        extra=("$config_seeds")
    fi
    echo "== fuzzing $target for ${seconds}s" >&2
    cargo fuzz run "$target" "fuzz/corpus/$target" "${extra[@]}" -- \
        -max_total_time="$seconds" -max_len=16384 -print_final_stats=1
done
echo "== all fuzz targets ran ${seconds}s without a crash" >&2
