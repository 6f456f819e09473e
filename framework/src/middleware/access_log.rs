//! `AccessLog`: one `access` log line per request, with the time it took:
//! method, target, status, body length, microseconds from the head to the
//! response (`RUST_LOG=access=info`). It runs where its layer sits: put it
//! first (outermost) to time everything inside.

use std::time::Instant;

use super::Middleware;
use crate::handler::{Request, Response};

/// Logs each request with its status and the time taken.
#[derive(Debug, Default, Clone, Copy)]
pub struct AccessLog;

impl AccessLog {
    /// The access log layer (the same as `AccessLog`).
    pub const fn new() -> AccessLog {
        AccessLog
    }
}

/// What the line needs of the request.
pub struct Started {
    at: Instant,
    line: String,
}

impl Middleware for AccessLog {
    type Memo = Started;

    fn before(&self, req: &Request) -> Result<Started, Response> {
        Ok(Started {
            at: Instant::now(),
            line: format!("{} {}", req.method(), req.target()),
        })
    }

    fn after(&self, started: Started, response: Response) -> Response {
        let len = response
            .body_ref()
            .len()
            .map_or_else(|| "-".to_string(), |n| n.to_string());
        tracing::info!(
            target: "access",
            "\"{}\" {} {} {}us",
            started.line.escape_debug(),
            response.status_code().as_u16(),
            len,
            started.at.elapsed().as_micros()
        );
        response
    }
}
