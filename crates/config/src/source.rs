//! Where a value came from: the table's default, a `UWSGI_*` variable, the command line or a
//! line of a config file. Kept with every value so errors and `--show-config` can name it.

use std::fmt;

/// The origin of one configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// The option table's default.
    Default,
    /// An environment variable (`UWSGI_HTTP_SOCKET`).
    Env(String),
    /// The command line: the option's long name (`--processes`, also for `-p` and
    /// `--workers`); a bare argument or an unknown option as written (`app.py`, `–http`).
    Arg(String),
    /// A config file and line (line 0 when the format does not give lines: JSON, TOML).
    File {
        /// The path as it was named.
        path: String,
        /// 1-based line number, 0 if unknown.
        line: usize,
    },
}

impl Origin {
    /// How an option name is spelled in this source: `--name`, `UWSGI_NAME` or `name`.
    pub fn spell(&self, name: &str) -> String {
        match self {
            Origin::Arg(_) => format!("--{name}"),
            Origin::Env(_) => format!("UWSGI_{}", name.to_uppercase().replace('-', "_")),
            Origin::Default | Origin::File { .. } => name.to_string(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Arg(arg) => write!(f, "command line {arg}"),
            Origin::File { path, line: 0 } => f.write_str(path),
            Origin::File { path, line } => write!(f, "{path}:{line}"),
        }
    }
}
