//! Accepting connections: a few single-shot accepts in flight, each with its
//! own address buffer (so every connection knows its client), and never
//! more than the core has room for below `server.max_connections`: at the
//! cap none is in flight, and new clients wait in the listen backlog rather
//! than being taken off it and dropped.
//!
//! Cost: one SQE per connection instead of one per burst (multishot), a few
//! tens of nanoseconds against the microseconds a connection's first
//! request costs (see BENCHMARKS.md, "accept").

use std::os::fd::OwnedFd;
use std::rc::Rc;

use tracing::warn;

use super::{tls, Worker};
use crate::conn::{Conn, PeerAddr};
use crate::driver::op::AcceptDirect;
use crate::driver::token::{Op, Token, GENERATION_MASK};
use crate::driver::Completion;
use crate::runtime::timer::{Clock, Millis};

/// Accepts a core keeps in flight at most: enough for a burst of new
/// connections to be taken several per loop turn.
const IN_FLIGHT: usize = 8;
/// After an accept error that is not the client's (descriptors exhausted,
/// anything unexpected), accepting pauses this long rather than spin.
const BACKOFF: Millis = 100;

/// A core's listener and its accepts.
pub(super) struct Acceptor {
    /// The accepts, each in flight or idle; they share the listener, which
    /// closes once they are all dropped.
    slots: Vec<(AcceptDirect, bool)>,
    /// The descriptor table was full: no accept until a connection closes.
    starved: bool,
    /// Accepting failed: paused until then (see [`BACKOFF`]).
    pub(super) paused_until: Option<Millis>,
    /// Draining: no new accepts; the listener closes when the last one's
    /// CQE is back.
    closing: bool,
}

impl Acceptor {
    pub(super) fn new(listener: OwnedFd) -> Acceptor {
        let listener = Rc::new(listener);
        Acceptor {
            slots: (0..IN_FLIGHT)
                .map(|_| (AcceptDirect::new(listener.clone()), false))
                .collect(),
            starved: false,
            paused_until: None,
            closing: false,
        }
    }

    fn in_flight(&self) -> usize {
        self.slots.iter().filter(|(_, busy)| *busy).count()
    }

    /// Closed for good: draining and every accept's CQE is back.
    pub(super) fn closed(&self) -> bool {
        self.slots.is_empty()
    }

    /// A connection closed: a full descriptor table has room again.
    pub(super) fn room_again(&mut self) {
        self.starved = false;
    }

    /// Drops the accepts (and so the listener) once none is in flight.
    fn close_if_idle(&mut self) {
        if self.closing && self.in_flight() == 0 {
            self.slots.clear();
        }
    }
}

impl Worker {
    /// Keeps as many accepts in flight as the connection cap leaves room
    /// for, up to [`IN_FLIGHT`].
    pub(super) fn arm_accepts(&mut self) {
        let a = &mut self.accept;
        if a.paused_until.is_some_and(|t| self.now < t) {
            return;
        }
        a.paused_until = None;
        if a.closing || a.starved {
            return;
        }
        let mut room = self
            .conn_cap
            .saturating_sub(self.conns.len() + a.in_flight());
        let mut entries: [Option<io_uring::squeue::Entry>; IN_FLIGHT] = Default::default();
        for (i, (op, busy)) in a.slots.iter_mut().enumerate() {
            if room == 0 {
                break;
            }
            if !*busy {
                *busy = true;
                room -= 1;
                entries[i] = Some(op.entry(Token::conn(Op::Accept, i as u32, 0).encode()));
            }
        }
        for entry in entries.into_iter().flatten() {
            self.push(entry);
        }
    }

    pub(super) fn on_accept(&mut self, index: u32, c: Completion) {
        let Some((op, busy)) = self.accept.slots.get_mut(index as usize) else {
            return;
        };
        *busy = false;
        let peer = op.peer();
        self.accept.close_if_idle();
        if c.result < 0 {
            match -c.result {
                // Cancelled (draining), or a client that left before it
                // was accepted: nothing wrong with the listener.
                libc::ECANCELED | libc::ECONNABORTED | libc::EINTR | libc::EAGAIN => {}
                libc::ENFILE => {
                    warn!(
                        core = self.ex.core,
                        "connection table full ({} per worker): new connections wait",
                        self.conn_cap
                    );
                    self.accept.starved = true;
                }
                e => {
                    warn!(
                        core = self.ex.core,
                        "accept failed: {}; retrying in {BACKOFF} ms",
                        std::io::Error::from_raw_os_error(e)
                    );
                    self.accept.paused_until = Some(self.now + BACKOFF);
                }
            }
            return;
        }
        self.ex.metrics.accepted.add(1);
        let fd = c.result as u32;
        let generation = self.next_generation;
        self.next_generation = (self.next_generation + 1) & GENERATION_MASK;
        let deadline = Clock::deadline(self.now, self.config.timeouts.header());
        let mut conn = Conn::new(fd, generation, deadline);
        conn.peer = peer.map(PeerAddr::new).unwrap_or_default();
        if self.ex.proxy_protocol {
            conn.http.waiting = crate::conn::Waiting::Proxy;
        }
        let session = self.certs.as_mut().map(|c| tls::session(c.config()));
        let failed = match session {
            Some(Ok(session)) => {
                conn.tls = Some(session);
                false
            }
            Some(Err(e)) => {
                warn!(core = self.ex.core, "cannot start a TLS session: {e}");
                true
            }
            None => false,
        };
        let slot = self.conns.insert(conn) as u32;
        if failed {
            return self.begin_close(slot);
        }
        // Accepted while draining (the kernel had completed the handshake):
        // its request is served, with `Connection: close`, if it comes soon.
        self.arm_recv(slot);
        if self.draining {
            self.close_when_quiet(slot);
        } else {
            self.arm_timer(slot);
        }
    }

    /// Draining: cancel the accepts in flight; the listener closes with the
    /// last one's CQE.
    pub(super) fn stop_accepting(&mut self) {
        self.accept.closing = true;
        let busy: Vec<u32> = (self.accept.slots.iter().enumerate())
            .filter(|(_, (_, busy))| *busy)
            .map(|(i, _)| i as u32)
            .collect();
        for i in busy {
            self.cancel(Token::conn(Op::Accept, i, 0));
        }
        self.accept.close_if_idle();
    }
}
