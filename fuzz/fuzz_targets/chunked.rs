//! Fuzzes the chunked decoder: feeding the input whole or split at any point gives the
//! same body, the same end and the same verdict.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ruwsgi_proto::ChunkedDecoder;

/// Body, bytes consumed, done; None on error.
fn decode(pieces: &[&[u8]]) -> Option<(Vec<u8>, usize, bool)> {
    let mut decoder = ChunkedDecoder::new();
    let mut out = Vec::new();
    let mut consumed = 0;
    for piece in pieces {
        let d = decoder.decode(piece, &mut out).ok()?;
        consumed += d.consumed;
        if d.done {
            return Some((out, consumed, true));
        }
        assert_eq!(
            d.consumed,
            piece.len(),
            "a decoder that is not done uses all input"
        );
    }
    Some((out, consumed, false))
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let whole = decode(&[data]);
    let at = usize::from(split).min(data.len());
    let (a, b) = data.split_at(at);
    let halves = decode(&[a, b]);
    match (&whole, &halves) {
        (Some(w), Some(h)) => assert_eq!(w, h),
        // An error found in the first half may come before the end the whole input
        // reaches; both must still agree that the input is bad.
        (None, None) => {}
        _ => panic!("whole {whole:?} vs split at {at}: {halves:?}"),
    }
    if let Some((body, consumed, _)) = whole {
        assert!(body.len() <= consumed);
    }
});
