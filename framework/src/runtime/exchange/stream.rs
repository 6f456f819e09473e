//! Response bodies from async streams: a pump task polls the handler's
//! stream and frames each chunk into a buffer shared with the connection;
//! the connection sends what is there, one send at a time, and the pump
//! waits while the buffer is full (the client's pace). When the client
//! goes, the connection cancels the pump and the stream is dropped.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_core::Stream;

use crate::handler::AsyncBody;
use crate::http::encode;
use crate::runtime::executor::{with_core, TaskId};

/// The pump stops polling the stream while this much waits to be sent.
const ROOM: usize = 64 * 1024;

/// How the stream's bytes are framed on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// `Content-Length`: exactly this many bytes more.
    Length(u64),
    /// Until the connection closes (HTTP/1.0).
    Close,
}

/// What the pump and the connection share.
pub(crate) struct Shared {
    /// Framed bytes waiting for the socket.
    pub(crate) buf: Vec<u8>,
    /// The stream ended and its last bytes are in `buf`.
    pub(crate) done: bool,
    /// The stream ended short of its Content-Length: close after `buf`.
    pub(crate) broken: bool,
    /// The pump, waiting for room.
    waiter: Option<Waker>,
    /// The connection, as (slot, generation).
    owner: (u32, u32),
}

/// A connection's end of a streaming body.
pub(crate) struct StreamOut {
    pub(crate) shared: Rc<RefCell<Shared>>,
    pub(crate) task: TaskId,
}

impl StreamOut {
    /// Starts pumping `body` for the connection `owner`.
    pub(crate) fn start(body: AsyncBody, framing: Framing, owner: (u32, u32)) -> StreamOut {
        let shared = Rc::new(RefCell::new(Shared {
            buf: Vec::new(),
            done: false,
            broken: false,
            waiter: None,
            owner,
        }));
        let pump = Pump {
            stream: body.stream,
            shared: shared.clone(),
            framing,
            aborted: body.aborted,
        };
        let task = with_core("a streaming body", |core| core.spawn(Box::pin(pump), None));
        StreamOut { shared, task }
    }

    /// Takes the bytes ready to send (swapped for `spare`, an empty buffer),
    /// and lets the pump go on.
    pub(crate) fn take(&self, spare: Vec<u8>) -> Vec<u8> {
        let mut s = self.shared.borrow_mut();
        let ready = std::mem::replace(&mut s.buf, spare);
        if let Some(w) = s.waiter.take() {
            w.wake();
        }
        ready
    }

    /// Whether the stream is over and everything of it was taken.
    pub(crate) fn finished(&self) -> bool {
        let s = self.shared.borrow();
        s.done && s.buf.is_empty()
    }
}

struct Pump {
    stream: Pin<Box<dyn Stream<Item = Bytes>>>,
    shared: Rc<RefCell<Shared>>,
    framing: Framing,
    aborted: Option<Rc<std::cell::Cell<bool>>>,
}

impl Pump {
    /// Tells the worker the connection has bytes to send.
    fn notify(&self) {
        let owner = self.shared.borrow().owner;
        with_core("a streaming body", |core| {
            core.streams_ready.borrow_mut().push(owner)
        });
    }

    fn finish(&mut self, broken: bool) {
        {
            let mut s = self.shared.borrow_mut();
            if self.framing == Framing::Chunked && !broken {
                encode::write_last_chunk(&mut s.buf);
            }
            s.done = true;
            s.broken = broken;
        }
        self.notify();
    }
}

impl Future for Pump {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            {
                let mut s = self.shared.borrow_mut();
                if s.buf.len() >= ROOM {
                    s.waiter = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
            match self.stream.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    let short = matches!(self.framing, Framing::Length(n) if n > 0);
                    let aborted = self.aborted.as_ref().is_some_and(|a| a.get());
                    self.finish(short || aborted);
                    return Poll::Ready(());
                }
                Poll::Ready(Some(chunk)) if chunk.is_empty() => {}
                Poll::Ready(Some(chunk)) => {
                    let framing = self.framing;
                    {
                        let mut s = self.shared.borrow_mut();
                        match framing {
                            Framing::Chunked => encode::write_chunk(&mut s.buf, &chunk),
                            Framing::Close => s.buf.extend_from_slice(&chunk),
                            Framing::Length(left) => {
                                let n = (left as usize).min(chunk.len());
                                s.buf.extend_from_slice(&chunk[..n]);
                            }
                        }
                    }
                    if let Framing::Length(left) = &mut self.framing {
                        *left -= (*left).min(chunk.len() as u64);
                        if *left == 0 {
                            self.finish(false);
                            return Poll::Ready(());
                        }
                    }
                    self.notify();
                }
            }
        }
    }
}
