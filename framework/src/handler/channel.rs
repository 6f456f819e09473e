//! A streaming body fed from async code: `let (tx, body) = Body::channel();`,
//! then `tx.send(chunk).await` from a task (`spawn_local`) while the
//! response is sent. `send` waits while the client is slower than the task;
//! it fails once the client has gone (the body was dropped).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_core::Stream;

use super::Body;

/// Chunks held between the sender and the connection, at most.
const CAPACITY: usize = 8;

struct State {
    queue: VecDeque<Bytes>,
    /// The sender is gone: the body ends after the queue.
    sender_gone: bool,
    /// The body is gone (the client left, or the response was dropped).
    body_gone: bool,
    sender_waiting: Option<Waker>,
    body_waiting: Option<Waker>,
}

/// The sending half of [`Body::channel`]. Dropping it ends the body.
pub struct BodySender {
    state: Rc<RefCell<State>>,
    aborted: Rc<std::cell::Cell<bool>>,
}

/// The body's client went away; the chunk was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyClosed;

impl std::fmt::Display for BodyClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the response body was dropped (the client went away)")
    }
}

impl std::error::Error for BodyClosed {}

impl BodySender {
    /// Queues `chunk`; waits while the body holds as much as it may.
    pub async fn send(&self, chunk: impl Into<Bytes>) -> Result<(), BodyClosed> {
        let mut chunk = Some(chunk.into());
        poll_fn(|cx| {
            let mut s = self.state.borrow_mut();
            if s.body_gone {
                return Poll::Ready(Err(BodyClosed));
            }
            if s.queue.len() >= CAPACITY {
                s.sender_waiting = Some(cx.waker().clone());
                return Poll::Pending;
            }
            s.queue.push_back(chunk.take().expect("sent once"));
            if let Some(w) = s.body_waiting.take() {
                w.wake();
            }
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// Ends the body as failed (an upstream broke mid-body): the client's
    /// connection closes without completing it, so it cannot mistake the
    /// part it got for the whole.
    pub fn abort(self) {
        self.aborted.set(true);
    }

    /// Whether the body is gone (sending would fail).
    pub fn is_closed(&self) -> bool {
        self.state.borrow().body_gone
    }
}

impl Drop for BodySender {
    fn drop(&mut self) {
        let mut s = self.state.borrow_mut();
        s.sender_gone = true;
        if let Some(w) = s.body_waiting.take() {
            w.wake();
        }
    }
}

struct Receiver {
    state: Rc<RefCell<State>>,
}

impl Stream for Receiver {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut s = self.state.borrow_mut();
        if let Some(chunk) = s.queue.pop_front() {
            if let Some(w) = s.sender_waiting.take() {
                w.wake();
            }
            return Poll::Ready(Some(chunk));
        }
        if s.sender_gone {
            return Poll::Ready(None);
        }
        s.body_waiting = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut s = self.state.borrow_mut();
        s.body_gone = true;
        s.queue.clear();
        if let Some(w) = s.sender_waiting.take() {
            w.wake();
        }
    }
}

impl Body {
    /// A body sent chunked as a task feeds it through the returned sender.
    pub fn channel() -> (BodySender, Body) {
        Body::channel_inner(None)
    }

    /// Like [`Body::channel`], for a body of exactly `len` bytes, sent with
    /// a Content-Length (the connection closes if fewer arrive).
    pub fn channel_with_len(len: u64) -> (BodySender, Body) {
        Body::channel_inner(Some(len))
    }

    fn channel_inner(len: Option<u64>) -> (BodySender, Body) {
        let state = Rc::new(RefCell::new(State {
            queue: VecDeque::new(),
            sender_gone: false,
            body_gone: false,
            sender_waiting: None,
            body_waiting: None,
        }));
        let receiver = Receiver {
            state: state.clone(),
        };
        let aborted = Rc::new(std::cell::Cell::new(false));
        let mut body = match len {
            Some(n) => Body::from_stream_with_len(n, receiver),
            None => Body::from_stream(receiver),
        };
        if let Body::Async(a) = &mut body {
            a.aborted = Some(aborted.clone());
        }
        (BodySender { state, aborted }, body)
    }
}
