//! One connection's bytes in, responses out: the part of the event loop that
//! runs between a recv completion and the next send. Pure: it works on a
//! connection's [`HttpState`](crate::conn::HttpState) and phase and touches
//! no ring, so it is unit-tested with byte literals (`tests.rs`).
//!
//! For each complete request in the input: parse the head (codec), wait for
//! or decode the body, route, call the handler (panics caught), encode the
//! response into the connection's `out` buffer (`respond.rs`). A request
//! that cannot be parsed gets its error status, `Connection: close`, and
//! nothing after it in the input is read.
//!
//! Backpressure sits between requests only: serving stops before the next
//! request while output waits (more than [`OUT_HIGH_WATER`] bytes, body
//! parts, an answer in progress), and the worker stops reading only while
//! such requests are held. A request whose head or body is still arriving
//! is always read to its end, within the codec's limits.
//!
//! A read EOF means the peer will send nothing more, not that it stopped
//! reading: requests that are complete are still answered, the partial one
//! behind them is dropped, and the connection closes once all is sent.

mod feed;
mod respond;
pub(crate) mod stream;
#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::app::App;
use crate::app::Resolved;
use crate::conn::{BodyProgress, BufPool, ChunkedProgress, Conn, FeedFraming, HeadScan, Waiting};
use crate::handler::{BodyError, HandlerKind};
use crate::http::body::{ChunkedDecoder, DecodeStatus};
use crate::http::date::DateCache;
use crate::http::encode;
use crate::http::field_lines;
use crate::http::head::{
    parse_head_after, BodyKind, Limits, ParseError, ParseStatus, RequestHead,
    MAX_LEADING_EMPTY_LINES,
};
use crate::router::Params;
use crate::runtime::timer::{Clock, Deadline, Millis};
use respond::refusal;

/// Stop serving pipelined requests once this much output waits for the
/// socket; the rest is served when the send drains.
pub(crate) const OUT_HIGH_WATER: usize = 256 * 1024;

/// Held-back input beyond this pauses reading (a peer that pipelines faster
/// than it reads). Never applies to a request still arriving.
pub(crate) const IN_HIGH_WATER: usize = 256 * 1024;

/// The read timeouts the exchange sets as requests progress.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadTimeouts {
    pub(crate) keepalive: Duration,
    pub(crate) header: Duration,
    pub(crate) body: Duration,
}

/// Why serving stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// Every byte was consumed (or discarded after the last response).
    Done,
    /// The request at the front needs more head bytes.
    NeedHead,
    /// The request at the front has its head; its body is still arriving.
    NeedBody,
    /// Complete requests wait for our output or an answer in progress.
    Held,
}

/// What serving one request did.
enum Step {
    /// Answered; this many input bytes were its.
    Served(usize),
    NeedHead,
    NeedBody,
    /// The handler's answer is pending; the request stays at the front.
    Deferred,
}

/// Everything a core needs to turn request bytes into response bytes.
pub(crate) struct Exchange {
    pub(crate) app: App,
    pub(crate) limits: Limits,
    pub(crate) date: DateCache,
    /// The start of a 200's head, rebuilt when the date changes.
    pub(crate) ok_prefix: crate::http::encode::OkPrefix,
    pub(crate) server_header: Box<[u8]>,
    /// `Strict-Transport-Security` for every response (`[tls] hsts`).
    pub(crate) hsts: Option<::http::HeaderValue>,
    pub(crate) pool: BufPool,
    pub(crate) core: usize,
    pub(crate) timeouts: ReadTimeouts,
    /// Set while the worker drains: every response says `Connection: close`.
    pub(crate) draining: bool,
    /// One `access` log line per request.
    /// The access log, when it is on.
    pub(crate) access: Option<crate::runtime::access::AccessLog>,
    /// Proxies whose PROXY header and forwarding fields name the client.
    pub(crate) trusted: crate::net::TrustedProxies,
    /// Every connection starts with a PROXY protocol header.
    pub(crate) proxy_protocol: bool,
    /// The field trusted proxies name the client in.
    pub(crate) client_header: crate::net::ClientHeader,
    /// This core's counters (the worker counts on them too).
    pub(crate) metrics: std::sync::Arc<crate::metrics::Counters>,
    /// The loop's clock as of the bytes or answer being handled.
    pub(crate) now: Millis,
    /// The connection being served, as (slot, generation): the owner of
    /// the tasks its async handlers start. Set by the worker before each call.
    pub(crate) owner: (u32, u32),
    head: RequestHead,
    params: Params,
    spare_chunked: Option<Box<BodyProgress>>,
}

impl Exchange {
    /// A core's exchange around its app.
    pub(crate) fn new(
        app: App,
        limits: Limits,
        server_header: &str,
        core: usize,
        timeouts: ReadTimeouts,
    ) -> Exchange {
        Exchange {
            app,
            limits,
            date: DateCache::new(),
            ok_prefix: Default::default(),
            server_header: server_header.as_bytes().into(),
            hsts: None,
            pool: BufPool::new(),
            core,
            timeouts,
            draining: false,
            access: None,
            trusted: crate::net::TrustedProxies::default(),
            proxy_protocol: false,
            client_header: crate::net::ClientHeader::XForwardedFor,
            metrics: Default::default(),
            now: 0,
            owner: (0, 0),
            head: RequestHead::new(),
            params: Params::new(),
            spare_chunked: None,
        }
    }

    /// A core's exchange around its app, with `config`'s limits, timeouts
    /// and Server header.
    pub(crate) fn for_config(app: App, config: &crate::config::Config, core: usize) -> Exchange {
        let limits = Limits {
            max_request_target: config.limits.max_request_target,
            max_header_bytes: config.limits.max_header_bytes,
            max_headers: config.limits.max_headers,
            max_body: config.limits.max_body,
        };
        let timeouts = ReadTimeouts {
            keepalive: config.timeouts.keepalive(),
            header: config.timeouts.header(),
            body: config.timeouts.body(),
        };
        let mut ex = Exchange::new(app, limits, &config.server.server_header, core, timeouts);
        // Checked by Config::validate.
        ex.trusted =
            crate::net::TrustedProxies::parse(&config.server.trusted_proxies).unwrap_or_default();
        ex.proxy_protocol = config.server.proxy_protocol;
        ex.hsts = (config.tls.hsts_value()).and_then(|v| ::http::HeaderValue::from_str(&v).ok());
        ex.client_header = config.server.client_header;
        ex
    }

    /// Bytes arrived on `conn` at `now`: serve every complete request, keep
    /// the rest, set the read deadline that now applies.
    pub(crate) fn receive(&mut self, conn: &mut Conn, data: &[u8], now: Millis) {
        if !conn.takes_input() {
            return; // the last response is queued: what follows is discarded
        }
        self.now = now;
        if conn.http.waiting == Waiting::Proxy {
            return self.receive_proxy_header(conn, data, now);
        }
        let (consumed, stop) = if conn.http.inbuf.is_empty() {
            // The common case: parse straight from the provided buffer.
            let (used, stop) = self.serve(conn, data);
            if used < data.len() && conn.takes_input() {
                self.pool.ensure(&mut conn.http.inbuf);
                conn.http.inbuf.extend_from_slice(&data[used..]);
            }
            (used, stop)
        } else {
            // A request split across reads: the one copy, into the connection.
            conn.http.inbuf.extend_from_slice(data);
            self.serve_buffered(conn)
        };
        self.settle(conn, stop, consumed > 0, true, now);
    }

    /// The start of a connection that must begin with a PROXY header: once
    /// it is whole, its client replaces the TCP peer (if that is a trusted
    /// proxy) and what follows is served; a broken one ends the connection.
    fn receive_proxy_header(&mut self, conn: &mut Conn, data: &[u8], now: Millis) {
        if self.proxy_header_step(conn, data) && !conn.http.inbuf.is_empty() {
            let (consumed, stop) = self.serve_buffered(conn);
            self.settle(conn, stop, consumed > 0, true, now);
        }
    }

    /// The PROXY header of a TLS connection: once it is whole, the bytes
    /// after it (TLS records, for the session).
    pub(crate) fn proxy_header(&mut self, conn: &mut Conn, data: &[u8]) -> Option<Vec<u8>> {
        if !self.proxy_header_step(conn, data) {
            return None;
        }
        // The pooled input buffer itself: the caller gives it back.
        Some(std::mem::take(&mut conn.http.inbuf))
    }

    /// Takes `data` toward the PROXY header; true once it is whole (and
    /// removed from the input, which keeps what followed it).
    fn proxy_header_step(&mut self, conn: &mut Conn, data: &[u8]) -> bool {
        use crate::net::proxy_protocol::{parse, Header};
        self.pool.ensure(&mut conn.http.inbuf);
        conn.http.inbuf.extend_from_slice(data);
        match parse(&conn.http.inbuf) {
            Header::Partial => false,
            Header::Invalid(why) => {
                // nginx logs a broken header too: a misconfigured balancer
                // shows here first.
                tracing::info!(
                    core = self.core,
                    client = %conn.peer.get(),
                    "closing a connection without a valid PROXY header: {why}"
                );
                conn.http.inbuf.clear();
                conn.http.waiting = Waiting::Idle;
                conn.end_after_flush();
                false
            }
            Header::Complete { len, source } => {
                if let Some(source) = source {
                    if self.trusted.contains(conn.peer.get().ip()) {
                        conn.peer = crate::conn::PeerAddr::new(source);
                    }
                }
                conn.http.inbuf.drain(..len);
                conn.http.waiting = Waiting::Idle;
                true
            }
        }
    }

    /// Our output drained, or a pending answer finished: serve the requests
    /// held back.
    pub(crate) fn resume(&mut self, conn: &mut Conn, now: Millis) {
        self.now = now;
        let feeding = conn.http.is_feeding();
        if conn.http.waiting != Waiting::Held
            || (!feeding && (!conn.is_open() || conn.http.must_hold(OUT_HIGH_WATER)))
        {
            // Nothing held to serve; but an answer that was pending may have
            // been what an EOF was waiting for.
            return self.end_if_eof(conn);
        }
        let (consumed, stop) = self.serve_buffered(conn);
        self.settle(conn, stop, consumed > 0, false, now);
    }

    /// The peer will send nothing more (read EOF).
    pub(crate) fn peer_closed(&mut self, conn: &mut Conn) {
        conn.http.peer_eof = true;
        // A body streaming to its handler: the bytes already received still
        // go to it (they wait in the input while its pipe is full); only a
        // body that cannot end from them fails, now or when they are fed.
        if conn.http.inbuf.is_empty() {
            self.fail_feed(conn, BodyError::Incomplete);
        }
        self.end_if_eof(conn);
    }

    /// Gives up on the partial request (timeout): drops its bytes.
    pub(crate) fn drop_input(&mut self, conn: &mut Conn) {
        conn.http.inbuf.clear();
        conn.http.scan = HeadScan::default();
        self.drop_chunked(conn);
    }

    /// Forgets a chunked body in progress (connection failing or closing).
    pub(crate) fn drop_chunked(&mut self, conn: &mut Conn) {
        if let Some(p) = conn.http.take_collecting() {
            self.recycle_chunked(p);
        }
    }

    /// Serves from the connection's own buffer; drops what was consumed.
    fn serve_buffered(&mut self, conn: &mut Conn) -> (usize, Stop) {
        let input = std::mem::take(&mut conn.http.inbuf);
        let (used, stop) = self.serve(conn, &input);
        conn.http.inbuf = input;
        conn.http.inbuf.drain(..used); // all of it once the connection is not open
        (used, stop)
    }

    /// Serves every complete request at the start of `input`; returns the
    /// bytes consumed and why it stopped.
    fn serve(&mut self, conn: &mut Conn, input: &[u8]) -> (usize, Stop) {
        let mut pos = 0;
        while pos < input.len() {
            if conn.http.is_feeding() {
                // The front of the input is a body streaming to its handler.
                let (used, fed) = self.feed(conn, &input[pos..]);
                pos += used;
                match fed {
                    feed::Fed::Done => continue,
                    feed::Fed::NeedMore | feed::Fed::Full => return (pos, self.feed_stop(conn)),
                    feed::Fed::Ended => return (input.len(), Stop::Done),
                }
            }
            if !conn.is_open() {
                // Bytes after the last request (pipelined past a
                // `Connection: close`): discarded, and more may follow.
                conn.linger = true;
                return (input.len(), Stop::Done);
            }
            if conn.http.must_hold(OUT_HIGH_WATER) {
                return (pos, Stop::Held);
            }
            match self.serve_one(conn, &input[pos..]) {
                Ok(Step::Served(used)) => {
                    pos += used;
                    conn.blank_lines = 0;
                    conn.http.scan = HeadScan::default();
                    conn.http.continue_sent = false;
                }
                Ok(Step::NeedHead) => return (pos, Stop::NeedHead),
                Ok(Step::NeedBody) => return (pos, Stop::NeedBody),
                Ok(Step::Deferred) => return (pos, Stop::Held),
                Err(e) => {
                    tracing::debug!(core = self.core, status = e.status().as_u16(), reason = ?e, "rejecting request");
                    self.write_error(conn, e.status(), e.detail(), &input[pos..]);
                    conn.end_and_linger();
                    self.drop_chunked(conn);
                    return (input.len(), Stop::Done);
                }
            }
        }
        (pos, self.feed_stop(conn))
    }

    /// After serving: drop decoded chunk framing, set `waiting` and the read
    /// deadline, and after an EOF give up what can no longer complete.
    /// `started`: a request was consumed (a partial head behind it is a new
    /// request); `arrived`: bytes came in (a body's deadline is extended).
    fn settle(&mut self, conn: &mut Conn, stop: Stop, started: bool, arrived: bool, now: Millis) {
        self.compact_chunked(conn);
        let t = self.timeouts;
        let mut stop = stop;
        if matches!(stop, Stop::NeedHead)
            && conn.http.inbuf.iter().all(|&b| b == b'\r' || b == b'\n')
        {
            if self.drop_blank_lines(conn) {
                stop = Stop::Done; // too many of them: answered, closing
            } else if conn.http.inbuf.is_empty() {
                // Only empty lines since the last request (an old client's
                // CRLF after a body): ignored (RFC 9112 2.2, as nginx skips
                // them). The connection stays idle: the keep-alive timeout
                // goes on (not the header timeout), and at the cap it may
                // make way.
                let http = &mut conn.http;
                if !started && http.waiting == Waiting::Idle {
                    if http.inbuf.capacity() > 0 {
                        self.pool.put(std::mem::take(&mut http.inbuf));
                    }
                    return self.end_if_eof(conn);
                }
                stop = Stop::Done;
            } // else a CR waits for its LF: a head has begun
        }
        let http = &mut conn.http;
        match stop {
            Stop::Done => {
                if http.inbuf.capacity() > 0 && http.inbuf.is_empty() {
                    self.pool.put(std::mem::take(&mut http.inbuf));
                }
                http.waiting = Waiting::Idle;
                http.served = true;
                conn.read_deadline = Deadline::at(Clock::deadline(now, t.keepalive));
            }
            Stop::NeedHead => {
                // The header timeout counts from the head's first byte.
                if http.waiting != Waiting::Head || started {
                    http.waiting = Waiting::Head;
                    conn.read_deadline = Deadline::at(Clock::deadline(now, t.header));
                }
            }
            Stop::NeedBody => {
                if http.waiting != Waiting::Body || started || arrived {
                    http.waiting = Waiting::Body;
                    conn.read_deadline = Deadline::at(Clock::deadline(now, t.body));
                }
            }
            Stop::Held => {
                http.waiting = Waiting::Held; // no read timeout: see Conn::due
            }
        }
        self.end_if_eof(conn);
    }

    /// The input holds only empty lines (and perhaps a CR whose LF is still
    /// to come): they are counted toward the limit on empty lines before a
    /// request line and dropped, the CR kept. Over the limit the request is
    /// refused as the parser refuses it in one read (true: answered).
    fn drop_blank_lines(&mut self, conn: &mut Conn) -> bool {
        let lines = memchr::memchr_iter(b'\n', &conn.http.inbuf).count();
        let carried = (conn.blank_lines as usize).saturating_add(lines);
        conn.blank_lines = carried.min(u8::MAX as usize) as u8;
        let http = &mut conn.http;
        let trailing_cr = http.inbuf.last() == Some(&b'\r');
        http.inbuf.clear();
        http.scan = HeadScan::default();
        if carried > MAX_LEADING_EMPTY_LINES {
            let e = ParseError::BadRequest("too many empty lines before the request line");
            self.write_error(conn, e.status(), e.detail(), &[]);
            conn.end_and_linger();
            return true;
        }
        if trailing_cr {
            http.inbuf.push(b'\r');
        }
        false
    }

    /// After the peer's EOF, once no complete request is held back: what is
    /// left can never complete; drop it and close after the last response.
    fn end_if_eof(&mut self, conn: &mut Conn) {
        if conn.http.peer_eof
            && conn.http.waiting != Waiting::Held
            && conn.http.pending.is_none()
            && !conn.http.is_feeding()
        {
            conn.http.inbuf.clear();
            self.drop_chunked(conn);
            conn.end_after_flush();
        }
    }

    /// Whether the partial head at the front of `input` may have ended, or
    /// gone bad, since the last look. The request line is parsed as it
    /// arrives (a garbage line is refused before it ends), and a head over
    /// the limit is parsed (for its 431). After it, the field-line parser
    /// itself judges the lines from the one that was still arriving at the
    /// last look, so a head is refused as soon as it would be in one read;
    /// while that line still has no LF, only its new bytes are looked at,
    /// so bytes trickling in are scanned once.
    fn head_may_be_complete(&self, scan: &mut HeadScan, input: &[u8]) -> bool {
        let scanned = (scan.scanned as usize).min(input.len());
        // The request line is checked by the parser until it is complete
        // (after leading empty lines, always: they are few and bounded).
        let last_line = match memchr::memrchr(b'\n', &input[..scanned]) {
            Some(lf) if !matches!(input.first(), Some(b'\r' | b'\n')) => lf + 1,
            _ => return true,
        };
        if input.len() > self.limits.max_header_bytes {
            return true;
        }
        let fresh = &input[scanned..];
        let judged = if last_line == scanned || memchr::memchr(b'\n', fresh).is_some() {
            field_lines::parse_field_lines(input, last_line, usize::MAX, |_| {})
        } else if bad_anywhere_in_a_field_line(&input[scanned - 1..]) {
            return true;
        } else {
            Ok(None)
        };
        if judged != Ok(None) {
            return true; // ended, or refused
        }
        scan.scanned = input.len() as u32;
        false
    }

    /// Serves the request at the start of `input`.
    fn serve_one(&mut self, conn: &mut Conn, input: &[u8]) -> Result<Step, ParseError> {
        if !self.head_may_be_complete(&mut conn.http.scan, input) {
            return Ok(Step::NeedHead);
        }
        let blank_lines = conn.blank_lines as usize;
        let parsed = match parse_head_after(input, &self.limits, &mut self.head, blank_lines) {
            Err(e) if self.head.head_len > 0 => {
                // A whole head refused for its framing fields (a body over
                // the limit, no Host, Transfer-Encoding with Content-Length
                // ...): answered as a request, so its middleware sees the
                // refusal; the body is not read.
                tracing::debug!(core = self.core, reason = ?e, "refusing a request");
                let head_bytes = &input[..self.head.head_len];
                self.params.clear();
                self.refuse(conn, head_bytes, refusal(e.status(), e.detail()));
                return Ok(Step::Served(input.len()));
            }
            other => other?,
        };
        if let ParseStatus::Partial = parsed {
            conn.http.scan = HeadScan {
                scanned: input.len() as u32,
            };
            return Ok(Step::NeedHead);
        }
        let head_len = self.head.head_len;
        let rest = &input[head_len..];
        let body_kind = self.head.body;
        match body_kind {
            BodyKind::None => Ok(self.respond_then(conn, &input[..head_len], &[], head_len)),
            BodyKind::Length(n) if rest.len() < n as usize && self.routes_to_async(input) => {
                if self.refused_before_body(conn, &input[..head_len]) {
                    return Ok(Step::Served(input.len()));
                }
                let left = n - rest.len() as u64;
                let framing = FeedFraming::Length(left);
                Ok(self.stream_to_handler(conn, &input[..head_len], rest, framing, input.len()))
            }
            BodyKind::Length(n) => {
                let n = n as usize; // <= limits.max_body, checked by the parser
                if rest.len() < n {
                    if self.refused_before_body(conn, &input[..head_len]) {
                        return Ok(Step::Served(input.len()));
                    }
                    self.continue_if_expected(conn);
                    return Ok(Step::NeedBody);
                }
                Ok(self.respond_then(conn, &input[..head_len], &rest[..n], head_len + n))
            }
            BodyKind::Chunked => {
                let mut boxed = match conn.http.take_collecting() {
                    Some(p) => p,
                    None => self.new_chunked(head_len),
                };
                let progress = boxed.collecting();
                let status = progress
                    .decoder
                    .decode(&rest[progress.raw_used..], &mut progress.body);
                match status {
                    Err(e) => {
                        // The head is whole: the refusal is answered as the
                        // request's (its middleware sees it).
                        self.recycle_chunked(boxed);
                        tracing::debug!(core = self.core, reason = ?e, "refusing a chunked body");
                        self.params.clear();
                        self.refuse(conn, &input[..head_len], refusal(e.status(), e.detail()));
                        Ok(Step::Served(input.len()))
                    }
                    Ok(DecodeStatus::NeedMore { consumed }) => {
                        progress.raw_used += consumed;
                        if self.refused_before_body(conn, &input[..head_len]) {
                            self.recycle_chunked(boxed);
                            return Ok(Step::Served(input.len()));
                        }
                        if self.routes_to_async(input) {
                            // Its handler takes the body as it arrives.
                            let progress = boxed.collecting();
                            let framing = FeedFraming::Chunked(progress.decoder.clone());
                            let first = std::mem::take(&mut progress.body);
                            let used = head_len + progress.raw_used;
                            self.recycle_chunked(boxed);
                            let head_bytes = &input[..head_len];
                            let step =
                                self.stream_to_handler(conn, head_bytes, &first, framing, used);
                            return Ok(step);
                        }
                        conn.http.body = Some(boxed);
                        self.continue_if_expected(conn);
                        Ok(Step::NeedBody)
                    }
                    Ok(DecodeStatus::Complete { consumed }) => {
                        progress.raw_used += consumed;
                        let used = head_len + progress.raw_used;
                        let body = std::mem::take(&mut progress.body);
                        let answer = self.respond(conn, &input[..head_len], &body, None);
                        boxed.collecting().body = body;
                        match answer {
                            Some(pending) => {
                                // Kept, complete, for the rerun.
                                conn.http.pending = Some(pending);
                                conn.http.body = Some(boxed);
                                Ok(Step::Deferred)
                            }
                            None => {
                                self.recycle_chunked(boxed);
                                Ok(Step::Served(used))
                            }
                        }
                    }
                }
            }
        }
    }

    fn respond_then(
        &mut self,
        conn: &mut Conn,
        head_bytes: &[u8],
        body: &[u8],
        used: usize,
    ) -> Step {
        match self.respond(conn, head_bytes, body, None) {
            Some(pending) => {
                conn.http.pending = Some(pending);
                Step::Deferred
            }
            None => Step::Served(used),
        }
    }

    /// Whether the request in `self.head` (its head at the start of
    /// `input`) goes to an async handler, which takes its body as it arrives.
    fn routes_to_async(&mut self, input: &[u8]) -> bool {
        let head = &self.head;
        let path = match head.path.get(input) {
            b"" => b"/",
            path => path,
        };
        matches!(
            self.app.resolve(&head.method, path, &mut self.params),
            Resolved::Handler(h) if matches!(h.0, HandlerKind::Async(_) | HandlerKind::AsyncBare(_))
        )
    }

    /// A request that expects `100 Continue` but that no route takes is
    /// answered before its body (see `refuse_unrouted`).
    fn refused_before_body(&mut self, conn: &mut Conn, head_bytes: &[u8]) -> bool {
        self.head.expect_continue
            && !conn.http.continue_sent
            && self.refuse_unrouted(conn, head_bytes)
    }

    fn continue_if_expected(&mut self, conn: &mut Conn) {
        if self.head.expect_continue && !conn.http.continue_sent {
            self.pool.ensure(&mut conn.http.out);
            conn.http.push_interim(encode::CONTINUE_100);
            conn.http.continue_sent = true;
        }
    }

    fn new_chunked(&mut self, head_len: usize) -> Box<BodyProgress> {
        let mut boxed = self.spare_chunked.take().unwrap_or_else(|| {
            Box::new(BodyProgress::Collecting(ChunkedProgress {
                decoder: ChunkedDecoder::new(self.limits.max_body),
                body: Vec::new(),
                raw_used: 0,
                head_len: 0,
            }))
        });
        boxed.collecting().head_len = head_len;
        boxed
    }

    fn recycle_chunked(&mut self, mut boxed: Box<BodyProgress>) {
        let progress = boxed.collecting();
        progress.decoder.reset();
        progress.body.clear();
        progress.raw_used = 0;
        if progress.body.capacity() <= 64 * 1024 {
            self.spare_chunked = Some(boxed);
        }
    }

    /// Drops the raw chunked bytes the decoder has consumed from the input
    /// (the head stays: the request's spans point into it), so a chunked
    /// body costs its decoded size, not its raw size twice.
    fn compact_chunked(&mut self, conn: &mut Conn) {
        let http = &mut conn.http;
        let Some(BodyProgress::Collecting(p)) = http.body.as_deref_mut() else {
            return;
        };
        if p.raw_used > 0 && http.inbuf.len() >= p.head_len + p.raw_used {
            http.inbuf.drain(p.head_len..p.head_len + p.raw_used);
            p.raw_used = 0;
        }
    }
}

/// Whether `bytes`, the middle of a field line (the byte before the new
/// ones, then the new ones), hold what no field line may, name or value:
/// a control byte other than HTAB, DEL, or a CR not followed by its LF.
fn bad_anywhere_in_a_field_line(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, &b)| match b {
        b'\r' => bytes.get(i + 1).is_some_and(|&next| next != b'\n'),
        b'\t' => false,
        _ => b < 0x20 || b == 0x7f,
    })
}
