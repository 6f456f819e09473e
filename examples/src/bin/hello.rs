//! TechEmpower-style hello world: `GET /plaintext`, `GET /json`, and
//! `POST /echo` (the body back, as it arrived, with its Content-Type);
//! `GET /async/plaintext` is `/plaintext` from an async handler, byte for
//! byte (the async-overhead benchmark).
//!
//! `cargo run --release -p percore-examples --bin hello -- --listen 127.0.0.1:8080`

use percore::Server;
use percore_examples::hello::app;

fn main() {
    let result = Server::from_args().and_then(|server| server.serve(|_core| app()));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
