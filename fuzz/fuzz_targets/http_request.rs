//! Fuzzes `parse_request` (and the chunked decoder behind a chunked head).
//!
//! Beyond "no panic": a complete head is reported within the input, parsing exactly that
//! head gives the same result, the head short of its last byte is Partial (never an
//! error), and Partial only ever comes back below `buffer-size`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ruwsgi_proto::{parse_request, BodyFraming, ChunkedDecoder, Limits, Parsed};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        buffer_size: 4096,
        max_headers: 32,
    };
    match parse_request(data, &limits) {
        Ok(Parsed::Complete((head, framing), n)) => {
            assert!(n <= data.len() && n <= limits.buffer_size);
            assert!(!head.headers.iter().any(|(name, _)| name.contains('_')));
            match parse_request(&data[..n], &limits) {
                Ok(Parsed::Complete((again, framing2), m)) => {
                    assert_eq!(m, n);
                    assert_eq!(again.headers, head.headers);
                    assert_eq!(framing2, framing);
                }
                other => panic!("the head alone parsed differently: {other:?}"),
            }
            // A prefix of a valid head is never an error: the answer cannot depend on
            // how the bytes were split into reads.
            let cut = n.saturating_sub(1);
            assert!(matches!(
                parse_request(&data[..cut], &limits),
                Ok(Parsed::Partial)
            ));
            if framing == BodyFraming::Chunked {
                let mut out = Vec::new();
                if let Ok(d) = ChunkedDecoder::new().decode(&data[n..], &mut out) {
                    assert!(d.consumed <= data.len() - n);
                    assert!(out.len() <= d.consumed);
                }
            }
        }
        Ok(Parsed::Partial) => assert!(data.len() < limits.buffer_size),
        Err(e) => assert!(matches!(e.status(), 400 | 414 | 431 | 501 | 505)),
    }
});
