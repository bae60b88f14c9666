//! Reading every source into one ordered list of entries, then validating them into a
//! [`Config`], with uWSGI's semantics:
//!
//! 1. `UWSGI_*` environment variables, then the command line in order (its bare file
//!    arguments last, as getopt leaves them), each config file spliced in where it is named.
//!    Config-language keywords act as the entries arrive: `if-*` / `for` govern the entries
//!    after them until `endif` / `endfor` (one level, as uWSGI: an inner `if-*` narrows the
//!    outer one and the first `endif` ends both), `%(_)` is the tested value.
//! 2. `$(VAR)`, `@(file)` and `%(key)` substitutions over every value.
//! 3. Each entry is checked against the option table: unknown keys warn (error on the command
//!    line and under `strict`, whose last value counts wherever it was set), values are
//!    validated and normalised (a number option's value from a file or variable that uWSGI
//!    would read with `atoi` is read so, with a warning: `uwsgi_number`), options that are
//!    not implemented yet warn once.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use crate::config::{Config, Line};
use crate::error::{Error, ErrorKind};
use crate::expand::{self, Magic};
use crate::provider;
use crate::readers::{self, Format};
use crate::source::Origin;
use crate::table::{self, parse_bool, Kind, OptionSpec, Status, Typed};
use crate::value::Value;

/// The hook actions ruwsgi runs (the match in `ruwsgi-process` `hooks.rs`, which config cannot
/// depend on); any other draws a warning that it has no effect.
const HOOK_ACTIONS: &[&str] = &["exec", "print", "log", "mkdir", "unlink", "chdir"];

/// The hook options, whose values are `ACTION:ARGUMENTS` with an action of [`HOOK_ACTIONS`].
const HOOK_OPTIONS: &[&str] = &["hook-pre-app", "hook-master-start", "hook-post-fork"];

/// uWSGI's internal variables, which are not options (uWSGI skips them when it reads
/// `UWSGI_*` options from the environment).
const INTERNAL_ENV: &[&str] = &[
    "UWSGI_RELOADS",
    "UWSGI_VASSALS_DIR",
    "UWSGI_EMPEROR_FD",
    "UWSGI_BROODLORD_NUM",
    "UWSGI_EMPEROR_FD_CONFIG",
    "UWSGI_EMPEROR_PROXY",
    "UWSGI_JAIL_PID",
    "UWSGI_ORIGINAL_PROC_NAME",
];

#[derive(Debug, Clone)]
struct Entry {
    /// The key as written, normalised (`-` for `_`, no leading dashes).
    key: String,
    /// The key exactly as written, for messages.
    written: String,
    value: Option<String>,
    origin: Origin,
    /// A `set-placeholder` definition: a value for `%(key)`, not an option.
    placeholder_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Logic {
    IfEnv,
    IfNotEnv,
    IfExists,
    IfNotExists,
    IfFile,
    IfNotFile,
    IfDir,
    IfNotDir,
    IfOpt,
    IfNotOpt,
    For,
}

impl Logic {
    fn from_name(name: &str) -> Option<Logic> {
        Some(match name {
            "if-env" => Logic::IfEnv,
            "if-not-env" => Logic::IfNotEnv,
            "if-exists" => Logic::IfExists,
            "if-not-exists" => Logic::IfNotExists,
            "if-file" => Logic::IfFile,
            "if-not-file" => Logic::IfNotFile,
            "if-dir" => Logic::IfDir,
            "if-not-dir" => Logic::IfNotDir,
            "if-opt" => Logic::IfOpt,
            "if-not-opt" => Logic::IfNotOpt,
            "for" => Logic::For,
            _ => return None,
        })
    }
}

/// Collects entries from every source, then builds the [`Config`].
#[derive(Debug)]
pub(crate) struct Loader {
    env: Vec<(String, String)>,
    cwd: PathBuf,
    entries: Vec<Entry>,
    logic: Option<(Logic, String)>,
    logic_running: bool,
    /// Whether `strict` is on: its last value once everything is read governs every entry
    /// (it can be turned off again: `strict = false`).
    strict: bool,
    first_magic: Option<Magic>,
    last_file: Option<String>,
    includes: Vec<String>,
    /// `inherit` files, loaded once everything else is read (uWSGI runs `inherit` after
    /// the rest of the configuration, so a template's values come last).
    inherits: Vec<(String, Origin)>,
    warnings: Vec<String>,
    /// The (file, line) pairs whose text held a template placeholder before the magic
    /// variables were expanded (which eats ERB's `<%= … %>` as uWSGI does).
    template_lines: HashSet<(String, usize)>,
}

fn is_end(name: &str) -> bool {
    matches!(name, "end" | "endif" | "endfor" | "end-if" | "end-for")
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

impl Loader {
    pub(crate) fn new(env: Vec<(String, String)>, cwd: PathBuf) -> Loader {
        Loader {
            env,
            cwd,
            entries: Vec::new(),
            logic: None,
            logic_running: false,
            strict: false,
            first_magic: None,
            last_file: None,
            includes: Vec::new(),
            inherits: Vec::new(),
            warnings: Vec::new(),
            template_lines: HashSet::new(),
        }
    }

    fn getenv(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Adds the `UWSGI_*` variables of the environment.
    pub(crate) fn add_env(&mut self) -> Result<(), Error> {
        let vars: Vec<(String, String)> = self
            .env
            .iter()
            .filter(|(k, _)| {
                k.starts_with("UWSGI_") && k.len() > 6 && !INTERNAL_ENV.contains(&k.as_str())
            })
            .cloned()
            .collect();
        for (k, v) in vars {
            let key = k[6..].to_lowercase().replace('_', "-");
            self.add(&key, Some(v), Origin::Env(k))?;
        }
        Ok(())
    }

    /// Adds one entry from any source, applying the config-language state.
    pub(crate) fn add(
        &mut self,
        key: &str,
        value: Option<String>,
        origin: Origin,
    ) -> Result<(), Error> {
        let written = key.trim_start_matches('-').to_string();
        let key = table::normalize(key);
        if !self.logic_running {
            if is_end(&key) {
                self.logic = None;
            } else if let Some((logic, arg)) = self.logic.clone() {
                let values = self.evaluate(logic, &arg, value.as_deref());
                self.logic_running = true;
                let mut result = Ok(());
                for v in values {
                    result = self.add_one(&key, &written, v, origin.clone());
                    if result.is_err() {
                        break;
                    }
                }
                self.logic_running = false;
                return result;
            }
        }
        self.add_one(&key, &written, value, origin)
    }

    /// The values an entry governed by `logic` expands to (none when the condition is false).
    fn evaluate(&self, logic: Logic, arg: &str, value: Option<&str>) -> Vec<Option<String>> {
        let with = |datum: &str| vec![value.map(|v| v.replace("%(_)", datum))];
        let (name, expected) = match arg.split_once('=') {
            Some((n, e)) => (n, Some(e)),
            None => (arg, None),
        };
        let path = self.cwd.join(arg);
        match logic {
            Logic::IfEnv => match self.getenv(name) {
                Some(v) if expected.is_none_or(|e| e == v) => with(v),
                _ => vec![],
            },
            Logic::IfNotEnv => match self.getenv(name) {
                Some(v) if expected.is_none_or(|e| e == v) => vec![],
                v => with(v.unwrap_or("")),
            },
            Logic::IfOpt => match self.exported(name) {
                Some(v) if expected.is_none_or(|e| e == v) => with(&v),
                _ => vec![],
            },
            Logic::IfNotOpt => match self.exported(name) {
                Some(v) if expected.is_none_or(|e| e == v) => vec![],
                v => with(&v.unwrap_or_default()),
            },
            Logic::IfExists if path.exists() => with(arg),
            Logic::IfNotExists if !path.exists() => with(arg),
            Logic::IfFile if path.is_file() => with(arg),
            Logic::IfNotFile if !path.is_file() => with(arg),
            Logic::IfDir if path.is_dir() => with(arg),
            Logic::IfNotDir if !path.is_dir() => with(arg),
            Logic::For => arg
                .split(' ')
                .filter(|s| !s.is_empty())
                .flat_map(with)
                .collect(),
            _ => vec![],
        }
    }

    /// uWSGI's `uwsgi_get_exported_opt`: the first value given for `key` (exactly as written,
    /// else under any name of the same option). A key without a value reads as "".
    fn exported(&self, key: &str) -> Option<String> {
        let key = table::normalize(key);
        let found = self.entries.iter().find(|e| e.key == key).or_else(|| {
            let spec = table::lookup(&key)?;
            self.entries
                .iter()
                .find(|e| table::lookup(&e.key).is_some_and(|s| s.name == spec.name))
        })?;
        Some(found.value.clone().unwrap_or_default())
    }

    fn add_one(
        &mut self,
        key: &str,
        written: &str,
        value: Option<String>,
        origin: Origin,
    ) -> Result<(), Error> {
        let spec = table::lookup(key);
        self.entries.push(Entry {
            key: key.to_string(),
            written: written.to_string(),
            value: value.clone(),
            origin: origin.clone(),
            placeholder_only: false,
        });
        let Some(spec) = spec else { return Ok(()) };
        match spec.kind {
            Kind::Logic => {
                if let Some(logic) = Logic::from_name(spec.name) {
                    let arg = value.unwrap_or_default();
                    self.logic = Some((logic, arg));
                }
            }
            Kind::Include => {
                let value = value.filter(|v| !v.is_empty()).ok_or_else(|| {
                    Error::new(ErrorKind::MissingValue {
                        option: spec.name.to_string(),
                        origin: origin.clone(),
                    })
                })?;
                if spec.name == "inherit" {
                    self.inherits.push((value, origin));
                } else {
                    let format = include_format(spec.name, &value, &origin)?;
                    self.include(format, &value, &origin)?;
                }
            }
            _ if spec.name == "set" => {
                // uWSGI's `set`: an option as if written here, or else a placeholder.
                let v = value.unwrap_or_default();
                let Some((name, set)) = v.split_once('=') else {
                    return Err(Error::bad_value(spec.name, &v, "NAME=VALUE", &origin));
                };
                let key = table::normalize(name);
                if table::lookup(&key).is_some() {
                    return self.add_one(&key, name, Some(set.to_string()), origin);
                }
                self.entries.push(Entry {
                    key,
                    written: name.to_string(),
                    value: Some(set.to_string()),
                    origin,
                    placeholder_only: true,
                });
            }
            _ if spec.name == "strict" => {
                // As uWSGI's `uwsgi_opt_true`: only false/off/no/0 turn it off.
                self.strict = parse_bool(value.as_deref().unwrap_or("").trim()).unwrap_or(true);
            }
            _ if spec.name == "set-placeholder" => {
                let v = value.unwrap_or_default();
                let Some((name, ph)) = v.split_once('=') else {
                    return Err(Error::bad_value(spec.name, &v, "NAME=VALUE", &origin));
                };
                if table::lookup(name).is_some() {
                    return Err(Error::bad_value(
                        spec.name,
                        &v,
                        "a NAME that is not an option (it would hide the option)",
                        &origin,
                    ));
                }
                self.entries.push(Entry {
                    key: table::normalize(name),
                    written: name.to_string(),
                    value: Some(ph.to_string()),
                    origin,
                    placeholder_only: true,
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// Loads a config file where it is named (`ini = file[:section]`, `--yaml x.yml`, ...).
    pub(crate) fn include(
        &mut self,
        format: Format,
        name: &str,
        origin: &Origin,
    ) -> Result<(), Error> {
        let (mut file, section) = match name.rsplit_once(':') {
            Some((f, s)) if !s.is_empty() && !s.contains('/') => (f.to_string(), s.to_string()),
            Some((f, "")) => (f.to_string(), "uwsgi".to_string()),
            _ => (name.to_string(), "uwsgi".to_string()),
        };
        if file.is_empty() {
            // `ini = :section`: another section of the file being read.
            file = self.last_file.clone().ok_or_else(|| {
                Error::logic(
                    format!("{name}: \":section\" needs a config file to refer to"),
                    origin,
                )
            })?;
        }
        let id = format!("{file}:{section}");
        if self.includes.contains(&id) {
            return Err(Error::logic(
                format!("config file {id} includes itself"),
                origin,
            ));
        }
        let path = self.cwd.join(&file);
        let raw = std::fs::read(&path).map_err(|source| {
            Error::new(ErrorKind::Read {
                path: file.clone(),
                origin: origin.clone(),
                source,
            })
        })?;
        let raw = String::from_utf8_lossy(&raw);
        // `%x` is the section only when one was named.
        let magic_name = if section != "uwsgi" {
            format!("{file}:{section}")
        } else {
            file.clone()
        };
        let magic = Magic::for_file(&magic_name, &self.cwd, self.first_magic.as_ref());
        if self.first_magic.is_none() {
            self.first_magic = Some(magic.clone());
        }
        for (i, line) in raw.lines().enumerate() {
            if has_template(line) {
                self.template_lines.insert((file.clone(), i + 1));
            }
        }
        let text = magic.apply(&raw);
        let (pairs, found) = readers::read(format, &text, &section).map_err(|e| {
            Error::new(ErrorKind::Syntax {
                path: file.clone(),
                message: e.0,
            })
        })?;
        if !found {
            self.warn(format!(
                "section [{section}] not found in config file {file} (named by {origin})"
            ));
        }
        let previous = self.last_file.replace(file.clone());
        self.includes.push(id);
        let mut result = Ok(());
        for pair in pairs {
            let value = match format {
                Format::Yaml => pair.value.map(|v| unquote(&v).to_string()),
                _ => pair.value,
            };
            result = self.add(
                &pair.key,
                value,
                Origin::File {
                    path: file.clone(),
                    line: pair.line,
                },
            );
            if result.is_err() {
                break;
            }
        }
        self.includes.pop();
        if previous.is_some() {
            self.last_file = previous;
        }
        result
    }

    fn warn(&mut self, message: String) {
        log::warn!("{message}");
        self.warnings.push(message);
    }

    /// Runs the substitution passes and validates every entry into a [`Config`].
    pub(crate) fn finish(mut self) -> Result<Config, Error> {
        // `inherit` files last, in the order named (one may name another).
        while !self.inherits.is_empty() {
            let (value, origin) = self.inherits.remove(0);
            let format = include_format("inherit", &value, &origin)?;
            self.include(format, &value, &origin)?;
        }
        // Keys some `%(key)` refers to are placeholders (computed before substitution).
        let mut placeholders: HashSet<String> = HashSet::new();
        for e in &self.entries {
            if e.placeholder_only {
                placeholders.insert(e.key.clone());
            }
            if let Some(v) = &e.value {
                placeholders.extend(
                    expand::referenced_keys(v)
                        .into_iter()
                        .map(|k| table::normalize(&k)),
                );
            }
        }
        self.substitute()?;
        let mut config = Config::default();
        let mut warned_not_yet: BTreeSet<&'static str> = BTreeSet::new();
        let entries = std::mem::take(&mut self.entries);
        for e in &entries {
            if e.placeholder_only {
                config.lines.push(Line::placeholder(
                    &e.key,
                    e.value.as_deref().unwrap_or(""),
                    &e.origin,
                ));
                continue;
            }
            let Some(spec) = table::lookup(&e.key) else {
                self.unknown(e, placeholders.contains(&e.key), &mut config)?;
                continue;
            };
            if spec.kind == Kind::Logic {
                continue;
            }
            let typed = self.validate(spec, e.value.as_deref(), &e.origin)?;
            let value = Value::new(typed, e.origin.clone());
            provider::check(spec, &value)?;
            if let Status::NotYet(issue) = spec.status {
                if warned_not_yet.insert(spec.name) {
                    let until = match issue.number {
                        Some(n) => format!(" until issue {n}"),
                        None => String::new(),
                    };
                    self.warn(format!(
                        "option {} is parsed but not implemented yet ({}); it has no effect{until}",
                        spec.name, issue.title
                    ));
                }
            }
            self.check_extra(spec, &value.value, &e.origin);
            config.push_value(spec, value);
        }
        config.warnings = std::mem::take(&mut self.warnings);
        Ok(config)
    }

    fn unknown(&mut self, e: &Entry, placeholder: bool, config: &mut Config) -> Result<(), Error> {
        // `strict` as it stands after every source was read, wherever it was set (uWSGI
        // checks once everything is read).
        let strict = self.strict;
        if placeholder && !strict {
            config.lines.push(Line::placeholder(
                &e.key,
                e.value.as_deref().unwrap_or(""),
                &e.origin,
            ));
            return Ok(());
        }
        let suggestion = table::suggest(&e.key).map(str::to_string);
        if strict || matches!(e.origin, Origin::Arg(_)) {
            if placeholder {
                return Err(Error::logic(
                    format!(
                        "{} is not an option: under strict, placeholders must be declared with set-placeholder = {}=VALUE",
                        e.written, e.written
                    ),
                    &e.origin,
                ));
            }
            return Err(Error::new(ErrorKind::UnknownOption {
                name: e.written.clone(),
                origin: e.origin.clone(),
                suggestion,
            }));
        }
        let spelled = e.origin.spell(&e.written);
        let hint = match &suggestion {
            Some(s) => format!(": did you mean {}?", e.origin.spell(s)),
            None => String::new(),
        };
        self.warn(format!(
            "unknown option {spelled} ({}){hint} (ignored; `strict` makes this an error)",
            e.origin
        ));
        Ok(())
    }

    /// Checks that a value is given where one is needed and has its option's form, and reads
    /// it by its option's kind ([`Kind::read`]); whether it has the kind's type is the typed
    /// extraction's check ([`provider::check`]).
    fn validate(
        &mut self,
        spec: &OptionSpec,
        value: Option<&str>,
        origin: &Origin,
    ) -> Result<Typed, Error> {
        let raw = value.unwrap_or("");
        let missing = || {
            Error::new(ErrorKind::MissingValue {
                option: spec.name.to_string(),
                origin: origin.clone(),
            })
        };
        match spec.kind {
            // A flag alone is on: `Kind::read` reads "" as true.
            Kind::Flag => {}
            Kind::Int if raw.trim().is_empty() => {
                let implied = spec.implied.ok_or_else(missing)?;
                return Ok(spec.kind.read(implied).0);
            }
            Kind::Int => {}
            Kind::Str | Kind::List | Kind::KeyValList | Kind::Include => {
                if raw.is_empty() {
                    return spec
                        .implied
                        .map(|v| Typed::Text(v.to_string()))
                        .ok_or_else(missing);
                }
                self.check_form(spec, raw, origin)?;
                self.warn_leftover_text(spec, raw, origin);
                return Ok(Typed::Text(raw.to_string()));
            }
            Kind::Logic => return Ok(Typed::Text(raw.to_string())),
        }
        let (typed, word) = spec.kind.read(raw);
        if let Some(word) = word {
            self.warn_trailing_text(spec, &word, raw, origin);
        }
        let lenient = !self.strict && !matches!(origin, Origin::Arg(_));
        if let (Kind::Int, Typed::Text(_), true) = (spec.kind, &typed, lenient) {
            if let Some((n, why)) = uwsgi_number(raw, self.leftover(raw, origin)) {
                self.warn(format!(
                    "{} = {raw} ({origin}): {why}; read as {n}{}, as uWSGI does; write a number",
                    spec.name,
                    meaning(spec.name, n)
                ));
                return Ok(Typed::Num(n));
            }
        }
        Ok(typed)
    }

    /// Warns about a text value that still holds a template placeholder or an unset
    /// `$(VAR)`: it is used as written, as uWSGI uses it, and is probably not what was meant.
    fn warn_leftover_text(&mut self, spec: &OptionSpec, raw: &str, origin: &Origin) {
        // uWSGI's own `${...}` and `%(...)` syntax of log lines and routing rules is not a
        // leftover.
        if spec.name.starts_with("log-") || table::is_routing(spec.name) {
            return;
        }
        if let Some(why) = self.leftover(raw, origin) {
            self.warn(format!(
                "{} = {raw} ({origin}): {why}; used as written, as uWSGI does",
                spec.name
            ));
        }
    }

    /// The warning for a value read out of `60   ; comment` (see [`Kind::read`]).
    fn warn_trailing_text(&mut self, spec: &OptionSpec, word: &str, raw: &str, origin: &Origin) {
        self.warn(format!(
            "{}: reading {word} out of {raw:?} ({origin}): text after a value is not a comment in uWSGI config files",
            spec.name
        ));
    }

    /// Forms some options must have.
    fn check_form(&self, spec: &OptionSpec, v: &str, origin: &Origin) -> Result<(), Error> {
        let bad = |expected: &str| Err(Error::bad_value(spec.name, v, expected, origin));
        match spec.name {
            "chmod-socket" | "umask" => {
                let ok = (3..=4).contains(&v.len()) && v.chars().all(|c| ('0'..='7').contains(&c));
                if !ok {
                    return bad(if spec.name == "umask" {
                        "an octal mask such as 022"
                    } else {
                        "an octal mode such as 660 (or the option alone for 666)"
                    });
                }
            }
            "protocol" if !matches!(v, "uwsgi" | "http" | "http11") => {
                return bad("uwsgi, http or http11 (the protocols ruwsgi speaks)");
            }
            "env" | "mount" if !v.contains('=') => {
                return bad(if spec.name == "env" {
                    "NAME=VALUE"
                } else {
                    "MOUNTPOINT=APP such as /app=app.py"
                });
            }
            "static-map" | "static-map2" if !v.contains('=') => {
                return bad("MOUNTPOINT=PATH such as /static=./static")
            }
            name if HOOK_OPTIONS.contains(&name) && !v.contains(':') => {
                return bad("ACTION:ARGUMENTS such as exec:./manage.py migrate");
            }
            _ if spec.kind == Kind::KeyValList => {
                let head = v.split_whitespace().next().unwrap_or("");
                if head.split(',').any(|item| !item.contains('=')) {
                    return bad("KEY=VALUE[,KEY=VALUE...] such as name=mycache,items=100");
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Warnings about values that parse but will not do everything the user expects.
    fn check_extra(&mut self, spec: &OptionSpec, value: &str, origin: &Origin) {
        match spec.name {
            "plugins" => {
                for plugin in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let builtin = plugin.starts_with("python")
                        || matches!(plugin, "http" | "corerouter" | "logfile");
                    if !builtin {
                        self.warn(format!(
                            "plugin {plugin:?} ({origin}) is not built into ruwsgi (Python and HTTP are); options that need it will not work"
                        ));
                    }
                }
            }
            name if HOOK_OPTIONS.contains(&name) => {
                let action = value.split(':').next().unwrap_or("");
                // uWSGI 2.0 users remap SIGTERM to a graceful stop this way (the popular
                // tiangolo/uwsgi-nginx image does); ruwsgi's SIGTERM already is one.
                let default_behaviour = spec.name == "hook-master-start"
                    && value.split_whitespace().collect::<Vec<_>>()
                        == ["unix_signal:15", "gracefully_kill_them_all"];
                if !HOOK_ACTIONS.contains(&action) && !default_behaviour {
                    self.warn(format!(
                        "{}: hook action {action:?} ({origin}) is not supported (ruwsgi runs {}); it has no effect",
                        spec.name,
                        HOOK_ACTIONS.join(", ")
                    ));
                }
            }
            _ => {}
        }
    }

    /// The `$(VAR)`, `@(file)` and `%(key)` passes, in uWSGI's order.
    fn substitute(&mut self) -> Result<(), Error> {
        self.substitute_pass('$', |l, k| Ok(l.getenv(k).map(str::to_string)))?;
        self.substitute_pass('@', |l, k| {
            let text = std::fs::read_to_string(l.cwd.join(k))
                .map_err(|e| format!("@({k}): cannot read {k:?}: {e}"))?;
            let text = text
                .strip_suffix('\n')
                .or_else(|| text.strip_suffix('\r'))
                .unwrap_or(&text);
            Ok(Some(text.to_string()))
        })?;
        self.substitute_pass('%', |l, k| {
            Ok(expand::placeholder(k, &|k: &str| l.exported(k)))
        })
    }

    /// One `symbol(...)` pass over every substitutable value, in order: a later entry's
    /// lookups see the earlier entries' values already rewritten by this pass.
    fn substitute_pass(
        &mut self,
        symbol: char,
        lookup: impl Fn(&Self, &str) -> Result<Option<String>, String>,
    ) -> Result<(), Error> {
        for i in 0..self.entries.len() {
            if !self.substitutable(i) {
                continue;
            }
            let Some(v) = self.entries[i].value.as_deref() else {
                continue;
            };
            let v = expand::pass(v, symbol, |k| lookup(self, k))
                .map_err(|m| Error::logic(m, &self.entries[i].origin))?;
            self.entries[i].value = Some(v);
        }
        Ok(())
    }

    /// Logic keywords and includes were acted on as they arrived; their values stay as given.
    fn substitutable(&self, i: usize) -> bool {
        !table::lookup(&self.entries[i].key)
            .is_some_and(|s| matches!(s.kind, Kind::Logic | Kind::Include))
    }
}

/// The format of the file an include option names: the option's own (`ini`, `yaml`, ...),
/// or for `include` and `inherit` the file's extension, as uWSGI's `uwsgi_opt_load`.
fn include_format(option: &str, value: &str, origin: &Origin) -> Result<Format, Error> {
    if let Some(format) = Format::from_option(option) {
        return Ok(format);
    }
    let file = match value.rsplit_once(':') {
        Some((f, s)) if !s.contains('/') => f,
        _ => value,
    };
    Format::from_path(file).ok_or_else(|| {
        Error::bad_value(
            option,
            value,
            "a config file whose name ends in .ini, .yaml, .yml, .json, .js, .toml or .xml",
            origin,
        )
    })
}

/// What uWSGI (whose numbers go through `atoi`) reads out of a number option's value that
/// is not a number, for the forms real config files carry: the leading number of a value
/// followed by text (`40-modoboab_processes`, a `%n` that met `%nb_processes`), 0 for a
/// true/false word (`cheaper = true`), and 0 for what [`Loader::leftover`] found (an unset
/// `$(VAR)`, a template placeholder). `None` for anything else (`four`), which stays an
/// error. Returns the number and what the value is.
fn uwsgi_number(raw: &str, leftover: Option<String>) -> Option<(u64, String)> {
    let v = raw.trim();
    if parse_bool(v).is_some() {
        return Some((0, format!("{v:?} is a true/false word, not a number")));
    }
    let digits = v.len() - v.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 {
        let n = v[..digits].parse().ok()?;
        return Some((n, "text after the number".to_string()));
    }
    leftover.map(|why| (0, why))
}

/// Whether a line holds a template placeholder: `{{ … }}` (Jinja2, cookiecutter), `${ … }`
/// (shell, envsubst) or `<% … %>` (ERB).
fn has_template(line: &str) -> bool {
    [("{{", "}}"), ("${", "}"), ("<%", "%>")]
        .iter()
        .any(|(open, close)| line.find(open).is_some_and(|i| line[i..].contains(close)))
}

impl Loader {
    /// The unfinished business a value from `origin` may hold: an unset `$(VAR)` (set ones
    /// were substituted before), or a template placeholder, seen in the value or, for a
    /// file, in its line as written (the magic variables eat ERB's `<%= … %>`).
    fn leftover(&self, v: &str, origin: &Origin) -> Option<String> {
        if let Some((_, inner, end)) = expand::find_token(v, '$', 0) {
            return Some(format!(
                "the environment variable {} is not set",
                &v[inner..end]
            ));
        }
        let in_file = match origin {
            Origin::File { path, line } => self.template_lines.contains(&(path.clone(), *line)),
            _ => false,
        };
        (in_file || has_template(v)).then(|| "a template placeholder nobody filled in".to_string())
    }
}

/// What a number read leniently means for the options where 0 has a meaning of its own.
fn meaning(option: &str, n: u64) -> &'static str {
    match (option, n) {
        ("cheaper", 0) => ": cheaper mode off",
        ("processes", 0) => ": one worker",
        ("threads", 0) => ": one thread per worker",
        _ => "",
    }
}

/// Whether `path` is a bare command-line argument ruwsgi knows what to do with.
pub(crate) fn bare_argument(path: &str) -> Option<&'static str> {
    if let Some(f) = Format::from_path(path) {
        return Some(f.option());
    }
    let ext = Path::new(path).extension()?.to_str()?;
    matches!(ext, "py" | "wsgi").then_some("wsgi-file")
}
