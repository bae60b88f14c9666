//! A request's CGI variables as routing reads and changes them ([`Vars`]), and the
//! expansion of a rule's texts ([`Vars::expand`]): `$1`... from the rule's regular
//! expression, then `${NAME}` from the variables and `${qs[a]}`, `${cookie[a]}`,
//! `${time[unix]}`, `${httptime[N]}`, `${uwsgi[wid]}`, `${uwsgi[pid]}`, as uWSGI expands
//! them.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::handler::{Address, Head, Request};

/// The variables of one request, in order, each name once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vars {
    pub(crate) list: Vec<(Vec<u8>, Vec<u8>)>,
    /// The worker's id (`${uwsgi[wid]}`).
    pub(crate) worker: usize,
}

/// The groups of a rule's match: `$0` is the whole match.
pub(crate) type Groups = Vec<Option<Vec<u8>>>;

impl Vars {
    /// The variables uWSGI builds for `request`: a uwsgi packet's own, or for HTTP the
    /// request line's parts, the addresses, `SERVER_NAME`, an empty `SCRIPT_NAME`, and one
    /// `HTTP_*` per header (repeats joined with `, `, cookies with `; `), as the WSGI
    /// environ has them.
    pub(crate) fn of(request: &Request, worker: usize) -> Vars {
        let h = match &request.head {
            Head::Uwsgi(p) => {
                return Vars {
                    list: p.vars.clone(),
                    worker,
                }
            }
            Head::Http(h) => h,
        };
        let mut vars = Vars {
            list: Vec::with_capacity(h.headers.len() + 12),
            worker,
        };
        let target = &h.target;
        // As the bridge and static files read it: an absolute-form target's scheme and
        // authority are not part of the path the rules see.
        let (path, query) = ruwsgi_proto::split_target(target);
        let protocol: &[u8] = match h.version {
            ruwsgi_proto::Version::Http10 => b"HTTP/1.0",
            ruwsgi_proto::Version::Http11 => b"HTTP/1.1",
        };
        let (remote_addr, remote_port) = match &request.peer {
            Address::Inet(a) => (a.ip().to_string(), a.port().to_string()),
            Address::Unix(_) => (String::new(), String::new()),
        };
        let server_port = match &request.local {
            Address::Inet(a) => a.port().to_string(),
            Address::Unix(_) => String::new(),
        };
        vars.set(b"REQUEST_METHOD", h.method.as_bytes());
        vars.set(b"REQUEST_URI", target);
        vars.set(b"PATH_INFO", &ruwsgi_proto::percent_decode(path));
        vars.set(b"QUERY_STRING", query);
        vars.set(b"SERVER_PROTOCOL", protocol);
        vars.set(b"SCRIPT_NAME", b"");
        vars.set(b"SERVER_NAME", crate::request_vars::hostname().as_bytes());
        vars.set(b"SERVER_PORT", server_port.as_bytes());
        vars.set(b"REMOTE_ADDR", remote_addr.as_bytes());
        vars.set(b"REMOTE_PORT", remote_port.as_bytes());
        let mut have_length = false;
        for (name, value) in &h.headers {
            let key = if name.eq_ignore_ascii_case("content-type") {
                b"CONTENT_TYPE".to_vec()
            } else if name.eq_ignore_ascii_case("content-length") {
                have_length = true;
                b"CONTENT_LENGTH".to_vec()
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                // The loop de-chunked the body: CONTENT_LENGTH below tells its size.
                continue;
            } else {
                let mut k = b"HTTP_".to_vec();
                k.extend(name.bytes().map(|b| match b {
                    b'-' => b'_',
                    b => b.to_ascii_uppercase(),
                }));
                k
            };
            match vars.list.iter_mut().find(|(k, _)| *k == key) {
                Some((_, prev)) => {
                    let sep = crate::request_vars::repeat_separator(name);
                    prev.extend_from_slice(sep.as_bytes());
                    prev.extend_from_slice(value);
                }
                None => vars.list.push((key, value.clone())),
            }
        }
        if !have_length && request.content_length() > 0 {
            vars.set(
                b"CONTENT_LENGTH",
                request.content_length().to_string().as_bytes(),
            );
        }
        vars
    }

    /// The value of `name` (empty when unset: uWSGI expands a missing one to nothing).
    pub(crate) fn get(&self, name: &[u8]) -> &[u8] {
        self.list
            .iter()
            .find(|(k, _)| k == name)
            .map_or(&b""[..], |(_, v)| v.as_slice())
    }

    /// Sets `name` to `value`, in place when it is set already.
    pub(crate) fn set(&mut self, name: &[u8], value: &[u8]) {
        match self.list.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value.to_vec(),
            None => self.list.push((name.to_vec(), value.to_vec())),
        }
    }

    /// Expands `text`: `$N` by the rule's group N (nothing when there is none), then each
    /// `${NAME}` by its variable (or route variable `NAME[ARG]`); any other `$` stays.
    pub(crate) fn expand(&self, text: &str, groups: Option<&Groups>) -> Vec<u8> {
        let text = text.as_bytes();
        // `$N` is always the rule's group N, nothing when it has none (as uWSGI expands
        // it), so a `$1` in a `route-run` action is consumed too.
        let groups = groups.map_or(&[][..], Vec::as_slice);
        let mut pass1 = Vec::with_capacity(text.len());
        let mut i = 0;
        while i < text.len() {
            match (text[i], text.get(i + 1)) {
                (b'$', Some(d)) if d.is_ascii_digit() => {
                    let n = usize::from(d - b'0');
                    if let Some(Some(g)) = groups.get(n) {
                        pass1.extend_from_slice(g);
                    }
                    i += 2;
                }
                (b, _) => {
                    pass1.push(b);
                    i += 1;
                }
            }
        }
        let mut out = Vec::with_capacity(pass1.len());
        let mut rest = &pass1[..];
        while let Some(at) = rest.iter().position(|&b| b == b'$') {
            out.extend_from_slice(&rest[..at]);
            let after = &rest[at + 1..];
            if after.first() != Some(&b'{') {
                out.push(b'$');
                rest = after;
                continue;
            }
            let Some(end) = after.iter().position(|&b| b == b'}') else {
                // An unterminated `${` stays as written.
                out.extend_from_slice(&rest[at..]);
                rest = &[];
                break;
            };
            let key = &after[1..end];
            out.extend_from_slice(&self.lookup(key));
            rest = &after[end + 1..];
        }
        out.extend_from_slice(rest);
        out
    }

    /// `${key}`: a route variable `name[arg]`, else the request variable.
    fn lookup(&self, key: &[u8]) -> Vec<u8> {
        if let (Some(open), Some(b']')) = (key.iter().position(|&b| b == b'['), key.last()) {
            let (name, arg) = (&key[..open], &key[open + 1..key.len() - 1]);
            if let Some(v) = self.route_var(name, arg) {
                return v;
            }
        }
        self.get(key).to_vec()
    }

    fn route_var(&self, name: &[u8], arg: &[u8]) -> Option<Vec<u8>> {
        Some(match name {
            b"qs" => pair_value(self.get(b"QUERY_STRING"), b'&', arg).unwrap_or_default(),
            b"cookie" => pair_value(self.get(b"HTTP_COOKIE"), b';', arg).unwrap_or_default(),
            b"time" => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                match arg {
                    b"unix" => now.as_secs().to_string().into_bytes(),
                    b"micros" => now.as_micros().to_string().into_bytes(),
                    _ => Vec::new(),
                }
            }
            b"httptime" => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                let offset: i64 = std::str::from_utf8(arg)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0);
                let t = (now.as_secs() as i64).saturating_add(offset);
                crate::static_files::http_date(t).into_bytes()
            }
            b"uwsgi" => match arg {
                b"wid" => self.worker.to_string().into_bytes(),
                b"pid" => std::process::id().to_string().into_bytes(),
                _ => Vec::new(),
            },
            _ => return None,
        })
    }
}

/// The value of `key` in `a=1&b=2` (or `a=1; b=2` for cookies), spaces around trimmed.
fn pair_value(list: &[u8], sep: u8, key: &[u8]) -> Option<Vec<u8>> {
    list.split(|&b| b == sep).find_map(|item| {
        let item = item.trim_ascii();
        let eq = item.iter().position(|&b| b == b'=')?;
        (&item[..eq] == key).then(|| item[eq + 1..].to_vec())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vars {
        Vars {
            list: list
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
            worker: 2,
        }
    }

    #[test]
    fn expands_groups_then_variables() {
        let v = vars(&[
            ("HTTP_HOST", "example.com"),
            ("QUERY_STRING", "a=1&b=two"),
            ("HTTP_COOKIE", "sid=abc; theme=dark"),
        ]);
        let groups: Groups = vec![Some(b"/old/x".to_vec()), Some(b"x".to_vec())];
        let out = v.expand("https://${HTTP_HOST}/new/$1?$9", Some(&groups));
        assert_eq!(out, b"https://example.com/new/x?");
        assert_eq!(
            v.expand("${qs[b]}-${cookie[theme]}-${NOPE}", None),
            b"two-dark-"
        );
        assert_eq!(
            v.expand("cost $5 ${unterminated", None),
            b"cost  ${unterminated"
        );
        assert_eq!(v.expand("${uwsgi[wid]}", None), b"2");
    }
}
