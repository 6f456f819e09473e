//! TechEmpower-style hello world: `GET /plaintext`, `GET /json`, and
//! `POST /echo` (the body back, as it arrived, with its Content-Type);
//! `GET /async/plaintext` is `/plaintext` from an async handler, byte for
//! byte (the async-overhead benchmark).
//!
//! `cargo run --release -p percore-examples --bin hello -- --listen 127.0.0.1:8080`

use percore::{get, post, App, Json, Request, Response, Server};

/// The TechEmpower JSON answer.
#[derive(serde::Serialize)]
struct Message {
    message: &'static str,
}

fn main() {
    let result = Server::from_args().and_then(|server| server.serve(|_core| app()));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}

fn app() -> App {
    App::new()
        .route("/plaintext", get(plaintext))
        .route(
            "/json",
            get(|| {
                // Serialised per request, as the TechEmpower rules require.
                let body = serde_json::to_vec(&Message {
                    message: "Hello, World!",
                });
                Response::json(body.unwrap_or_default())
            }),
        )
        // The same with the framework's `Json` (the extractor benchmark).
        .route(
            "/json/typed",
            get(|| {
                Json(Message {
                    message: "Hello, World!",
                })
            }),
        )
        .route("/async/plaintext", get(|| async { plaintext() }))
        .route("/echo", post(echo))
}

fn echo(req: &Request) -> Response {
    let response = Response::ok().body(req.body().to_vec());
    match req.header_bytes("content-type") {
        Some(ct) => response.content_type(ct),
        None => response,
    }
}

fn plaintext() -> Response {
    Response::ok()
        .content_type_static("text/plain")
        .body("Hello, World!")
}
