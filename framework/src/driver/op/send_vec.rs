//! A gathering send: the write buffer (a response's head, and anything
//! before it) and body parts from their own memory (a cached file's bytes,
//! a handler's `Bytes`) in one `sendmsg`, so a body is never copied behind
//! its head in user space.

use bytes::Bytes;
use io_uring::{opcode, squeue, types};

use super::RingOp;

/// Buffers one send may gather (the head and up to seven parts).
const MAX_IOVECS: usize = 8;
/// Body parts one send may gather.
const MAX_PARTS: usize = MAX_IOVECS - 1;

/// The memory (and the `msghdr` naming it) of one `sendmsg` on a
/// connection's direct descriptor. Boxed by its owner, so the header and
/// the iovec array the kernel reads stay where the entry points until the
/// CQE; the buffers they point at are owned here too.
pub(crate) struct SendVec {
    head: Vec<u8>,
    /// Bytes of `head` already sent (a cursor: a short send moves nothing).
    head_sent: usize,
    /// Body parts after the head, in place (no allocation per send): the
    /// unsent ones are `parts[first..count]`. The first may start
    /// part-way (the caller passes the unsent rest as a slice, which
    /// shares the memory).
    parts: [Bytes; MAX_PARTS],
    first: usize,
    count: usize,
    iov: [libc::iovec; MAX_IOVECS],
    msg: libc::msghdr,
}

impl RingOp for SendVec {
    const CODE: u8 = opcode::SendMsg::CODE;
    const NAME: &'static str = "sendmsg";
}

impl SendVec {
    /// A send of `head` (may be empty) then the first `MAX_IOVECS - 1` of
    /// `parts` (non-empty ones).
    pub(crate) fn new(head: Vec<u8>, parts: impl IntoIterator<Item = Bytes>) -> Box<SendVec> {
        let mut op = Box::new(SendVec {
            head,
            head_sent: 0,
            parts: Default::default(),
            first: 0,
            count: 0,
            iov: [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; MAX_IOVECS],
            // SAFETY: msghdr is plain data; all-zero is a valid value (no
            // name, no control data).
            msg: unsafe { std::mem::zeroed() },
        });
        for part in parts.into_iter().take(MAX_PARTS) {
            op.parts[op.count] = part;
            op.count += 1;
        }
        op
    }

    /// The entry for what is not sent yet. The iovecs and the header are
    /// rebuilt here, in the box, which the connection owns until the CQE.
    pub(crate) fn entry(&mut self, fd: u32, user_data: u64) -> squeue::Entry {
        let head = &self.head[self.head_sent..];
        let slices = std::iter::once(head)
            .filter(|h| !h.is_empty())
            .chain(self.parts[self.first..self.count].iter().map(|p| &p[..]));
        let mut n = 0;
        for s in slices {
            self.iov[n] = libc::iovec {
                iov_base: s.as_ptr() as *mut libc::c_void,
                iov_len: s.len(),
            };
            n += 1;
        }
        self.msg.msg_iov = self.iov.as_mut_ptr();
        self.msg.msg_iovlen = n as _;
        opcode::SendMsg::new(types::Fixed(fd), &self.msg)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
            .user_data(user_data)
    }

    /// Counts `n` more bytes as sent: returns how many of them were body
    /// bytes (the parts'), and whether everything has gone out.
    pub(crate) fn advance(&mut self, n: usize) -> (usize, bool) {
        let from_head = n.min(self.head.len() - self.head_sent);
        self.head_sent += from_head;
        let mut body = n - from_head;
        let of_parts = body;
        while body > 0 && self.first < self.count {
            let front = &mut self.parts[self.first];
            let take = body.min(front.len());
            body -= take;
            if take == front.len() {
                *front = Bytes::new();
                self.first += 1;
            } else {
                let _ = front.split_to(take);
            }
        }
        let done = self.head_sent == self.head.len() && self.first == self.count;
        (of_parts - body, done)
    }

    /// The head's buffer back (for the pool), once the final CQE is in.
    pub(crate) fn into_head(self: Box<Self>) -> Vec<u8> {
        self.head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_send_moves_the_cursor_across_head_and_parts() {
        let mut op = SendVec::new(
            b"HEAD".to_vec(),
            [Bytes::from_static(b"abc"), Bytes::from_static(b"defg")],
        );
        assert_eq!(op.advance(2), (0, false));
        assert_eq!(op.advance(3), (1, false));
        let _entry = op.entry(0, 0);
        assert_eq!(op.msg.msg_iovlen, 2, "the head is gone, two parts left");
        assert_eq!(op.iov[0].iov_len, 2);
        assert_eq!(op.advance(4), (4, false));
        assert_eq!(op.advance(2), (2, true));
        assert_eq!(op.into_head(), b"HEAD");
    }
}
