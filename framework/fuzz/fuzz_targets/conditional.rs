//! Fuzz `percore::fs::conditional::{evaluate, if_range_allows}` against a
//! reference written straight from RFC 9110 13.2.2 (the order of the
//! preconditions) and 8.8.3.2 (strong and weak comparison). Checks:
//!
//! 1. neither ever panics;
//! 2. `evaluate` agrees with the reference for any header values, method,
//!    ETag and modification time;
//! 3. `If-Range` never allows a weak tag, and a tag only if it is the
//!    file's own; a date only if it is exactly the (past) modification time.
#![no_main]

use std::time::UNIX_EPOCH;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use percore::fs::conditional::{evaluate, if_range_allows, Conditions, Precondition};
use percore::Method;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// Which headers are present (bit per header) and the method.
    present: u8,
    method: u8,
    mtime: u32,
    now_ahead: u8,
    tag: u16,
    if_match: &'a [u8],
    if_none_match: &'a [u8],
    if_modified_since: &'a [u8],
    if_unmodified_since: &'a [u8],
}

fuzz_target!(|i: Input<'_>| {
    let etag = format!("\"{:x}-{:x}\"", i.tag, i.mtime);
    let mtime = u64::from(i.mtime);
    let method = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
    ][usize::from(i.method % 5)]
    .clone();
    let present = i.present;
    let pick = |bit: u8, v| (present & bit != 0).then_some(v);
    let cond = Conditions {
        if_match: pick(1, i.if_match),
        if_none_match: pick(2, i.if_none_match),
        if_modified_since: pick(4, i.if_modified_since),
        if_unmodified_since: pick(8, i.if_unmodified_since),
    };
    let got = evaluate(&cond, &method, &etag, mtime);
    let want = reference(&cond, &method, &etag, mtime);
    assert_eq!(got, want, "{cond:?} {method} {etag} {mtime}");

    // 3. If-Range.
    let now = mtime + u64::from(i.now_ahead);
    if if_range_allows(i.if_match, &etag, mtime, now) {
        let v = trim(i.if_match);
        if v.first() == Some(&b'"') {
            assert_eq!(v, etag.as_bytes(), "If-Range tag");
        } else {
            assert!(!v.starts_with(b"W/"), "a weak If-Range tag allowed");
            assert_eq!(date(v), Some(mtime));
            assert!(mtime < now, "If-Range date within the file's last second");
        }
    }
});

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b" \t".contains(b))
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b" \t".contains(b))
        .map_or(start, |e| e + 1);
    &v[start..end]
}

fn date(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(trim(v)).ok()?;
    let t = httpdate::parse_http_date(s).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

/// The members of an entity-tag list, or None if it is malformed
/// (`#entity-tag`: empty members allowed, OWS around commas; a comma inside
/// the quotes is part of the tag, as any etagc).
fn tags(v: &[u8]) -> Option<Vec<(bool, &[u8])>> {
    let mut out = Vec::new();
    let mut rest = v;
    loop {
        while let [b' ' | b'\t' | b',', r @ ..] = rest {
            rest = r;
        }
        if rest.is_empty() {
            return Some(out);
        }
        let (weak, r) = match rest.strip_prefix(b"W/") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let body = r.strip_prefix(b"\"")?;
        let close = body.iter().position(|&c| c == b'"')?;
        let etagc = |c: u8| c == 0x21 || (0x23..=0x7e).contains(&c) || c >= 0x80;
        if !body[..close].iter().all(|&c| etagc(c)) {
            return None;
        }
        out.push((weak, &r[..close + 2]));
        rest = &body[close + 1..];
        while let [b' ' | b'\t', r @ ..] = rest {
            rest = r;
        }
        if !(rest.is_empty() || rest[0] == b',') {
            return None;
        }
    }
}

/// RFC 9110 8.8.3.2 on a list: `*` matches any current representation.
fn matches(v: &[u8], etag: &str, strong: bool) -> bool {
    if trim(v) == b"*" {
        return true;
    }
    match tags(v) {
        Some(list) => list
            .iter()
            .any(|&(weak, t)| t == etag.as_bytes() && !(strong && weak)),
        None => false,
    }
}

/// RFC 9110 13.2.2, steps 1 to 5 for a file that exists.
fn reference(c: &Conditions<'_>, method: &Method, etag: &str, mtime: u64) -> Precondition {
    let get_or_head = method == Method::GET || method == Method::HEAD;
    if let Some(v) = c.if_match {
        if !matches(v, etag, true) {
            return Precondition::Failed;
        }
    } else if let Some(d) = c.if_unmodified_since.and_then(date) {
        if mtime > d {
            return Precondition::Failed;
        }
    }
    if let Some(v) = c.if_none_match {
        if matches(v, etag, false) {
            return if get_or_head {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    } else if get_or_head {
        if let Some(d) = c.if_modified_since.and_then(date) {
            if mtime <= d {
                return Precondition::NotModified;
            }
        }
    }
    Precondition::Proceed
}
