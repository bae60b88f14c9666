//! ruwsgi-config: uWSGI-compatible configuration.
//!
//! INTERIM STUB written so other crates can compile against the public API below; the
//! foundation issue replaces the internals (option table, ini/env/json/yaml/toml sources,
//! placeholders, errors with sources). The public API of [`Config`] stays.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

/// The merged configuration: every option's values, by canonical option name
/// (`processes`, not `workers`), defaults from the option table applied.
#[derive(Debug, Clone, Default)]
pub struct Config {
    values: BTreeMap<String, Vec<String>>,
}

impl Config {
    /// Whether a flag option is on (`master`, `vacuum`, ...). A flag set with a boolean
    /// value (`true/false/on/off/yes/no/1/0`) takes the last one.
    pub fn flag(&self, name: &str) -> bool {
        self.last(name).is_some_and(|v| !matches!(v, "0" | "false" | "off" | "no"))
    }

    /// The effective value of a scalar option (the last one given, or its default).
    pub fn str(&self, name: &str) -> Option<&str> {
        self.last(name)
    }

    /// A numeric option, validated at load time (so no error here).
    pub fn u64(&self, name: &str) -> Option<u64> {
        self.last(name).and_then(|v| v.parse().ok())
    }

    /// Every value of a list option (`socket`, `env`, `pythonpath`, ...), in order.
    pub fn list(&self, name: &str) -> Vec<&str> {
        self.values.get(name).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default()
    }

    /// Whether the option was set by any source (not just defaulted).
    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    fn last(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(|v| v.last()).map(String::as_str)
    }

    /// Interim: `--key value` / `--key=value` / `--flag` arguments only.
    pub fn from_args(args: &[String]) -> Config {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut i = 0;
        while i < args.len() {
            let a = args[i].trim_start_matches('-');
            if let Some((k, v)) = a.split_once('=') {
                values.entry(k.to_string()).or_default().push(v.to_string());
            } else if i + 1 < args.len() && !args[i + 1].starts_with("--") {
                values.entry(a.to_string()).or_default().push(args[i + 1].clone());
                i += 1;
            } else {
                values.entry(a.to_string()).or_default().push("1".to_string());
            }
            i += 1;
        }
        Config { values }
    }
}
