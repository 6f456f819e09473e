//! Positioned reads and writes and fsync of a file that a task owns
//! (`percore::fs::File`): each op holds the file and the buffer until its
//! final CQE.

use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::RingOp;

/// Reads into `buf[len..capacity]` at `pos`; the buffer comes back with its
/// length grown by what was read.
pub(crate) struct ReadAt {
    pub(crate) file: Rc<OwnedFd>,
    pub(crate) buf: Vec<u8>,
    pub(crate) pos: u64,
}

impl RingOp for ReadAt {
    const CODE: u8 = opcode::Read::CODE;
    const NAME: &'static str = "read";
}

impl ReadAt {
    pub(crate) fn entry(&mut self, user_data: u64) -> squeue::Entry {
        self.entry_at_most(user_data, u32::MAX)
    }

    /// The entry for a read of at most `max` bytes (a file range's end).
    pub(crate) fn entry_at_most(&mut self, user_data: u64, max: u32) -> squeue::Entry {
        let spare = self.buf.spare_capacity_mut();
        opcode::Read::new(
            types::Fd(self.file.as_raw_fd()),
            spare.as_mut_ptr().cast::<u8>(),
            spare.len().min(max as usize) as u32,
        )
        .offset(self.pos)
        .build()
        .user_data(user_data)
    }

    /// The buffer, with the `n` bytes the kernel wrote counted in.
    pub(crate) fn into_buf(self, n: usize) -> Vec<u8> {
        super::filled(self.buf, n)
    }
}

/// Writes `buf` at `pos` (`u64::MAX`: at the file's position, for append).
pub(crate) struct WriteAt {
    pub(crate) file: Rc<OwnedFd>,
    pub(crate) buf: Vec<u8>,
    pub(crate) pos: u64,
}

impl RingOp for WriteAt {
    const CODE: u8 = opcode::Write::CODE;
    const NAME: &'static str = "write";
}

impl WriteAt {
    pub(crate) fn entry(&mut self, user_data: u64) -> squeue::Entry {
        opcode::Write::new(
            types::Fd(self.file.as_raw_fd()),
            self.buf.as_ptr(),
            self.buf.len().min(u32::MAX as usize) as u32,
        )
        .offset(self.pos)
        .build()
        .user_data(user_data)
    }
}

/// fsync of a file.
pub(crate) struct Fsync {
    pub(crate) file: Rc<OwnedFd>,
}

impl RingOp for Fsync {
    const CODE: u8 = opcode::Fsync::CODE;
    const NAME: &'static str = "fsync";
}

impl Fsync {
    pub(crate) fn entry(&mut self, user_data: u64) -> squeue::Entry {
        opcode::Fsync::new(types::Fd(self.file.as_raw_fd()))
            .build()
            .user_data(user_data)
    }
}
