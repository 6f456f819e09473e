//! `Timeout`: an async handler that has not answered within the limit is
//! dropped (its operations cancelled) and the client gets 504 Gateway
//! Timeout (the handler, often waiting on an upstream or a database, is the
//! gateway here). A sync handler cannot be interrupted; it is not limited.
//! The limit counts from the head: a body still arriving (a slow upload, or
//! a `Json<T>` being read) counts against it.

use std::time::Duration;

use super::Middleware;
use crate::handler::{Request, Response};

/// Answers 504 for an async handler slower than the limit.
#[derive(Debug, Clone, Copy)]
pub struct Timeout(pub Duration);

impl Timeout {
    /// A limit of `limit` per request (the same as `Timeout(limit)`).
    pub const fn new(limit: Duration) -> Timeout {
        Timeout(limit)
    }
}

impl Middleware for Timeout {
    type Memo = ();

    fn before(&self, _: &Request) -> Result<(), Response> {
        Ok(())
    }

    fn after(&self, _: (), response: Response) -> Response {
        response
    }

    fn time_limit(&self) -> Option<Duration> {
        Some(self.0)
    }
}
