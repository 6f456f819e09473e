//! What a handler's call produces inside the crate: a response now, or an
//! answer that is not ready yet.
//!
//! A [`Pending`] answer holds up its connection: nothing after its request
//! is served until it is ready (responses stay in order), while every other
//! connection of the core goes on. Two kinds: a static-file cache miss (the
//! event loop opens the files through the ring, then the request runs
//! again) and an async handler (a task on the core's executor, whose
//! response comes back to the connection).

use super::Response;
use crate::fs::prefetch::Prefetch;
use crate::runtime::executor::{BoxFuture, TaskId};

/// The outcome of one handler call.
pub(crate) enum Reply {
    /// Encode and send this.
    Ready(Response),
    /// Not answered yet: see [`Pending`].
    Pending(Pending),
    /// An async handler's future, to be started as a task whose response
    /// comes back to the connection.
    Spawn(BoxFuture),
}

/// What the encoder needs to know of a request whose answer comes later.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deferred {
    pub(crate) is_head: bool,
    pub(crate) http10: bool,
    pub(crate) close: bool,
    /// The request's method class, for the metrics.
    pub(crate) method: u8,
}

/// An answer in progress, held by the connection until it is ready.
pub(crate) enum Pending {
    /// Files to open through the ring; then the request runs again.
    OpenFiles(Box<Prefetch>),
    /// An async handler's task; its response comes back as an answer.
    Task(TaskId, Deferred),
}

impl Pending {
    /// Whether a ring op of this answer is in flight (the connection must
    /// not be freed before its CQE).
    pub(crate) fn op_in_flight(&self) -> bool {
        match self {
            Pending::OpenFiles(job) => job.in_flight(),
            Pending::Task(..) => false,
        }
    }
}

impl From<Response> for Reply {
    fn from(r: Response) -> Reply {
        Reply::Ready(r)
    }
}
