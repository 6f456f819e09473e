//! The drain (SIGTERM): stop accepting, answer what is in flight with
//! `Connection: close`, give idle connections a moment to send the request
//! they may have on the way, and past `timeouts.drain_secs` close whatever
//! is left.

use std::time::{Duration, Instant};

use tracing::debug;

use super::Worker;
use crate::conn::{Phase, Waiting};
use crate::runtime::timer::{Clock, Deadline};

/// After SIGTERM, how long an idle connection may still send a request
/// (see `close_when_quiet`).
const DRAIN_IDLE_GRACE: Duration = Duration::from_secs(1);

impl Worker {
    pub(super) fn start_drain(&mut self) {
        self.draining = true;
        self.ex.draining = true;
        self.drain_deadline = Some(Instant::now() + self.config.timeouts.drain());
        self.stop_accepting();
        let idle: Vec<u32> = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_open() && c.is_idle() && c.http.waiting == Waiting::Idle)
            .map(|(slot, _)| slot as u32)
            .collect();
        for slot in idle {
            self.close_when_quiet(slot);
        }
        debug!(core = self.ex.core, open = self.conns.len(), "draining");
    }

    /// While draining, an idle connection may have a request on its way (the
    /// next one of a keep-alive client that just got an answer, or the first
    /// one of a client that has just connected): closed now, that request
    /// would be lost (wrk counts it an error; a client may retry only
    /// idempotent ones, RFC 9112 9.3.1). It gets DRAIN_IDLE_GRACE to send it
    /// (answered with `Connection: close`), then its read timeout closes it.
    pub(super) fn close_when_quiet(&mut self, slot: u32) {
        let now = self.now;
        let conn = &mut self.conns[slot as usize];
        let grace = Clock::deadline(now, DRAIN_IDLE_GRACE);
        let close_at = conn.read_deadline.get(now).min(grace);
        conn.read_deadline = Deadline::at(close_at);
        self.arm_timer(slot);
    }

    /// Past the drain deadline: closes every connection still open.
    pub(super) fn cut_at_drain_deadline(&mut self) {
        if self.drain_deadline.is_some_and(|d| Instant::now() >= d) {
            let open: Vec<u32> = self
                .conns
                .iter()
                .filter(|(_, c)| !matches!(c.phase, Phase::Closing { .. }))
                .map(|(slot, _)| slot as u32)
                .collect();
            if !open.is_empty() {
                tracing::info!(
                    core = self.ex.core,
                    "drain deadline reached: closing {} connection(s)",
                    open.len()
                );
            }
            for slot in open {
                self.begin_close(slot);
            }
        }
    }
}
