//! Async handlers beside a sync one:
//!
//! - `GET /sleep?ms=N` answers `slept N ms` after N milliseconds (N from 0
//!   to 10000, else 400) while the core serves everything else;
//! - `GET /file/*path` streams a file under `--root` (default `.`), read
//!   through `percore::fs` in 64 KiB pieces as the client takes them;
//! - `GET /events` sends five server-sent events, one second apart;
//! - `GET /plaintext` is the sync handler, for contrast.
//!
//! `cargo run --release -p percore-examples --bin async_api -- --listen 127.0.0.1:8080 --root ./public`

use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use percore::config::CommonArgs;
use percore::fs::File;
use percore::time::sleep;
use percore::{get, spawn_local, App, Body, IntoResponse, Request, Response, Server, StatusCode};

/// The longest sleep asked for, in milliseconds.
const MAX_SLEEP_MS: u64 = 10_000;
/// Bytes read from a file per piece.
const PIECE: usize = 64 * 1024;

#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// Directory that `/file/*path` serves from.
    #[arg(long, value_name = "DIR", default_value = ".")]
    root: PathBuf,
}

fn main() {
    let cli = Cli::parse();
    let server = Server::from_common_args(cli.common);
    if !cli.root.is_dir() {
        eprintln!("error: --root {} is not a directory", cli.root.display());
        std::process::exit(2);
    }
    let root = Arc::new(cli.root);
    let result = server.serve(move |_core| {
        // Each core opens the root once; files are opened beneath it.
        let dir = std::fs::File::open(&*root).expect("--root was checked at start");
        app(Rc::new(File::from(dir)))
    });
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}

fn app(root: Rc<File>) -> App {
    App::new()
        .route("/plaintext", get(|| "Hello, World!"))
        .route("/sleep", get(sleep_handler))
        .route("/events", get(events))
        .route(
            "/file/*path",
            get(move |req: Request| file(root.clone(), req)),
        )
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
    Response::text(format!("slept {ms} ms"))
}

/// Five server-sent events, one second apart; the task stops early if the
/// client goes away.
async fn events() -> Response {
    let (tx, body) = Body::channel();
    spawn_local(async move {
        for i in 1..=5 {
            if i > 1 {
                sleep(Duration::from_secs(1)).await;
            }
            if tx
                .send(format!("id: {i}\ndata: event {i}\n\n"))
                .await
                .is_err()
            {
                return; // the client left
            }
        }
    });
    Response::ok()
        .content_type_static("text/event-stream")
        .header(percore::header::CACHE_CONTROL, "no-cache")
        .body(body)
}

/// A file under `root`, streamed piece by piece with its length.
async fn file(root: Rc<File>, req: Request) -> Response {
    let rel = Path::new(req.param("path").unwrap_or(""));
    // Only plain names: no `..`, no root, no `.`. And the open itself cannot
    // leave the root, symlinks included (RESOLVE_BENEATH).
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    let Ok(file) = root.open_beneath(rel).await else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let meta = match file.metadata().await {
        Ok(m) if m.is_file => m,
        _ => return (StatusCode::NOT_FOUND, "not found\n").into_response(),
    };
    let (tx, body) = Body::channel_with_len(meta.len);
    spawn_local(async move {
        let mut pos = 0u64;
        while pos < meta.len {
            let (res, buf) = file.read_at(Vec::with_capacity(PIECE), pos).await;
            match res {
                Ok(n) if n > 0 => pos += n as u64,
                _ => return, // the file shrank or failed: the body ends short
            }
            if tx.send(buf).await.is_err() {
                return;
            }
        }
    });
    Response::ok()
        .content_type_static("application/octet-stream")
        .body(body)
}
