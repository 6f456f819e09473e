//! Writing a connection: the write buffer as one send per loop turn, then
//! the body parts that skip it, memory sent in place and file ranges spliced
//! file -> pipe -> socket as a linked pair of SQEs.
//!
//! A short file -> pipe splice severs the link: the kernel cancels the
//! pipe -> socket one, and what did reach the pipe goes out in a round of
//! its own. A file -> pipe splice that moves nothing means the file shrank
//! after its length was promised: the connection is closed rather than
//! sending fewer bytes than announced.

use tracing::debug;

use super::Worker;
use crate::conn::{Output, Phase, Sealed, Splicing};
use crate::driver::op::{self, Pipe, SplicePair};
use crate::driver::token::{Op, Token};
use crate::driver::Completion;
use crate::handler::{Part, Pending};
use crate::runtime::timer::{Clock, Deadline};

impl Worker {
    /// The connection's turn in the flush: submit a pending file op, start
    /// the next output, or close once everything owed is sent.
    pub(super) fn flush_conn(&mut self, slot: u32) {
        let Some(conn) = self.conns.get_mut(slot as usize) else {
            return;
        };
        if matches!(conn.phase, Phase::Closing { .. }) {
            return;
        }
        if matches!(&conn.http.pending, Some(Pending::OpenFiles(job)) if job.ready()) {
            self.submit_file_op(slot);
        }
        let conn = &mut self.conns[slot as usize];
        // With output in flight, its completion flushes again.
        let idle = conn.output.is_idle();
        if idle && conn.tls.is_some() {
            self.flush_tls(slot);
        } else if idle && !conn.http.out.is_empty() {
            self.start_send(slot);
        } else if idle && conn.http.outgoing.is_some() {
            self.start_part(slot);
        } else if idle && conn.phase == Phase::CloseAfterFlush && conn.http.pending.is_none() {
            self.finish_close(slot);
        }
        self.arm_timer(slot);
    }

    /// Moves the write buffer into a send op, gathering the body parts in
    /// memory that follow it (a response's body is not copied behind its
    /// head: see `SEND_GATHERED_MIN`).
    fn start_send(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        let buf = std::mem::take(&mut conn.http.out);
        let gather = conn
            .http
            .outgoing
            .as_deref()
            .is_some_and(|o| matches!(o.parts.front(), Some(Part::Bytes(_))));
        if gather {
            return self.send_gathered(slot, buf);
        }
        let op = op::Send::new(buf);
        let entry = op.entry(conn.fd, send_token(slot, conn));
        self.submit_output(slot, Output::Send(op), entry);
    }

    /// One `sendmsg` of `head` and the memory parts at the front of the
    /// connection's outgoing queue.
    fn send_gathered(&mut self, slot: u32, head: Vec<u8>) {
        let conn = &mut self.conns[slot as usize];
        let parts = conn.http.outgoing.as_deref().map(memory_parts);
        let mut op = op::SendVec::new(head, parts.into_iter().flatten());
        let entry = op.entry(conn.fd, send_token(slot, conn));
        self.submit_output(slot, Output::SendVec(op), entry);
    }

    /// Puts `output` in flight (its op built `entry`), under the send
    /// timeout.
    fn submit_output(&mut self, slot: u32, output: Output, entry: io_uring::squeue::Entry) {
        let deadline = Clock::deadline(self.now, self.config.timeouts.send());
        let conn = &mut self.conns[slot as usize];
        conn.output = output;
        conn.send_deadline = Deadline::at(deadline);
        self.push(entry);
    }

    /// The kernel took `bytes` more of the output (the metrics; the access
    /// log's count, unless they are TLS records: see `tls::sealed_done`).
    fn count_sent(&mut self, slot: u32, bytes: i32) {
        if bytes > 0 {
            self.ex.metrics.bytes_out.add(bytes as u64);
        }
        let conn = &mut self.conns[slot as usize];
        if let (Some(track), Some(log), true) = (
            conn.http.access.as_mut(),
            self.ex.access.as_mut(),
            bytes > 0 && !matches!(conn.output, Output::Sealed(_)),
        ) {
            track.sent(bytes as u64, log);
        }
    }

    pub(super) fn on_send(&mut self, slot: u32, c: Completion) {
        self.count_sent(slot, c.result);
        let conn = &mut self.conns[slot as usize];
        let closing = matches!(conn.phase, Phase::Closing { .. });
        // A partial write: the same op sends the rest.
        match std::mem::replace(&mut conn.output, Output::Idle) {
            Output::Send(mut op) => {
                if c.result >= 0 && !closing && !op.advance(c.result as usize) {
                    let entry = op.entry(conn.fd, send_token(slot, conn));
                    return self.submit_output(slot, Output::Send(op), entry);
                }
                self.ex.pool.put(op.into_buf());
            }
            Output::Sealed(mut s) => {
                if c.result >= 0 && !closing && !s.op.advance(c.result as usize) {
                    let entry = s.op.entry(conn.fd, send_token(slot, conn));
                    return self.submit_output(slot, Output::Sealed(s), entry);
                }
                let Sealed {
                    op, plain, of_part, ..
                } = *s;
                self.ex.pool.put(op.into_buf());
                if c.result >= 0 && !closing {
                    self.sealed_done(slot, plain, of_part);
                }
                return self.after_send(slot, c.result);
            }
            Output::SendVec(mut op) => {
                if c.result >= 0 {
                    let (body, all) = op.advance(c.result as usize);
                    if let Some(out) = conn.http.outgoing.as_mut() {
                        out.sent_from_memory(body as u64);
                    }
                    if !all && !closing {
                        let entry = op.entry(conn.fd, send_token(slot, conn));
                        return self.submit_output(slot, Output::SendVec(op), entry);
                    }
                }
                // Its parts are references to the queued ones: dropping
                // them frees nothing the queue still needs.
                self.ex.pool.put(op.into_head());
            }
            other => conn.output = other,
        }
        self.after_send(slot, c.result);
    }

    /// A send finished (whole, or failed): on to the next output.
    fn after_send(&mut self, slot: u32, result: i32) {
        let conn = &mut self.conns[slot as usize];
        if result < 0 {
            return self.conn_failed(slot, "send", -result);
        }
        if matches!(conn.phase, Phase::Closing { .. }) {
            return self.try_close(slot);
        }
        self.part_progress(slot);
    }

    /// Starts sending the front body part (or the next round of it).
    pub(super) fn start_part(&mut self, slot: u32) {
        let deadline = Clock::deadline(self.now, self.config.timeouts.send());
        let conn = &mut self.conns[slot as usize];
        let Some(out) = conn.http.outgoing.as_mut() else {
            return;
        };
        let (fd, generation) = (conn.fd, conn.generation);
        let Some(part) = out.parts.front() else {
            let Some(ready) = self.stream_ready(slot) else {
                return;
            };
            let op = op::Send::new(ready);
            let entry = op.entry(fd, Token::conn(Op::Send, slot, generation).encode());
            return self.submit_output(slot, Output::Send(op), entry);
        };
        match part {
            Part::Bytes(_) => self.send_gathered(slot, Vec::new()),
            Part::File(file) => {
                let pipe = match out.pipe.take().or_else(|| self.pipes.pop()) {
                    Some(pipe) => pipe,
                    None => match Pipe::new() {
                        Ok(pipe) => pipe,
                        Err(e) => {
                            // Out of descriptors: the file goes out in
                            // chunks read through the ring, as over TLS,
                            // rather than the answer being cut short.
                            debug!(
                                core = self.ex.core,
                                "cannot create a pipe for splice ({e}): reading the file in chunks"
                            );
                            return self.read_file_chunk(slot);
                        }
                    },
                };
                let pair = SplicePair::new(file.fd.clone(), pipe, fd);
                let in_data = Token::conn(Op::SpliceIn, slot, generation).encode();
                let out_data = Token::conn(Op::SpliceOut, slot, generation).encode();
                let in_pipe = out.in_pipe;
                let (entries, splicing) = if in_pipe > 0 {
                    // Bytes left in the pipe by a short round go out first.
                    let entry = pair.drain_entry(in_pipe, out_data);
                    (vec![entry], Splicing::new(pair, false, in_pipe))
                } else {
                    let chunk = out.remaining().min(pair.pipe.capacity() as u64) as u32;
                    let entries = pair.entries(file.offset + out.done, chunk, in_data, out_data);
                    (entries.to_vec(), Splicing::new(pair, true, 0))
                };
                conn.output = Output::Splice(Box::new(splicing));
                conn.send_deadline = Deadline::at(deadline);
                for entry in entries {
                    self.push(entry);
                }
            }
        }
    }

    /// After the parts: a streaming body's ready bytes, if any. With none,
    /// the body is over if its stream finished (or there is none), else it
    /// waits for the pump's notice.
    pub(super) fn stream_ready(&mut self, slot: u32) -> Option<Vec<u8>> {
        let conn = &mut self.conns[slot as usize];
        let out = conn.http.outgoing.as_mut()?;
        let Some(stream) = out.stream.as_ref() else {
            conn.http.outgoing = None;
            return None;
        };
        let ready = stream.take(self.ex.pool.get());
        if let Some(track) = conn.http.access.as_mut() {
            track.queued(ready.len() as u64);
        }
        if !ready.is_empty() {
            return Some(ready);
        }
        self.ex.pool.put(ready);
        if stream.finished() {
            self.part_progress(slot); // ended with nothing left to send
        }
        None
    }

    pub(super) fn on_splice_in(&mut self, slot: u32, c: Completion) {
        let core = self.ex.core;
        let conn = &mut self.conns[slot as usize];
        let Output::Splice(s) = &mut conn.output else {
            return;
        };
        s.awaiting -= 1;
        match c.result {
            n if n > 0 => s.in_pipe += n as u32,
            0 => {
                debug!(
                    core,
                    "file truncated while being sent; closing the connection"
                );
                s.failed = true;
            }
            e => {
                debug!(
                    core,
                    "splice from file failed: {}",
                    std::io::Error::from_raw_os_error(-e)
                );
                s.failed = true;
            }
        }
        self.splice_progress(slot);
    }

    pub(super) fn on_splice_out(&mut self, slot: u32, c: Completion) {
        let conn = &mut self.conns[slot as usize];
        let Output::Splice(s) = &mut conn.output else {
            return;
        };
        s.awaiting -= 1;
        match c.result {
            // Cancelled by a short file -> pipe splice: the pipe's bytes go
            // out in the next round.
            n if n == -libc::ECANCELED => {}
            n if n < 0 => {
                debug!(
                    core = self.ex.core,
                    "splice to socket failed: {}",
                    std::io::Error::from_raw_os_error(-n)
                );
                s.failed = true;
            }
            n => {
                let n = (n as u32).min(s.in_pipe);
                s.in_pipe -= n;
                s.sent += n;
            }
        }
        self.count_sent(slot, c.result);
        self.splice_progress(slot);
    }

    /// When both CQEs of a splice round are in: the pipe goes back to the
    /// part's progress, and the next round or part follows.
    fn splice_progress(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        let Output::Splice(s) = &conn.output else {
            return;
        };
        if s.awaiting > 0 {
            return;
        }
        let Output::Splice(s) = std::mem::replace(&mut conn.output, Output::Idle) else {
            unreachable!("matched above");
        };
        let Splicing {
            pair,
            in_pipe,
            sent,
            failed,
            ..
        } = *s;
        if let Some(out) = conn.http.outgoing.as_mut() {
            out.done += sent as u64;
            out.in_pipe = in_pipe;
            out.pipe = Some(pair.pipe);
        }
        if failed {
            return self.begin_close(slot);
        }
        if matches!(conn.phase, Phase::Closing { .. }) {
            return self.try_close(slot);
        }
        self.part_progress(slot);
    }

    /// After some output went out: finish the front part if it is all sent,
    /// then let the connection move on.
    pub(super) fn part_progress(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        if let Some(out) = conn.http.outgoing.as_mut() {
            if out.remaining() == 0 && out.in_pipe == 0 {
                out.parts.pop_front();
                out.done = 0;
            }
            let stream_over = out.stream.as_ref().is_none_or(|s| s.finished());
            if out.parts.is_empty() && stream_over {
                let broken = out
                    .stream
                    .as_ref()
                    .is_some_and(|s| s.shared.borrow().broken);
                let finished = conn.http.outgoing.take();
                if finished.as_ref().is_some_and(|f| f.stream.is_some()) {
                    if let (Some(track), Some(log)) =
                        (conn.http.access.as_mut(), self.ex.access.as_mut())
                    {
                        track.stream_ended();
                        track.sent(0, log);
                    }
                }
                self.recycle_pipe(finished);
                if broken {
                    // The stream ended short of its Content-Length.
                    return self.begin_close(slot);
                }
            }
        }
        self.after_output(slot);
    }

    /// Output went idle: serve requests held back, and if nothing is owed
    /// any more, start the keep-alive timeout.
    fn after_output(&mut self, slot: u32) {
        let now = self.now;
        let keepalive = self.config.timeouts.keepalive();
        let conn = &mut self.conns[slot as usize];
        self.ex.owner = (slot, conn.generation);
        self.ex.resume(conn, now);
        if conn.is_idle() && conn.http.waiting == crate::conn::Waiting::Idle {
            conn.read_deadline = Deadline::at(Clock::deadline(now, keepalive));
        }
        self.settle(slot);
        self.want_reading(slot);
    }

    /// After the exchange or the output moved: queue the connection if it has
    /// something to send or to close, else give its buffers back (and close
    /// it if the worker is draining).
    pub(super) fn settle(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        if matches!(conn.phase, Phase::Closing { .. }) {
            return;
        }
        let http = &conn.http;
        let to_flush = !http.out.is_empty()
            || http.outgoing.is_some()
            || super::tls::wants_flush(conn)
            || conn.phase == Phase::CloseAfterFlush
            || matches!(&http.pending, Some(Pending::OpenFiles(job)) if job.ready());
        if to_flush {
            return self.queue(slot);
        }
        if conn.is_idle() {
            conn.http.release_buffers(&mut self.ex.pool);
            if conn.is_open() && conn.http.waiting == crate::conn::Waiting::Idle {
                // At the cap, it may make way for a waiting client.
                self.accept.went_idle();
                if self.draining {
                    // An answer sent before the drain began, without
                    // `Connection: close`: the client may be sending its
                    // next request now. It has the drain's idle grace to do
                    // so (see `start_drain`).
                    self.close_when_quiet(slot);
                }
            }
        }
    }

    /// Keeps an empty pipe for the next file; one with bytes left in it (a
    /// connection that failed mid-splice) is closed instead.
    pub(super) fn recycle_pipe(&mut self, outgoing: Option<Box<crate::conn::Outgoing>>) {
        if let Some(mut out) = outgoing {
            if let Some(pipe) = out.pipe.take() {
                if out.in_pipe == 0 && self.pipes.len() < 64 {
                    self.pipes.push(pipe);
                }
            }
        }
    }
}

/// The unsent bytes of the memory parts at the front of `out` (up to the
/// first file part), to gather into one send after the write buffer.
fn memory_parts(out: &crate::conn::Outgoing) -> impl Iterator<Item = bytes::Bytes> + '_ {
    out.parts
        .iter()
        .map_while(|part| match part {
            Part::Bytes(bytes) => Some(bytes),
            Part::File(_) => None,
        })
        .enumerate()
        .map(|(i, bytes)| match i {
            0 => bytes.slice(out.done as usize..),
            _ => bytes.clone(),
        })
}

/// The `user_data` of a send on `conn` (in `slot`).
fn send_token(slot: u32, conn: &crate::conn::Conn) -> u64 {
    Token::conn(Op::Send, slot, conn.generation).encode()
}
