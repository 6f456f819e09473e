//! actix-web 4: `HttpServer` with N workers (each a single-threaded actix/tokio
//! runtime; the listener is shared by the workers, actix's default).
//! actix adds `Date` itself; `Server` is set per response, as TechEmpower's actix does.

use actix_web::http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use actix_web::{web, App, HttpResponse, HttpServer};
use peer_common::{announce, db, Args, Message, PLAINTEXT};

const NAME: &str = "peer-actix";
static SERVER_NAME: HeaderValue = HeaderValue::from_static("actix");

async fn plaintext() -> HttpResponse {
    let mut res = HttpResponse::Ok().body(PLAINTEXT);
    let h = res.headers_mut();
    h.insert(SERVER, SERVER_NAME.clone());
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    res
}

async fn json() -> HttpResponse {
    let body = serde_json::to_vec(&Message::HELLO).expect("serialise");
    let mut res = HttpResponse::Ok().body(body);
    let h = res.headers_mut();
    h.insert(SERVER, SERVER_NAME.clone());
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// The database endpoints (peer_common::db): each actix worker (one
/// thread, one runtime) opens its connection on first use, its connection
/// task spawned on that runtime.
async fn conn() -> std::rc::Rc<db::Conn> {
    db::conn(|| async {
        let (client, connection) = tokio_postgres::connect(db::URL, tokio_postgres::NoTls)
            .await
            .expect("database");
        actix_web::rt::spawn(async move {
            let _ = connection.await;
        });
        client
    })
    .await
}

fn respond(
    body: impl actix_web::body::MessageBody + 'static,
    content_type: &'static str,
) -> HttpResponse {
    let mut res = HttpResponse::Ok().body(body);
    let h = res.headers_mut();
    h.insert(SERVER, SERVER_NAME.clone());
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

async fn single() -> HttpResponse {
    respond(db::single(&*conn().await).await, "application/json")
}

async fn queries(req: actix_web::HttpRequest) -> HttpResponse {
    respond(
        db::queries(&*conn().await, req.query_string()).await,
        "application/json",
    )
}

async fn updates(req: actix_web::HttpRequest) -> HttpResponse {
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

fn main() -> std::io::Result<()> {
    let args = Args::parse(NAME);
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(|| {
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
        .bind(args.listen)?;
        let addr = server.addrs().first().copied().unwrap_or(args.listen);
        let running = server.run();
        announce(NAME, addr, args.workers);
        running.await
    })
}
