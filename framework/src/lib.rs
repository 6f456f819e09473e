//! # percore
//!
//! A thread-per-core HTTP/1.1 server framework for Linux, built directly on
//! io_uring. One pinned thread per core owns one ring, one `SO_REUSEPORT`
//! listener, its connections, its router and its state; nothing is shared
//! between cores but the kernel's spreading of new connections.
//!
//! ```text
//!             kernel: SO_REUSEPORT spreads connections over the cores' listeners
//!                  |                 |                 |
//!   core 0 ------- v -------   core 1 -- v --    core N -- v --
//!   | ring: multishot accept (direct fd) ---> Conn slot in a Slab
//!   |       multishot recv  (provided buffer ring: idle conns hold no buffer)
//!   |          |
//!   |          v
//!   |   exchange (pure): http codec -> router -> handler(req, per-core state)
//!   |          |        (or an answer that comes later: file opens on a miss)
//!   |          v
//!   |   response encoder -> conn write buffer -> one send per conn per loop turn
//!   | timers: one heap per core, in milliseconds; the wait never passes the earliest
//!   | eventfd read: shutdown notice from the main thread
//!   ------------------------------------------------------------------
//! ```
//!
//! # Layout
//!
//! The design notes the code comments point to are in `docs/ARCHITECTURE.md`.
//!
//! - [`config`]: configuration (serde), defaults, validation, command line.
//! - `runtime` (internal): spawn and pin workers, signals, graceful shutdown,
//!   the per-core event loop (`worker/`), the exchange of request bytes for
//!   responses (`exchange/`, pure), the per-core timers.
//! - `driver` (internal): the ring: setup with fallback and the opcode probe,
//!   user_data tokens, the provided buffer ring, and `op/`: one type per ring
//!   operation, owning the memory and descriptors its SQE names.
//! - [`net`]: `SO_REUSEPORT` listeners; `TcpStream`, `TcpListener` on the ring.
//! - `conn` (internal): a connection's state as enums (receive, output,
//!   phase) and its HTTP side.
//! - [`http`]: the pure codec: head parser, chunked decoder, encoder, Date.
//! - [`router`]: the per-core router.
//! - [`handler`]: `Handler`, `Request`, `Response`, `IntoResponse`.
//! - [`app`]: `App`, a core's routes and mounts.
//! - [`fs`]: `File` on the ring for async code; static files as a handler
//!   (`StaticFiles`), its open-file cache and the misses opened through the ring.
//! - [`time`]: `sleep`, `timeout`, `interval` on the core's timer heap.
//! - [`spawn_local`], [`spawn_blocking`]: tasks on the core's executor (in
//!   `runtime/executor`, internal), and work for a shared blocking pool.
//!
//! # Quick start
//!
//! ```no_run
//! use std::{cell::Cell, rc::Rc};
//! use percore::{get, post, App, Request, Response, Server};
//!
//! fn main() -> percore::Result<()> {
//!     Server::from_args()?                  // --listen, --workers, --config
//!         .serve(|core| {                   // runs once on each core
//!             let hits = Rc::new(Cell::new(0u64));     // per-core state: !Send is fine
//!             App::new()
//!                 .route("/plaintext", get(|_: &Request| "Hello, World!"))
//!                 .route("/users/:id", get(|req: &Request| format!("user {}", req.param("id").unwrap_or(""))))
//!                 .route("/count", get(move |_: &Request| {
//!                     hits.set(hits.get() + 1);
//!                     format!("core {core}: {}", hits.get())
//!                 }))
//!                 .route("/echo", post(|req: &Request| Response::ok().body(req.body().to_vec())))
//!         })
//! }
//! ```

pub mod app;
pub mod check;
pub mod config;
pub(crate) mod conn;
pub(crate) mod driver;
mod error;
pub mod extract;
pub mod fs;
pub mod guide;
pub mod handler;
pub mod http;
mod metrics;
pub mod middleware;
pub mod net;
pub mod router;
mod runtime;
pub mod testing;
pub mod time;
mod tls;

/// The `http` crate's types ([`testing::TestClient::request`] takes an
/// `http::Request`), under a name apart from the codec's [`mod@http`].
pub use ::http as http_types;
pub use ::http::{header, Method, StatusCode};
pub use app::App;
pub use bytes::Bytes;
pub use check::{check, print_check, print_findings, Finding};
pub use config::Config;
/// The `cookie` crate, whose `Cookie` [`Response::cookie`] takes (its
/// version, so an app needs no dependency of its own to match).
pub use cookie;
pub use driver::SetupError;
pub use error::{Error, Result};
pub use extract::{Cookies, Form, Json, Path, Query, State};
pub use fs::StaticFiles;
pub use handler::{
    any, delete, get, head, on, options, patch, post, put, Body, BodyError, BodySender, Handler,
    Html, IntoResponse, MethodRouter, Redirect, Request, RequestBody, Response,
};
pub use runtime::executor::{spawn_blocking, spawn_local, BlockingHandle, JoinError, JoinHandle};
pub use runtime::stats::{core_stats, CoreStats};
pub use runtime::{CoreId, RunningServer, Server};

/// Sets up `tracing` output on stderr: the level comes from `RUST_LOG` if set,
/// else from `default_level` (the config's `log.level`). Safe to call twice.
pub fn init_logging(default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let mut filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // rustls warns about what clients send (a message out of order, a
    // renegotiation attempt): a client could fill the log at `warn`.
    // percore logs TLS failures itself, at debug. Unless the filter names
    // rustls, it says errors only.
    let text = std::env::var("RUST_LOG").unwrap_or_else(|_| default_level.to_owned());
    if !text.contains("rustls") {
        if let Ok(quiet) = "rustls=error".parse() {
            filter = filter.add_directive(quiet);
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
