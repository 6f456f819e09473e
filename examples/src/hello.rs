//! The `hello` app: TechEmpower plaintext and JSON, echo, and the async
//! plaintext of the async-overhead benchmark (the binary serves it; tests
//! run it in process through `percore::testing::TestClient`).

use percore::{get, post, App, Json, Request, Response};

/// The TechEmpower JSON answer.
#[derive(serde::Serialize)]
struct Message {
    message: &'static str,
}

/// The hello app (one per core).
pub fn app() -> App {
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
