//! Sending the body parts that skip the write buffer: memory sent in place
//! (`SendPart`) and file ranges spliced file -> pipe -> socket as a linked
//! pair of SQEs (`SpliceIn` then `SpliceOut`).
//!
//! A short `SpliceIn` severs the link: the kernel cancels the `SpliceOut`,
//! and what did reach the pipe is spliced out on its own. A `SpliceIn` that
//! moves nothing means the file shrank after its length was promised: the
//! connection is closed rather than sending fewer bytes than announced.

use std::os::fd::AsRawFd;

use io_uring::{opcode, squeue, types};
use tracing::debug;

use super::Worker;
use crate::conn::{Outgoing, Pipe};
use crate::driver::token::{Op, Token};
use crate::driver::Completion;
use crate::handler::Part;

impl Worker {
    /// Starts sending the front part of the connection's outgoing queue (or
    /// the next chunk of it).
    pub(super) fn start_part(&mut self, slot: u32) {
        let send_secs = self.config.timeouts.send_secs as u32;
        let now = self.now;
        let conn = &mut self.conns[slot as usize];
        let Some(out) = conn.outgoing.as_mut() else {
            return;
        };
        let Some(part) = out.parts.front() else {
            conn.outgoing = None;
            return;
        };
        let fd = conn.fd;
        let generation = conn.generation;
        conn.send_active = true;
        conn.deadline = now + send_secs;
        match part {
            Part::Bytes(bytes) => {
                let pending = &bytes[out.done as usize..];
                // The kernel reads the part's memory until the CQE; the part
                // stays at the front of the queue (owned by the Conn) until then.
                let entry = opcode::Send::new(
                    types::Fixed(fd),
                    pending.as_ptr(),
                    pending.len().min(u32::MAX as usize) as u32,
                )
                .flags(libc::MSG_NOSIGNAL)
                .build()
                .user_data(Token::conn(Op::SendPart, slot, generation).encode());
                conn.inflight += 1;
                self.push(entry);
            }
            Part::File(file) => {
                if out.pipe.is_none() {
                    match self.pipes.pop().map(Ok).unwrap_or_else(Pipe::new) {
                        Ok(pipe) => out.pipe = Some(pipe),
                        Err(e) => {
                            debug!(core = self.ex.core, "cannot create a pipe for splice: {e}");
                            conn.send_active = false;
                            self.begin_close(slot);
                            return;
                        }
                    }
                }
                let pipe = out.pipe.as_ref().expect("set above");
                let out_token = Token::conn(Op::SpliceOut, slot, generation).encode();
                if out.in_pipe > 0 {
                    // Bytes left in the pipe by a short round go out first.
                    let entry = splice_out(pipe, fd, out.in_pipe).user_data(out_token);
                    conn.inflight += 1;
                    self.push(entry);
                    return;
                }
                let chunk = (file.len - out.done).min(pipe.capacity as u64) as u32;
                out.asked = chunk;
                // The file and pipe descriptors are owned by the part and the
                // Outgoing, which live in the Conn until both CQEs are back.
                let splice_in = opcode::Splice::new(
                    types::Fd(file.fd.as_raw_fd()),
                    (file.offset + out.done) as i64,
                    types::Fd(pipe.write.as_raw_fd()),
                    -1,
                    chunk,
                )
                .build()
                .flags(squeue::Flags::IO_LINK)
                .user_data(Token::conn(Op::SpliceIn, slot, generation).encode());
                let splice_out = splice_out(pipe, fd, chunk).user_data(out_token);
                conn.inflight += 2;
                self.push(splice_in);
                self.push(splice_out);
            }
        }
    }

    pub(super) fn on_send_part(&mut self, slot: u32, c: Completion) {
        let conn = &mut self.conns[slot as usize];
        conn.inflight -= 1;
        conn.send_active = false;
        if c.result < 0 {
            self.conn_failed(slot, "send", -c.result);
            return;
        }
        if conn.closing {
            self.op_done(slot);
            return;
        }
        let out = conn.outgoing.as_mut().expect("a part was being sent");
        out.done += c.result as u64;
        self.part_progress(slot);
    }

    pub(super) fn on_splice_in(&mut self, slot: u32, c: Completion) {
        let conn = &mut self.conns[slot as usize];
        conn.inflight -= 1;
        let out = conn
            .outgoing
            .as_mut()
            .expect("a file part was being spliced");
        match c.result {
            n if n > 0 => out.in_pipe += n as u32,
            0 => {
                // EOF before the promised length: the file shrank.
                debug!(
                    core = self.ex.core,
                    "file truncated while being sent; closing the connection"
                );
                self.begin_close(slot);
            }
            e => {
                debug!(
                    core = self.ex.core,
                    "splice from file failed: {}",
                    std::io::Error::from_raw_os_error(-e)
                );
                self.begin_close(slot);
            }
        }
        self.op_done(slot);
    }

    pub(super) fn on_splice_out(&mut self, slot: u32, c: Completion) {
        let conn = &mut self.conns[slot as usize];
        conn.inflight -= 1;
        conn.send_active = false;
        if conn.closing {
            self.op_done(slot);
            return;
        }
        let out = conn
            .outgoing
            .as_mut()
            .expect("a file part was being spliced");
        match c.result {
            // Cancelled by a short SpliceIn: send what reached the pipe.
            n if n == -libc::ECANCELED => {}
            n if n < 0 => {
                self.conn_failed(slot, "splice to socket", -n);
                return;
            }
            n => {
                let n = (n as u32).min(out.in_pipe);
                out.in_pipe -= n;
                out.done += n as u64;
            }
        }
        self.part_progress(slot);
    }

    /// After some of the front part went out: continue it, move to the next
    /// part, or hand back to the write path when all parts are sent.
    fn part_progress(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        let out = conn.outgoing.as_mut().expect("parts in progress");
        if out.remaining() == 0 && out.in_pipe == 0 {
            out.parts.pop_front();
            out.done = 0;
            if out.parts.is_empty() {
                let finished = conn.outgoing.take();
                self.recycle_pipe(finished);
            }
        }
        self.output_progress(slot);
    }

    /// Keeps an empty pipe for the next file; one with bytes left in it (a
    /// connection that failed mid-splice) is closed instead.
    pub(super) fn recycle_pipe(&mut self, outgoing: Option<Box<Outgoing>>) {
        if let Some(mut out) = outgoing {
            if let Some(pipe) = out.pipe.take() {
                if out.in_pipe == 0 && self.pipes.len() < 64 {
                    self.pipes.push(pipe);
                }
            }
        }
    }
}

fn splice_out(pipe: &Pipe, socket: u32, len: u32) -> squeue::Entry {
    opcode::Splice::new(
        types::Fd(pipe.read.as_raw_fd()),
        -1,
        types::Fixed(socket),
        -1,
        len,
    )
    .build()
}
