//! Response bytes that do not go through the write buffer: large memory
//! bodies sent from where they lie, and file ranges spliced from the page
//! cache through a pipe to the socket. While a connection has some, it
//! serves no further pipelined request (responses stay in order).

use std::collections::VecDeque;

use crate::driver::op::Pipe;
use crate::handler::Part;
use crate::runtime::exchange::stream::StreamOut;

/// The parts still to send for the response being written, in order. They
/// follow whatever is in the write buffer.
#[derive(Default)]
pub(crate) struct Outgoing {
    /// Parts not yet fully sent; the front one is in progress.
    pub(crate) parts: VecDeque<Part>,
    /// Bytes of the front part already handed to the socket (or the pipe).
    pub(crate) done: u64,
    /// The pipe of the front file part between splice rounds (during a
    /// round the splice op owns it).
    pub(crate) pipe: Option<Pipe>,
    /// Bytes sitting in that pipe, not yet spliced to the socket.
    pub(crate) in_pipe: u32,
    /// A body from an async stream, after the parts (see
    /// [`crate::runtime::exchange::stream`]).
    pub(crate) stream: Option<StreamOut>,
}

impl Outgoing {
    /// The front part's bytes not yet handed over.
    pub(crate) fn remaining(&self) -> u64 {
        self.parts.front().map_or(0, |p| p.len() - self.done)
    }

    /// `n` more bytes of the front memory parts went out (a gathering
    /// send may finish several): parts sent whole leave the queue.
    pub(crate) fn sent_from_memory(&mut self, mut n: u64) {
        while n > 0 && !self.parts.is_empty() {
            let take = n.min(self.remaining());
            self.done += take;
            n -= take;
            if self.remaining() == 0 {
                self.parts.pop_front();
                self.done = 0;
            }
        }
    }
}
