//! Request bodies that stream into async handlers.
//!
//! On the request path: an async handler is called as soon as its request's
//! head is parsed. If the body has not arrived whole with the head, the
//! connection feeds it (de-chunked) into a [`BodyPipe`] as it arrives
//! (`runtime::exchange::feed`), and the handler pulls it through
//! [`RequestBody`] (a `Stream` of chunks) or `Request::body_bytes`. The pipe
//! holds at most [`PIPE_ROOM`] bytes: while the handler does not pull, the
//! connection stops taking bytes from its input and, past its own high-water
//! mark, stops reading the socket. `Expect: 100-continue` is answered when the
//! handler first asks for the body.

use std::cell::RefCell;
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_core::Stream;
use http::StatusCode;

use super::{IntoResponse, Response};

/// Decoded bytes a pipe holds for its handler before the connection stops
/// feeding it.
pub(crate) const PIPE_ROOM: usize = 64 * 1024;

/// Why a request body could not be read whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// Longer than `limits.max_body` (413).
    TooLarge,
    /// The chunked framing was malformed (400).
    Malformed,
    /// The chunked body's trailer section was over its limit (431).
    TrailersTooLarge,
    /// The client closed its side before the body ended (400).
    Incomplete,
    /// The body stopped arriving for longer than the body timeout (408).
    TimedOut,
    /// The connection closed (the server is stopping, or it failed).
    Aborted,
    /// The body was already taken by `body_stream` or `body_bytes`.
    Taken,
}

impl BodyError {
    /// The status a handler should answer with.
    pub fn status(self) -> StatusCode {
        match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Malformed | BodyError::Incomplete => StatusCode::BAD_REQUEST,
            BodyError::TrailersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            BodyError::TimedOut => StatusCode::REQUEST_TIMEOUT,
            BodyError::Aborted | BodyError::Taken => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BodyError::TooLarge => "request body too large",
            BodyError::Malformed => "malformed chunked request body",
            BodyError::TrailersTooLarge => "request trailer fields too large",
            BodyError::Incomplete => "the client closed before the request body ended",
            BodyError::TimedOut => "the request body stopped arriving (body timeout)",
            BodyError::Aborted => "the connection closed",
            BodyError::Taken => "the request body was already taken",
        })
    }
}

impl std::error::Error for BodyError {}

/// `?` on a body read answers with the error's status and its sentence.
impl IntoResponse for BodyError {
    fn into_response(self) -> Response {
        Response::error(self.status(), self.to_string())
    }
}

/// What the connection (writer) and the handler (reader) share.
pub(crate) struct BodyPipe {
    /// Decoded bytes the handler has not taken yet.
    pub(crate) buf: Vec<u8>,
    /// The body ended: `Ok` once every byte is in `buf`, or why it failed.
    pub(crate) end: Option<Result<(), BodyError>>,
    /// The handler asked for the body at least once.
    pub(crate) asked: bool,
    /// `Expect: 100-continue` was sent and the interim answer is not: owed
    /// when the handler first asks.
    pub(crate) continue_owed: bool,
    /// The connection stopped feeding because `buf` was full.
    pub(crate) stalled: bool,
    /// The reader was dropped: the rest of the body is discarded.
    pub(crate) reader_gone: bool,
    reader: Option<Waker>,
    /// The connection, as (slot, generation).
    owner: (u32, u32),
}

impl BodyPipe {
    /// A pipe for the connection `owner`, reader and writer ends.
    pub(crate) fn open(owner: (u32, u32), continue_owed: bool) -> (PipeWriter, PipeReader) {
        let pipe = Rc::new(RefCell::new(BodyPipe {
            buf: Vec::new(),
            end: None,
            asked: false,
            continue_owed,
            stalled: false,
            reader_gone: false,
            reader: None,
            owner,
        }));
        (PipeWriter(pipe.clone()), PipeReader(pipe))
    }

    /// Tells the connection's worker to look at the pipe again.
    fn notify(&self) {
        crate::runtime::executor::stream_moved(self.owner);
    }

    /// Wakes the handler waiting for bytes.
    pub(crate) fn wake_reader(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }
}

/// The connection's end of a pipe.
pub(crate) struct PipeWriter(pub(crate) Rc<RefCell<BodyPipe>>);

impl PipeWriter {
    /// Ends the body (`Ok`: complete) and wakes the reader.
    pub(crate) fn end(&self, result: Result<(), BodyError>) {
        let mut p = self.0.borrow_mut();
        if p.end.is_none() {
            p.end = Some(result);
        }
        p.wake_reader();
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        // A connection that goes away mid-body: the reader is not left waiting.
        self.end(Err(BodyError::Aborted));
    }
}

/// The handler's end of a pipe.
pub(crate) struct PipeReader(Rc<RefCell<BodyPipe>>);

impl PipeReader {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        let mut p = self.0.borrow_mut();
        if !p.asked {
            p.asked = true;
            if p.continue_owed {
                p.notify();
            }
        }
        if !p.buf.is_empty() {
            let chunk = Bytes::from(std::mem::take(&mut p.buf));
            if p.stalled {
                p.stalled = false;
                p.notify();
            }
            return Poll::Ready(Some(Ok(chunk)));
        }
        match p.end {
            Some(Ok(())) => Poll::Ready(None),
            Some(Err(e)) => {
                p.end = Some(Ok(())); // reported once, then the stream ends
                Poll::Ready(Some(Err(e)))
            }
            None => {
                p.reader = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        let mut p = self.0.borrow_mut();
        p.reader_gone = true;
        p.buf = Vec::new();
        if p.end.is_none() && (p.stalled || p.continue_owed) {
            p.notify(); // the connection discards the rest, or closes
        }
    }
}

/// A request body as a stream of chunks, in arrival order, de-chunked:
/// `while let Some(chunk) = body.chunk().await { let chunk = chunk?; .. }`.
/// Also a [`futures_core::Stream`] of `Result<Bytes, BodyError>`, so it can
/// be the body of a response (`Response::ok().body(req.body_stream())`, or
/// `Body::from_try_stream`: an error cuts the response off) or fed to an
/// upstream.
/// Bounded by `limits.max_body`; an error is yielded once, then `None`.
pub struct RequestBody {
    inner: Inner,
}

enum Inner {
    /// The body had arrived whole (or was empty).
    Whole(Option<Bytes>),
    /// Arriving through a pipe.
    Streaming(PipeReader),
    /// Taken before: the one item is this error.
    Failed(Option<BodyError>),
}

impl RequestBody {
    pub(crate) fn whole(bytes: Bytes) -> RequestBody {
        let bytes = (!bytes.is_empty()).then_some(bytes);
        RequestBody {
            inner: Inner::Whole(bytes),
        }
    }

    pub(crate) fn streaming(reader: PipeReader) -> RequestBody {
        RequestBody {
            inner: Inner::Streaming(reader),
        }
    }

    pub(crate) fn failed(e: BodyError) -> RequestBody {
        RequestBody {
            inner: Inner::Failed(Some(e)),
        }
    }

    /// The next chunk; `None` at the end of the body.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, BodyError>> {
        poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// The rest of the body, whole.
    pub async fn bytes(mut self) -> Result<Bytes, BodyError> {
        let Some(first) = self.chunk().await.transpose()? else {
            return Ok(Bytes::new());
        };
        let Some(second) = self.chunk().await.transpose()? else {
            return Ok(first);
        };
        let mut all = Vec::with_capacity(first.len() + second.len());
        all.extend_from_slice(&first);
        all.extend_from_slice(&second);
        while let Some(chunk) = self.chunk().await {
            all.extend_from_slice(&chunk?);
        }
        Ok(Bytes::from(all))
    }

    /// Polls for the next chunk (the `Stream` method, without the pin).
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        match &mut self.inner {
            Inner::Whole(bytes) => Poll::Ready(bytes.take().map(Ok)),
            Inner::Streaming(reader) => reader.poll_chunk(cx),
            Inner::Failed(e) => Poll::Ready(e.take().map(Err)),
        }
    }
}

impl Stream for RequestBody {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_chunk(cx)
    }
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.inner {
            Inner::Whole(_) => "whole",
            Inner::Streaming(_) => "streaming",
            Inner::Failed(_) => "failed",
        };
        f.debug_struct("RequestBody")
            .field("state", &state)
            .finish()
    }
}
