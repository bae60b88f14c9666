//! Static files served by the event loop (`static-map`, `static-map2`, `check-static` and
//! their options): the real binary over real sockets, HTTP and uwsgi, with a WSGI app
//! (`apps/static_app.py`) behind that answers whatever falls through.

use std::net::SocketAddr;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use ruwsgi_integration_tests::*;

const SECRET: &str = "TOP-SECRET-3f9a";

/// A site on disk:
///
/// ```text
/// root/static/site.css, notes.txt (+ notes.txt.gz), data.bin, app.py, sub/index.html
/// root/static/escape -> ../secret/secret.txt        (a symlink out of the root)
/// root/static/escape_dir -> ../secret               (a directory symlink out of it)
/// root/static/shared.txt -> ../../shared/shared.txt (out of it, into a static-safe dir)
/// root/secret/secret.txt                            (what no request may read)
/// shared/shared.txt
/// ```
struct Site {
    dir: tempfile::TempDir,
    data: Vec<u8>,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        let st = root.join("static");
        std::fs::create_dir_all(st.join("sub")).unwrap();
        std::fs::create_dir_all(root.join("secret")).unwrap();
        std::fs::create_dir_all(dir.path().join("shared")).unwrap();
        std::fs::write(st.join("site.css"), "body { color: red }\n").unwrap();
        std::fs::write(st.join("notes.txt"), "plain notes\n").unwrap();
        std::fs::write(st.join("notes.txt.gz"), b"\x1f\x8b gzipped notes").unwrap();
        std::fs::write(st.join("app.py"), "print('source')\n").unwrap();
        std::fs::write(st.join("sub/index.html"), "<h1>index</h1>\n").unwrap();
        // 300 KiB: more than one write, a pattern whose every range is checkable.
        let data: Vec<u8> = (0..300 * 1024u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(st.join("data.bin"), &data).unwrap();
        std::fs::write(root.join("secret/secret.txt"), SECRET).unwrap();
        std::fs::write(dir.path().join("shared/shared.txt"), "shared file\n").unwrap();
        symlink("../secret/secret.txt", st.join("escape")).unwrap();
        symlink("../secret", st.join("escape_dir")).unwrap();
        symlink("../../shared/shared.txt", st.join("shared.txt")).unwrap();
        Site { dir, data }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn static_dir(&self) -> String {
        self.path("root/static").to_string_lossy().into_owned()
    }

    /// `--static-map /static=root/static` and the app, plus `args`.
    fn args(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec![
            "--wsgi-file".to_string(),
            app("static_app.py"),
            "--static-map".to_string(),
            format!("/static={}", self.static_dir()),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        all
    }

    fn serve(&self, args: &[&str]) -> (Server, SocketAddr) {
        Server::http(self.args(args))
    }
}

fn request(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    exchange(addr, req.as_bytes())
}

fn assert_from_app(resp: &Response, path: &str) {
    assert_eq!(resp.status, 200, "{path}: {resp:?}");
    assert!(
        resp.text().starts_with("app:"),
        "{path} should reach the app: {:?}",
        resp.text()
    );
}

#[test]
fn files_are_served_with_their_type_ranges_and_validators() {
    let site = Site::new();
    let (server, addr) = site.serve(&[]);

    let css = get(addr, "/static/site.css");
    assert_eq!(css.status, 200, "{css:?}");
    assert_eq!(css.header("content-type"), Some("text/css"));
    assert_eq!(css.text(), "body { color: red }\n");
    assert_eq!(css.header("content-length"), Some("20"));
    assert_eq!(css.header("accept-ranges"), Some("bytes"));
    let etag = css.header("etag").expect("an ETag").to_string();
    let last_modified = css
        .header("last-modified")
        .expect("Last-Modified")
        .to_string();
    assert!(last_modified.ends_with(" GMT"), "{last_modified}");

    let head = request(addr, "HEAD", "/static/site.css", &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("20"));
    assert_eq!(head.header("etag"), Some(etag.as_str()));

    // The whole file, across several writes.
    let bin = get(addr, "/static/data.bin");
    assert_eq!(bin.status, 200);
    assert!(bin.body == site.data, "data.bin differs");

    // One range: 206 with exactly those bytes.
    for (range, start, end) in [
        ("bytes=1000-1999", 1000usize, 1999usize),
        ("bytes=307000-", 307_000, site.data.len() - 1),
        ("bytes=-100", site.data.len() - 100, site.data.len() - 1),
    ] {
        let part = request(addr, "GET", "/static/data.bin", &[("Range", range)]);
        assert_eq!(part.status, 206, "{range}: {part:?}");
        assert_eq!(
            part.header("content-range"),
            Some(format!("bytes {start}-{end}/{}", site.data.len()).as_str())
        );
        assert!(part.body == site.data[start..=end], "{range}: wrong bytes");
    }
    let beyond = request(
        addr,
        "GET",
        "/static/data.bin",
        &[("Range", "bytes=999999-")],
    );
    assert_eq!(beyond.status, 416, "{beyond:?}");
    assert_eq!(
        beyond.header("content-range"),
        Some(format!("bytes */{}", site.data.len()).as_str())
    );
    // Several ranges: the whole file, as RFC 9110 §14.2 allows.
    let multi = request(
        addr,
        "GET",
        "/static/data.bin",
        &[("Range", "bytes=0-1,5-6")],
    );
    assert_eq!(multi.status, 200);
    assert_eq!(multi.body.len(), site.data.len());
    // An If-Range that no longer holds: the whole file.
    let stale = request(
        addr,
        "GET",
        "/static/site.css",
        &[("Range", "bytes=0-3"), ("If-Range", "\"stale\"")],
    );
    assert_eq!(stale.status, 200);

    // Validators: 304 without a body; a changed tag gets the file.
    let ims = request(
        addr,
        "GET",
        "/static/site.css",
        &[("If-Modified-Since", &last_modified)],
    );
    assert_eq!(ims.status, 304, "{ims:?}");
    assert!(ims.body.is_empty());
    let inm = request(addr, "GET", "/static/site.css", &[("If-None-Match", &etag)]);
    assert_eq!(inm.status, 304, "{inm:?}");
    assert_eq!(inm.header("etag"), Some(etag.as_str()));
    let other = request(
        addr,
        "GET",
        "/static/site.css",
        &[
            ("If-None-Match", "\"other\""),
            ("If-Modified-Since", &last_modified),
        ],
    );
    assert_eq!(
        other.status, 200,
        "If-None-Match wins over If-Modified-Since"
    );
    let old = request(
        addr,
        "GET",
        "/static/site.css",
        &[("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")],
    );
    assert_eq!(old.status, 200);

    // The request log has each static answer, sent with sendfile.
    let log = server.wait_for_log("GET /static/data.bin => generated 307200 bytes");
    assert!(
        log.lines()
            .any(|l| l.contains("GET /static/site.css => generated 20 bytes")
                && l.contains("via sendfile()")),
        "{log}"
    );
}

#[test]
fn the_gzip_sibling_goes_to_clients_that_take_gzip() {
    let site = Site::new();
    let (_server, addr) = site.serve(&["--static-gzip-ext", ".txt"]);
    let gz = request(
        addr,
        "GET",
        "/static/notes.txt",
        &[("Accept-Encoding", "gzip, deflate")],
    );
    assert_eq!(gz.status, 200, "{gz:?}");
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("vary"), Some("Accept-Encoding"));
    assert_eq!(gz.header("content-type"), Some("text/plain"));
    assert_eq!(gz.body, b"\x1f\x8b gzipped notes");
    for plain in [
        vec![],
        vec![("Accept-Encoding", "br")],
        vec![("Accept-Encoding", "gzip;q=0")],
    ] {
        let resp = request(addr, "GET", "/static/notes.txt", &plain);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-encoding"), None, "{plain:?}");
        assert_eq!(resp.header("vary"), Some("Accept-Encoding"));
        assert_eq!(resp.text(), "plain notes\n");
    }
    // No rule covers .css: neither Vary nor the encoding.
    let css = request(
        addr,
        "GET",
        "/static/site.css",
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(css.header("vary"), None);
    assert_eq!(css.header("content-encoding"), None);
}

/// `static-gzip REGEX` and `static-gzip-dir DIR` each cover their files, and no other.
#[test]
fn static_gzip_by_regexp_and_by_directory() {
    let site = Site::new();
    let st = std::fs::canonicalize(site.path("root/static")).unwrap();
    std::fs::write(st.join("sub/page.txt"), "plain page\n").unwrap();
    std::fs::write(st.join("sub/page.txt.gz"), b"\x1f\x8b page").unwrap();
    std::fs::write(st.join("other.txt"), "plain other\n").unwrap();
    std::fs::write(st.join("other.txt.gz"), b"\x1f\x8b other").unwrap();
    let sub = format!("{}/sub/", st.display());
    let (_server, addr) =
        site.serve(&["--static-gzip", "/notes\\.txt$", "--static-gzip-dir", &sub]);
    let gz = |path| request(addr, "GET", path, &[("Accept-Encoding", "gzip")]);
    for (path, body) in [
        ("/static/notes.txt", &b"\x1f\x8b gzipped notes"[..]),
        ("/static/sub/page.txt", b"\x1f\x8b page"),
    ] {
        let r = gz(path);
        assert_eq!(r.header("content-encoding"), Some("gzip"), "{path}: {r:?}");
        assert_eq!(r.body, body, "{path}");
    }
    let other = gz("/static/other.txt");
    assert_eq!(other.header("content-encoding"), None, "{other:?}");
    assert_eq!(other.text(), "plain other\n");
}

/// `static-gzip-all` covers every file. A `mimefile` that cannot be read is logged and
/// leaves the built-in table (`.wav` is `audio/wav` there, `audio/x-wav` in Debian's
/// `/etc/mime.types`); a readable one decides the types alone.
#[test]
fn static_gzip_all_and_mimefile() {
    let site = Site::new();
    let st = site.path("root/static");
    std::fs::write(st.join("other.txt"), "plain other\n").unwrap();
    std::fs::write(st.join("other.txt.gz"), b"\x1f\x8b other").unwrap();
    std::fs::write(st.join("sound.wav"), "RIFF").unwrap();
    let (server, addr) =
        site.serve(&["--static-gzip-all", "--mimefile", "/nonexistent/mime.types"]);
    let r = request(
        addr,
        "GET",
        "/static/other.txt",
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(r.header("content-encoding"), Some("gzip"), "{r:?}");
    assert_eq!(r.body, b"\x1f\x8b other");
    assert_eq!(
        get(addr, "/static/sound.wav").header("content-type"),
        Some("audio/wav")
    );
    assert_eq!(
        get(addr, "/static/site.css").header("content-type"),
        Some("text/css")
    );
    server.wait_for_log("mimefile /nonexistent/mime.types: ");
    drop(server);

    let types = site.path("custom.types");
    std::fs::write(&types, "# ours\ntext/x-custom\tcss\n").unwrap();
    let (_server, addr) = site.serve(&["--mimefile", types.to_str().unwrap()]);
    let css = get(addr, "/static/site.css");
    assert_eq!(css.header("content-type"), Some("text/x-custom"), "{css:?}");
    let txt = get(addr, "/static/notes.txt");
    assert_eq!(txt.header("content-type"), None, "not in the file: {txt:?}");
    // Without a gzip rule the sibling is not looked for.
    let plain = request(
        addr,
        "GET",
        "/static/other.txt",
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(plain.text(), "plain other\n");
}

#[test]
fn index_files_and_what_falls_through_to_the_app() {
    let site = Site::new();
    let (_server, addr) = site.serve(&["--static-index", "index.html", "--static-skip-ext", ".py"]);
    let index = get(addr, "/static/sub/");
    assert_eq!(index.status, 200);
    assert_eq!(index.header("content-type"), Some("text/html"));
    assert_eq!(index.text(), "<h1>index</h1>\n");
    // A skipped extension, a missing file, a directory without index, another method, a
    // path outside every mount: the app answers.
    for path in [
        "/static/app.py",
        "/static/missing.css",
        "/static/",
        "/elsewhere/site.css",
    ] {
        let resp = get(addr, path);
        assert_from_app(&resp, path);
        assert_eq!(resp.text(), format!("app:GET {path}"));
    }
    let post = exchange(
        addr,
        b"POST /static/site.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(post.text(), "app:POST /static/site.css");
}

/// `max-age` of an answer, which may read one second less than the rule's when a second
/// turned between the server's clock and the test's.
fn max_age(resp: &Response, secs: u64, what: &str) {
    let got = resp.header("cache-control");
    let ok = [secs, secs.saturating_sub(1)].map(|s| format!("max-age={s}"));
    assert!(
        got.is_some_and(|g| ok.iter().any(|o| o == g)),
        "{what}: {got:?} ({resp:?})"
    );
    let expires = resp.header("expires").expect("Expires");
    assert!(
        expires.ends_with(" GMT") && expires.len() == 29,
        "{expires}"
    );
}

/// Every kind of `static-expires*` rule in uWSGI's syntax: `REGEX SECS` for the regexp
/// rules, `TYPE=SECS` for the content-type ones (here from an ini `for` loop, as a
/// deployment in the corpus writes them); the `-mtime` rules count from the file's mtime.
#[test]
fn static_expires_rules_of_every_kind_in_uwsgi_syntax() {
    let site = Site::new();
    let st = site.path("root/static");
    std::fs::write(st.join("pic.png"), "png").unwrap();
    std::fs::write(st.join("pic.gif"), "gif").unwrap();
    // 1_000_000_000 is Sun, 09 Sep 2001 01:46:40 GMT.
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    for name in ["pic.png", "pic.gif", "app.py"] {
        let f = std::fs::File::options()
            .write(true)
            .open(st.join(name))
            .unwrap();
        f.set_modified(old).unwrap();
    }
    let ini = site.path("types.ini");
    std::fs::write(
        &ini,
        "[uwsgi]\nfor = png gif\nstatic-expires-type-mtime = image/%(_)=3600\nendfor =\n",
    )
    .unwrap();
    let (_server, addr) = site.serve(&[
        "--ini",
        ini.to_str().unwrap(),
        "--static-expires",
        "\\.css$ 3600",
        "--static-expires-mtime",
        "app\\.py$ 1000",
        "--static-index",
        "index.html",
        "--static-expires-path-info",
        "^/static/sub/ 300",
        "--static-expires-uri",
        "\\?v=1$ 120",
        "--static-expires-type",
        "text/plain=60",
    ]);
    max_age(&get(addr, "/static/site.css"), 3600, "file regexp");
    max_age(&get(addr, "/static/notes.txt"), 60, "type");
    max_age(&get(addr, "/static/sub/"), 300, "path-info");
    max_age(&get(addr, "/static/data.bin?v=1"), 120, "uri");
    let bin = get(addr, "/static/data.bin");
    assert_eq!(bin.header("expires"), None, "no rule: {bin:?}");
    assert_eq!(bin.header("cache-control"), None);
    // From the mtime: a date in the past, so nothing left to cache.
    let py = get(addr, "/static/app.py");
    assert_eq!(py.header("expires"), Some("Sun, 09 Sep 2001 02:03:20 GMT"));
    assert_eq!(py.header("cache-control"), Some("max-age=0"));
    for pic in ["/static/pic.png", "/static/pic.gif"] {
        let resp = get(addr, pic);
        assert_eq!(
            resp.header("expires"),
            Some("Sun, 09 Sep 2001 02:46:40 GMT"),
            "{pic}: {resp:?}"
        );
    }
}

#[test]
fn disable_sendfile_sends_the_same_bytes() {
    let site = Site::new();
    let (server, addr) = site.serve(&["--disable-sendfile"]);
    let bin = get(addr, "/static/data.bin");
    assert_eq!(bin.status, 200);
    assert!(bin.body == site.data, "data.bin differs");
    let part = request(
        addr,
        "GET",
        "/static/data.bin",
        &[("Range", "bytes=100-199")],
    );
    assert_eq!(part.status, 206);
    assert!(part.body == site.data[100..200]);
    let log = server.wait_for_log("GET /static/data.bin => generated 307200 bytes");
    let line = log
        .lines()
        .find(|l| l.contains("GET /static/data.bin => generated 307200 bytes"))
        .unwrap();
    assert!(!line.contains("via sendfile()"), "{line}");
}

/// `static-cache-paths` caches resolved paths in uWSGI; ruwsgi resolves them for each
/// request, so the option changes nothing: a file added or removed shows at once.
#[test]
fn static_cache_paths_changes_nothing() {
    let site = Site::new();
    let (server, addr) = site.serve(&[
        "--static-cache-paths",
        "30",
        "--static-cache-paths-name",
        "paths",
    ]);
    let added = site.path("root/static/added.txt");
    assert_from_app(&get(addr, "/static/added.txt"), "/static/added.txt");
    std::fs::write(&added, "added\n").unwrap();
    assert_eq!(get(addr, "/static/added.txt").text(), "added\n");
    std::fs::remove_file(&added).unwrap();
    assert_from_app(&get(addr, "/static/added.txt"), "/static/added.txt");
    assert!(
        !server.log().contains("not implemented"),
        "{}",
        server.log()
    );
}

#[test]
fn static_map2_and_check_static_keep_the_whole_path() {
    let site = Site::new();
    let root = site.path("root").to_string_lossy().into_owned();
    let args = vec![
        "--wsgi-file".to_string(),
        app("static_app.py"),
        "--static-map2".to_string(),
        format!("/static={root}"),
        "--check-static".to_string(),
        site.path("shared").to_string_lossy().into_owned(),
    ];
    let (_server, addr) = Server::http(args);
    assert_eq!(
        get(addr, "/static/site.css").text(),
        "body { color: red }\n"
    );
    assert_eq!(get(addr, "/shared.txt").text(), "shared file\n");
    assert_from_app(&get(addr, "/secret/secret.txt"), "/secret/secret.txt");
}

#[test]
fn files_are_served_on_a_uwsgi_socket() {
    let site = Site::new();
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut args = site.args(&[]);
    args.extend(["--socket".to_string(), addr.to_string()]);
    let mut server = Server::start(args);
    server.wait_for_tcp(addr);

    let css = uwsgi_tcp_request(
        addr,
        &uwsgi_packet(&uwsgi_vars("GET", "/static/site.css"), b""),
    );
    assert_eq!(css.status, 200, "{css:?}");
    assert_eq!(css.header("content-type"), Some("text/css"));
    assert_eq!(css.text(), "body { color: red }\n");

    let mut vars = uwsgi_vars("GET", "/static/data.bin");
    vars.push(("HTTP_RANGE", "bytes=10-19"));
    let part = uwsgi_tcp_request(addr, &uwsgi_packet(&vars, b""));
    assert_eq!(part.status, 206);
    assert!(part.body == site.data[10..20]);

    let etag = css.header("etag").unwrap().to_string();
    let mut vars = uwsgi_vars("GET", "/static/site.css");
    vars.push(("HTTP_IF_NONE_MATCH", &etag));
    assert_eq!(
        uwsgi_tcp_request(addr, &uwsgi_packet(&vars, b"")).status,
        304
    );

    // PATH_INFO arrives decoded: a `..` in it is refused.
    let mut vars = uwsgi_vars("GET", "/static/x");
    vars.retain(|(k, _)| *k != "PATH_INFO");
    vars.push(("PATH_INFO", "/static/../secret/secret.txt"));
    let refused = uwsgi_tcp_request(addr, &uwsgi_packet(&vars, b""));
    assert_eq!(refused.status, 403);
    assert!(!refused.text().contains(SECRET));

    let missing = uwsgi_tcp_request(addr, &uwsgi_packet(&uwsgi_vars("GET", "/static/nope"), b""));
    assert_eq!(missing.text(), "app:GET /static/nope");
}

/// Every way out of the root: refused (403) or, when the name is merely strange, a missing
/// file for the app; never the secret's bytes. The worker serves on afterwards.
#[test]
fn traversal_attempts_never_leave_the_root() {
    let site = Site::new();
    let shared = site.path("shared").to_string_lossy().into_owned();
    let (server, addr) = site.serve(&["--static-safe", &shared]);
    // Each row: the target, its status, and for a refusal what the log says of it: the
    // path once decoded (escaped as logged) and why.
    const DOTDOT: &str = "a \"..\" segment";
    const OUTSIDE: &str = "outside";
    let up = "/static/../secret/secret.txt";
    type Row<'a> = (&'a str, u16, Option<(&'a str, &'a str)>);
    let table: &[Row] = &[
        (up, 403, Some((up, DOTDOT))),
        ("/static/%2e%2e/secret/secret.txt", 403, Some((up, DOTDOT))),
        ("/static/%2E%2e/secret/secret.txt", 403, Some((up, DOTDOT))),
        ("/static/.%2e/secret/secret.txt", 403, Some((up, DOTDOT))),
        ("/static/%2e./secret/secret.txt", 403, Some((up, DOTDOT))),
        ("/static/..%2fsecret%2fsecret.txt", 403, Some((up, DOTDOT))),
        ("/static/..%2Fsecret/secret.txt", 403, Some((up, DOTDOT))),
        (
            "/static/%2e%2e%2f%2e%2e%2fsecret%2fsecret.txt",
            403,
            Some(("/static/../../secret/secret.txt", DOTDOT)),
        ),
        (
            "/static/sub/../../secret/secret.txt",
            403,
            Some(("/static/sub/../../secret/secret.txt", DOTDOT)),
        ),
        (
            "/static//../secret/secret.txt",
            403,
            Some(("/static//../secret/secret.txt", DOTDOT)),
        ),
        (
            "/static/./../secret/secret.txt",
            403,
            Some(("/static/./../secret/secret.txt", DOTDOT)),
        ),
        (
            "/static/..%5csecret%5csecret.txt",
            403,
            Some((r"/static/..\\secret\\secret.txt", "a backslash")),
        ),
        (
            "/static/%5c..%5csecret",
            403,
            Some((r"/static/\\..\\secret", "a backslash")),
        ),
        (
            "/static/site.css%00.txt",
            403,
            Some((r"/static/site.css\0.txt", "a NUL byte")),
        ),
        ("/static/..", 403, Some(("/static/..", DOTDOT))),
        (
            "http://evil.example/static/../secret/secret.txt",
            403,
            Some((up, DOTDOT)),
        ),
        ("/static/escape", 403, Some(("/static/escape", OUTSIDE))),
        (
            "/static/escape_dir/secret.txt",
            403,
            Some(("/static/escape_dir/secret.txt", OUTSIDE)),
        ),
        // Decoded once: `%252e%252e` is the literal name `%2e%2e`, which does not exist.
        ("/static/%252e%252e/secret/secret.txt", 200, None),
        ("/static/%252e%252e%252fsecret%252fsecret.txt", 200, None),
    ];
    for (target, want, _) in table {
        let resp = request(addr, "GET", target, &[]);
        assert_eq!(resp.status, *want, "{target}: {resp:?}");
        assert!(!resp.text().contains(SECRET), "{target} leaked the secret");
        if *want == 200 {
            assert!(
                resp.text().starts_with("app:"),
                "{target}: {:?}",
                resp.text()
            );
        }
    }
    // Each refusal is logged once, saying why: the logged refusals are exactly the table's.
    let log = server.wait_for_log("static files: refused GET /static/escape_dir/secret.txt");
    let mut logged: Vec<String> = log
        .lines()
        .filter_map(|l| l.split_once("static files: refused GET ").map(|(_, m)| m))
        .map(|m| match m.split_once(": it resolves to ") {
            Some((path, rest)) if rest.contains(" outside ") => format!("{path}: {OUTSIDE}"),
            _ => m.to_string(),
        })
        .collect();
    let mut expected: Vec<String> = table
        .iter()
        .filter_map(|(_, _, logged)| logged.map(|(path, why)| format!("{path}: {why}")))
        .collect();
    logged.sort();
    expected.sort();
    assert_eq!(logged, expected, "{log}");
    // A symlink out of the root into a static-safe directory is followed.
    let safe = get(addr, "/static/shared.txt");
    assert_eq!(safe.status, 200);
    assert_eq!(safe.text(), "shared file\n");
    // The worker still serves.
    assert_eq!(get(addr, "/static/site.css").status, 200);
    assert!(Path::new(&site.static_dir()).exists());
}

#[test]
fn a_symlink_out_of_the_root_without_static_safe_is_refused() {
    let site = Site::new();
    let (server, addr) = site.serve(&[]);
    let resp = get(addr, "/static/shared.txt");
    assert_eq!(resp.status, 403, "{resp:?}");
    server.wait_for_log("static files: refused GET /static/shared.txt");
}

#[test]
fn an_unusable_static_option_stops_the_server_at_start() {
    let out = run_ruwsgi([
        "--http-socket",
        "127.0.0.1:0",
        "--builtin-handler",
        "--static-map",
        "/static=/srv",
        "--static-expires",
        "(unclosed 60",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("static-expires \"(unclosed 60\""), "{err}");
    // The content-type rules are `TYPE=SECS`, as uWSGI reads them; a space is refused.
    let out = run_ruwsgi([
        "--http-socket",
        "127.0.0.1:0",
        "--builtin-handler",
        "--static-map",
        "/static=/srv",
        "--static-expires-type",
        "text/css 60",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("static-expires-type \"text/css 60\"") && err.contains("text/css=86400"),
        "{err}"
    );
}

#[test]
fn the_builtin_handler_serves_static_files_too() {
    let site = Site::new();
    let (_server, addr) = Server::http([
        "--builtin-handler".to_string(),
        "--static-map".to_string(),
        format!("/static={}", site.static_dir()),
    ]);
    assert_eq!(
        get(addr, "/static/site.css").text(),
        "body { color: red }\n"
    );
    assert_eq!(get(addr, "/other").text(), "Hello World\n");
}
