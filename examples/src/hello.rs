//! The `hello` app: TechEmpower plaintext and JSON, echo, and the async
//! plaintext of the async-overhead benchmark (the binary serves it; tests
//! run it in process through `percore::testing::TestClient`).

use percore::{get, post, App, Json, Request, Response};

/// The TechEmpower JSON answer.
#[derive(serde::Serialize)]
struct Message {
    message: &'static str,
}

/// The JSON body of the extractor benchmark's POSTs.
#[derive(serde::Deserialize)]
struct Input {
    #[allow(dead_code)]
    message: String,
    n: u32,
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
        // A JSON body in, parsed by hand and through `Json<T>` (the
        // extractor benchmark, `loadtest/post_json.lua`).
        .route(
            "/in/hand",
            post(|req: &Request| {
                let ok = req
                    .header("content-type")
                    .is_some_and(|ct| ct.starts_with("application/json"));
                match serde_json::from_slice::<Input>(req.body()) {
                    Ok(input) if ok => Response::text(input.n.to_string()),
                    _ => Response::new(percore::StatusCode::BAD_REQUEST),
                }
            }),
        )
        .route(
            "/in/typed",
            post(|Json(input): Json<Input>| input.n.to_string()),
        )
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
