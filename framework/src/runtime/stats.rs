//! What a core holds, as of the end of its last loop turn: for handlers
//! that report on their core (a status page, a test that checks nothing
//! leaked). The worker writes it once per turn (a few stores); reading it
//! costs nothing.

use crate::runtime::executor::with_core;

/// A core's connections, tasks, ring ops and receive buffers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// The core (worker) index.
    pub core: usize,
    /// Connections open (accepted, not yet closed).
    pub connections: usize,
    /// Tasks alive on the executor (handlers, streams, `spawn_local`).
    pub tasks: usize,
    /// Ring operations of tasks still owned by the kernel (dropped futures'
    /// ops included, until their final CQE).
    pub task_ops_in_flight: usize,
    /// Provided receive buffers the kernel may fill now.
    pub recv_buffers_available: u32,
    /// Provided receive buffers in all (`ring.buffers`).
    pub recv_buffers: u32,
}

/// The current core's stats. Panics off a worker thread (call it from a
/// handler or a task).
pub fn core_stats() -> CoreStats {
    with_core("percore::core_stats()", |core| core.stats.get())
}
