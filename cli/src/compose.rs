//! Turns the merged [`Config`] into each crate's typed options and runs the server.
//!
//! A thin mapping: each crate's serde-derived options struct (`ruwsgi_process::Options`,
//! `SocketOptions`, `Hooks`, `ruwsgi_wsgi::Options`, `ruwsgi_event_loop::Options`) and the
//! cli's own [`Commands`] are extracted from the configuration through figment
//! ([`Config::extract`]): field names are option names, defaults come from the option table,
//! and no option is read here by a string name. What no option holds is set below, by name of
//! field. Then [`ruwsgi_process::run`]. Exit statuses as uWSGI's: 1 for configuration and bind
//! errors, 22 when no app loads under `need-app`.

use std::path::PathBuf;

use ruwsgi_config::{Config, Kind};
use ruwsgi_process::{
    FixedService, Hooks, Options, Service, SocketOptions, WsgiService, WsgiServiceOptions,
};
use serde::Deserialize;

/// The options the cli acts on itself (answering, signalling a running server, or picking
/// the service).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Commands {
    /// `version`: print the version and exit.
    pub version: bool,
    /// `show-config`: print the configuration with origins and exit.
    pub show_config: bool,
    /// `print`: texts printed while the configuration is applied.
    pub print: Vec<String>,
    /// `stop PIDFILE`: send SIGINT to the server whose pid the file holds.
    pub stop: Option<PathBuf>,
    /// `reload PIDFILE`: send SIGHUP to it.
    pub reload: Option<PathBuf>,
    /// `builtin-handler`: serve a fixed body from Rust instead of a WSGI app.
    pub builtin_handler: bool,
    /// `no-need-app`: keep running when no app loads (wins over `need-app`).
    pub no_need_app: bool,
    /// `log-date`: date the server's log lines (`ctime` form, or this `strftime` format).
    pub log_date: Option<String>,
    /// `logger`: where log lines go (`[NAME] stdio`, `file:PATH`, `syslog`).
    pub logger: Vec<String>,
    /// `req-logger`: where request lines go.
    pub req_logger: Vec<String>,
    /// `log-route`: `NAME REGEX`, matching lines to that logger only.
    pub log_route: Vec<String>,
    /// `log-req-route`: the same for request lines.
    pub log_req_route: Vec<String>,
    /// `log-encoder`: `NAME[:LOGGER] ARGS`, rewriting lines on their way.
    pub log_encoder: Vec<String>,
    /// `log-req-encoder`: the same for request lines.
    pub log_req_encoder: Vec<String>,
    /// `log-drain`: regular expressions of lines not to log.
    pub log_drain: Vec<String>,
    /// `log-filter`: regular expressions of the only lines to log.
    pub log_filter: Vec<String>,
}

impl Commands {
    /// The log's settings: `log-date` dates server messages (not request lines, which carry
    /// their own time), as uWSGI's does; the logger chains. A value that does not parse is
    /// an error naming its option, its value and where it came from.
    pub fn log_settings(&self, config: &Config) -> anyhow::Result<ruwsgi_logging::Settings> {
        use ruwsgi_logging::{Chain, Encoder, LoggerSpec, Route};
        fn each<T>(
            config: &Config,
            option: &str,
            values: &[String],
            parse: fn(&str) -> Result<T, String>,
        ) -> anyhow::Result<Vec<T>> {
            values
                .iter()
                .map(|v| {
                    parse(v).map_err(|e| {
                        let origin = config
                            .origin(option)
                            .map_or(String::new(), |o| format!(" (from {o})"));
                        anyhow::anyhow!("{option} {v:?}{origin}: {e}")
                    })
                })
                .collect()
        }
        let chain = |loggers: (&str, &[String]),
                     routes: (&str, &[String]),
                     encoders: (&str, &[String])|
         -> anyhow::Result<Chain> {
            let chain = Chain {
                loggers: each(config, loggers.0, loggers.1, LoggerSpec::parse)?,
                routes: each(config, routes.0, routes.1, Route::parse)?,
                encoders: each(config, encoders.0, encoders.1, Encoder::parse)?,
            };
            for route in chain.dangling_routes() {
                log::warn!(
                    "{} names the logger {:?}, which no {} defines: it takes no line",
                    routes.0,
                    route.logger,
                    loggers.0
                );
            }
            Ok(chain)
        };
        Ok(ruwsgi_logging::Settings {
            request_targets: vec![ruwsgi_event_loop::REQUEST_LOG_TARGET],
            date: log_date(self.log_date.as_deref()),
            general: chain(
                ("logger", &self.logger),
                ("log-route", &self.log_route),
                ("log-encoder", &self.log_encoder),
            )?,
            requests: chain(
                ("req-logger", &self.req_logger),
                ("log-req-route", &self.log_req_route),
                ("log-req-encoder", &self.log_req_encoder),
            )?,
            drain: each(
                config,
                "log-drain",
                &self.log_drain,
                ruwsgi_logging::pattern_of,
            )?,
            filter: each(
                config,
                "log-filter",
                &self.log_filter,
                ruwsgi_logging::pattern_of,
            )?,
        })
    }
}

/// `log-date`'s prefix as uWSGI reads the option: no value, or `true`, `1`, `on`, `yes`
/// (any case) date the lines in `ctime` form; any other value is a `strftime` format.
fn log_date(value: Option<&str>) -> ruwsgi_logging::DatePrefix {
    use ruwsgi_logging::DatePrefix;
    match value {
        None => DatePrefix::None,
        Some(v)
            if v.is_empty()
                || ["true", "1", "on", "yes"]
                    .iter()
                    .any(|t| v.eq_ignore_ascii_case(t)) =>
        {
            DatePrefix::Ctime
        }
        Some(format) => DatePrefix::Strftime(format.to_string()),
    }
}

/// Runs the server the configuration describes; returns the process exit code.
pub fn run(config: &Config, commands: &Commands) -> anyhow::Result<i32> {
    if let Some(pidfile) = &commands.stop {
        let pid = ruwsgi_process::stop(pidfile)?;
        log::info!("sent SIGINT to {pid} (from {})", pidfile.display());
        return Ok(0);
    }
    if let Some(pidfile) = &commands.reload {
        let pid = ruwsgi_process::reload(pidfile)?;
        log::info!("sent SIGHUP to {pid} (from {})", pidfile.display());
        return Ok(0);
    }
    let opts = process_options(config, commands)?;
    if !opts.emperor.is_empty() {
        return run_emperor(config, &opts);
    }
    if opts.sockets.is_empty() && !ruwsgi_process::sockets_passed() {
        anyhow::bail!("no socket to serve on: give --http-socket, --socket or --http");
    }
    let mut service = service(config, commands)?;
    exit_status(ruwsgi_process::run(&opts, service.as_mut()))
}

/// `emperor`: this instance governs vassals and serves nothing itself, so a socket or an
/// app beside it is refused (uWSGI would run both; a documented difference).
fn run_emperor(config: &Config, opts: &Options) -> anyhow::Result<i32> {
    let wsgi: ruwsgi_wsgi::Options = config.extract()?;
    let app = wsgi.module.is_some() || wsgi.wsgi_file.is_some() || !wsgi.mounts.is_empty();
    if !opts.sockets.is_empty() || app {
        let origin = config
            .origin("emperor")
            .map_or(String::new(), |o| format!(" (from {o})"));
        anyhow::bail!(
            "emperor{origin}: an emperor governs vassals and serves nothing itself; \
             move the sockets and the app into a vassal's config file"
        );
    }
    exit_status(ruwsgi_process::run_emperor(opts))
}

/// The process's exit status from what the process manager returned: an error with a
/// status of its own (22, no app) is logged and exits with it; any other fails with 1.
fn exit_status(result: Result<i32, ruwsgi_process::Error>) -> anyhow::Result<i32> {
    match result {
        Ok(code) => Ok(code),
        Err(err) if err.exit_code() != 1 => {
            log::error!("{err}");
            Ok(err.exit_code())
        }
        Err(err) => Err(err.into()),
    }
}

/// The service the workers run: the built-in fixed handler, or the WSGI app.
fn service(config: &Config, commands: &Commands) -> anyhow::Result<Box<dyn Service>> {
    let options = wsgi_service_options(config)?;
    if commands.builtin_handler {
        return Ok(Box::new(FixedService::with_options(
            "Hello World\n",
            options.event_loop,
        )));
    }
    let wsgi = &options.wsgi;
    if wsgi.module.is_none() && wsgi.wsgi_file.is_none() && wsgi.mounts.is_empty() {
        anyhow::bail!(
            "no app to serve: give --module, --wsgi-file or --mount (or --builtin-handler)"
        );
    }
    Ok(Box::new(WsgiService::new(options)))
}

/// The WSGI bridge's and the event loop's options, from the configuration.
fn wsgi_service_options(config: &Config) -> anyhow::Result<WsgiServiceOptions> {
    let mut wsgi: ruwsgi_wsgi::Options = config.extract()?;
    wsgi.threads = wsgi.threads.max(1);
    wsgi.opt = uwsgi_opt(config);
    let mut event_loop: ruwsgi_event_loop::Options = config.extract()?;
    event_loop.static_files = config.extract()?;
    event_loop.static_files.check()?;
    event_loop.routes = route_options(config);
    event_loop.routes.check()?;
    if let Err(bad) = event_loop.add_header_fields() {
        let origin = config
            .origin("add-header")
            .map_or(String::new(), |o| format!(" (from {o})"));
        anyhow::bail!("add-header {bad:?}{origin} is not `Name: value`");
    }
    Ok(WsgiServiceOptions { wsgi, event_loop })
}

/// The routing options: every `route*`, `error-route*`, `response-route*`,
/// `collect-header` and `pull-header` value in the order given (across options: a `goto`
/// and its label may be set by different ones), with where it was set.
pub(crate) fn route_options(config: &Config) -> ruwsgi_event_loop::RouteOptions {
    let lines = config
        .entries()
        .filter(|(spec, ..)| ruwsgi_config::is_routing(spec.name))
        .map(|(spec, value, origin)| ruwsgi_event_loop::RouteLine {
            option: spec.name.to_string(),
            value: value.to_string(),
            origin: origin.to_string(),
        })
        .collect();
    ruwsgi_event_loop::RouteOptions { lines }
}

/// `uwsgi.opt`, as uWSGI exports it to the app (those apps and APM agents probe): every
/// option a source set, in order, with its value, or `None` for a flag that is on (Python
/// sees `True`).
fn uwsgi_opt(config: &Config) -> Vec<(String, Option<String>)> {
    config
        .entries()
        .map(|(spec, value, _)| {
            let on = spec.kind == Kind::Flag && value == "true";
            (spec.name.to_string(), (!on).then(|| value.to_string()))
        })
        .collect()
}

fn process_options(config: &Config, commands: &Commands) -> anyhow::Result<Options> {
    let mut opts: Options = config.extract()?;
    opts.processes = opts.processes.max(1);
    opts.threads = opts.threads.max(1);
    opts.need_app &= !commands.no_need_app;
    opts.sockets = config.extract::<SocketOptions>()?.specs();
    opts.hooks = config.extract::<Hooks>()?;
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names serde reads for `T`: the `fields` a derived `Deserialize` hands to
    /// `deserialize_struct` (skipped fields are not among them).
    fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
        struct Names(&'static [&'static str]);
        #[derive(Debug)]
        struct Stop;
        impl std::fmt::Display for Stop {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("field names read")
            }
        }
        impl std::error::Error for Stop {}
        impl serde::de::Error for Stop {
            fn custom<M: std::fmt::Display>(_: M) -> Stop {
                Stop
            }
        }
        impl<'de> serde::Deserializer<'de> for &mut Names {
            type Error = Stop;
            fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
                Err(Stop)
            }
            fn deserialize_struct<V: serde::de::Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Stop> {
                self.0 = fields;
                Err(Stop)
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
                identifier ignored_any
            }
        }
        let mut names = Names(&[]);
        let _ = T::deserialize(&mut names);
        names.0
    }

    #[test]
    fn every_field_names_an_option_of_the_table() {
        let structs = [
            ("Commands", field_names::<Commands>()),
            ("process Options", field_names::<Options>()),
            ("SocketOptions", field_names::<SocketOptions>()),
            ("Hooks", field_names::<Hooks>()),
            ("wsgi Options", field_names::<ruwsgi_wsgi::Options>()),
            (
                "event-loop Options",
                field_names::<ruwsgi_event_loop::Options>(),
            ),
            (
                "StaticOptions",
                field_names::<ruwsgi_event_loop::StaticOptions>(),
            ),
        ];
        for (name, fields) in structs {
            assert!(!fields.is_empty(), "{name}");
            for field in fields {
                let spec = ruwsgi_config::lookup(field)
                    .unwrap_or_else(|| panic!("{name}: {field} is not an option of the table"));
                assert_eq!(spec.name, *field, "{name}: name the canonical option");
            }
        }
    }

    #[test]
    fn every_struct_extracts_from_the_defaults_and_matches_the_crates_own() {
        let config = Config::load_in(Vec::new(), Vec::new(), PathBuf::from("/")).unwrap();
        let commands: Commands = config.extract().unwrap();
        assert!(!commands.version && commands.stop.is_none() && commands.print.is_empty());
        let opts = process_options(&config, &commands).unwrap();
        assert!(opts.sockets.is_empty());
        // Each crate's `Default` (for embedders) agrees with the table's defaults.
        assert_eq!(
            format!("{opts:?}"),
            format!("{:?}", Options::default()),
            "process"
        );
        let service = wsgi_service_options(&config).unwrap();
        assert_eq!(service.event_loop, ruwsgi_event_loop::Options::default());
        assert_eq!(
            format!("{:?}", service.wsgi),
            format!("{:?}", ruwsgi_wsgi::Options::default()),
            "wsgi"
        );
        let sockets: SocketOptions = config.extract().unwrap();
        assert_eq!(sockets.listen, 100);
        assert_eq!(sockets.chmod_socket, None);
    }

    #[test]
    fn values_reach_the_structs() {
        let args = [
            "--http-socket=:8000",
            "--socket=/tmp/a.sock",
            "--chmod-socket",
            "--listen=64",
            "--processes=0",
            "--master",
            "--disable-logging",
            "--socket-timeout=9",
            "--buffer-size=16384",
            "--no-need-app",
            "--hook-post-fork=print:hi",
            "--mount=/a=a.py",
        ];
        let args = args.iter().map(|a| a.to_string());
        let config = Config::load_in(args, Vec::new(), PathBuf::from("/")).unwrap();
        let commands: Commands = config.extract().unwrap();
        let opts = process_options(&config, &commands).unwrap();
        assert_eq!(opts.processes, 1, "at least one worker");
        assert!(opts.master && !opts.need_app);
        assert_eq!(opts.hooks.post_fork, ["print:hi"]);
        let addresses: Vec<_> = opts.sockets.iter().map(|s| s.address.as_str()).collect();
        assert_eq!(addresses, ["/tmp/a.sock", ":8000"], "uwsgi sockets first");
        assert_eq!(opts.sockets[0].chmod, Some(0o666));
        assert_eq!(opts.sockets[1].backlog, 64);
        let service = wsgi_service_options(&config).unwrap();
        assert!(!service.event_loop.log_requests);
        assert_eq!(service.event_loop.socket_timeout.as_secs(), 9);
        assert_eq!(service.event_loop.buffer_size, 16384);
        assert_eq!(service.wsgi.buffer_size, 16384);
        assert_eq!(service.wsgi.mounts, ["/a=a.py"]);
        assert!(service.wsgi.opt.contains(&("master".to_string(), None)));
        assert!(service
            .wsgi
            .opt
            .contains(&("listen".to_string(), Some("64".to_string()))));
    }

    #[test]
    fn a_value_out_of_range_names_its_origin() {
        let args = ["--listen=99999999999".to_string()];
        let config = Config::load_in(args, Vec::new(), PathBuf::from("/")).unwrap();
        let err = config.extract::<SocketOptions>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "listen: \"99999999999\" is not valid (command line --listen); expected a whole number that fits a u32"
        );
    }

    #[test]
    fn log_date_reads_a_true_value_as_the_ctime_date() {
        use ruwsgi_logging::DatePrefix;
        assert_eq!(log_date(None), DatePrefix::None);
        for on in ["", "true", "1", "on", "yes", "TRUE", "Yes"] {
            assert_eq!(log_date(Some(on)), DatePrefix::Ctime, "{on:?}");
        }
        assert_eq!(
            log_date(Some("%Y-%m-%d")),
            DatePrefix::Strftime("%Y-%m-%d".into())
        );
    }
}
