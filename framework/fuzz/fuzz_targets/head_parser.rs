//! Fuzz `percore::http::head::parse_head` with arbitrary bytes, once with the
//! default `Limits` and once with small fuzzer-chosen ones. Checks:
//!
//! 1. it never panics;
//! 2. on `Complete`, the head is self-consistent: `head_len` within the input
//!    and the limit and ending in LF, every `Span` within `head_len`, path and
//!    query inside the target, the method just before the target, the body kind
//!    agreeing with the Content-Length / Transfer-Encoding fields, Host present
//!    for HTTP/1.1, ...;
//! 3. split consistency (what the runtime relies on when a head arrives in
//!    several reads): for a prefix `buf[..cut]`, `Complete` means the full
//!    input gives the very same head, an error means the full input is refused
//!    too (not necessarily with the same status: a later byte may show another
//!    fault first), `Partial` says nothing. Hence a prefix shorter than a
//!    complete head's `head_len` is always `Partial`;
//! 4. re-parsing into a used `RequestHead` gives the same result as a fresh one.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use percore::http::head::{
    parse_head, BodyKind, Limits, ParseError, ParseStatus, RequestHead, Span, Version,
    MAX_HEADERS_CAP,
};

/// Known finding, reported to the lead: before the line's first SP,
/// `partial_line` answers 414 once more than `max_request_target` bytes are
/// buffered, but a complete line puts no limit on the method. So a long method
/// is refused or accepted depending on how the bytes were split across reads.
/// While true, that one case is not reported; set to false once fixed.
const TOLERATE_LONG_METHOD_414: bool = false;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// Where the split check cuts `bytes` (modulo its length + 1).
    cut: u16,
    /// Small limits, each made >= 1.
    max_target: u8,
    max_head: u16,
    max_headers: u8,
    max_body: u8,
    bytes: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let small = Limits {
        max_request_target: usize::from(input.max_target).max(1),
        max_header_bytes: usize::from(input.max_head % 1024).max(1),
        max_headers: usize::from(input.max_headers % 32).max(1),
        max_body: u64::from(input.max_body),
    };
    let cut = usize::from(input.cut) % (input.bytes.len() + 1);
    check(input.bytes, &Limits::default(), cut);
    check(input.bytes, &small, cut);
});

fn check(buf: &[u8], limits: &Limits, cut: usize) {
    let mut head = RequestHead::new();
    let full = parse_head(buf, limits, &mut head);
    let complete = full == Ok(ParseStatus::Complete);
    if complete {
        check_complete(buf, limits, &head);
    }

    // 3. Split consistency.
    let mut used = RequestHead::new();
    let prefix = parse_head(&buf[..cut], limits, &mut used);
    if complete && cut < head.head_len {
        let known = TOLERATE_LONG_METHOD_414
            && prefix == Err(ParseError::UriTooLong)
            && !buf[..cut].contains(&b' ');
        assert!(
            prefix == Ok(ParseStatus::Partial) || known,
            "prefix of {cut} bytes gave {prefix:?}, full input is Complete (head_len {})",
            head.head_len
        );
    }
    match prefix {
        Ok(ParseStatus::Partial) => {}
        Ok(ParseStatus::Complete) => {
            assert!(
                complete,
                "prefix of {cut} bytes is Complete, full input gave {full:?}"
            );
            assert_eq!(
                format!("{used:?}"),
                format!("{head:?}"),
                "prefix head differs"
            );
        }
        Err(e) => {
            let known = TOLERATE_LONG_METHOD_414
                && e == ParseError::UriTooLong
                && !buf[..cut].contains(&b' ');
            assert!(
                full.is_err() || known,
                "prefix of {cut} bytes refused ({e:?}), full input gave {full:?}"
            );
        }
    }

    // 4. `used` now holds the prefix's leftovers: parse_head must clear them.
    assert_eq!(parse_head(buf, limits, &mut used), full);
    if complete {
        assert_eq!(
            format!("{used:?}"),
            format!("{head:?}"),
            "reused head differs"
        );
    }
}

fn check_complete(buf: &[u8], limits: &Limits, h: &RequestHead) {
    let len = h.head_len;
    assert!(
        len <= buf.len() && len <= limits.max_header_bytes,
        "head_len {len}"
    );
    assert_eq!(buf[len - 1], b'\n', "head does not end in LF");
    let inside = |s: Span| {
        assert!(
            s.start <= s.end && s.end as usize <= len,
            "{s:?} outside head of {len}"
        );
    };
    let within = |s: Span, outer: Span| s.start >= outer.start && s.end <= outer.end;

    // Request line: [empty lines] method SP target SP version.
    let t = h.target;
    inside(t);
    assert!(
        !t.is_empty() && t.len() <= limits.max_request_target,
        "target {t:?}"
    );
    let method = h.method.as_str().as_bytes();
    let sp = t.start as usize - 1;
    assert_eq!(buf[sp], b' ');
    assert!(
        sp >= method.len() && &buf[sp - method.len()..sp] == method,
        "method"
    );
    assert!(buf[..sp - method.len()]
        .iter()
        .all(|&b| b == b'\r' || b == b'\n'));

    // Path and query: `path [ "?" query ]` ends the target ("*" has no query).
    inside(h.path);
    assert!(within(h.path, t), "path {:?} not in target {t:?}", h.path);
    let path = h.path.get(buf);
    assert!(
        path.is_empty() || path[0] == b'/' || path == b"*",
        "path {path:?}"
    );
    assert!(!path.contains(&b'?'));
    match h.query {
        Some(q) => {
            inside(q);
            assert!(buf[h.path.end as usize] == b'?' && q.start == h.path.end + 1);
            assert_eq!(q.end, t.end);
        }
        None => assert_eq!(h.path.end, t.end),
    }

    // Fields.
    assert!(h.headers.len() <= limits.max_headers.min(MAX_HEADERS_CAP));
    for f in &h.headers {
        inside(f.name);
        inside(f.value);
        assert!(!f.name.is_empty() && f.name.end <= f.value.start);
    }
    let count = |name: &str| h.headers_named(buf, name).count();
    let host_fields: Vec<_> = h
        .headers
        .iter()
        .filter(|f| f.name.get(buf).eq_ignore_ascii_case(b"host"))
        .collect();
    assert!(host_fields.len() <= 1, "two Host fields accepted");
    match h.host {
        // absolute-form authority, or else the Host value
        Some(s) if within(s, t) => inside(s),
        Some(s) => assert_eq!(Some(s), host_fields.first().map(|f| f.value)),
        None => assert!(host_fields.is_empty()),
    }
    if h.version == Version::Http11 {
        assert!(
            h.host.is_some() && host_fields.len() == 1,
            "1.1 without Host"
        );
    } else {
        assert!(!h.expect_continue);
    }

    // Body framing.
    let te = count("transfer-encoding");
    let cl: Vec<&[u8]> = h.headers_named(buf, "content-length").collect();
    assert!(cl.len() <= 1, "two Content-Length fields accepted");
    match h.body {
        BodyKind::None => {
            assert_eq!(te, 0);
            assert!(cl
                .iter()
                .all(|v| !v.is_empty() && v.iter().all(|&b| b == b'0')));
        }
        BodyKind::Length(n) => {
            assert!(n > 0 && n <= limits.max_body, "Length({n})");
            assert_eq!(te, 0, "Content-Length body with Transfer-Encoding");
            let v = std::str::from_utf8(cl[0]).expect("digits");
            assert_eq!(v.parse::<u64>().ok(), Some(n));
        }
        BodyKind::Chunked => {
            assert!(te > 0 && cl.is_empty() && h.version == Version::Http11);
        }
    }
}
