//! From a request to the path it names under a static root: the percent-decoded path of an
//! HTTP request-target, or a uwsgi request's `PATH_INFO` (nginx sends it decoded), split
//! into segments with everything that could leave the root refused.
//!
//! The refusal is by syntax, before the filesystem is asked anything: a `..` segment, a NUL
//! byte or a backslash. Decoding happens once, so `%2e%2e` is `..` (refused) and `%252e`
//! is the literal name `%2e` (a file that is not there). The resolved file is checked
//! again against the root after symlinks ([`super::StaticFiles`]); this module keeps the
//! textual path honest, the root check keeps the filesystem honest.

pub(crate) use ruwsgi_proto::percent_decode;

/// Why a request path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A `..` segment (after decoding): it would climb out of the directory it names.
    DotDot,
    /// A NUL byte: no file name holds one, and C code downstream would cut the path there.
    Nul,
    /// A backslash: a path separator elsewhere; refused rather than guessed at.
    Backslash,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::DotDot => "a \"..\" segment",
            Refusal::Nul => "a NUL byte",
            Refusal::Backslash => "a backslash",
        })
    }
}

/// The path of a request-target (origin-form, or absolute-form whose scheme and authority
/// are dropped, RFC 9112 §3.2), without its query.
pub(crate) fn target_path(target: &[u8]) -> &[u8] {
    let (path, _) = ruwsgi_proto::split_target(target);
    match path.iter().position(|&c| c == b'#') {
        Some(i) => &path[..i],
        None => path,
    }
}

/// The segments of a decoded path below a root, empty and `.` segments dropped; refused
/// when any segment is `..` or the path holds a NUL byte or a backslash.
pub(crate) fn segments(path: &[u8]) -> Result<Vec<&[u8]>, Refusal> {
    if path.contains(&0) {
        return Err(Refusal::Nul);
    }
    if path.contains(&b'\\') {
        return Err(Refusal::Backslash);
    }
    let mut out = Vec::new();
    for seg in path.split(|&c| c == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => return Err(Refusal::DotDot),
            s => out.push(s),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_lose_their_query_and_authority() {
        assert_eq!(target_path(b"/a/b?x=1"), b"/a/b");
        assert_eq!(target_path(b"http://h:80/a?x"), b"/a");
        assert_eq!(target_path(b"HTTPS://h"), b"");
        assert_eq!(target_path(b"/a#frag"), b"/a");
    }

    #[test]
    fn traversal_is_refused_by_syntax() {
        type Want = Result<Vec<&'static [u8]>, Refusal>;
        let table: &[(&[u8], Want)] = &[
            (b"/css/site.css", Ok(vec![b"css", b"site.css"])),
            (b"//css/./site.css/", Ok(vec![b"css", b"site.css"])),
            (b"", Ok(vec![])),
            (b"/...", Ok(vec![b"..."])),
            (b"/..a/b..", Ok(vec![b"..a", b"b.."])),
            (b"/%2e%2e", Ok(vec![b"%2e%2e"])),
            (b"/../secret", Err(Refusal::DotDot)),
            (b"/a/../../secret", Err(Refusal::DotDot)),
            (b"/a/..", Err(Refusal::DotDot)),
            (b"..", Err(Refusal::DotDot)),
            (b"/a\0.txt", Err(Refusal::Nul)),
            (b"/..\\secret", Err(Refusal::Backslash)),
            (b"/a\\b", Err(Refusal::Backslash)),
        ];
        for (path, want) in table {
            assert_eq!(&segments(path), want, "{}", String::from_utf8_lossy(path));
        }
        // Decoded first: encoded dots and slashes are the same traversal.
        for raw in [
            &b"/%2e%2e/secret"[..],
            b"/%2E%2e%2fsecret",
            b"/..%2fsecret",
            b"/.%2e/x",
        ] {
            assert_eq!(segments(&percent_decode(raw)), Err(Refusal::DotDot));
        }
        assert_eq!(segments(&percent_decode(b"/a%00.txt")), Err(Refusal::Nul));
        assert_eq!(
            segments(&percent_decode(b"/..%5csecret")),
            Err(Refusal::Backslash)
        );
    }
}
