//! The command line: a clap [`Command`] generated from the option table, and the parse that
//! turns argv into entries in the order they were written.
//!
//! As uWSGI's getopt: `--name value`, `--name=value`, `-p 4`; flags take a value only as
//! `--master=false`; options whose value is optional (`chmod-socket`, `mule`) take
//! `--name=value` and, unlike uWSGI, `--name value` too; bare arguments (`app.py`,
//! `site.ini`) are handled after every option. Unknown options are refused, with the closest
//! known one suggested, also for names pasted with an en dash (`–http`).

use clap::{Arg, ArgAction, Command};

use crate::error::{Error, ErrorKind};
use crate::source::Origin;
use crate::table::{self, Kind, Status, OPTIONS};

/// The id of the positional (bare) arguments.
const BARE: &str = "FILE";

/// Dashes that are not `-`, as blogs and word processors turn `--` into.
const LOOKALIKE_DASHES: &[char] = &[
    '\u{2010}', '\u{2011}', '\u{2012}', '\u{2013}', '\u{2014}', '\u{2015}', '\u{2212}',
];

/// The `ruwsgi` command: every option of the table with its aliases and short flag.
pub fn command() -> Command {
    let mut cmd = Command::new("ruwsgi")
        .about("A uWSGI-compatible application server for Python WSGI apps")
        .long_about(None)
        .version(env!("CARGO_PKG_VERSION"))
        .disable_version_flag(true)
        .max_term_width(110)
        .after_help(
            "Every option can also be given in an ini/yaml/json/toml/xml file ([uwsgi] section) \
             or as a UWSGI_* environment variable (UWSGI_HTTP_SOCKET=:8000). Options marked \
             [not yet: ...] are accepted and validated but have no effect (yet); \
             [ruwsgi addition] marks options uWSGI does not have; [differs from uWSGI: ...] says how an \
             option works otherwise than in uWSGI.",
        )
        .arg(
            Arg::new(BARE)
                .num_args(0..)
                .action(ArgAction::Append)
                .value_name("FILE")
                .help("app.py / app.wsgi: the wsgi-file; x.ini, .yaml/.yml, .json, .toml, .xml: a config file"),
        );
    for spec in OPTIONS {
        let mut help = spec.help.to_string();
        match spec.status {
            Status::NotYet(issue) => help.push_str(&format!(" [not yet: {issue}]")),
            Status::Addition => help.push_str(" [ruwsgi addition]"),
            Status::Differs(how) => help.push_str(&format!(" [differs from uWSGI: {how}]")),
            Status::Implemented => {}
        }
        if let Some(default) = spec.default {
            help.push_str(&format!(" [default: {default}]"));
        }
        let mut arg = Arg::new(spec.name)
            .long(spec.name)
            .visible_aliases(spec.aliases.iter().copied())
            .action(ArgAction::Append)
            .help(help);
        if let Some(short) = spec.short {
            arg = arg.short(short);
        }
        arg = if matches!(spec.kind, Kind::Flag | Kind::Logic) {
            // A flag takes a value only as `--master=false`, so `--master app.py` works.
            arg.num_args(0..=1)
                .require_equals(true)
                .default_missing_value("")
        } else if spec.implied.is_some() {
            // uWSGI's getopt needs `--chmod-socket=660`; ruwsgi also takes `--chmod-socket 660`.
            arg.num_args(0..=1).default_missing_value("")
        } else {
            arg.num_args(1).allow_hyphen_values(true)
        };
        arg = arg.value_name(match spec.kind {
            Kind::Int => "N",
            Kind::Include => "FILE[:SECTION]",
            Kind::Flag => "BOOL",
            _ => "VALUE",
        });
        cmd = cmd.arg(arg);
    }
    cmd
}

/// One option occurrence of the command line.
#[derive(Debug)]
pub(crate) struct CliEntry {
    pub(crate) name: &'static str,
    pub(crate) value: Option<String>,
    pub(crate) origin: Origin,
}

/// Refuses unknown long options before clap does, with our suggestion and origin.
fn check_names(args: &[String]) -> Result<(), Error> {
    for arg in args {
        if arg == "--" {
            break;
        }
        let lookalike = arg.starts_with(LOOKALIKE_DASHES);
        if !(arg.starts_with("--") || lookalike) {
            continue;
        }
        let name = arg.trim_start_matches(|c: char| c == '-' || LOOKALIKE_DASHES.contains(&c));
        let name = name.split_once('=').map_or(name, |(n, _)| n);
        if !lookalike && (name.is_empty() || name == "help" || table::lookup(name).is_some()) {
            continue;
        }
        let suggestion = table::lookup(name)
            .map(|o| o.name)
            .or_else(|| table::suggest(name))
            .map(str::to_string);
        return Err(Error::new(ErrorKind::UnknownOption {
            name: name.to_string(),
            origin: Origin::Arg(arg.clone()),
            suggestion,
        }));
    }
    Ok(())
}

/// Parses argv (without the program name) into option entries in order, and the bare
/// arguments.
pub(crate) fn parse(args: &[String]) -> Result<(Vec<CliEntry>, Vec<String>), Error> {
    check_names(args)?;
    let argv = std::iter::once("ruwsgi".to_string()).chain(args.iter().cloned());
    let matches = command().try_get_matches_from(argv).map_err(|e| {
        let text = e.render().to_string();
        match e.kind() {
            clap::error::ErrorKind::DisplayHelp => Error::new(ErrorKind::Help(text)),
            _ => Error::new(ErrorKind::Usage(text)),
        }
    })?;
    let mut entries: Vec<(usize, CliEntry)> = Vec::new();
    for spec in OPTIONS {
        let (Some(indices), Some(values)) =
            (matches.indices_of(spec.name), matches.get_raw(spec.name))
        else {
            continue;
        };
        for (index, value) in indices.zip(values) {
            let value = value.to_string_lossy().into_owned();
            entries.push((
                index,
                CliEntry {
                    name: spec.name,
                    value: Some(value),
                    origin: Origin::Arg(format!("--{}", spec.name)),
                },
            ));
        }
    }
    entries.sort_by_key(|(i, _)| *i);
    let bare = matches
        .get_many::<String>(BARE)
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    Ok((entries.into_iter().map(|(_, e)| e).collect(), bare))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn the_command_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn order_aliases_shorts_and_optional_values() {
        let (entries, bare) = parse(&args(
            "--http :8000 -p 2 --master --workers=3 --chmod-socket --socket a.sock -M --master=false \
             --chmod-socket 660 app.py x.ini",
        ))
        .unwrap();
        let got: Vec<(&str, Option<&str>)> = entries
            .iter()
            .map(|e| (e.name, e.value.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("http", Some(":8000")),
                ("processes", Some("2")),
                ("master", Some("")),
                ("processes", Some("3")),
                ("chmod-socket", Some("")),
                ("socket", Some("a.sock")),
                ("master", Some("")),
                ("master", Some("false")),
                ("chmod-socket", Some("660")),
            ]
        );
        assert_eq!(bare, ["app.py", "x.ini"]);
    }

    #[test]
    fn unknown_and_en_dash_options_are_refused_with_a_suggestion() {
        let err = parse(&args("--htpp :8000")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown option --htpp on the command line: did you mean --http?"
        );
        let err = parse(&args("\u{2013}http :8001 \u{2013}wsgi-file test.py")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown option \u{2013}http on the command line: did you mean --http?"
        );
        let err = parse(&args("--processes")).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Usage(_)), "{err}");
    }

    #[test]
    fn help_lists_every_option_with_aliases_and_shorts() {
        let err = parse(&args("--help")).unwrap_err();
        let help = err.help().expect("help text").to_string();
        for spec in OPTIONS {
            assert!(
                help.contains(&format!("--{}", spec.name)),
                "--{} missing from --help",
                spec.name
            );
            for alias in spec.aliases {
                assert!(help.contains(alias), "alias {alias} missing from --help");
            }
            if let Some(s) = spec.short {
                assert!(help.contains(&format!("-{s},")), "-{s} missing from --help");
            }
        }
        assert!(help.contains("[not yet: no issue filed yet]"));
    }
}
