//! Response bytes that do not go through the write buffer: large memory
//! bodies sent from where they lie, and file ranges spliced from the page
//! cache through a pipe to the socket. While a connection has some, it reads
//! no further pipelined request (responses stay in order).

use std::collections::VecDeque;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use crate::handler::Part;

/// Bytes moved per splice round: the pipe is sized to hold this much.
pub const PIPE_CHUNK: u32 = 1 << 20;

/// A pipe for splicing: file -> `write`, `read` -> socket.
pub struct Pipe {
    /// Read end (spliced to the socket).
    pub read: OwnedFd,
    /// Write end (the file is spliced into it).
    pub write: OwnedFd,
    /// Usable capacity (what F_SETPIPE_SZ granted).
    pub capacity: u32,
}

impl Pipe {
    /// A new pipe, grown towards [`PIPE_CHUNK`] if the system allows.
    pub fn new() -> io::Result<Pipe> {
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
}

/// The parts still to send for the response being written, in order.
#[derive(Default)]
pub struct Outgoing {
    /// Parts not yet fully sent; the front one is in progress.
    pub parts: VecDeque<Part>,
    /// Bytes of the front part already handed to the socket (or the pipe).
    pub done: u64,
    /// The pipe used for the front file part.
    pub pipe: Option<Pipe>,
    /// Bytes sitting in the pipe, not yet spliced to the socket.
    pub in_pipe: u32,
    /// Bytes asked of the current file -> pipe splice.
    pub asked: u32,
}

impl Outgoing {
    /// The front part's remaining length.
    pub fn remaining(&self) -> u64 {
        self.parts.front().map_or(0, |p| p.len() - self.done)
    }
}
