//! ruwsgi's end-to-end tests: one test binary, a module per area (see `ruwsgi_integration_tests`
//! for the harness). Run with `just test`, which builds the `ruwsgi` binary and the test venv
//! first.

mod balance;
mod cache;
mod config;
mod emperor;
mod hardening;
mod health;
mod locks;
mod logging;
mod nginx;
mod process;
mod reload;
mod routing;
mod serving;
mod signals;
mod spooler;
mod static_files;
mod stats;
mod subscribe;
mod systemd;
mod tasks;
mod wsgi;
