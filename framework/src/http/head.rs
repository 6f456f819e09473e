//! The request head: [`parse_head`] turns the bytes at the front of a
//! connection's read buffer into a [`RequestHead`] of offsets into that buffer.
//!
//! First stage of the codec on the request path (recv -> **head** -> body ->
//! router). It runs on every read until it returns [`ParseStatus::Complete`]:
//!
//! 1. skip (a bounded number of) empty lines before the request line (RFC 9112 2.2);
//! 2. the request line, by [`super::request_line`]: method, target form, version;
//!    414 is decided here, even while the line is incomplete;
//! 3. the field lines, by `field_lines` (syntax: names are tokens, no
//!    space before the colon, no obs-fold, no bare CR, no NUL/CR/LF in values),
//!    at most `Limits::max_headers` of them (clamped to [`MAX_HEADERS_CAP`]);
//! 4. the framing fields, by [`super::fields`]: Host, Content-Length,
//!    Transfer-Encoding, Connection, Expect.
//!
//! Nothing here allocates once the `RequestHead` is warm: offsets are stored as
//! [`Span`]s, the `headers` Vec is cleared and refilled, and standard methods are
//! inline values of `http::Method`.

use super::field_lines::parse_field_lines;
use super::fields::Framing;
use super::request_line::parse_request_line;
use http::Method;

pub use super::error::ParseError;

/// The most field lines `Limits::max_headers` may allow.
pub const MAX_HEADERS_CAP: usize = 256;

/// Empty lines (CRLF or LF) tolerated before a request line. RFC 9112 2.2 asks
/// for at least one (clients that add CRLF after a POST body); more is an attack.
pub const MAX_LEADING_EMPTY_LINES: usize = 8;

/// Size limits of one request. Each one maps to its own status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request-target (414). Default 8192.
    pub max_request_target: usize,
    /// Longest head, request line and leading empty lines included (431). Default 32768.
    pub max_header_bytes: usize,
    /// Most header field lines (431); clamped to [`MAX_HEADERS_CAP`]. Default 100.
    pub max_headers: usize,
    /// Longest body, declared or decoded (413). Default 1 MiB.
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_target: 8192,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            max_body: 1024 * 1024,
        }
    }
}

/// A byte range `start..end` in the buffer that was parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// The span of `len` bytes at `start`. Offsets fit in u32 because a head is
    /// never longer than `max_header_bytes`, which `parse_head` clamps to u32.
    #[inline]
    pub(crate) fn at(start: usize, len: usize) -> Span {
        Span {
            start: start as u32,
            end: (start + len) as u32,
        }
    }

    /// The span of `part`, a sub-slice of `buf`.
    #[cfg(test)]
    pub(crate) fn of(buf: &[u8], part: &[u8]) -> Span {
        Span::at(part.as_ptr() as usize - buf.as_ptr() as usize, part.len())
    }

    #[inline]
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The bytes of this span in `buf` (the buffer given to `parse_head`).
    /// Empty if `buf` is shorter than the span (never panics).
    #[inline]
    pub fn get<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.range()).unwrap_or_default()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }
}

/// The protocol version of a request. "HTTP/1.2".."HTTP/1.9" are served as 1.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// How the request body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (no framing field, or `Content-Length: 0`).
    None,
    /// `Content-Length: n`, n > 0 and n <= `Limits::max_body` (but for a
    /// head refused with [`super::ParseError::PayloadTooLarge`]).
    Length(u64),
    /// `Transfer-Encoding: chunked`: decode with [`super::body::ChunkedDecoder`].
    Chunked,
}

/// One field line: name and OWS-trimmed value, as offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HeaderSpan {
    pub name: Span,
    pub value: Span,
}

/// A parsed request head: offsets into the buffer given to [`parse_head`].
/// Reused across the requests of a connection; `parse_head` clears it first.
#[derive(Clone, Debug)]
pub struct RequestHead {
    /// The method; standard methods do not allocate.
    pub method: Method,
    /// The raw request-target.
    pub target: Span,
    /// The path: for origin-form the part before '?'; for absolute-form
    /// ("http://h/p?q") "/p", or an empty span that means "/"; "*" for asterisk-form.
    pub path: Span,
    /// The query, without its '?'.
    pub query: Option<Span>,
    pub version: Version,
    /// Every field line in order, duplicates included.
    pub headers: Vec<HeaderSpan>,
    /// Bytes of the head, leading empty lines and the final empty line included:
    /// the body (or the next request) starts at `buf[head_len]`.
    pub head_len: usize,
    pub body: BodyKind,
    /// Whether the connection may stay open after this exchange: for 1.1 unless
    /// "Connection: close"; for 1.0 only with "Connection: keep-alive".
    pub keep_alive: bool,
    /// HTTP/1.1 with "Expect: 100-continue": send [`super::encode::CONTINUE_100`]
    /// before reading the body.
    pub expect_continue: bool,
    /// The Host value, or for absolute-form the target's authority (RFC 9112 3.2.2).
    pub host: Option<Span>,
}

impl Default for RequestHead {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestHead {
    pub fn new() -> Self {
        RequestHead {
            method: Method::GET,
            target: Span::default(),
            path: Span::default(),
            query: None,
            version: Version::Http11,
            headers: Vec::with_capacity(32),
            head_len: 0,
            body: BodyKind::None,
            keep_alive: false,
            expect_continue: false,
            host: None,
        }
    }

    /// Becomes a copy of `other`, reusing the `headers` allocation.
    pub fn copy_from(&mut self, other: &RequestHead) {
        self.method.clone_from(&other.method);
        self.target = other.target;
        self.path = other.path;
        self.query = other.query;
        self.version = other.version;
        self.headers.clear();
        self.headers.extend_from_slice(&other.headers);
        self.head_len = other.head_len;
        self.body = other.body;
        self.keep_alive = other.keep_alive;
        self.expect_continue = other.expect_continue;
        self.host = other.host;
    }

    /// Reset every field, keeping the `headers` allocation.
    pub fn clear(&mut self) {
        self.method = Method::GET;
        self.target = Span::default();
        self.path = Span::default();
        self.query = None;
        self.version = Version::Http11;
        self.headers.clear();
        self.head_len = 0;
        self.body = BodyKind::None;
        self.keep_alive = false;
        self.expect_continue = false;
        self.host = None;
    }

    /// The value of the first field named `name` (ASCII case-insensitive).
    pub fn header<'a>(&self, buf: &'a [u8], name: &str) -> Option<&'a [u8]> {
        let name = name.as_bytes();
        self.headers
            .iter()
            .find(|h| h.name.len() == name.len() && h.name.get(buf).eq_ignore_ascii_case(name))
            .map(|h| h.value.get(buf))
    }

    /// The values of every field named `name`, in order.
    pub fn headers_named<'a, 's>(
        &'s self,
        buf: &'a [u8],
        name: &'s str,
    ) -> impl Iterator<Item = &'a [u8]> + 's
    where
        'a: 's,
    {
        self.headers
            .iter()
            .filter(move |h| h.name.get(buf).eq_ignore_ascii_case(name.as_bytes()))
            .map(move |h| h.value.get(buf))
    }

    /// A list-valued field (RFC 9110 5.3): every line named `name` joined
    /// with `", "`, as if they had been sent as one. Borrowed when there is
    /// at most one line.
    pub fn header_list<'a>(&self, buf: &'a [u8], name: &str) -> Option<std::borrow::Cow<'a, [u8]>> {
        let mut lines = self.headers_named(buf, name);
        let first = lines.next()?;
        let Some(second) = lines.next() else {
            return Some(std::borrow::Cow::Borrowed(first));
        };
        let mut joined = first.to_vec();
        for line in std::iter::once(second).chain(lines) {
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(line);
        }
        Some(std::borrow::Cow::Owned(joined))
    }
}

/// Whether `parse_head` saw a whole head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseStatus {
    /// `head` is filled; the body starts at `head.head_len`.
    Complete,
    /// More bytes are needed; call again with the same bytes plus the new ones.
    Partial,
}

const fn bad(why: &'static str) -> ParseError {
    ParseError::BadRequest(why)
}

/// Parse the request head at the start of `buf` into `head`.
///
/// Returns `Partial` when `buf` holds a valid prefix of a head that is still
/// within the limits; errors as soon as the bytes seen prove the request bad.
/// On error `head` holds whatever was parsed so far and must not be used,
/// unless its `head_len` is set: the head was whole (request line and every
/// field line valid) and refused for what its fields ask (a body over the
/// limit, no Host, conflicting framing, an unknown expectation), so it can
/// be answered as a request would, through the app's middleware.
pub fn parse_head(
    buf: &[u8],
    limits: &Limits,
    head: &mut RequestHead,
) -> Result<ParseStatus, ParseError> {
    parse_head_after(buf, limits, head, 0)
}

/// [`parse_head`] after `blank_lines` empty lines that arrived (and were
/// dropped) before `buf`: they count toward [`MAX_LEADING_EMPTY_LINES`], so
/// the answer does not depend on the reads that carried them.
pub(crate) fn parse_head_after(
    buf: &[u8],
    limits: &Limits,
    head: &mut RequestHead,
    blank_lines: usize,
) -> Result<ParseStatus, ParseError> {
    head.clear();
    let max_head = limits.max_header_bytes.min(u32::MAX as usize);
    let partial = || {
        if buf.len() > max_head {
            Err(ParseError::HeadersTooLarge)
        } else {
            Ok(ParseStatus::Partial)
        }
    };

    // 1. Leading empty lines.
    let mut pos = 0;
    let mut empty_lines = blank_lines;
    loop {
        match buf.get(pos) {
            None => return partial(),
            Some(b'\n') => pos += 1,
            Some(b'\r') => match buf.get(pos + 1) {
                None => return partial(),
                Some(b'\n') => pos += 2,
                Some(_) => return Err(bad("bare CR before the request line")),
            },
            Some(_) => break,
        }
        empty_lines += 1;
        if empty_lines > MAX_LEADING_EMPTY_LINES {
            return Err(bad("too many empty lines before the request line"));
        }
    }

    // 2. Request line.
    let Some(line_end) = parse_request_line(buf, pos, limits, head)? else {
        return partial();
    };
    if line_end > max_head {
        return Err(ParseError::HeadersTooLarge);
    }

    // 3. Field lines, their spans straight into `head.headers`.
    let max_headers = limits.max_headers.min(MAX_HEADERS_CAP);
    let Some(head_len) = parse_field_lines(buf, line_end, max_headers, |h| head.headers.push(h))?
    else {
        return partial();
    };
    if head_len > max_head {
        return Err(ParseError::HeadersTooLarge);
    }

    // 4. Framing fields.
    let mut framing = Framing::default();
    for f in &head.headers {
        framing.field(f.name.get(buf), f.value.get(buf), f.value)?;
    }
    head.head_len = head_len;
    framing.finish(limits, head)?;
    Ok(ParseStatus::Complete)
}

#[cfg(test)]
mod tests;
