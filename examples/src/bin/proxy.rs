//! A reverse proxy: any method and path to `--upstream HOST:PORT`.
//!
//! - **Pooling:** upstream connections are kept alive in a per-core pool (at
//!   most 64 idle). A pooled connection that turns out broken is retried once
//!   on a new one for idempotent methods.
//! - **Bodies:** the request body goes up with a Content-Length. The response
//!   body is streamed back as it arrives: Content-Length, chunked (decoded
//!   and re-chunked) or until close.
//! - **Headers:** hop-by-hop headers are removed both ways.
//! - **Errors:** 502 when the upstream refuses or breaks before answering,
//!   504 after `--upstream-timeout` (default 30 s) without an answer. An
//!   upstream that breaks mid-body breaks the client's body too: the
//!   connection closes rather than end it complete.
//!
//! `cargo run --release -p percore-examples --bin proxy -- --listen 127.0.0.1:8080 --upstream 127.0.0.1:8081`

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use percore::config::CommonArgs;
use percore::http::{ChunkedDecoder, DecodeStatus};
use percore::net::TcpStream;
use percore::{
    spawn_local, App, Body, BodySender, IntoResponse, Method, MethodRouter, Request, Response,
    Server, StatusCode,
};

/// Idle upstream connections kept per core.
const POOL_MAX: usize = 64;
/// Largest upstream response head.
const MAX_HEAD: usize = 64 * 1024;
/// Bytes read from the upstream at a time.
const READ: usize = 64 * 1024;
/// The first read of an answer: its head and, for most, all of its body.
const FIRST_READ: usize = 16 * 1024;

#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// Where requests go.
    #[arg(long, value_name = "HOST:PORT")]
    upstream: SocketAddr,
    /// Seconds to wait for the upstream's answer before 504.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    upstream_timeout: u64,
}

fn main() {
    let cli = Cli::parse();
    let server = Server::from_common_args(cli.common);
    let (upstream, limit) = (
        cli.upstream,
        Duration::from_secs(cli.upstream_timeout.max(1)),
    );
    let result = server.serve(move |_core| app(upstream, limit));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}

/// A core's view of the upstream.
struct Upstream {
    addr: SocketAddr,
    limit: Duration,
    idle: RefCell<Vec<TcpStream>>,
}

fn app(addr: SocketAddr, limit: Duration) -> App {
    let up = Rc::new(Upstream {
        addr,
        limit,
        idle: RefCell::new(Vec::new()),
    });
    let every_method = || {
        let mut methods = MethodRouter::default();
        for m in [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ] {
            let up = up.clone();
            methods = methods.on(m, move |req: Request| proxy(up.clone(), req));
        }
        methods
    };
    App::new()
        .route("/", every_method())
        .route("/*path", every_method())
}

/// Headers that describe one hop, not the message (RFC 9110 7.6.1).
fn hop_by_hop(name: &[u8], connection_list: &[u8]) -> bool {
    const HOP: [&str; 9] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ];
    HOP.iter().any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
        || connection_list
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(name))
}

/// The request as the upstream gets it.
fn upstream_request(req: &Request, upstream: SocketAddr) -> Vec<u8> {
    let connection = req
        .header_list("connection")
        .unwrap_or_default()
        .into_owned();
    let mut out = Vec::with_capacity(256 + req.body().len());
    out.extend_from_slice(req.method().as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.target().as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in req.headers() {
        if hop_by_hop(name, &connection)
            || name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"expect")
        {
            continue;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if req.header_bytes("host").is_none() {
        // An HTTP/1.0 client may send none; HTTP/1.1 upstreams need one.
        out.extend_from_slice(format!("host: {upstream}\r\n").as_bytes());
    }
    let body = req.body();
    if !body.is_empty()
        || !matches!(
            *req.method(),
            Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
        )
    {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

async fn proxy(up: Rc<Upstream>, req: Request) -> Response {
    let wire = upstream_request(&req, up.addr);
    let idempotent = matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    );
    let head_only = *req.method() == Method::HEAD;
    let attempt = exchange(&up, wire, idempotent, head_only);
    match percore::time::timeout(up.limit, attempt).await {
        Ok(Ok(response)) => response,
        Ok(Err(why)) => {
            tracing::debug!("upstream failed: {why}");
            (StatusCode::BAD_GATEWAY, "502 Bad Gateway\n").into_response()
        }
        Err(_) => (StatusCode::GATEWAY_TIMEOUT, "504 Gateway Timeout\n").into_response(),
    }
}

/// A parsed upstream response head.
struct Head {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    framing: Framing,
    keep_alive: bool,
    /// The announced length (kept for the answer to a HEAD).
    length: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}

/// Sends `wire` on a pooled connection (retried once on a new one if the
/// pooled one was broken and the method may be repeated) and reads the head.
async fn exchange(
    up: &Rc<Upstream>,
    wire: Vec<u8>,
    idempotent: bool,
    head_only: bool,
) -> Result<Response, String> {
    // A pooled connection the upstream closed (or wrote to) while it sat
    // idle is dropped, never reused.
    let pooled = {
        let mut idle = up.idle.borrow_mut();
        let mut found = None;
        while let Some(c) = idle.pop() {
            if c.is_idle_and_open() {
                found = Some(c);
                break;
            }
        }
        found
    };
    let mut wire = wire;
    if let Some(conn) = pooled {
        match send_and_read_head(&conn, wire, head_only).await {
            Ok((head, rest)) => return Ok(respond(up.clone(), conn, head, rest, head_only)),
            Err((why, w)) if idempotent => {
                tracing::debug!("pooled upstream connection broken ({why}); retrying");
                wire = w;
            }
            Err((why, _)) => return Err(why),
        }
    }
    let conn = TcpStream::connect(up.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (head, rest) = send_and_read_head(&conn, wire, head_only)
        .await
        .map_err(|(why, _)| why)?;
    Ok(respond(up.clone(), conn, head, rest, head_only))
}

async fn send_and_read_head(
    conn: &TcpStream,
    wire: Vec<u8>,
    head_only: bool,
) -> Result<(Head, Vec<u8>), (String, Vec<u8>)> {
    let (res, wire) = conn.write_all(wire).await;
    if let Err(e) = res {
        return Err((format!("send: {e}"), wire));
    }
    let mut buf = Vec::with_capacity(FIRST_READ);
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 256];
        let mut parsed = httparse::Response::new(&mut headers);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let code = parsed.code.unwrap_or(502);
                if (100..200).contains(&code) {
                    buf.drain(..len); // an interim response: the final one follows
                    continue;
                }
                let head = match head_of(&parsed, head_only) {
                    Ok(h) => h,
                    Err(why) => return Err((why, wire)),
                };
                let rest = buf.split_off(len);
                return Ok((head, rest));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            _ => return Err(("an invalid response head".into(), wire)),
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(buf.capacity());
        }
        let (n, b) = conn.read(buf).await;
        buf = b;
        match n {
            Ok(0) => return Err(("closed before answering".into(), wire)),
            Ok(_) => {}
            Err(e) => return Err((format!("read: {e}"), wire)),
        }
    }
}

fn head_of(parsed: &httparse::Response<'_, '_>, head_only: bool) -> Result<Head, String> {
    let status = parsed.code.unwrap_or(502);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut close = parsed.version == Some(0);
    let mut headers = Vec::new();
    let connection: Vec<u8> = parsed
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| h.value.iter().copied().chain([b',']))
        .collect();
    for h in parsed.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        match name.as_str() {
            "content-length" => {
                length = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
            }
            "transfer-encoding" => chunked = h.value.to_ascii_lowercase().ends_with(b"chunked"),
            "connection" => {
                let v = h.value.to_ascii_lowercase();
                if v.windows(5).any(|w| w == b"close") {
                    close = true;
                }
            }
            _ => {}
        }
        // Length and framing are the proxy's own; so are Date and Server
        // (as nginx does by default).
        let own = matches!(name.as_str(), "content-length" | "date" | "server");
        if !hop_by_hop(name.as_bytes(), &connection) && !own {
            headers.push((name, h.value.to_vec()));
        }
    }
    let framing = if head_only || status == 204 || status == 304 {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        close = true;
        Framing::Close
    };
    Ok(Head {
        status,
        headers,
        framing,
        keep_alive: !close,
        length,
    })
}

/// The client's response: the head now, the body streamed by a task that
/// gives the connection back to the pool when the body ended cleanly.
fn respond(
    up: Rc<Upstream>,
    conn: TcpStream,
    head: Head,
    mut rest: Vec<u8>,
    head_only: bool,
) -> Response {
    let status = StatusCode::from_u16(head.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut conn = Some(conn);
    let (tx, body) = match head.framing {
        // The whole body came with the head (most small answers): no relay.
        Framing::Length(n) if rest.len() as u64 >= n => {
            rest.truncate(n as usize);
            if let Some(c) = conn.take().filter(|_| head.keep_alive) {
                pool(&up, c);
            }
            (None, Body::from(std::mem::take(&mut rest)))
        }
        Framing::None => {
            if let Some(c) = conn.take().filter(|_| head.keep_alive && rest.is_empty()) {
                pool(&up, c);
            }
            // The answer to a HEAD keeps the upstream's length (or its lack
            // of one): an empty stream of that length is never polled.
            let body = match (head_only, head.length) {
                (true, Some(n)) => Body::from_stream_with_len(n, Empty),
                (true, None) if head.status != 204 && head.status != 304 => {
                    Body::from_stream(Empty)
                }
                _ => Body::Empty,
            };
            (None, body)
        }
        Framing::Length(n) => {
            let (tx, body) = Body::channel_with_len(n);
            (Some(tx), body)
        }
        Framing::Chunked | Framing::Close => {
            let (tx, body) = Body::channel();
            (Some(tx), body)
        }
    };
    let mut response = Response::new(status).body(body);
    for (name, value) in head.headers {
        response = response.header(name, value);
    }
    if let (Some(tx), Some(conn)) = (tx, conn) {
        spawn_local(relay(up, conn, head.framing, head.keep_alive, rest, tx));
    }
    response
}

/// A stream with no items: the body of an answer to HEAD.
struct Empty;

impl futures_core::Stream for Empty {
    type Item = Bytes;
    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Bytes>> {
        std::task::Poll::Ready(None)
    }
}

fn pool(up: &Upstream, conn: TcpStream) {
    let mut idle = up.idle.borrow_mut();
    if idle.len() < POOL_MAX {
        idle.push(conn);
    }
}

/// Copies the upstream body to the client's.
async fn relay(
    up: Rc<Upstream>,
    conn: TcpStream,
    framing: Framing,
    keep_alive: bool,
    mut pending: Vec<u8>,
    tx: BodySender,
) {
    let mut decoder = ChunkedDecoder::new(u64::MAX);
    let mut left = match framing {
        Framing::Length(n) => n,
        _ => u64::MAX,
    };
    loop {
        if !pending.is_empty() {
            let chunk = match framing {
                Framing::Chunked => {
                    let mut out = Vec::with_capacity(pending.len());
                    match decoder.decode(&pending, &mut out) {
                        Ok(DecodeStatus::Complete { .. }) => {
                            if !out.is_empty() && tx.send(out).await.is_err() {
                                return;
                            }
                            if keep_alive {
                                pool(&up, conn);
                            }
                            return; // sender dropped: the body ends cleanly
                        }
                        Ok(DecodeStatus::NeedMore { .. }) => out,
                        Err(_) => return tx.abort(),
                    }
                }
                _ => {
                    let n = (left.min(pending.len() as u64)) as usize;
                    left -= n as u64;
                    pending[..n].to_vec()
                }
            };
            pending.clear();
            if !chunk.is_empty() && tx.send(Bytes::from(chunk)).await.is_err() {
                return; // the client left: the upstream connection is dropped
            }
            if left == 0 {
                if keep_alive {
                    pool(&up, conn);
                }
                return;
            }
        }
        // A stalled upstream ends the body after the timeout (as between
        // reads in nginx's proxy_read_timeout).
        let read = percore::time::timeout(up.limit, conn.read(Vec::with_capacity(READ))).await;
        let Ok((n, buf)) = read else {
            return tx.abort();
        };
        match n {
            // The end of a close-delimited body; anything else ended short.
            Ok(0) if framing == Framing::Close => return,
            Ok(0) | Err(_) => return tx.abort(),
            Ok(_) => pending = buf,
        }
    }
}
