//! The figment side of the configuration: typed extraction over the merged values.
//!
//! The loader keeps uWSGI's reading semantics (ordered pairs with their origin, repeated keys
//! appending, the last scalar winning, includes spliced in where named, `%(key)`); figment's
//! own maps would lose the order. Once merged, every value becomes one figment [`Provider`]
//! ([`Given`]) whose [`Metadata`] names its origin (`site.ini:3`, `UWSGI_MASTER`,
//! `--processes`), over one provider of the option table's defaults ([`Defaults`]); they are
//! combined with `admerge` in the order given, so lists concatenate and the last scalar wins,
//! and each value keeps the tag of its own provider. A type error found by figment's
//! extraction therefore names the option and the file and line of the value that failed, also
//! for a value reached through an `ini =` include.
//!
//! Values are typed by their option's kind ([`Kind::read`], the one place for uWSGI's
//! leniency): a flag becomes a boolean, a number a number, anything else stays a string; a
//! flag or number that does not read stays a string too, and the extraction refuses it.

use figment::value::{Dict, Empty, Map, Value as FigmentValue};
use figment::{Figment, Metadata, Profile, Provider, Source};

use crate::error::{Error, ErrorKind};
use crate::expand;
use crate::source::Origin;
use crate::table::{self, Kind, OptionSpec, Typed, OPTIONS};
use crate::value::Value;

/// The figment of a configuration: the table's defaults, then every value given (each
/// option a source set, with its values in order: `Config::given`).
pub(crate) fn figment<'a>(
    given: impl Iterator<Item = (&'static OptionSpec, &'a [Value])>,
) -> Figment {
    let mut figment = Figment::from(Defaults);
    for (spec, values) in given {
        for value in values {
            figment = figment.admerge(Given { spec, value });
        }
    }
    figment
}

/// Checks one value against its option's type through figment's extraction, as it arrives
/// (so an invalid value is refused even when a later one would override it, as uWSGI does).
pub(crate) fn check(spec: &'static OptionSpec, value: &Value) -> Result<(), Error> {
    let figment = Figment::from(Given { spec, value });
    let result = match spec.kind {
        Kind::Flag => figment.extract_inner::<bool>(spec.name).map(drop),
        Kind::Int => figment.extract_inner::<u64>(spec.name).map(drop),
        _ => Ok(()),
    };
    result.map_err(|err| error(err, std::slice::from_ref(&value.origin)))
}

/// Our [`Error`] for a figment error: a bad value names the option, the value, the form it
/// must have and its origin, read back from the figment error's path and metadata; anything
/// else (a field no option fills: a bug) keeps figment's own message.
pub(crate) fn error(err: figment::Error, origins: &[Origin]) -> Error {
    let option = err.path.first().and_then(|name| table::lookup(name));
    let origin = err.metadata.as_ref().and_then(|md| {
        std::iter::once(&Origin::Default)
            .chain(origins)
            .find(|o| same(&metadata(o), md))
    });
    let (Some(spec), Some(origin)) = (option, origin) else {
        return Error::new(ErrorKind::Extract {
            message: err.to_string(),
        });
    };
    let (value, expected) = match &err.kind {
        figment::error::Kind::InvalidType(figment::error::Actual::Str(value), _) => {
            let mut expected = spec.kind.expected().to_string();
            if let Some((_, inner, end)) = expand::find_token(value, '$', 0) {
                let var = &value[inner..end];
                expected.push_str(&format!(" (the environment variable {var} is not set)"));
            }
            (value.clone(), expected)
        }
        figment::error::Kind::InvalidValue(actual, serde_expected) => {
            let value = match actual {
                figment::error::Actual::Unsigned(n) => n.to_string(),
                other => other.to_string(),
            };
            (
                value,
                format!("a whole number that fits a {serde_expected}"),
            )
        }
        _ => {
            return Error::new(ErrorKind::Extract {
                message: err.to_string(),
            })
        }
    };
    Error::bad_value(spec.name, &value, &expected, origin)
}

/// The metadata of a value from `origin`: figment's error text reads `... for key "processes"
/// in site.ini:3 config file`.
pub(crate) fn metadata(origin: &Origin) -> Metadata {
    let (name, source) = match origin {
        Origin::Default => ("the option table's default", None),
        Origin::Env(var) => ("environment variable", Some(var.clone())),
        Origin::Arg(arg) => ("command line", Some(arg.clone())),
        Origin::File { .. } => ("config file", Some(origin.to_string())),
    };
    let metadata = Metadata::named(name).interpolater(|_profile, keys| keys.join("."));
    match source {
        Some(source) => metadata.source(Source::Custom(source)),
        None => metadata,
    }
}

fn same(a: &Metadata, b: &Metadata) -> bool {
    a.name == b.name && a.source == b.source
}

/// A value of `kind` as figment holds it.
fn to_figment(typed: &Typed) -> FigmentValue {
    match typed {
        Typed::Bool(b) => (*b).into(),
        Typed::Num(n) => (*n).into(),
        Typed::Text(t) => t.clone().into(),
    }
}

/// One value given by one source: `name = value`, a one-element list for list options.
struct Given<'a> {
    spec: &'static OptionSpec,
    value: &'a Value,
}

impl Provider for Given<'_> {
    fn metadata(&self) -> Metadata {
        metadata(&self.value.origin)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let value = to_figment(&self.value.typed);
        let value = if self.spec.is_list() {
            vec![value].into()
        } else {
            value
        };
        let mut dict = Dict::new();
        dict.insert(self.spec.name.to_string(), value);
        Ok(Profile::Default.collect(dict))
    }
}

/// Every option of the table with its default: flags off unless the table says otherwise,
/// lists empty, an option without a default `None`. So each default lives once, in the table,
/// and a field named after no option is a missing field, not a silent default.
struct Defaults;

impl Provider for Defaults {
    fn metadata(&self) -> Metadata {
        metadata(&Origin::Default)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for spec in OPTIONS {
            let value = match (spec.kind, spec.default) {
                (Kind::Logic, _) => continue,
                _ if spec.is_list() => Vec::<FigmentValue>::new().into(),
                (kind, Some(default)) => to_figment(&kind.read(default).0),
                (Kind::Flag, None) => false.into(),
                (_, None) => Empty::None.into(),
            };
            dict.insert(spec.name.to_string(), value);
        }
        Ok(Profile::Default.collect(dict))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn every_default_reads_as_its_kind() {
        for spec in OPTIONS {
            if let Some(default) = spec.default {
                let (typed, word) = spec.kind.read(default);
                assert!(word.is_none(), "{}", spec.name);
                if matches!(spec.kind, Kind::Flag | Kind::Int) {
                    assert!(
                        !matches!(typed, Typed::Text(_)),
                        "{}'s default {default:?} is not a {:?}",
                        spec.name,
                        spec.kind
                    );
                }
            }
        }
    }

    #[test]
    fn figment_errors_name_the_file_and_line() {
        let mut config = Config::default();
        let origin = Origin::File {
            path: "other.ini".into(),
            line: 3,
        };
        config.push(table::lookup("processes").unwrap(), "lots", origin);
        let err = figment(config.given())
            .extract_inner::<u64>("processes")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid type: found string \"lots\", expected u64 for key \"processes\" in other.ini:3 config file"
        );
        assert_eq!(
            error(err, &[config.values("processes")[0].origin.clone()]).to_string(),
            "processes: \"lots\" is not valid (other.ini:3); expected a whole number such as 4"
        );
    }

    #[test]
    fn lists_concatenate_and_the_last_scalar_wins() {
        let mut config = Config::default();
        let arg = |a: &str| Origin::Arg(a.into());
        let socket = table::lookup("socket").unwrap();
        let processes = table::lookup("processes").unwrap();
        config.push(socket, "a", arg("--socket"));
        config.push(processes, "2", arg("-p"));
        config.push(socket, "b", Origin::Env("UWSGI_SOCKET".into()));
        config.push(processes, "3", arg("--workers"));
        let figment = figment(config.given());
        assert_eq!(
            figment.extract_inner::<Vec<String>>("socket").unwrap(),
            ["a", "b"]
        );
        assert_eq!(figment.extract_inner::<u64>("processes").unwrap(), 3);
        assert_eq!(figment.extract_inner::<u64>("listen").unwrap(), 100);
        assert!(!figment.extract_inner::<bool>("master").unwrap());
        assert_eq!(
            figment.extract_inner::<Option<String>>("module").unwrap(),
            None
        );
    }
}
