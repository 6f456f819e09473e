//! The request line (RFC 9112 3): `method SP request-target SP HTTP-version`,
//! and the three request-target forms a server accepts (RFC 9112 3.2).
//!
//! First step of [`super::head::parse_head`], after leading empty lines are
//! skipped. It is parsed here rather than by httparse because httparse only
//! knows HTTP/1.0 and 1.1, while RFC 9110 2.5 wants "HTTP/1.x" (x > 1) served as
//! 1.1 and other majors answered with 505. It also decides 414 as soon as a
//! too-long target is visible, before the line is even complete, and
//! refuses a line for its first fault in byte order, so the reads that
//! carry it never change the answer. The common line (`token SP target SP
//! HTTP/1.x`) is checked in one pass, its target eight bytes at a time.

use super::error::ParseError;
use super::fields::is_valid_host;
use super::head::{Limits, RequestHead, Span, Version};
use super::token::{is_target_byte, is_tchar, word_has, word_has_below};
use http::Method;
use memchr::memchr;

const fn bad(why: &'static str) -> ParseError {
    ParseError::BadRequest(why)
}

/// Longest method accepted; RFC 9110 9.1: a method longer than any the
/// server implements gets 501. Checked the same way whether or not the line
/// is complete, so the answer never depends on how the bytes were split.
pub const MAX_METHOD_LEN: usize = 64;

/// Parse the request line that starts at `buf[start]` into `head` (method,
/// target, path, query, version, and host for absolute-form): the common
/// line in one pass ([`plain_line`]), any other by every rule in turn.
///
/// Returns `Ok(Some(end))` with the index just after the line's LF, `Ok(None)`
/// if the line is not complete yet (and not already refused).
pub(crate) fn parse_request_line(
    buf: &[u8],
    start: usize,
    limits: &Limits,
    head: &mut RequestHead,
) -> Result<Option<usize>, ParseError> {
    let rest = &buf[start..];
    if let Some(line) = plain_line(rest, limits, head) {
        let target_start = start + line.target.start;
        let target = &rest[line.target.clone()];
        head.target = Span::at(target_start, target.len());
        if target[0] == b'/' && head.method != Method::CONNECT {
            // origin-form, split where the scan saw the '?'
            let q = line.query.map(|q| q - line.target.start);
            set_path_query(head, target_start, target.len(), q);
        } else {
            parse_target(target, target_start, head)?;
        }
        return Ok(Some(start + line.end));
    }
    parse_any_line(buf, start, limits, head)
}

/// [`parse_request_line`] for any line: every rule in turn, so that each
/// error is the one RFC 9110/9112 asks for.
fn parse_any_line(
    buf: &[u8],
    start: usize,
    limits: &Limits,
    head: &mut RequestHead,
) -> Result<Option<usize>, ParseError> {
    let rest = &buf[start..];
    let Some(lf) = memchr(b'\n', rest) else {
        return partial_line(rest, limits).map(|()| None);
    };
    let mut line = &rest[..lf];
    if let [l @ .., b'\r'] = line {
        line = l;
    }

    // First what a line still arriving is refused for, so the answer does
    // not depend on where the reads cut it; then what only a whole line
    // shows (the spaces, the version).
    partial_line(line, limits)?;
    let sp1 = memchr(b' ', line).ok_or(bad("request line without request-target"))?;
    let method = &line[..sp1]; // a token within the limit (partial_line)
    let after = &line[sp1 + 1..];
    let sp2 = memchr(b' ', after).ok_or(bad("request line without HTTP version"))?;
    let target = &after[..sp2]; // target bytes within the limit (partial_line)
    if target.is_empty() {
        return Err(bad("empty request-target or double space"));
    }
    head.version = parse_version(&after[sp2 + 1..])?;
    head.method = Method::from_bytes(method).map_err(|_| bad("invalid method"))?;

    let target_start = start + sp1 + 1;
    head.target = Span::at(target_start, target.len());
    parse_target(target, target_start, head)?;
    Ok(Some(start + lf + 1))
}

/// Where the parts of a line found valid in one pass are.
struct PlainLine {
    /// The request-target's bytes in the line.
    target: std::ops::Range<usize>,
    /// Where its first '?' is in the line.
    query: Option<usize>,
    /// Just past the line's LF.
    end: usize,
}

/// The common line, `token SP target SP HTTP/1.1 CRLF` (or HTTP/1.0, or a
/// bare LF), checked in one pass. `None` for anything else, which the full
/// parser then answers (every rule there holds for what passes here: the
/// method a token of at most [`MAX_METHOD_LEN`] bytes, the target non-empty,
/// within the limit and of target bytes, the version one of the two).
/// Issue 12: the full parser's six passes (LF, two spaces, method, target,
/// `?`) were 16 of the 49 ns a pipelined plaintext head took. Sets the
/// method and version of `head` (the full parser sets them again if this
/// gives up).
#[inline]
fn plain_line(rest: &[u8], limits: &Limits, head: &mut RequestHead) -> Option<PlainLine> {
    let mut i = 0;
    while i < rest.len() && is_tchar(rest[i]) {
        i += 1;
    }
    if i == 0 || i > MAX_METHOD_LEN || rest.get(i) != Some(&b' ') {
        return None;
    }
    let method = &rest[..i];
    let target_start = i + 1;
    let mut j = target_start;
    // Eight bytes at a time while none ends the target or is a '?' or a
    // byte no target has (a control, SP, DEL, '#'): most paths are plain.
    while let Some(chunk) = rest.get(j..j + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        if word_has_below(w, 0x21) || word_has(w, 0x7f) || word_has(w, b'#') || word_has(w, b'?') {
            break;
        }
        j += 8;
    }
    let mut query = None;
    while j < rest.len() && is_target_byte(rest[j]) {
        if rest[j] == b'?' && query.is_none() {
            query = Some(j);
        }
        j += 1;
    }
    if j == target_start || j - target_start > limits.max_request_target {
        return None;
    }
    let version = match rest.get(j..j + 9)? {
        b" HTTP/1.1" => Version::Http11,
        b" HTTP/1.0" => Version::Http10,
        _ => return None,
    };
    let end = match rest.get(j + 9..j + 11) {
        Some(b"\r\n") => j + 11,
        _ if rest.get(j + 9) == Some(&b'\n') => j + 10,
        _ => return None,
    };
    // Written in place (a `Method` moved through a temporary stalled on
    // its store), and for a GET not at all when the cleared head holds it.
    match method {
        b"GET" => {
            if head.method != Method::GET {
                head.method = Method::GET;
            }
        }
        b"HEAD" => head.method = Method::HEAD,
        b"POST" => head.method = Method::POST,
        _ => head.method = Method::from_bytes(method).ok()?,
    }
    head.version = version;
    Some(PlainLine {
        target: target_start..j,
        query,
        end,
    })
}

/// What `rest`, the start of a request line (without its LF), is already
/// refused for: a non-token byte in the method, a bad byte in the target
/// (so that a TLS handshake or other garbage gets its 400 now rather than
/// after the header timeout), a method longer than any implemented (501),
/// a target over the limit (414). Called on every read of a line still
/// arriving, and on the whole line first: the answer is that of the first
/// fault in byte order, whatever the reads (a bad byte seen no later than
/// the length limit is a 400, else the length decides).
fn partial_line(rest: &[u8], limits: &Limits) -> Result<(), ParseError> {
    let method_end = memchr(b' ', rest).unwrap_or(rest.len());
    if method_end == 0 && !rest.is_empty() {
        return Err(bad("invalid method token")); // a space first: no method
    }
    let method = &rest[..method_end];
    match method.iter().position(|&b| !is_tchar(b)) {
        Some(at) if at <= MAX_METHOD_LEN => return Err(bad("invalid method token")),
        _ if method.len() > MAX_METHOD_LEN => {
            return Err(ParseError::NotImplemented(
                "method longer than any implemented",
            ))
        }
        _ => {}
    }
    let Some(t) = rest.get(method_end + 1..) else {
        return Ok(());
    };
    let target = &t[..memchr(b' ', t).unwrap_or(t.len())];
    let max = limits.max_request_target;
    match target.iter().position(|&b| !is_target_byte(b)) {
        Some(at) if at <= max => Err(bad("invalid byte in request-target")),
        _ if target.len() > max => Err(ParseError::UriTooLong),
        _ => Ok(()),
    }
}

/// `HTTP-version = "HTTP" "/" DIGIT "." DIGIT`, case-sensitive (RFC 9112 2.3).
fn parse_version(v: &[u8]) -> Result<Version, ParseError> {
    match *v {
        [b'H', b'T', b'T', b'P', b'/', major @ b'0'..=b'9', b'.', minor @ b'0'..=b'9'] => {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                // RFC 9110 2.5: a higher minor of the same major is served as the
                // highest minor we implement.
                (b'1', _) => Ok(Version::Http11),
                _ => Err(ParseError::VersionNotSupported),
            }
        }
        _ => Err(bad("invalid HTTP version")),
    }
}

/// Classify the request-target (RFC 9112 3.2) and fill path / query / host.
/// `off` is the target's offset in the parsed buffer.
fn parse_target(target: &[u8], off: usize, head: &mut RequestHead) -> Result<(), ParseError> {
    // CONNECT takes only the authority-form (RFC 9110 9.3.6), which this
    // server does not serve (no tunnels): any other form is malformed.
    if head.method == Method::CONNECT {
        return Err(bad(
            "CONNECT needs an authority-form target (no tunnels here)",
        ));
    }
    match target[0] {
        // origin-form = absolute-path [ "?" query ]
        b'/' => {
            split_path_query(target, off, head);
            Ok(())
        }
        // asterisk-form, only for a server-wide OPTIONS (RFC 9112 3.2.4)
        b'*' if target.len() == 1 => {
            if head.method != Method::OPTIONS {
                return Err(bad("asterisk-form request-target without OPTIONS"));
            }
            head.path = Span::at(off, 1);
            Ok(())
        }
        _ => parse_absolute_form(target, off, head),
    }
}

/// absolute-form: `http://` or `https://` authority path-abempty [ "?" query ].
/// The authority becomes `head.host` (RFC 9112 3.2.2: it overrides Host).
/// An empty path-abempty gives an empty `path` span, which means "/".
fn parse_absolute_form(
    target: &[u8],
    off: usize,
    head: &mut RequestHead,
) -> Result<(), ParseError> {
    let scheme_len = if starts_with_ignore_case(target, b"http://") {
        7
    } else if starts_with_ignore_case(target, b"https://") {
        8
    } else {
        return Err(bad(
            "request-target is not origin, absolute or asterisk form",
        ));
    };
    let rest = &target[scheme_len..];
    let auth_len = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let authority = &rest[..auth_len];
    // RFC 9110 4.2.1: an http(s) URI with an empty host is invalid; 4.2.4: so is userinfo.
    if authority.is_empty() || authority[0] == b':' || !is_valid_host(authority) {
        return Err(bad("invalid authority in absolute-form request-target"));
    }
    head.host = Some(Span::at(off + scheme_len, auth_len));
    let path_off = scheme_len + auth_len;
    split_path_query(&target[path_off..], off + path_off, head);
    Ok(())
}

/// Split `path [ "?" query ]` (the query without its '?').
fn split_path_query(t: &[u8], off: usize, head: &mut RequestHead) {
    set_path_query(head, off, t.len(), memchr(b'?', t));
}

/// The path and query of the `len` target bytes at `off`, whose first '?'
/// (if any) is `q` bytes in.
fn set_path_query(head: &mut RequestHead, off: usize, len: usize, q: Option<usize>) {
    match q {
        Some(q) => {
            head.path = Span::at(off, q);
            head.query = Some(Span::at(off + q + 1, len - q - 1));
        }
        None => head.path = Span::at(off, len),
    }
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The one-pass line and the full parser give the same answer, the same
    /// head and the same end (the full parser is the reference).
    fn same_as_full(bytes: &[u8], limits: &Limits) {
        let (mut fast, mut full) = (RequestHead::new(), RequestHead::new());
        let a = parse_request_line(bytes, 0, limits, &mut fast);
        let b = parse_any_line(bytes, 0, limits, &mut full);
        assert_eq!(a, b, "{:?}", String::from_utf8_lossy(bytes));
        if a.is_ok() {
            assert_eq!(format!("{fast:?}"), format!("{full:?}"));
        }
    }

    /// Targets of at most 8 bytes: the limit within reach of short lines.
    fn small() -> Limits {
        Limits {
            max_request_target: 8,
            ..Limits::default()
        }
    }

    #[test]
    fn one_pass_agrees_with_the_full_parser() {
        let small = small();
        for case in [
            &b"GET /plaintext HTTP/1.1\r\n"[..],
            b"GET /a?b=c HTTP/1.0\n",
            b"GET /12345678 HTTP/1.1\r\n",
            b"GET /123456789 HTTP/1.1\r\n",
            b"CONNECT /x HTTP/1.1\r\n",
            b"OPTIONS * HTTP/1.1\r\n",
            b"GET http://a.b/c HTTP/1.1\r\n",
            b"GET http:///c HTTP/1.1\r\n",
            b"GET / HTTP/1.1\r\r\n",
            b"GET / HTTP/1.1 \r\n",
            b"GET  / HTTP/1.1\r\n",
            b"GET / HTTP/1.2\r\n",
            b"GET / HTTP/2.0\r\n",
            b"GET /#f HTTP/1.1\r\n",
            b"G\xc3T / HTTP/1.1\r\n",
            b"PROPFIND-WITH-A-VERY-LONG-EXTENSION-METHOD-NAME-THAT-GOES-ON-FOR-EVER / HTTP/1.1\r\n",
        ] {
            for cut in 0..=case.len() {
                same_as_full(&case[..cut], &Limits::default());
                same_as_full(&case[..cut], &small);
            }
        }
    }

    /// A line refused before its LF is refused for the same status once
    /// whole: where the reads cut a line never changes its answer (a new
    /// user's hunt found `GET /# HTTP/2.0` a 505 in one read, a 400 cut).
    fn prefix_refusal_holds(line: &[u8], limits: &Limits) {
        let mut whole = line.to_vec();
        whole.extend_from_slice(b"\r\n");
        let full = parse_request_line(&whole, 0, limits, &mut RequestHead::new());
        for cut in 0..=line.len() {
            let part = parse_request_line(&line[..cut], 0, limits, &mut RequestHead::new());
            if let Err(early) = part {
                let whole_status = full.as_ref().map_err(|e| e.status());
                assert_eq!(
                    whole_status,
                    Err(early.status()),
                    "{:?} cut at {cut}",
                    String::from_utf8_lossy(line)
                );
            }
        }
    }

    #[test]
    fn a_line_cut_anywhere_is_refused_alike() {
        let limits = small();
        for line in [
            &b"GET /# HTTP/2.0"[..],
            b"GET /\x7f HTTP/2.0",
            b"GET /#aaaaaaaaaaaa HTTP/1.1",
            b"GET /aaaaaaaaaaaa",
            b"MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM",
            b"G@T / HTTP/1.1",
            b"GET /a\rb HTTP/1.1",
            b"GET / HTTP/1.1",
        ] {
            prefix_refusal_holds(line, &limits);
            prefix_refusal_holds(line, &Limits::default());
        }
    }

    /// The target's eight-byte scan stops at every byte that matters,
    /// wherever it falls in the word.
    #[test]
    fn every_byte_at_every_place_of_a_long_target() {
        for special in [0x00, b'\t', b'\r', b' ', b'#', b'?', 0x7f, 0x80, 0xff, b'a'] {
            for at in 1..24 {
                let mut target = vec![b'a'; 24];
                target[0] = b'/';
                target[at] = special;
                let mut line = b"GET ".to_vec();
                line.extend_from_slice(&target);
                line.extend_from_slice(b" HTTP/1.1\r\n");
                same_as_full(&line, &Limits::default());
                let mut head = RequestHead::new();
                let parsed = parse_request_line(&line, 0, &Limits::default(), &mut head);
                if special == b'?' {
                    assert_eq!(parsed, Ok(Some(line.len())));
                    assert_eq!(head.path.len(), at);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn a_random_line_cut_anywhere_is_refused_alike(
            bytes in prop::collection::vec(prop_oneof![
                6 => prop::sample::select(b"GETPOST /a?=%HTTP/1.02".to_vec()),
                2 => prop::sample::select(b"\r #*:\x7f".to_vec()),
                1 => any::<u8>().prop_filter("no LF", |b| *b != b'\n'),
            ], 0..40),
            target_max in 1usize..12,
        ) {
            let limits = Limits { max_request_target: target_max, ..Limits::default() };
            prefix_refusal_holds(&bytes, &limits);
        }

        #[test]
        fn one_pass_agrees_on_any_bytes(
            bytes in prop::collection::vec(prop_oneof![
                6 => prop::sample::select(b"GETPOST /a?=%HTTP/1.01".to_vec()),
                2 => prop::sample::select(b"\r\n #*:".to_vec()),
                1 => any::<u8>(),
            ], 0..40),
            target_max in 1usize..12,
        ) {
            let limits = Limits { max_request_target: target_max, ..Limits::default() };
            same_as_full(&bytes, &limits);
        }

        #[test]
        fn one_pass_agrees_on_likely_lines(
            method in "(GET|HEAD|POST|PUT|DELETE|OPTIONS|CONNECT|[A-Z]{1,70})",
            target in "(/[!-~]{0,12}|\\*|http://[a-z.:]{0,8}/?[a-z?=]{0,4})",
            version in "HTTP/1\\.[0-2]",
            end in "(\r\n|\n|\r|)",
        ) {
            let line = format!("{method} {target} {version}{end}");
            same_as_full(line.as_bytes(), &Limits::default());
        }
    }

    fn line(s: &[u8]) -> Result<Option<(usize, RequestHead)>, ParseError> {
        let mut h = RequestHead::new();
        parse_request_line(s, 0, &Limits::default(), &mut h).map(|o| o.map(|e| (e, h)))
    }

    #[test]
    fn versions() {
        let table: &[(&[u8], Result<Version, ParseError>)] = &[
            (b"HTTP/1.0", Ok(Version::Http10)),
            (b"HTTP/1.1", Ok(Version::Http11)),
            (b"HTTP/1.2", Ok(Version::Http11)),
            (b"HTTP/1.9", Ok(Version::Http11)),
            (b"HTTP/2.0", Err(ParseError::VersionNotSupported)),
            (b"HTTP/3.0", Err(ParseError::VersionNotSupported)),
            (b"HTTP/0.9", Err(ParseError::VersionNotSupported)),
            (b"HTTP/1.10", Err(bad("invalid HTTP version"))),
            (b"http/1.1", Err(bad("invalid HTTP version"))),
            (b"HTTP/1", Err(bad("invalid HTTP version"))),
            (b"HTTP/1.1\r", Err(bad("invalid HTTP version"))),
            (b"HTTP/11", Err(bad("invalid HTTP version"))),
            (b"", Err(bad("invalid HTTP version"))),
        ];
        for (v, want) in table {
            assert_eq!(parse_version(v), *want, "{:?}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn forms() {
        let (end, h) = line(b"GET http://Example.com:8080/a/b?x=1 HTTP/1.1\r\n")
            .unwrap()
            .unwrap();
        let buf = b"GET http://Example.com:8080/a/b?x=1 HTTP/1.1\r\n";
        assert_eq!(end, buf.len());
        assert_eq!(h.path.get(buf), b"/a/b");
        assert_eq!(h.query.unwrap().get(buf), b"x=1");
        assert_eq!(h.host.unwrap().get(buf), b"Example.com:8080");
        let buf = b"GET HTTPS://h?q HTTP/1.1\n";
        let (_, h) = line(buf).unwrap().unwrap();
        assert_eq!(h.path.get(buf), b"");
        assert_eq!(h.query.unwrap().get(buf), b"q");
        assert!(line(b"GET http:///p HTTP/1.1\r\n").is_err());
        assert!(line(b"GET http://u@h/p HTTP/1.1\r\n").is_err());
        assert!(line(b"GET ftp://h/p HTTP/1.1\r\n").is_err());
        assert!(line(b"CONNECT h:443 HTTP/1.1\r\n").is_err());
        assert!(line(b"CONNECT /any HTTP/1.1\r\n").is_err());
        assert!(line(b"CONNECT http://h/ HTTP/1.1\r\n").is_err());
        assert!(line(b"GET * HTTP/1.1\r\n").is_err());
        assert!(line(b"OPTIONS *x HTTP/1.1\r\n").is_err());
        assert!(line(b"GET /a#f HTTP/1.1\r\n").is_err());
        assert!(line(b"GET / HTTP/1.1").unwrap().is_none());
    }

    #[test]
    fn partial_414() {
        let mut long = b"GET /".to_vec();
        long.resize(8192 + 4, b'a');
        assert!(line(&long).unwrap().is_none());
        long.push(b'a');
        assert_eq!(line(&long).err(), Some(ParseError::UriTooLong));
        // A method with no SP yet: 501 past MAX_METHOD_LEN, split or whole.
        let mut no_sp = vec![b'G'; MAX_METHOD_LEN + 1];
        let too_long = Some(ParseError::NotImplemented(
            "method longer than any implemented",
        ));
        assert_eq!(line(&no_sp).err(), too_long);
        let mut whole = no_sp.clone();
        whole.extend_from_slice(b" / HTTP/1.1\r\n");
        assert_eq!(line(&whole).err(), too_long);
        no_sp.truncate(MAX_METHOD_LEN);
        assert!(line(&no_sp).unwrap().is_none());
    }
}
