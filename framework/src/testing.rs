//! Testing an app without a socket or a ring: [`TestClient`] sends requests
//! through the same codec, router, extractors, error page and handlers as a
//! server (sync and async), on the calling thread, so unit tests run where
//! io_uring is blocked (CI containers, seccomp).
//!
//! ```
//! use percore::testing::TestClient;
//! use percore::{get, App, Json};
//!
//! let mut client = TestClient::new(App::new().route("/hi", get(|| Json(["hi"]))));
//! let r = client.get("/hi");
//! assert_eq!(r.status, 200);
//! assert_eq!(r.json::<Vec<String>>(), vec!["hi"]);
//! ```
//!
//! Async handlers run on an executor driven by the client: timers
//! (`percore::time`), channels, `spawn_local` and `spawn_blocking` work.
//! Operations that need the ring (`percore::fs`, `percore::net`) and static
//! files do not: test those against a real server (`Server::start`).

use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::app::App;
use crate::conn::{Conn, PeerAddr};
use crate::handler::{Part, Pending};
use crate::runtime::exchange::Exchange;
use crate::runtime::executor::Core;
use crate::runtime::timer::TASK_TIMER;

/// How long a request may take before the client gives up (a handler that
/// never answers, or waits on the ring).
const PATIENCE: Duration = Duration::from_secs(10);

/// An in-process client of one app.
pub struct TestClient {
    ex: Exchange,
    core: Rc<Core>,
    /// The app's states, installed for each request (several clients may
    /// share a thread).
    states: crate::extract::state::States,
    /// The read end of the eventfd other threads wake this core's tasks by.
    remote: OwnedFd,
    client: PeerAddr,
}

/// A response as the test sees it.
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    /// The first value of header `name`, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON. Panics, with the body, if it is not `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not the JSON expected ({e}): {}",
                self.text()
            )
        })
    }
}

impl TestClient {
    /// A client of `app`, with the default limits. Runs the app on this
    /// thread (its state, its tasks); panics if a server's worker already
    /// runs on it, or if `app` has a route error.
    pub fn new(app: App) -> TestClient {
        TestClient::with_limits(app, crate::config::Config::default())
    }

    /// A client of `app` with `config`'s limits and timeouts.
    pub fn with_limits(mut app: App, config: crate::config::Config) -> TestClient {
        let (core, remote) =
            start_in_process(&mut app).unwrap_or_else(|e| panic!("the app does not start: {e}"));
        let states = app.states();
        let ex = Exchange::for_config(app, &config, 0);
        TestClient {
            ex,
            core,
            states,
            remote,
            client: PeerAddr::new(([127, 0, 0, 1], 40000).into()),
        }
    }

    /// `GET path`.
    pub fn get(&mut self, path: &str) -> TestResponse {
        self.request(
            http::Request::get(path)
                .body(Bytes::new())
                .expect("a valid GET"),
        )
    }

    /// `POST path` with `body` of `content_type`.
    pub fn post(&mut self, path: &str, content_type: &str, body: impl Into<Bytes>) -> TestResponse {
        let req = http::Request::post(path)
            .header("content-type", content_type)
            .body(body.into())
            .expect("a valid POST");
        self.request(req)
    }

    /// `POST path` with `value` as a JSON body.
    pub fn post_json<T: serde::Serialize>(&mut self, path: &str, value: &T) -> TestResponse {
        let body = serde_json::to_vec(value).expect("serializable JSON");
        self.post(path, "application/json", body)
    }

    /// Sends `req` (a `Host` is added if it has none; its body goes with a
    /// Content-Length) and returns the response.
    pub fn request(&mut self, req: http::Request<Bytes>) -> TestResponse {
        let (parts, body) = req.into_parts();
        let target = parts
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_string();
        let mut wire = format!("{} {target} HTTP/1.1\r\n", parts.method).into_bytes();
        if !parts.headers.contains_key(http::header::HOST) {
            wire.extend_from_slice(b"host: test\r\n");
        }
        for (name, value) in &parts.headers {
            if name == http::header::CONTENT_LENGTH {
                continue;
            }
            wire.extend_from_slice(name.as_str().as_bytes());
            wire.extend_from_slice(b": ");
            wire.extend_from_slice(value.as_bytes());
            wire.extend_from_slice(b"\r\n");
        }
        let chunked = parts.headers.contains_key(http::header::TRANSFER_ENCODING);
        if !chunked
            && (!body.is_empty() || !matches!(parts.method, http::Method::GET | http::Method::HEAD))
        {
            wire.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(&body);
        self.exchange(&wire, parts.method == http::Method::HEAD)
    }

    /// Sends raw request bytes (one request) and returns the response.
    pub fn raw(&mut self, wire: &[u8]) -> TestResponse {
        let head_only = wire.starts_with(b"HEAD ");
        self.exchange(wire, head_only)
    }

    fn exchange(&mut self, wire: &[u8], head_only: bool) -> TestResponse {
        crate::extract::state::install(self.states.clone());
        let mut conn = Conn::new(0, 1, crate::conn::NEVER - 1);
        conn.peer = self.client;
        self.ex.owner = (0, 1);
        let now = self.core.clock.now();
        self.ex.receive(&mut conn, wire, now);
        let mut out = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            out.append(&mut conn.http.out);
            self.drain_parts(&mut conn, &mut out);
            if let Some(r) = parse(&out, head_only) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "no complete response after {PATIENCE:?} (a handler waiting on the ring? \
                 TestClient runs no ring I/O); got so far: {}",
                String::from_utf8_lossy(&out)
            );
            self.turn(&mut conn);
        }
    }

    /// Body parts after the head: bytes as they are, a streaming body as far
    /// as its stream has gone.
    fn drain_parts(&mut self, conn: &mut Conn, out: &mut Vec<u8>) {
        let Some(outgoing) = conn.http.outgoing.as_mut() else {
            return;
        };
        while let Some(part) = outgoing.parts.pop_front() {
            match part {
                Part::Bytes(b) => out.extend_from_slice(&b),
                Part::File(f) => {
                    let mut buf = vec![0u8; f.len as usize];
                    // SAFETY: reading into our own buffer of the given length
                    // from a descriptor the part owns.
                    let n = unsafe {
                        libc::pread(
                            f.fd.as_raw_fd(),
                            buf.as_mut_ptr().cast(),
                            buf.len(),
                            f.offset as libc::off_t,
                        )
                    };
                    buf.truncate(n.max(0) as usize);
                    out.extend_from_slice(&buf);
                }
            }
        }
        if let Some(stream) = outgoing.stream.as_ref() {
            let ready = stream.take(Vec::new());
            out.extend_from_slice(&ready);
            if !stream.finished() {
                return;
            }
        }
        conn.http.outgoing = None;
    }

    /// One turn of the executor: ready tasks, answers, due timers; if none
    /// of that is ready, wait for the next timer or another thread's wake.
    fn turn(&mut self, conn: &mut Conn) {
        let now = self.core.clock.now();
        self.core.run_ready();
        let answers = std::mem::take(&mut *self.core.answers.borrow_mut());
        for answer in answers {
            if let Some(Pending::Task(id, deferred)) = conn.http.pending {
                if id == answer.task {
                    self.ex.answer(conn, answer, deferred, now);
                }
            }
        }
        self.core.streams_ready.borrow_mut().clear();
        loop {
            let Some((at, key)) = self.core.timers.borrow_mut().pop_expired(now) else {
                break;
            };
            if key >= TASK_TIMER {
                self.core.fire_sleep(at, key - TASK_TIMER);
            }
        }
        if self.core.has_ready() {
            return;
        }
        let wait = match self.core.timers.borrow().next() {
            Some(at) => at.saturating_sub(now).clamp(1, 50),
            None => 50,
        };
        let mut pfd = libc::pollfd {
            fd: self.remote.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd on our own stack, for the call.
        let ready = unsafe { libc::poll(&mut pfd, 1, wait as i32) };
        if ready > 0 {
            let mut count = [0u8; 8];
            // SAFETY: reading 8 bytes into our buffer from our eventfd.
            unsafe { libc::read(self.remote.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
        }
        // Wakes from other threads (spawn_blocking), whichever eventfd of
        // this thread's core they were announced on.
        let mut scratch = Vec::new();
        self.core.take_remote_wakes(&mut scratch);
    }
}

/// Finishes `app` (its route errors) and gives it this thread's core
/// (installed if there is none yet), with the read end of the eventfd
/// other threads wake its tasks through.
fn start_in_process(app: &mut App) -> Result<(Rc<Core>, OwnedFd), String> {
    app.finish();
    if let Some(e) = app.error.take() {
        return Err(e.to_string());
    }
    let (remote_fd, remote) = crate::runtime::worker::remote_eventfd()
        .map_err(|e| format!("an eventfd for the executor: {e}"))?;
    let core = match crate::runtime::executor::try_core() {
        Some(core) => core,
        None => Core::install(remote_fd),
    };
    Ok((core, remote))
}

/// One response from the start of `out`, once it is complete.
fn parse(out: &[u8], head_only: bool) -> Option<TestResponse> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    let mut start = 0;
    // Interim answers (100 Continue) come first.
    let len = loop {
        match r.parse(&out[start..]).ok()? {
            httparse::Status::Complete(len) if r.code.is_some_and(|c| c < 200) => {
                start += len;
                headers = [httparse::EMPTY_HEADER; 64];
                r = httparse::Response::new(&mut headers);
            }
            httparse::Status::Complete(len) => break len,
            httparse::Status::Partial => return None,
        }
    };
    let status = StatusCode::from_u16(r.code?).ok()?;
    let mut map = HeaderMap::new();
    for h in r.headers.iter() {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) {
            map.append(n, v);
        }
    }
    let rest = &out[start + len..];
    let bodiless = head_only
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if bodiless {
        return Some(TestResponse {
            status,
            headers: map,
            body: Bytes::new(),
        });
    }
    let chunked = map
        .get(http::header::TRANSFER_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    let body = if chunked {
        let mut decoder = crate::http::body::ChunkedDecoder::new(u64::MAX);
        let mut body = Vec::new();
        match decoder.decode(rest, &mut body).ok()? {
            crate::http::body::DecodeStatus::Complete { .. } => body,
            crate::http::body::DecodeStatus::NeedMore { .. } => return None,
        }
    } else {
        let n: usize = map
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0);
        if rest.len() < n {
            return None;
        }
        rest[..n].to_vec()
    };
    Some(TestResponse {
        status,
        headers: map,
        body: Bytes::from(body),
    })
}

/// One connection's bytes through the exchange without a socket or a ring:
/// what the multishot recv would hand the engine in, what the worker would
/// send out (sealed into records on a TLS connection). For the fuzz target
/// at the TLS-to-HTTP boundary (`framework/fuzz`); sync handlers only.
#[doc(hidden)]
pub struct WireConn {
    ex: Exchange,
    conn: Conn,
    plain: Vec<u8>,
    /// The plaintext the TLS session handed the exchange, one entry per
    /// receive (the split a plain connection would need to see the same).
    pieces: Vec<Vec<u8>>,
    core: Rc<Core>,
    _remote: OwnedFd,
}

impl WireConn {
    /// A fresh connection to `app`; a TLS one when `config.tls` names a
    /// certificate (it is loaded as the server loads it).
    pub fn new(mut app: App, config: &crate::config::Config) -> Result<WireConn, String> {
        let (core, remote) = start_in_process(&mut app)?;
        let ex = Exchange::for_config(app, config, 0);
        let mut conn = Conn::new(0, 1, crate::conn::NEVER - 1);
        conn.peer = PeerAddr::new(([127, 0, 0, 1], 40000).into());
        if config.tls.enabled() {
            let files = crate::tls::CertFiles {
                chain: config.tls.cert.clone(),
                key: config.tls.key.clone(),
                ocsp: None,
            };
            let server = crate::tls::server_config(&files, &[], None)?;
            let session =
                crate::runtime::worker::tls::session(server).map_err(|e| e.to_string())?;
            conn.tls = Some(session);
        }
        Ok(WireConn {
            ex,
            conn,
            plain: Vec::new(),
            pieces: Vec::new(),
            core,
            _remote: remote,
        })
    }

    /// Bytes from the peer, as one recv.
    pub fn receive(&mut self, bytes: &[u8]) {
        if !self.conn.takes_input() {
            return; // the worker discards what comes after the last response
        }
        let now = self.core.clock.now();
        self.ex.owner = (0, 1);
        if self.conn.tls.is_some() {
            crate::runtime::worker::tls::receive(
                &mut self.ex,
                &mut self.conn,
                &mut self.plain,
                bytes,
                now,
            );
            if !self.plain.is_empty() {
                self.pieces.push(self.plain.clone());
            }
        } else {
            self.ex.receive(&mut self.conn, bytes, now);
        }
    }

    /// The plaintext each receive handed the exchange (TLS connections).
    pub fn plaintext_pieces(&self) -> &[Vec<u8>] {
        &self.pieces
    }

    /// The peer's EOF.
    pub fn peer_closed(&mut self) {
        if self.conn.takes_input() {
            self.ex.peer_closed(&mut self.conn);
        }
    }

    /// Whether the connection has stopped serving (its last response is
    /// queued, or its TLS session failed).
    pub fn is_ending(&self) -> bool {
        !self.conn.is_open()
    }

    /// Everything the worker would send now, as it would: the responses
    /// (held requests are served as the output drains), sealed on TLS;
    /// close_notify once the last response is out; a failed session's
    /// alert, or the plain 400 for plain HTTP on the TLS port.
    pub fn take_sent(&mut self) -> Vec<u8> {
        let now = self.core.clock.now();
        let mut plain = Vec::new();
        loop {
            let before = plain.len();
            plain.append(&mut self.conn.http.out);
            if let Some(outgoing) = self.conn.http.outgoing.as_mut() {
                while let Some(part) = outgoing.parts.pop_front() {
                    if let Part::Bytes(b) = part {
                        plain.extend_from_slice(&b);
                    }
                }
                if outgoing.stream.is_none() {
                    self.conn.http.outgoing = None;
                }
            }
            self.ex.owner = (0, 1);
            self.ex.resume(&mut self.conn, now);
            if plain.len() == before && self.conn.http.out.is_empty() {
                break;
            }
        }
        let Some(tls) = self.conn.tls.as_mut() else {
            return plain;
        };
        let mut sent = Vec::new();
        if tls.failed {
            tls.session.take_output(&mut sent);
            if let Some(answer) = tls.plain_answer.take() {
                sent.clear();
                sent.extend_from_slice(answer);
            }
            return sent;
        }
        if !tls.close_sent {
            tls.session.seal(&plain);
            let ending = self.conn.phase == crate::conn::Phase::CloseAfterFlush
                && self.conn.http.pending.is_none();
            if ending && !tls.session.is_handshaking() {
                tls.close_sent = true;
                tls.session.close();
            }
        }
        tls.session.take_output(&mut sent);
        sent
    }
}
