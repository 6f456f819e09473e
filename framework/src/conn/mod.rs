//! A connection's state: its direct descriptor, the ops it has in flight, its
//! buffers and its deadline. The event loop ([`crate::runtime`]) moves it
//! through its life; this module holds the data and the small rules that
//! belong to it.
//!
//! Life of a connection: accepted (multishot recv armed) -> requests parsed
//! from provided buffers, responses appended to `out` -> `out` swapped into
//! `sending` and sent, one send per loop turn -> either idle again, or
//! (Connection: close, error) shut down for writing, lingering until the peer
//! closes -> cancel outstanding ops -> close -> slot freed when the last op's
//! CQE has come back.
//!
//! An idle keep-alive connection owns no buffer: `inbuf`, `out` and `sending`
//! go back to the worker's [`BufPool`] as soon as they are empty. That is what
//! keeps 10,000 idle connections near 200 bytes each.

mod outgoing;
mod pool;

pub use outgoing::{Outgoing, Pipe, PIPE_CHUNK};
pub use pool::BufPool;

use crate::http::body::ChunkedDecoder;

/// Where a connection stands on reading its next request; decides which
/// timeout applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// Between requests (keep-alive timeout).
    Idle,
    /// Part of a request head has arrived (header timeout, not extended).
    Head,
    /// The head is complete, the body is still arriving (body timeout,
    /// extended on every read).
    Body,
}

/// A chunked request body being decoded across reads.
pub struct ChunkedProgress {
    /// The resumable decoder.
    pub decoder: ChunkedDecoder,
    /// The decoded body so far.
    pub body: Vec<u8>,
    /// Raw bytes after the head that the decoder has consumed.
    pub raw_used: usize,
}

/// One accepted connection.
pub struct Conn {
    /// Index in the ring's direct descriptor table.
    pub fd: u32,
    /// Generation of the slot; part of every op's user_data.
    pub generation: u32,
    /// Ops submitted and not yet completed (recv, send, shutdown, close).
    pub inflight: u8,
    /// Multishot recv is armed.
    pub recv_armed: bool,
    /// Reading was paused for backpressure (recv cancelled on purpose).
    pub read_paused: bool,
    /// An output op (send of `sending`, send of a part, splice) is in flight.
    pub send_active: bool,
    /// Queued in the worker's flush list for this loop turn.
    pub dirty: bool,
    /// After `out` is sent, close (Connection: close, error, draining).
    pub close_after_flush: bool,
    /// Write side shut down; reading and discarding until EOF or timeout.
    pub lingering: bool,
    /// The peer closed its side (recv returned 0).
    pub peer_eof: bool,
    /// Cancels issued; the close goes out when `inflight` reaches zero.
    pub closing: bool,
    /// The close op is in flight.
    pub close_submitted: bool,
    /// `100 Continue` already sent for the request being read.
    pub continue_sent: bool,
    /// Which read timeout applies.
    pub waiting: Waiting,
    /// Second (of the worker clock) at which the current timeout fires.
    pub deadline: u32,
    /// Bytes received but not yet consumed (a request split across reads).
    pub inbuf: Vec<u8>,
    /// Responses waiting for the next send.
    pub out: Vec<u8>,
    /// The buffer a send in flight reads: owned by the kernel until its CQE.
    pub sending: Vec<u8>,
    /// How much of `sending` the kernel has taken so far.
    pub send_off: usize,
    /// State of a chunked request body in progress.
    pub chunked: Option<Box<ChunkedProgress>>,
    /// Body parts sent outside the write buffer (large bodies, files).
    pub outgoing: Option<Box<Outgoing>>,
    /// Files being opened through the ring for the request at the front of
    /// `inbuf`, which runs again when they are in the cache.
    pub prefetch: Option<Box<crate::fs::prefetch::Prefetch>>,
    /// A prefetch op is in flight.
    pub prefetch_active: bool,
}

impl Conn {
    /// A freshly accepted connection on direct descriptor `fd`.
    pub fn new(fd: u32, generation: u32, deadline: u32) -> Conn {
        Conn {
            fd,
            generation,
            inflight: 0,
            recv_armed: false,
            read_paused: false,
            send_active: false,
            dirty: false,
            close_after_flush: false,
            lingering: false,
            peer_eof: false,
            closing: false,
            close_submitted: false,
            continue_sent: false,
            waiting: Waiting::Idle,
            deadline,
            inbuf: Vec::new(),
            out: Vec::new(),
            sending: Vec::new(),
            send_off: 0,
            chunked: None,
            outgoing: None,
            prefetch: None,
            prefetch_active: false,
        }
    }

    /// Nothing received and unanswered, nothing waiting to be sent.
    pub fn is_idle(&self) -> bool {
        self.inbuf.is_empty()
            && self.out.is_empty()
            && !self.send_active
            && self.chunked.is_none()
            && self.outgoing.is_none()
            && self.prefetch.is_none()
    }

    /// Gives every buffer back to the pool (connection closing or idle).
    pub fn release_buffers(&mut self, pool: &mut BufPool) {
        if self.inbuf.is_empty() {
            pool.put(std::mem::take(&mut self.inbuf));
        }
        if self.out.is_empty() {
            pool.put(std::mem::take(&mut self.out));
        }
        if !self.send_active && self.sending.is_empty() {
            pool.put(std::mem::take(&mut self.sending));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_connection_is_small() {
        // 10,000 idle connections must cost at most 1 KiB each of RSS; the
        // slot itself is a fraction of that.
        assert!(
            std::mem::size_of::<Conn>() <= 160,
            "{}",
            std::mem::size_of::<Conn>()
        );
    }

    #[test]
    fn idle_means_nothing_pending() {
        let mut c = Conn::new(1, 1, 0);
        assert!(c.is_idle());
        c.out.push(b'x');
        assert!(!c.is_idle());
    }
}
