//! Multishot accept into the ring's direct descriptor table.

use std::os::fd::{AsRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};

use super::RingOp;

/// A core's listener while accepting: each CQE carries a new connection's
/// direct descriptor index. The listener is owned here, so it closes only
/// when the op is dropped, after its final CQE (no `F_MORE`).
pub(crate) struct AcceptMulti {
    listener: OwnedFd,
}

impl RingOp for AcceptMulti {
    const CODE: u8 = opcode::AcceptMulti::CODE;
    const NAME: &'static str = "multishot accept";
}

impl AcceptMulti {
    pub(crate) fn new(listener: OwnedFd) -> AcceptMulti {
        AcceptMulti { listener }
    }

    pub(crate) fn entry(&self, user_data: u64) -> squeue::Entry {
        opcode::AcceptMulti::new(types::Fd(self.listener.as_raw_fd()))
            .allocate_file_index(true)
            .build()
            .user_data(user_data)
    }
}
