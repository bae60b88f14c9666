//! Turns the merged [`Config`] into each crate's typed options and runs the server.
//!
//! OWNED BY THE PROCESS MANAGER WORK: builds `ruwsgi_process` / `ruwsgi_event_loop` /
//! `ruwsgi_wsgi` options from the config and calls the process manager.

use ruwsgi_config::Config;

/// Runs the server the configuration describes; returns the process exit code.
pub fn run(config: &Config) -> anyhow::Result<i32> {
    let _ = config;
    anyhow::bail!("serving is not implemented yet")
}
