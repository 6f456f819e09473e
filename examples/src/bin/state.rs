//! Per-core state: each worker builds its own counter in an `Rc<Cell<_>>`
//! (no locks, no atomics: it never leaves its core). `/count` answers with
//! the core's id and how many requests that core has counted.
//!
//! `cargo run -p percore-examples --bin state -- --workers 2`

use std::cell::Cell;
use std::rc::Rc;

use percore::{get, App, Request, Server};

fn main() {
    let result = Server::from_args().and_then(|server| {
        server.serve(|core| {
            let hits = Rc::new(Cell::new(0u64));
            App::new().route(
                "/count",
                get(move |req: &Request| {
                    debug_assert_eq!(req.core(), core);
                    hits.set(hits.get() + 1);
                    format!("core {core}: {}\n", hits.get())
                }),
            )
        })
    });
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
