# ruwsgi's commands. `just --list` shows them all.

# The Python the binary is built against and the test venv is made from: `python3` on PATH
# unless PYO3_PYTHON says otherwise, the same default as plain cargo's (.cargo/config.toml),
# so switching between cargo and just rebuilds nothing. The binary's rpath points at that
# Python's libpython.
export PYO3_PYTHON := env_var_or_default("PYO3_PYTHON", "python3")
# The venv the tests serve Django and Flask from (`--home`), in the build tree.
export RUWSGI_TEST_VENV := env_var_or_default("RUWSGI_TEST_VENV", justfile_directory() / "target" / "venv")

# Build in release mode and serve the hello example on http://127.0.0.1:8000
run *ARGS:
    cargo build --release -p ruwsgi
    ./target/release/ruwsgi --http 127.0.0.1:8000 --wsgi-file examples/hello.py {{ARGS}}

# Build everything and run every test (unit, corpus, end-to-end)
test: test-env
    cargo build -p ruwsgi
    cargo test --workspace
    # The process manager builds and passes its tests without Python (no `wsgi` feature).
    cargo test -p ruwsgi-process --no-default-features

# Only the install test (part of `test`): the checkout's sdist pip-installed into fresh venvs
# of two Python versions
test-install: test-env
    cargo test -p ruwsgi-integration-tests --test install

# Build against each CPython 3.9-3.13 (or those named, e.g. `3.12 3.13`) and run the bridge's
# and the end-to-end tests with each build (slow: a build and a suite per version)
test-pythons *VERSIONS:
    ./scripts/test-pythons.sh {{VERSIONS}}

# Create what the tests need on first use: the Python venv (Django, Flask) and a check for nginx
test-env:
    ./scripts/test-env.sh

# rustfmt check, clippy with warnings as errors, rustdoc with warnings as errors
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy -p ruwsgi-process --all-targets --no-default-features -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace

# Format the code
fmt:
    cargo fmt --all

# Compare ruwsgi with nginx, uWSGI, Gunicorn and Granian (req/s, p99, CPU per request)
bench *ARGS:
    cargo build --release -p ruwsgi
    ./bench/run.sh {{ARGS}}

# Run each fuzz target (or those named) for SECONDS (cargo-fuzz on stable via RUSTC_BOOTSTRAP=1)
fuzz SECONDS="30" *TARGETS:
    ./scripts/fuzz.sh {{SECONDS}} {{TARGETS}}
