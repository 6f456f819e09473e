//! What a handler's call produces inside the crate: a response now, or an
//! answer that is not ready yet.
//!
//! A [`Pending`] answer keeps its request at the front of the connection's
//! input; the connection serves nothing after it until the answer is ready
//! (responses stay in order). The static-file handler's cache miss is one:
//! the event loop opens the files through the ring, then the request runs
//! again. The async handlers of the executor will be another.

use super::Response;
use crate::fs::prefetch::Prefetch;

/// The outcome of one handler call.
pub(crate) enum Reply {
    /// Encode and send this.
    Ready(Response),
    /// Not answered yet: see [`Pending`].
    Pending(Pending),
}

/// An answer in progress, held by the connection until it is ready.
pub(crate) enum Pending {
    /// Files to open through the ring; then the request runs again.
    OpenFiles(Box<Prefetch>),
}

impl Pending {
    /// Whether a ring op of this answer is in flight (the connection must
    /// not be freed before its CQE).
    pub(crate) fn op_in_flight(&self) -> bool {
        match self {
            Pending::OpenFiles(job) => job.in_flight(),
        }
    }
}

impl From<Response> for Reply {
    fn from(r: Response) -> Reply {
        Reply::Ready(r)
    }
}
