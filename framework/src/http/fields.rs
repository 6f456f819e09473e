//! Semantic checks of the header fields that decide framing and connection
//! handling (RFC 9112 6 and 9.3, RFC 9110 5, 7.2, 8.6, 10.1.1): Host,
//! Content-Length, Transfer-Encoding, Connection and Expect.
//!
//! Second half of [`super::head::parse_head`]: `field_lines` has
//! already checked the field *syntax*; `Framing` sees each field line once, in order, and
//! `Framing::finish` turns what it saw into `body`, `keep_alive`,
//! `expect_continue` and `host`, or into the error that refuses the request.
//! Every rule here closes a request-smuggling door: when two parsers could
//! disagree on where a body ends, the request is refused rather than guessed.

use super::error::ParseError;
use super::head::{BodyKind, Limits, RequestHead, Span, Version};
use super::token::{is_qdtext, is_reg_name_byte, is_token, list_elements, trim_ows};
use memchr::memchr;

const fn bad(why: &'static str) -> ParseError {
    ParseError::BadRequest(why)
}

/// What the framing fields of one request said so far.
#[derive(Debug, Default)]
pub(crate) struct Framing {
    host: Option<Span>,
    host_lines: u32,
    content_length: Option<u64>,
    te_lines: u32,
    te_codings: u32,
    te_chunked: bool,
    te_last_is_chunked: bool,
    te_other: bool,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
    expect_other: bool,
}

impl Framing {
    /// Look at one field line. `value` is already OWS-trimmed; `value_span` is
    /// its position in the parsed buffer.
    pub(crate) fn field(
        &mut self,
        name: &[u8],
        value: &[u8],
        value_span: Span,
    ) -> Result<(), ParseError> {
        // Dispatch on length first: most fields are none of these and cost one compare.
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => self.host(value, value_span),
            6 if name.eq_ignore_ascii_case(b"expect") => {
                self.expect(value);
                Ok(())
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                self.connection(value);
                Ok(())
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => self.content_length(value),
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => self.transfer_encoding(value),
            _ => Ok(()),
        }
    }

    /// RFC 9112 3.2: one Host, and a valid one.
    fn host(&mut self, value: &[u8], span: Span) -> Result<(), ParseError> {
        self.host_lines += 1;
        if self.host_lines > 1 {
            return Err(bad("more than one Host"));
        }
        if !is_valid_host(value) {
            return Err(bad("invalid Host"));
        }
        self.host = Some(span);
        Ok(())
    }

    /// RFC 9112 6.3 (5): a Content-Length that is not exactly one 1*DIGIT is
    /// unrecoverable. Lists (even "5, 5") and repeats (even identical) are refused.
    fn content_length(&mut self, value: &[u8]) -> Result<(), ParseError> {
        if self.content_length.is_some() {
            return Err(bad("more than one Content-Length"));
        }
        self.content_length = Some(parse_content_length(value)?);
        Ok(())
    }

    /// RFC 9112 6.1 / 7: the codings of all Transfer-Encoding lines form one list.
    fn transfer_encoding(&mut self, value: &[u8]) -> Result<(), ParseError> {
        self.te_lines += 1;
        for coding in list_elements(value) {
            self.te_codings += 1;
            if coding.eq_ignore_ascii_case(b"chunked") {
                // RFC 9112 7: a sender MUST NOT apply chunked more than once.
                if self.te_chunked {
                    return Err(bad("chunked applied more than once"));
                }
                self.te_chunked = true;
                self.te_last_is_chunked = true;
            } else {
                if !is_transfer_coding(coding) {
                    return Err(bad("invalid transfer-coding"));
                }
                self.te_other = true;
                self.te_last_is_chunked = false;
            }
        }
        Ok(())
    }

    /// RFC 9110 7.6.1: connection options, case-insensitive; close wins.
    fn connection(&mut self, value: &[u8]) {
        for opt in list_elements(value) {
            if opt.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if opt.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            }
        }
    }

    /// RFC 9110 10.1.1: only "100-continue" is defined.
    fn expect(&mut self, value: &[u8]) {
        for e in list_elements(value) {
            if e.eq_ignore_ascii_case(b"100-continue") {
                self.expect_continue = true;
            } else {
                self.expect_other = true;
            }
        }
    }

    /// Decide body framing, persistence and expectations, writing them into
    /// `head` (whose `version` and, for absolute-form, `host` are already set).
    pub(crate) fn finish(self, limits: &Limits, head: &mut RequestHead) -> Result<(), ParseError> {
        let v11 = head.version == Version::Http11;
        if v11 && self.host_lines == 0 {
            return Err(bad("HTTP/1.1 request without Host"));
        }
        // RFC 9112 3.2.2: for absolute-form the target's authority is the host.
        if head.host.is_none() {
            head.host = self.host;
        }

        head.body = if self.te_lines > 0 {
            if self.te_codings == 0 {
                return Err(bad("empty Transfer-Encoding"));
            }
            // RFC 9112 6.1: TE in a 1.0 message means the framing is faulty.
            if !v11 {
                return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
            }
            // RFC 9112 6.1: a server MAY reject TE + CL, and should: smuggling.
            if self.content_length.is_some() {
                return Err(bad("both Transfer-Encoding and Content-Length"));
            }
            // RFC 9112 6.3 (4): chunked not last means no reliable length: 400.
            if !self.te_last_is_chunked {
                return Err(bad("Transfer-Encoding does not end in chunked"));
            }
            if self.te_other {
                return Err(ParseError::NotImplemented(
                    "transfer-coding other than chunked",
                ));
            }
            BodyKind::Chunked
        } else {
            match self.content_length {
                None | Some(0) => BodyKind::None,
                Some(n) => BodyKind::Length(n),
            }
        };

        if v11 {
            if self.expect_other {
                return Err(ParseError::ExpectationFailed);
            }
            head.expect_continue = self.expect_continue;
            head.keep_alive = !self.close;
        } else {
            // RFC 9112 9.3: 1.0 is persistent only if the client asked for it.
            head.keep_alive = self.keep_alive && !self.close;
        }
        // Last, once the head is whole: it is answered as a request (its
        // app's middleware sees the 413).
        match head.body {
            BodyKind::Length(n) if n > limits.max_body => Err(ParseError::PayloadTooLarge),
            _ => Ok(()),
        }
    }
}

/// `Content-Length = 1*DIGIT` as a u64; no sign, no inner space, no list, no overflow.
pub fn parse_content_length(v: &[u8]) -> Result<u64, ParseError> {
    if v.is_empty() {
        return Err(bad("empty Content-Length"));
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return Err(bad("invalid Content-Length"));
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(bad("Content-Length overflows"))?;
    }
    Ok(n)
}

/// `transfer-coding = token *( OWS ";" OWS transfer-parameter )`,
/// `transfer-parameter = token BWS "=" BWS ( token / quoted-string )`.
fn is_transfer_coding(c: &[u8]) -> bool {
    let mut parts = c.split(|&b| b == b';');
    let name = trim_ows(parts.next().unwrap_or_default());
    is_token(name)
        && parts.all(|p| {
            let Some(eq) = memchr(b'=', p) else {
                return false;
            };
            let (k, v) = (trim_ows(&p[..eq]), trim_ows(&p[eq + 1..]));
            is_token(k) && (is_token(v) || is_quoted_string(v))
        })
}

fn is_quoted_string(v: &[u8]) -> bool {
    let [b'"', inner @ .., b'"'] = v else {
        return false;
    };
    let mut escaped = false;
    for &b in inner {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if !is_qdtext(b) {
            return false;
        }
    }
    !escaped
}

/// `Host = uri-host [ ":" port ]` (RFC 9110 7.2), where `uri-host` is an
/// IP-literal, an IPv4 address or a reg-name (RFC 3986 3.2.2). Empty is valid.
pub fn is_valid_host(v: &[u8]) -> bool {
    let (host, port): (&[u8], &[u8]) = if v.first() == Some(&b'[') {
        let Some(close) = memchr(b']', v) else {
            return false;
        };
        if !is_ip_literal(&v[1..close]) {
            return false;
        }
        match &v[close + 1..] {
            [] => (&[], &[]),
            [b':', port @ ..] => (&[], port),
            _ => return false,
        }
    } else {
        match memchr(b':', v) {
            Some(i) => (&v[..i], &v[i + 1..]),
            None => (v, &[]),
        }
    };
    is_reg_name(host) && port.iter().all(u8::is_ascii_digit)
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )`; IPv4 addresses fit too.
fn is_reg_name(h: &[u8]) -> bool {
    let mut i = 0;
    while i < h.len() {
        let b = h[i];
        if b == b'%' {
            match h.get(i + 1..i + 3) {
                Some([a, b]) if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else if is_reg_name_byte(b) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// The inside of `[...]`: an IPv6 address (checked by its alphabet) or IPvFuture.
fn is_ip_literal(s: &[u8]) -> bool {
    match s {
        [b'v' | b'V', rest @ ..] => {
            let Some(dot) = memchr(b'.', rest) else {
                return false;
            };
            let (ver, addr) = (&rest[..dot], &rest[dot + 1..]);
            !ver.is_empty()
                && ver.iter().all(u8::is_ascii_hexdigit)
                && !addr.is_empty()
                && addr.iter().all(|&b| is_reg_name_byte(b) || b == b':')
        }
        _ => {
            memchr(b':', s).is_some()
                && s.iter()
                    .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let good: &[&[u8]] = &[
            b"",
            b"example.com",
            b"example.com:80",
            b"example.com:",
            b"127.0.0.1:8080",
            b"[::1]",
            b"[::1]:443",
            b"[2001:db8::7]",
            b"[v1.fe:x]",
            b"a%20b",
            b"xn--bcher-kva.example",
            b"a_b~c!$&'()*+,;=",
        ];
        for h in good {
            assert!(is_valid_host(h), "{:?}", String::from_utf8_lossy(h));
        }
        let bad: &[&[u8]] = &[
            b"a b", b"a@b", b"u:p@h", b"h:8x", b"h:80:90", b"[::1", b"[::1]x", b"[zz]", b"[]",
            b"a%2", b"a%zz", b"a/b", b"a\"b", b"h\\x", b"\xff",
        ];
        for h in bad {
            assert!(!is_valid_host(h), "{:?}", String::from_utf8_lossy(h));
        }
    }

    #[test]
    fn content_lengths() {
        let table: &[(&[u8], Option<u64>)] = &[
            (b"0", Some(0)),
            (b"5", Some(5)),
            (b"007", Some(7)),
            (b"18446744073709551615", Some(u64::MAX)),
            (b"18446744073709551616", None),
            (b"99999999999999999999999", None),
            (b"", None),
            (b"+5", None),
            (b"-5", None),
            (b"5 5", None),
            (b"0x5", None),
            (b"5,5", None),
            (b"5, 5", None),
            (b"5.0", None),
            (b"\xd9\xa5", None),
        ];
        for (v, want) in table {
            assert_eq!(
                parse_content_length(v).ok(),
                *want,
                "{:?}",
                String::from_utf8_lossy(v)
            );
        }
    }

    #[test]
    fn transfer_codings() {
        assert!(is_transfer_coding(b"gzip"));
        assert!(is_transfer_coding(b"x;a=b"));
        assert!(is_transfer_coding(b"x ; a = \"b c\""));
        assert!(!is_transfer_coding(b"\"chunked\""));
        assert!(!is_transfer_coding(b"chun ked"));
        assert!(!is_transfer_coding(b"x;a"));
        assert!(!is_transfer_coding(b"x;a=\"b"));
    }
}
