//! Routing a parsed request, calling its handler (panics caught) and
//! encoding the response into the connection's write buffer: large bodies
//! and files are queued as parts that are sent without being copied.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::Bytes;

use ::http::header::{HeaderValue, ALLOW};
use ::http::{Method, StatusCode};
use tracing::error;

use crate::runtime::executor::panic_message;

use super::stream::{Framing, StreamOut};
use super::Exchange;
use crate::app::Resolved;
use crate::conn::{Conn, Outgoing};
use crate::handler::{
    AsyncBody, Body, Deferred, HandlerKind, Origin, Part, Pending, PipeReader, Reply, Request,
    Response,
};
use crate::http::encode::{self, BodyLength, ResponseHeadParams};
use crate::http::head::Version;
use crate::middleware;
use crate::runtime::access;
use crate::runtime::executor::with_core;
use crate::runtime::timer::Millis;

impl Exchange {
    /// Routes, runs the handler and encodes its response for the request in
    /// `self.head` (whose spans point into `head_bytes`). `streaming`: the
    /// body is still arriving, through this pipe (async handlers only).
    /// Returns the answer when the handler could not give it yet: nothing
    /// was written.
    pub(super) fn respond(
        &mut self,
        conn: &mut Conn,
        head_bytes: &[u8],
        body: &[u8],
        streaming: Option<PipeReader>,
    ) -> Option<Pending> {
        // Who the client is, once for the handler, its layers and the log.
        let client = self.client(conn, head_bytes);
        self.note_request(conn, head_bytes, client);
        let origin = self.origin(conn, client);
        let head = &self.head;
        let mut close = !head.keep_alive || self.draining;
        let path = match head.path.get(head_bytes) {
            b"" => b"/", // absolute-form target without a path
            path => path,
        };
        // Made by the framework, not a handler (see the middleware below).
        let mut framework_answer = path == b"*";
        let reply = if path == b"*" {
            // OPTIONS * (the codec admits the asterisk form for OPTIONS only).
            let mut r = Response::ok();
            r.headers.push((ALLOW, self.app.options_allow().clone()));
            r.into()
        } else {
            match self.app.resolve(&head.method, path, &mut self.params) {
                Resolved::Handler(handler) => {
                    let (params, at) = (&self.params, origin);
                    let call = || match &handler.0 {
                        HandlerKind::Sync(f) => {
                            Request::with_borrowed(head_bytes, head, params, body, at, f)
                        }
                        HandlerKind::AsyncBare(f) => f(),
                        HandlerKind::Async(f) => f(Request::owned(
                            head_bytes, head, params, body, at, streaming,
                        )),
                    };
                    match catch_unwind(AssertUnwindSafe(call)) {
                        Ok(response) => response,
                        Err(panic) => {
                            let msg = panic_message(&panic);
                            error!(core = self.core, path = %String::from_utf8_lossy(path), "handler panicked: {msg}");
                            close = true;
                            framework_answer = true; // its layers did not see it
                            plain(StatusCode::INTERNAL_SERVER_ERROR).into()
                        }
                    }
                }
                Resolved::NotFound => {
                    framework_answer = true;
                    plain(StatusCode::NOT_FOUND).into()
                }
                Resolved::MethodNotAllowed { allow } => {
                    framework_answer = true;
                    let mut r = plain(StatusCode::METHOD_NOT_ALLOWED);
                    if let Ok(v) = HeaderValue::from_str(allow) {
                        r.headers.push((ALLOW, v));
                    }
                    r.into()
                }
            }
        };
        // The framework's own answers (404, 405, OPTIONS *) go through the
        // app's middleware too; handlers were wrapped as the app started.
        let reply = match reply {
            Reply::Ready(r) if framework_answer => {
                Reply::Ready(self.through_app_layers(origin, head_bytes, body, r))
            }
            other => other,
        };
        let head = &self.head;
        let deferred = Deferred {
            is_head: head.method == Method::HEAD,
            http10: head.version == Version::Http10,
            close,
            method: crate::metrics::method_class(&head.method),
        };
        let response = match reply {
            Reply::Ready(response) => response,
            Reply::Spawn(task) => {
                // The request is consumed now (its handler owns a copy). A
                // handler that answers on its first poll is answered here;
                // else its response comes back as an answer.
                let owner = self.owner;
                let (id, answer) =
                    with_core("an async handler", |core| core.spawn_now(task, owner));
                match answer {
                    Some(a) => {
                        let mut d = deferred;
                        let response = a.response.unwrap_or_else(|| {
                            d.close = true;
                            plain(StatusCode::INTERNAL_SERVER_ERROR)
                        });
                        self.encode(conn, response, d, a.took);
                    }
                    None => conn.http.pending = Some(Pending::Task(id, deferred)),
                }
                return None;
            }
            Reply::Pending(pending) => return Some(pending),
        };
        self.encode(conn, response, deferred, 0);
        None
    }

    /// Before a `100 Continue`: a request no route takes is answered now
    /// (404 or 405, and the connection closes), so the client does not send
    /// a body for nothing. True when it was answered.
    pub(super) fn refuse_unrouted(&mut self, conn: &mut Conn, head_bytes: &[u8]) -> bool {
        let head = &self.head;
        let path = match head.path.get(head_bytes) {
            b"" => b"/",
            path => path,
        };
        let response = match self.app.resolve(&head.method, path, &mut self.params) {
            _ if path == b"*" => return false,
            Resolved::Handler(_) => return false,
            Resolved::NotFound => plain(StatusCode::NOT_FOUND),
            Resolved::MethodNotAllowed { allow } => {
                let mut r = plain(StatusCode::METHOD_NOT_ALLOWED);
                if let Ok(v) = HeaderValue::from_str(allow) {
                    r.headers.push((ALLOW, v));
                }
                r
            }
        };
        self.refuse(conn, head_bytes, response);
        true
    }

    /// Answers the request in `self.head` with a framework error, through
    /// the app's middleware, without reading its body: the connection
    /// closes after it (a 404 before `100 Continue`, a 413, a chunked body
    /// that breaks its framing).
    pub(super) fn refuse(&mut self, conn: &mut Conn, head_bytes: &[u8], response: Response) {
        let client = self.client(conn, head_bytes);
        self.note_request(conn, head_bytes, client);
        let origin = self.origin(conn, client);
        let response = self.through_app_layers(origin, head_bytes, &[], response);
        let head = &self.head;
        let deferred = Deferred {
            is_head: head.method == Method::HEAD,
            http10: head.version == Version::Http10,
            close: true,
            method: crate::metrics::method_class(&head.method),
        };
        self.encode(conn, response, deferred, 0);
        // Its body was not read (or not to its end): the client may still
        // be sending it, so the close lingers rather than resetting the
        // connection under the answer (found by a new user: a chunked body
        // refused mid-way drew a reset while the client sent).
        conn.end_and_linger();
    }

    /// A response the framework made for the request in `self.head`, as
    /// the app's middleware leaves it (its `before` hooks may answer
    /// instead: a refused login stays a 401).
    fn through_app_layers(
        &mut self,
        origin: Origin,
        head_bytes: &[u8],
        body: &[u8],
        response: Response,
    ) -> Response {
        let layers = &self.app.layers;
        if layers.is_empty() {
            return response;
        }
        Request::with_borrowed(head_bytes, &self.head, &self.params, body, origin, |req| {
            match middleware::before(layers, req) {
                Ok(memos) => middleware::after(layers, memos, response),
                Err(refused) => refused,
            }
        })
    }

    /// An async handler's answer (no response: it panicked) for the request the
    /// connection was waiting on; the requests held behind it are served.
    pub(crate) fn answer(
        &mut self,
        conn: &mut Conn,
        answer: crate::runtime::executor::Answer,
        mut deferred: Deferred,
        now: Millis,
    ) {
        self.now = now;
        let response = answer.response.unwrap_or_else(|| {
            deferred.close = true;
            plain(StatusCode::INTERNAL_SERVER_ERROR)
        });
        deferred.close |= self.draining || !conn.is_open();
        conn.http.pending = None;
        self.encode(conn, response, deferred, answer.took);
        self.resume(conn, now);
    }

    /// Encodes `response` into the connection's output.
    /// `took`: how long its handler's task ran (0 for an answer given when
    /// the request was dispatched).
    fn encode(&mut self, conn: &mut Conn, mut response: Response, mut d: Deferred, took: Millis) {
        // The response is changed in place and lent to the encoder: each
        // move of it is a 136-byte copy, a tenth of a pipelined request's
        // time in user space before this (issue 12's profile).
        self.metrics.requests[d.method as usize].add(1);
        self.metrics.response(response.status.as_u16(), took);
        d.close |= self.feed_before_response(conn) | response.close;
        // A response with an invalid header never reaches the wire: a 500,
        // as the app's error page formats it.
        if response.invalid {
            response = plain(StatusCode::INTERNAL_SERVER_ERROR);
        }
        self.apply_error_page(&mut response);
        if let Some(hsts) = &self.hsts {
            let name = ::http::header::STRICT_TRANSPORT_SECURITY;
            if !response.headers.iter().any(|(n, _)| *n == name) {
                response.headers.push((name, hsts.clone()));
            }
        }
        self.pool.ensure(&mut conn.http.out);
        let (status, before) = (response.status, conn.http.out.len());
        let later = write_response(
            &mut conn.http.out,
            &mut response,
            &mut self.ok_prefix,
            &WriteParams {
                date: self.date.get(),
                server: &self.server_header,
                is_head: d.is_head,
                http10: d.http10,
                close: d.close,
            },
        );
        let Later {
            parts,
            stream,
            close,
        } = later;
        if self.access.is_some() {
            let parts_len = parts.iter().map(Part::len).sum();
            self.note_answer(conn, status, before, parts_len, stream.is_some());
        }
        let stream = stream.map(|(body, framing)| StreamOut::start(body, framing, self.owner));
        if !parts.is_empty() || stream.is_some() {
            conn.http.outgoing = Some(Box::new(Outgoing {
                parts,
                stream,
                ..Outgoing::default()
            }));
        }
        if close {
            conn.end_after_flush();
        }
    }
}

impl Exchange {
    /// The client of the request in `self.head`: the connection's peer, or
    /// whom a trusted proxy names in `server.client_header`.
    fn origin(&self, conn: &Conn, client: crate::conn::PeerAddr) -> Origin {
        Origin {
            core: self.core,
            client,
            tls: conn.tls.is_some(),
        }
    }

    fn client(&self, conn: &Conn, head_bytes: &[u8]) -> crate::conn::PeerAddr {
        if self.trusted.is_empty() {
            return conn.peer;
        }
        let value = self.head.header_list(head_bytes, self.client_header.name());
        let client = self
            .trusted
            .client(conn.peer.get(), self.client_header, value.as_deref());
        crate::conn::PeerAddr::new(client)
    }

    /// For the access log: the request in `self.head` was dispatched.
    fn note_request(&self, conn: &mut Conn, head_bytes: &[u8], client: crate::conn::PeerAddr) {
        if self.access.is_none() {
            return;
        }
        let head = &self.head;
        let mut record = access::Record::new(client.get(), request_line(head_bytes));
        record.referer = head.header(head_bytes, "referer").map(Into::into);
        record.user_agent = head.header(head_bytes, "user-agent").map(Into::into);
        conn.http
            .access
            .get_or_insert_with(Default::default)
            .request(record);
    }

    /// For the access log: an answer's head and body went into the output
    /// (from `before` in the write buffer, then `parts_len` bytes of parts,
    /// then a stream if `streamed`).
    fn note_answer(
        &self,
        conn: &mut Conn,
        status: StatusCode,
        before: usize,
        parts_len: u64,
        streamed: bool,
    ) {
        if self.access.is_none() {
            return;
        }
        let written = &conn.http.out[before.min(conn.http.out.len())..];
        let head = memchr::memmem::find(written, b"\r\n\r\n").map_or(written.len(), |i| i + 4);
        let copied = (written.len() - head) as u64;
        let track = conn.http.access.get_or_insert_with(Default::default);
        if !track.awaiting() {
            // An answer to no noted request (none should be): still logged.
            track.request(access::Record::new(conn.peer.get(), b"-"));
        }
        let body = (!streamed).then_some(copied + parts_len);
        track.answered(status.as_u16(), head as u64, body);
        if streamed {
            track.queued(copied + parts_len);
        }
    }

    /// An error response as the app's error page formats it (the status and
    /// the extra headers kept); anything else is left as it is.
    fn apply_error_page(&self, response: &mut Response) {
        let (Some(page), Some(message)) = (&self.app.error_page, response.error.as_deref()) else {
            return;
        };
        let mut paged = page(response.status, message).status(response.status);
        paged.headers.extend(std::mem::take(&mut response.headers));
        paged.error = response.error.take();
        *response = paged;
    }

    /// A framework error for a request that could not be read (bad syntax,
    /// a limit, a timeout): the connection closes after it. The app's error
    /// page gets the reason too (`400 Bad Request: HTTP/1.1 request without
    /// Host`); the plain text answer is the status line's text.
    /// `line`: the request's first line as far as it came (for the log).
    pub(crate) fn write_error(
        &mut self,
        conn: &mut Conn,
        status: StatusCode,
        why: Option<&str>,
        line: &[u8],
    ) {
        if self.access.is_some() {
            let record = access::Record::new(conn.peer.get(), request_line(line));
            conn.http
                .access
                .get_or_insert_with(Default::default)
                .request(record);
        }
        self.pool.ensure(&mut conn.http.out);
        // The short form, unless an error page or HSTS must shape it.
        if self.app.error_page.is_none() && self.hsts.is_none() {
            self.metrics.requests[crate::metrics::OTHER_METHOD as usize].add(1);
            self.metrics.response(status.as_u16(), 0);
            let before = conn.http.out.len();
            encode::write_error(
                &mut conn.http.out,
                status,
                self.date.get(),
                &self.server_header,
            );
            return self.note_answer(conn, status, before, 0, false);
        }
        let d = Deferred {
            is_head: false,
            http10: false,
            close: true,
            method: crate::metrics::OTHER_METHOD,
        };
        self.encode(conn, refusal(status, why), d, 0);
    }
}

/// Bodies at least this large are not copied into the write buffer: they
/// go out from their own memory, gathered behind the head in one
/// `sendmsg` (see `worker::output`). Smaller ones are copied behind the
/// head, which is cheaper than the gather. Measured with a fresh server
/// per round, `taskset -c 0 wrk -t1 -c64 -d4s`, server on CPU 1, median
/// server CPU per request: 4 KiB copied 6.73 us, gathered 6.73; 8 KiB
/// 6.98 and 7.12; 16 KiB 9.02 and 7.65; 64 KiB 24 to 36 us copied (the
/// 64 KiB-plus-head write buffer was too big to pool, and every response
/// page-faulted a fresh one, more or less depending on how glibc's heap
/// lay: the slow mode of issue 12) and 12.6 gathered, in every round.
const SEND_GATHERED_MIN: usize = 16 * 1024;

/// What goes after the head and the bytes copied behind it.
struct Later {
    /// Parts sent from their own memory or spliced.
    parts: VecDeque<Part>,
    /// An async body, pumped as the client reads.
    stream: Option<(AsyncBody, Framing)>,
    /// The connection closes after this response.
    close: bool,
}

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
    response: &mut Response,
    ok: &mut encode::OkPrefix,
    p: &WriteParams<'_>,
) -> Later {
    // (An invalid response was replaced by `encode`.)
    // HTTP/1.0 has no chunked coding: a stream of unknown length is sent
    // until the connection closes.
    let until_close = p.http10 && matches!(&response.body, Body::Async(a) if a.len.is_none());
    let close = p.close || until_close;
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
        (Body::Async(_), false) if until_close => BodyLength::Omitted,
        (Body::Async(a), false) if a.len.is_none() => BodyLength::Chunked,
        (body, false) => BodyLength::Fixed(body.len().unwrap_or(0)),
    };
    let params = ResponseHeadParams {
        status,
        date: p.date,
        server: p.server,
        length,
        close,
        keep_alive_10: p.http10 && !close,
    };
    encode::write_head_with(
        out,
        ok,
        &params,
        response.content_type.as_ref(),
        &response.headers,
    );
    let mut later = Later {
        parts: VecDeque::new(),
        stream: None,
        close,
    };
    if p.is_head || bodiless {
        return later; // a stream is dropped unpolled
    }
    let parts = &mut later.parts;
    match std::mem::replace(&mut response.body, Body::Empty) {
        Body::Async(body) => {
            let framing = match body.len {
                _ if until_close => Framing::Close,
                Some(n) => Framing::Length(n),
                None => Framing::Chunked,
            };
            later.stream = Some((body, framing));
        }
        Body::Stream(stream) => {
            for piece in stream {
                encode::write_chunk(out, &piece);
            }
            encode::write_last_chunk(out);
        }
        Body::Parts(body_parts) => {
            for part in body_parts {
                match part {
                    Part::Bytes(b) if parts.is_empty() && b.len() < SEND_GATHERED_MIN => {
                        out.extend_from_slice(&b)
                    }
                    part if part.is_empty() => {}
                    part => parts.push_back(part),
                }
            }
        }
        Body::Bytes(b) if b.len() >= SEND_GATHERED_MIN => parts.push_back(Part::Bytes(b)),
        Body::Vec(v) if v.len() >= SEND_GATHERED_MIN => {
            parts.push_back(Part::Bytes(Bytes::from(v)))
        }
        body => out.extend_from_slice(body.as_bytes().unwrap_or_default()),
    }
    later
}

/// The answer to a request the codec refused: its status, and the reason
/// when there is one (`ParseError::detail`).
pub(crate) fn refusal(status: StatusCode, why: Option<&str>) -> Response {
    match why {
        Some(why) => detailed(status, why),
        None => plain(status),
    }
}

/// A framework-made error response with a reason after the status line's
/// text (a refused request's: what was wrong with it).
fn detailed(status: StatusCode, why: &str) -> Response {
    let reason = encode::reason(status);
    Response::error(status, format!("{} {reason}: {why}", status.as_str()))
}

/// A request's first line (leading empty lines skipped, at most 8 KiB),
/// or `-` when there is none.
fn request_line(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(bytes.len());
    let rest = &bytes[start..];
    let end = memchr::memchr2(b'\r', b'\n', rest)
        .unwrap_or(rest.len())
        .min(8192);
    match &rest[..end] {
        b"" => b"-",
        line => line,
    }
}

/// A framework-made error response: the status line's text.
pub(crate) fn plain(status: StatusCode) -> Response {
    let text = match status {
        StatusCode::NOT_FOUND => "404 Not Found\n",
        StatusCode::METHOD_NOT_ALLOWED => "405 Method Not Allowed\n",
        StatusCode::INTERNAL_SERVER_ERROR => "500 Internal Server Error\n",
        StatusCode::PAYLOAD_TOO_LARGE => "413 Payload Too Large\n",
        StatusCode::BAD_REQUEST => "400 Bad Request\n",
        _ => {
            let reason = encode::reason(status);
            return Response::error(status, format!("{} {reason}", status.as_str()));
        }
    };
    Response::static_error(status, text)
}
