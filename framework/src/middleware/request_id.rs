//! `RequestId`: every response says `x-request-id`: the client's own (if it
//! sent a sane one: 1 to 128 visible ASCII characters) or one made here,
//! unique per process (core, counter and a per-process prefix).

use std::cell::Cell;

use super::Middleware;
use crate::handler::{Request, Response};

/// Sets `x-request-id` on every response (see the module docs).
#[derive(Debug, Default)]
pub struct RequestId {
    next: Cell<u64>,
}

impl RequestId {
    pub fn new() -> RequestId {
        RequestId::default()
    }
}

/// A prefix that differs between processes (their start time and id).
fn process_prefix() -> u64 {
    use std::sync::OnceLock;
    static PREFIX: OnceLock<u64> = OnceLock::new();
    *PREFIX.get_or_init(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        t ^ ((std::process::id() as u64) << 32)
    })
}

impl Middleware for RequestId {
    type Memo = String;

    fn before(&self, req: &Request) -> Result<String, Response> {
        if let Some(id) = req.header("x-request-id") {
            if (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()) {
                return Ok(id.to_string());
            }
        }
        let n = self.next.get();
        self.next.set(n + 1);
        Ok(format!("{:x}-{}-{n:x}", process_prefix(), req.core()))
    }

    fn after(&self, id: String, response: Response) -> Response {
        response.header("x-request-id", id)
    }
}
