//! ntex 3 `web::HttpServer` with N workers, built with the `neon-uring`
//! feature: ntex's own "neon" runtime on its io_uring driver (one ring per
//! worker thread; ntex panics at start rather than fall back to epoll when
//! io_uring is unavailable). ntex adds `Date` itself; `Server` is set per response.

use ntex::http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use ntex::web::{self, App, HttpResponse};
use peer_common::{announce, Args, Message, PLAINTEXT};

const NAME: &str = "peer-ntex";

async fn plaintext() -> HttpResponse {
    HttpResponse::Ok()
        .header(SERVER, HeaderValue::from_static("ntex"))
        .header(CONTENT_TYPE, HeaderValue::from_static("text/plain"))
        .body(PLAINTEXT)
}

async fn json() -> HttpResponse {
    let body = serde_json::to_vec(&Message::HELLO).expect("serialise");
    HttpResponse::Ok()
        .header(SERVER, HeaderValue::from_static("ntex"))
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(body)
}

#[ntex::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse(NAME);
    let server = web::HttpServer::new(async || {
        App::new()
            .route("/plaintext", web::get().to(plaintext))
            .route("/json", web::get().to(json))
    })
    .workers(args.workers)
    .backlog(4096)
    .bind(args.listen)?
    .run();
    announce(NAME, args.listen, args.workers);
    server.await
}
