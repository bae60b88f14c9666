//! Reading every source into one ordered list of entries, then validating them into a
//! [`Config`], with uWSGI's semantics:
//!
//! 1. `UWSGI_*` environment variables, then the command line in order (its bare file
//!    arguments last, as getopt leaves them), each config file spliced in where it is named.
//!    Config-language keywords act as the entries arrive: `if-*` / `for*` / `else` govern
//!    the entries after them until `endif` / `endfor` (one level, as uWSGI: an inner `if-*`
//!    narrows the outer one and the first `endif` ends both), `%(_)` is the tested value;
//!    `early-envdir` sets and unsets variables at once.
//! 2. `$(VAR)`, `@(file)` and `%(key)` substitutions over every value; then each `envdir`
//!    is read.
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
    /// A value read from a file as it is (an envdir's variable): no substitution, no
    /// template warnings.
    verbatim: bool,
}

impl Entry {
    /// An entry made by the loader itself (an envdir's `env` / `unenv`), with `origin` the
    /// line that caused it.
    fn verbatim(key: &str, value: String, origin: &Origin) -> Entry {
        Entry {
            key: key.to_string(),
            written: key.to_string(),
            value: Some(value),
            origin: origin.clone(),
            placeholder_only: false,
            verbatim: true,
        }
    }
}

/// The environment variable a master re-executed by a reload finds (ruwsgi-process
/// `reexec.rs` sets it before `exec` and takes it out once the configuration is read): what
/// `if-reload` tests, as uWSGI tests its `UWSGI_RELOADS`.
const REEXEC_ENV: &str = "RUWSGI_REEXEC";

/// What an `if-*` keyword tests (`if-not-*` tests the same and inverts the answer).
#[derive(Debug, Clone)]
enum Condition {
    /// `if-env NAME[=VALUE]`: the variable is set (to VALUE).
    Env,
    /// `if-opt NAME[=VALUE]`: the option was given (as VALUE).
    Opt,
    /// `if-exists PATH`.
    Exists,
    /// `if-file PATH`: a regular file.
    File,
    /// `if-dir PATH`: a directory.
    Dir,
    /// `if-hostname NAME`: the machine's host name is NAME.
    Hostname,
    /// `if-hostname-match REGEX`: the host name matches (anywhere, as PCRE's search).
    HostnameMatch(regex::Regex),
    /// `if-reload`: this start is a reload.
    Reload,
    /// `if-plugin NAME`: the plugin is built into ruwsgi.
    Plugin,
}

/// The block a config-language keyword opened: it governs the entries after it until
/// `endif`, `endfor`, `end` (or `else`, which opens its own).
#[derive(Debug, Clone)]
enum Block {
    /// `if-*` / `if-not-*`: the test is made again for each entry, as uWSGI does (an option
    /// set inside the block counts for `if-opt`).
    If {
        condition: Condition,
        negated: bool,
        arg: String,
    },
    /// `for`, `for-glob`, `for-times`, `for-readline`: each entry once per item, `%(_)` the
    /// item. The items are computed when the keyword is read.
    For(Vec<String>),
    /// `else`: its entries apply when the last test of the `if-*` block before it failed
    /// (uWSGI's `logic_opt_if_failed`, which `endif` clears).
    Else,
}

/// Collects entries from every source, then builds the [`Config`].
#[derive(Debug)]
pub(crate) struct Loader {
    env: Vec<(String, String)>,
    cwd: PathBuf,
    entries: Vec<Entry>,
    /// The open config-language block.
    block: Option<Block>,
    /// Whether the last test of an `if-*` block failed (what `else` reads).
    if_failed: bool,
    logic_running: bool,
    /// The `env` / `unenv` entries of `early-envdir`s, applied before every `env` option
    /// (uWSGI sets them while it reads the config, and the options later).
    early_env: Vec<Entry>,
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

/// The most repetitions a `for-times` block may ask for.
const MAX_FOR_TIMES: u64 = 100_000;

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
            block: None,
            if_failed: false,
            logic_running: false,
            early_env: Vec::new(),
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
                self.block = None;
                self.if_failed = false;
            } else if key == "else" {
                // Like `endif`, but the failed state stays for the `else` block to read.
                self.block = None;
            } else if let Some(block) = self.block.clone() {
                let values = self.evaluate(&block, value.as_deref());
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

    /// The values an entry governed by `block` expands to (none when it does not apply).
    /// An `if-*` test records whether it failed, for `else`.
    fn evaluate(&mut self, block: &Block, value: Option<&str>) -> Vec<Option<String>> {
        let with = |datum: &str| value.map(|v| v.replace("%(_)", datum));
        match block {
            Block::If {
                condition,
                negated,
                arg,
            } => {
                let (holds, datum) = self.test(condition, arg);
                self.if_failed = holds == *negated;
                if self.if_failed {
                    vec![]
                } else {
                    // `if-reload` substitutes nothing, as uWSGI's.
                    vec![match datum {
                        Some(d) => with(&d),
                        None => value.map(str::to_string),
                    }]
                }
            }
            Block::For(items) => items.iter().map(|item| with(item)).collect(),
            // uWSGI's `else` substitutes nothing either.
            Block::Else if self.if_failed => vec![value.map(str::to_string)],
            Block::Else => vec![],
        }
    }

    /// Whether `condition` holds for `arg`, and the `%(_)` of the block's entries (`None`:
    /// no substitution).
    fn test(&self, condition: &Condition, arg: &str) -> (bool, Option<String>) {
        let (name, expected) = match arg.split_once('=') {
            Some((n, e)) => (n, Some(e)),
            None => (arg, None),
        };
        let path = self.cwd.join(arg);
        let arg_datum = Some(arg.to_string());
        match condition {
            Condition::Env | Condition::Opt => {
                let found = match condition {
                    Condition::Env => self.getenv(name).map(str::to_string),
                    _ => self.exported(name),
                };
                let holds = found
                    .as_deref()
                    .is_some_and(|v| expected.is_none_or(|e| e == v));
                (holds, Some(found.unwrap_or_default()))
            }
            Condition::Exists => (path.exists(), arg_datum),
            Condition::File => (path.is_file(), arg_datum),
            Condition::Dir => (path.is_dir(), arg_datum),
            Condition::Hostname => (expand::hostname() == arg, arg_datum),
            Condition::HostnameMatch(re) => (re.is_match(&expand::hostname()), arg_datum),
            Condition::Reload => (self.getenv(REEXEC_ENV).is_some(), None),
            Condition::Plugin => (builtin_plugin(arg), arg_datum),
        }
    }

    /// The block the config-language keyword `name` (canonical) opens with `arg`: `None` for
    /// `endif` / `endfor`. A `for*` block's items are computed here; a bad argument is an
    /// error naming the keyword, the argument and `origin`.
    fn open_block(&self, name: &str, arg: &str, origin: &Origin) -> Result<Option<Block>, Error> {
        let block = match name {
            "for" => Block::For(
                arg.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            ),
            "for-glob" => Block::For(self.glob(arg, origin)?),
            "for-times" => {
                // Each repetition is kept as a line of the configuration: a bound keeps a
                // typo (an extra zero or five) from eating the memory.
                let n: u64 = arg
                    .trim()
                    .parse()
                    .ok()
                    .filter(|&n| n <= MAX_FOR_TIMES)
                    .ok_or_else(|| {
                        Error::bad_value(
                            name,
                            arg,
                            "a whole number of times such as 4, at most 100000",
                            origin,
                        )
                    })?;
                Block::For((1..=n).map(|i| i.to_string()).collect())
            }
            "for-readline" => {
                let text = std::fs::read(self.cwd.join(arg)).map_err(|e| {
                    Error::logic(format!("for-readline: cannot read {arg:?}: {e}"), origin)
                })?;
                Block::For(readlines(&String::from_utf8_lossy(&text)))
            }
            "else" => Block::Else,
            _ => {
                let negated = name.starts_with("if-not-");
                let condition = match name.replacen("if-not-", "if-", 1).as_str() {
                    "if-env" => Condition::Env,
                    "if-opt" => Condition::Opt,
                    "if-exists" => Condition::Exists,
                    "if-file" => Condition::File,
                    "if-dir" => Condition::Dir,
                    "if-hostname" => Condition::Hostname,
                    "if-hostname-match" => {
                        Condition::HostnameMatch(regex::Regex::new(arg).map_err(|e| {
                            let why = e.to_string();
                            let why = why.lines().last().unwrap_or("").trim();
                            Error::bad_value(
                                name,
                                arg,
                                &format!("a regular expression ({why})"),
                                origin,
                            )
                        })?)
                    }
                    "if-reload" => Condition::Reload,
                    "if-plugin" => Condition::Plugin,
                    _ => return Ok(None),
                };
                Block::If {
                    condition,
                    negated,
                    arg: arg.to_string(),
                }
            }
        };
        Ok(Some(block))
    }

    /// `for-glob`'s items: glob(3) with uWSGI's `GLOB_MARK | GLOB_NOCHECK`: the matching
    /// paths in sorted order, a directory's with a trailing `/`; no match gives the pattern
    /// itself. A relative pattern matches under the loader's directory and gives relative
    /// paths. As glob(3), `*` matches no `/` and no leading `.`.
    fn glob(&self, pattern: &str, origin: &Origin) -> Result<Vec<String>, Error> {
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let relative = !pattern.starts_with('/');
        let base = format!("{}/", self.cwd.display().to_string().trim_end_matches('/'));
        let full = if relative {
            format!("{}{pattern}", glob::Pattern::escape(&base))
        } else {
            pattern.to_string()
        };
        let paths = glob::glob_with(&full, options).map_err(|e| {
            Error::bad_value(
                "for-glob",
                pattern,
                &format!("a glob pattern such as sites/*.ini ({})", e.msg),
                origin,
            )
        })?;
        let mut items: Vec<String> = paths
            .filter_map(Result::ok)
            .map(|p| {
                let mut s = p.display().to_string();
                if p.is_dir() && !s.ends_with('/') {
                    s.push('/');
                }
                match s.strip_prefix(&base) {
                    Some(rest) if relative => rest.to_string(),
                    _ => s,
                }
            })
            .collect();
        items.sort();
        if items.is_empty() {
            items.push(pattern.to_string());
        }
        Ok(items)
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
            verbatim: false,
        });
        let Some(spec) = spec else { return Ok(()) };
        match spec.kind {
            Kind::Logic => {
                let arg = value.unwrap_or_default();
                if let Some(block) = self.open_block(spec.name, &arg, &origin)? {
                    self.block = Some(block);
                }
            }
            _ if spec.name == "early-envdir" => {
                // uWSGI reads it at once, before any substitution.
                let dir = value.unwrap_or_default();
                for (name, set) in read_envdir(&self.cwd, spec.name, &dir, &origin)? {
                    self.env.retain(|(k, _)| *k != name);
                    let entry = match set {
                        Some(v) => {
                            self.env.push((name.clone(), v.clone()));
                            Entry::verbatim("env", format!("{name}={v}"), &origin)
                        }
                        None => Entry::verbatim("unenv", name, &origin),
                    };
                    self.early_env.push(entry);
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
                    verbatim: false,
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
                    verbatim: false,
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
        // `inherit` files last, in the order named (one may name another). Each file once:
        // a second inherit of the same file would be a cycle (the includes' own check
        // cannot see it, the file that named it being read already).
        let mut inherited: HashSet<std::path::PathBuf> = HashSet::new();
        while !self.inherits.is_empty() {
            let (value, origin) = self.inherits.remove(0);
            let format = include_format("inherit", &value, &origin)?;
            let id = std::fs::canonicalize(self.cwd.join(&value))
                .unwrap_or_else(|_| self.cwd.join(&value));
            if !inherited.insert(id) {
                return Err(Error::logic(
                    format!("config file {value} is inherited twice (an inherit cycle?)"),
                    &origin,
                ));
            }
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
        let entries = self.with_envdirs()?;
        let mut config = Config::default();
        let mut warned_not_yet: BTreeSet<&'static str> = BTreeSet::new();
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
            let typed = match &e.value {
                Some(v) if e.verbatim => Typed::Text(v.clone()),
                _ => self.validate(spec, e.value.as_deref(), &e.origin)?,
            };
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

    /// Every entry in the order it is applied: the `early-envdir`s' variables first (uWSGI
    /// sets them while it reads the config, before any `env` option is applied), then the
    /// entries as given, then each `envdir`'s variables (uWSGI reads envdirs after every
    /// other option is applied, so they win over `env`). An `early-envdir` unset that an
    /// `env` also sets is dropped: ruwsgi applies every `unenv` after every `env`, and in
    /// uWSGI the later `env` wins.
    fn with_envdirs(&mut self) -> Result<Vec<Entry>, Error> {
        let mut late = Vec::new();
        for e in &self.entries {
            if e.placeholder_only || table::lookup(&e.key).is_none_or(|s| s.name != "envdir") {
                continue;
            }
            let dir = e.value.as_deref().unwrap_or("");
            for (name, set) in read_envdir(&self.cwd, "envdir", dir, &e.origin)? {
                late.push(match set {
                    Some(v) => Entry::verbatim("env", format!("{name}={v}"), &e.origin),
                    None => Entry::verbatim("unenv", name, &e.origin),
                });
            }
        }
        let entries = std::mem::take(&mut self.entries);
        let set_later: HashSet<String> = entries
            .iter()
            .chain(&late)
            .filter(|e| {
                !e.placeholder_only && table::lookup(&e.key).is_some_and(|s| s.name == "env")
            })
            .filter_map(|e| Some(e.value.as_deref()?.split_once('=')?.0.to_string()))
            .collect();
        let early = std::mem::take(&mut self.early_env)
            .into_iter()
            .filter(|e| e.key != "unenv" || !set_later.contains(e.value.as_deref().unwrap_or("")));
        Ok(early.chain(entries).chain(late).collect())
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
            // uWSGI exits when a needed plugin does not load; ruwsgi loads none.
            "need-plugin" if v.split(',').map(str::trim).any(|p| !builtin_plugin(p)) => {
                return bad("plugins ruwsgi has built in (python, python3, http, ...)");
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
                    if !builtin_plugin(plugin) {
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

/// Whether ruwsgi has the uWSGI plugin `name` built in (Python, HTTP): what `plugins`
/// accepts without a warning and `if-plugin` tests.
fn builtin_plugin(name: &str) -> bool {
    name.starts_with("python") || matches!(name, "http" | "corerouter" | "logfile")
}

/// `for-readline`'s items: each line of `text` as uWSGI's `fgets` loop reads it, without
/// its trailing `\r` / `\n` (as uWSGI trims it); an empty line is an item too.
fn readlines(text: &str) -> Vec<String> {
    text.split_inclusive('\n')
        .map(|l| l.trim_end_matches(['\r', '\n']).to_string())
        .collect()
}

/// A daemontools envdir as uWSGI reads it: each regular file (not hidden:
/// no leading `.`) is a variable named as the file, sorted by name. An empty file unsets
/// it (`None`); otherwise its content up to the first NUL byte (uWSGI reads it as a C
/// string), without trailing spaces, tabs, `\r` and `\n`, is the value. An unreadable
/// directory or file, or a name that cannot be a variable's, is an error naming `option`,
/// `dir` and `origin`.
fn read_envdir(
    cwd: &Path,
    option: &str,
    dir: &str,
    origin: &Origin,
) -> Result<Vec<(String, Option<String>)>, Error> {
    let fail = |what: String, e: std::io::Error| {
        Error::logic(format!("{option}: cannot read {what}: {e}"), origin)
    };
    let path = cwd.join(dir);
    let listing = std::fs::read_dir(&path).map_err(|e| fail(format!("directory {dir:?}"), e))?;
    let mut names = Vec::new();
    for item in listing {
        let item = item.map_err(|e| fail(format!("directory {dir:?}"), e))?;
        let name = item.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    let mut vars = Vec::new();
    for name in names {
        let file = path.join(&name);
        let shown = format!("{:?}", Path::new(dir).join(&name).display().to_string());
        // Following symbolic links, as uWSGI's stat.
        let meta = std::fs::metadata(&file).map_err(|e| fail(shown.clone(), e))?;
        if !meta.is_file() {
            continue;
        }
        if name.contains('=') {
            return Err(Error::logic(
                format!("{option}: {shown} cannot name an environment variable (it holds '=')"),
                origin,
            ));
        }
        if meta.len() == 0 {
            vars.push((name, None));
            continue;
        }
        let bytes = std::fs::read(&file).map_err(|e| fail(shown.clone(), e))?;
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        let text = String::from_utf8_lossy(&bytes[..end]);
        let value = text.trim_end_matches(['\r', '\n', '\t', ' ']).to_string();
        vars.push((name, Some(value)));
    }
    Ok(vars)
}

/// The format of the file an include option names: the option's own (`ini`, `yaml`, ...),
/// or for `include` and `inherit` the file's extension, as uWSGI picks it.
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
