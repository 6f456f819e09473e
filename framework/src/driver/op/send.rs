//! A send of owned bytes on a connection.

use io_uring::{opcode, squeue, types};

use super::RingOp;

/// Sends `buf[sent..]` on a connection's direct descriptor (which the
/// connection holds until its close, after every op). The buffer is owned
/// by the op while the kernel reads it: new output goes to another buffer,
/// so nothing can append to (and reallocate) this one mid-send. A short
/// send advances `sent` and the same op is submitted again.
pub(crate) struct Send<B> {
    buf: B,
    sent: usize,
}

impl<B> RingOp for Send<B> {
    const CODE: u8 = opcode::Send::CODE;
    const NAME: &'static str = "send";
}

impl<B: AsRef<[u8]>> Send<B> {
    pub(crate) fn new(buf: B) -> Send<B> {
        Send { buf, sent: 0 }
    }

    /// The entry for the bytes not sent yet, on direct descriptor `fd`.
    pub(crate) fn entry(&self, fd: u32, user_data: u64) -> squeue::Entry {
        let pending = &self.buf.as_ref()[self.sent..];
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
        self.sent = (self.sent + n).min(self.buf.as_ref().len());
        self.sent == self.buf.as_ref().len()
    }

    /// The buffer back, once the final CQE is in.
    pub(crate) fn into_buf(self) -> B {
        self.buf
    }
}
