//! The read of a worker's eventfd: how other threads reach a core.

use std::os::fd::{AsRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};

use super::RingOp;

/// Owns the eventfd and the 8-byte counter the read lands in (boxed, so it
/// stays put while the op value moves).
pub(crate) struct EventfdRead {
    fd: OwnedFd,
    value: Box<u64>,
}

impl RingOp for EventfdRead {
    const CODE: u8 = opcode::Read::CODE;
    const NAME: &'static str = "read";
}

impl EventfdRead {
    pub(crate) fn new(fd: OwnedFd) -> EventfdRead {
        EventfdRead {
            fd,
            value: Box::new(0),
        }
    }

    pub(crate) fn entry(&mut self, user_data: u64) -> squeue::Entry {
        let ptr = (&mut *self.value as *mut u64).cast::<u8>();
        opcode::Read::new(types::Fd(self.fd.as_raw_fd()), ptr, 8)
            .build()
            .user_data(user_data)
    }
}
