//! The `ruwsgi` binary: load the configuration (ruwsgi-config: command line, `UWSGI_*`
//! variables and config files), extract the cli's own options ([`compose::Commands`]),
//! answer `--help`, `--version` and `--show-config`, then hand the merged configuration to
//! `compose`. Nothing else lives here.
//!
//! Exit statuses, as uWSGI's: 0 after `--help`, `--version`, `--show-config`; 1 for a
//! configuration error (bad value, unknown option on the command line or under `strict`,
//! unreadable config file); whatever `compose::run` returns otherwise (22 when no app loads
//! under `need-app`). A master re-executed by a reload does not exit on such an error: its
//! previous workers keep serving.

mod compose;

use ruwsgi_config::Config;

fn main() {
    init_logging();
    let args = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    let env = std::env::vars_os().map(|(k, v)| {
        (
            k.to_string_lossy().into_owned(),
            v.to_string_lossy().into_owned(),
        )
    });
    let config = match Config::load(args, env) {
        Ok(config) => config,
        Err(err) => {
            if let Some(help) = err.help() {
                print!("{help}");
                exit(0);
            }
            fail(err);
        }
    };
    let commands: compose::Commands = match config.extract() {
        Ok(commands) => commands,
        Err(err) => fail(err),
    };
    match commands.log_settings(&config) {
        Ok(settings) => ruwsgi_logging::configure(settings),
        Err(err) => fail(err),
    }
    if commands.version {
        println!("ruwsgi {}", env!("CARGO_PKG_VERSION"));
        exit(0);
    }
    // uWSGI's `print` option writes its text while the configuration is applied.
    for text in &commands.print {
        println!("{text}");
    }
    if commands.show_config {
        // A config check, like `nginx -t`: print and exit without starting anything (uWSGI
        // prints and goes on to start; a documented difference). Routing rules are parsed
        // here, not by the typed extraction: a bad one fails the check.
        if let Err(err) = compose::route_options(&config).check() {
            fail(err);
        }
        print!("{}", config.show());
        exit(0);
    }
    match compose::run(&config, &commands) {
        Ok(code) => exit(code),
        Err(err) => fail(format!("{err:#}")),
    }
}

/// Exits with status 1 after `err` — unless this process is a master re-executed by a
/// reload: then its previous workers keep serving until a reload succeeds or a stop signal
/// comes ([`ruwsgi_process::reload_failed`]), and the status is that of the stop.
fn fail(err: impl std::fmt::Display) -> ! {
    if let Some(code) = ruwsgi_process::reload_failed(&err) {
        exit(code);
    }
    ruwsgi_logging::flush(std::time::Duration::from_secs(2));
    eprintln!("ruwsgi: {err}");
    std::process::exit(1);
}

/// The log sink of every process ([`ruwsgi_logging`]): lines leave through a bounded
/// buffer and a writer thread to stderr (or the `logto`/`daemonize` file the process
/// manager points stderr at). Request lines (target
/// [`ruwsgi_event_loop::REQUEST_LOG_TARGET`]) are written bare, in uWSGI's format, so tools
/// that parse uWSGI's request log keep working; server messages carry their level and the
/// pid of the process that wrote them (a master and its workers share one log). `RUST_LOG`
/// filters as usual (default `info`), through env_logger's filter.
fn init_logging() {
    let filter =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).build();
    let max_level = filter.filter();
    ruwsgi_logging::init(
        move |metadata| log::Log::enabled(&filter, metadata),
        max_level,
    );
    ruwsgi_logging::configure(ruwsgi_logging::Settings {
        request_targets: vec![ruwsgi_event_loop::REQUEST_LOG_TARGET],
        ..Default::default()
    });
}

/// Exits with `code` once the buffered log lines are written.
fn exit(code: i32) -> ! {
    ruwsgi_logging::flush(std::time::Duration::from_secs(2));
    std::process::exit(code)
}
