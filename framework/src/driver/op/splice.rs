//! Sending a file range without copying it through user space: a linked
//! pair of splices, file -> pipe, then pipe -> socket.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::RingOp;

/// Bytes moved per splice round: the pipe is sized to hold this much.
pub(crate) const PIPE_CHUNK: u32 = 1 << 20;

/// A pipe for splicing: file -> `write`, `read` -> socket.
pub(crate) struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    /// Usable capacity (what F_SETPIPE_SZ granted).
    capacity: u32,
}

impl Pipe {
    /// A new pipe, grown towards [`PIPE_CHUNK`] if the system allows.
    pub(crate) fn new() -> io::Result<Pipe> {
        let mut fds = [0i32; 2];
        // SAFETY: pipe2 writes two descriptors into the array we own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors are fresh and owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fcntl on a descriptor we own; failure leaves the default size.
        let size = unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, PIPE_CHUNK as libc::c_int) };
        let capacity = if size > 0 { size as u32 } else { 64 * 1024 };
        Ok(Pipe {
            read,
            write,
            capacity,
        })
    }

    pub(crate) fn capacity(&self) -> u32 {
        self.capacity
    }
}

/// One round of a file range's trip to a socket. Owns the file (shared with
/// the open-file cache) and the pipe until both CQEs are back. A short first
/// splice severs the link: the kernel cancels the second, and what reached
/// the pipe goes out in a round of [`SplicePair::drain_entry`] alone.
pub(crate) struct SplicePair {
    pub(crate) file: Rc<OwnedFd>,
    pub(crate) pipe: Pipe,
    socket: u32,
}

impl RingOp for SplicePair {
    const CODE: u8 = opcode::Splice::CODE;
    const NAME: &'static str = "splice";
}

impl SplicePair {
    pub(crate) fn new(file: Rc<OwnedFd>, pipe: Pipe, socket: u32) -> SplicePair {
        SplicePair { file, pipe, socket }
    }

    /// File bytes `offset..offset + len` into the pipe, linked to the pipe
    /// into the socket.
    pub(crate) fn entries(
        &self,
        offset: u64,
        len: u32,
        in_data: u64,
        out_data: u64,
    ) -> [squeue::Entry; 2] {
        let splice_in = opcode::Splice::new(
            types::Fd(self.file.as_raw_fd()),
            offset as i64,
            types::Fd(self.pipe.write.as_raw_fd()),
            -1,
            len,
        )
        .build()
        .flags(squeue::Flags::IO_LINK)
        .user_data(in_data);
        [splice_in, self.drain_entry(len, out_data)]
    }

    /// `len` bytes already in the pipe into the socket.
    pub(crate) fn drain_entry(&self, len: u32, user_data: u64) -> squeue::Entry {
        opcode::Splice::new(
            types::Fd(self.pipe.read.as_raw_fd()),
            -1,
            types::Fixed(self.socket),
            -1,
            len,
        )
        .build()
        .user_data(user_data)
    }
}
