//! ntex 3 `web::HttpServer` with N workers, built with the `neon-uring`
//! feature: ntex's own "neon" runtime on its io_uring driver (one ring per
//! worker thread; ntex panics at start rather than fall back to epoll when
//! io_uring is unavailable). ntex adds `Date` itself; `Server` is set per response.
//! The database endpoints (peer_common::db) run tokio-postgres over an ntex
//! connection (see `pg`), one per worker, on the same runtime.

mod pg;

use ntex::http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use ntex::web::{self, App, HttpResponse};
use peer_common::{announce, db, Args, Message, PLAINTEXT};

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

async fn conn() -> std::rc::Rc<db::Conn> {
    db::conn(|| pg::connect(db::URL)).await
}

fn respond(body: impl Into<ntex::http::body::Body>, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .header(SERVER, HeaderValue::from_static("ntex"))
        .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
        .body(body)
}

async fn single() -> HttpResponse {
    respond(db::single(&*conn().await).await, "application/json")
}

async fn queries(req: web::HttpRequest) -> HttpResponse {
    respond(
        db::queries(&*conn().await, req.query_string()).await,
        "application/json",
    )
}

async fn updates(req: web::HttpRequest) -> HttpResponse {
    respond(
        db::updates(&*conn().await, req.query_string()).await,
        "application/json",
    )
}

async fn fortunes() -> HttpResponse {
    respond(
        db::fortunes(&*conn().await).await,
        "text/html; charset=utf-8",
    )
}

#[ntex::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse(NAME);
    let server = web::HttpServer::new(async || {
        App::new()
            .route("/plaintext", web::get().to(plaintext))
            .route("/json", web::get().to(json))
            .route("/db", web::get().to(single))
            .route("/queries", web::get().to(queries))
            .route("/updates", web::get().to(updates))
            .route("/fortunes", web::get().to(fortunes))
    })
    .workers(args.workers)
    .backlog(4096)
    .bind(args.listen)?
    .run();
    announce(NAME, args.listen, args.workers);
    server.await
}
