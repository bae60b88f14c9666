//! The one error type of this crate. Every message names where the bad input came from
//! (`uwsgi.ini:12`, `UWSGI_FOO`, `--foo`) and what would have been accepted.

use std::fmt;

use crate::source::Origin;

/// A configuration error: the server must not start (exit status 1, as uWSGI).
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
}

/// What went wrong, with the place it came from.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An option name no table entry knows, where unknown names are refused (the command
    /// line; files and variables under `strict`).
    UnknownOption {
        /// The name as written (without leading dashes).
        name: String,
        /// Where it was given.
        origin: Origin,
        /// The closest known option, if any is close.
        suggestion: Option<String>,
    },
    /// A value that does not have the option's form.
    BadValue {
        /// The canonical option name.
        option: String,
        /// The value as given.
        value: String,
        /// What the option accepts (`a number`, `true/false, on/off, yes/no or 1/0`, ...).
        expected: String,
        /// Where it was given.
        origin: Origin,
    },
    /// An option that needs a value was given none.
    MissingValue {
        /// The canonical option name.
        option: String,
        /// Where it was given.
        origin: Origin,
    },
    /// A configuration file could not be read.
    Read {
        /// The path as given.
        path: String,
        /// Where the file was named (`--ini`, `a.ini:3`, ...).
        origin: Origin,
        /// The OS error.
        source: std::io::Error,
    },
    /// A configuration file could not be parsed (JSON, TOML, XML syntax).
    Syntax {
        /// The file.
        path: String,
        /// The parser's own message, with line and column when it has them.
        message: String,
    },
    /// Config-language misuse: an include loop, `ini = :section` outside a file, an unreadable
    /// `@(file)`, a `%(key)` that refers to itself, an undeclared placeholder under `strict`.
    Logic {
        /// What is wrong and what to do.
        message: String,
        /// Where.
        origin: Origin,
    },
    /// A typed extraction failed other than on a value's type: an options struct has a field
    /// no option of the table fills (a bug). The text is figment's own message.
    Extract {
        /// figment's message, with the key and the origin of the value when it has them.
        message: String,
    },
    /// A command-line usage error that clap reported, or a bare argument of no known kind.
    Usage(String),
    /// Not a failure: `--help` was asked. The text is the help to print (exit status 0).
    Help(String),
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The help text, when this "error" is a `--help` request (print it, exit 0).
    pub fn help(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::Help(text) => Some(text),
            _ => None,
        }
    }

    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error { kind }
    }

    pub(crate) fn bad_value(option: &str, value: &str, expected: &str, origin: &Origin) -> Error {
        Error::new(ErrorKind::BadValue {
            option: option.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
            origin: origin.clone(),
        })
    }

    pub(crate) fn logic(message: impl Into<String>, origin: &Origin) -> Error {
        Error::new(ErrorKind::Logic {
            message: message.into(),
            origin: origin.clone(),
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::UnknownOption {
                name,
                origin,
                suggestion,
            } => {
                match origin {
                    Origin::Arg(raw) => write!(f, "unknown option {raw} on the command line")?,
                    _ => write!(f, "unknown option {} ({origin})", origin.spell(name))?,
                }
                if let Some(s) = suggestion {
                    write!(f, ": did you mean {}?", origin.spell(s))?;
                }
                Ok(())
            }
            ErrorKind::BadValue {
                option,
                value,
                expected,
                origin,
            } => {
                write!(
                    f,
                    "{option}: {value:?} is not valid ({origin}); expected {expected}"
                )
            }
            ErrorKind::MissingValue { option, origin } => {
                write!(f, "{option}: a value is required ({origin})")
            }
            ErrorKind::Read { path, origin, .. } => {
                write!(f, "cannot read config file {path:?} (named by {origin})")
            }
            ErrorKind::Syntax { path, message } => write!(f, "{path}: {message}"),
            ErrorKind::Logic { message, origin } => write!(f, "{message} ({origin})"),
            ErrorKind::Extract { message } => write!(f, "typed options: {message}"),
            ErrorKind::Usage(message) | ErrorKind::Help(message) => f.write_str(message.trim_end()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}
