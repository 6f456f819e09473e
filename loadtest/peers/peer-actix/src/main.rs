//! actix-web 4: `HttpServer` with N workers (each a single-threaded actix/tokio
//! runtime; the listener is shared by the workers, actix's default).
//! actix adds `Date` itself; `Server` is set per response, as TechEmpower's actix does.

use actix_web::http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use actix_web::{web, App, HttpResponse, HttpServer};
use peer_common::{announce, Args, Message, PLAINTEXT};

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

fn main() -> std::io::Result<()> {
    let args = Args::parse(NAME);
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(|| {
            App::new()
                .route("/plaintext", web::get().to(plaintext))
                .route("/json", web::get().to(json))
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
