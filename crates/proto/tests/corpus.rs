//! gunicorn's request corpus (`tests/corpus/http-requests/`, see its README) run through
//! ruwsgi-proto as one connection's input: every valid case must parse to the expected
//! requests, every invalid one must be rejected, except the cases listed in [`DIFFERENCES`]
//! where RFC 9112 or our policy (docs/architecture.md) gives another outcome. Each case is
//! fed whole and in pieces of 1, 7 and 64 bytes; the outcome must not depend on the split.

use std::fs;
use std::path::{Path, PathBuf};

use ruwsgi_proto::{
    parse_request, BodyFraming, ChunkedDecoder, Error, ErrorKind, Limits, Parsed, RequestHead,
    Version,
};
use serde_json::Value;

/// What ruwsgi does with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Parsed (the expectations of the case are not compared: the policy differs).
    Accept,
    /// Rejected with this status.
    Reject(u16),
    /// The input ends inside a request: to a server, a client that went away.
    Truncated,
}

/// Cases where ruwsgi deliberately answers differently from gunicorn, and why.
const DIFFERENCES: &[(&str, Outcome, &str)] = &[
    // HTTP/1.1 without Host: RFC 9112 §3.2 says a server MUST answer 400.
    ("valid/004", Outcome::Reject(400), NO_HOST),
    ("valid/005", Outcome::Reject(400), NO_HOST),
    ("valid/006", Outcome::Reject(400), NO_HOST),
    ("valid/007", Outcome::Reject(400), NO_HOST),
    ("valid/009", Outcome::Reject(400), NO_HOST),
    ("valid/010", Outcome::Reject(400), NO_HOST),
    ("valid/011", Outcome::Reject(400), NO_HOST),
    ("valid/012", Outcome::Reject(400), NO_HOST),
    ("valid/013", Outcome::Reject(400), NO_HOST),
    ("valid/014", Outcome::Reject(400), NO_HOST),
    ("valid/018", Outcome::Reject(400), NO_HOST),
    ("valid/021", Outcome::Reject(400), NO_HOST),
    ("valid/022", Outcome::Reject(400), NO_HOST),
    ("valid/023", Outcome::Reject(400), NO_HOST),
    ("valid/025", Outcome::Reject(400), NO_HOST),
    ("valid/025_line", Outcome::Reject(400), NO_HOST),
    ("valid/028", Outcome::Reject(400), NO_HOST),
    ("valid/029", Outcome::Reject(400), NO_HOST),
    ("valid/030", Outcome::Reject(400), NO_HOST),
    ("valid/031", Outcome::Reject(400), NO_HOST),
    ("valid/031compat", Outcome::Reject(400), NO_HOST),
    ("valid/031compat2", Outcome::Reject(400), NO_HOST),
    ("valid/100", Outcome::Reject(400), NO_HOST),
    ("valid/compat_obs_fold_huge", Outcome::Reject(400), NO_HOST),
    // Transfer codings other than chunked.
    (
        "valid/rfc9112_smuggle_gzip_chunked_01",
        Outcome::Reject(501),
        "gzip before chunked: a coding ruwsgi does not implement, RFC 9112 §6.1 says 501",
    ),
    (
        "valid/rfc9112_smuggle_te_identity_chunked_01",
        Outcome::Reject(501),
        "identity is no transfer coding (RFC 9112 §6.1: unknown coding, 501)",
    ),
    // Policy: obs-fold refused (RFC 9112 §5.2 allows rejecting it).
    ("valid/compat_obs_fold", Outcome::Reject(400), "obs-fold is refused (gunicorn only accepts it with permit_obsolete_folding)"),
    // Limits are ruwsgi's (buffer-size 8192 for the whole head), not gunicorn's.
    ("valid/024", Outcome::Reject(431), "a 16 KiB head exceeds buffer-size 8192"),
    ("valid/026", Outcome::Reject(431), "a 16 KiB head exceeds buffer-size 8192"),
    // `_` in names: dropped (docs/architecture.md), never kept or refused.
    ("valid/040_compat", Outcome::Accept, "Transfer_Encoding and Content_Length are dropped (docs/architecture.md), not kept as under gunicorn's header_map=dangerous"),
    (
        "valid/099",
        Outcome::Truncated,
        "the input ends 9315 bytes before its Content-Length; gunicorn hands the app a short body",
    ),
    (
        "invalid/rfc9112_chunked_missing_final_crlf_01",
        Outcome::Truncated,
        "the input ends before the final CRLF: the client went away, no request is dispatched",
    ),
    ("invalid/040", Outcome::Accept, "Transfer_Encoding is dropped (docs/architecture.md), not refused as under gunicorn's header_map=refuse"),
    // ruwsgi's limit is the whole head (buffer-size), not gunicorn's per-line ones.
    ("invalid/012", Outcome::Accept, "gunicorn's limit_request_field_size=98; ruwsgi limits the whole head only"),
    ("invalid/006", Outcome::Accept, "a 4112-byte request line fits buffer-size 8192 (gunicorn's limit: 4094)"),
    (
        "invalid/013",
        Outcome::Reject(400),
        "obs-fold is refused (RFC 9112 §5.2 allows it); gunicorn's limit_request_field_size=14 does not exist in ruwsgi",
    ),
    // gunicorn policy that is not HTTP's.
    ("invalid/041", Outcome::Accept, "duplicate Content-Type is gunicorn policy, not an RFC 9112 framing error"),
];

/// Cases refused only for lacking Host are run again with `Host: corpus` added to each
/// request, so that the rest of the case is tested too; these are the ones whose outcome
/// then still differs from gunicorn's (the others must match it).
const WITH_HOST: &[(&str, Outcome, &str)] = &[
    (
        "valid/009",
        Outcome::Reject(400),
        "Content-Length with Transfer-Encoding (identity): RFC 9112 §6.3 (3), smuggling",
    ),
    (
        "valid/025",
        Outcome::Reject(501),
        "gzip before chunked: RFC 9112 §6.1, a coding not implemented",
    ),
    (
        "valid/025_line",
        Outcome::Reject(501),
        "gzip before chunked: RFC 9112 §6.1, a coding not implemented",
    ),
    (
        "valid/028",
        Outcome::Reject(400),
        "whitespace before the colon: RFC 9112 §5.1 MUST reject",
    ),
    (
        "valid/029",
        Outcome::Reject(501),
        "identity before chunked: identity is no longer a transfer coding (RFC 9112 §6.1: 501)",
    ),
    (
        "valid/030",
        Outcome::Reject(501),
        "identity before chunked: identity is no longer a transfer coding (RFC 9112 §6.1: 501)",
    ),
    (
        "valid/031compat",
        Outcome::Accept,
        "the method is reported as sent; gunicorn upper-cases it under casefold_http_method",
    ),
    (
        "valid/compat_obs_fold_huge",
        Outcome::Reject(400),
        "obs-fold is refused (RFC 9112 §5.2 allows it)",
    ),
    (
        "invalid/003c",
        Outcome::Accept,
        "`-bl` is an RFC 9110 token, and any token is a method",
    ),
    (
        "invalid/010",
        Outcome::Accept,
        "gunicorn's limit_request_field_size=10 does not exist in ruwsgi",
    ),
    (
        "invalid/019",
        Outcome::Accept,
        "contradicting X-Forwarded-* is gunicorn policy, not HTTP",
    ),
    (
        "invalid/chunked_07",
        Outcome::Accept,
        "Transfer_Encoding is dropped (docs/architecture.md), not refused as under header_map=refuse",
    ),
];

const NO_HOST: &str = "HTTP/1.1 without Host: RFC 9112 §3.2 says a server MUST answer 400";

/// The PROXY protocol cases are out of scope (issue 3).
const SKIPPED: &[&str] = &[
    "valid/pp_01",
    "valid/pp_02",
    "valid/pp_04",
    "valid/pp_05",
    "invalid/pp_01",
    "invalid/pp_02",
    "invalid/pp_03",
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/http-requests")
}

/// One request as parsed from the stream.
#[derive(Debug)]
struct Request {
    head: RequestHead,
    body: Vec<u8>,
}

#[derive(Debug)]
enum Stream {
    /// Every request, the input ending cleanly after the last (or after one that closes).
    Requests(Vec<Request>),
    Rejected(Error),
    /// The input ended inside a request (the client went away).
    Truncated,
}

/// Feeds `input` to the parsers `step` bytes at a time, as the event loop would.
fn drive(input: &[u8], step: usize, limits: &Limits) -> Stream {
    let mut avail = step.min(input.len());
    let mut pos = 0;
    let mut requests = Vec::new();
    loop {
        if pos == input.len() {
            return Stream::Requests(requests);
        }
        let (head, framing) = loop {
            match parse_request(&input[pos..avail], limits) {
                Ok(Parsed::Complete(parsed, n)) => {
                    pos += n;
                    break parsed;
                }
                Ok(Parsed::Partial) if avail == input.len() => return Stream::Truncated,
                Ok(Parsed::Partial) => avail = (avail + step).min(input.len()),
                Err(e) => return Stream::Rejected(e),
            }
        };
        let mut body = Vec::new();
        match framing {
            BodyFraming::None => {}
            BodyFraming::Length(n) => {
                let n = usize::try_from(n).unwrap();
                while avail < pos + n {
                    if avail == input.len() {
                        return Stream::Truncated;
                    }
                    avail = (avail + step).min(input.len());
                }
                body.extend_from_slice(&input[pos..pos + n]);
                pos += n;
            }
            BodyFraming::Chunked => {
                let mut decoder = ChunkedDecoder::new();
                loop {
                    match decoder.decode(&input[pos..avail], &mut body) {
                        Ok(d) => {
                            pos += d.consumed;
                            if d.done {
                                break;
                            }
                            assert_eq!(pos, avail, "a decoder that is not done uses all input");
                            if avail == input.len() {
                                return Stream::Truncated;
                            }
                            avail = (avail + step).min(input.len());
                        }
                        Err(e) => return Stream::Rejected(e),
                    }
                }
            }
        }
        avail = avail.max(pos);
        let keep_alive = head.keep_alive;
        requests.push(Request { head, body });
        if !keep_alive {
            // The server closes after this response; the rest is never read.
            return Stream::Requests(requests);
        }
    }
}

fn latin1(v: &Value) -> Vec<u8> {
    v.as_str()
        .unwrap()
        .chars()
        .map(|c| u8::try_from(u32::from(c)).expect("latin-1 string"))
        .collect()
}

fn base64(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64 {c}"),
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// The limits a case runs under: ruwsgi's defaults, with gunicorn's field-count limit
/// carried over where a case sets it (it maps onto `max_headers`).
fn limits_for(case: &Value) -> Limits {
    let mut limits = Limits::default();
    if let Some(n) = case["config"]["limit_request_fields"]["value"].as_u64() {
        limits.max_headers = usize::try_from(n).unwrap();
    }
    limits
}

/// Compares a parsed stream with a valid case's expectations; Err names the mismatch.
fn check_valid(case: &Value, requests: &[Request]) -> Result<(), String> {
    let expected = case["requests"].as_array().unwrap();
    if requests.len() != expected.len() {
        return Err(format!(
            "{} requests, expected {}",
            requests.len(),
            expected.len()
        ));
    }
    for (i, (got, want)) in requests.iter().zip(expected).enumerate() {
        let h = &got.head;
        let want_method = want["method"].as_str().unwrap();
        if h.method != want_method {
            return Err(format!(
                "request {i}: method {:?}, expected {want_method:?}",
                h.method
            ));
        }
        if h.target != latin1(&want["target"]) {
            return Err(format!(
                "request {i}: target {:?}",
                String::from_utf8_lossy(&h.target)
            ));
        }
        let version = match h.version {
            Version::Http10 => [1, 0],
            Version::Http11 => [1, 1],
        };
        let want_version: Vec<u64> = want["version"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        if want_version != version {
            return Err(format!(
                "request {i}: version {version:?}, expected {want_version:?}"
            ));
        }
        let want_headers = want["headers"].as_array().unwrap();
        if h.headers.len() != want_headers.len() {
            return Err(format!(
                "request {i}: {} headers, expected {}: {:?}",
                h.headers.len(),
                want_headers.len(),
                h.headers
            ));
        }
        for ((name, value), w) in h.headers.iter().zip(want_headers) {
            let (wname, wvalue) = (latin1(&w[0]), latin1(&w[1]));
            if !name.as_bytes().eq_ignore_ascii_case(&wname) || *value != wvalue {
                return Err(format!(
                    "request {i}: header {name}: {:?}, expected {}: {:?}",
                    String::from_utf8_lossy(value),
                    String::from_utf8_lossy(&wname),
                    String::from_utf8_lossy(&wvalue)
                ));
            }
        }
        let body = base64(want["body_base64"].as_str().unwrap());
        if got.body != body {
            return Err(format!(
                "request {i}: body {:?}",
                String::from_utf8_lossy(&got.body)
            ));
        }
        let closes = want["closes_connection"].as_bool().unwrap();
        if h.keep_alive == closes {
            return Err(format!(
                "request {i}: keep_alive {}, gunicorn closes: {closes}",
                h.keep_alive
            ));
        }
    }
    Ok(())
}

/// What a stream came to, for comparing splits.
fn summary(stream: &Stream) -> String {
    match stream {
        Stream::Requests(r) => format!("{} requests", r.len()),
        Stream::Rejected(e) => format!("rejected {} ({e})", e.status()),
        Stream::Truncated => "truncated".to_owned(),
    }
}

/// `input` with `Host: corpus` added to every HTTP/1.1 request head.
fn with_host(input: &[u8]) -> Vec<u8> {
    let (from, to) = (&b" HTTP/1.1\r\n"[..], &b" HTTP/1.1\r\nHost: corpus\r\n"[..]);
    let mut out = Vec::with_capacity(input.len() + 64);
    let mut i = 0;
    while i < input.len() {
        if input[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

/// Checks one stream against what the case (or `table`) says it should be.
fn check_outcome(
    id: &str,
    kind: &str,
    case: &Value,
    stream: &Stream,
    table: &[(&str, Outcome, &str)],
) -> Result<(), String> {
    let difference = table.iter().find(|(n, _, _)| *n == id);
    match (difference, kind, stream) {
        (Some((_, Outcome::Accept, _)), _, Stream::Requests(_)) => Ok(()),
        (Some((_, Outcome::Truncated, _)), _, Stream::Truncated) => Ok(()),
        (Some((_, Outcome::Reject(status), _)), _, Stream::Rejected(e))
            if e.status() == *status =>
        {
            Ok(())
        }
        (Some((_, outcome, why)), _, other) => Err(format!(
            "expected {outcome:?} ({why}), got {}",
            summary(other)
        )),
        (None, "valid", Stream::Requests(requests)) => check_valid(case, requests),
        // Refused for lacking Host: run again with one (`gunicorn_corpus`), which checks the
        // status the rest of the case deserves.
        (None, "invalid", Stream::Rejected(e)) if *e.kind() == ErrorKind::MissingHost => Ok(()),
        (None, "invalid", Stream::Rejected(e)) => {
            let error = case["error"].as_str().unwrap_or("");
            let want = policy_status(error, case["gunicorn_message"].as_str().unwrap_or(""));
            if e.status() == want {
                Ok(())
            } else {
                Err(format!(
                    "gunicorn's {error} answers {want} under our policy, got {} ({e})",
                    e.status()
                ))
            }
        }
        (None, "invalid", Stream::Truncated) if case["error"] == "NoMoreData" => Ok(()),
        (None, _, other) => Err(format!("got {}", summary(other))),
    }
}

/// The status our policy (`ruwsgi_proto::Error::status`, docs/architecture.md) answers each
/// of gunicorn's error classes with: an over-long request line 414, an over-large head 431,
/// a well-formed HTTP version other than 1.0 and 1.1 (`HTTP/2.0`) 505, any other malformed
/// request 400 — a version that is not `HTTP/` digit `.` digit (`FTP/1.1`, `HTTP/111`) too.
/// `message` is gunicorn's, which quotes the version it refused.
fn policy_status(gunicorn_error: &str, message: &str) -> u16 {
    match gunicorn_error {
        "LimitRequestLine" => 414,
        "LimitRequestHeaders" => 431,
        "InvalidHTTPVersion" => {
            // gunicorn quotes a version it could not parse (`'FTP/1.1'`) and prints one it
            // parsed as a tuple (`(2, 0)`).
            let refused = message.rsplit(": ").next().unwrap_or("");
            let version = refused.trim_matches('\'').as_bytes();
            let well_formed = refused.starts_with('(')
                || matches!(version, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
                    if major.is_ascii_digit() && minor.is_ascii_digit());
            if well_formed {
                505
            } else {
                400
            }
        }
        _ => 400,
    }
}

/// Runs a case whole and split into 1-, 7- and 64-byte reads; the outcome must not depend
/// on the split. With `added_host`, the `Host: corpus` fields are removed before comparing.
fn run_case(
    id: &str,
    kind: &str,
    case: &Value,
    input: &[u8],
    table: &[(&str, Outcome, &str)],
    added_host: bool,
) -> Result<Stream, String> {
    let mut first: Option<(String, Stream)> = None;
    for step in [input.len().max(1), 1, 7, 64] {
        let mut stream = drive(input, step, &limits_for(case));
        if let (true, Stream::Requests(requests)) = (added_host, &mut stream) {
            for r in requests {
                r.head
                    .headers
                    .retain(|(n, v)| !(n == "Host" && v == b"corpus"));
            }
        }
        let sum = summary(&stream);
        check_outcome(id, kind, case, &stream, table).map_err(|e| {
            format!(
                "{id} (reads of {step} bytes{}): {e}",
                if added_host { ", Host added" } else { "" }
            )
        })?;
        match &first {
            None => first = Some((sum, stream)),
            Some((s, _)) if *s != sum => {
                return Err(format!(
                    "{id}: whole input gives {s}, reads of {step} bytes give {sum}"
                ));
            }
            Some(_) => {}
        }
    }
    Ok(first.unwrap().1)
}

#[test]
fn gunicorn_corpus() {
    let mut failures = Vec::new();
    let (mut ran, mut rerun) = (0, 0);
    for kind in ["valid", "invalid"] {
        let dir = corpus_dir().join(kind);
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter_map(|f| f.strip_suffix(".json").map(str::to_owned))
            .collect();
        names.sort();
        for name in names {
            let id = format!("{kind}/{name}");
            if SKIPPED.contains(&id.as_str()) {
                continue;
            }
            let case: Value =
                serde_json::from_slice(&fs::read(dir.join(format!("{name}.json"))).unwrap())
                    .unwrap();
            let input = fs::read(dir.join(format!("{name}.http"))).unwrap();
            ran += 1;
            match run_case(&id, kind, &case, &input, DIFFERENCES, false) {
                Err(e) => failures.push(e),
                Ok(Stream::Rejected(e)) if *e.kind() == ErrorKind::MissingHost => {
                    let has_host = input.windows(6).any(|w| w.eq_ignore_ascii_case(b"\nhost:"));
                    if !has_host {
                        rerun += 1;
                        let input = with_host(&input);
                        if let Err(e) = run_case(&id, kind, &case, &input, WITH_HOST, true) {
                            failures.push(e);
                        }
                    }
                }
                Ok(_) => {}
            }
        }
    }
    assert_eq!(ran, 137 - SKIPPED.len(), "every case of the corpus ran");
    assert!(
        rerun > 30,
        "the cases without Host were run again with one ({rerun})"
    );
    assert!(
        failures.is_empty(),
        "{} corpus failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn differences_name_real_cases() {
    for (id, _, why) in DIFFERENCES.iter().chain(WITH_HOST) {
        assert!(!why.is_empty());
        assert!(
            corpus_dir().join(format!("{id}.http")).exists(),
            "{id} is not in the corpus"
        );
    }
    for id in SKIPPED {
        assert!(
            corpus_dir().join(format!("{id}.http")).exists(),
            "{id} is not in the corpus"
        );
    }
}
