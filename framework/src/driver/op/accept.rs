//! Accept into the ring's direct descriptor table, with the peer's address.
//!
//! One connection per SQE, not multishot: multishot accept cannot return
//! addresses (every CQE would share one buffer), and the client's address
//! is part of every request. A core keeps a few of these in flight (see
//! `runtime::worker::accept`), never more than it has room for below its
//! connection cap, so the kernel never takes a connection off the listen
//! queue that the core cannot then hold.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::RingOp;

/// One accept in flight (or ready to be). Owns the address buffer the SQE
/// names and shares the listener, which closes when the last op holding it
/// is dropped (after its final CQE).
pub(crate) struct AcceptDirect {
    listener: Rc<OwnedFd>,
    addr: Box<(libc::sockaddr_storage, libc::socklen_t)>,
}

impl RingOp for AcceptDirect {
    const CODE: u8 = opcode::Accept::CODE;
    const NAME: &'static str = "accept";
}

impl AcceptDirect {
    pub(crate) fn new(listener: Rc<OwnedFd>) -> AcceptDirect {
        AcceptDirect {
            listener,
            // SAFETY: sockaddr_storage is plain old data; all zeroes is valid.
            addr: Box::new((unsafe { std::mem::zeroed() }, 0)),
        }
    }

    /// The SQE: accept into a free direct descriptor slot, the peer's
    /// address into the boxed buffer (which must stay until the CQE).
    pub(crate) fn entry(&mut self, user_data: u64) -> squeue::Entry {
        self.addr.1 = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let (storage, len) = &mut *self.addr;
        opcode::Accept::new(
            types::Fd(self.listener.as_raw_fd()),
            (storage as *mut libc::sockaddr_storage).cast(),
            len,
        )
        // No SOCK_CLOEXEC: a direct descriptor has no file table entry to
        // leak across exec (the kernel refuses the flag with a slot: EINVAL).
        .file_index(Some(types::DestinationSlot::auto_target()))
        .build()
        .user_data(user_data)
    }

    /// The peer of the connection the last CQE accepted.
    pub(crate) fn peer(&self) -> Option<SocketAddr> {
        crate::net::sockaddr::from_storage(&self.addr.0).ok()
    }
}
