//! A reverse proxy: any method and path to `--upstream HOST:PORT`.
//!
//! - **Pooling:** upstream connections are kept alive in a per-core pool (at
//!   most 64 idle). A pooled connection that turns out broken is retried once
//!   on a new one for idempotent methods.
//! - **Bodies, both ways, streamed:** a request body up to 64 KiB that came
//!   with a Content-Length goes up with the head in one write (so it can be
//!   retried); a larger or chunked one is streamed up as the client sends it
//!   (Content-Length kept, chunked re-chunked), while the answer is awaited,
//!   and the client's pace is the proxy's (it reads no further ahead than it
//!   sends). `Expect: 100-continue` is answered by the proxy when it starts
//!   reading the body. The response body streams back as it arrives:
//!   Content-Length, chunked (decoded and re-chunked) or until close.
//! - **Headers:** hop-by-hop headers are removed both ways; the client's
//!   address is appended to `X-Forwarded-For`.
//! - **Errors:** 502 when the upstream refuses or breaks before answering,
//!   504 after `--upstream-timeout` (default 30 s) without an answer (counted
//!   from the end of the request body). A client body that fails answers its
//!   own status (400, 408, 413). An upstream that breaks mid-body breaks the
//!   client's body too: the connection closes rather than end it complete.
//!
//! `cargo run --release -p percore-examples --bin proxy -- --listen 127.0.0.1:8080 --upstream 127.0.0.1:8081`

mod relay;
mod wire;

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use clap::Parser;
use percore::config::CommonArgs;
use percore::net::TcpStream;
use percore::time::timeout;
use percore::{
    spawn_local, App, Body, IntoResponse, Method, Request, Response, Server, StatusCode,
};

use relay::{relay, upload, Empty, Upload, UploadError};
use wire::{read_head, upstream_head, Framing, Head, RequestFraming};

/// Idle upstream connections kept per core.
const POOL_MAX: usize = 64;
/// Bytes read from the upstream at a time.
const READ: usize = 64 * 1024;
/// Request bodies up to this size (with a Content-Length) are read whole
/// and sent with the head: one write, and a retry is possible.
const WHOLE_BODY_MAX: u64 = 64 * 1024;

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
    /// Answer GET PATH with this core's state as JSON (connections, tasks,
    /// ring ops, receive buffers) instead of proxying it.
    #[arg(long, value_name = "PATH")]
    stats: Option<String>,
}

fn main() {
    let cli = Cli::parse();
    let server = Server::from_common_args(cli.common);
    let (upstream, limit) = (
        cli.upstream,
        Duration::from_secs(cli.upstream_timeout.max(1)),
    );
    let stats = cli.stats;
    let result = server.serve(move |_core| {
        let app = app(upstream, limit);
        match &stats {
            Some(path) => app.route(path, percore::get(core_stats)),
            None => app,
        }
    });
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

/// This core's state as JSON.
fn core_stats() -> Response {
    let s = percore::core_stats();
    let json = serde_json::json!({
        "core": s.core,
        "connections": s.connections,
        "tasks": s.tasks,
        "task_ops_in_flight": s.task_ops_in_flight,
        "recv_buffers_available": s.recv_buffers_available,
        "recv_buffers": s.recv_buffers,
    });
    Response::ok()
        .content_type_static("application/json")
        .body(json.to_string())
}

fn app(addr: SocketAddr, limit: Duration) -> App {
    let up = Rc::new(Upstream {
        addr,
        limit,
        idle: RefCell::new(Vec::new()),
    });
    // Every method, extension methods (PROPFIND, PURGE ...) included.
    let every_method = || {
        let up = up.clone();
        percore::any(move |req: Request| proxy(up.clone(), req))
    };
    App::new()
        .route("/", every_method())
        .route("/*path", every_method())
}

/// Why an exchange with the upstream gave no answer.
enum Failure {
    /// The upstream refused, broke or answered nonsense: 502.
    Upstream(String),
    /// No answer within the limit: 504.
    TimedOut,
    /// The client's body failed: its own status.
    Client(percore::BodyError),
}

async fn proxy(up: Rc<Upstream>, mut req: Request) -> Response {
    let idempotent = matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    );
    let head_only = *req.method() == Method::HEAD;
    let framing = RequestFraming::of(&req);
    let result = match framing {
        RequestFraming::Length(n) if n > WHOLE_BODY_MAX => {
            streamed(&up, &mut req, framing, idempotent, head_only).await
        }
        RequestFraming::Chunked => streamed(&up, &mut req, framing, idempotent, head_only).await,
        _ => match req.body_bytes().await {
            Ok(body) => {
                let mut wire = upstream_head(&req, up.addr, framing, Some(body.len()));
                wire.extend_from_slice(&body);
                match timeout(up.limit, whole(&up, wire, idempotent, head_only)).await {
                    Ok(result) => result,
                    Err(_) => Err(Failure::TimedOut),
                }
            }
            Err(e) => Err(Failure::Client(e)),
        },
    };
    match result {
        Ok(response) => response,
        Err(Failure::Upstream(why)) => {
            tracing::debug!("upstream failed: {why}");
            (StatusCode::BAD_GATEWAY, "502 Bad Gateway\n").into_response()
        }
        Err(Failure::TimedOut) => {
            (StatusCode::GATEWAY_TIMEOUT, "504 Gateway Timeout\n").into_response()
        }
        Err(Failure::Client(e)) => e.into_response(),
    }
}

/// A pooled connection, unless the upstream closed it (or wrote to it)
/// while it sat idle: such a one is dropped, never reused.
fn pooled(up: &Upstream) -> Option<TcpStream> {
    let mut idle = up.idle.borrow_mut();
    while let Some(c) = idle.pop() {
        if c.is_idle_and_open() {
            return Some(c);
        }
    }
    None
}

/// Sends `wire` (head and whole body) on a pooled connection, retried once
/// on a new one if the pooled one was broken and the method may be
/// repeated, and reads the answer's head.
async fn whole(
    up: &Rc<Upstream>,
    wire: Vec<u8>,
    idempotent: bool,
    head_only: bool,
) -> Result<Response, Failure> {
    let mut wire = wire;
    if let Some(conn) = pooled(up) {
        let conn = Rc::new(conn);
        let (sent, w) = conn.write_all(wire).await;
        wire = w;
        let answer = match sent {
            Ok(()) => read_head(&conn, head_only).await,
            Err(e) => Err(format!("send: {e}")),
        };
        match answer {
            Ok((head, rest)) => return Ok(respond(up.clone(), conn, head, rest, head_only, None)),
            Err(why) if idempotent => {
                tracing::debug!("pooled upstream connection broken ({why}); retrying");
            }
            Err(why) => return Err(Failure::Upstream(why)),
        }
    }
    let conn = Rc::new(connect(up).await?);
    let (sent, _) = conn.write_all(wire).await;
    sent.map_err(|e| Failure::Upstream(format!("send: {e}")))?;
    let (head, rest) = read_head(&conn, head_only)
        .await
        .map_err(Failure::Upstream)?;
    Ok(respond(up.clone(), conn, head, rest, head_only, None))
}

async fn connect(up: &Upstream) -> Result<TcpStream, Failure> {
    TcpStream::connect_timeout(up.addr, up.limit)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::TimedOut => Failure::TimedOut,
            _ => Failure::Upstream(format!("connect: {e}")),
        })
}

/// Streams the body up beside the wait for the answer (an upstream may
/// answer before it has read all of it). Not retried: the body is gone. An
/// idempotent request so gets a new connection, never a pooled one that
/// might turn out broken.
async fn streamed(
    up: &Rc<Upstream>,
    req: &mut Request,
    framing: RequestFraming,
    idempotent: bool,
    head_only: bool,
) -> Result<Response, Failure> {
    let conn = match pooled(up).filter(|_| !idempotent) {
        Some(c) => c,
        None => connect(up).await?,
    };
    let conn = Rc::new(conn);
    let head = upstream_head(req, up.addr, framing, None);
    let (sent, _) = conn.write_all(head).await;
    sent.map_err(|e| Failure::Upstream(format!("send: {e}")))?;
    let chunked = framing == RequestFraming::Chunked;
    let mut upload: Upload =
        spawn_local(upload(conn.clone(), req.body_stream(), chunked, up.limit));
    let reader = conn.clone();
    let mut answer = pin!(async move { read_head(&reader, head_only).await });
    // While the body goes up, an answer may come early.
    let early = poll_fn(|cx| {
        if let Poll::Ready(done) = answer.as_mut().poll(cx) {
            return Poll::Ready(Early::Answer(done));
        }
        std::pin::Pin::new(&mut upload).poll(cx).map(|up| match up {
            Ok(Ok(())) => Early::Uploaded { clean: true },
            Ok(Err(UploadError::Client(e))) => Early::ClientFailed(e),
            // The upstream stopped reading: it may have answered anyway.
            Ok(Err(UploadError::Upstream(why))) => {
                tracing::debug!("upstream stopped taking the body: {why}");
                Early::Uploaded { clean: false }
            }
            Err(_) => Early::Uploaded { clean: false },
        })
    })
    .await;
    match early {
        Early::Answer(done) => {
            let (head, rest) = done.map_err(Failure::Upstream)?;
            // Reused only if the rest of the body went up cleanly.
            Ok(respond(
                up.clone(),
                conn,
                head,
                rest,
                head_only,
                Some(upload),
            ))
        }
        Early::ClientFailed(e) => Err(Failure::Client(e)),
        Early::Uploaded { clean } => {
            let (mut head, rest) = match timeout(up.limit, answer).await {
                Ok(done) => done.map_err(Failure::Upstream)?,
                Err(_) => return Err(Failure::TimedOut),
            };
            head.keep_alive &= clean;
            Ok(respond(up.clone(), conn, head, rest, head_only, None))
        }
    }
}

/// What happened first while a body streamed up.
enum Early {
    Answer(Result<(Head, Vec<u8>), String>),
    Uploaded { clean: bool },
    ClientFailed(percore::BodyError),
}

/// The client's response: the head now, the body streamed by a task that
/// gives the connection back to the pool when the body ended cleanly.
fn respond(
    up: Rc<Upstream>,
    conn: Rc<TcpStream>,
    head: Head,
    mut rest: Vec<u8>,
    head_only: bool,
    upload: Option<Upload>,
) -> Response {
    let status = StatusCode::from_u16(head.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut conn = Some(conn);
    let (tx, body) = match head.framing {
        // The whole body came with the head (most small answers): no relay.
        Framing::Length(n) if rest.len() as u64 >= n => {
            rest.truncate(n as usize);
            if let Some(c) = conn.take().filter(|_| head.keep_alive && upload.is_none()) {
                pool(&up, c);
            }
            (None, Body::from(std::mem::take(&mut rest)))
        }
        Framing::None => {
            let clean = head.keep_alive && rest.is_empty() && upload.is_none();
            if let Some(c) = conn.take().filter(|_| clean) {
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
        spawn_local(relay(
            up,
            conn,
            head.framing,
            head.keep_alive,
            rest,
            tx,
            upload,
        ));
    }
    response
}

/// Gives a connection whose exchange ended cleanly back to the pool.
fn pool(up: &Upstream, conn: Rc<TcpStream>) {
    let Ok(conn) = Rc::try_unwrap(conn) else {
        return; // still shared (an upload in progress): not reusable
    };
    let mut idle = up.idle.borrow_mut();
    if idle.len() < POOL_MAX {
        idle.push(conn);
    }
}

/// Whether a body that was still going up when the answer came went up
/// cleanly (the connection may be reused).
async fn uploaded_cleanly(upload: Option<Upload>) -> bool {
    match upload {
        None => true,
        Some(h) if h.is_finished() => matches!(h.await, Ok(Ok(()))),
        Some(_) => false,
    }
}
