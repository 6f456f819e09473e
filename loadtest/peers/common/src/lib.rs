//! What every benchmark peer shares: `--listen HOST:PORT` / `--workers N`
//! parsing (no CLI crate) and the TechEmpower payloads; with the `db`
//! feature, the database endpoints' queries.

#[cfg(feature = "db")]
pub mod db;

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::exit;

/// Body of `GET /plaintext`.
pub const PLAINTEXT: &str = "Hello, World!";

/// Body of `GET /json`, serialised per request with serde_json.
#[derive(serde::Serialize)]
pub struct Message {
    pub message: &'static str,
}

impl Message {
    pub const HELLO: Message = Message {
        message: "Hello, World!",
    };
}

/// Command line of a peer.
#[derive(Debug, Clone)]
pub struct Args {
    /// `--listen HOST:PORT`, default 127.0.0.1:8080.
    pub listen: SocketAddr,
    /// `--workers N`, default: number of CPUs.
    pub workers: usize,
}

fn usage(name: &str) -> String {
    format!(
        "usage: {name} [--listen HOST:PORT] [--workers N]\n\
         \x20 --listen HOST:PORT  address to bind (default 127.0.0.1:8080)\n\
         \x20 --workers N         worker threads (default: number of CPUs)"
    )
}

fn fail(name: &str, msg: &str) -> ! {
    eprintln!("{name}: {msg}\n{}", usage(name));
    exit(2)
}

impl Args {
    /// Parses `std::env::args()`; prints usage and exits 2 on a bad argument.
    /// Accepts `--listen X`, `--listen=X`, `--workers N`, `--workers=N`, `-h`/`--help`.
    pub fn parse(name: &str) -> Args {
        let mut listen = "127.0.0.1:8080".to_string();
        let mut workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let (key, inline) = match arg.split_once('=') {
                Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = |key: &str| -> String {
                inline
                    .clone()
                    .or_else(|| it.next())
                    .unwrap_or_else(|| fail(name, &format!("{key} needs a value")))
            };
            match key.as_str() {
                "--listen" => listen = value("--listen"),
                "--workers" => {
                    let v = value("--workers");
                    workers = match v.parse::<usize>() {
                        Ok(n) if n > 0 => n,
                        _ => fail(name, &format!("--workers: not a positive integer: {v}")),
                    };
                }
                "-h" | "--help" => {
                    println!("{}", usage(name));
                    exit(0)
                }
                other => fail(name, &format!("unknown argument: {other}")),
            }
        }
        let listen = listen
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .unwrap_or_else(|| {
                fail(
                    name,
                    &format!("--listen: not a HOST:PORT address: {listen}"),
                )
            });
        Args { listen, workers }
    }
}

/// The readiness line the harness waits for on stderr.
pub fn announce(name: &str, addr: SocketAddr, workers: usize) {
    eprintln!("{name}: listening on {addr} ({workers} workers)");
}
