//! The merged configuration and what reads it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::error::Error;
use crate::provider;
use crate::source::Origin;
use crate::table::{self, OptionSpec};
use crate::value::Value;

/// One line of `--show-config`, in the order the values were given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) origin: Origin,
    pub(crate) placeholder: bool,
}

impl Line {
    pub(crate) fn placeholder(key: &str, value: &str, origin: &Origin) -> Line {
        Line {
            key: key.to_string(),
            value: value.to_string(),
            origin: origin.clone(),
            placeholder: true,
        }
    }
}

/// The merged configuration: every option's values by canonical option name (`processes`,
/// not `workers`), each with its origin; the table's defaults apply where no source set one.
///
/// Names passed to the accessors may be any name of an option (aliases resolve:
/// `flag("lazy")` reads `lazy-apps`).
#[derive(Debug, Clone, Default)]
pub struct Config {
    values: BTreeMap<&'static str, Vec<Value>>,
    pub(crate) lines: Vec<Line>,
    pub(crate) warnings: Vec<String>,
}

fn canonical(name: &str) -> Option<&'static str> {
    table::lookup(name).map(|o| o.name)
}

impl Config {
    pub(crate) fn push_value(&mut self, spec: &'static OptionSpec, value: Value) {
        self.lines.push(Line {
            key: spec.name.to_string(),
            value: value.value.clone(),
            origin: value.origin.clone(),
            placeholder: false,
        });
        self.values.entry(spec.name).or_default().push(value);
    }

    /// Adds a value as its option's kind reads it (tests).
    #[cfg(test)]
    pub(crate) fn push(&mut self, spec: &'static OptionSpec, raw: &str, origin: Origin) {
        self.push_value(spec, Value::new(spec.kind.read(raw).0, origin));
    }

    /// Every option a source set, with its values in order.
    pub(crate) fn given(&self) -> impl Iterator<Item = (&'static OptionSpec, &[Value])> + '_ {
        self.values
            .iter()
            .filter_map(|(name, values)| Some((table::lookup(name)?, values.as_slice())))
    }

    /// Every value a source set, in the order given, with its option and where it was set
    /// (`uwsgi.opt` shows them to the app, as uWSGI does; routing rules keep their order
    /// across options).
    pub fn entries(&self) -> impl Iterator<Item = (&'static OptionSpec, &str, &Origin)> + '_ {
        self.lines
            .iter()
            .filter(|l| !l.placeholder)
            .filter_map(|l| Some((table::lookup(&l.key)?, l.value.as_str(), &l.origin)))
    }

    /// The configuration as a figment: one provider of the option table's defaults, then one
    /// provider per value given, each with figment `Metadata` naming the value's origin
    /// (`site.ini:3`). Extract typed options from it with [`Config::extract`].
    pub fn figment(&self) -> figment::Figment {
        provider::figment(self.given())
    }

    /// Extracts a serde-derived options struct whose field names are option names
    /// (`#[serde(rename_all = "kebab-case")]`): every option of the table is present, with
    /// its default when no source set it, so a field named after no option is an error
    /// ("missing field"). A value of the wrong type is an [`Error`] naming the option, the
    /// value, the expected form and the file and line it came from.
    pub fn extract<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        self.figment().extract().map_err(|err| {
            let origins: Vec<Origin> = self
                .values
                .values()
                .flatten()
                .map(|v| v.origin.clone())
                .collect();
            provider::error(err, &origins)
        })
    }

    /// Whether a flag option is on (`master`, `vacuum`, ...): the last value given, which was
    /// normalised at load time from `true/on/yes/1` or the key alone (on) and
    /// `false/off/no/0` (off). Off when not given.
    pub fn flag(&self, name: &str) -> bool {
        self.last(name) == Some("true")
    }

    /// The effective value of a scalar option: the last one given, or the table's default.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.last(name)
            .or_else(|| table::lookup(name).and_then(|o| o.default))
    }

    /// A numeric option (validated at load time, so an unparsable value cannot reach here).
    pub fn u64(&self, name: &str) -> Option<u64> {
        self.str(name).and_then(|v| v.parse().ok())
    }

    /// Every value of a list option (`socket`, `env`, `pythonpath`, ...), in order.
    pub fn list(&self, name: &str) -> Vec<&str> {
        self.values(name).iter().map(|v| v.value.as_str()).collect()
    }

    /// Every value of an option with its origin.
    pub fn values(&self, name: &str) -> &[Value] {
        canonical(name)
            .and_then(|n| self.values.get(n))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Whether the option was set by any source (not just defaulted).
    pub fn is_set(&self, name: &str) -> bool {
        !self.values(name).is_empty()
    }

    /// Where the effective value of an option came from (`Origin::Default` when unset).
    pub fn origin(&self, name: &str) -> Option<&Origin> {
        self.values(name).last().map(|v| &v.origin)
    }

    /// The warnings loading produced (each was also logged through `log::warn!`).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn last(&self, name: &str) -> Option<&str> {
        self.values(name).last().map(|v| v.value.as_str())
    }

    /// The `--show-config` text: every value in the order given, as an ini file, each line
    /// commented with its origin; custom placeholders are marked as such.
    pub fn show(&self) -> String {
        let mut out = String::from(
            ";ruwsgi instance configuration (each value with where it came from)\n[uwsgi]\n",
        );
        for line in &self.lines {
            let kv = format!("{} = {}", line.key, line.value);
            let note = if line.placeholder {
                " (placeholder)"
            } else {
                ""
            };
            let _ = writeln!(out, "{kv:<40} ; {}{note}", line.origin);
        }
        out.push_str(";end of configuration\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_resolve_aliases_and_defaults() {
        let mut c = Config::default();
        let o = Origin::Arg("--x".into());
        let spec = |name| table::lookup(name).unwrap();
        c.push(spec("processes"), "4", o.clone());
        c.push(spec("lazy-apps"), "true", o.clone());
        c.push(spec("socket"), "a", o.clone());
        c.push(spec("socket"), "b", o.clone());
        c.push(spec("master"), "yes", o.clone());
        c.push(spec("master"), "false", o);
        assert_eq!(c.u64("workers"), Some(4));
        assert!(c.flag("lazy"));
        assert!(!c.flag("master"), "the last value wins");
        assert_eq!(c.list("socket"), ["a", "b"]);
        assert_eq!(c.u64("listen"), Some(100), "default from the table");
        assert!(!c.is_set("listen"));
        assert_eq!(c.str("module"), None);
        assert_eq!(c.str("callable"), Some("application"));
        assert!(c.list("no-such-option").is_empty());
        let shown = c.show();
        assert!(shown.contains("processes = 4"), "{shown}");
        assert!(shown.contains("; command line --x"), "{shown}");
    }
}
