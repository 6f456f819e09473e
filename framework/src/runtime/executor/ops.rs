//! Ring operations of tasks: an op table per core, and the future that
//! waits on one op.
//!
//! A task's op ([`crate::driver::op`] type) lives in its [`OpFuture`] while
//! the future lives; the table slot holds the op's state (in flight with a
//! waker, or done with its result). The worker pushes the op's entry at the
//! next flush and routes its CQE back here. If the future is dropped before
//! the CQE, the op (its buffer, its descriptor) moves into the table as an
//! orphan and a cancel is queued: the kernel owns that memory until the
//! op's own final CQE, and only then is the orphan dropped (a cancel's CQE
//! and the target's CQE answer different questions).

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use io_uring::squeue;

use super::{try_core, with_core, Core};
use crate::driver::op;
use crate::driver::token::{Op, Token};

/// A ring op a task can wait on: it owns what its entry names.
pub(crate) trait TaskOp: 'static {
    fn entry(&mut self, user_data: u64) -> squeue::Entry;
}

macro_rules! task_ops {
    ($($t:ty),* $(,)?) => {
        $(impl TaskOp for $t {
            fn entry(&mut self, user_data: u64) -> squeue::Entry {
                <$t>::entry(self, user_data)
            }
        })*
    };
}

task_ops!(
    op::OpenAt2,
    op::Statx<std::rc::Rc<std::os::fd::OwnedFd>>,
    op::ReadAt,
    op::WriteAt,
    op::Fsync,
    op::Connect,
    op::AcceptOne,
    op::RecvInto,
    op::SendFrom,
);

/// An op's state in the table.
pub(crate) enum OpState {
    /// Submitted; the waker of the task waiting on it.
    InFlight(Option<Waker>),
    /// Its CQE came: the result.
    Done(i32),
    /// Its future was dropped: the op is kept here until its CQE.
    Orphan(Box<dyn Any>),
}

pub(crate) struct OpSlot {
    generation: u32,
    state: OpState,
}

impl Core {
    /// Queues `entry` for the worker's next flush.
    fn queue_sqe(&self, entry: squeue::Entry) {
        self.sq.borrow_mut().push(entry);
    }

    /// Moves the queued entries out (the worker pushes them to the ring).
    pub(crate) fn take_sqes(&self, into: &mut Vec<squeue::Entry>) {
        into.append(&mut self.sq.borrow_mut());
    }

    /// Ops whose final CQE has not come yet.
    pub(crate) fn ops_in_flight(&self) -> usize {
        self.ops
            .borrow()
            .iter()
            .filter(|(_, s)| !matches!(s.state, OpState::Done(_)))
            .count()
    }

    /// A task op's CQE.
    pub(crate) fn complete_op(&self, index: u32, generation: u32, result: i32) {
        let (waker, orphan) = {
            let mut ops = self.ops.borrow_mut();
            let Some(slot) = ops.get_mut(index as usize) else {
                return;
            };
            if slot.generation != generation {
                return;
            }
            match std::mem::replace(&mut slot.state, OpState::Done(result)) {
                OpState::InFlight(waker) => (waker, None),
                OpState::Orphan(op) => {
                    ops.remove(index as usize);
                    (None, Some(op))
                }
                OpState::Done(r) => {
                    slot.state = OpState::Done(r);
                    (None, None)
                }
            }
        };
        drop(orphan); // the kernel is done with its memory
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Waits on one ring op; yields the op back (with its buffer) and the CQE's
/// result.
pub(crate) struct OpFuture<T: TaskOp> {
    op: Option<T>,
    /// (index, generation) in the table once submitted.
    slot: Option<(u32, u32)>,
}

/// Starts waiting on `op` (submitted when first polled).
pub(crate) fn submit<T: TaskOp>(op: T) -> OpFuture<T> {
    OpFuture {
        op: Some(op),
        slot: None,
    }
}

impl<T: TaskOp> Unpin for OpFuture<T> {}

impl<T: TaskOp> Future for OpFuture<T> {
    type Output = (T, i32);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(T, i32)> {
        let this = &mut *self;
        with_core("a percore I/O operation", |core| match this.slot {
            None => {
                let generation = core.next_op_generation();
                let index = core.ops.borrow_mut().insert(OpSlot {
                    generation,
                    state: OpState::InFlight(Some(cx.waker().clone())),
                }) as u32;
                let token = Token::conn(Op::Task, index, generation).encode();
                let entry = this
                    .op
                    .as_mut()
                    .expect("polled after completion")
                    .entry(token);
                core.queue_sqe(entry);
                this.slot = Some((index, generation));
                Poll::Pending
            }
            Some((index, _)) => {
                let mut ops = core.ops.borrow_mut();
                let slot = &mut ops[index as usize];
                match &mut slot.state {
                    OpState::Done(result) => {
                        let result = *result;
                        ops.remove(index as usize);
                        this.slot = None;
                        Poll::Ready((this.op.take().expect("op kept until done"), result))
                    }
                    OpState::InFlight(waker) => {
                        if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                            *waker = Some(cx.waker().clone());
                        }
                        Poll::Pending
                    }
                    OpState::Orphan(_) => unreachable!("a live future's op is not orphaned"),
                }
            }
        })
    }
}

impl<T: TaskOp> Drop for OpFuture<T> {
    fn drop(&mut self) {
        let Some((index, generation)) = self.slot.take() else {
            return;
        };
        let Some(core) = try_core() else {
            // No core (the thread is ending): the ring is gone with it, and
            // so is the kernel's use of the memory.
            return;
        };
        let mut ops = core.ops.borrow_mut();
        let Some(slot) = ops.get_mut(index as usize) else {
            return;
        };
        match slot.state {
            OpState::Done(_) => {
                ops.remove(index as usize);
            }
            OpState::InFlight(_) => {
                let op = self.op.take().expect("op kept while in flight");
                slot.state = OpState::Orphan(Box::new(op));
                drop(ops);
                let target = Token::conn(Op::Task, index, generation).encode();
                crate::metrics::count(|m| m.ops_cancelled.add(1));
                core.queue_sqe(op::Cancel::entry(
                    target,
                    Token::worker(Op::Cancel).encode(),
                ));
            }
            OpState::Orphan(_) => {}
        }
    }
}
