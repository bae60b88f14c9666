//! Building `environ` (PEP 3333 "environ Variables") from an HTTP head or from the uwsgi
//! vars nginx sends (Debian's `uwsgi_params`), the way uWSGI fills it.
//!
//! Speed: the constant entries live in a per-worker template dict copied once per request
//! (for HTTP requests with a placeholder for every key always set, and room for the headers,
//! so filling it never resizes it); keys are interned; each value string is built once, by
//! CPython's latin-1 decoder in one pass; the client's address and port and the server port
//! come from a per-thread [`AddrCache`] instead of being formatted per request.

use std::borrow::Cow;
use std::net::IpAddr;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use ruwsgi_event_loop::{Address, Head, Request};
use ruwsgi_proto::{RequestHead, UwsgiPacket, Version};

use crate::file_wrapper::FileWrapper;
use crate::load::{App, Apps};
use crate::log_stream::LogStream;

/// A `str` from bytes decoded as latin-1 (PEP 3333: "native strings" carry bytes 1:1), in
/// one pass: CPython's own decoder, which builds a compact ASCII string when it can.
pub(crate) fn latin1<'py>(py: Python<'py>, b: &[u8]) -> Bound<'py, PyString> {
    // SAFETY: `b` is a valid slice for the duration of the call (CPython copies it) and its
    // length fits a Py_ssize_t (it is a Rust allocation); the GIL is held (`py`). Latin-1
    // decoding cannot fail, so a null result means only out-of-memory, which `from_owned_ptr`
    // would turn into a panic; `from_owned_ptr_or_err` reports it as the pending MemoryError
    // instead, and we fall back to building the string the slow way.
    let decoded = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            pyo3::ffi::PyUnicode_DecodeLatin1(
                b.as_ptr().cast(),
                b.len() as pyo3::ffi::Py_ssize_t,
                std::ptr::null(),
            ),
        )
    };
    match decoded.map(|o| o.cast_into::<PyString>()) {
        Ok(Ok(s)) => s,
        _ => PyString::new(py, &latin1_string(b)),
    }
}

fn latin1_string(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) if b.is_ascii() => Cow::Borrowed(s),
        _ => Cow::Owned(b.iter().map(|&c| c as char).collect()),
    }
}

pub(crate) use ruwsgi_proto::percent_decode;

pub(crate) use ruwsgi_proto::split_target;

/// How many keys the HTTP template's table is grown to hold before it is copied per request
/// (see [`EnvironTemplate::new`]): past the 21 a 32-slot CPython dict holds, and few enough
/// that the deleted spares keep `dict.copy()` on its fast path (at most a third unused).
const SIZED_FOR: usize = 24;

/// Per-worker constants for building environs.
pub(crate) struct EnvironTemplate {
    base: Py<PyDict>,
    /// `base` plus a placeholder for every key an HTTP request always sets, so the copy
    /// made per request is already sized for them and filling it replaces values instead
    /// of inserting keys (no dict resize per request).
    http_base: Py<PyDict>,
    manage_script_name: bool,
}

impl EnvironTemplate {
    pub(crate) fn new(
        py: Python<'_>,
        multithread: bool,
        multiprocess: bool,
        file_wrapper: bool,
        manage_script_name: bool,
    ) -> PyResult<EnvironTemplate> {
        let d = PyDict::new(py);
        let host = crate::process_facts::hostname();
        d.set_item(intern!(py, "wsgi.version"), PyTuple::new(py, [1, 0])?)?;
        d.set_item(intern!(py, "wsgi.multithread"), multithread)?;
        d.set_item(intern!(py, "wsgi.multiprocess"), multiprocess)?;
        d.set_item(intern!(py, "wsgi.run_once"), false)?;
        d.set_item(intern!(py, "wsgi.input_terminated"), true)?;
        d.set_item(
            intern!(py, "wsgi.errors"),
            Bound::new(py, LogStream::new())?,
        )?;
        if file_wrapper {
            d.set_item(
                intern!(py, "wsgi.file_wrapper"),
                py.get_type::<FileWrapper>(),
            )?;
        }
        d.set_item(
            intern!(py, "uwsgi.version"),
            PyBytes::new(py, crate::uwsgi_module::UWSGI_VERSION.as_bytes()),
        )?;
        d.set_item(intern!(py, "uwsgi.node"), PyBytes::new(py, host.as_bytes()))?;
        d.set_item(intern!(py, "SCRIPT_NAME"), intern!(py, ""))?;
        d.set_item(intern!(py, "SERVER_NAME"), PyString::intern(py, host))?;
        let http = d.copy()?;
        // Every one of these is overwritten by `http` (and wsgi.input by the handler) before
        // the app sees the dict.
        for key in [
            intern!(py, "REQUEST_METHOD"),
            intern!(py, "SERVER_PROTOCOL"),
            intern!(py, "REQUEST_URI"),
            intern!(py, "QUERY_STRING"),
            intern!(py, "PATH_INFO"),
            intern!(py, "REMOTE_ADDR"),
            intern!(py, "REMOTE_PORT"),
            intern!(py, "SERVER_PORT"),
            intern!(py, "wsgi.url_scheme"),
            intern!(py, "wsgi.input"),
        ] {
            http.set_item(key, py.None())?;
        }
        // Room for the request's own keys (HTTP_HOST and the other headers): CPython copies
        // a dict's key table at its size, and the keys above nearly fill a 32-slot table, so
        // each request's first header would resize its copy. Growing the template's table once
        // (an insert past its capacity, then removing the extra keys again) gives every copy
        // that room. Only speed depends on this; the contents are the same either way.
        let keys = http.len();
        let spares: Vec<String> = (keys..SIZED_FOR)
            .map(|i| format!("ruwsgi.spare{i}"))
            .collect();
        for k in &spares {
            http.set_item(k, py.None())?;
        }
        for k in &spares {
            http.del_item(k)?;
        }
        Ok(EnvironTemplate {
            base: d.unbind(),
            http_base: http.unbind(),
            manage_script_name,
        })
    }

    /// The environ of `req` (without `wsgi.input`, which the caller adds) and the app that
    /// serves it (`None` when no app is loaded).
    pub(crate) fn build<'py, 'a>(
        &self,
        py: Python<'py>,
        req: &Request,
        apps: &'a Apps,
        cache: &mut AddrCache,
    ) -> PyResult<(Bound<'py, PyDict>, Option<&'a App>)> {
        match &req.head {
            Head::Http(h) => {
                let env = self.http_base.bind(py).copy()?;
                let app = self.http(py, &env, h, req, apps, cache)?;
                Ok((env, app))
            }
            Head::Uwsgi(p) => {
                let env = self.base.bind(py).copy()?;
                let app = self.uwsgi(py, &env, p, req, apps, cache)?;
                Ok((env, app))
            }
        }
    }

    fn http<'a>(
        &self,
        py: Python<'_>,
        env: &Bound<'_, PyDict>,
        h: &RequestHead,
        req: &Request,
        apps: &'a Apps,
        cache: &mut AddrCache,
    ) -> PyResult<Option<&'a App>> {
        let method = match h.method.as_str() {
            "GET" => intern!(py, "GET").clone(),
            "POST" => intern!(py, "POST").clone(),
            "HEAD" => intern!(py, "HEAD").clone(),
            m => PyString::new(py, m),
        };
        env.set_item(intern!(py, "REQUEST_METHOD"), method)?;
        let protocol = match h.version {
            Version::Http11 => intern!(py, "HTTP/1.1"),
            Version::Http10 => intern!(py, "HTTP/1.0"),
        };
        env.set_item(intern!(py, "SERVER_PROTOCOL"), protocol)?;
        env.set_item(intern!(py, "REQUEST_URI"), latin1(py, &h.target))?;
        let (path, query) = split_target(&h.target);
        env.set_item(intern!(py, "QUERY_STRING"), latin1(py, query))?;
        let decoded = percent_decode(path);
        let path_info = latin1_string(&decoded);
        // Under `vhost` the Host header picks the app (HTTP_HOST, as uWSGI reads it), else
        // SERVER_NAME (the environ's, this machine's name, for a request without one).
        let host = if apps.vhost {
            let header = h
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("host"));
            match header {
                Some((_, v)) => Some(latin1_string(v).into_owned()),
                None => env
                    .get_item(intern!(py, "SERVER_NAME"))?
                    .map(|v| v.to_string()),
            }
        } else {
            None
        };
        let app = self.place(py, env, None, &path_info, host.as_deref(), apps)?;

        for (k, v) in addresses(py, &req.peer, &req.local, cache) {
            env.set_item(k, v)?;
        }

        let mut key = String::with_capacity(64);
        let mut forwarded_proto: Option<&[u8]> = None;
        let mut have_length = false;
        for (name, value) in &h.headers {
            let k = if name.eq_ignore_ascii_case("content-type") {
                intern!(py, "CONTENT_TYPE").clone()
            } else if name.eq_ignore_ascii_case("content-length") {
                have_length = true;
                intern!(py, "CONTENT_LENGTH").clone()
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                // The loop de-chunked the body: CONTENT_LENGTH below tells its size.
                continue;
            } else {
                if name.eq_ignore_ascii_case("x-forwarded-proto") {
                    forwarded_proto = Some(value);
                }
                header_key(py, name, &mut key)
            };
            let v = latin1(py, value);
            match env.get_item(&k)? {
                None => env.set_item(k, v)?,
                Some(prev) => {
                    // RFC 9110 §5.3: repeats combine with ", "; Cookie with "; " (RFC 6265).
                    let sep = if name.eq_ignore_ascii_case("cookie") {
                        "; "
                    } else {
                        ", "
                    };
                    let joined =
                        format!("{}{sep}{}", prev.cast::<PyString>()?.to_str()?, v.to_str()?);
                    env.set_item(k, joined)?;
                }
            }
        }
        if !have_length && req.content_length() > 0 {
            env.set_item(
                intern!(py, "CONTENT_LENGTH"),
                req.content_length().to_string(),
            )?;
        }
        let https = matches!(forwarded_proto, Some(p) if p.eq_ignore_ascii_case(b"https"));
        env.set_item(intern!(py, "wsgi.url_scheme"), scheme(py, https))?;
        Ok(app)
    }

    fn uwsgi<'a>(
        &self,
        py: Python<'_>,
        env: &Bound<'_, PyDict>,
        p: &UwsgiPacket,
        req: &Request,
        apps: &'a Apps,
        cache: &mut AddrCache,
    ) -> PyResult<Option<&'a App>> {
        let mut script_name: Option<&[u8]> = None;
        let mut path_info: &[u8] = b"";
        let mut uwsgi_scheme: Option<&[u8]> = None;
        let mut https: Option<&[u8]> = None;
        let mut forwarded: Option<&[u8]> = None;
        let (mut http_host, mut server_name): (Option<&[u8]>, Option<&[u8]>) = (None, None);
        let (mut have_port, mut have_remote) = (false, false);
        for (k, v) in &p.vars {
            match k.as_slice() {
                b"SCRIPT_NAME" => script_name = Some(v),
                b"HTTP_HOST" => http_host = Some(v),
                b"SERVER_NAME" => server_name = Some(v),
                b"PATH_INFO" => path_info = v,
                b"UWSGI_SCHEME" => uwsgi_scheme = Some(v),
                b"HTTPS" => https = Some(v),
                b"HTTP_X_FORWARDED_PROTO" => forwarded = Some(v),
                b"SERVER_PORT" => have_port = true,
                b"REMOTE_ADDR" => have_remote = true,
                _ => {}
            }
            let key = match std::str::from_utf8(k) {
                Ok(s) => PyString::intern(py, s),
                Err(_) => latin1(py, k),
            };
            env.set_item(key, latin1(py, v))?;
        }
        for key in [intern!(py, "PATH_INFO"), intern!(py, "QUERY_STRING")] {
            if !env.contains(key)? {
                env.set_item(key, intern!(py, ""))?;
            }
        }
        if !have_port || !have_remote {
            for (k, v) in addresses(py, &req.peer, &req.local, cache) {
                if !env.contains(k)? {
                    env.set_item(k, v)?;
                }
            }
        }
        let is_https = if let Some(s) = uwsgi_scheme {
            s.eq_ignore_ascii_case(b"https")
        } else if let Some(p) = forwarded {
            p.eq_ignore_ascii_case(b"https")
        } else if let Some(h) = https {
            h.eq_ignore_ascii_case(b"on") || h.first() == Some(&b'1')
        } else {
            false
        };
        env.set_item(intern!(py, "wsgi.url_scheme"), scheme(py, is_https))?;
        let path = latin1_string(path_info);
        let sn = script_name.map(latin1_string);
        let host = apps
            .vhost
            .then(|| http_host.or(server_name).map(latin1_string))
            .flatten();
        self.place(py, env, sn.as_deref(), &path, host.as_deref(), apps)
    }

    /// Picks the app and sets SCRIPT_NAME / PATH_INFO (`manage-script-name` moves the
    /// mount prefix from PATH_INFO to SCRIPT_NAME, as uWSGI).
    fn place<'a>(
        &self,
        py: Python<'_>,
        env: &Bound<'_, PyDict>,
        script_name: Option<&str>,
        path_info: &str,
        host: Option<&str>,
        apps: &'a Apps,
    ) -> PyResult<Option<&'a App>> {
        let chosen = apps.select(script_name, path_info, host, self.manage_script_name);
        match chosen {
            Some((app, cut)) if cut > 0 => {
                env.set_item(intern!(py, "SCRIPT_NAME"), &app.mount)?;
                env.set_item(intern!(py, "PATH_INFO"), &path_info[cut..])?;
            }
            _ => env.set_item(intern!(py, "PATH_INFO"), path_info)?,
        }
        Ok(chosen.map(|(a, _)| a))
    }
}

fn scheme(py: Python<'_>, https: bool) -> &Bound<'_, PyString> {
    if https {
        intern!(py, "https")
    } else {
        intern!(py, "http")
    }
}

/// Direct-mapped slots of [`AddrCache`] for client ports.
const PORT_SLOTS: usize = 256;

/// Strings one Python thread reuses from request to request: the client's address and
/// port and the local port. Keep-alive clients, and nginx in front, send request after
/// request from the same address and port, so formatting and allocating them anew each time
/// is wasted work. Lives inside the thread's `Python::attach`, so its strings are released
/// with the GIL held.
pub(crate) struct AddrCache {
    remote_ip: Option<(IpAddr, Py<PyString>)>,
    server_port: Option<(u16, Py<PyString>)>,
    remote_ports: Vec<Option<(u16, Py<PyString>)>>,
}

impl Default for AddrCache {
    fn default() -> AddrCache {
        AddrCache {
            remote_ip: None,
            server_port: None,
            remote_ports: std::iter::repeat_with(|| None).take(PORT_SLOTS).collect(),
        }
    }
}

/// A port number as a `str`, without the formatting machinery.
fn port_str(py: Python<'_>, port: u16) -> Bound<'_, PyString> {
    latin1(py, ruwsgi_proto::decimal(port.into(), &mut [0; 20]))
}

impl AddrCache {
    fn remote_ip<'py>(&mut self, py: Python<'py>, ip: IpAddr) -> Bound<'py, PyString> {
        match &self.remote_ip {
            Some((cached, s)) if *cached == ip => s.bind(py).clone(),
            _ => {
                let s = PyString::new(py, &ip.to_string());
                self.remote_ip = Some((ip, s.clone().unbind()));
                s
            }
        }
    }

    fn remote_port<'py>(&mut self, py: Python<'py>, port: u16) -> Bound<'py, PyString> {
        let slot = &mut self.remote_ports[usize::from(port) % PORT_SLOTS];
        match slot {
            Some((cached, s)) if *cached == port => s.bind(py).clone(),
            _ => {
                let s = port_str(py, port);
                *slot = Some((port, s.clone().unbind()));
                s
            }
        }
    }

    fn server_port<'py>(&mut self, py: Python<'py>, port: u16) -> Bound<'py, PyString> {
        match &self.server_port {
            Some((cached, s)) if *cached == port => s.bind(py).clone(),
            _ => {
                let s = port_str(py, port);
                self.server_port = Some((port, s.clone().unbind()));
                s
            }
        }
    }
}

/// `REMOTE_ADDR`, `REMOTE_PORT` and `SERVER_PORT` of the connection (empty on a unix socket).
fn addresses<'py>(
    py: Python<'py>,
    peer: &Address,
    local: &Address,
    cache: &mut AddrCache,
) -> [(&'py Bound<'py, PyString>, Bound<'py, PyString>); 3] {
    let empty = || intern!(py, "").clone();
    let (remote_addr, remote_port) = match peer {
        Address::Inet(a) => (cache.remote_ip(py, a.ip()), cache.remote_port(py, a.port())),
        Address::Unix(_) => (empty(), empty()),
    };
    let server_port = match local {
        Address::Inet(a) => cache.server_port(py, a.port()),
        Address::Unix(_) => empty(),
    };
    [
        (intern!(py, "REMOTE_ADDR"), remote_addr),
        (intern!(py, "REMOTE_PORT"), remote_port),
        (intern!(py, "SERVER_PORT"), server_port),
    ]
}

/// `HTTP_` + the header name upper-cased with `-` as `_` (CGI, RFC 3875 §4.1.18);
/// the common names are interned once.
fn header_key<'py>(py: Python<'py>, name: &str, buf: &mut String) -> Bound<'py, PyString> {
    macro_rules! known {
        ($($h:literal => $k:literal),* $(,)?) => {
            $( if name.eq_ignore_ascii_case($h) { return intern!(py, $k).clone(); } )*
        };
    }
    known!(
        "host" => "HTTP_HOST",
        "user-agent" => "HTTP_USER_AGENT",
        "accept" => "HTTP_ACCEPT",
        "accept-encoding" => "HTTP_ACCEPT_ENCODING",
        "accept-language" => "HTTP_ACCEPT_LANGUAGE",
        "connection" => "HTTP_CONNECTION",
        "cookie" => "HTTP_COOKIE",
        "referer" => "HTTP_REFERER",
        "cache-control" => "HTTP_CACHE_CONTROL",
        "origin" => "HTTP_ORIGIN",
        "x-forwarded-for" => "HTTP_X_FORWARDED_FOR",
        "x-forwarded-proto" => "HTTP_X_FORWARDED_PROTO",
        "x-requested-with" => "HTTP_X_REQUESTED_WITH",
    );
    buf.clear();
    buf.push_str("HTTP_");
    buf.extend(name.chars().map(|c| match c {
        '-' => '_',
        c => c.to_ascii_uppercase(),
    }));
    PyString::new(py, buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(&*percent_decode(b"/a%20b"), b"/a b");
        assert_eq!(&*percent_decode(b"/caf%C3%A9"), b"/caf\xc3\xa9");
        assert_eq!(&*percent_decode(b"/bad%zz%4"), b"/bad%zz%4");
        assert_eq!(&*percent_decode(b"/end%"), b"/end%");
        assert_eq!(&*percent_decode(b"/plain"), b"/plain");
    }

    #[test]
    fn targets() {
        assert_eq!(split_target(b"/p?q=1"), (&b"/p"[..], &b"q=1"[..]));
        assert_eq!(split_target(b"/p"), (&b"/p"[..], &b""[..]));
        assert_eq!(
            split_target(b"http://example.com/x/y?z"),
            (&b"/x/y"[..], &b"z"[..])
        );
        assert_eq!(split_target(b"*"), (&b"*"[..], &b""[..]));
    }

    fn request(head: Head, body: ruwsgi_event_loop::Body) -> Request {
        Request {
            protocol: match head {
                Head::Http(_) => ruwsgi_event_loop::Protocol::Http,
                Head::Uwsgi(_) => ruwsgi_event_loop::Protocol::Uwsgi,
            },
            head,
            body,
            peer: Address::Inet("10.1.2.3:5555".parse().unwrap()),
            local: Address::Inet("127.0.0.1:8080".parse().unwrap()),
            listener: 0,
        }
    }

    fn apps(py: Python<'_>) -> Apps {
        let f = py.eval(c"lambda e, s: None", None, None).unwrap().unbind();
        let g = py.eval(c"lambda e, s: None", None, None).unwrap().unbind();
        Apps {
            no_default: false,
            vhost: false,
            list: vec![
                App {
                    mount: String::new(),
                    callable: f,
                },
                App {
                    mount: "/sub".into(),
                    callable: g,
                },
            ],
        }
    }

    fn check(py: Python<'_>, env: &Bound<'_, PyDict>, code: &std::ffi::CStr) {
        let locals = PyDict::new(py);
        locals.set_item("env", env).unwrap();
        if let Err(e) = py.run(code, None, Some(&locals)) {
            panic!("{e}: {env}");
        }
    }

    #[test]
    fn http_head_environ() {
        crate::interp::test_init();
        Python::attach(|py| {
            let t = EnvironTemplate::new(py, true, false, true, true).unwrap();
            let head = RequestHead {
                method: "POST".into(),
                target: b"/sub/caf%C3%A9%20x?a=1&b=%20".to_vec(),
                version: Version::Http11,
                headers: vec![
                    ("Host".into(), b"example.com".to_vec()),
                    ("Content-Type".into(), b"text/plain".to_vec()),
                    ("Transfer-Encoding".into(), b"chunked".to_vec()),
                    ("X-Many".into(), b"1".to_vec()),
                    ("x-many".into(), b"2".to_vec()),
                    ("Cookie".into(), b"a=1".to_vec()),
                    ("Cookie".into(), b"b=2".to_vec()),
                    ("X-Forwarded-Proto".into(), b"https".to_vec()),
                    ("X-Latin".into(), b"\xe9".to_vec()),
                ],
                keep_alive: true,
                expect_continue: false,
            };
            let apps = apps(py);
            let req = request(
                Head::Http(head),
                ruwsgi_event_loop::Body::Memory(b"hello".to_vec()),
            );
            let (env, app) = t.build(py, &req, &apps, &mut AddrCache::default()).unwrap();
            assert_eq!(app.unwrap().mount, "/sub");
            check(
                py,
                &env,
                c"assert env['REQUEST_METHOD'] == 'POST'\n\
                  assert env['SCRIPT_NAME'] == '/sub'\n\
                  assert env['PATH_INFO'] == '/caf\\xc3\\xa9 x', env['PATH_INFO']\n\
                  assert env['QUERY_STRING'] == 'a=1&b=%20'\n\
                  assert env['REQUEST_URI'] == '/sub/caf%C3%A9%20x?a=1&b=%20'\n\
                  assert env['SERVER_PROTOCOL'] == 'HTTP/1.1'\n\
                  assert env['SERVER_PORT'] == '8080'\n\
                  assert env['REMOTE_ADDR'] == '10.1.2.3' and env['REMOTE_PORT'] == '5555'\n\
                  assert env['CONTENT_TYPE'] == 'text/plain' and 'HTTP_CONTENT_TYPE' not in env\n\
                  assert env['CONTENT_LENGTH'] == '5'\n\
                  assert 'HTTP_TRANSFER_ENCODING' not in env\n\
                  assert env['HTTP_HOST'] == 'example.com'\n\
                  assert env['HTTP_X_MANY'] == '1, 2'\n\
                  assert env['HTTP_COOKIE'] == 'a=1; b=2'\n\
                  assert env['HTTP_X_LATIN'] == '\\xe9'\n\
                  assert env['wsgi.url_scheme'] == 'https'\n\
                  assert env['wsgi.version'] == (1, 0)\n\
                  assert env['wsgi.multithread'] is True and env['wsgi.multiprocess'] is False\n\
                  assert env['wsgi.run_once'] is False and env['wsgi.input_terminated'] is True\n\
                  assert isinstance(env['uwsgi.version'], bytes) and isinstance(env['uwsgi.node'], bytes)\n\
                  assert callable(env['wsgi.file_wrapper'])\n\
                  assert not any(k.startswith('ruwsgi.') for k in env), env\n\
                  assert env['wsgi.input'] is None, 'the handler sets wsgi.input'\n\
                  assert all(type(v) is str for k, v in env.items() if '.' not in k), env\n",
            );
        });
    }

    /// The per-thread address cache must never hand one client's address or port to
    /// another: the same cache serves requests from different peers in turn.
    #[test]
    fn address_cache_follows_the_peer() {
        crate::interp::test_init();
        Python::attach(|py| {
            let t = EnvironTemplate::new(py, false, false, false, false).unwrap();
            let apps = apps(py);
            let mut cache = AddrCache::default();
            let peers = [
                ("10.1.2.3:5555", "127.0.0.1:8080"),
                ("10.1.2.3:5555", "127.0.0.1:8080"),
                ("10.9.9.9:5555", "127.0.0.1:8080"),
                // 5555 + 256: the same slot of the port cache, another port.
                ("10.9.9.9:5811", "127.0.0.1:9090"),
                ("[::1]:7", "[::1]:80"),
                ("10.1.2.3:65535", "127.0.0.1:0"),
            ];
            for (peer, local) in peers {
                let head = RequestHead {
                    method: "GET".into(),
                    target: b"/".to_vec(),
                    version: Version::Http10,
                    headers: vec![],
                    keep_alive: false,
                    expect_continue: false,
                };
                let mut req = request(Head::Http(head), ruwsgi_event_loop::Body::Empty);
                let (peer, local): (std::net::SocketAddr, std::net::SocketAddr) =
                    (peer.parse().unwrap(), local.parse().unwrap());
                req.peer = Address::Inet(peer);
                req.local = Address::Inet(local);
                let (env, _) = t.build(py, &req, &apps, &mut cache).unwrap();
                let get =
                    |k: &str| -> String { env.get_item(k).unwrap().unwrap().extract().unwrap() };
                assert_eq!(get("REMOTE_ADDR"), peer.ip().to_string());
                assert_eq!(get("REMOTE_PORT"), peer.port().to_string());
                assert_eq!(get("SERVER_PORT"), local.port().to_string());
                assert!(env.get_item("HTTP_HOST").unwrap().is_none());
            }
        });
    }

    #[test]
    fn uwsgi_vars_environ() {
        crate::interp::test_init();
        Python::attach(|py| {
            let t = EnvironTemplate::new(py, false, true, true, false).unwrap();
            let vars: Vec<(Vec<u8>, Vec<u8>)> = [
                ("QUERY_STRING", "x=1"),
                ("REQUEST_METHOD", "GET"),
                ("CONTENT_TYPE", ""),
                ("CONTENT_LENGTH", ""),
                ("REQUEST_URI", "/sub/p?x=1"),
                ("PATH_INFO", "/sub/p"),
                ("DOCUMENT_ROOT", "/usr/share/nginx/html"),
                ("SERVER_PROTOCOL", "HTTP/1.1"),
                ("REQUEST_SCHEME", "https"),
                ("HTTPS", "on"),
                ("REMOTE_ADDR", "192.0.2.1"),
                ("REMOTE_PORT", "4242"),
                ("SERVER_PORT", "443"),
                ("SERVER_NAME", "example.org"),
                ("SCRIPT_NAME", "/sub"),
                ("HTTP_HOST", "example.org"),
            ]
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
            let packet = UwsgiPacket {
                modifier1: 0,
                modifier2: 0,
                vars,
            };
            let apps = apps(py);
            let req = request(Head::Uwsgi(packet), ruwsgi_event_loop::Body::Empty);
            let (env, app) = t.build(py, &req, &apps, &mut AddrCache::default()).unwrap();
            assert_eq!(app.unwrap().mount, "/sub", "SCRIPT_NAME selects the mount");
            check(
                py,
                &env,
                c"assert env['wsgi.url_scheme'] == 'https'\n\
                  assert env['SERVER_NAME'] == 'example.org' and env['SERVER_PORT'] == '443'\n\
                  assert env['REMOTE_ADDR'] == '192.0.2.1'\n\
                  assert env['DOCUMENT_ROOT'] == '/usr/share/nginx/html'\n\
                  assert env['SCRIPT_NAME'] == '/sub' and env['PATH_INFO'] == '/sub/p'\n\
                  assert env['wsgi.multiprocess'] is True\n\
                  assert all(type(v) is str for k, v in env.items() if '.' not in k), env\n",
            );
        });
    }
}
