//! ruwsgi-config: uWSGI-compatible configuration.
//!
//! # The option table
//!
//! [`OPTIONS`] declares every option once: name, aliases (`processes`/`workers`), uWSGI's
//! short flag (`-p`), [`Kind`], typed default, whether it works yet ([`Status`]) and a help
//! line. The command line ([`command`], clap), the ini/yaml/json/toml/xml keys, the
//! `UWSGI_*` variables, `--help` and the README's migration table all come from it.
//!
//! # Sources and precedence
//!
//! [`Config::load`] reads, as uWSGI 2.0 does: the `UWSGI_*` environment variables first,
//! then the command line in order with each config file (`--ini file[:section]`, `--yaml`,
//! `--json`, `--toml`, `--xml`, `ini = ...` inside a file, or a bare `x.ini` argument) spliced
//! in where it is named; bare `app.py` / `x.wsgi` arguments set `wsgi-file`. Later scalars
//! win, lists accumulate. Then `$(VAR)`, `@(file)` and `%(key)` substitutions (with `%(a + b)`
//! arithmetic), after the magic variables (`%d %p %s %n %e %c %x %v %h %k %%` ...) were
//! applied to each file's text. The config language (`if-env`, `if-not-env`, `if-exists`,
//! `if-not-exists`, `if-file`, `if-not-file`, `if-dir`, `if-not-dir`, `if-opt`, `if-not-opt`,
//! `endif`, `for`, `endfor`) acts as entries arrive.
//!
//! # Validation and errors
//!
//! Every value is read by its option's [`Kind`] and extracted through figment as that type:
//! flags take `true/false`, `on/off`, `yes/no`, `1/0` or nothing; numbers are whole numbers;
//! some options have a form (`chmod-socket` octal, `env` `NAME=VALUE`, hooks `ACTION:ARGS`). A bad value is an
//! [`Error`] naming the option, the value, the expected form and the [`Origin`], except, in
//! files and variables without `strict`, what real configs carry in number options (text
//! after a number, a true/false word, an unset `$(VAR)`, a template placeholder): read as
//! uWSGI's `atoi` reads it, with a warning. An unknown key is an error on the command line
//! and under `strict` (its last value, wherever it is set, as uWSGI checks once all is
//! read); in files and variables it is a warning naming the source and the closest option
//! (uWSGI ignores it silently). Options that parse but are not implemented yet log one
//! warning each.
//!
//! Values keep their origin: [`Config::show`] is `--show-config`.
//!
//! # Typed options
//!
//! [`Config::extract`] turns the merged values into a serde-derived options struct through
//! figment: each value is a figment provider whose metadata names its origin, over the table's
//! defaults, so every option is present (a field named after no option is an error) and a
//! value of the wrong type is an [`Error`] naming the option, the value, the expected form and
//! the file and line. Each value is checked that way as it is loaded, too.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod cli;
mod config;
mod error;
mod expand;
mod loader;
mod provider;
mod readers;
mod source;
mod table;
mod value;

pub use cli::command;
pub use config::Config;
pub use error::{Error, ErrorKind};
pub use expand::Magic;
pub use readers::{read as read_pairs, Format, Pair, SyntaxError};
pub use source::Origin;
pub use table::{
    is_routing, lookup, migration_table, suggest, Issue, Kind, OptionSpec, Status, OPTIONS,
};
pub use value::Value;

use std::path::PathBuf;

impl Config {
    /// Loads the configuration from the command line (`args` without the program name) and
    /// the environment (`UWSGI_*` variables, and what `$(VAR)` / `if-env` read), resolving
    /// relative paths against the current directory.
    pub fn load<A, E>(args: A, env: E) -> Result<Config, Error>
    where
        A: IntoIterator<Item = String>,
        E: IntoIterator<Item = (String, String)>,
    {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Config::load_in(args, env, cwd)
    }

    /// [`Config::load`] with relative paths resolved against `cwd`.
    pub fn load_in<A, E>(args: A, env: E, cwd: PathBuf) -> Result<Config, Error>
    where
        A: IntoIterator<Item = String>,
        E: IntoIterator<Item = (String, String)>,
    {
        let args: Vec<String> = args.into_iter().collect();
        let mut loader = loader::Loader::new(env.into_iter().collect(), cwd);
        loader.add_env()?;
        let (entries, bare) = cli::parse(&args)?;
        for e in entries {
            loader.add(e.name, e.value, e.origin)?;
        }
        for arg in bare {
            let Some(option) = loader::bare_argument(&arg) else {
                return Err(Error::new(ErrorKind::Usage(format!(
                    "don't know what to do with the argument {arg:?}: give an app (.py, .wsgi) or a config file \
                     (.ini, .yaml, .yml, .json, .toml, .xml)"
                ))));
            };
            loader.add(option, Some(arg.clone()), Origin::Arg(arg))?;
        }
        loader.finish()
    }
}

#[cfg(test)]
mod tests;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
