//! [`StaticFiles`]: answers requests for files on the loop thread, without the app, as
//! uWSGI's `static-map`, `static-map2` and `check-static` do; every other request goes to
//! the handler it wraps.
//!
//! # What is served
//! A `GET` or `HEAD` whose decoded path (`PATH_INFO` on a uwsgi socket) falls under a
//! mount — `check-static` roots first, then each `static-map`, then each `static-map2`, as
//! uWSGI tries them — and names a regular file, or a directory holding a `static-index`
//! file. Anything else (another method, a path ending in a `static-skip-ext` extension, no
//! such file, a directory without index, a file that cannot be opened) goes to the inner
//! handler, as in uWSGI, so the app answers it.
//!
//! # What is refused
//! A path with a `..` segment, a NUL byte or a backslash after decoding
//! ([`path::segments`]), and a file whose resolved path (every symlink followed) lies
//! outside its root and outside every `static-safe` directory, get `403 Forbidden` and a
//! warning in the log. 403 and not 404: the answer is about the request, not the file
//! (the syntactic refusals never look at the filesystem), and the app is not asked — uWSGI
//! hands such a request to the app, which may serve something under a path that was an
//! attack. The resolved file is opened with `O_NOFOLLOW`, so a symlink swapped in after
//! the check is not followed.
//!
//! # The answer
//! `Content-Type` from the mime table ([`mime`]), `Last-Modified`, an `ETag` from mtime and
//! size, `Accept-Ranges`; `If-None-Match` (or, without it, `If-Modified-Since`) → 304; one
//! byte range → 206 with `Content-Range`, an unsatisfiable one → 416, several → the whole
//! file with 200 (RFC 9110 §14.2 allows it); `static-expires*` → `Expires` and
//! `Cache-Control: max-age`; a `.gz` sibling with `Content-Encoding: gzip` under the
//! `static-gzip*` rules when the client accepts gzip, with `Vary: Accept-Encoding` on every
//! answer those rules cover. The body goes out with `sendfile(2)` ([`Reply::respond_file`])
//! or, under `disable-sendfile`, is read into memory and written.
//!
//! The file is looked up and opened on the loop thread (a `realpath`, an `open` and an
//! `fstat`), as a uWSGI worker does it in its own request slot: fast for files in the page
//! cache, and the loop waits for a cold disk.

mod http;
mod mime;
mod options;
mod path;

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fs::{File, Metadata, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::Error;
use crate::handler::{Handler, Head, Request, ResponseHead};
use crate::reply::Reply;

pub(crate) use http::http_date;
pub(crate) use options::Config;
pub use options::StaticOptions;

use http::Range;
use options::ExpiresOn;

/// Serves files for the requests its options map, and hands every other request to
/// `inner` (see the module doc). Capacity, idleness and flushing are the inner handler's.
#[derive(Debug)]
pub struct StaticFiles<H> {
    inner: H,
    config: Config,
}

/// What a request comes to.
enum Lookup {
    /// Not ours: the inner handler answers.
    Pass,
    /// Refused (403), already logged.
    Refuse,
    /// A file to answer with (boxed: a `Metadata` is large beside the other variants).
    File(Box<Found>),
}

/// What a file's request is answered with, for the caller to send
/// ([`Answer::send`]) or to put in place of an app's response (routing's `static`).
pub(crate) enum Answer {
    /// A head and a body in memory (a 304, a 416, or a file read under
    /// `disable-sendfile`).
    Bytes(ResponseHead, Vec<u8>),
    /// A head and a range of a file: offset and length.
    File(ResponseHead, File, u64, u64),
    /// The file could not be read (logged): a 500.
    Fail,
}

impl Answer {
    /// Sends the answer.
    pub(crate) fn send(self, reply: Reply) {
        match self {
            Answer::Bytes(head, body) => reply.respond(head, body),
            Answer::File(head, file, offset, len) => reply.respond_file(head, file, offset, len),
            Answer::Fail => reply.fail(),
        }
    }
}

/// A file found and opened.
pub(crate) struct Found {
    /// The resolved path of the file asked for (its name gives the media type).
    real: PathBuf,
    /// The root it was found under (resolved), for the `.gz` sibling's check.
    root: PathBuf,
    file: File,
    meta: Metadata,
}

impl Found {
    /// Opens the file at `path` (routing's `static` action: any readable regular file,
    /// its directory as its root for the `.gz` sibling); `None` when there is none.
    pub(crate) fn at(path: &Path) -> Option<Found> {
        let real = std::fs::canonicalize(path).ok()?;
        let (file, meta) = open(&real)?;
        let root = real.parent().map(Path::to_path_buf).unwrap_or_default();
        Some(Found {
            real,
            root,
            file,
            meta,
        })
    }
}

/// What the filesystem says of a candidate path.
enum Resolved {
    Missing,
    Outside(PathBuf),
    File(PathBuf),
    Dir(PathBuf),
}

impl<H: Handler> StaticFiles<H> {
    /// Wraps `inner`, serving files as `options` say; an error names the option whose value
    /// cannot be used. The mime table is read here.
    pub fn new(options: &StaticOptions, inner: H) -> Result<StaticFiles<H>, Error> {
        Ok(StaticFiles {
            inner,
            config: Config::new(options)?,
        })
    }

    /// The wrapped handler.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    fn lookup(&mut self, head: &Head, path: &[u8]) -> Lookup {
        if self.config.skip_ext.iter().any(|e| path.ends_with(e)) {
            return Lookup::Pass;
        }
        for i in 0..self.config.mounts.len() {
            let mount = &mut self.config.mounts[i];
            if !path.starts_with(&mount.prefix) {
                continue;
            }
            if mount.real.is_none() {
                match std::fs::canonicalize(&mount.root) {
                    Ok(real) => {
                        let is_file = real.is_file();
                        mount.real = Some((real, is_file));
                    }
                    Err(_) => continue,
                }
            }
            let Some((root, is_file)) = mount.real.clone() else {
                continue;
            };
            let rest = if mount.keep_prefix {
                path
            } else {
                &path[mount.prefix.len()..]
            };
            let candidate = if is_file {
                // A mount of one file serves it for every path under the mount (uWSGI).
                root.clone()
            } else {
                match path::segments(rest) {
                    Ok(segments) => {
                        let mut p = root.clone();
                        for s in segments {
                            p.push(OsStr::from_bytes(s));
                        }
                        p
                    }
                    Err(why) => {
                        log::warn!(
                            "static files: refused {} {}: {why}",
                            String::from_utf8_lossy(head.method()),
                            String::from_utf8_lossy(path).escape_debug()
                        );
                        return Lookup::Refuse;
                    }
                }
            };
            let root_dir = if is_file {
                root.parent().map(Path::to_path_buf).unwrap_or_default()
            } else {
                root.clone()
            };
            let found = match self.config.resolve(&candidate, &root_dir) {
                Resolved::Missing => continue,
                Resolved::Outside(real) => return refuse_outside(head, path, &real, &root_dir),
                Resolved::File(real) => real,
                Resolved::Dir(dir) => {
                    let mut hit = None;
                    for index in &self.config.index {
                        match self.config.resolve(&dir.join(index), &root_dir) {
                            Resolved::File(real) => {
                                hit = Some(real);
                                break;
                            }
                            Resolved::Outside(real) => {
                                return refuse_outside(head, path, &real, &root_dir)
                            }
                            Resolved::Missing | Resolved::Dir(_) => {}
                        }
                    }
                    match hit {
                        Some(real) => real,
                        None => continue,
                    }
                }
            };
            let name = found.as_os_str().as_bytes();
            if self.config.skip_ext.iter().any(|e| name.ends_with(e)) {
                return Lookup::Pass;
            }
            return match open(&found) {
                Some((file, meta)) => Lookup::File(Box::new(Found {
                    real: found,
                    root: root_dir,
                    file,
                    meta,
                })),
                None => Lookup::Pass,
            };
        }
        Lookup::Pass
    }
}

/// Logs and refuses a file that resolves outside its root.
fn refuse_outside(head: &Head, path: &[u8], real: &Path, root: &Path) -> Lookup {
    log::warn!(
        "static files: refused {} {}: it resolves to {}, outside {} and every static-safe directory",
        String::from_utf8_lossy(head.method()),
        String::from_utf8_lossy(path).escape_debug(),
        real.display(),
        root.display()
    );
    Lookup::Refuse
}

/// Opens a resolved regular file without following a symlink at its last step and without
/// blocking on a FIFO swapped in since the check; `None` when it cannot be opened or is no
/// longer a regular file.
fn open(real: &Path) -> Option<(File, Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(real)
        .map_err(|e| log::debug!("static files: cannot open {}: {e}", real.display()))
        .ok()?;
    let meta = file.metadata().ok()?;
    meta.is_file().then_some((file, meta))
}

/// A request header: by name on HTTP, by its CGI variable on a uwsgi socket.
fn header<'a>(head: &'a Head, name: &str, cgi: &[u8]) -> Option<&'a [u8]> {
    match head {
        Head::Http(h) => h
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice()),
        Head::Uwsgi(p) => p.var(cgi),
    }
}

/// The decoded request path: the HTTP target's path, percent-decoded once, or a uwsgi
/// request's `PATH_INFO` (which nginx sends decoded).
fn request_path(head: &Head) -> Option<Cow<'_, [u8]>> {
    match head {
        Head::Http(h) => Some(path::percent_decode(path::target_path(&h.target))),
        Head::Uwsgi(p) => p.var(b"PATH_INFO").map(Cow::Borrowed),
    }
}

impl Config {
    /// Resolves `candidate` (every symlink followed) and checks it lies under `root` or a
    /// `static-safe` directory (by whole components: `/srv/static2` is not under
    /// `/srv/static`, which uWSGI's byte-prefix test lets through).
    fn resolve(&self, candidate: &Path, root: &Path) -> Resolved {
        let Ok(real) = std::fs::canonicalize(candidate) else {
            return Resolved::Missing;
        };
        if !real.starts_with(root) && !self.safe.iter().any(|s| real.starts_with(s)) {
            return Resolved::Outside(real);
        }
        match std::fs::metadata(&real) {
            Ok(m) if m.is_file() => Resolved::File(real),
            Ok(m) if m.is_dir() => Resolved::Dir(real),
            _ => Resolved::Missing,
        }
    }

    /// The answer to `head` with the file `found` (see the module doc for the headers);
    /// `path` is the request's decoded path, for the `static-expires-path-info` rules.
    pub(crate) fn answer(&self, head: &Head, path: &[u8], found: Found) -> Answer {
        let config = self;
        let real = found.real.as_os_str().as_bytes();
        let content_type = config.mime.of(real);
        let gzip_rule = config.gzip_applies(real);
        let (file, meta, encoded) = match gzip_rule
            && header(head, "accept-encoding", b"HTTP_ACCEPT_ENCODING")
                .is_some_and(http::accepts_gzip)
        {
            true => match config.gz_sibling(&found.real, &found.root) {
                Some((file, meta)) => (file, meta, true),
                None => (found.file, found.meta, false),
            },
            false => (found.file, found.meta, false),
        };
        let size = meta.len();
        let mtime = meta.mtime();
        let tag = http::etag(mtime, size);
        let last_modified = http::http_date(mtime);
        let mut headers: Vec<(String, Vec<u8>)> = Vec::with_capacity(9);
        let mut add = |name: &str, value: &[u8]| headers.push((name.to_string(), value.to_vec()));
        if let Some(ty) = content_type {
            add("Content-Type", ty.as_bytes());
        }
        add("Last-Modified", last_modified.as_bytes());
        add("ETag", tag.as_bytes());
        add("Accept-Ranges", b"bytes");
        if gzip_rule {
            add("Vary", b"Accept-Encoding");
        }
        if encoded {
            add("Content-Encoding", b"gzip");
        }
        if let Some((expires, max_age)) =
            config.expires(real, path, head.uri(), content_type, mtime)
        {
            add("Expires", expires.as_bytes());
            add("Cache-Control", format!("max-age={max_age}").as_bytes());
        }
        // RFC 9110 §13.2.2: If-None-Match first; If-Modified-Since only without it.
        let not_modified = match header(head, "if-none-match", b"HTTP_IF_NONE_MATCH") {
            Some(v) => http::none_match(v, &tag),
            None => header(head, "if-modified-since", b"HTTP_IF_MODIFIED_SINCE")
                .and_then(http::parse_http_date)
                .is_some_and(|since| mtime <= since),
        };
        if not_modified {
            return Answer::Bytes(ResponseHead::new(304, "Not Modified", headers), Vec::new());
        }
        let range = match header(head, "range", b"HTTP_RANGE") {
            Some(r)
                if header(head, "if-range", b"HTTP_IF_RANGE")
                    .is_none_or(|v| http::if_range_holds(v, &tag, &last_modified)) =>
            {
                http::range(r, size)
            }
            _ => Range::Whole,
        };
        let (status, reason, offset, len) = match range {
            Range::Whole => (200, "OK", 0, size),
            Range::Part { start, end } => {
                headers.push((
                    "Content-Range".to_string(),
                    format!("bytes {start}-{end}/{size}").into_bytes(),
                ));
                (206, "Partial Content", start, end - start + 1)
            }
            Range::Unsatisfiable => {
                headers.retain(|(n, _)| n != "Content-Type" && n != "Content-Encoding");
                headers.push((
                    "Content-Range".to_string(),
                    format!("bytes */{size}").into_bytes(),
                ));
                let head = ResponseHead::new(416, "Range Not Satisfiable", headers);
                return Answer::Bytes(head, Vec::new());
            }
        };
        let response = ResponseHead::new(status, reason, headers);
        if config.sendfile || head.is_head() {
            // The loop adds Content-Length and, for HEAD, sends no byte of the file.
            return Answer::File(response, file, offset, len);
        }
        let mut body = vec![0; len as usize];
        match file.read_exact_at(&mut body, offset) {
            Ok(()) => Answer::Bytes(response, body),
            Err(e) => {
                log::error!("static files: cannot read {}: {e}", found.real.display());
                Answer::Fail
            }
        }
    }

    /// Whether a `static-gzip*` rule covers the resolved file name.
    fn gzip_applies(&self, real: &[u8]) -> bool {
        self.gzip_all
            || self.gzip_dir.iter().any(|d| real.starts_with(d))
            || self.gzip_ext.iter().any(|e| real.ends_with(e))
            || self.gzip.iter().any(|r| r.is_match(real))
    }

    /// The `.gz` sibling of `real`, opened, when it is a regular file under `root` (or a
    /// `static-safe` directory).
    fn gz_sibling(&self, real: &Path, root: &Path) -> Option<(File, Metadata)> {
        let mut gz = real.as_os_str().to_owned();
        gz.push(".gz");
        match self.resolve(Path::new(&gz), root) {
            Resolved::File(gz) => open(&gz),
            _ => None,
        }
    }

    /// The first `static-expires*` rule that matches: the `Expires` date and the
    /// `max-age` seconds. uWSGI adds one `Expires` per kind of rule that matches; one
    /// header, from the first rule in the order file, path-info, uri, type, is what a
    /// cache can use.
    fn expires(
        &self,
        real: &[u8],
        path_info: &[u8],
        uri: &[u8],
        content_type: Option<&str>,
        mtime: i64,
    ) -> Option<(String, i64)> {
        if self.expires.is_empty() {
            return None;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.expires.iter().find_map(|rule| {
            let subject = match rule.on {
                ExpiresOn::File => real,
                ExpiresOn::PathInfo => path_info,
                ExpiresOn::Uri => uri,
                ExpiresOn::Type => content_type?.as_bytes(),
            };
            rule.pattern.is_match(subject).then(|| {
                let at = if rule.from_mtime { mtime } else { now } + rule.secs;
                (http::http_date(at), (at - now).max(0))
            })
        })
    }
}

impl<H: Handler> Handler for StaticFiles<H> {
    fn handle(&mut self, request: Request, reply: Reply) {
        let method = request.head.method();
        if method != b"GET" && method != b"HEAD" {
            return self.inner.handle(request, reply);
        }
        let Some(path) = request_path(&request.head).map(Cow::into_owned) else {
            return self.inner.handle(request, reply);
        };
        match self.lookup(&request.head, &path) {
            Lookup::Pass => self.inner.handle(request, reply),
            Lookup::Refuse => reply.respond(
                ResponseHead::new(
                    403,
                    "Forbidden",
                    vec![("Content-Type".to_string(), b"text/plain".to_vec())],
                ),
                b"Forbidden\n".to_vec(),
            ),
            Lookup::File(found) => self.config.answer(&request.head, &path, *found).send(reply),
        }
    }

    fn has_capacity(&self) -> bool {
        self.inner.has_capacity()
    }

    fn idle(&self) -> usize {
        self.inner.idle()
    }

    fn is_flowing(&self) -> bool {
        self.inner.is_flowing()
    }

    // Static files are answered here, at once; only the inner handler's requests wait.
    fn queued(&self) -> usize {
        self.inner.queued()
    }

    fn flush(&mut self) {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler whose load signals are fixed, none of them the trait's default.
    struct Loaded;

    impl Handler for Loaded {
        fn handle(&mut self, _: Request, _: Reply) {}
        fn has_capacity(&self) -> bool {
            false
        }
        fn idle(&self) -> usize {
            2
        }
        fn is_flowing(&self) -> bool {
            false
        }
        fn queued(&self) -> usize {
            3
        }
    }

    /// The worker's balance reads the app's load through this layer (docs/architecture.md,
    /// "Balance"): every signal is the wrapped handler's.
    #[test]
    fn the_wrapped_handlers_load_shows_through() {
        let files = StaticFiles::new(&StaticOptions::default(), Loaded).expect("no options");
        assert!(!files.has_capacity());
        assert_eq!(files.idle(), 2);
        assert!(!files.is_flowing());
        assert_eq!(files.queued(), 3);
    }
}
