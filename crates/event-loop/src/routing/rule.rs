//! One routing rule as written in the configuration, parsed once at start: what it tests
//! ([`Test`]) and what it does ([`Action`]). The syntax is uWSGI's: `route = REGEX ACTION`
//! (and `route-host`, `route-uri`, ... on another subject), `route-if = COND:ARGS ACTION`,
//! `route-run = ACTION`, `route-label = NAME`, and the same under `response-route`; an
//! action is `NAME:ARGS`.

use regex::bytes::Regex;

use crate::error::Error;

/// A routing option's value as the configuration gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteLine {
    /// The option's name (`route`, `route-if`, `response-route-status`, ...).
    pub option: String,
    /// Its value.
    pub value: String,
    /// Where it was set (`site.ini:12`), for error messages.
    pub origin: String,
}

/// Which list a rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Before the app: `route*`.
    Request,
    /// When the response's status is known, before its headers: `error-route*`.
    Error,
    /// When the app's response head is ready: `response-route*`.
    Response,
}

/// One rule of a list.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) test: Test,
    pub(crate) action: Action,
}

/// When a rule's action runs.
#[derive(Debug)]
pub(crate) enum Test {
    /// A `*-label`: a target for `goto`, never run.
    Label(String),
    /// `*-run`: always.
    Always,
    /// A regular expression searched in one request variable (`route`: `PATH_INFO`).
    Match { var: &'static str, re: Regex },
    /// `*-if` / `*-if-not`.
    If { cond: Cond, negate: bool },
    /// `response-route-status`: the response's status is this one.
    Status(u16),
}

/// A condition of `route-if`: its arguments are templates, expanded for each request.
#[derive(Debug)]
pub(crate) enum Cond {
    /// `exists`, `isfile`, `isdir`, `islink`, `isexec`: the path names such a thing.
    Path(PathTest, String),
    /// `empty`: the text expands to nothing.
    Empty(String),
    /// `equal`, `startswith`, `endswith`, `contains` and the number comparisons, of two
    /// texts written `A;B`.
    Compare(Compare, String, String),
    /// `regexp`: `TEXT;REGEX` — the regex's groups are `$1`... in the action.
    Regexp(String, Regex),
    /// `ipv4in` / `ipv6in`: `ADDR;NET/BITS`.
    IpIn(String, String),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum PathTest {
    Exists,
    File,
    Dir,
    Link,
    Exec,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Compare {
    Equal,
    StartsWith,
    EndsWith,
    Contains,
    Higher,
    Lower,
    HigherEqual,
    LowerEqual,
}

/// What a rule does. Texts are templates (`$1`, `${VAR}`, `${qs[name]}`), expanded for
/// each request.
#[derive(Debug)]
pub(crate) enum Action {
    /// `continue`, `last`: stop routing; the request goes on to the app.
    Continue,
    /// `break`: stop and answer with the status line given (or 500 without one).
    Break(Option<String>),
    /// `return`, `break-with-status`: answer with this status and its reason as the body.
    Return(u16),
    /// `redirect` (302), `redirect-permanent` (301): answer with a `Location`.
    Redirect(u16, String),
    /// `rewrite`, `rewrite-last`: a new `PATH_INFO` (and `QUERY_STRING` after a `?`);
    /// `last` stops routing after it.
    Rewrite { to: String, last: bool },
    /// `static`: answer with this file.
    Static(String),
    /// `goto`: go on at this label (forward only).
    Goto(String),
    /// `addvar`, and the `set*` actions: set a request variable.
    SetVar(String, String),
    /// `setuser`: `REMOTE_USER`, up to the first `:` (so `${HTTP_AUTHORIZATION}`-style
    /// `user:secret` texts give the user).
    SetUser(String),
    /// `fixpathinfo`: cut `SCRIPT_NAME` off the front of `PATH_INFO`.
    FixPathInfo,
    /// `addheader`: a response header (`Name: value`).
    AddHeader(String),
    /// `delheader`, `remheader`: drop the response's headers of this name.
    DelHeader(String),
    /// `log`: a line in the log.
    Log(String),
    /// `logvar`: a request-log variable (`%(NAME)` in `log-format`).
    LogVar(String, String),
    /// `donotlog`: no request-log line for this request.
    DoNotLog,
}

/// The request variable a `route-*` option matches, by its suffix.
fn subject(suffix: &str) -> Option<&'static str> {
    Some(match suffix {
        "" => "PATH_INFO",
        "-host" => "HTTP_HOST",
        "-uri" => "REQUEST_URI",
        "-qs" => "QUERY_STRING",
        "-remote-addr" => "REMOTE_ADDR",
        "-user-agent" => "HTTP_USER_AGENT",
        "-remote-user" => "REMOTE_USER",
        "-referer" => "HTTP_REFERER",
        _ => return None,
    })
}

/// Parses one routing option's value into its phase and rule.
pub(crate) fn parse(line: &RouteLine) -> Result<(Phase, Rule), Error> {
    let bad = |reason: String| Error::route_option(line, reason);
    let (phase, kind) = if let Some(kind) = line.option.strip_prefix("response-route") {
        (Phase::Response, kind)
    } else if let Some(kind) = line.option.strip_prefix("error-route") {
        (Phase::Error, kind)
    } else if let Some(kind) = line.option.strip_prefix("route") {
        (Phase::Request, kind)
    } else {
        return Err(bad("not a routing option".into()));
    };
    let value = line.value.trim();
    let (test, action) = match kind {
        "-label" => (Test::Label(value.to_string()), Action::Continue),
        "-run" => (Test::Always, action(value).map_err(bad)?),
        "-status" => {
            let (status, act) = split_space(value).map_err(bad)?;
            let status = status
                .parse()
                .ok()
                .filter(|s| (100..=999).contains(s))
                .ok_or_else(|| bad(format!("{status:?} is not a status code")))?;
            (Test::Status(status), action(act).map_err(bad)?)
        }
        "-if" | "-if-not" => {
            let (cond, act) = split_space(value).map_err(bad)?;
            let cond = condition(cond).map_err(bad)?;
            let test = Test::If {
                cond,
                negate: kind == "-if-not",
            };
            (test, action(act).map_err(bad)?)
        }
        suffix => {
            let var = subject(suffix).ok_or_else(|| bad("not a routing option".into()))?;
            let (re, act) = split_space(value).map_err(bad)?;
            let re = Regex::new(re).map_err(|e| bad(format!("the regular expression: {e}")))?;
            (Test::Match { var, re }, action(act).map_err(bad)?)
        }
    };
    if phase != Phase::Request && matches!(action, Action::Rewrite { .. } | Action::FixPathInfo) {
        return Err(bad(
            "an error or response route cannot change the request: the app has already run".into(),
        ));
    }
    if phase == Phase::Request && matches!(test, Test::Status(_)) {
        return Err(bad("only a response has a status".into()));
    }
    Ok((phase, Rule { test, action }))
}

/// `HEAD REST` split at the first space (uWSGI's rule syntax).
fn split_space(value: &str) -> Result<(&str, &str), String> {
    value
        .split_once(' ')
        .map(|(a, b)| (a, b.trim_start()))
        .ok_or_else(|| {
            "expected a test, a space, and an action (such as `^/old redirect:/new`)".into()
        })
}

/// Refuses a route variable ruwsgi does not have (`${mime[...]}`, `${uwsgi[status]}`):
/// it would expand to nothing, and a rule that tests it would silently never hold.
fn check_route_vars(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else { break };
        let key = &after[..end];
        if let (Some(open), true) = (key.find('['), key.ends_with(']')) {
            let (name, arg) = (&key[..open], &key[open + 1..key.len() - 1]);
            let known = match name {
                "qs" | "cookie" | "httptime" => true,
                "time" => matches!(arg, "unix" | "micros"),
                "uwsgi" => matches!(arg, "wid" | "pid"),
                _ => false,
            };
            if !known {
                return Err(format!(
                    "the route variable ${{{key}}} is not supported (ruwsgi has ${{qs[NAME]}}, \
                     ${{cookie[NAME]}}, ${{time[unix]}}, ${{time[micros]}}, ${{httptime[SECS]}}, \
                     ${{uwsgi[wid]}}, ${{uwsgi[pid]}})"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

/// A condition `NAME:ARGS`.
fn condition(text: &str) -> Result<Cond, String> {
    let (name, args) = text.split_once(':').ok_or_else(|| {
        format!("the condition {text:?} is not NAME:ARGS (such as empty:${{VAR}})")
    })?;
    check_route_vars(args)?;
    let two = || -> Result<(String, String), String> {
        // A condition without `;` is false in uWSGI; a config that writes one means
        // something else, so it is refused here.
        args.split_once(';')
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .ok_or_else(|| format!("the condition {name} takes two values: {name}:A;B"))
    };
    let compare = |c| two().map(|(a, b)| Cond::Compare(c, a, b));
    let path = |t| Ok(Cond::Path(t, args.to_string()));
    match name {
        "exists" => path(PathTest::Exists),
        "isfile" => path(PathTest::File),
        "isdir" => path(PathTest::Dir),
        "islink" => path(PathTest::Link),
        "isexec" => path(PathTest::Exec),
        "empty" => Ok(Cond::Empty(args.to_string())),
        "equal" | "isequal" | "eq" | "==" => compare(Compare::Equal),
        "startswith" => compare(Compare::StartsWith),
        "endswith" => compare(Compare::EndsWith),
        "contains" | "contain" => compare(Compare::Contains),
        "ishigher" | ">" => compare(Compare::Higher),
        "islower" | "<" => compare(Compare::Lower),
        "ishigherequal" | ">=" => compare(Compare::HigherEqual),
        "islowerequal" | "<=" => compare(Compare::LowerEqual),
        "regexp" | "re" => {
            let (text, re) = two()?;
            let re = Regex::new(&re).map_err(|e| format!("the regular expression: {e}"))?;
            Ok(Cond::Regexp(text, re))
        }
        "ipv4in" | "ipv6in" => two().map(|(a, b)| Cond::IpIn(a, b)),
        _ => Err(format!(
            "unknown route condition {name:?} (ruwsgi has exists, isfile, isdir, islink, \
             isexec, empty, equal, startswith, endswith, contains, regexp, ishigher, islower, \
             ishigherequal, islowerequal, ipv4in, ipv6in)"
        )),
    }
}

/// An action `NAME:ARGS` (`NAME:` or `NAME` when it takes none).
fn action(text: &str) -> Result<Action, String> {
    let (name, args) = text.split_once(':').unwrap_or((text, ""));
    check_route_vars(args)?;
    let arg = || args.to_string();
    let key_value = || -> Result<(String, String), String> {
        args.split_once('=')
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .ok_or_else(|| format!("the action {name} takes KEY=VALUE"))
    };
    let set = |var: &str| Ok(Action::SetVar(var.to_string(), arg()));
    match name {
        "continue" | "last" => Ok(Action::Continue),
        "break" => Ok(Action::Break((args.len() >= 3).then(arg))),
        "return" | "break-with-status" => args
            .trim()
            .parse()
            .ok()
            .filter(|s| (100..=999).contains(s))
            .map(Action::Return)
            .ok_or_else(|| format!("the action {name} takes a status code, such as {name}:403")),
        "redirect" | "redirect-302" => Ok(Action::Redirect(302, arg())),
        "redirect-permanent" | "redirect-301" => Ok(Action::Redirect(301, arg())),
        "rewrite" => Ok(Action::Rewrite {
            to: arg(),
            last: false,
        }),
        "rewrite-last" => Ok(Action::Rewrite {
            to: arg(),
            last: true,
        }),
        "static" => Ok(Action::Static(arg())),
        "goto" => Ok(Action::Goto(arg())),
        "addvar" => key_value().map(|(k, v)| Action::SetVar(k, v)),
        "setscriptname" => set("SCRIPT_NAME"),
        "setmethod" => set("REQUEST_METHOD"),
        "seturi" => set("REQUEST_URI"),
        "setremoteaddr" => set("REMOTE_ADDR"),
        "setpathinfo" => set("PATH_INFO"),
        "setdocroot" => set("DOCUMENT_ROOT"),
        "setscheme" => set("UWSGI_SCHEME"),
        "setuser" => Ok(Action::SetUser(arg())),
        "fixpathinfo" => Ok(Action::FixPathInfo),
        "addheader" => match args.split_once(':') {
            Some((n, _)) if !n.trim().is_empty() => Ok(Action::AddHeader(arg())),
            _ => Err("the action addheader takes `Name: value`".into()),
        },
        "delheader" | "remheader" => Ok(Action::DelHeader(args.trim().to_string())),
        "log" => Ok(Action::Log(arg())),
        "logvar" => key_value().map(|(k, v)| Action::LogVar(k, v)),
        "donotlog" => Ok(Action::DoNotLog),
        _ => Err(format!(
            "the routing action {name:?} is not supported (ruwsgi has continue, last, break, \
             return, redirect, redirect-permanent, rewrite, rewrite-last, static, goto, addvar, \
             setscriptname, setmethod, seturi, setremoteaddr, setpathinfo, setdocroot, \
             setscheme, setuser, fixpathinfo, addheader, delheader, \
             remheader, log, logvar, donotlog)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(option: &str, value: &str) -> RouteLine {
        RouteLine {
            option: option.into(),
            value: value.into(),
            origin: "t.ini:1".into(),
        }
    }

    #[test]
    fn parses_uwsgi_syntax() {
        let (phase, rule) = parse(&line("route", "^/old/(.*) redirect-permanent:/new/$1")).unwrap();
        assert_eq!(phase, Phase::Request);
        assert!(matches!(
            rule.test,
            Test::Match {
                var: "PATH_INFO",
                ..
            }
        ));
        assert!(matches!(rule.action, Action::Redirect(301, ref t) if t == "/new/$1"));

        let (_, rule) = parse(&line("route-if", "equal:${HTTPS};off break:403 Forbidden")).unwrap();
        assert!(matches!(
            rule.test,
            Test::If {
                negate: false,
                cond: Cond::Compare(Compare::Equal, ..)
            }
        ));
        assert!(matches!(rule.action, Action::Break(Some(ref s)) if s == "403 Forbidden"));

        let (phase, rule) = parse(&line(
            "response-route-if-not",
            "empty:${CSP} addheader:Content-Security-Policy: default-src 'self'",
        ))
        .unwrap();
        assert_eq!(phase, Phase::Response);
        assert!(matches!(
            rule.test,
            Test::If {
                negate: true,
                cond: Cond::Empty(_)
            }
        ));

        let (_, rule) = parse(&line("route-run", "donotlog:")).unwrap();
        assert!(matches!(rule.action, Action::DoNotLog));
        let (_, rule) = parse(&line("route-host", "^www\\. continue")).unwrap();
        assert!(matches!(
            rule.test,
            Test::Match {
                var: "HTTP_HOST",
                ..
            }
        ));
    }

    #[test]
    fn refuses_what_cannot_work_naming_the_line() {
        for (option, value, says) in [
            ("route", "^/x", "expected a test, a space, and an action"),
            ("route", "^/x nosuch:1", "\"nosuch\" is not supported"),
            ("route", "(?<=a)b continue:", "regular expression"),
            ("route-if", "nosuch:x continue:", "unknown route condition"),
            ("route-if", "equal:a continue:", "takes two values"),
            ("route", "^/ return:abc", "takes a status code"),
            (
                "response-route",
                "^/ rewrite:/x",
                "cannot change the request",
            ),
            (
                "route-status",
                "404 continue:",
                "only a response has a status",
            ),
            (
                "error-route",
                "^/ fixpathinfo:",
                "cannot change the request",
            ),
            (
                "route",
                "^/ addvar:X=${mime[PATH_INFO]}",
                "${mime[PATH_INFO]} is not supported",
            ),
            (
                "route-if",
                "equal:${uwsgi[status]};404 continue:",
                "is not supported",
            ),
        ] {
            let err = parse(&line(option, value)).unwrap_err().to_string();
            assert!(err.contains(says), "{option} = {value}: {err}");
            assert!(err.contains("t.ini:1"), "{err}");
        }
    }
}
