//! Fuzzes `parse_uwsgi`: a parsed packet encodes back to exactly the bytes it came from,
//! and its CONTENT_LENGTH either parses or is refused with 400.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ruwsgi_proto::{encode_uwsgi, parse_uwsgi, Limits, Parsed};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        buffer_size: 4096,
        max_headers: 100,
    };
    match parse_uwsgi(data, &limits) {
        Ok(Parsed::Complete(packet, n)) => {
            assert!(n <= data.len() && n <= limits.buffer_size + 4);
            let mut out = Vec::new();
            encode_uwsgi(&packet, &mut out).expect("a parsed packet encodes");
            assert_eq!(out, &data[..n]);
            if let Err(e) = packet.content_length() {
                assert_eq!(e.status(), 400);
            }
        }
        Ok(Parsed::Partial) => {}
        Err(e) => assert!(matches!(e.status(), 400 | 431)),
    }
});
