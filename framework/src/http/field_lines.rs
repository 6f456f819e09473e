//! Field lines (RFC 9112 5): `field-name ":" OWS field-value OWS` up to the
//! blank line that ends the head. Step 3 of [`super::head::parse_head`],
//! after the request line; [`super::fields`] then reads what they say.
//!
//! The syntax is httparse's (`parse_headers` with its default configuration),
//! which percore used until a short head's field lines cost more in its
//! vector set-up than in bytes (issue 12: 18 of the 49 ns a pipelined
//! plaintext head took). A differential test holds the two to the same
//! answers: names are tokens with the colon right after them (no space
//! before it, no obs-fold), values are `field-vchar / SP / HTAB` with leading
//! and trailing blanks trimmed, lines end in CRLF or a bare LF, and a bare CR
//! is refused. Spans go straight into the head's list, with no array between.

use super::error::ParseError;
use super::head::{HeaderSpan, Span};
use super::token::{is_field_byte, is_tchar, word_has, word_has_below};

/// What a field line got wrong (mapped to a `ParseError` by `parse_head`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldLineError {
    /// A byte that cannot start or continue a name, or no colon after it.
    Name,
    /// A byte that is not allowed in a value, or a CR without its LF.
    Value,
    /// A CR without its LF where the blank line should be.
    NewLine,
    /// More field lines than the limit.
    TooMany,
}

impl From<FieldLineError> for ParseError {
    fn from(e: FieldLineError) -> ParseError {
        match e {
            FieldLineError::Name => ParseError::BadRequest(
                "invalid header name (or whitespace before colon, or obs-fold)",
            ),
            FieldLineError::Value => ParseError::BadRequest("invalid byte in header value"),
            FieldLineError::NewLine => ParseError::BadRequest("invalid line ending (bare CR)"),
            FieldLineError::TooMany => ParseError::HeadersTooLarge,
        }
    }
}

/// Parses the field lines of `buf` from `start`, giving each line's spans
/// (offsets into `buf`) to `each`, at most `max` of them. Returns the
/// offset just past the blank line, or `None` if `buf` ends before it (every
/// line so far, the one still arriving too, is good).
pub(crate) fn parse_field_lines(
    buf: &[u8],
    start: usize,
    max: usize,
    mut each: impl FnMut(HeaderSpan),
) -> Result<Option<usize>, FieldLineError> {
    let n = buf.len();
    let mut parsed = 0;
    let mut i = start;
    loop {
        // A line: the blank one, or a name.
        let Some(&first) = buf.get(i) else {
            return Ok(None);
        };
        match first {
            b'\r' => {
                return match buf.get(i + 1) {
                    None => Ok(None),
                    Some(b'\n') => Ok(Some(i + 2)),
                    Some(_) => Err(FieldLineError::NewLine),
                }
            }
            b'\n' => return Ok(Some(i + 1)),
            b if !is_tchar(b) => return Err(FieldLineError::Name),
            _ => {}
        }
        let name_start = i;
        i += 1;
        while i < n && is_tchar(buf[i]) {
            i += 1;
        }
        match buf.get(i) {
            None => return Ok(None),
            Some(b':') => {}
            Some(_) => return Err(FieldLineError::Name),
        }
        let name = Span::at(name_start, i - name_start);
        i += 1;
        while i < n && matches!(buf[i], b' ' | b'\t') {
            i += 1;
        }
        let value_start = i;
        i = skip_field_bytes(buf, i);
        let mut value_end = i;
        match buf.get(i) {
            None => return Ok(None),
            Some(b'\r') => match buf.get(i + 1) {
                None => return Ok(None),
                Some(b'\n') => i += 2,
                Some(_) => return Err(FieldLineError::Value),
            },
            Some(b'\n') => i += 1,
            Some(_) => return Err(FieldLineError::Value),
        }
        while value_end > value_start && matches!(buf[value_end - 1], b' ' | b'\t') {
            value_end -= 1;
        }
        // Counted once the line is whole, as httparse does: a bad or cut
        // line past the limit is answered as bad or waited for.
        if parsed == max {
            return Err(FieldLineError::TooMany);
        }
        parsed += 1;
        each(HeaderSpan {
            name,
            value: Span::at(value_start, value_end - value_start),
        });
    }
}

/// The offset of the first byte at or after `i` that is not a value byte
/// (or `buf.len()`). Eight bytes at a time while none is a control byte or
/// DEL (values are mostly visible ASCII), then byte by byte.
#[inline]
fn skip_field_bytes(buf: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = buf.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        if word_has_below(w, 0x20) || word_has(w, 0x7f) {
            break;
        }
        i += 8;
    }
    while i < buf.len() && is_field_byte(buf[i]) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// httparse's answer, in this module's terms.
    fn httparse_answer(
        buf: &[u8],
        max: usize,
    ) -> Result<Option<(usize, Vec<HeaderSpan>)>, FieldLineError> {
        let mut headers = vec![httparse::EMPTY_HEADER; max];
        match httparse::parse_headers(buf, &mut headers) {
            Ok(httparse::Status::Complete((len, fields))) => Ok(Some((
                len,
                fields
                    .iter()
                    .map(|f| HeaderSpan {
                        name: Span::of(buf, f.name.as_bytes()),
                        value: Span::of(buf, f.value),
                    })
                    .collect(),
            ))),
            Ok(httparse::Status::Partial) => Ok(None),
            Err(httparse::Error::HeaderName) => Err(FieldLineError::Name),
            Err(httparse::Error::HeaderValue) => Err(FieldLineError::Value),
            Err(httparse::Error::NewLine) => Err(FieldLineError::NewLine),
            Err(httparse::Error::TooManyHeaders) => Err(FieldLineError::TooMany),
            Err(e) => panic!("httparse answered {e:?} for field lines"),
        }
    }

    fn ours(buf: &[u8], max: usize) -> Result<Option<(usize, Vec<HeaderSpan>)>, FieldLineError> {
        let mut out = Vec::new();
        parse_field_lines(buf, 0, max, |h| out.push(h)).map(|end| end.map(|e| (e, out)))
    }

    /// Empty values: httparse points them at the line's end, as we do; the
    /// comparison is of offsets, so an empty value's position counts too.
    fn agree(buf: &[u8], max: usize) {
        assert_eq!(
            ours(buf, max),
            httparse_answer(buf, max),
            "{:?}",
            String::from_utf8_lossy(buf)
        );
    }

    #[test]
    fn known_lines() {
        for case in [
            &b"Host: localhost\r\n\r\n"[..],
            b"Host: a\r\nX: \t v \t\r\nEmpty:\r\nE2: \r\n\n",
            b"A:b\nC:  d\n\n",
            b"Host : a\r\n\r\n",
            b" Host: a\r\n\r\n",
            b"A: b\r\n c\r\n\r\n",
            b"A: b\rc\r\n\r\n",
            b"A: b\r",
            b"A: b\r\n\r",
            b"A: b\r\n\rx",
            b"A: \x7fb\r\n\r\n",
            b"A: b\x00c\r\n\r\n",
            b"A: caf\xc3\xa9 and \xff\r\n\r\n",
            b"A: 0123456789abcdef0123456789\x01\r\n\r\n",
            b"A: 0123456789abcdef012345678\x7f\r\n\r\n",
            b"A: 0123456789abcdef01234567\t8\r\n\r\n",
            b"\r\n",
            b"\n",
            b"",
            b"A",
            b"A:",
            b"A: b",
            b"A\xff: b\r\n\r\n",
            b":b\r\n\r\n",
        ] {
            for cut in 0..=case.len() {
                for max in [0, 1, 2, 8] {
                    agree(&case[..cut], max);
                }
            }
        }
    }

    /// The eight-byte scan of values stops at every byte that matters,
    /// wherever it falls in the word.
    #[test]
    fn every_byte_at_every_place_of_a_long_value() {
        for special in [
            0x00, 0x01, b'\t', b'\r', b'\n', 0x1f, b' ', 0x7f, 0x80, 0xff,
        ] {
            for at in 0..24 {
                let mut buf = b"Name: ".to_vec();
                let mut value = vec![b'v'; 24];
                value[at] = special;
                buf.extend_from_slice(&value);
                buf.extend_from_slice(b"\r\n\r\n");
                agree(&buf, 4);
            }
        }
    }

    #[test]
    fn at_the_limit_of_lines() {
        let three = b"A: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(ours(three, 3).map(|r| r.map(|(_, f)| f.len())), Ok(Some(3)));
        assert_eq!(ours(three, 2), Err(FieldLineError::TooMany));
        assert_eq!(
            ours(three, 100).map(|r| r.map(|(e, _)| e)),
            Ok(Some(three.len()))
        );
        agree(three, 2);
        agree(three, 3);
    }

    fn field_bytes() -> impl Strategy<Value = Vec<u8>> {
        // Mostly the bytes of real heads, with every troublesome one in.
        let byte = prop_oneof![
            8 => prop::sample::select(b"Host: abcXYZ-09_.~!%/=;,\"".to_vec()),
            2 => prop::sample::select(b"\r\n \t:".to_vec()),
            1 => any::<u8>(),
        ];
        prop::collection::vec(byte, 0..120)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn agrees_with_httparse(buf in field_bytes(), max in 0usize..6) {
            agree(&buf, max);
        }

        #[test]
        fn agrees_on_well_formed_lines(
            lines in prop::collection::vec(("[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}", "[ \t]{0,2}", "[ -~\t\u{80}-\u{ff}]{0,40}", "[ \t]{0,2}", prop::bool::ANY), 0..8),
            max in 0usize..10,
        ) {
            let mut buf = Vec::new();
            for (name, ows, value, trail, crlf) in &lines {
                buf.extend_from_slice(name.as_bytes());
                buf.push(b':');
                buf.extend_from_slice(ows.as_bytes());
                // Latin-1 code points stand for single bytes.
                buf.extend(value.chars().map(|c| c as u32 as u8));
                buf.extend_from_slice(trail.as_bytes());
                buf.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
            }
            buf.extend_from_slice(b"\r\n");
            for cut in [buf.len(), buf.len() - 1, buf.len() / 2] {
                agree(&buf[..cut], max);
            }
        }
    }
}
