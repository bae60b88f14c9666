#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ for SECONDS seconds each (default 30): the TARGETs
# given, or every one in turn.
# Usage: scripts/fuzz.sh [SECONDS [TARGET...]]      (the `just fuzz SECONDS` recipe)
#
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets this stable toolchain accept them.
# The HTTP target starts from gunicorn's request corpus, the config target from the real
# config files of crates/config/tests/corpus, the app_head target from a few real response
# heads; new inputs go to fuzz/corpus/,
# crashes to fuzz/artifacts/ (both ignored by git). Exits non-zero on the first crash.
set -euo pipefail

seconds="${1:-30}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(http_request chunked uwsgi config app_head)
fi
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
# The app_head target reads a status line and header pairs split at 0x1f: a few real heads.
head_seeds="fuzz/corpus/app_head-seeds"
mkdir -p "$head_seeds"
printf '200 OK\037Content-Type\037text/html; charset=utf-8\037Content-Length\03712' \
    > "$head_seeds/django"
printf '302 Found\037Location\037/login?next=%%2F\037Set-Cookie\037a=b; Path=/; HttpOnly' \
    > "$head_seeds/redirect"
printf '404 Not Found\037Vary\037Accept-Encoding\037X-Frame-Options\037DENY' > "$head_seeds/404"
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    extra=()
    if [ "$target" = http_request ]; then
        extra=("$seeds/valid" "$seeds/invalid")
    elif [ "$target" = config ]; then
        extra=("$config_seeds")
    elif [ "$target" = app_head ]; then
        extra=("$head_seeds")
    fi
    echo "== fuzzing $target for ${seconds}s" >&2
    cargo fuzz run "$target" "fuzz/corpus/$target" "${extra[@]}" -- \
        -max_total_time="$seconds" -max_len=16384 -print_final_stats=1
done
echo "== ${targets[*]}: ${seconds}s each without a crash" >&2
