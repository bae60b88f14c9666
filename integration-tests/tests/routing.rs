//! Internal routing (uWSGI's `route*`, `response-route*`, `collect-header` and `pull-header`
//! options): the real binary over real sockets, HTTP and uwsgi, with a WSGI app
//! (`apps/routing_app.py`) behind that echoes the environ the rules shaped and counts the
//! requests it served, so a routed answer can be shown never to have reached it.

use std::net::SocketAddr;
use std::path::Path;

use ruwsgi_integration_tests::*;

/// `ruwsgi --http-socket ... --wsgi-file routing_app.py ARGS...`.
fn serve(args: &[&str]) -> (Server, SocketAddr) {
    let file = app("routing_app.py");
    let mut all = vec!["--wsgi-file", file.as_str()];
    all.extend_from_slice(args);
    Server::http(all)
}

/// `GET target` with `Host: host` and the extra `headers`.
fn request(addr: SocketAddr, target: &str, host: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    exchange(addr, req.as_bytes())
}

/// `GET uri` over the uwsgi protocol, as nginx sends it for `Host: host`.
fn uwsgi_get(addr: SocketAddr, uri: &str, host: &str) -> Response {
    let mut vars = uwsgi_vars("GET", uri);
    vars.retain(|(k, _)| *k != "HTTP_HOST");
    vars.push(("HTTP_HOST", host));
    uwsgi_tcp_request(addr, &uwsgi_packet(&vars, b""))
}

/// The environ the app echoed in `resp`, which must be the app's JSON answer.
fn environ(resp: &Response) -> serde_json::Value {
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(
        resp.header("content-type"),
        Some("application/json"),
        "not the app's answer: {resp:?}"
    );
    serde_json::from_slice(&resp.body).unwrap_or_else(|e| panic!("{e}: {resp:?}"))
}

/// How many requests the app has served, this one included.
fn app_calls(addr: SocketAddr) -> u64 {
    environ(&get(addr, "/probe"))["calls"].as_u64().unwrap()
}

fn assert_text_plain(r: &Response) {
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{r:?}"
    );
}

fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// `redirect-permanent:` builds its Location from the rule's regex groups, and `route-if`
/// with `equal:` redirects to https only the requests whose `X-Forwarded-Proto` says http,
/// its Location built from `${HTTP_HOST}${REQUEST_URI}`; the others reach the app.
#[test]
fn redirects_build_their_location_from_groups_and_request_variables() {
    let (_server, addr) = serve(&[
        "--route",
        "^/old/(.*) redirect-permanent:/new/$1",
        "--route-if",
        "equal:${HTTP_X_FORWARDED_PROTO};http redirect:https://${HTTP_HOST}${REQUEST_URI}",
    ]);

    let r = get(addr, "/old/a/b");
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(r.header("location"), Some("/new/a/b"), "{r:?}");

    let r = request(
        addr,
        "/page?x=1",
        "shop.example",
        &[("X-Forwarded-Proto", "http")],
    );
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some("https://shop.example/page?x=1"),
        "{r:?}"
    );
    assert_eq!(r.text(), "Moved");

    let r = request(
        addr,
        "/page?x=1",
        "shop.example",
        &[("X-Forwarded-Proto", "https")],
    );
    assert_eq!(environ(&r)["PATH_INFO"], "/page", "{r:?}");
    assert_eq!(r.header("location"), None);
    let r = request(addr, "/page", "shop.example", &[]);
    assert_eq!(environ(&r)["PATH_INFO"], "/page", "{r:?}");
}

/// `return:`, `break:STATUS TEXT`, bare `break:` and `static:` answer in place of the app,
/// which the app's request count shows was never called for them.
#[test]
fn return_break_and_static_answer_in_place_of_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "fav.txt", "routed file bytes\n");
    let missing = dir.path().join("missing.txt");
    let (fav, nofile) = (
        format!("^/fav static:{file}"),
        format!("^/nofile static:{}", missing.display()),
    );
    let (_server, addr) = serve(&[
        "--route",
        "^/forbid return:403",
        "--route",
        "^/nope break:404 Nope",
        "--route",
        "^/gone break:",
        "--route",
        &fav,
        "--route",
        &nofile,
    ]);
    let before = app_calls(addr);

    let r = get(addr, "/forbid");
    assert_eq!((r.status, r.text().as_str()), (403, "Forbidden"), "{r:?}");

    let r = get(addr, "/nope");
    assert_eq!(r.status, 404, "{r:?}");
    assert!(r.body.is_empty(), "{r:?}");
    assert_text_plain(&r);

    let raw = exchange_raw(
        addr,
        b"GET /gone HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    );
    assert!(
        raw.is_empty(),
        "bare break: must close without an answer, got {:?}",
        String::from_utf8_lossy(&raw)
    );

    let r = get(addr, "/fav.ico");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "routed file bytes\n");
    assert_text_plain(&r);

    let r = get(addr, "/nofile");
    assert_eq!(r.status, 404, "{r:?}");

    // Only the two probes reached the app.
    assert_eq!(app_calls(addr), before + 1);
}

/// `rewrite:` changes PATH_INFO (percent-decoded) and puts its query string before the
/// request's; `addvar:` (with `${qs[name]}`), `setscriptname:` and a `route-host` rule shape
/// the environ the app sees; over HTTP and over a uwsgi socket alike.
#[test]
fn rewrites_and_variables_reach_the_app_over_http_and_uwsgi() {
    let uaddr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let usock = uaddr.to_string();
    let (mut server, addr) = serve(&[
        "--socket",
        &usock,
        "--route",
        "^/rw/(.*) rewrite:/rewritten/$1?x=1",
        "--route",
        "^/enc rewrite:/dec/x%20y",
        "--route",
        "^/vars addvar:MYVAR=${qs[name]}",
        "--route",
        "^/vars setscriptname:/mount",
        "--route-host",
        r"^api\. addvar:HOSTVAR=api",
    ]);
    server.wait_for_tcp(uaddr);

    let http = |uri: &str, host: &str| environ(&request(addr, uri, host, &[]));
    let uwsgi = |uri: &str, host: &str| environ(&uwsgi_get(uaddr, uri, host));
    for (proto, send) in [
        ("http", &http as &dyn Fn(&str, &str) -> serde_json::Value),
        ("uwsgi", &uwsgi),
    ] {
        let env = send("/rw/z?q=2", "www.example");
        assert_eq!(env["PATH_INFO"], "/rewritten/z", "{proto}: {env}");
        assert_eq!(env["QUERY_STRING"], "x=1&q=2", "{proto}: {env}");

        let env = send("/enc", "www.example");
        assert_eq!(env["PATH_INFO"], "/dec/x y", "{proto}: {env}");

        let env = send("/vars?name=bob", "www.example");
        assert_eq!(env["MYVAR"], "bob", "{proto}: {env}");
        assert_eq!(env["SCRIPT_NAME"], "/mount", "{proto}: {env}");
        assert_eq!(env["HOSTVAR"], serde_json::Value::Null, "{proto}: {env}");

        let env = send("/plain?q=3", "api.example");
        assert_eq!(env["HOSTVAR"], "api", "{proto}: {env}");
        assert_eq!(env["PATH_INFO"], "/plain", "{proto}: {env}");
        assert_eq!(env["QUERY_STRING"], "q=3", "{proto}: {env}");
        assert_eq!(env["MYVAR"], serde_json::Value::Null, "{proto}: {env}");
        assert_eq!(env["SCRIPT_NAME"], "", "{proto}: {env}");
    }
}

/// `route-run` rules add a header to every response and drop one the app set, while
/// `response-route-status` adds its header only to the app's responses with that status,
/// and `error-route-status` answers the app's 410s with a page of the site's own.
#[test]
fn route_run_and_status_rules_edit_the_response_headers() {
    let dir = tempfile::tempdir().unwrap();
    let page = write_file(dir.path(), "410.html", "<h1>gone for good</h1>\n");
    let error_rule = format!("410 static:{page}");
    let (_server, addr) = serve(&[
        "--route-run",
        "addheader:X-Route: on",
        "--route-run",
        "delheader:X-Drop",
        "--response-route-status",
        "404 addheader:X-Missing: yes",
        "--error-route-status",
        &error_rule,
    ]);

    let r = get(addr, "/page");
    environ(&r);
    assert_eq!(r.header("x-route"), Some("on"), "{r:?}");
    assert_eq!(r.header("x-drop"), None, "{r:?}");
    assert!(
        r.header("x-calls").is_some(),
        "the app's other headers stay: {r:?}"
    );
    assert_eq!(r.header("x-missing"), None, "{r:?}");

    let r = get(addr, "/status/404");
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.header("x-missing"), Some("yes"), "{r:?}");
    assert_eq!(r.header("x-route"), Some("on"), "{r:?}");
    assert_eq!(r.header("x-drop"), None, "{r:?}");

    // The error rule's file answers in place of the app's 410 (a file's answer: 200).
    let r = get(addr, "/status/410");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "<h1>gone for good</h1>\n", "{r:?}");
    assert_eq!(r.header("content-type"), Some("text/html"), "{r:?}");
    assert_eq!(r.header("x-route"), Some("on"), "{r:?}");
}

/// The X-Sendfile pattern: `collect-header` hands the app's `X-Sendfile` to a response rule
/// that answers with that file (a static file's answer, ranges included) in place of the
/// app's body; `pull-header` takes `X-Secret` out of the response while its value still
/// reaches a rule placed before the `static:` one (which ends the response routing, as in
/// uWSGI). A response without `X-Sendfile` is the app's own.
#[test]
fn x_sendfile_replaces_the_apps_body_and_pull_header_hides_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "offload.txt", "offloaded bytes\n");
    let missing = dir.path().join("missing.txt");
    let (_server, addr) = serve(&[
        "--collect-header",
        "X-Sendfile X_SENDFILE",
        "--pull-header",
        "X-Secret SECRET",
        "--response-route-run",
        "addheader:X-Got: ${SECRET}",
        "--response-route-if-not",
        "empty:${X_SENDFILE} static:${X_SENDFILE}",
    ]);

    let r = get(addr, &format!("/xs?file={file}&secret=s3"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "offloaded bytes\n");
    assert_text_plain(&r);
    assert!(r.header("etag").is_some(), "{r:?}");
    assert!(r.header("last-modified").is_some(), "{r:?}");
    assert_eq!(r.header("x-secret"), None, "{r:?}");
    // The value pulled from the app's response reached the rule before `static:` answered.
    assert_eq!(r.header("x-got"), Some("s3"), "{r:?}");

    let part = request(
        addr,
        &format!("/xs?file={file}&secret=s3"),
        "test",
        &[("Range", "bytes=0-8")],
    );
    assert_eq!(part.status, 206, "{part:?}");
    assert_eq!(part.text(), "offloaded");

    let r = get(addr, &format!("/xs?file={}&secret=s5", missing.display()));
    assert_eq!(r.status, 404, "{r:?}");
    assert_ne!(r.text(), "app body");

    let r = get(addr, "/xs?secret=s4");
    assert_eq!((r.status, r.text().as_str()), (200, "app body"), "{r:?}");
    assert_eq!(r.header("x-secret"), None, "{r:?}");
    assert_eq!(r.header("x-got"), Some("s4"), "{r:?}");
}

/// `goto:` jumps over rules to a `route-label` and routing goes on from there; `donotlog:`
/// keeps a request out of the request log, `log:` writes an expanded line to the server's
/// log and `logvar:` sets a `%(name)` of `log-format`.
#[test]
fn goto_skips_to_a_label_and_log_actions_shape_the_request_log() {
    let (server, addr) = serve(&[
        "--log-format",
        "REQ %(who) %(uri)",
        "--route",
        "^/skip goto:end",
        "--route",
        "^/skip return:500",
        "--route-label",
        "end",
        "--route",
        "^/quiet donotlog:",
        "--route",
        "^/quiet-close break:",
        "--route",
        "^/say log:hello ${HTTP_HOST}",
        "--route-run",
        "logvar:who=${qs[u]}",
    ]);

    let r = get(addr, "/skip?u=skipper");
    assert_eq!(environ(&r)["PATH_INFO"], "/skip", "{r:?}");
    server.wait_for_log("REQ skipper /skip?u=skipper");

    environ(&get(addr, "/quiet-7f3?u=hush"));
    // A bare `break:` answers nothing, and its `donotlog` holds all the same.
    assert!(exchange_raw(addr, b"GET /quiet-close HTTP/1.1\r\nHost: t\r\n\r\n").is_empty());
    environ(&request(addr, "/say?u=sayer", "said.example", &[]));
    server.wait_for_log("hello said.example");
    environ(&get(addr, "/loud-7f3?u=shout"));
    // One worker logs its requests in order: once the loud line is there, a line for the
    // quiet request would be too.
    let log = server.wait_for_log("REQ shout /loud-7f3?u=shout");
    assert!(log.contains("REQ sayer /say?u=sayer"), "{log}");
    assert!(!log.contains("/quiet-7f3"), "donotlog: was logged:\n{log}");
    assert!(
        !log.contains("/quiet-close"),
        "donotlog: was logged:\n{log}"
    );
}

/// A rule that cannot work stops the server at start, exit status 1, with a message naming
/// the option, its value, the reason and where it came from: the command line or an ini
/// file's line.
#[test]
fn a_bad_rule_stops_the_server_at_start_naming_where_it_came_from() {
    let file = app("routing_app.py");
    let socket = format!("127.0.0.1:{}", free_port());
    for (option, value, reason) in [
        ("--route", "^/x nosuch:1", "\"nosuch\""),
        ("--route", "^/x( continue:", "regular expression"),
        ("--route-if", "nosuchcond:a continue:", "\"nosuchcond\""),
    ] {
        let out = run_ruwsgi([
            "--http-socket",
            &socket,
            "--wsgi-file",
            &file,
            option,
            value,
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{option} {value}: {err}");
        let name = &option[2..];
        let source = format!("{name} {value:?} (command line {option}): ");
        for part in [source.as_str(), reason] {
            assert!(
                err.contains(part),
                "{option} {value}: {part:?} not in {err}"
            );
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let ini = write_file(
        dir.path(),
        "site.ini",
        &format!(
            "[uwsgi]\nhttp-socket = {socket}\nwsgi-file = {file}\nroute-if = equal:a continue:\n"
        ),
    );
    let out = run_ruwsgi(["--ini", &ini]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for part in ["route-if \"equal:a continue:\" (", "site.ini:4): "] {
        assert!(err.contains(part), "{part:?} not in {err}");
    }
}

/// Request rules run before `static-map` files, whatever the options' order: a `return:403`
/// rule guards a file the static map would serve, and the map's other files are served.
#[test]
fn request_rules_run_before_static_map_files() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "secret.txt", "secret\n");
    write_file(dir.path(), "other.txt", "other file\n");
    let map = format!("/static={}", dir.path().display());
    let (_server, addr) = serve(&[
        "--static-map",
        &map,
        "--route",
        "^/static/secret return:403",
    ]);

    let r = get(addr, "/static/secret.txt");
    assert_eq!((r.status, r.text().as_str()), (403, "Forbidden"), "{r:?}");
    let r = get(addr, "/static/other.txt");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "other file\n"),
        "{r:?}"
    );
}

/// An absolute-form request target (`GET http://host/path`, which a server must accept)
/// meets the same rules as its path: the rules see `PATH_INFO` as the app would.
#[test]
fn absolute_form_targets_meet_the_same_rules() {
    let (_server, addr) = serve(&["--route", "^/admin break:403 Forbidden"]);
    for target in [
        "/admin",
        "http://x/admin",
        "HTTPS://x.example:8443/admin?a=1",
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let r = exchange(addr, raw.as_bytes());
        assert_eq!(r.status, 403, "{target}: {r:?}");
        assert_eq!(r.header("connection"), Some("close"), "{target}: {r:?}");
    }
    let r = exchange(
        addr,
        b"GET http://x/fine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(environ(&r)["PATH_INFO"], "/fine", "{r:?}");
}

/// A response rule that answers in place of an app writing with `write()` ends that
/// response quietly: the app is not told its client left (no `OSError`, no log line), and
/// the next request on the same kept-alive connection gets the app's own answer.
#[test]
fn a_replaced_response_leaves_the_next_request_on_the_connection_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "offload.txt", "offloaded via write\n");
    let (server, addr) = serve(&[
        "--collect-header",
        "X-Sendfile X_SENDFILE",
        "--response-route-if-not",
        "empty:${X_SENDFILE} static:${X_SENDFILE}",
    ]);
    let mut stream = connect(addr);
    let requests = format!(
        "GET /xsw?file={file} HTTP/1.1\r\nHost: t\r\n\r\nGET /next HTTP/1.1\r\nHost: t\r\n\r\n"
    );
    std::io::Write::write_all(&mut stream, requests.as_bytes()).unwrap();
    let first = read_response(&mut stream, false).unwrap();
    assert_eq!(first.text(), "offloaded via write\n", "{first:?}");
    let second = read_response(&mut stream, false).unwrap();
    assert_eq!(environ(&second)["PATH_INFO"], "/next", "{second:?}");
    let log = server.wait_for_log("GET /next");
    assert!(!log.contains("went away"), "{log}");
    assert!(!log.contains("OSError"), "{log}");
}
