//! A positioned read of a whole small file into memory.

use std::os::fd::{AsRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};

use super::RingOp;

/// Owns the file and the buffer being filled (`buf[filled..]` is what the
/// next read asks for, at file offset `filled`).
pub(crate) struct Read {
    file: OwnedFd,
    buf: Vec<u8>,
    filled: usize,
}

impl RingOp for Read {
    const CODE: u8 = opcode::Read::CODE;
    const NAME: &'static str = "read";
}

impl Read {
    /// Reads `len` bytes from the start of `file`.
    pub(crate) fn new(file: OwnedFd, len: usize) -> Read {
        Read {
            file,
            buf: vec![0; len],
            filled: 0,
        }
    }

    pub(crate) fn entry(&mut self, user_data: u64) -> squeue::Entry {
        let rest = &mut self.buf[self.filled..];
        opcode::Read::new(
            types::Fd(self.file.as_raw_fd()),
            rest.as_mut_ptr(),
            rest.len().min(u32::MAX as usize) as u32,
        )
        .offset(self.filled as u64)
        .build()
        .user_data(user_data)
    }

    /// Counts a CQE's `n > 0` bytes; true when the buffer is full.
    pub(crate) fn advance(&mut self, n: usize) -> bool {
        self.filled = (self.filled + n).min(self.buf.len());
        self.filled == self.buf.len()
    }

    /// The file and the bytes read so far.
    pub(crate) fn into_parts(mut self) -> (OwnedFd, Vec<u8>) {
        self.buf.truncate(self.filled);
        (self.file, self.buf)
    }
}
