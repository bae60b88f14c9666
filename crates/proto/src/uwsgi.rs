//! uwsgi packets: a 4-byte header and u16le length-prefixed vars.
//!
//! ```text
//! header = modifier1:u8 datasize:u16le modifier2:u8
//! vars   = *( keysize:u16le key valsize:u16le val )    ; exactly datasize bytes
//! ```
//!
//! This is what nginx's `uwsgi_pass` sends (modifier1 0, the CGI-style vars of
//! `uwsgi_params`), followed by the request body of `CONTENT_LENGTH` bytes. A packet larger
//! than `buffer-size` is refused, as uWSGI does ("invalid request block size ... increase
//! buffer size").

use crate::error::{Error, ErrorKind};
use crate::request::parse_decimal;
use crate::{Limits, Parsed, UwsgiPacket};

/// Parses a uwsgi packet at the start of `buf`; Partial if incomplete.
///
/// The body, if any, follows the packet in `buf` at the returned offset.
pub fn parse_uwsgi(buf: &[u8], limits: &Limits) -> Result<Parsed<UwsgiPacket>, Error> {
    let [modifier1, lo, hi, modifier2, ..] = *buf else {
        return Ok(Parsed::Partial);
    };
    let size = usize::from(u16::from_le_bytes([lo, hi]));
    if size > limits.buffer_size {
        return Err(ErrorKind::UwsgiPacketTooLarge.into());
    }
    let Some(mut data) = buf.get(4..4 + size) else {
        return Ok(Parsed::Partial);
    };
    let mut vars = Vec::with_capacity(32);
    while !data.is_empty() {
        let (key, rest) = take_sized(data)?;
        let (val, rest) = take_sized(rest)?;
        vars.push((key.to_vec(), val.to_vec()));
        data = rest;
    }
    Ok(Parsed::Complete(
        UwsgiPacket {
            modifier1,
            modifier2,
            vars,
        },
        4 + size,
    ))
}

/// Splits `u16le size, size bytes` off the front of `data`.
fn take_sized(data: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    let [lo, hi, rest @ ..] = data else {
        return Err(ErrorKind::InvalidUwsgiPacket.into());
    };
    let len = usize::from(u16::from_le_bytes([*lo, *hi]));
    if rest.len() < len {
        return Err(ErrorKind::InvalidUwsgiPacket.into());
    }
    Ok(rest.split_at(len))
}

impl UwsgiPacket {
    /// The value of the first var named `name`.
    pub fn var(&self, name: &[u8]) -> Option<&[u8]> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The `CONTENT_LENGTH` var (absent or empty = 0); a bad value is an error (400).
    pub fn content_length(&self) -> Result<u64, Error> {
        match self.var(b"CONTENT_LENGTH") {
            None | Some(b"") => Ok(0),
            Some(v) => parse_decimal(v).ok_or_else(|| ErrorKind::InvalidContentLength.into()),
        }
    }
}

/// Appends the wire form of `packet` to `out`.
///
/// Fails (leaving `out` unchanged) when a key or value, or the vars together, exceed the
/// 65535 bytes a u16 size can say.
pub fn encode_uwsgi(packet: &UwsgiPacket, out: &mut Vec<u8>) -> Result<(), Error> {
    let mut size = 0usize;
    for (k, v) in &packet.vars {
        if k.len() > usize::from(u16::MAX) || v.len() > usize::from(u16::MAX) {
            return Err(ErrorKind::UwsgiEncode.into());
        }
        size += 4 + k.len() + v.len();
    }
    let Ok(size16) = u16::try_from(size) else {
        return Err(ErrorKind::UwsgiEncode.into());
    };
    out.reserve(4 + size);
    out.push(packet.modifier1);
    out.extend_from_slice(&size16.to_le_bytes());
    out.push(packet.modifier2);
    for (k, v) in &packet.vars {
        // Both lengths were checked to fit in a u16 above.
        out.extend_from_slice(&(k.len() as u16).to_le_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(&(v.len() as u16).to_le_bytes());
        out.extend_from_slice(v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(vars: &[(&str, &str)]) -> UwsgiPacket {
        UwsgiPacket {
            modifier1: 0,
            modifier2: 0,
            vars: vars
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    /// A packet as nginx writes it, by hand: the reference bytes for both directions.
    const NGINX: &[u8] =
        b"\x00\x23\x00\x00\x0e\x00REQUEST_METHOD\x03\x00GET\x09\x00PATH_INFO\x01\x00/";

    #[test]
    fn parses_nginx_bytes() {
        let Parsed::Complete(p, n) = parse_uwsgi(NGINX, &Limits::default()).unwrap() else {
            panic!("incomplete");
        };
        assert_eq!(n, NGINX.len());
        assert_eq!((p.modifier1, p.modifier2), (0, 0));
        assert_eq!(p.var(b"REQUEST_METHOD"), Some(&b"GET"[..]));
        assert_eq!(p.var(b"PATH_INFO"), Some(&b"/"[..]));
        assert_eq!(p.var(b"QUERY_STRING"), None);
        let mut out = Vec::new();
        encode_uwsgi(&p, &mut out).unwrap();
        assert_eq!(out, NGINX);
    }

    #[test]
    fn every_prefix_is_partial_and_the_body_is_left() {
        let mut input = NGINX.to_vec();
        input.extend_from_slice(b"body");
        for end in 0..NGINX.len() {
            assert!(matches!(
                parse_uwsgi(&input[..end], &Limits::default()),
                Ok(Parsed::Partial)
            ));
        }
        let Ok(Parsed::Complete(_, n)) = parse_uwsgi(&input, &Limits::default()) else {
            panic!()
        };
        assert_eq!(&input[n..], b"body");
    }

    #[test]
    fn round_trip() {
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("A", "")],
            &[("", "")],
            &[
                ("CONTENT_LENGTH", "12"),
                ("HTTP_HOST", "example.com"),
                ("HTTP_HOST", "dup"),
            ],
        ];
        for vars in cases {
            let p = packet(vars);
            let mut out = Vec::new();
            encode_uwsgi(&p, &mut out).unwrap();
            let Ok(Parsed::Complete(q, n)) = parse_uwsgi(&out, &Limits::default()) else {
                panic!("{vars:?}")
            };
            assert_eq!(n, out.len());
            assert_eq!(q.vars, p.vars);
        }
    }

    #[test]
    fn malformed_and_oversized() {
        let limits = Limits {
            buffer_size: 16,
            max_headers: 100,
        };
        let cases: &[(&str, &[u8], u16)] = &[
            ("key past the end", b"\x00\x04\x00\x00\x05\x00abcd", 400),
            (
                "value past the end",
                b"\x00\x05\x00\x00\x01\x00a\x05\x00",
                400,
            ),
            ("dangling byte", b"\x00\x01\x00\x00\x01", 400),
            ("missing value size", b"\x00\x03\x00\x00\x01\x00a", 400),
            ("over buffer-size", b"\x00\x11\x00\x00", 431),
        ];
        for (name, input, status) in cases {
            let err = parse_uwsgi(input, &limits).expect_err(name);
            assert_eq!(err.status(), *status, "{name}");
        }
        // The size is checked before the data arrives.
        assert!(parse_uwsgi(b"\x00\xff\xff\x00", &Limits::default()).is_err());
    }

    #[test]
    fn content_length() {
        type Vars<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Vars<'_>, Option<u64>)] = &[
            (&[], Some(0)),
            (&[("CONTENT_LENGTH", "")], Some(0)),
            (&[("CONTENT_LENGTH", "0")], Some(0)),
            (&[("CONTENT_LENGTH", "1234")], Some(1234)),
            (&[("CONTENT_LENGTH", "-1")], None),
            (&[("CONTENT_LENGTH", "12a")], None),
            (&[("CONTENT_LENGTH", "99999999999999999999999")], None),
        ];
        for (vars, expect) in cases {
            let got = packet(vars).content_length();
            match expect {
                Some(n) => assert_eq!(got.unwrap(), *n, "{vars:?}"),
                None => assert_eq!(got.unwrap_err().status(), 400, "{vars:?}"),
            }
        }
    }

    #[test]
    fn encode_refuses_what_a_u16_cannot_say() {
        let long = "x".repeat(65536);
        let mut out = Vec::new();
        assert!(encode_uwsgi(&packet(&[("K", &long)]), &mut out).is_err());
        let half = "x".repeat(40000);
        assert!(encode_uwsgi(&packet(&[("A", &half), ("B", &half)]), &mut out).is_err());
        assert!(out.is_empty(), "nothing written on error");
        let max = "x".repeat(65535 - 4 - 1);
        encode_uwsgi(&packet(&[("K", &max)]), &mut out).unwrap();
        assert_eq!(out.len(), 4 + 65535);
    }
}
