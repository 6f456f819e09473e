//! `statx` of an open file (`AT_EMPTY_PATH`).

use std::os::fd::{AsRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};

use super::RingOp;

/// Owns the file it names (an `OwnedFd`, or an `Rc` of one shared with a
/// `File`) and the `statx` buffer the kernel fills (boxed).
pub(crate) struct Statx<F = OwnedFd> {
    file: F,
    buf: Box<libc::statx>,
}

impl<F> RingOp for Statx<F> {
    const CODE: u8 = opcode::Statx::CODE;
    const NAME: &'static str = "statx";
}

impl<F: AsRawFd> Statx<F> {
    pub(crate) fn new(file: F) -> Statx<F> {
        Statx {
            file,
            // SAFETY: statx is plain old data; all zeroes is a valid value.
            buf: Box::new(unsafe { std::mem::zeroed() }),
        }
    }

    pub(crate) fn entry(&mut self, user_data: u64) -> squeue::Entry {
        opcode::Statx::new(
            types::Fd(self.file.as_raw_fd()),
            c"".as_ptr(),
            (&mut *self.buf as *mut libc::statx).cast::<types::statx>(),
        )
        .flags(libc::AT_EMPTY_PATH)
        .mask(libc::STATX_BASIC_STATS)
        .build()
        .user_data(user_data)
    }

    /// The file and what the kernel wrote (meaningful when the CQE's result
    /// was 0).
    pub(crate) fn into_parts(self) -> (F, Box<libc::statx>) {
        (self.file, self.buf)
    }
}
