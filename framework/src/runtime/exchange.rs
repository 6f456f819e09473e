//! One connection's bytes in, responses out: the part of the event loop that
//! runs between a recv completion and the next send.
//!
//! For each complete request in the input: parse the head (codec), wait for
//! or decode the body, route, call the handler (panics caught), encode the
//! response into the connection's `out` buffer. A request that cannot be
//! parsed gets its error status, `Connection: close`, and nothing after it
//! in the input is read.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::Bytes;

use ::http::header::{HeaderValue, ALLOW};
use ::http::{Method, StatusCode};
use tracing::{debug, error, info};

use crate::app::App;
use crate::conn::{BufPool, ChunkedProgress, Conn, Outgoing};
use crate::handler::{Body, Part, Request, Response};
use crate::http::body::{ChunkedDecoder, DecodeStatus};
use crate::http::date::DateCache;
use crate::http::encode::{self, BodyLength, ResponseHeadParams};
use crate::http::head::{
    parse_head, BodyKind, Limits, ParseError, ParseStatus, RequestHead, Version,
};
use crate::router::{Lookup, Params};

/// Stop parsing pipelined requests once this much output waits for the
/// socket; the rest is read when the send drains (backpressure).
pub const OUT_HIGH_WATER: usize = 256 * 1024;

/// What serving some input did.
#[derive(Default, Clone, Copy)]
pub struct Served {
    /// Bytes of input consumed (complete requests, or everything after an error).
    pub consumed: usize,
    /// Stopped because of [`OUT_HIGH_WATER`], with complete requests left.
    pub backpressure: bool,
}

/// Everything a core needs to turn request bytes into response bytes.
pub struct Exchange {
    pub app: App,
    pub limits: Limits,
    pub date: DateCache,
    pub server_header: Box<[u8]>,
    pub pool: BufPool,
    pub core: usize,
    /// Set while the worker drains: every response says `Connection: close`.
    pub draining: bool,
    /// One `access` log line per request.
    pub access_log: bool,
    head: RequestHead,
    params: Params,
    spare_chunked: Option<Box<ChunkedProgress>>,
}

impl Exchange {
    /// A core's exchange around its app.
    pub fn new(app: App, limits: Limits, server_header: &str, core: usize) -> Exchange {
        Exchange {
            app,
            limits,
            date: DateCache::new(),
            server_header: server_header.as_bytes().into(),
            pool: BufPool::new(),
            core,
            draining: false,
            access_log: false,
            head: RequestHead::new(),
            params: Params::new(),
            spare_chunked: None,
        }
    }

    /// Serves every complete request at the start of `input`, appending the
    /// responses to `conn.out`.
    pub fn serve(&mut self, conn: &mut Conn, input: &[u8]) -> Served {
        let mut pos = 0;
        let mut served = Served::default();
        while pos < input.len() && !conn.close_after_flush {
            if conn.prefetch.is_some() {
                break; // the request at `pos` runs again once its files are open
            }
            if conn.out.len() >= OUT_HIGH_WATER || conn.outgoing.is_some() {
                served.backpressure = true;
                break;
            }
            match self.serve_one(conn, &input[pos..]) {
                Ok(Some(used)) => pos += used,
                Ok(None) => break,
                Err(e) => {
                    debug!(core = self.core, status = e.status().as_u16(), reason = ?e, "rejecting request");
                    self.pool.ensure(&mut conn.out);
                    encode::write_error(
                        &mut conn.out,
                        e.status(),
                        self.date.get(),
                        &self.server_header,
                    );
                    conn.close_after_flush = true;
                    self.drop_chunked(conn);
                    pos = input.len();
                }
            }
        }
        served.consumed = pos;
        served
    }

    /// Serves the request at the start of `input`: `Ok(Some(len))` when it was
    /// complete and answered, `Ok(None)` when more bytes are needed.
    fn serve_one(&mut self, conn: &mut Conn, input: &[u8]) -> Result<Option<usize>, ParseError> {
        if let ParseStatus::Partial = parse_head(input, &self.limits, &mut self.head)? {
            return Ok(None);
        }
        let head_len = self.head.head_len;
        let rest = &input[head_len..];
        let (body, used): (&[u8], usize) = match self.head.body {
            BodyKind::None => (&[], head_len),
            BodyKind::Length(n) => {
                let n = n as usize; // <= limits.max_body, checked by the parser
                if rest.len() < n {
                    self.continue_if_expected(conn);
                    return Ok(None);
                }
                (&rest[..n], head_len + n)
            }
            BodyKind::Chunked => {
                let spare = &mut self.spare_chunked;
                let max_body = self.limits.max_body;
                let progress = conn.chunked.get_or_insert_with(|| {
                    spare.take().unwrap_or_else(|| {
                        Box::new(ChunkedProgress {
                            decoder: ChunkedDecoder::new(max_body),
                            body: Vec::new(),
                            raw_used: 0,
                        })
                    })
                });
                match progress
                    .decoder
                    .decode(&rest[progress.raw_used..], &mut progress.body)?
                {
                    DecodeStatus::NeedMore { consumed } => {
                        progress.raw_used += consumed;
                        self.continue_if_expected(conn);
                        return Ok(None);
                    }
                    DecodeStatus::Complete { consumed } => {
                        progress.raw_used += consumed;
                        let used = head_len + progress.raw_used;
                        let progress = conn.chunked.take().expect("set above");
                        let deferred = self.respond(conn, &input[..head_len], &progress.body);
                        self.recycle_chunked(progress);
                        if deferred {
                            return Ok(None);
                        }
                        conn.continue_sent = false;
                        return Ok(Some(used));
                    }
                }
            }
        };
        if self.respond(conn, &input[..head_len], body) {
            return Ok(None);
        }
        conn.continue_sent = false;
        Ok(Some(used))
    }

    fn continue_if_expected(&mut self, conn: &mut Conn) {
        if self.head.expect_continue && !conn.continue_sent {
            self.pool.ensure(&mut conn.out);
            conn.out.extend_from_slice(encode::CONTINUE_100);
            conn.continue_sent = true;
        }
    }

    fn recycle_chunked(&mut self, mut progress: Box<ChunkedProgress>) {
        progress.decoder.reset();
        progress.body.clear();
        progress.raw_used = 0;
        if progress.body.capacity() <= 64 * 1024 {
            self.spare_chunked = Some(progress);
        }
    }

    /// Forgets a chunked body in progress (connection failing or closing).
    pub fn drop_chunked(&mut self, conn: &mut Conn) {
        if let Some(p) = conn.chunked.take() {
            self.recycle_chunked(p);
        }
    }

    /// Routes, runs the handler and encodes its response for the request in
    /// `self.head` (whose spans point into `head_bytes`). Returns true when the
    /// handler deferred (files to open first): nothing was written and the
    /// request is to run again.
    fn respond(&mut self, conn: &mut Conn, head_bytes: &[u8], body: &[u8]) -> bool {
        let head = &self.head;
        let mut close = !head.keep_alive || self.draining;
        let path = match head.path.get(head_bytes) {
            b"" => b"/", // absolute-form target without a path
            path => path,
        };
        let response = if path == b"*" {
            // OPTIONS * (the codec admits the asterisk form for OPTIONS only).
            Response::ok().header(ALLOW, "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS")
        } else {
            match self.app.router.lookup(&head.method, path, &mut self.params) {
                Lookup::Found(handler) => {
                    let req = Request {
                        buf: head_bytes,
                        head,
                        params: &self.params,
                        body,
                        core: self.core,
                    };
                    match catch_unwind(AssertUnwindSafe(|| handler(&req))) {
                        Ok(response) => response,
                        Err(panic) => {
                            let msg = panic_message(&panic);
                            error!(core = self.core, path = %String::from_utf8_lossy(path), "handler panicked: {msg}");
                            close = true;
                            plain(StatusCode::INTERNAL_SERVER_ERROR)
                        }
                    }
                }
                Lookup::NotFound => plain(StatusCode::NOT_FOUND),
                Lookup::MethodNotAllowed { allow } => {
                    let mut r = plain(StatusCode::METHOD_NOT_ALLOWED);
                    if let Ok(v) = HeaderValue::from_str(allow) {
                        r.headers.push((ALLOW, v));
                    }
                    r
                }
            }
        };
        let mut response = response;
        if let Some(prefetch) = response.prefetch.take() {
            conn.prefetch = Some(prefetch);
            return true;
        }
        if self.access_log {
            info!(
                target: "access",
                core = self.core,
                "\"{} {}\" {} {}",
                head.method,
                String::from_utf8_lossy(head.target.get(head_bytes)),
                response.status.as_u16(),
                response.body.len().map_or_else(|| "-".to_string(), |n| n.to_string()),
            );
        }
        let is_head = head.method == Method::HEAD;
        let version = head.version;
        self.pool.ensure(&mut conn.out);
        let parts = write_response(
            &mut conn.out,
            response,
            &WriteParams {
                date: self.date.get(),
                server: &self.server_header,
                is_head,
                http10: version == Version::Http10,
                close,
            },
        );
        if !parts.is_empty() {
            conn.outgoing = Some(Box::new(Outgoing {
                parts,
                ..Outgoing::default()
            }));
        }
        if close {
            conn.close_after_flush = true;
        }
        false
    }
}

/// Bodies at least this large are sent from their own memory rather than
/// copied into the write buffer. Below it, copying into the head's buffer
/// (one send) is cheaper than a second send op: a 64 KiB static file took
/// 14.8 us of server CPU per request sent in place, 12.7 us copied.
const SEND_IN_PLACE_MIN: usize = 256 * 1024;

/// Per-response facts the encoder needs besides the response itself.
struct WriteParams<'a> {
    date: &'a [u8],
    server: &'a [u8],
    is_head: bool,
    http10: bool,
    close: bool,
}

/// Encodes `response` into `out`: head, then the body unless the method or
/// status forbids one. Body parts that should not be copied into `out` are
/// returned, to be sent after it.
fn write_response(
    out: &mut Vec<u8>,
    mut response: Response,
    p: &WriteParams<'_>,
) -> VecDeque<Part> {
    if response.invalid {
        response = plain(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let status = response.status;
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    // HTTP/1.0 has no chunked coding: a stream is collected to get its length.
    if p.http10 && matches!(response.body, Body::Stream(_)) {
        if let Body::Stream(stream) = std::mem::replace(&mut response.body, Body::Empty) {
            let mut all = Vec::new();
            for piece in stream {
                all.extend_from_slice(&piece);
            }
            response.body = Body::Vec(all);
        }
    }
    let length = match (&response.body, bodiless) {
        (_, true) => BodyLength::Omitted,
        (Body::Stream(_), false) => BodyLength::Chunked,
        (body, false) => BodyLength::Fixed(body.len().unwrap_or(0)),
    };
    let params = ResponseHeadParams {
        status,
        date: p.date,
        server: p.server,
        length,
        close: p.close,
        keep_alive_10: p.http10 && !p.close,
    };
    let content_type = response
        .content_type
        .as_ref()
        .map(|v| (&b"content-type"[..], v.as_bytes()));
    let extra = response
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()));
    encode::write_head(out, &params, content_type.into_iter().chain(extra));
    let mut later = VecDeque::new();
    if p.is_head || bodiless {
        return later;
    }
    match response.body {
        Body::Stream(stream) => {
            for piece in stream {
                encode::write_chunk(out, &piece);
            }
            encode::write_last_chunk(out);
        }
        Body::Parts(parts) => {
            for part in parts {
                match part {
                    Part::Bytes(b) if later.is_empty() && b.len() < SEND_IN_PLACE_MIN => {
                        out.extend_from_slice(&b)
                    }
                    part if part.is_empty() => {}
                    part => later.push_back(part),
                }
            }
        }
        Body::Bytes(b) if b.len() >= SEND_IN_PLACE_MIN => later.push_back(Part::Bytes(b)),
        Body::Vec(v) if v.len() >= SEND_IN_PLACE_MIN => {
            later.push_back(Part::Bytes(Bytes::from(v)))
        }
        body => out.extend_from_slice(body.as_bytes().unwrap_or_default()),
    }
    later
}

/// A plain-text response whose body is the status line's text.
fn plain(status: StatusCode) -> Response {
    let text: &'static str = match status {
        StatusCode::NOT_FOUND => "404 Not Found\n",
        StatusCode::METHOD_NOT_ALLOWED => "405 Method Not Allowed\n",
        _ => "500 Internal Server Error\n",
    };
    Response::new(status)
        .content_type_static("text/plain; charset=utf-8")
        .body(text)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}
