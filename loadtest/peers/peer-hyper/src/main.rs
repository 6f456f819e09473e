//! hyper 1 HTTP/1 server, laid out the way hyper's TechEmpower entry (kept by
//! hyper's author) does it: one thread per worker, each with its own tokio
//! *current-thread* runtime and its own `SO_REUSEPORT` listener on the same
//! address, so the kernel spreads connections and nothing is shared.
//! hyper adds `Date` itself; `Server` is set per response.
//! Keep-alive and pipelining are hyper's defaults (pipelined requests are
//! answered in order; `pipeline_flush` is left off, its default).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use peer_common::{announce, Args, Message, PLAINTEXT};
use socket2::{Domain, Protocol, Socket, Type};

const NAME: &str = "peer-hyper";
static SERVER_NAME: HeaderValue = HeaderValue::from_static("hyper");

async fn handle(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, ctype, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/plaintext") => (
            StatusCode::OK,
            "text/plain",
            Bytes::from_static(PLAINTEXT.as_bytes()),
        ),
        (&Method::GET, "/json") => {
            let body = serde_json::to_vec(&Message::HELLO).expect("serialise");
            (StatusCode::OK, "application/json", Bytes::from(body))
        }
        _ => (StatusCode::NOT_FOUND, "text/plain", Bytes::new()),
    };
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(SERVER, SERVER_NAME.clone());
    h.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    Ok(res)
}

fn reuseport_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(4096)?;
    Ok(sock.into())
}

fn serve(listener: std::net::TcpListener) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        let mut http = http1::Builder::new();
        http.keep_alive(true).pipeline_flush(true); // as the TechEmpower hyper entry: pipelined responses flushed together
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{NAME}: accept: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let conn = http.serve_connection(TokioIo::new(stream), service_fn(handle));
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
}

fn main() -> std::io::Result<()> {
    let args = Args::parse(NAME);
    // Bind all listeners before announcing; with port 0 the others reuse the
    // port the first one got.
    let first = reuseport_listener(args.listen)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..args.workers {
        listeners.push(reuseport_listener(addr)?);
    }
    let mut threads = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        threads.push(
            std::thread::Builder::new()
                .name(format!("hyper-worker-{i}"))
                .spawn(move || serve(l))?,
        );
    }
    announce(NAME, addr, args.workers);
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}
