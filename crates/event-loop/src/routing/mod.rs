//! Internal routing, as uWSGI's `route*` and `response-route*` options and
//! `collect-header` / `pull-header` do it.
//!
//! # The two lists
//! - **Request rules** (`route`, `route-host`, `route-uri`, `route-qs`,
//!   `route-remote-addr`, `route-user-agent`, `route-remote-user`, `route-referer`,
//!   `route-if`, `route-if-not`, `route-run`, `route-label`) run in order on the loop
//!   thread before the request goes on: [`Routing`] wraps the handler (and the
//!   [`StaticFiles`](crate::StaticFiles) handler, so a rule also covers mapped files, as in
//!   uWSGI). A rule may answer the request itself (`break`, `return`, `redirect`,
//!   `static`), change its variables (`rewrite`, `addvar`, `set*`), or note what its
//!   response gets (`addheader`, `delheader`) and its log (`donotlog`, `logvar`).
//! - **Error rules** and **response rules** (the same under `error-route` and
//!   `response-route`, plus `*-status`) run when the response's head is ready, on the
//!   thread that produced it ([`Reply::start`](crate::Reply::start)): the error rules
//!   first, as uWSGI runs them when the status is set, then the response rules, which
//!   also see the response headers `collect-header` and `pull-header` copied into
//!   variables. Both may add or drop headers or answer in place of the app
//!   (`error-route-status = 404 static:/srv/404.html`, `static:${X_SENDFILE}`).
//!
//! # A changed request
//! A request rule that changes a variable turns the request's head into the variable list
//! a uwsgi packet carries ([`Head::Uwsgi`]), HTTP or not: the handler reads the changed
//! `PATH_INFO`, `SCRIPT_NAME`, ... as it reads nginx's. The connection keeps the HTTP
//! framing it read the request with.
//!
//! # Cost
//! None unless a routing option is set: the process crate wraps the handler only then.

mod response;
mod rule;
mod vars;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use ruwsgi_proto::UwsgiPacket;

use crate::error::Error;
use crate::handler::{Handler, Head, Request, ResponseHead};
use crate::reply::Reply;
use crate::static_files::{self, Answer, Found};

pub(crate) use response::ResponseEdits;
pub use rule::RouteLine;
use rule::{Action, Compare, Cond, PathTest, Phase, Rule, Test};
use vars::{Groups, Vars};

/// The routing configuration: the rules in the order given, and the headers to collect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteOptions {
    /// Every `route*`, `error-route*` and `response-route*` value, in the order the
    /// configuration gave them (a `goto` label may be set by one option and used by
    /// another of the same phase), and the `collect-header` (`HEADER VAR`: the response
    /// header's value goes into `VAR`) and `pull-header` (likewise, and the header leaves
    /// the response) values.
    pub lines: Vec<RouteLine>,
}

impl RouteOptions {
    /// Whether any routing is configured.
    pub fn is_configured(&self) -> bool {
        !self.lines.is_empty()
    }

    /// Parses every rule: an error names the option, its value and where it was set, and
    /// says what is wrong. The cli calls it at start, so a bad rule stops the server
    /// before it serves.
    pub fn check(&self) -> Result<(), Error> {
        Routes::new(self, &crate::StaticOptions::default()).map(|_| ())
    }
}

/// The parsed rules, shared by the loop thread and the handler's threads.
#[derive(Debug)]
pub(crate) struct Routes {
    request: Vec<Rule>,
    error: Vec<Rule>,
    response: Vec<Rule>,
    /// `collect-header` and `pull-header`: header name, variable, whether pulled.
    collect: Vec<(String, Vec<u8>, bool)>,
    /// The static-file settings (`mimefile`, `static-expires*`, gzip, sendfile) a
    /// `static` action answers with.
    files: static_files::Config,
}

impl Routes {
    fn new(options: &RouteOptions, files: &crate::StaticOptions) -> Result<Routes, Error> {
        let mut routes = Routes {
            request: Vec::new(),
            error: Vec::new(),
            response: Vec::new(),
            collect: Vec::new(),
            files: static_files::Config::new(files)?,
        };
        for line in &options.lines {
            if let Some(pull) = match line.option.as_str() {
                "collect-header" => Some(false),
                "pull-header" => Some(true),
                _ => None,
            } {
                let Some((header, var)) = line.value.trim().split_once(' ') else {
                    return Err(Error::route_option(line, "expected `HEADER VAR`".into()));
                };
                let var = var.trim().as_bytes().to_vec();
                routes.collect.push((header.to_string(), var, pull));
                continue;
            }
            let (phase, rule) = rule::parse(line)?;
            match phase {
                Phase::Request => routes.request.push(rule),
                Phase::Error => routes.error.push(rule),
                Phase::Response => routes.response.push(rule),
            }
        }
        Ok(routes)
    }
}

/// Runs the request rules before `inner` (see the module doc), and hands the response
/// rules to each reply.
#[derive(Debug)]
pub struct Routing<H> {
    inner: H,
    routes: Arc<Routes>,
    worker: usize,
}

impl<H: Handler> Routing<H> {
    /// Wraps `inner`; `files` are the static-file settings a `static` action answers with.
    /// An error names the option whose value cannot be used.
    pub fn new(
        options: &RouteOptions,
        files: &crate::StaticOptions,
        worker: usize,
        inner: H,
    ) -> Result<Routing<H>, Error> {
        Ok(Routing {
            inner,
            routes: Arc::new(Routes::new(options, files)?),
            worker,
        })
    }
}

impl<H: Handler> Handler for Routing<H> {
    fn handle(&mut self, mut request: Request, mut reply: Reply) {
        let mut state = State::new(Vars::of(&request, self.worker));
        let answer = run(&self.routes, &self.routes.request, &mut state, None);
        if state.changed {
            request.head = Head::Uwsgi(UwsgiPacket {
                modifier1: 0,
                modifier2: 0,
                vars: state.vars.list.clone(),
            });
        }
        // The request rules' log notes go with the reply now: an answer that never passes
        // through the edits (a bare `break`, an app failure) keeps them too.
        if state.no_log {
            reply.set_no_log();
        }
        for (name, value) in state.logvars.drain(..) {
            reply.set_logvar(name, value);
        }
        reply.set_edits(ResponseEdits::new(self.routes.clone(), state));
        match answer {
            None => self.inner.handle(request, reply),
            Some(End::Answer(answer)) => answer.send(reply),
            Some(End::Close) => reply.close(),
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

    fn queued(&self) -> usize {
        self.inner.queued()
    }

    fn flush(&mut self) {
        self.inner.flush()
    }
}

/// What one request's rules have done so far.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) vars: Vars,
    /// A rule changed a variable: the handler gets the changed list.
    changed: bool,
    /// The response's status (response rules).
    status: Option<u16>,
    /// `addheader` values, parsed.
    pub(crate) add: Vec<(String, Vec<u8>)>,
    /// `delheader` names.
    pub(crate) del: Vec<String>,
    pub(crate) no_log: bool,
    pub(crate) logvars: Vec<(String, String)>,
}

impl State {
    fn new(vars: Vars) -> State {
        State {
            vars,
            changed: false,
            status: None,
            add: Vec::new(),
            del: Vec::new(),
            no_log: false,
            logvars: Vec::new(),
        }
    }
}

/// How a list of rules ended when it did not just run out.
pub(crate) enum End {
    /// Answer with this.
    Answer(Answer),
    /// Close the connection without an answer (a bare `break`, as uWSGI).
    Close,
}

/// Runs `rules` in order; `None` when the request (or response) goes on unchanged in
/// its course. `status`: the response's, for response rules.
fn run(routes: &Routes, rules: &[Rule], state: &mut State, status: Option<u16>) -> Option<End> {
    state.status = status;
    let mut i = 0;
    while i < rules.len() {
        let rule = &rules[i];
        i += 1;
        let groups = match &rule.test {
            Test::Label(_) => continue,
            Test::Always => None,
            Test::Match { var, re } => match re.captures(state.vars.get(var.as_bytes())) {
                Some(c) => Some(groups(&c)),
                None => continue,
            },
            Test::If { cond, negate } => {
                let (hit, groups) = holds(cond, &state.vars);
                if hit == *negate {
                    continue;
                }
                groups
            }
            Test::Status(s) => {
                if state.status != Some(*s) {
                    continue;
                }
                None
            }
        };
        let expand = |vars: &Vars, text: &str| vars.expand(text, groups.as_ref());
        match &rule.action {
            Action::Continue => return None,
            Action::Break(None) => return Some(End::Close),
            Action::Break(Some(line)) => {
                let (status, reason) =
                    status_line(&String::from_utf8_lossy(&expand(&state.vars, line)));
                // uWSGI's `break` closes the connection after its answer.
                let mut answer = plain(status, reason, Vec::new());
                if let Answer::Bytes(head, _) = &mut answer {
                    head.headers
                        .push(("Connection".to_string(), b"close".to_vec()));
                }
                return Some(End::Answer(answer));
            }
            Action::Return(code) => {
                let reason = reason(*code);
                return Some(End::Answer(plain(
                    *code,
                    reason.to_string(),
                    reason.as_bytes().to_vec(),
                )));
            }
            Action::Redirect(code, to) => {
                let location = expand(&state.vars, to);
                let (reason, body): (&str, &[u8]) = match code {
                    301 => ("Moved Permanently", b"Moved Permanently"),
                    _ => ("Found", b"Moved"),
                };
                let mut head = ResponseHead::new(*code, reason, Vec::new());
                head.headers.push(("Location".to_string(), location));
                return Some(End::Answer(Answer::Bytes(head, body.to_vec())));
            }
            Action::Static(path) => {
                let path = expand(&state.vars, path);
                return Some(End::Answer(static_answer(routes, &state.vars, &path)));
            }
            Action::Rewrite { to, last } => {
                let to = expand(&state.vars, to);
                rewrite(&mut state.vars, &to);
                state.changed = true;
                if *last {
                    return None;
                }
            }
            Action::Goto(label) => {
                let label = String::from_utf8_lossy(&expand(&state.vars, label)).into_owned();
                let at = rules
                    .iter()
                    .position(|r| matches!(&r.test, Test::Label(l) if *l == label));
                match at {
                    Some(at) if at >= i => i = at + 1,
                    _ => {
                        log::error!(
                            "routing: goto {label:?}: no label of that name after the rule (goto only jumps forward)"
                        );
                        return Some(End::Answer(plain(
                            500,
                            "Internal Server Error".to_string(),
                            Vec::new(),
                        )));
                    }
                }
            }
            Action::SetVar(name, value) => {
                let value = expand(&state.vars, value);
                state.vars.set(name.as_bytes(), &value);
                state.changed = true;
            }
            Action::SetUser(value) => {
                let value = expand(&state.vars, value);
                let user = value.split(|&b| b == b':').next().unwrap_or_default();
                state.vars.set(b"REMOTE_USER", user);
                state.changed = true;
            }
            Action::FixPathInfo => {
                let script = state.vars.get(b"SCRIPT_NAME").to_vec();
                let path = state.vars.get(b"PATH_INFO");
                if !script.is_empty() && path.starts_with(&script) {
                    let rest = path[script.len()..].to_vec();
                    state.vars.set(b"PATH_INFO", &rest);
                    state.changed = true;
                }
            }
            Action::AddHeader(text) => {
                let text = expand(&state.vars, text);
                if let Some(colon) = text.iter().position(|&b| b == b':') {
                    let name = String::from_utf8_lossy(&text[..colon]).trim().to_string();
                    let value = text[colon + 1..].trim_ascii().to_vec();
                    state.add.push((name, value));
                }
            }
            Action::DelHeader(name) => {
                state
                    .del
                    .push(String::from_utf8_lossy(&expand(&state.vars, name)).into_owned());
            }
            Action::Log(text) => {
                log::info!("{}", String::from_utf8_lossy(&expand(&state.vars, text)))
            }
            Action::LogVar(name, value) => {
                let value = String::from_utf8_lossy(&expand(&state.vars, value)).into_owned();
                state.logvars.push((name.clone(), value));
            }
            Action::DoNotLog => state.no_log = true,
        }
    }
    None
}

/// The groups of a match, `$0` first.
fn groups(c: &regex::bytes::Captures<'_>) -> Groups {
    c.iter().map(|m| m.map(|m| m.as_bytes().to_vec())).collect()
}

/// Whether `cond` holds, and the groups of a `regexp` condition's match.
fn holds(cond: &Cond, vars: &Vars) -> (bool, Option<Groups>) {
    let text = |t: &str| vars.expand(t, None);
    let hit = match cond {
        Cond::Path(test, path) => {
            let path = text(path);
            let path = Path::new(std::ffi::OsStr::from_bytes(&path));
            match test {
                PathTest::Exists => path.exists(),
                PathTest::File => path.is_file(),
                PathTest::Dir => path.is_dir(),
                PathTest::Link => path.is_symlink(),
                PathTest::Exec => nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok(),
            }
        }
        Cond::Empty(t) => text(t).is_empty(),
        Cond::Compare(how, a, b) => {
            let (a, b) = (text(a), text(b));
            let num = |v: &[u8]| leading_number(v);
            match how {
                Compare::Equal => a == b,
                Compare::StartsWith => a.starts_with(&b),
                Compare::EndsWith => a.ends_with(&b),
                Compare::Contains => b.is_empty() || a.windows(b.len()).any(|w| w == b),
                Compare::Higher => num(&a) > num(&b),
                Compare::Lower => num(&a) < num(&b),
                Compare::HigherEqual => num(&a) >= num(&b),
                Compare::LowerEqual => num(&a) <= num(&b),
            }
        }
        Cond::Regexp(t, re) => {
            let t = text(t);
            return match re.captures(&t) {
                Some(c) => (true, Some(groups(&c))),
                None => (false, None),
            };
        }
        Cond::IpIn(addr, net) => ip_in(&text(addr), &text(net)),
    };
    (hit, None)
}

/// Whether the address `addr` lies in `net` (`ADDR/BITS`, or one address).
fn ip_in(addr: &[u8], net: &[u8]) -> bool {
    let parse = |b: &[u8]| {
        std::str::from_utf8(b)
            .ok()?
            .trim()
            .parse::<std::net::IpAddr>()
            .ok()
    };
    let (net, bits) = match net.iter().position(|&b| b == b'/') {
        Some(slash) => (
            &net[..slash],
            std::str::from_utf8(&net[slash + 1..])
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok()),
        ),
        None => (net, None),
    };
    let (Some(addr), Some(net)) = (parse(addr), parse(net)) else {
        return false;
    };
    let (a, n, width) = match (addr, net) {
        (std::net::IpAddr::V4(a), std::net::IpAddr::V4(n)) => {
            (u128::from(u32::from(a)), u128::from(u32::from(n)), 32)
        }
        (std::net::IpAddr::V6(a), std::net::IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    let bits = bits.unwrap_or(width);
    if bits > width {
        return false;
    }
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (n >> shift)
}

/// The number a text starts with, as uWSGI's `strtol` reads it for the number conditions:
/// leading spaces, a sign, then digits (`12abc` is 12); 0 without digits or past `i64`.
fn leading_number(v: &[u8]) -> i64 {
    let v = v.trim_ascii_start();
    let (sign, digits) = match v.first() {
        Some(b'-') => (-1, &v[1..]),
        Some(b'+') => (1, &v[1..]),
        _ => (1, v),
    };
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end])
        .ok()
        .and_then(|d| d.parse::<i64>().ok())
        .map_or(0, |n| sign * n)
}

/// `rewrite`: the path (percent-decoded) becomes `PATH_INFO`; a `?QUERY` becomes the
/// query, with the old one after it (`new&old`), as uWSGI's rewrite does.
fn rewrite(vars: &mut Vars, to: &[u8]) {
    let (path, query) = match to.iter().position(|&b| b == b'?') {
        Some(q) => (&to[..q], Some(&to[q + 1..])),
        None => (to, None),
    };
    let old = vars.get(b"QUERY_STRING").to_vec();
    let query = match query {
        Some(new) if !old.is_empty() => [new, b"&", &old].concat(),
        Some(new) => new.to_vec(),
        None => old,
    };
    vars.set(b"PATH_INFO", &ruwsgi_proto::percent_decode(path));
    vars.set(b"QUERY_STRING", &query);
}

/// `static`: the file's answer, with the request's conditional and range headers, as
/// `static-map` answers; 404 when there is no such file.
fn static_answer(routes: &Routes, vars: &Vars, path: &[u8]) -> Answer {
    let file = Path::new(std::ffi::OsStr::from_bytes(path));
    match Found::at(file) {
        Some(found) => {
            let head = Head::Uwsgi(UwsgiPacket {
                modifier1: 0,
                modifier2: 0,
                vars: vars.list.clone(),
            });
            routes.files.answer(&head, vars.get(b"PATH_INFO"), found)
        }
        None => {
            log::warn!(
                "routing: static: no file {} to answer with",
                String::from_utf8_lossy(path)
            );
            plain(404, "Not Found".to_string(), b"Not Found\n".to_vec())
        }
    }
}

/// A plain-text answer.
fn plain(status: u16, reason: String, body: Vec<u8>) -> Answer {
    let head = ResponseHead::new(
        status,
        reason,
        vec![("Content-Type".to_string(), b"text/plain".to_vec())],
    );
    Answer::Bytes(head, body)
}

/// `403 Forbidden` → (403, "Forbidden"); a code alone gets its standard reason.
fn status_line(line: &str) -> (u16, String) {
    let line = line.trim();
    let (code, text) = line.split_once(' ').unwrap_or((line, ""));
    let code = code
        .parse()
        .ok()
        .filter(|c| (100..=999).contains(c))
        .unwrap_or(500);
    let text = match text.trim() {
        "" => reason(code).to_string(),
        t => t.to_string(),
    };
    (code, text)
}

/// The standard reason phrase of `code`, `Unknown` for others.
fn reason(code: u16) -> &'static str {
    ruwsgi_proto::reason_phrase(code).unwrap_or("Unknown")
}
