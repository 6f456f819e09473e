//! The HTTP side of a connection: bytes received and not yet answered,
//! responses not yet handed to the ring, and where the next request stands.
//! The exchange ([`crate::runtime::exchange`]) reads and writes this; it
//! touches no ring, so it is unit-tested with byte literals.

use crate::handler::{Pending, PipeWriter};
use crate::http::body::ChunkedDecoder;

use super::{BufPool, Outgoing};

/// Where the connection stands on reading its next request; decides which
/// read timeout applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Waiting {
    /// Between requests (keep-alive timeout, once nothing is owed).
    #[default]
    Idle,
    /// Part of a request head has arrived (header timeout, from its first
    /// byte, not extended).
    Head,
    /// The head is complete, the body is still arriving (body timeout,
    /// extended on every read).
    Body,
    /// Complete requests are held back until our output drains: no read
    /// timeout (the send timeout covers a peer that does not read).
    Held,
    /// A new connection whose PROXY protocol header has not all arrived
    /// (`server.proxy_protocol`; header timeout from the accept).
    Proxy,
}

/// How far the partial head at the front of the input has been looked at,
/// so that bytes trickling in are scanned once, not re-parsed from the start
/// on every read (as hyper's `is_complete_fast`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeadScan {
    /// Bytes of the head already searched for its end (0: not looked at).
    pub(crate) scanned: u32,
}

/// A chunked request body being decoded across reads. The raw bytes the
/// decoder consumed are dropped from the input as it goes, so the input
/// holds the head and the undecoded rest, not the whole raw body.
pub(crate) struct ChunkedProgress {
    /// The resumable decoder.
    pub(crate) decoder: ChunkedDecoder,
    /// The decoded body so far.
    pub(crate) body: Vec<u8>,
    /// Raw bytes after the head that the decoder has consumed and that are
    /// still in the input.
    pub(crate) raw_used: usize,
    /// Length of the request's head (the raw body starts there).
    pub(crate) head_len: usize,
}

/// A request body streaming into its async handler as it arrives (see
/// `runtime::exchange::feed`).
pub(crate) struct BodyFeed {
    /// The connection's end of the handler's body pipe.
    pub(crate) writer: PipeWriter,
    pub(crate) framing: FeedFraming,
}

/// How the end of a streaming body is found.
pub(crate) enum FeedFraming {
    /// `Content-Length`: this many bytes still to come.
    Length(u64),
    /// Chunked: the decoder resumes where it stopped.
    Chunked(ChunkedDecoder),
}

/// A request body in progress across reads (one box: rare, and an idle
/// connection pays only the pointer).
pub(crate) enum BodyProgress {
    /// Chunked, collected whole for a sync handler.
    Collecting(ChunkedProgress),
    /// Streaming to its async handler.
    Feeding(BodyFeed),
}

impl BodyProgress {
    /// The collecting state (the only kind `take_collecting` hands out).
    pub(crate) fn collecting(&mut self) -> &mut ChunkedProgress {
        match self {
            BodyProgress::Collecting(p) => p,
            BodyProgress::Feeding(_) => unreachable!("a streaming body is never collected"),
        }
    }
}

/// The HTTP state of one connection.
#[derive(Default)]
pub(crate) struct HttpState {
    /// Bytes received but not yet consumed (a request split across reads,
    /// or requests held back).
    pub(crate) inbuf: Vec<u8>,
    /// Responses waiting for the next send.
    pub(crate) out: Vec<u8>,
    /// Body parts that follow `out` without being copied into it.
    pub(crate) outgoing: Option<Box<Outgoing>>,
    /// A request body in progress: a chunked one being collected, or one
    /// streaming to its handler (the front of `inbuf` is body bytes then).
    pub(crate) body: Option<Box<BodyProgress>>,
    /// An answer not ready yet for the request at the front of `inbuf`.
    pub(crate) pending: Option<Pending>,
    pub(crate) scan: HeadScan,
    pub(crate) waiting: Waiting,
    /// `100 Continue` already sent for the request being read.
    pub(crate) continue_sent: bool,
    /// The peer sent EOF: nothing more will arrive.
    pub(crate) peer_eof: bool,
    /// A request was served: idle now means kept alive (keep-alive timeout),
    /// not waiting for the first request (header timeout).
    pub(crate) served: bool,
    /// Requests awaiting their access-log line (when the log is on).
    pub(crate) access: Option<Box<crate::runtime::access::Track>>,
}

impl HttpState {
    /// Nothing received and unanswered, nothing waiting to be sent.
    pub(crate) fn is_idle(&self) -> bool {
        self.inbuf.is_empty()
            && self.out.is_empty()
            && self.body.is_none()
            && self.outgoing.is_none()
            && self.pending.is_none()
    }

    /// Whether serving must wait for our output (or an answer in progress)
    /// before it takes the next request.
    pub(crate) fn must_hold(&self, high_water: usize) -> bool {
        self.out.len() >= high_water || self.outgoing.is_some() || self.pending.is_some()
    }

    /// Appends an interim response (`100 Continue`): output that belongs
    /// to no request's body, counted so the access log's offsets hold.
    pub(crate) fn push_interim(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
        if let Some(track) = self.access.as_mut() {
            track.queued(bytes.len() as u64);
        }
    }

    /// Gives the empty buffers back to the pool (idle or closing).
    pub(crate) fn release_buffers(&mut self, pool: &mut BufPool) {
        if self.inbuf.is_empty() {
            pool.put(std::mem::take(&mut self.inbuf));
        }
        if self.out.is_empty() {
            pool.put(std::mem::take(&mut self.out));
        }
    }

    /// The body streaming to its handler, if any.
    pub(crate) fn feed(&self) -> Option<&BodyFeed> {
        match self.body.as_deref() {
            Some(BodyProgress::Feeding(f)) => Some(f),
            _ => None,
        }
    }

    /// The body streaming to its handler, if any.
    pub(crate) fn feed_mut(&mut self) -> Option<&mut BodyFeed> {
        match self.body.as_deref_mut() {
            Some(BodyProgress::Feeding(f)) => Some(f),
            _ => None,
        }
    }

    /// Whether a request body streams to its handler.
    pub(crate) fn is_feeding(&self) -> bool {
        self.feed().is_some()
    }

    /// Ends the streaming body's feed (its writer ends the pipe).
    pub(crate) fn take_feed(&mut self) -> Option<BodyFeed> {
        if !self.is_feeding() {
            return None;
        }
        match *self.body.take()? {
            BodyProgress::Feeding(f) => Some(f),
            BodyProgress::Collecting(_) => None,
        }
    }

    /// The chunked body being collected, if any, taken out.
    pub(crate) fn take_collecting(&mut self) -> Option<Box<BodyProgress>> {
        match self.body.as_deref() {
            Some(BodyProgress::Collecting(_)) => self.body.take(),
            _ => None,
        }
    }

    /// Whether a pending answer has a ring op in flight.
    pub(crate) fn file_op_in_flight(&self) -> bool {
        self.pending.as_ref().is_some_and(Pending::op_in_flight)
    }
}
