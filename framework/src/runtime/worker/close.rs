//! Ending a connection: shut down the write side and linger once the last
//! response is sent (or close at once when the peer already sent EOF),
//! cancel exactly the ops in flight, close the descriptor when none is
//! left, free the slot on the close's CQE.

use tracing::debug;

use super::Worker;
use crate::conn::{Output, Phase, Receive};
use crate::driver::op::{Close, Shutdown};
use crate::driver::token::{Op, Token};
use crate::handler::Pending;
use crate::runtime::timer::{Clock, Deadline};

impl Worker {
    /// Everything owed is sent and the connection should end. If the peer
    /// may still be sending (a refused request, a body left unread, bytes
    /// after the last response: `Conn::linger`), shut down the write
    /// side and linger (discarding input) so those bytes do not turn into
    /// a reset that destroys the response it has not read yet. Otherwise
    /// (a `Connection: close` after a whole request, a timeout) close now,
    /// as nginx's `lingering_close on` does: a lingering connection holds
    /// its slot for `timeouts.linger_secs`.
    pub(super) fn finish_close(&mut self, slot: u32) {
        let linger = Clock::deadline(self.now, self.config.timeouts.linger());
        let conn = &mut self.conns[slot as usize];
        // The last response is out: a request body still streaming (to a
        // task that outlived its handler) ends here.
        conn.http.take_feed();
        if matches!(conn.receive, Receive::Ended)
            || !matches!(conn.phase, Phase::CloseAfterFlush)
            || !conn.linger
        {
            return self.begin_close(slot);
        }
        conn.phase = Phase::Lingering {
            shutdown_in_flight: true,
        };
        conn.read_deadline = Deadline::at(linger);
        let entry = Shutdown::entry(
            conn.fd,
            Token::conn(Op::Shutdown, slot, conn.generation).encode(),
        );
        self.push(entry);
        self.want_reading(slot);
        self.arm_timer(slot);
    }

    pub(super) fn on_shutdown(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        match &mut conn.phase {
            Phase::Lingering { shutdown_in_flight }
            | Phase::Closing {
                shutdown_in_flight, ..
            } => *shutdown_in_flight = false,
            _ => {}
        }
        self.try_close(slot);
    }

    /// An op of the connection failed (peer gone, reset): end it.
    pub(super) fn conn_failed(&mut self, slot: u32, what: &str, errno: i32) {
        debug!(
            core = self.ex.core,
            "{what} failed: {}",
            std::io::Error::from_raw_os_error(errno)
        );
        self.begin_close(slot);
    }

    /// Cancels exactly the ops the connection has in flight; the close
    /// follows the last one's CQE.
    pub(super) fn begin_close(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        let shutdown_in_flight = match conn.phase {
            Phase::Closing { .. } => return,
            Phase::Lingering { shutdown_in_flight } => shutdown_in_flight,
            Phase::Open | Phase::CloseAfterFlush => false,
        };
        conn.phase = Phase::Closing {
            shutdown_in_flight,
            close_in_flight: false,
        };
        let generation = conn.generation;
        let mut targets: [Option<Op>; 3] = [None; 3];
        conn.receive = match conn.receive {
            Receive::Armed | Receive::Pausing | Receive::Stopping => {
                targets[0] = Some(Op::Recv);
                Receive::Stopping
            }
            Receive::Off | Receive::Paused | Receive::Ended => Receive::Ended,
        };
        match &conn.output {
            Output::Idle => {}
            Output::Send(_) | Output::SendVec(_) | Output::Sealed(_) => targets[1] = Some(Op::Send),
            Output::ReadChunk(_) => targets[1] = Some(Op::ReadChunk),
            Output::Splice(s) => {
                targets[1] = Some(Op::SpliceOut);
                if s.from_file {
                    targets[2] = Some(Op::SpliceIn);
                }
            }
        }
        if conn.http.file_op_in_flight() {
            targets[2] = Some(Op::FileOpen);
        }
        conn.http.take_feed(); // a handler still reading its body sees it end
        if let Some(Pending::Task(task, _)) = conn.http.pending.take() {
            self.core.cancel(task); // the handler's future is dropped
        }
        if let Some(stream) = conn.http.outgoing.as_mut().and_then(|o| o.stream.take()) {
            self.core.cancel(stream.task); // the body's stream is dropped
        }
        for op in targets.into_iter().flatten() {
            self.cancel(Token::conn(op, slot, generation));
        }
        self.try_close(slot);
    }

    /// If the connection is closing and nothing else is in flight, the
    /// close goes out now.
    pub(super) fn try_close(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        let Phase::Closing {
            shutdown_in_flight,
            close_in_flight: false,
        } = conn.phase
        else {
            return;
        };
        if conn.ops_in_flight() {
            return;
        }
        conn.phase = Phase::Closing {
            shutdown_in_flight,
            close_in_flight: true,
        };
        let entry = Close::entry(
            conn.fd,
            Token::conn(Op::Close, slot, conn.generation).encode(),
        );
        self.push(entry);
    }

    /// The close is done: the slot and everything the connection held go.
    pub(super) fn on_close(&mut self, slot: u32) {
        let mut conn = self.conns.remove(slot as usize);
        self.ex.metrics.closed.add(1);
        self.tls_closed(&conn);
        if let (Some(track), Some(log)) = (conn.http.access.as_mut(), self.ex.access.as_mut()) {
            track.close(log);
        }
        self.ex.drop_chunked(&mut conn);
        self.recycle_pipe(conn.http.outgoing.take());
        conn.http.inbuf.clear();
        conn.http.out.clear();
        conn.http.release_buffers(&mut self.ex.pool);
    }
}
