//! A one-shot poll of the listener for readability: at its connection cap
//! a core keeps no accept in flight, and learns through this that clients
//! wait in its listen backlog, without taking one off it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::RingOp;

/// Shares the listener (which stays open until this op is dropped, after
/// its CQE); owns no other memory the kernel writes.
pub(crate) struct ListenerPoll {
    listener: Rc<OwnedFd>,
}

impl RingOp for ListenerPoll {
    const CODE: u8 = opcode::PollAdd::CODE;
    const NAME: &'static str = "poll_add";
}

impl ListenerPoll {
    pub(crate) fn new(listener: Rc<OwnedFd>) -> ListenerPoll {
        ListenerPoll { listener }
    }

    pub(crate) fn entry(&self, user_data: u64) -> squeue::Entry {
        opcode::PollAdd::new(types::Fd(self.listener.as_raw_fd()), libc::POLLIN as u32)
            .build()
            .user_data(user_data)
    }

    /// Clients that completed their handshake and wait to be accepted
    /// (the listener's accept queue, from TCP_INFO); None if the kernel
    /// does not say.
    pub(crate) fn backlog(&self) -> Option<usize> {
        // SAFETY: tcp_info is plain old data; zeroes are valid.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `info`, ours
        // for the call; the listener is open (we hold it).
        let r = unsafe {
            libc::getsockopt(
                self.listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            )
        };
        // For a listener, tcpi_unacked is its accept queue's length.
        (r == 0).then_some(info.tcpi_unacked as usize)
    }
}
