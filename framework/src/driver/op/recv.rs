//! Multishot recv of a connection into the core's provided buffer ring.

use io_uring::{opcode, squeue, types};

use super::RingOp;

/// Reads of a connection's socket. It names no memory of its own: each CQE
/// carries the id of a buffer the kernel took from the ring, which the event
/// loop gives back once its bytes are parsed or copied. The socket is a
/// direct descriptor the connection holds until its close op completes.
#[derive(Clone, Copy)]
pub(crate) struct RecvMulti {
    pub(crate) fd: u32,
    pub(crate) group: u16,
}

impl RingOp for RecvMulti {
    const CODE: u8 = opcode::RecvMulti::CODE;
    const NAME: &'static str = "multishot recv";
}

impl RecvMulti {
    pub(crate) fn entry(&self, user_data: u64) -> squeue::Entry {
        opcode::RecvMulti::new(types::Fixed(self.fd), self.group)
            .build()
            .user_data(user_data)
    }
}
