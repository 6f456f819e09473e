//! Response encoding: the status line and framing headers, chunks, and the
//! canned error response.
//!
//! Last stage of the codec on the request path (handler -> **encode** -> conn
//! write buffer -> send). Everything appends to the caller's `Vec<u8>` (the
//! connection's write buffer, reused), so after warm-up nothing allocates:
//! numbers go through `itoa` or a stack buffer, never `format!`.
//! Header names are written in lowercase, as HTTP/2 and hyper do.

use http::{HeaderName, HeaderValue, StatusCode};

/// The interim response sent before reading a body whose request said
/// `Expect: 100-continue`.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How the response body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyLength {
    /// `content-length: n`. For a HEAD request pass the length of the body a GET
    /// would have had (and send no body).
    Fixed(u64),
    /// `transfer-encoding: chunked`: follow with [`write_chunk`]s and [`write_last_chunk`].
    Chunked,
    /// No framing header and no body: 1xx, 204, 304. (1xx and 204 are always
    /// written as `Omitted`, whatever is asked: RFC 9110 8.6 forbids a length there.)
    Omitted,
}

/// Everything [`write_head`] needs besides the extra headers.
#[derive(Clone, Copy, Debug)]
pub struct ResponseHeadParams<'a> {
    pub status: StatusCode,
    /// The IMF-fixdate, from [`super::date::DateCache::get`]; empty: no Date header.
    pub date: &'a [u8],
    /// Value of the Server header; empty: no Server header.
    pub server: &'a [u8],
    pub length: BodyLength,
    /// Add "connection: close" (the connection closes after this response).
    pub close: bool,
    /// The HTTP/1.0 client asked for keep-alive: add "connection: keep-alive".
    /// Ignored when `close` is set.
    pub keep_alive_10: bool,
}

/// Writes `"HTTP/1.1 <code> <reason>\r\n"`, Server, Date, Content-Length or
/// Transfer-Encoding: chunked, Connection, then the extra headers, then "\r\n".
///
/// Never panics; uses itoa; no allocation beyond growing `out`. An extra header
/// whose name is empty or whose name or value holds CR, LF or NUL is skipped:
/// writing it would let a handler split the response.
pub fn write_head<'h>(
    out: &mut Vec<u8>,
    p: &ResponseHeadParams<'_>,
    headers: impl Iterator<Item = (&'h [u8], &'h [u8])>,
) {
    out.reserve(128 + p.date.len() + p.server.len());
    write_head_start(out, p.status, p.server, p.date);
    write_head_rest(out, p, headers);
}

/// [`write_head`] for a response's typed headers, with the status line,
/// Server and Date of a 200 copied from `ok` (one copy instead of eight
/// small ones; the same bytes). `HeaderName` and `HeaderValue` cannot
/// hold CR, LF or NUL (the http crate checks as they are made), so they
/// are written without [`write_head`]'s scan of each.
pub fn write_head_with(
    out: &mut Vec<u8>,
    ok: &mut OkPrefix,
    p: &ResponseHeadParams<'_>,
    content_type: Option<&HeaderValue>,
    headers: &[(HeaderName, HeaderValue)],
) {
    out.reserve(128 + p.date.len() + p.server.len());
    if p.status == StatusCode::OK {
        out.extend_from_slice(ok.get(p.server, p.date));
    } else {
        write_head_start(out, p.status, p.server, p.date);
    }
    write_framing(out, p);
    if let Some(value) = content_type {
        header(out, b"content-type", value.as_bytes());
    }
    for (name, value) in headers {
        header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// The status line, Server and Date (each header only if its value is
/// not empty).
fn write_head_start(out: &mut Vec<u8>, status: StatusCode, server: &[u8], date: &[u8]) {
    write_status_line(out, status);
    if !server.is_empty() {
        header(out, b"server", server);
    }
    if !date.is_empty() {
        header(out, b"date", date);
    }
}

/// The head after Date: the framing, Connection, the extra headers, the
/// blank line.
fn write_head_rest<'h>(
    out: &mut Vec<u8>,
    p: &ResponseHeadParams<'_>,
    headers: impl Iterator<Item = (&'h [u8], &'h [u8])>,
) {
    write_framing(out, p);
    for (name, value) in headers {
        if is_safe_header(name, value) {
            header(out, name, value);
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Content-Length or Transfer-Encoding, and Connection.
fn write_framing(out: &mut Vec<u8>, p: &ResponseHeadParams<'_>) {
    let code = p.status.as_u16();
    let length = if p.status.is_informational() || code == 204 {
        BodyLength::Omitted
    } else {
        p.length
    };
    match length {
        BodyLength::Fixed(n) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        BodyLength::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        BodyLength::Omitted => {}
    }
    if p.close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if p.keep_alive_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
}

/// The start of a 200's head (status line, Server, Date) as one run of
/// bytes, per core, rebuilt when the date (once a second) or the server
/// name changes.
#[derive(Debug, Default)]
pub struct OkPrefix {
    bytes: Vec<u8>,
    server: Vec<u8>,
    date: Vec<u8>,
}

impl OkPrefix {
    /// The prefix for `server` and `date` (either may be empty: no header).
    pub fn get(&mut self, server: &[u8], date: &[u8]) -> &[u8] {
        if self.bytes.is_empty() || self.date != date || self.server != server {
            self.bytes.clear();
            write_head_start(&mut self.bytes, StatusCode::OK, server, date);
            self.server = server.to_vec();
            self.date = date.to_vec();
        }
        &self.bytes
    }
}

/// One chunk: hex size CRLF data CRLF. Empty data writes nothing (an empty
/// chunk would be the last-chunk).
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut hex = [0u8; 16];
    let digits = format_hex(data.len() as u64, &mut hex);
    out.reserve(digits.len() + data.len() + 4);
    out.extend_from_slice(digits);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last-chunk and the end of the (empty) trailer section: "0\r\n\r\n".
pub fn write_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

/// A complete minimal error response for a rejected request: status line,
/// Date, Server, "content-type: text/plain", content-length, "connection:
/// close", body = `"<code> <reason>\n"`.
pub fn write_error(out: &mut Vec<u8>, status: StatusCode, date: &[u8], server: &[u8]) {
    let reason = reason(status);
    let body_len = 3 + 1 + reason.len() + 1;
    out.reserve(160 + date.len() + server.len() + reason.len() * 2);
    write_status_line(out, status);
    if !date.is_empty() {
        header(out, b"date", date);
    }
    if !server.is_empty() {
        header(out, b"server", server);
    }
    out.extend_from_slice(b"content-type: text/plain\r\ncontent-length: ");
    out.extend_from_slice(itoa::Buffer::new().format(body_len).as_bytes());
    out.extend_from_slice(b"\r\nconnection: close\r\n\r\n");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.push(b'\n');
}

/// The canonical reason phrase, or "Unknown".
pub fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Unknown")
}

fn write_status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn is_safe_header(name: &[u8], value: &[u8]) -> bool {
    !name.is_empty()
        && !name.contains(&b':')
        && memchr::memchr3(b'\r', b'\n', 0, name).is_none()
        && memchr::memchr3(b'\r', b'\n', 0, value).is_none()
}

/// Lowercase hex digits of `n` (no leading zeros), written into `buf`.
fn format_hex(mut n: u64, buf: &mut [u8; 16]) -> &[u8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = HEX[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn head(
        status: u16,
        length: BodyLength,
        close: bool,
        ka10: bool,
        extra: &[(&[u8], &[u8])],
    ) -> String {
        let mut out = Vec::new();
        let p = ResponseHeadParams {
            status: StatusCode::from_u16(status).unwrap(),
            date: DATE,
            server: b"percore",
            length,
            close,
            keep_alive_10: ka10,
        };
        write_head(&mut out, &p, extra.iter().copied());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn heads() {
        let d = "date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
        let table: &[(String, String)] = &[
            (
                head(
                    200,
                    BodyLength::Fixed(13),
                    false,
                    false,
                    &[(b"content-type", b"text/plain")],
                ),
                format!(
                    "HTTP/1.1 200 OK\r\nserver: percore\r\n{d}content-length: 13\r\ncontent-type: text/plain\r\n\r\n"
                ),
            ),
            (
                head(200, BodyLength::Chunked, false, false, &[]),
                format!(
                    "HTTP/1.1 200 OK\r\nserver: percore\r\n{d}transfer-encoding: chunked\r\n\r\n"
                ),
            ),
            (
                head(204, BodyLength::Omitted, false, false, &[]),
                format!("HTTP/1.1 204 No Content\r\nserver: percore\r\n{d}\r\n"),
            ),
            (
                head(204, BodyLength::Fixed(5), false, false, &[]),
                format!("HTTP/1.1 204 No Content\r\nserver: percore\r\n{d}\r\n"),
            ),
            (
                head(
                    304,
                    BodyLength::Omitted,
                    false,
                    false,
                    &[(b"etag", b"\"x\"")],
                ),
                format!("HTTP/1.1 304 Not Modified\r\nserver: percore\r\n{d}etag: \"x\"\r\n\r\n"),
            ),
            (
                head(101, BodyLength::Chunked, false, false, &[]),
                format!("HTTP/1.1 101 Switching Protocols\r\nserver: percore\r\n{d}\r\n"),
            ),
            (
                head(404, BodyLength::Fixed(0), true, false, &[]),
                format!(
                    "HTTP/1.1 404 Not Found\r\nserver: percore\r\n{d}content-length: 0\r\nconnection: close\r\n\r\n"
                ),
            ),
            (
                head(200, BodyLength::Fixed(u64::MAX), false, true, &[]),
                format!(
                    "HTTP/1.1 200 OK\r\nserver: percore\r\n{d}content-length: 18446744073709551615\r\nconnection: keep-alive\r\n\r\n"
                ),
            ),
            (
                head(200, BodyLength::Fixed(1), true, true, &[]),
                format!(
                    "HTTP/1.1 200 OK\r\nserver: percore\r\n{d}content-length: 1\r\nconnection: close\r\n\r\n"
                ),
            ),
            (
                head(
                    599,
                    BodyLength::Fixed(0),
                    false,
                    false,
                    &[(b"x", b"a\r\nSet-Cookie: evil"), (b"", b"v"), (b"y", b"")],
                ),
                format!(
                    "HTTP/1.1 599 Unknown\r\nserver: percore\r\n{d}content-length: 0\r\ny: \r\n\r\n"
                ),
            ),
        ];
        for (got, want) in table {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn the_ok_prefix_writes_the_same_bytes() {
        let mut ok = OkPrefix::default();
        for (status, server, date) in [
            (200, &b"percore"[..], &b"Sun, 06 Nov 1994 08:49:37 GMT"[..]),
            (200, b"percore", b"Sun, 06 Nov 1994 08:49:38 GMT"),
            (200, b"", b"Sun, 06 Nov 1994 08:49:38 GMT"),
            (200, b"x", b""),
            (404, b"percore", b"Sun, 06 Nov 1994 08:49:38 GMT"),
        ] {
            let p = ResponseHeadParams {
                status: StatusCode::from_u16(status).unwrap(),
                date,
                server,
                length: BodyLength::Fixed(5),
                close: status == 404,
                keep_alive_10: false,
            };
            let extra = [
                (&b"content-type"[..], &b"text/plain"[..]),
                (b"etag", b"\"x\""),
                (b"x-a", b"1"),
            ];
            let ct = HeaderValue::from_static("text/plain");
            let typed = [
                (http::header::ETAG, HeaderValue::from_static("\"x\"")),
                (
                    HeaderName::from_static("x-a"),
                    HeaderValue::from_static("1"),
                ),
            ];
            let (mut a, mut b) = (Vec::new(), Vec::new());
            write_head(&mut a, &p, extra.iter().copied());
            write_head_with(&mut b, &mut ok, &p, Some(&ct), &typed);
            assert_eq!(a, b, "{status} {server:?} {date:?}");
        }
    }

    #[test]
    fn no_server_no_date() {
        let mut out = Vec::new();
        let p = ResponseHeadParams {
            status: StatusCode::OK,
            date: b"",
            server: b"",
            length: BodyLength::Fixed(2),
            close: false,
            keep_alive_10: false,
        };
        write_head(&mut out, &p, std::iter::empty());
        assert_eq!(out, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n");
    }

    #[test]
    fn chunks() {
        let mut out = Vec::new();
        write_chunk(&mut out, b"");
        assert!(out.is_empty());
        write_chunk(&mut out, b"hello");
        write_chunk(&mut out, &[b'x'; 26]);
        write_last_chunk(&mut out);
        let mut want = b"5\r\nhello\r\n1a\r\n".to_vec();
        want.extend_from_slice(&[b'x'; 26]);
        want.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(out, want);
        let mut buf = [0u8; 16];
        assert_eq!(format_hex(0, &mut buf), b"0");
        assert_eq!(format_hex(u64::MAX, &mut buf), b"ffffffffffffffff");
        assert_eq!(format_hex(4096, &mut buf), b"1000");
    }

    #[test]
    fn chunks_round_trip_through_the_decoder() {
        let mut out = Vec::new();
        write_chunk(&mut out, b"abc");
        write_chunk(&mut out, &[7u8; 300]);
        write_last_chunk(&mut out);
        let mut d = super::super::body::ChunkedDecoder::new(1 << 20);
        let mut data = Vec::new();
        let r = d.decode(&out, &mut data);
        assert_eq!(
            r,
            Ok(super::super::body::DecodeStatus::Complete {
                consumed: out.len()
            })
        );
        assert_eq!(data.len(), 303);
    }

    #[test]
    fn errors() {
        let mut out = Vec::new();
        write_error(&mut out, StatusCode::BAD_REQUEST, DATE, b"percore");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 400 Bad Request\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\nserver: percore\r\n\
             content-type: text/plain\r\ncontent-length: 16\r\nconnection: close\r\n\r\n400 Bad Request\n"
        );
        let mut out = Vec::new();
        write_error(&mut out, StatusCode::from_u16(431).unwrap(), b"", b"");
        let s = String::from_utf8(out).unwrap();
        let body = "431 Request Header Fields Too Large\n";
        assert!(s.starts_with(
            "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
        ));
        assert!(s.ends_with(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )));
        assert_eq!(CONTINUE_100, b"HTTP/1.1 100 Continue\r\n\r\n");
    }
}
