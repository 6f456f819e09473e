//! Range requests (RFC 9110 14): pipeline step 8.
//!
//! For a GET that passed the preconditions, carries `Range`, and whose
//! `If-Range` (if any) [`super::conditional::if_range_allows`] accepts, the
//! runtime calls [`parse_range`] with the length of the representation it will
//! send (the precompressed sibling's, if one was chosen). HEAD and other
//! methods ignore `Range` (14.2: range handling is defined for GET only).
//!
//! - [`RangeDecision::Full`]: ignore the header, 200 with the whole file.
//!   Chosen for anything malformed (bad syntax, `first > last`, a unit other
//!   than `bytes`, no range-spec), more than `max_ranges` range-specs, or
//!   ranges that overlap once resolved (14.2 allows ignoring such sets; it
//!   also defuses the "many small overlapping ranges" amplification).
//! - [`RangeDecision::Partial`]: the satisfiable ranges, in request order
//!   (unsatisfiable ones dropped). One -> 206 with [`content_range`]; several
//!   -> 206 `multipart/byteranges` laid out by [`Multipart`].
//! - [`RangeDecision::Unsatisfiable`]: 416 with [`unsatisfied_content_range`].
//!
//! OWS is tolerated around `=`, the commas and each range-spec, and empty
//! list elements are skipped (`bytes= 0-1, ,5-`).
//!
//! Numbers of any length are handled without overflow: a first-pos beyond
//! `u64` is past the end (unsatisfiable), a last-pos or suffix-length beyond
//! it is clamped to the file (14.1.1 says to), and `first > last` is decided
//! on the decimal strings. A zero-length file can satisfy only a non-zero
//! suffix range, and that range is empty, which `Content-Range` cannot
//! express: it gets `Full` (a 200 with no body).

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::ops::Range;

/// What to do with a `Range` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeDecision {
    /// Ignore it: 200 with the whole representation.
    Full,
    /// 206 with these non-empty, non-overlapping ranges (end exclusive),
    /// in the order requested.
    Partial(Vec<Range<u64>>),
    /// 416 with `Content-Range: bytes */LEN`.
    Unsatisfiable,
}

/// One `range-spec`, numbers still as decimal digits.
enum Spec<'a> {
    /// `first-pos "-" [ last-pos ]`
    Int(&'a [u8], Option<&'a [u8]>),
    /// `"-" suffix-length`
    Suffix(&'a [u8]),
}

/// Decide what the `Range` value `header` asks of a representation of `len`
/// bytes, accepting at most `max_ranges` range-specs (0 disables ranges).
pub fn parse_range(header: &[u8], len: u64, max_ranges: usize) -> RangeDecision {
    match parse_specs(header, max_ranges) {
        Some(specs) => resolve(&specs, len),
        None => RangeDecision::Full,
    }
}

/// `bytes=` then a comma list of range-specs (OWS and empty elements
/// allowed); `None` if malformed or longer than `max`.
fn parse_specs(header: &[u8], max: usize) -> Option<Vec<Spec<'_>>> {
    let eq = memchr::memchr(b'=', header)?;
    if !trim(&header[..eq]).eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    let mut rest = &header[eq + 1..];
    let mut specs = Vec::new();
    loop {
        while let [b' ' | b'\t' | b',', r @ ..] = rest {
            rest = r;
        }
        if rest.is_empty() {
            break;
        }
        if specs.len() == max {
            return None;
        }
        let spec;
        (spec, rest) = if let Some(r) = rest.strip_prefix(b"-") {
            let (n, r) = digits(r)?;
            (Spec::Suffix(n), r)
        } else {
            let (first, r) = digits(rest)?;
            let r = r.strip_prefix(b"-")?;
            match digits(r) {
                Some((last, r)) => {
                    if cmp_dec(first, last) == Ordering::Greater {
                        return None;
                    }
                    (Spec::Int(first, Some(last)), r)
                }
                None => (Spec::Int(first, None), r),
            }
        };
        specs.push(spec);
        while let [b' ' | b'\t', r @ ..] = rest {
            rest = r;
        }
        if !matches!(rest, [] | [b',', ..]) {
            return None;
        }
    }
    (!specs.is_empty()).then_some(specs)
}

fn resolve(specs: &[Spec<'_>], len: u64) -> RangeDecision {
    let mut ranges = Vec::with_capacity(specs.len());
    let mut empty_but_satisfiable = false;
    for spec in specs {
        match *spec {
            Spec::Int(first, last) => {
                let first = saturating(first);
                if first >= len {
                    continue;
                }
                let end = last.map_or(len, |l| saturating(l).min(len - 1) + 1);
                ranges.push(first..end);
            }
            Spec::Suffix(n) => {
                let n = saturating(n);
                if n == 0 {
                    continue;
                }
                if len == 0 {
                    empty_but_satisfiable = true;
                    continue;
                }
                ranges.push(len - n.min(len)..len);
            }
        }
    }
    if ranges.is_empty() {
        return if empty_but_satisfiable {
            RangeDecision::Full
        } else {
            RangeDecision::Unsatisfiable
        };
    }
    if ranges.len() > 1 {
        let mut sorted = ranges.clone();
        sorted.sort_unstable_by_key(|r| r.start);
        if sorted.windows(2).any(|w| w[1].start < w[0].end) {
            return RangeDecision::Full;
        }
    }
    RangeDecision::Partial(ranges)
}

/// `1*DIGIT` at the start of `s`, and what follows.
fn digits(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    (n > 0).then(|| s.split_at(n))
}

/// The value of decimal digits, `u64::MAX` if larger.
fn saturating(d: &[u8]) -> u64 {
    d.iter()
        .try_fold(0u64, |acc, &b| {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        })
        .unwrap_or(u64::MAX)
}

/// Compare two decimal digit strings by value, whatever their length.
fn cmp_dec(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |d: &[u8]| -> usize { d.iter().take_while(|&&b| b == b'0').count() };
    let (a, b) = (&a[strip(a)..], &b[strip(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', r @ ..] = s {
        s = r;
    }
    while let [r @ .., b' ' | b'\t'] = s {
        s = r;
    }
    s
}

/// `Content-Range` of a 206 for `r` (non-empty, end exclusive): `bytes a-b/len`.
pub fn content_range(r: &Range<u64>, len: u64) -> String {
    format!("bytes {}-{}/{len}", r.start, r.end - 1)
}

/// `Content-Range` of a 416: `bytes */len`.
pub fn unsatisfied_content_range(len: u64) -> String {
    format!("bytes */{len}")
}

/// A multipart boundary from `seed` (a per-core counter mixed with the clock
/// will do): 70 characters at most and only `bchars`, as RFC 2046 wants.
/// Collisions with file content are as likely as guessing 64 random bits.
pub fn boundary(seed: u64) -> String {
    // splitmix64: consecutive seeds give unrelated boundaries.
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    format!("percore-{:016x}", z ^ (z >> 31))
}

/// The layout of a `multipart/byteranges` body (RFC 9110 14.6), computed up
/// front so the runtime can write it without buffering the file:
///
/// ```text
/// for (head, range) in parts { send(head); splice(file, range) }
/// send(trailer)
/// ```
///
/// `Content-Length` is [`Multipart::content_length`]. The CRLF that ends each
/// part's data belongs to the next delimiter (RFC 2046 5.1.1), so it opens
/// every head but the first, and the trailer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Multipart {
    /// The boundary, without the leading `--`.
    pub boundary: String,
    /// Each part's delimiter and headers, then the file range that follows.
    pub parts: Vec<(Vec<u8>, Range<u64>)>,
    /// The closing delimiter: `\r\n--BOUNDARY--\r\n`.
    pub trailer: Vec<u8>,
    /// The exact length of the whole body.
    pub content_length: u64,
}

impl Multipart {
    /// Lay out `ranges` (from [`RangeDecision::Partial`]) of a `len`-byte
    /// representation of type `content_type`.
    pub fn new(boundary: String, content_type: &str, ranges: &[Range<u64>], len: u64) -> Self {
        let mut parts = Vec::with_capacity(ranges.len());
        let mut total = 0u64;
        for (i, r) in ranges.iter().enumerate() {
            let mut head = String::with_capacity(96 + boundary.len() + content_type.len());
            if i > 0 {
                head.push_str("\r\n");
            }
            // Writing to a String cannot fail.
            let _ = write!(
                head,
                "--{boundary}\r\ncontent-type: {content_type}\r\ncontent-range: {}\r\n\r\n",
                content_range(r, len)
            );
            total += head.len() as u64 + (r.end - r.start);
            parts.push((head.into_bytes(), r.clone()));
        }
        let trailer = format!("\r\n--{boundary}--\r\n").into_bytes();
        total += trailer.len() as u64;
        Multipart {
            boundary,
            parts,
            trailer,
            content_length: total,
        }
    }

    /// The response's `Content-Type`: `multipart/byteranges; boundary=...`.
    pub fn content_type(&self) -> String {
        format!("multipart/byteranges; boundary={}", self.boundary)
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // a Vec of one Range is the point
mod tests {
    use super::RangeDecision::{Full, Partial, Unsatisfiable};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let p = |v: &[Range<u64>]| Partial(v.to_vec());
        let huge = "99999999999999999999999999";
        let cases: Vec<(String, u64, RangeDecision)> = [
            ("bytes=0-0", 100, p(&[0..1])),
            ("bytes=0-99", 100, p(&[0..100])),
            ("bytes=0-", 100, p(&[0..100])),
            ("bytes=10-19", 100, p(&[10..20])),
            ("bytes=50-500", 100, p(&[50..100])),
            ("bytes=99-", 100, p(&[99..100])),
            ("bytes=-1", 100, p(&[99..100])),
            ("bytes=-500", 100, p(&[0..100])),
            ("Bytes=1-2", 100, p(&[1..3])),
            (" bytes=1-2 ", 100, p(&[1..3])),
            ("bytes=00007-0008", 100, p(&[7..9])),
            // Several: request order kept, OWS and empty elements tolerated.
            ("bytes=0-9,20-29", 100, p(&[0..10, 20..30])),
            ("bytes=20-29, 0-9", 100, p(&[20..30, 0..10])),
            ("bytes= ,0-9 ,\t, 10-19,", 100, p(&[0..10, 10..20])),
            ("bytes=0-9,200-300", 100, p(&[0..10])),
            ("bytes=0-9,-0", 100, p(&[0..10])),
            // Overlap or too many -> whole file.
            ("bytes=0-9,5-14", 100, Full),
            ("bytes=0-,-10", 100, Full),
            ("bytes=0-0,0-0", 100, Full),
            (
                "bytes=0-0,1-1,2-2,3-3,4-4",
                100,
                p(&[0..1, 1..2, 2..3, 3..4, 4..5]),
            ),
            ("bytes=0-0,1-1,2-2,3-3,4-4,5-5", 100, Full),
            ("bytes=0-0,1-1,2-2,3-3,4-4,500-600", 100, Full),
            // Unsatisfiable.
            ("bytes=100-", 100, Unsatisfiable),
            ("bytes=100-200", 100, Unsatisfiable),
            ("bytes=-0", 100, Unsatisfiable),
            ("bytes=200-300,-0", 100, Unsatisfiable),
            ("bytes=0-", 0, Unsatisfiable),
            ("bytes=0-0", 0, Unsatisfiable),
            ("bytes=-5", 0, Full),
            // Malformed -> whole file.
            ("bytes=", 100, Full),
            ("bytes=,", 100, Full),
            ("bytes", 100, Full),
            ("bytes 0-1", 100, Full),
            ("bytes = 0-1", 100, p(&[0..2])),
            ("items=0-1", 100, Full),
            ("bytes=5-4", 100, Full),
            ("bytes=1-2-3", 100, Full),
            ("bytes=-", 100, Full),
            ("bytes=--1", 100, Full),
            ("bytes=a-b", 100, Full),
            ("bytes=0-1;x", 100, Full),
            ("bytes=0-1 2-3", 100, Full),
            ("bytes=+1-2", 100, Full),
            ("bytes=0x1-2", 100, Full),
            ("bytes=0-1,5-4", 100, Full),
            ("", 100, Full),
        ]
        .into_iter()
        .map(|(h, l, d)| (h.to_owned(), l, d))
        .chain([
            // Huge numbers: no overflow.
            (format!("bytes=0-{huge}"), 100, p(&[0..100])),
            (format!("bytes={huge}-"), 100, Unsatisfiable),
            (format!("bytes={huge}-{huge}"), 100, Unsatisfiable),
            (format!("bytes={huge}9-{huge}"), 100, Full),
            (format!("bytes=-{huge}"), 100, p(&[0..100])),
            (format!("bytes=0-{huge}"), u64::MAX, p(&[0..u64::MAX])),
            (format!("bytes={}-", u64::MAX), u64::MAX, Unsatisfiable),
            (
                format!("bytes={}-", u64::MAX - 1),
                u64::MAX,
                p(&[u64::MAX - 1..u64::MAX]),
            ),
            (format!("bytes=-{}", u64::MAX), u64::MAX, p(&[0..u64::MAX])),
        ])
        .collect();
        for (h, len, want) in &cases {
            assert_eq!(&parse_range(h.as_bytes(), *len, 5), want, "{h:?} len {len}");
        }
    }

    #[test]
    fn max_ranges_zero_disables() {
        assert_eq!(parse_range(b"bytes=0-0", 10, 0), Full);
        assert_eq!(parse_range(b"bytes=0-0", 10, 1), Partial(vec![0..1]));
        assert_eq!(parse_range(b"bytes=0-0,2-2", 10, 1), Full);
    }

    #[test]
    fn content_ranges() {
        assert_eq!(content_range(&(0..1), 10), "bytes 0-0/10");
        assert_eq!(content_range(&(5..10), 10), "bytes 5-9/10");
        assert_eq!(
            content_range(&(0..u64::MAX), u64::MAX),
            format!("bytes 0-{}/{}", u64::MAX - 1, u64::MAX)
        );
        assert_eq!(unsatisfied_content_range(42), "bytes */42");
    }

    #[test]
    fn boundaries() {
        let b = boundary(1);
        assert_eq!(b.len(), 24);
        assert!(b.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
        assert_ne!(boundary(1), boundary(2));
    }

    #[test]
    fn multipart_layout() {
        let file: Vec<u8> = (0..100u8).collect();
        let ranges = [0..2, 10..13];
        let m = Multipart::new("B".into(), "text/plain", &ranges, 100);
        assert_eq!(m.content_type(), "multipart/byteranges; boundary=B");
        let mut body = Vec::new();
        for (head, r) in &m.parts {
            body.extend_from_slice(head);
            body.extend_from_slice(&file[r.start as usize..r.end as usize]);
        }
        body.extend_from_slice(&m.trailer);
        let want = [
            &b"--B\r\ncontent-type: text/plain\r\ncontent-range: bytes 0-1/100\r\n\r\n"[..],
            &[0, 1],
            b"\r\n--B\r\ncontent-type: text/plain\r\ncontent-range: bytes 10-12/100\r\n\r\n",
            &[10, 11, 12],
            b"\r\n--B--\r\n",
        ]
        .concat();
        assert_eq!(body, want);
        assert_eq!(m.content_length, want.len() as u64);
    }

    proptest! {
        #[test]
        fn single_range_in_bounds(len in 1u64.., a in any::<u64>(), b in any::<u64>()) {
            let (first, last) = (a.min(b), a.max(b));
            let h = format!("bytes={first}-{last}");
            match parse_range(h.as_bytes(), len, 1) {
                Partial(v) => {
                    prop_assert_eq!(v.len(), 1);
                    prop_assert!(first < len);
                    prop_assert_eq!(v[0].start, first);
                    prop_assert_eq!(v[0].end, last.min(len - 1) + 1);
                }
                Unsatisfiable => prop_assert!(first >= len),
                Full => prop_assert!(false, "valid range ignored"),
            }
        }

        #[test]
        fn suffix_in_bounds(len in 0u64.., n in 1u64..) {
            let h = format!("bytes=-{n}");
            match parse_range(h.as_bytes(), len, 1) {
                Partial(v) => {
                    prop_assert_eq!(v[0].end, len);
                    prop_assert_eq!(v[0].end - v[0].start, n.min(len));
                }
                d => prop_assert!(len == 0 && d == Full),
            }
        }

        #[test]
        fn any_input_in_bounds(h in "bytes=[-0-9, ]{0,40}", len in 0u64..200) {
            if let Partial(v) = parse_range(h.as_bytes(), len, 8) {
                prop_assert!(!v.is_empty() && v.len() <= 8);
                for r in v {
                    prop_assert!(r.start < r.end && r.end <= len);
                }
            }
        }
    }
}
