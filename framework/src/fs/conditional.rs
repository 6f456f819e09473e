//! Validators and conditional requests (RFC 9110 8.8 and 13): pipeline step 7,
//! plus the If-Range test of step 8.
//!
//! After the file is opened and `statx`ed, the runtime formats its validators
//! ([`etag`], [`http_date`]) and asks [`evaluate`] whether to send it (200 or
//! 206), `304 Not Modified` or `412 Precondition Failed`. Preconditions are
//! evaluated only once the file exists: a 404 or a 301 ignores them (RFC 9110
//! 13.2.1). [`if_range_allows`] decides whether a `Range` is honoured.
//!
//! The order is RFC 9110 13.2.2's, step for step:
//!
//! 1. `If-Match` present: false -> 412.
//! 2. Else `If-Unmodified-Since` present and a valid date: false -> 412.
//! 3. `If-None-Match` present: false -> 304 for GET/HEAD, 412 otherwise.
//! 4. Else, for GET/HEAD, `If-Modified-Since` a valid date: false -> 304.
//! 5. Otherwise proceed (Range and If-Range come next, in [`super::range`]).
//!
//! Entity-tag lists are parsed strictly (`W/"x"`, quoted, `etagc` bytes, OWS
//! and empty elements between commas). Parsing stops at the first malformed
//! element, which therefore matches nothing: `If-Match` then fails (412, the
//! safe side for a lost-update guard) and `If-None-Match` then proceeds (200,
//! always safe). An invalid date makes its header ignored, as 13.1.3 and
//! 13.1.4 require. Header values that arrived on several lines are passed
//! joined with `,`.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;

/// httpdate formats years up to 9999 only; later times are clamped to its end.
const MAX_SECS: u64 = 253_402_300_799;

/// The strong entity-tag of a file, quotes included:
/// `"<inode>-<size>-<mtime secs>.<mtime nanos>"`, all in lowercase hex.
///
/// Any change that `statx` can see (rewrite, replace by rename, truncate)
/// changes it; a precompressed sibling, a different file, gets its own.
pub fn etag(mtime_secs: i64, mtime_nanos: u32, size: u64, inode: u64) -> String {
    let mut s = String::with_capacity(48);
    // Writing to a String cannot fail. Pre-1970 times print as their two's
    // complement: odd, but stable and distinct.
    let _ = write!(
        s,
        "\"{inode:x}-{size:x}-{:x}.{mtime_nanos:x}\"",
        mtime_secs as u64
    );
    s
}

/// The IMF-fixdate for `secs` since the epoch (the `Last-Modified` value).
/// Clamped to year 9999; a pre-1970 mtime is passed as 0 by the caller.
pub fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs.min(MAX_SECS)))
}

/// The conditional request headers, each `None` when absent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Conditions<'a> {
    /// `If-Match`.
    pub if_match: Option<&'a [u8]>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a [u8]>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a [u8]>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<&'a [u8]>,
}

/// What the preconditions say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Send the file (200, or 206 if a Range applies).
    Proceed,
    /// `304 Not Modified`, no body; keep ETag, Last-Modified, Cache-Control, Vary.
    NotModified,
    /// `412 Precondition Failed`.
    Failed,
}

/// Evaluate `cond` against the file's strong `etag` (as from [`etag`]) and its
/// modification time in whole seconds, in RFC 9110 13.2.2's order.
pub fn evaluate(
    cond: &Conditions<'_>,
    method: &Method,
    etag: &str,
    last_modified_secs: u64,
) -> Precondition {
    let get_or_head = method == Method::GET || method == Method::HEAD;
    if let Some(v) = cond.if_match {
        if !list_matches(v, etag, true) {
            return Precondition::Failed;
        }
    } else if let Some(date) = cond.if_unmodified_since.and_then(parse_date) {
        if last_modified_secs > date {
            return Precondition::Failed;
        }
    }
    if let Some(v) = cond.if_none_match {
        if list_matches(v, etag, false) {
            return if get_or_head {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    } else if get_or_head {
        if let Some(date) = cond.if_modified_since.and_then(parse_date) {
            if last_modified_secs <= date {
                return Precondition::NotModified;
            }
        }
    }
    Precondition::Proceed
}

/// RFC 9110 13.1.5: may the `Range` be honoured given this `If-Range` value?
///
/// An entity-tag matches only by strong comparison (a weak one never does).
/// A date matches only if it equals `last_modified_secs` exactly and that
/// time is strong (8.8.2.2): its second is over (`last_modified_secs <
/// now_secs`), so the file cannot have changed twice within it unseen.
/// Anything malformed is false: the whole file is sent, which is always safe.
pub fn if_range_allows(
    if_range: &[u8],
    etag: &str,
    last_modified_secs: u64,
    now_secs: u64,
) -> bool {
    let v = trim(if_range);
    if v.starts_with(b"\"") || v.starts_with(b"W/") {
        return match parse_tag(v) {
            Some((tag, rest)) => rest.is_empty() && !tag.weak && tag.opaque == etag.as_bytes(),
            None => false,
        };
    }
    parse_date(v) == Some(last_modified_secs) && last_modified_secs < now_secs
}

/// One `entity-tag`: `opaque` includes its quotes.
struct Tag<'a> {
    weak: bool,
    opaque: &'a [u8],
}

/// Does the `If-Match`/`If-None-Match` value `v` match `etag`? `*` matches
/// (the file exists); otherwise strong or weak comparison per 8.8.3.2.
/// A malformed list matches nothing, wherever the fault is (found by the
/// `conditional` fuzz target: a match before the fault used to count, so
/// the answer depended on where in the list the fault sat).
fn list_matches(v: &[u8], etag: &str, strong: bool) -> bool {
    let mut rest = trim(v);
    if rest == b"*" {
        return true;
    }
    let mut matched = false;
    loop {
        while let [b' ' | b'\t' | b',', r @ ..] = rest {
            rest = r;
        }
        if rest.is_empty() {
            return matched;
        }
        let Some((tag, r)) = parse_tag(rest) else {
            return false;
        };
        rest = trim_start(r);
        if !matches!(rest, [] | [b',', ..]) {
            return false; // malformed: junk after the tag
        }
        matched |= tag.opaque == etag.as_bytes() && !(strong && tag.weak);
    }
}

/// Parse one entity-tag at the start of `s`; the rest follows it.
fn parse_tag(s: &[u8]) -> Option<(Tag<'_>, &[u8])> {
    let (weak, s) = match s.strip_prefix(b"W/") {
        Some(s) => (true, s),
        None => (false, s),
    };
    let body = s.strip_prefix(b"\"")?;
    let close = memchr::memchr(b'"', body)?;
    // etagc = %x21 / %x23-7E / obs-text
    if !body[..close]
        .iter()
        .all(|&b| b == 0x21 || b >= 0x23 && b != 0x7F)
    {
        return None;
    }
    let tag = Tag {
        weak,
        opaque: &s[..close + 2],
    };
    Some((tag, &body[close + 1..]))
}

/// An HTTP-date (any of the three forms) as seconds since the epoch.
fn parse_date(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(trim(v)).ok()?;
    let t = httpdate::parse_http_date(s).ok()?;
    t.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', r @ ..] = s {
        s = r;
    }
    s
}

fn trim(s: &[u8]) -> &[u8] {
    let mut s = trim_start(s);
    while let [r @ .., b' ' | b'\t'] = s {
        s = r;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::Precondition::{Failed, NotModified, Proceed};
    use super::*;

    /// 1994-11-06T08:49:37Z
    const T: u64 = 784_111_777;
    const D: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const D_BEFORE: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
    const D_AFTER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";
    const TAG: &str = "\"abc\"";

    #[test]
    fn etag_format() {
        assert_eq!(etag(0x5f00, 7, 255, 16), "\"10-ff-5f00.7\"");
        assert_ne!(etag(1, 0, 2, 3), etag(1, 1, 2, 3));
        assert_ne!(etag(1, 0, 2, 3), etag(1, 0, 2, 4));
        assert!(etag(-1, 0, 0, 0).starts_with("\"0-0-ffffffffffffffff"));
        assert!(parse_tag(etag(i64::MIN, u32::MAX, u64::MAX, u64::MAX).as_bytes()).is_some());
    }

    /// Fuzz find (`conditional` target): a tag list with a malformed member
    /// after the matching one matched; it now matches nothing either way.
    #[test]
    fn a_malformed_list_matches_nothing_wherever_the_fault_is() {
        for v in [
            "\"abc\", \"x\0\"",
            "\"x\0\", \"abc\"",
            "\"abc\" junk",
            "\"abc\", W/",
        ] {
            assert!(!list_matches(v.as_bytes(), TAG, true), "{v:?}");
            assert!(!list_matches(v.as_bytes(), TAG, false), "{v:?}");
        }
        assert!(list_matches(b"\"x\", , \"abc\",", TAG, true));
    }

    #[test]
    fn dates() {
        assert_eq!(http_date(T), D);
        assert_eq!(http_date(u64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(parse_date(D.as_bytes()), Some(T));
        assert_eq!(parse_date(b" Sunday, 06-Nov-94 08:49:37 GMT "), Some(T));
        assert_eq!(parse_date(b"Sun Nov  6 08:49:37 1994"), Some(T));
        assert_eq!(parse_date(b"yesterday"), None);
        assert_eq!(parse_date(b"\xff"), None);
    }

    #[test]
    fn table() {
        type Row = (
            Option<&'static str>, // If-Match
            Option<&'static str>, // If-None-Match
            Option<&'static str>, // If-Modified-Since
            Option<&'static str>, // If-Unmodified-Since
            Method,
            Precondition,
        );
        let get = Method::GET;
        let cases: &[Row] = &[
            (None, None, None, None, get.clone(), Proceed),
            // If-Match: strong comparison, `*`, lists, malformed.
            (Some(TAG), None, None, None, get.clone(), Proceed),
            (Some("*"), None, None, None, get.clone(), Proceed),
            (
                Some("\"x\", \"abc\""),
                None,
                None,
                None,
                get.clone(),
                Proceed,
            ),
            (
                Some(" ,\"x\" ,, \"abc\" ,"),
                None,
                None,
                None,
                get.clone(),
                Proceed,
            ),
            (Some("W/\"abc\""), None, None, None, get.clone(), Failed),
            (Some("\"x\""), None, None, None, get.clone(), Failed),
            (Some("abc"), None, None, None, get.clone(), Failed),
            (Some("\"x\" \"abc\""), None, None, None, get.clone(), Failed),
            (Some("\"ab"), None, None, None, get.clone(), Failed),
            (Some(""), None, None, None, get.clone(), Failed),
            // If-Unmodified-Since: only without If-Match; bad dates ignored.
            (None, None, None, Some(D), get.clone(), Proceed),
            (None, None, None, Some(D_AFTER), get.clone(), Proceed),
            (None, None, None, Some(D_BEFORE), get.clone(), Failed),
            (None, None, None, Some("garbage"), get.clone(), Proceed),
            (Some(TAG), None, None, Some(D_BEFORE), get.clone(), Proceed),
            // If-None-Match: weak comparison, `*`.
            (None, Some(TAG), None, None, get.clone(), NotModified),
            (
                None,
                Some("W/\"abc\""),
                None,
                None,
                get.clone(),
                NotModified,
            ),
            (
                None,
                Some("\"x\", W/\"abc\""),
                None,
                None,
                get.clone(),
                NotModified,
            ),
            (None, Some("*"), None, None, get.clone(), NotModified),
            (None, Some(" * "), None, None, Method::HEAD, NotModified),
            (None, Some("\"x\""), None, None, get.clone(), Proceed),
            (None, Some("abc"), None, None, get.clone(), Proceed),
            (None, Some("\"abc\"x"), None, None, get.clone(), Proceed),
            (None, Some(TAG), None, None, Method::POST, Failed),
            // If-Modified-Since: ignored with If-None-Match, or not GET/HEAD.
            (None, None, Some(D), None, get.clone(), NotModified),
            (None, None, Some(D_AFTER), None, Method::HEAD, NotModified),
            (None, None, Some(D_BEFORE), None, get.clone(), Proceed),
            (
                None,
                None,
                Some("Sun, 06 Nov 1994"),
                None,
                get.clone(),
                Proceed,
            ),
            (None, None, Some(D), None, Method::POST, Proceed),
            (None, Some("\"x\""), Some(D), None, get.clone(), Proceed),
            (
                None,
                Some(TAG),
                Some(D_BEFORE),
                None,
                get.clone(),
                NotModified,
            ),
            // Order: 412 from step 1/2 wins over 304 from step 3/4.
            (Some("\"x\""), Some(TAG), None, None, get.clone(), Failed),
            (None, Some(TAG), None, Some(D_BEFORE), get.clone(), Failed),
            (None, None, Some(D), Some(D_BEFORE), get.clone(), Failed),
            (
                Some(TAG),
                Some(TAG),
                Some(D_BEFORE),
                Some(D_BEFORE),
                get,
                NotModified,
            ),
        ];
        for (im, inm, ims, ius, method, want) in cases {
            let cond = Conditions {
                if_match: im.map(str::as_bytes),
                if_none_match: inm.map(str::as_bytes),
                if_modified_since: ims.map(str::as_bytes),
                if_unmodified_since: ius.map(str::as_bytes),
            };
            let got = evaluate(&cond, method, TAG, T);
            assert_eq!(got, *want, "{im:?} {inm:?} {ims:?} {ius:?} {method}");
        }
    }

    #[test]
    fn if_range() {
        let now = T + 10;
        let cases: &[(&str, u64, bool)] = &[
            (TAG, now, true),
            (" \"abc\" ", now, true),
            ("W/\"abc\"", now, false),
            ("\"x\"", now, false),
            ("\"abc\", \"x\"", now, false),
            ("\"abc", now, false),
            (D, now, true),
            (D, T, false), // modified within the current second: weak
            (D_AFTER, now, false),
            (D_BEFORE, now, false),
            ("garbage", now, false),
            ("", now, false),
        ];
        for (v, now, want) in cases {
            assert_eq!(if_range_allows(v.as_bytes(), TAG, T, *now), *want, "{v:?}");
        }
    }
}
