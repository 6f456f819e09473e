//! The ring driver: owns one core's `IoUring`, sets it up with the best flags
//! the kernel accepts, queues submissions (with a backlog for a full SQ) and
//! hands completions to the event loop.
//!
//! Sits at the bottom of the request path: the event loop in
//! [`crate::runtime`] pushes SQEs here and reaps CQEs from here, once per
//! loop turn, with one `io_uring_enter` for both.

pub(crate) mod buf_ring;
pub(crate) mod op;
pub(crate) mod setup;
pub(crate) mod token;

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use io_uring::{cqueue, squeue, types, IoUring};

pub use setup::{RingFeatures, SetupError};

/// One completion, copied out of the CQ so the ring can be borrowed again
/// while it is handled.
#[derive(Clone, Copy, Debug)]
pub struct Completion {
    /// The `user_data` of the submission.
    pub user_data: u64,
    /// The result: bytes, an fd index, or `-errno`.
    pub result: i32,
    /// CQE flags (`IORING_CQE_F_MORE`, buffer id...).
    pub flags: u32,
}

impl Completion {
    /// Whether a multishot op stays armed after this CQE.
    pub fn more(&self) -> bool {
        cqueue::more(self.flags)
    }

    /// The provided buffer this CQE consumed, if any.
    pub fn buffer_id(&self) -> Option<u16> {
        cqueue::buffer_select(self.flags)
    }
}

/// A core's ring.
pub struct Ring {
    ring: IoUring,
    features: RingFeatures,
    /// Submissions that did not fit in the SQ; pushed first on the next turn.
    backlog: VecDeque<squeue::Entry>,
    /// How many submissions ever waited in the backlog (for the metrics).
    backlogged: u64,
}

impl Ring {
    /// Sets up a ring of `entries` SQEs (CQ 4x that), trying the fastest flags
    /// first and stepping down on EINVAL. `sqpoll` asks for a kernel polling
    /// thread with the given idle time instead.
    pub fn new(entries: u32, sqpoll: Option<u32>) -> Result<Ring, SetupError> {
        let (ring, features) = setup::build(entries, sqpoll)?;
        Ok(Ring {
            ring,
            features,
            backlog: VecDeque::new(),
            backlogged: 0,
        })
    }

    /// What the ring was set up with.
    pub fn features(&self) -> &RingFeatures {
        &self.features
    }

    /// The submitter, for registrations.
    pub fn submitter(&self) -> io_uring::Submitter<'_> {
        self.ring.submitter()
    }

    /// Queues one SQE. A full SQ is flushed to the kernel first; if that cannot
    /// make room (the kernel answered EBUSY), the entry waits in the backlog.
    ///
    /// # Safety
    /// The one contract of every submission in this crate: every buffer and
    /// descriptor `entry` names must stay valid, at the same address, until
    /// the op's final CQE is reaped (for a multishot op, the one without
    /// `F_MORE`; a cancelled op still answers with its own final CQE). Entries
    /// are built by the types in [`op`], which own that memory; the caller
    /// keeps the op value (in a connection's state, the worker or a job)
    /// until that CQE, and never frees it earlier.
    pub unsafe fn push(&mut self, entry: squeue::Entry) {
        if !self.backlog.is_empty() {
            self.backlogged += 1;
            self.backlog.push_back(entry);
            return;
        }
        // SAFETY: forwarded from the caller's contract.
        if unsafe { self.ring.submission().push(&entry) }.is_ok() {
            return;
        }
        if self.ring.submit().is_ok() {
            // SAFETY: as above.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return;
            }
        }
        self.backlogged += 1;
        self.backlog.push_back(entry);
    }

    /// How many submissions have had to wait for a full SQ.
    pub fn backlogged(&self) -> u64 {
        self.backlogged
    }

    /// Moves backlogged entries into the SQ while it has room.
    fn drain_backlog(&mut self) {
        let mut sq = self.ring.submission();
        while let Some(entry) = self.backlog.front() {
            // SAFETY: entries in the backlog were pushed under `push`'s
            // contract; their memory is still owned by the event loop.
            if unsafe { sq.push(entry) }.is_err() {
                break;
            }
            self.backlog.pop_front();
        }
    }

    /// Submits everything queued and waits for at least one completion or
    /// `timeout`. EBUSY (CQ overflowing) and EINTR are not errors: the caller
    /// reaps and comes back.
    pub fn submit_and_wait(&mut self, timeout: Duration) -> io::Result<()> {
        self.drain_backlog();
        let ts = types::Timespec::from(timeout);
        let args = types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => Ok(()),
            Err(e) => match e.raw_os_error() {
                Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN) => {
                    Ok(())
                }
                _ => Err(e),
            },
        }
    }

    /// Copies every available CQE into `out` (cleared first).
    pub fn reap(&mut self, out: &mut Vec<Completion>) {
        out.clear();
        let mut cq = self.ring.completion();
        cq.sync();
        out.extend(cq.map(|cqe| Completion {
            user_data: cqe.user_data(),
            result: cqe.result(),
            flags: cqe.flags(),
        }));
    }
}
