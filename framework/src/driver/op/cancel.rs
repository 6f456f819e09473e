//! Cancel of an op in flight, by its `user_data`.

use io_uring::{opcode, squeue};

use super::RingOp;

/// Names no memory. Its own CQE is ignored: the cancelled op answers with its
/// own (final) CQE, and that is when its resources are released.
pub(crate) struct Cancel;

impl RingOp for Cancel {
    const CODE: u8 = opcode::AsyncCancel::CODE;
    const NAME: &'static str = "async cancel";
}

impl Cancel {
    pub(crate) fn entry(target: u64, user_data: u64) -> squeue::Entry {
        opcode::AsyncCancel::new(target)
            .build()
            .user_data(user_data)
    }
}
