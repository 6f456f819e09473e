//! `JoinHandle`: the output of a task started with `spawn_local`.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::BoxFuture;

/// Why a task gave no output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// The task panicked (or was dropped with its core before finishing).
    Failed,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the task panicked or was dropped before it finished")
    }
}

impl std::error::Error for JoinError {}

struct State<T> {
    output: Option<T>,
    waiter: Option<Waker>,
    /// The task is gone (finished, panicked or dropped).
    done: bool,
}

/// Awaits a task's output: `Ok(value)`, or `Err` if it panicked. Dropping
/// the handle does not stop the task.
pub struct JoinHandle<T> {
    state: Rc<RefCell<State<T>>>,
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.state.borrow_mut();
        if let Some(v) = s.output.take() {
            return Poll::Ready(Ok(v));
        }
        if s.done {
            return Poll::Ready(Err(JoinError::Failed));
        }
        s.waiter = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> JoinHandle<T> {
    /// Whether the task has finished (or failed).
    pub fn is_finished(&self) -> bool {
        self.state.borrow().done
    }
}

/// Marks the task gone when dropped (after it finished or panicked, or
/// with its core), waking whoever awaits the handle.
struct Completion<T> {
    state: Rc<RefCell<State<T>>>,
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        let waiter = {
            let mut s = self.state.borrow_mut();
            s.done = true;
            s.waiter.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

/// The handle and the task future that fills it.
pub(super) fn pair<F>(future: F) -> (JoinHandle<F::Output>, BoxFuture)
where
    F: Future + 'static,
    F::Output: 'static,
{
    let state = Rc::new(RefCell::new(State {
        output: None,
        waiter: None,
        done: false,
    }));
    let completion = Completion {
        state: state.clone(),
    };
    let task = Box::pin(async move {
        let output = future.await;
        completion.state.borrow_mut().output = Some(output);
        drop(completion);
    });
    (JoinHandle { state }, task)
}
