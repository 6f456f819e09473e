//! Fuzz `percore::fs::range::parse_range` (the `Range` header against a
//! file's length). Checks:
//!
//! 1. it never panics, for any header, length and range limit;
//! 2. every range it yields is non-empty and inside the file;
//! 3. never more ranges than allowed, and `Partial` only for a non-empty file;
//! 4. a header that is not `bytes=` is ignored (`Full`);
//! 5. the `Content-Range` of each range names exactly it.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use percore::fs::range::{content_range, parse_range, RangeDecision};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    len_pick: u8,
    len: u64,
    max_ranges: u8,
    header: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    // Small lengths are where the edges are; some big ones too.
    let len = match input.len_pick % 4 {
        0 => input.len % 16,
        1 => input.len % 100_000,
        2 => u64::MAX - (input.len % 4),
        _ => input.len,
    };
    let max = usize::from(input.max_ranges % 40);
    let decision = parse_range(input.header, len, max);
    let header_is_bytes = input
        .header
        .iter()
        .position(|&b| b == b'=')
        .map(|eq| {
            String::from_utf8_lossy(&input.header[..eq])
                .trim_matches(|c| c == ' ' || c == '\t')
                .eq_ignore_ascii_case("bytes")
        })
        .unwrap_or(false);
    match decision {
        RangeDecision::Full => {}
        RangeDecision::Unsatisfiable => assert!(header_is_bytes),
        RangeDecision::Partial(ranges) => {
            assert!(header_is_bytes, "not bytes= but {ranges:?}");
            assert!(len > 0, "a range of an empty file");
            assert!(!ranges.is_empty() && ranges.len() <= max, "{ranges:?}");
            for r in &ranges {
                assert!(r.start < r.end && r.end <= len, "{r:?} outside 0..{len}");
                let cr = content_range(r, len);
                assert_eq!(cr, format!("bytes {}-{}/{}", r.start, r.end - 1, len));
            }
        }
    }
});
