//! Driving a pending answer's file opens through the ring (a static-file
//! cache miss: openat2, statx, read; see [`crate::fs::prefetch`]), then the
//! request that missed runs again.

use super::Worker;
use crate::conn::Phase;
use crate::driver::token::{Op, Token};
use crate::driver::Completion;
use crate::handler::Pending;

impl Worker {
    pub(super) fn submit_file_op(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        let Some(Pending::OpenFiles(job)) = conn.http.pending.as_mut() else {
            return;
        };
        // The op stays in the job, in the connection, until its CQE.
        let user_data = Token::conn(Op::FileOpen, slot, conn.generation).encode();
        if let Some(entry) = job.submit(user_data) {
            self.push(entry);
        }
    }

    pub(super) fn on_file_op(&mut self, slot: u32, c: Completion) {
        let conn = &mut self.conns[slot as usize];
        let Some(Pending::OpenFiles(job)) = conn.http.pending.as_mut() else {
            return;
        };
        // Even when closing, the result is taken, so an opened descriptor is
        // owned (and closed with the connection) rather than leaked.
        let done = job.complete(c.result);
        if matches!(conn.phase, Phase::Closing { .. }) {
            return self.try_close(slot);
        }
        if !done {
            return self.submit_file_op(slot);
        }
        if let Some(Pending::OpenFiles(job)) = conn.http.pending.take() {
            job.finish();
        }
        // The request that missed is at the front of the input: it runs again.
        self.ex.owner = (slot, conn.generation);
        self.ex.resume(conn, self.now);
        self.settle(slot);
        self.want_reading(slot);
    }
}
