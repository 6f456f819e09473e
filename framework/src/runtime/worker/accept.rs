//! Accepting connections: a few single-shot accepts in flight, each with its
//! own address buffer (so every connection knows its client), and never
//! more than the core has room for below `server.max_connections`.
//!
//! At the cap none is in flight: new clients wait in the listen backlog
//! rather than being taken off it and dropped. A poll of the listener says
//! when some wait; the core then closes its oldest idle connections (as
//! many as wait, up to [`EVICT_MAX`]), as nginx reuses its keep-alive
//! connections, and accepts them in their place. With no idle connection
//! they wait for one to close or go idle.
//!
//! An accept that fails for want of resources (ENFILE, ENOMEM) pauses
//! accepting for [`BACKOFF`]: the client stays in the backlog, nothing
//! spins, and accepting resumes by itself.
//!
//! Cost: one SQE per connection instead of one per burst (multishot), a few
//! tens of nanoseconds against the microseconds a connection's first
//! request costs (see BENCHMARKS.md, "accept").

use std::os::fd::OwnedFd;
use std::rc::Rc;

use tracing::{debug, info, warn};

use super::{tls, Worker};
use crate::conn::{Conn, PeerAddr, Phase, Waiting};
use crate::driver::op::{AcceptDirect, ListenerPoll};
use crate::driver::token::{Op, Token, GENERATION_MASK};
use crate::driver::Completion;
use crate::runtime::timer::{Clock, Millis};

/// Accepts a core keeps in flight at most: enough for a burst of new
/// connections to be taken several per loop turn.
const IN_FLIGHT: usize = 8;
/// After an accept error that is not the client's (descriptors exhausted,
/// anything unexpected), accepting pauses this long rather than spin.
const BACKOFF: Millis = 100;
/// Idle connections closed at most per look at the backlog (nginx's
/// `ngx_drain_connections` closes up to 32).
const EVICT_MAX: usize = 32;
/// A connection that has not sent its first request yet makes way at the
/// cap only after this long (before, its request may be in flight).
const FRESH_GRACE: Millis = 1000;

/// A core's listener and its accepts.
pub(super) struct Acceptor {
    /// The accepts, each in flight or idle; they share the listener, which
    /// closes once they and the poll are all dropped.
    slots: Vec<(AcceptDirect, bool)>,
    /// The listener's readiness poll (dropped once draining is done).
    ready: Option<ListenerPoll>,
    /// The poll is in flight.
    polling: bool,
    /// At the cap, the poll saw clients waiting: idle connections make
    /// way for them until an accept goes out again.
    waiting: bool,
    /// A connection went idle (or clients were just seen waiting) since
    /// the last look for idle connections to close.
    look_for_idle: bool,
    /// Accepting failed: paused until then (see [`BACKOFF`]).
    pub(super) paused_until: Option<Millis>,
    /// Clients wait and only connections within [`FRESH_GRACE`] could
    /// make way: look again then.
    pub(super) look_again_at: Option<Millis>,
    /// Failed accepts in a row (logged once, then when it recovers).
    failures: u32,
    /// Draining: no new accepts; the listener closes when the last one's
    /// CQE is back.
    closing: bool,
}

impl Acceptor {
    pub(super) fn new(listener: OwnedFd) -> Acceptor {
        let listener = Rc::new(listener);
        Acceptor {
            ready: Some(ListenerPoll::new(listener.clone())),
            slots: (0..IN_FLIGHT)
                .map(|_| (AcceptDirect::new(listener.clone()), false))
                .collect(),
            polling: false,
            waiting: false,
            look_for_idle: false,
            paused_until: None,
            look_again_at: None,
            failures: 0,
            closing: false,
        }
    }

    fn in_flight(&self) -> usize {
        self.slots.iter().filter(|(_, busy)| *busy).count()
    }

    /// Closed for good: draining and every accept's CQE is back.
    pub(super) fn closed(&self) -> bool {
        self.slots.is_empty() && self.ready.is_none()
    }

    /// A connection went idle: if clients wait at the cap, it may make way.
    pub(super) fn went_idle(&mut self) {
        self.look_for_idle |= self.waiting;
    }

    /// Drops the accepts and the poll (and so the listener) once none is
    /// in flight.
    fn close_if_idle(&mut self) {
        if self.closing && self.in_flight() == 0 && !self.polling {
            self.slots.clear();
            self.ready = None;
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
        if a.closing {
            return;
        }
        let in_flight = a.in_flight();
        let mut room = self.conn_cap.saturating_sub(self.conns.len() + in_flight);
        if a.look_again_at.is_some_and(|t| self.now >= t) {
            a.look_again_at = None;
            a.look_for_idle |= a.waiting;
        }
        if room == 0 {
            if a.waiting && a.look_for_idle {
                a.look_for_idle = false;
                self.close_oldest_idle();
            }
            let a = &mut self.accept;
            if in_flight == 0 && !a.waiting && !a.polling {
                if let Some(poll) = &a.ready {
                    a.polling = true;
                    let entry = poll.entry(Token::worker(Op::ListenerReady).encode());
                    self.push(entry);
                }
            }
            return;
        }
        a.waiting = false;
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
                e => {
                    // ENFILE, ENOMEM, ENOBUFS, a full descriptor table: the
                    // client stays in the backlog; try again in a moment.
                    self.ex.metrics.accept_errors.add(1);
                    if self.accept.failures == 0 {
                        warn!(
                            core = self.ex.core,
                            "accept failed: {}; new connections wait, retrying every {BACKOFF} ms",
                            std::io::Error::from_raw_os_error(e)
                        );
                    }
                    self.accept.failures = self.accept.failures.saturating_add(1);
                    self.accept.paused_until = Some(self.now + BACKOFF);
                }
            }
            return;
        }
        if self.accept.failures > 0 {
            info!(
                core = self.ex.core,
                "accepting again after {} failed attempt(s)", self.accept.failures
            );
            self.accept.failures = 0;
        }
        self.ex.metrics.accepted.add(1);
        if let Some(n) = self.panic_on_accept.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                panic!("failpoint panic-on-accept (PERCORE_FAILPOINT)");
            }
        }
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

    /// The listener poll's CQE: at the cap, clients wait in the backlog.
    pub(super) fn on_listener_ready(&mut self, c: Completion) {
        let a = &mut self.accept;
        a.polling = false;
        a.close_if_idle();
        // With an accept in flight again (a slot came free meanwhile), the
        // clients seen are its to take.
        if c.result > 0 && !a.closing && a.in_flight() == 0 {
            a.waiting = true;
            a.look_for_idle = true;
            self.ex.metrics.cap_waits.add(1);
        }
    }

    /// At the cap with clients waiting: closes the connections idle the
    /// longest, as many as wait (up to [`EVICT_MAX`]); their slots go to
    /// the waiting clients once the closes are done.
    fn close_oldest_idle(&mut self) {
        let Some(poll) = &self.accept.ready else {
            return;
        };
        let backlog = poll.backlog();
        if backlog == Some(0) {
            // The clients seen waiting gave up meanwhile: watch again.
            self.accept.waiting = false;
            return;
        }
        let t = &self.config.timeouts;
        let (keepalive, header) = (t.keepalive().as_millis(), t.header().as_millis());
        let now = self.now;
        // One pass: the slots already closing (they go to waiting clients),
        // and the candidates with when they went idle.
        let mut closing = 0;
        let mut idle: Vec<(Millis, u32)> = Vec::new();
        let mut look_again: Option<Millis> = None;
        for (slot, c) in self.conns.iter() {
            let since = match c.phase {
                Phase::Closing { .. } => {
                    closing += 1;
                    continue;
                }
                // Done with (its answer is out): it goes first.
                Phase::Lingering { .. } => 0,
                Phase::Open if c.is_idle() && c.http.waiting == Waiting::Idle => {
                    // Its read deadline less the timeout set when it went idle.
                    let timeout = if c.http.served { keepalive } else { header } as Millis;
                    let since = c.read_deadline.get(now).saturating_sub(timeout);
                    // Just accepted: its first request may be on its way
                    // (often already in its socket); not idle before
                    // FRESH_GRACE, and looked at again then.
                    if !c.http.served && since + FRESH_GRACE > now {
                        let at = since + FRESH_GRACE;
                        look_again = Some(look_again.map_or(at, |t| t.min(at)));
                        continue;
                    }
                    since
                }
                _ => continue,
            };
            idle.push((since, slot as u32));
        }
        self.accept.look_again_at = look_again;
        // Clients an accept in flight will take, or a closing slot will go
        // to, need no room made.
        let taken = self.accept.in_flight() + closing;
        let want = backlog.unwrap_or(1).saturating_sub(taken).min(EVICT_MAX);
        if want == 0 {
            return;
        }
        if idle.is_empty() {
            debug!(
                core = self.ex.core,
                "at the connection cap ({}), none idle: new clients wait", self.conn_cap
            );
            return;
        }
        let n = want.min(idle.len());
        if n < idle.len() {
            idle.select_nth_unstable(n - 1);
        }
        debug!(
            core = self.ex.core,
            "at the connection cap ({}): closing {n} idle connection(s) for waiting clients",
            self.conn_cap
        );
        for &(_, slot) in &idle[..n] {
            self.ex.metrics.closed_at_cap.add(1);
            self.begin_close(slot);
        }
    }

    /// Draining: cancel the accepts and the poll in flight; the listener
    /// closes with the last one's CQE.
    pub(super) fn stop_accepting(&mut self) {
        self.accept.closing = true;
        let busy: Vec<u32> = (self.accept.slots.iter().enumerate())
            .filter(|(_, (_, busy))| *busy)
            .map(|(i, _)| i as u32)
            .collect();
        for i in busy {
            self.cancel(Token::conn(Op::Accept, i, 0));
        }
        if self.accept.polling {
            self.cancel(Token::worker(Op::ListenerReady));
        }
        self.accept.close_if_idle();
    }
}
