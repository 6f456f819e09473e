//! Close of a connection's direct descriptor, once no other op names it.

use io_uring::{opcode, squeue, types};

use super::RingOp;

/// The last op of a connection: submitted only when every other op of it has
/// completed, so no SQE can name the table slot after it is freed.
pub(crate) struct Close;

impl RingOp for Close {
    const CODE: u8 = opcode::Close::CODE;
    const NAME: &'static str = "close";
}

impl Close {
    pub(crate) fn entry(fd: u32, user_data: u64) -> squeue::Entry {
        opcode::Close::new(types::Fixed(fd))
            .build()
            .user_data(user_data)
    }
}
