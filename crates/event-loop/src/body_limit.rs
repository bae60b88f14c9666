//! [`BodyLimit`]: a response's declared `Content-Length`, and the one rule about it — never
//! more on the wire (RFC 9112 §6.3 lets a client take extra bytes for the next response).
//!
//! The connection's exchange keeps to it on the wire; a [`Reply`](crate::Reply) that streams
//! counts against the same limit before it posts, so the app hears at once that the rest of
//! its body is dropped (PEP 3333: stop iterating once enough data was sent), even if the
//! client has already read the response and left.

use ruwsgi_proto::{declared_length, DeclaredLength};

/// A declared `Content-Length` and the body bytes let through so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyLimit {
    declared: u64,
    sent: u64,
    overflowed: bool,
    /// Log nothing when the body is longer (a HEAD answer: no body goes out anyway).
    quiet: bool,
}

impl BodyLimit {
    /// The limit of a head with these headers: `None` without one valid `Content-Length`.
    pub(crate) fn of(headers: &[(String, Vec<u8>)], quiet: bool) -> Option<BodyLimit> {
        match declared_length(headers) {
            DeclaredLength::Valid(n) => Some(BodyLimit::new(n, quiet)),
            DeclaredLength::None | DeclaredLength::Invalid => None,
        }
    }

    /// A limit of `declared` bytes.
    pub(crate) fn new(declared: u64, quiet: bool) -> BodyLimit {
        BodyLimit {
            declared,
            sent: 0,
            overflowed: false,
            quiet,
        }
    }

    /// Lets through what fits of `n` more bytes; the first time the body is longer than
    /// declared, logs that the rest is dropped.
    pub(crate) fn take(&mut self, n: u64) -> u64 {
        let take = n.min(self.remaining());
        if take < n {
            if !self.overflowed && !self.quiet {
                log::error!(
                    "the app sent more than its Content-Length of {} bytes; the rest is dropped",
                    self.declared
                );
            }
            self.overflowed = true;
        }
        self.sent += take;
        take
    }

    /// Bytes still allowed.
    pub(crate) fn remaining(&self) -> u64 {
        self.declared - self.sent
    }

    /// Whether bytes past the limit were dropped.
    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_declared() {
        let mut l = BodyLimit::new(5, false);
        assert_eq!(l.take(3), 3);
        assert!(!l.overflowed());
        assert_eq!(l.take(2), 2);
        assert!(!l.overflowed(), "exactly the length is not an overflow");
        assert_eq!(l.take(4), 0);
        assert!(l.overflowed());
        assert_eq!(l.remaining(), 0);
    }

    #[test]
    fn only_a_valid_single_length_limits() {
        let h = |list: &[(&str, &str)]| -> Vec<(String, Vec<u8>)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect()
        };
        assert_eq!(
            BodyLimit::of(&h(&[("Content-Length", "7")]), false).map(|l| l.remaining()),
            Some(7)
        );
        assert_eq!(BodyLimit::of(&h(&[("X", "7")]), false), None);
        assert_eq!(BodyLimit::of(&h(&[("Content-Length", "7x")]), false), None);
    }
}
