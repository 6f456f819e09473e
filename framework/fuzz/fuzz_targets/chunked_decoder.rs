//! Fuzz `percore::http::body::ChunkedDecoder` with arbitrary bytes cut into
//! arbitrary pieces. Checks:
//!
//! 1. it never panics;
//! 2. feeding the pieces one read at a time, re-feeding the unconsumed rest as
//!    the runtime does, gives the same outcome as one call on the whole input:
//!    same error, or `Complete` at the same offset, or `NeedMore`, with the
//!    same decoded bytes;
//! 3. the decoded bytes never exceed `decoded_len()`, which never exceeds
//!    `max_body` (and equals the output length once `Complete`);
//!    `NeedMore` consumes everything; `Complete` ends with the final CRLF;
//! 4. once done, the decoder keeps its answer: after an error the same error,
//!    after `Complete` nothing more is consumed.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use percore::http::body::{ChunkedDecoder, DecodeStatus};
use percore::http::ParseError;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// Picks `max_body` (see `MAX_BODIES`).
    max_body: u8,
    /// Lengths of the successive reads; what is left after them is one last read.
    pieces: Vec<u8>,
    bytes: &'a [u8],
}

const MAX_BODIES: [u64; 6] = [0, 1, 7, 64, 1 << 20, u64::MAX];

/// The outcome of decoding a whole input: the result (with `consumed` counted
/// from the start of the input) and the decoded bytes.
type Outcome = (Result<DecodeStatus, ParseError>, Vec<u8>);

fuzz_target!(|input: Input<'_>| {
    let max_body = MAX_BODIES[usize::from(input.max_body) % MAX_BODIES.len()];
    let bytes = input.bytes;

    let mut dec = ChunkedDecoder::new(max_body);
    let mut out = Vec::new();
    let whole = dec.decode(bytes, &mut out);
    check_state(&dec, &out, max_body);
    match whole {
        Ok(DecodeStatus::NeedMore { consumed }) => assert_eq!(consumed, bytes.len()),
        Ok(DecodeStatus::Complete { consumed }) => {
            assert!(bytes[..consumed].ends_with(b"\r\n"));
            assert!(dec.is_complete());
            assert_eq!(out.len() as u64, dec.decoded_len());
            let mut more = Vec::new();
            let again = dec.decode(b"0\r\n\r\n", &mut more);
            assert_eq!(again, Ok(DecodeStatus::Complete { consumed: 0 }));
            assert!(more.is_empty());
        }
        Err(e) => assert_eq!(dec.decode(b"0\r\n\r\n", &mut Vec::new()), Err(e)),
    }

    let pieces = piecewise(bytes, &input.pieces, max_body);
    assert_eq!(
        pieces,
        (whole, out),
        "piecewise and one-call outcomes differ"
    );
});

/// Decode `bytes` the way the runtime does: each read is appended to what the
/// decoder left unconsumed, and the decoder is called again on that buffer.
fn piecewise(bytes: &[u8], pieces: &[u8], max_body: u64) -> Outcome {
    let mut dec = ChunkedDecoder::new(max_body);
    let mut out = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    // Offset in `bytes` of pending[0].
    let mut base = 0;
    let mut fed = 0;
    let mut reads = pieces.iter().map(|&n| usize::from(n)).chain([usize::MAX]);
    loop {
        let n = reads.next().unwrap().min(bytes.len() - fed);
        pending.extend_from_slice(&bytes[fed..fed + n]);
        fed += n;
        let r = dec.decode(&pending, &mut out);
        check_state(&dec, &out, max_body);
        match r {
            Ok(DecodeStatus::NeedMore { consumed }) => {
                assert_eq!(consumed, pending.len(), "NeedMore must consume everything");
                base += consumed;
                pending.drain(..consumed);
                if fed == bytes.len() {
                    return (Ok(DecodeStatus::NeedMore { consumed: base }), out);
                }
            }
            Ok(DecodeStatus::Complete { consumed }) => {
                return (
                    Ok(DecodeStatus::Complete {
                        consumed: base + consumed,
                    }),
                    out,
                );
            }
            Err(e) => return (Err(e), out),
        }
    }
}

/// `decoded_len` counts a chunk's size as soon as its size line is read, so
/// mid-chunk it is ahead of the bytes copied so far.
fn check_state(dec: &ChunkedDecoder, out: &[u8], max_body: u64) {
    assert!(out.len() as u64 <= dec.decoded_len());
    assert!(
        dec.decoded_len() <= max_body,
        "decoded {} > max_body {max_body}",
        dec.decoded_len()
    );
}
