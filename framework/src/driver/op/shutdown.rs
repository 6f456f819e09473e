//! `shutdown(SHUT_WR)` of a connection before its lingering close.

use io_uring::{opcode, squeue, types};

use super::RingOp;

/// Names only the connection's direct descriptor, held until its close.
pub(crate) struct Shutdown;

impl RingOp for Shutdown {
    const CODE: u8 = opcode::Shutdown::CODE;
    const NAME: &'static str = "shutdown";
}

impl Shutdown {
    pub(crate) fn entry(fd: u32, user_data: u64) -> squeue::Entry {
        opcode::Shutdown::new(types::Fixed(fd), libc::SHUT_WR)
            .build()
            .user_data(user_data)
    }
}
