//! The `ruwsgi` binary: parse and merge the configuration (ruwsgi-config), then hand each
//! crate its options (`compose`). Nothing else lives here.
//!
//! INTERIM: the foundation issue replaces this file (clap from the option table, sources,
//! `--show-config`, `--version`, exit codes).

mod compose;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = ruwsgi_config::Config::from_args(&args);
    match compose::run(&config) {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("ruwsgi: {err:#}");
            std::process::exit(1);
        }
    }
}
