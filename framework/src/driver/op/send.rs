//! A send of owned bytes on a connection.

use io_uring::{opcode, squeue, types};

use super::RingOp;

/// Memory a send can own: what is left to send, and how to drop what went.
pub(crate) trait SendBuf {
    fn pending(&self) -> &[u8];
    /// Drops the first `n` bytes (they were sent).
    fn consume(&mut self, n: usize);
}

impl SendBuf for Vec<u8> {
    fn pending(&self) -> &[u8] {
        self
    }
    fn consume(&mut self, n: usize) {
        // Only after a short send (a full socket buffer): rare, and cheaper
        // than a field that every idle connection would carry.
        self.drain(..n.min(self.len()));
    }
}

/// Sends its buffer on a connection's direct descriptor (which the
/// connection holds until its close, after every op). The buffer is owned
/// by the op while the kernel reads it: new output goes to another buffer,
/// so nothing can append to (and reallocate) this one mid-send. A short
/// send consumes what went and the same op is submitted again.
pub(crate) struct Send<B> {
    buf: B,
}

impl<B> RingOp for Send<B> {
    const CODE: u8 = opcode::Send::CODE;
    const NAME: &'static str = "send";
}

impl<B: SendBuf> Send<B> {
    pub(crate) fn new(buf: B) -> Send<B> {
        Send { buf }
    }

    /// The entry for the bytes not sent yet, on direct descriptor `fd`.
    pub(crate) fn entry(&self, fd: u32, user_data: u64) -> squeue::Entry {
        let pending = self.buf.pending();
        opcode::Send::new(
            types::Fixed(fd),
            pending.as_ptr(),
            pending.len().min(u32::MAX as usize) as u32,
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(user_data)
    }

    /// Counts `n` more bytes as sent; true when everything has gone out.
    pub(crate) fn advance(&mut self, n: usize) -> bool {
        self.buf.consume(n);
        self.buf.pending().is_empty()
    }

    /// The buffer back, once the final CQE is in.
    pub(crate) fn into_buf(self) -> B {
        self.buf
    }
}
