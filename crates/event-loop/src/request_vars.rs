//! What the request log needs from a request's head, copied when its exchange may be
//! logged: the request side of the default line ([`request_line`]) and any CGI variable
//! a `log-format` names ([`cgi_var`]). Below both the connection code that captures it and
//! the request log that writes it.

use ruwsgi_proto::Version;

use crate::exchange::RequestLine;
use crate::handler::{Address, Head};

/// The request's side of the log line (uWSGI's default format counts the CGI vars it would
/// have built: one per header plus its fixed set for HTTP, the packet's own for uwsgi).
pub(crate) fn request_line(head: &Head, peer: &Address) -> RequestLine {
    let protocol = match head.version() {
        Version::Http10 => "HTTP/1.0",
        Version::Http11 => "HTTP/1.1",
    };
    match head {
        Head::Http(h) => RequestLine {
            remote: match peer {
                Address::Inet(a) => a.ip().to_string(),
                Address::Unix(p) => p.clone(),
            },
            user: String::new(),
            method: h.method.clone(),
            uri: String::from_utf8_lossy(&h.target).into_owned(),
            protocol,
            vars: h.headers.len() + 12,
            vars_bytes: h
                .headers
                .iter()
                .map(|(k, v)| k.len() + 5 + v.len())
                .sum::<usize>()
                + h.target.len() * 2
                + 160,
            extra: Vec::new(),
        },
        Head::Uwsgi(p) => {
            let var = |k: &[u8]| String::from_utf8_lossy(p.var(k).unwrap_or_default()).into_owned();
            RequestLine {
                remote: var(b"REMOTE_ADDR"),
                user: var(b"REMOTE_USER"),
                method: String::from_utf8_lossy(head.method()).into_owned(),
                uri: String::from_utf8_lossy(head.uri()).into_owned(),
                protocol,
                vars: p.vars.len(),
                vars_bytes: p.vars.iter().map(|(k, v)| k.len() + v.len() + 4).sum(),
                extra: Vec::new(),
            }
        }
    }
}

/// The CGI variable `name` of a request as uWSGI would have it (for the log format): a
/// uwsgi packet's own variable, or for HTTP the request line's parts, the peer's address
/// and port, `SERVER_NAME` (the host name, as uWSGI's HTTP parser sets it), an empty
/// `SCRIPT_NAME`, and `HTTP_*`, `CONTENT_TYPE`, `CONTENT_LENGTH` from the headers
/// (repeated headers joined as [`repeat_separator`] says). `SERVER_PORT` is not known
/// here (the listening address is not passed down): it reads as missing.
pub(crate) fn cgi_var(head: &Head, peer: &Address, name: &str) -> Option<String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let h = match head {
        Head::Uwsgi(p) => return p.var(name.as_bytes()).map(text),
        Head::Http(h) => h,
    };
    // As the environ has them: an absolute-form target's path, percent-decoded.
    let (path, query) = ruwsgi_proto::split_target(&h.target);
    let header = match name {
        "REQUEST_METHOD" => return Some(h.method.clone()),
        "REQUEST_URI" => return Some(text(&h.target)),
        "PATH_INFO" => return Some(text(&ruwsgi_proto::percent_decode(path))),
        "QUERY_STRING" => return Some(text(query)),
        "SERVER_PROTOCOL" => {
            return Some(
                match h.version {
                    Version::Http10 => "HTTP/1.0",
                    Version::Http11 => "HTTP/1.1",
                }
                .into(),
            )
        }
        "REMOTE_ADDR" => {
            return Some(match peer {
                Address::Inet(a) => a.ip().to_string(),
                Address::Unix(p) => p.clone(),
            })
        }
        "REMOTE_PORT" => {
            return Some(match peer {
                Address::Inet(a) => a.port().to_string(),
                Address::Unix(_) => String::new(),
            })
        }
        "SERVER_NAME" => return Some(hostname().to_string()),
        "SCRIPT_NAME" => return Some(String::new()),
        "CONTENT_TYPE" => "content-type".to_string(),
        "CONTENT_LENGTH" => "content-length".to_string(),
        _ => name
            .strip_prefix("HTTP_")?
            .to_ascii_lowercase()
            .replace('_', "-"),
    };
    let mut values = h
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(&header))
        .map(|(_, v)| text(v));
    let first = values.next()?;
    let sep = repeat_separator(&header);
    Some(values.fold(first, |all, v| all + sep + &v))
}

/// What joins the values of a header sent more than once into its one CGI variable, as the
/// WSGI environ joins them: `, ` (RFC 9110 §5.3), `; ` for `Cookie` (RFC 6265 §5.4).
pub(crate) fn repeat_separator(header: &str) -> &'static str {
    if header.eq_ignore_ascii_case("cookie") {
        "; "
    } else {
        ", "
    }
}

/// The host name (`SERVER_NAME` on HTTP sockets, in the request log and the WSGI environ;
/// `uwsgi.hostname`; the spooler's job file names), read once; `localhost` if the system
/// has none to give.
pub fn hostname() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| match nix::unistd::gethostname() {
        Ok(name) => name.to_string_lossy().into_owned(),
        Err(_) => "localhost".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruwsgi_proto::{parse_request, Limits, Parsed};

    fn head(raw: &[u8]) -> Head {
        let limits = Limits {
            buffer_size: 8192,
            max_headers: 100,
        };
        match parse_request(raw, &limits).unwrap() {
            Parsed::Complete((h, _), _) => Head::Http(h),
            Parsed::Partial => panic!("partial"),
        }
    }

    /// A header sent twice is one variable, joined as the WSGI environ joins it: cookies
    /// with `; `, the others with `, `.
    #[test]
    fn repeated_headers_join_as_in_the_environ() {
        let h = head(b"GET /p?q HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\nAccept: a/b\r\nCookie: b=2\r\nAccept: c/d\r\n\r\n");
        let peer = Address::Unix(String::new());
        assert_eq!(
            cgi_var(&h, &peer, "HTTP_COOKIE").as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(
            cgi_var(&h, &peer, "HTTP_ACCEPT").as_deref(),
            Some("a/b, c/d")
        );
        assert_eq!(cgi_var(&h, &peer, "PATH_INFO").as_deref(), Some("/p"));
        let h = head(b"GET http://x/a%20b?q=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(cgi_var(&h, &peer, "PATH_INFO").as_deref(), Some("/a b"));
        assert_eq!(cgi_var(&h, &peer, "QUERY_STRING").as_deref(), Some("q=1"));
    }
}
