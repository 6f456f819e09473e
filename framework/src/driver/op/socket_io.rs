//! A task's own sockets (`percore::net`): connect, accept, and reads and
//! writes with owned buffers. Each op holds the socket (shared with the
//! stream) and its buffer or address until its final CQE.

use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::RingOp;

/// `connect(2)` to the address it owns (boxed: the kernel reads it).
pub(crate) struct Connect {
    pub(crate) socket: Rc<OwnedFd>,
    pub(crate) addr: Box<libc::sockaddr_storage>,
    pub(crate) len: libc::socklen_t,
}

impl RingOp for Connect {
    const CODE: u8 = opcode::Connect::CODE;
    const NAME: &'static str = "connect";
}

impl Connect {
    pub(crate) fn entry(&mut self, user_data: u64) -> squeue::Entry {
        opcode::Connect::new(
            types::Fd(self.socket.as_raw_fd()),
            (&*self.addr as *const libc::sockaddr_storage).cast(),
            self.len,
        )
        .build()
        .user_data(user_data)
    }
}

/// One `accept(2)`; the peer's address lands in the storage it owns.
pub(crate) struct AcceptOne {
    pub(crate) listener: Rc<OwnedFd>,
    pub(crate) addr: Box<(libc::sockaddr_storage, libc::socklen_t)>,
}

impl RingOp for AcceptOne {
    const CODE: u8 = opcode::Accept::CODE;
    const NAME: &'static str = "accept";
}

impl AcceptOne {
    pub(crate) fn entry(&mut self, user_data: u64) -> squeue::Entry {
        self.addr.1 = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let (storage, len) = &mut *self.addr;
        opcode::Accept::new(
            types::Fd(self.listener.as_raw_fd()),
            (storage as *mut libc::sockaddr_storage).cast(),
            len,
        )
        .flags(libc::SOCK_CLOEXEC)
        .build()
        .user_data(user_data)
    }
}

/// `recv(2)` into `buf[len..capacity]`.
pub(crate) struct RecvInto {
    pub(crate) socket: Rc<OwnedFd>,
    pub(crate) buf: Vec<u8>,
}

impl RingOp for RecvInto {
    const CODE: u8 = opcode::Recv::CODE;
    const NAME: &'static str = "recv";
}

impl RecvInto {
    pub(crate) fn entry(&mut self, user_data: u64) -> squeue::Entry {
        let spare = self.buf.spare_capacity_mut();
        opcode::Recv::new(
            types::Fd(self.socket.as_raw_fd()),
            spare.as_mut_ptr().cast::<u8>(),
            spare.len().min(u32::MAX as usize) as u32,
        )
        .build()
        .user_data(user_data)
    }

    /// The buffer, with the `n` bytes received counted in.
    pub(crate) fn into_buf(self, n: usize) -> Vec<u8> {
        super::filled(self.buf, n)
    }
}

/// `send(2)` of `buf[sent..]`.
pub(crate) struct SendFrom {
    pub(crate) socket: Rc<OwnedFd>,
    pub(crate) buf: Vec<u8>,
    pub(crate) sent: usize,
}

impl RingOp for SendFrom {
    const CODE: u8 = opcode::Send::CODE;
    const NAME: &'static str = "send";
}

impl SendFrom {
    pub(crate) fn entry(&mut self, user_data: u64) -> squeue::Entry {
        let rest = &self.buf[self.sent.min(self.buf.len())..];
        opcode::Send::new(
            types::Fd(self.socket.as_raw_fd()),
            rest.as_ptr(),
            rest.len().min(u32::MAX as usize) as u32,
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(user_data)
    }
}
