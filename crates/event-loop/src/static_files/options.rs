//! [`StaticOptions`]: the static-file options as plain values (field names are uWSGI's
//! option names), and [`Config`], what the handler works from: mounts in uWSGI's order,
//! compiled regular expressions, the mime table.

use std::path::PathBuf;

use regex::bytes::Regex;
use serde::Deserialize;

use super::mime::MimeTypes;
use crate::error::Error;

/// The static-file options, with uWSGI's names and semantics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct StaticOptions {
    /// `static-map /mount=dir` (or `=file`): a request path starting with `/mount` is
    /// looked up as `dir` + the rest of the path.
    pub static_map: Vec<String>,
    /// `static-map2 /mount=dir`: as `static-map`, looked up as `dir` + the whole path.
    pub static_map2: Vec<String>,
    /// `check-static DIR`: every request path is looked up as `DIR` + the path.
    pub check_static: Vec<String>,
    /// `static-index FILE`: for a directory, the first of these files it holds.
    pub static_index: Vec<String>,
    /// `static-skip-ext EXT`: a path ending so is never served as a file (the app gets it).
    pub static_skip_ext: Vec<String>,
    /// `static-safe DIR`: a symlink whose target is under `DIR` is followed out of its
    /// root.
    pub static_safe: Vec<String>,
    /// `static-expires REGEX SECS` (split at the first space, as uWSGI): `Expires` (now +
    /// SECS) for a file whose resolved path matches.
    pub static_expires: Vec<String>,
    /// `static-expires-mtime REGEX SECS`: as `static-expires`, from the file's mtime.
    pub static_expires_mtime: Vec<String>,
    /// `static-expires-uri REGEX SECS`: matched against `REQUEST_URI`.
    pub static_expires_uri: Vec<String>,
    /// `static-expires-uri-mtime REGEX SECS`: as `static-expires-uri`, from the mtime.
    pub static_expires_uri_mtime: Vec<String>,
    /// `static-expires-path-info REGEX SECS`: matched against `PATH_INFO`.
    pub static_expires_path_info: Vec<String>,
    /// `static-expires-path-info-mtime REGEX SECS`: as above, from the mtime.
    pub static_expires_path_info_mtime: Vec<String>,
    /// `static-expires-type TYPE=SECS` (split at the first `=`, as uWSGI): for a file of
    /// exactly this media type.
    pub static_expires_type: Vec<String>,
    /// `static-expires-type-mtime TYPE=SECS`: as above, from the mtime.
    pub static_expires_type_mtime: Vec<String>,
    /// `mimefile FILE`: mime.types files (default `/etc/mime.types`; a built-in table
    /// when none is readable).
    pub mimefile: Vec<String>,
    /// `static-gzip REGEX`: look for a `.gz` sibling of files whose path matches.
    pub static_gzip: Vec<String>,
    /// `static-gzip-all`: look for a `.gz` sibling of every file.
    pub static_gzip_all: bool,
    /// `static-gzip-dir DIR`: ... of files whose path starts with `DIR`.
    pub static_gzip_dir: Vec<String>,
    /// `static-gzip-ext EXT`: ... of files whose name ends with `EXT`.
    pub static_gzip_ext: Vec<String>,
    /// `disable-sendfile`: read files and write them instead of `sendfile(2)`.
    pub disable_sendfile: bool,
}

impl StaticOptions {
    /// Whether any request can be answered from a file: a `static-map`, `static-map2` or
    /// `check-static` is set. The other options only shape those answers.
    pub fn is_configured(&self) -> bool {
        !(self.static_map.is_empty() && self.static_map2.is_empty() && self.check_static.is_empty())
    }

    /// Checks every value can be used (mounts written `/mount=dir`, regular expressions
    /// that compile, expiries in seconds), so a configuration is refused at start rather
    /// than in each worker.
    pub fn check(&self) -> Result<(), Error> {
        Config::new(self).map(drop)
    }
}

/// A root requests are looked up under.
#[derive(Debug)]
pub(crate) struct Mount {
    /// The path prefix it answers (empty for `check-static`: every path).
    pub(crate) prefix: Vec<u8>,
    /// Whether the file path is root + the whole request path (`static-map2`,
    /// `check-static`) or root + the rest after the prefix (`static-map`).
    pub(crate) keep_prefix: bool,
    /// The directory (or file) as configured.
    pub(crate) root: PathBuf,
    /// `root` with every symlink resolved, and whether it is a file (a mount of one file:
    /// `static-map /favicon.ico=/srv/favicon.ico`), once it exists (uWSGI resolves it at
    /// the first request and tries again while it is missing).
    pub(crate) real: Option<(PathBuf, bool)>,
}

/// Where an expiry rule looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExpiresOn {
    /// The resolved file path.
    File,
    /// `PATH_INFO` (the decoded request path).
    PathInfo,
    /// `REQUEST_URI` (as sent, with its query).
    Uri,
    /// The media type, compared whole.
    Type,
}

/// One `static-expires*` rule.
#[derive(Debug)]
pub(crate) struct Expires {
    pub(crate) on: ExpiresOn,
    /// The regular expression (`Type`: the type, as an anchored literal).
    pub(crate) pattern: Regex,
    pub(crate) secs: i64,
    /// From the file's mtime instead of now (the `-mtime` variants).
    pub(crate) from_mtime: bool,
}

/// What the handler works from.
#[derive(Debug)]
pub(crate) struct Config {
    /// `check-static`, then `static-map`, then `static-map2`: uWSGI's order.
    pub(crate) mounts: Vec<Mount>,
    pub(crate) index: Vec<String>,
    pub(crate) skip_ext: Vec<Vec<u8>>,
    /// `static-safe` directories, resolved when they exist.
    pub(crate) safe: Vec<PathBuf>,
    /// In the order they are tried: file, path-info, uri, type, each before its `-mtime`.
    pub(crate) expires: Vec<Expires>,
    pub(crate) mime: MimeTypes,
    pub(crate) gzip_all: bool,
    pub(crate) gzip_dir: Vec<Vec<u8>>,
    pub(crate) gzip_ext: Vec<Vec<u8>>,
    pub(crate) gzip: Vec<Regex>,
    pub(crate) sendfile: bool,
}

fn regex(option: &'static str, value: &str, pattern: &str) -> Result<Regex, Error> {
    Regex::new(pattern).map_err(|e| Error::static_option(option, value, e.to_string()))
}

/// How a `static-expires*` value is written, as uWSGI parses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    /// `REGEX SECS`, split at the first space (uWSGI reads the regexp rules so, so a
    /// pattern cannot hold a space; `\x20` or `[ ]` can match one).
    RegexSpaceSecs,
    /// `TYPE=SECS`, split at the first `=` (uWSGI reads the content-type rules as a
    /// dictionary entry).
    TypeEqualsSecs,
}

/// A `static-expires*` value: the pattern (or type) and the seconds.
fn pattern_secs<'a>(
    option: &'static str,
    value: &'a str,
    syntax: Syntax,
) -> Result<(&'a str, i64), Error> {
    let (separator, example) = match syntax {
        Syntax::RegexSpaceSecs => (
            ' ',
            "a regular expression, a space and a number of seconds, such as `\\.css$ 86400`",
        ),
        Syntax::TypeEqualsSecs => (
            '=',
            "a content type, `=` and a number of seconds, such as `text/css=86400`",
        ),
    };
    let bad = || Error::static_option(option, value, format!("expected {example}"));
    let (pattern, secs) = value.trim().split_once(separator).ok_or_else(bad)?;
    let secs: i64 = secs.trim().parse().map_err(|_| bad())?;
    if pattern.is_empty() {
        return Err(bad());
    }
    Ok((pattern, secs))
}

impl Config {
    pub(crate) fn new(o: &StaticOptions) -> Result<Config, Error> {
        let mut mounts = Vec::new();
        for dir in &o.check_static {
            mounts.push(Mount {
                prefix: Vec::new(),
                keep_prefix: true,
                root: PathBuf::from(dir),
                real: None,
            });
        }
        for (option, list, keep_prefix) in [
            ("static-map", &o.static_map, false),
            ("static-map2", &o.static_map2, true),
        ] {
            for value in list {
                let (mount, dir) = value.split_once('=').ok_or_else(|| {
                    Error::static_option(option, value, "expected /mountpoint=directory")
                })?;
                mounts.push(Mount {
                    prefix: mount.as_bytes().to_vec(),
                    keep_prefix,
                    root: PathBuf::from(dir),
                    real: None,
                });
            }
        }
        let mut expires = Vec::new();
        for (option, list, on, from_mtime) in [
            ("static-expires", &o.static_expires, ExpiresOn::File, false),
            (
                "static-expires-mtime",
                &o.static_expires_mtime,
                ExpiresOn::File,
                true,
            ),
            (
                "static-expires-path-info",
                &o.static_expires_path_info,
                ExpiresOn::PathInfo,
                false,
            ),
            (
                "static-expires-path-info-mtime",
                &o.static_expires_path_info_mtime,
                ExpiresOn::PathInfo,
                true,
            ),
            (
                "static-expires-uri",
                &o.static_expires_uri,
                ExpiresOn::Uri,
                false,
            ),
            (
                "static-expires-uri-mtime",
                &o.static_expires_uri_mtime,
                ExpiresOn::Uri,
                true,
            ),
            (
                "static-expires-type",
                &o.static_expires_type,
                ExpiresOn::Type,
                false,
            ),
            (
                "static-expires-type-mtime",
                &o.static_expires_type_mtime,
                ExpiresOn::Type,
                true,
            ),
        ] {
            for value in list {
                let syntax = match on {
                    ExpiresOn::Type => Syntax::TypeEqualsSecs,
                    _ => Syntax::RegexSpaceSecs,
                };
                let (pattern, secs) = pattern_secs(option, value, syntax)?;
                let pattern = if on == ExpiresOn::Type {
                    regex(option, value, &format!("^{}$", regex::escape(pattern)))?
                } else {
                    regex(option, value, pattern)?
                };
                expires.push(Expires {
                    on,
                    pattern,
                    secs,
                    from_mtime,
                });
            }
        }
        let gzip = o
            .static_gzip
            .iter()
            .map(|v| regex("static-gzip", v, v))
            .collect::<Result<_, _>>()?;
        let bytes = |list: &[String]| list.iter().map(|s| s.as_bytes().to_vec()).collect();
        let safe = o
            .static_safe
            .iter()
            .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| PathBuf::from(d)))
            .collect();
        Ok(Config {
            mounts,
            index: o.static_index.clone(),
            skip_ext: bytes(&o.static_skip_ext),
            safe,
            expires,
            mime: MimeTypes::load(&o.mimefile),
            gzip_all: o.static_gzip_all,
            gzip_dir: bytes(&o.static_gzip_dir),
            gzip_ext: bytes(&o.static_gzip_ext),
            gzip,
            sendfile: !o.disable_sendfile,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_as_uwsgi_writes_them() {
        let o = StaticOptions {
            static_map: vec!["/static=/srv/static".into()],
            static_map2: vec!["/media=/srv".into()],
            check_static: vec!["/srv/www".into()],
            static_expires: vec!["\\.css$ 3600".into()],
            static_expires_type: vec!["image/png=60".into()],
            ..StaticOptions::default()
        };
        assert!(o.is_configured());
        let c = Config::new(&o).unwrap();
        let mounts: Vec<_> = c
            .mounts
            .iter()
            .map(|m| (m.prefix.as_slice(), m.keep_prefix))
            .collect();
        assert_eq!(
            mounts,
            [(&b""[..], true), (b"/static", false), (b"/media", true)]
        );
        assert_eq!(c.expires[0].secs, 3600);
        assert!(c.expires[0].pattern.is_match(b"/srv/static/a.css"));
        assert!(c.expires[1].pattern.is_match(b"image/png"));
        assert!(!c.expires[1].pattern.is_match(b"image/pngx"));
        assert!(c.sendfile);
        assert!(!StaticOptions::default().is_configured());
    }

    #[test]
    fn unusable_values_say_what_is_expected() {
        let cases = [
            StaticOptions {
                static_map: vec!["/static".into()],
                ..Default::default()
            },
            StaticOptions {
                static_expires: vec!["\\.css$".into()],
                ..Default::default()
            },
            StaticOptions {
                static_expires: vec!["( 60".into()],
                ..Default::default()
            },
            // Split at the first space, as uWSGI: `b 60` is no number of seconds.
            StaticOptions {
                static_expires: vec!["a b 60".into()],
                ..Default::default()
            },
            // The type rules take `TYPE=SECS`, not a space.
            StaticOptions {
                static_expires_type: vec!["text/css 60".into()],
                ..Default::default()
            },
            StaticOptions {
                static_expires_type_mtime: vec!["=60".into()],
                ..Default::default()
            },
            StaticOptions {
                static_gzip: vec!["[".into()],
                ..Default::default()
            },
        ];
        for o in cases {
            let e = Config::new(&o).unwrap_err().to_string();
            assert!(e.starts_with("static-"), "{e}");
        }
    }
}
