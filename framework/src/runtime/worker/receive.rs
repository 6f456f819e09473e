//! Reading a connection: its multishot recv, what arrives (handed to the
//! exchange, or discarded once the last response is queued), the peer's
//! EOF, and backpressure between requests.

use super::Worker;
use crate::conn::{Phase, Receive, Waiting};
use crate::driver::op::RecvMulti;
use crate::driver::token::{Op, Token};
use crate::driver::Completion;
use crate::runtime::exchange::IN_HIGH_WATER;

impl Worker {
    /// Arms the connection's recv if it is off and reading is wanted.
    pub(super) fn arm_recv(&mut self, slot: u32) {
        let group = self.bufs.group();
        let Some(conn) = self.conns.get_mut(slot as usize) else {
            return;
        };
        if conn.receive != Receive::Off || matches!(conn.phase, Phase::Closing { .. }) {
            return;
        }
        conn.receive = Receive::Armed;
        let op = RecvMulti { fd: conn.fd, group };
        let entry = op.entry(Token::conn(Op::Recv, slot, conn.generation).encode());
        self.push(entry);
    }

    pub(super) fn on_recv(&mut self, slot: u32, c: Completion) {
        let conn = &mut self.conns[slot as usize];
        if !c.more() {
            conn.receive = match conn.receive {
                Receive::Armed => Receive::Off,
                Receive::Pausing => Receive::Paused,
                Receive::Stopping => Receive::Ended,
                other => other,
            };
        }
        match c.result {
            // ENOBUFS: the buffer ring ran dry (load, not an error).
            // ECANCELED: a pause for backpressure (or a close).
            r if r == -libc::ENOBUFS => {
                self.ex.metrics.recv_buffers_exhausted.add(1);
                tracing::debug!(
                    core = self.ex.core,
                    "receive buffers ran dry (ring.buffers); the recv is re-armed"
                );
            }
            r if r == -libc::ECANCELED => {}
            r if r < 0 => return self.conn_failed(slot, "recv", -r),
            0 => {
                conn.receive = Receive::Ended;
                match conn.phase {
                    Phase::Lingering { .. } => return self.begin_close(slot),
                    Phase::Closing { .. } => {}
                    Phase::Open | Phase::CloseAfterFlush => {
                        self.ex.peer_closed(conn);
                        self.settle(slot);
                    }
                }
            }
            n => {
                if let Some(bid) = c.buffer_id() {
                    if conn.takes_input() {
                        self.ex.metrics.bytes_in.add(n as u64);
                        let data = self.bufs.filled(bid, n as usize);
                        self.ex.owner = (slot, conn.generation);
                        if conn.tls.is_some() {
                            let plain = &mut self.tls_plain;
                            super::tls::receive(&mut self.ex, conn, plain, data, self.now);
                        } else {
                            self.ex.receive(conn, data, self.now);
                        }
                    } else {
                        // The last response is queued, or lingering: the
                        // bytes are discarded, and as the client is still
                        // sending, the close lingers.
                        conn.linger = true;
                    }
                    self.bufs.release(bid, n as usize, c.flags);
                    self.settle(slot);
                }
            }
        }
        self.want_reading(slot);
        self.try_close(slot);
    }

    /// Reading pauses while complete requests are held back beyond
    /// [`IN_HIGH_WATER`] (a peer pipelining faster than it reads), and only
    /// then: a request still arriving is always read to its end.
    pub(super) fn want_reading(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        let hold = conn.takes_input()
            && conn.http.waiting == Waiting::Held
            && conn.http.inbuf.len() > IN_HIGH_WATER;
        match (conn.receive, hold) {
            (Receive::Armed, true) => {
                conn.receive = Receive::Pausing;
                let target = Token::conn(Op::Recv, slot, conn.generation);
                self.cancel(target);
            }
            (Receive::Off, true) => conn.receive = Receive::Paused,
            (Receive::Paused, false) => {
                conn.receive = Receive::Off;
                self.rearm.push(slot);
            }
            (Receive::Off, false) => self.rearm.push(slot),
            _ => {} // armed and wanted; paused until the cancel's CQE; ended
        }
    }
}
