//! Request bodies streaming into async handlers: the connection's side of
//! the pipe (the handler's side is `handler::body_in`).
//!
//! An async handler is called once its head is parsed. If the body has not
//! arrived whole with the head, the bytes after the head are its body until
//! the framing says it ended: they are decoded into the pipe, at most
//! [`PIPE_ROOM`] ahead of the handler. A full pipe stops the feed (the bytes
//! wait in the connection's input, and reading pauses past its high-water
//! mark); the handler taking bytes resumes it. While the body streams, later
//! requests wait behind it as behind any answer in progress.
//!
//! `Expect: 100-continue` is answered when the handler first asks for the
//! body, or just before its response if that response's body still reads the
//! request body. A handler that answers without wanting the body: the rest
//! is read and discarded (keep-alive goes on), unless the client still waits
//! for the interim answer or the connection is closing anyway: then the
//! connection closes after the response.

use super::{Exchange, Stop};
use crate::conn::{BodyFeed, BodyProgress, Conn, FeedFraming};
use crate::handler::{BodyError, BodyPipe, PIPE_ROOM};
use crate::http::body::DecodeStatus;
use crate::http::encode;
use crate::http::head::ParseError;
use crate::runtime::timer::Millis;

/// What one round of feeding did.
pub(super) enum Fed {
    /// The body ended; the input after `used` is the next request.
    Done,
    /// Every byte offered went in; more of the body is to come.
    NeedMore,
    /// The pipe is full: the rest waits for the handler.
    Full,
    /// The body cannot be read on (bad framing, nobody wants it): the
    /// connection closes after its response; the rest of the input is dropped.
    Ended,
}

impl Exchange {
    /// Starts streaming the body of the request in `self.head` to its async
    /// handler, with `first` (decoded bytes that came with the head) in the
    /// pipe already, and calls the handler. `used`: the input bytes the
    /// request took so far.
    pub(super) fn stream_to_handler(
        &mut self,
        conn: &mut Conn,
        head_bytes: &[u8],
        first: &[u8],
        framing: FeedFraming,
        used: usize,
    ) -> super::Step {
        let continue_owed = self.head.expect_continue && !conn.http.continue_sent;
        let (writer, reader) = BodyPipe::open(self.owner, continue_owed);
        writer.0.borrow_mut().buf.extend_from_slice(first);
        conn.http.body = Some(Box::new(BodyProgress::Feeding(BodyFeed {
            writer,
            framing,
        })));
        match self.respond(conn, head_bytes, &[], Some(reader)) {
            // Async handlers answer through a task, never `Pending`; kept
            // for completeness.
            Some(pending) => {
                conn.http.pending = Some(pending);
                super::Step::Served(used)
            }
            None => super::Step::Served(used),
        }
    }

    /// Feeds the body bytes at the front of `input` into the pipe.
    pub(super) fn feed(&mut self, conn: &mut Conn, input: &[u8]) -> (usize, Fed) {
        if !self.feed_check(conn) {
            return (input.len(), Fed::Ended);
        }
        let no_more = conn.http.peer_eof;
        let Some(feed) = conn.http.feed_mut() else {
            return (0, Fed::Done);
        };
        let mut pipe = feed.writer.0.borrow_mut();
        let discard = pipe.reader_gone;
        let room = if discard {
            input.len()
        } else {
            PIPE_ROOM.saturating_sub(pipe.buf.len()).min(input.len())
        };
        if room == 0 && !input.is_empty() {
            pipe.stalled = true;
            return (0, Fed::Full);
        }
        let before = pipe.buf.len();
        let (used, end) = match &mut feed.framing {
            FeedFraming::Length(left) => {
                let n = (*left).min(room as u64) as usize;
                pipe.buf.extend_from_slice(&input[..n]);
                *left -= n as u64;
                (n, (*left == 0).then_some(Ok(())))
            }
            FeedFraming::Chunked(decoder) => match decoder.decode(&input[..room], &mut pipe.buf) {
                Ok(DecodeStatus::NeedMore { consumed }) => (consumed, None),
                Ok(DecodeStatus::Complete { consumed }) => (consumed, Some(Ok(()))),
                Err(e) => (input.len(), Some(Err(body_error(e)))),
            },
        };
        if discard {
            pipe.buf.clear();
        } else if pipe.buf.len() > before {
            pipe.wake_reader();
        }
        let more_input = used < input.len();
        drop(pipe);
        match end {
            Some(Ok(())) => {
                feed.writer.end(Ok(()));
                conn.http.take_feed();
                (used, Fed::Done)
            }
            Some(Err(e)) => {
                tracing::debug!(core = self.core, reason = %e, "request body failed");
                feed.writer.end(Err(e));
                conn.http.take_feed();
                conn.end_and_linger(); // the framing is lost
                (input.len(), Fed::Ended)
            }
            None if more_input => {
                feed.writer.0.borrow_mut().stalled = true;
                (used, Fed::Full)
            }
            None if no_more => {
                // Every byte the peer sent is in, and the body is short.
                self.fail_feed(conn, BodyError::Incomplete);
                (input.len(), Fed::Ended)
            }
            None => (used, Fed::NeedMore),
        }
    }

    /// Why serving stopped while a body streams: it waits for the handler
    /// (a full pipe, or the interim answer the handler has not asked for)
    /// with no read timeout, or for the client (the body timeout).
    pub(super) fn feed_stop(&self, conn: &Conn) -> Stop {
        let Some(feed) = conn.http.feed() else {
            return Stop::Done;
        };
        let p = feed.writer.0.borrow();
        if p.stalled || p.continue_owed {
            Stop::Held
        } else {
            Stop::NeedBody
        }
    }

    /// The handler moved (took bytes, asked for the body, dropped it): send
    /// the interim answer it asked for, feed it what waits, and set the read
    /// deadline that now applies.
    pub(crate) fn body_moved(&mut self, conn: &mut Conn, now: Millis) {
        if !conn.http.is_feeding() {
            return;
        }
        if let Some(feed) = conn.http.feed() {
            feed.writer.0.borrow_mut().stalled = false;
        }
        self.feed_check(conn);
        let (consumed, stop) = self.serve_buffered(conn);
        self.settle(conn, stop, consumed > 0, false, now);
    }

    /// Brings the feed in line with its handler: the interim answer once
    /// asked for; dropped (connection closing after its response) when no
    /// one will read the rest and the client may not send it or the
    /// connection is closing anyway. False when the feed was dropped.
    fn feed_check(&mut self, conn: &mut Conn) -> bool {
        let open = conn.is_open();
        let Some(feed) = conn.http.feed() else {
            return true;
        };
        let pipe = feed.writer.0.clone();
        let mut p = pipe.borrow_mut();
        if p.reader_gone && (p.continue_owed || !open) {
            drop(p);
            conn.http.take_feed();
            conn.end_and_linger(); // the body's rest may be on its way
            return false;
        }
        if p.continue_owed && p.asked {
            p.continue_owed = false;
            self.pool.ensure(&mut conn.http.out);
            conn.http.push_interim(encode::CONTINUE_100);
        }
        true
    }

    /// Just before the streaming request's response is encoded: a body the
    /// response still reads gets its interim answer first; one nobody reads
    /// that the client may not send closes the connection. True when the
    /// response must say `Connection: close`.
    pub(super) fn feed_before_response(&mut self, conn: &mut Conn) -> bool {
        let Some(feed) = conn.http.feed() else {
            return false;
        };
        let mut p = feed.writer.0.borrow_mut();
        if !p.continue_owed {
            return false;
        }
        if p.reader_gone {
            drop(p);
            conn.http.take_feed();
            return true;
        }
        p.continue_owed = false;
        drop(p);
        self.pool.ensure(&mut conn.http.out);
        conn.http.push_interim(encode::CONTINUE_100);
        false
    }

    /// The body cannot go on (it stopped arriving in time, the peer closed
    /// before its end): the handler's reads fail with `why`, and since the
    /// framing is lost, nothing after it is read: the input is dropped and
    /// the connection closes after the answer.
    pub(crate) fn fail_feed(&mut self, conn: &mut Conn, why: BodyError) -> bool {
        let Some(feed) = conn.http.take_feed() else {
            return false;
        };
        let timed_out = matches!(why, BodyError::TimedOut);
        feed.writer.end(Err(why));
        conn.http.inbuf.clear();
        conn.http.scan = crate::conn::HeadScan::default();
        if timed_out {
            conn.end_after_flush(); // a body this slow is not worth waiting for
        } else {
            conn.end_and_linger();
        }
        true
    }
}

/// The body error a handler sees for a chunked framing error.
fn body_error(e: ParseError) -> BodyError {
    match e.status() {
        http::StatusCode::PAYLOAD_TOO_LARGE => BodyError::TooLarge,
        http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => BodyError::TrailersTooLarge,
        _ => BodyError::Malformed,
    }
}
