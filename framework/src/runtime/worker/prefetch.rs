//! Driving a static file cache miss through the ring: one op at a time
//! (openat2, statx, read; see [`crate::fs::prefetch`]), then the request
//! that missed runs again.

use super::Worker;
use crate::driver::token::{Op, Token};
use crate::driver::Completion;

impl Worker {
    pub(super) fn submit_prefetch(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        let Some(prefetch) = conn.prefetch.as_mut() else {
            return;
        };
        // The SQE names memory inside the boxed Prefetch, which stays in the
        // Conn until this op's CQE (the conn is not freed while inflight > 0).
        let entry = prefetch
            .sqe()
            .user_data(Token::conn(Op::Prefetch, slot, conn.generation).encode());
        conn.prefetch_active = true;
        conn.inflight += 1;
        self.push(entry);
    }

    pub(super) fn on_prefetch(&mut self, slot: u32, c: Completion) {
        let conn = &mut self.conns[slot as usize];
        conn.inflight -= 1;
        conn.prefetch_active = false;
        let Some(prefetch) = conn.prefetch.as_mut() else {
            self.op_done(slot);
            return;
        };
        // Even when closing, the result is taken so an opened fd is owned
        // (and closed with the connection) rather than leaked.
        let done = prefetch.complete(c.result);
        if conn.closing {
            self.op_done(slot);
            return;
        }
        if !done {
            self.submit_prefetch(slot);
            return;
        }
        let prefetch = conn.prefetch.take().expect("checked above");
        (*prefetch).finish();
        // The request that missed is at the front of inbuf: serve it again.
        self.output_progress(slot);
    }
}
