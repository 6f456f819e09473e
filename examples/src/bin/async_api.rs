//! Async handlers beside a sync one: `GET /sleep?ms=N` answers
//! `slept N ms` after N milliseconds (N from 0 to 10000, else 400) while
//! the core serves everything else; `GET /plaintext` is the sync handler for
//! contrast.
//!
//! `cargo run --release -p percore-examples --bin async_api -- --listen 127.0.0.1:8080`

use std::time::Duration;

use percore::time::sleep;
use percore::{get, App, IntoResponse, Request, Response, Server, StatusCode};

/// The longest sleep asked for, in milliseconds.
const MAX_SLEEP_MS: u64 = 10_000;

fn main() {
    let result = Server::from_args().and_then(|server| server.serve(|_core| app()));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}

fn app() -> App {
    App::new()
        .route("/plaintext", get(|| "Hello, World!"))
        .route("/sleep", get(sleep_handler))
}

async fn sleep_handler(req: Request) -> Response {
    let ms = req
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("ms=")))
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| *ms <= MAX_SLEEP_MS);
    let Some(ms) = ms else {
        return (
            StatusCode::BAD_REQUEST,
            "ms must be a whole number of milliseconds from 0 to 10000\n",
        )
            .into_response();
    };
    sleep(Duration::from_millis(ms)).await;
    Response::ok().body(format!("slept {ms} ms"))
}
