//! The per-core event loop: one thread, one ring, one listener, its
//! connections. Each turn: flush (one send per dirty connection, re-arm
//! recvs, publish recycled buffers), one `io_uring_enter` that submits and
//! waits, then handle every completion; once a second, the tick (Date, timeouts).

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use io_uring::{opcode, squeue, types};
use slab::Slab;
use tracing::{debug, warn};

use crate::config::Config;
use crate::conn::{Conn, Waiting};
use crate::driver::buf_ring::BufRing;
use crate::driver::token::{Op, Token, GENERATION_MASK};
use crate::driver::{Completion, Ring};
use crate::error::{Error, Result};
use crate::http::encode;
use crate::runtime::exchange::{Exchange, OUT_HIGH_WATER};

mod output;
mod prefetch;

/// The provided buffer group every recv of this core draws from.
const BUF_GROUP: u16 = 0;
/// If the drain has not finished this long after its deadline, stop anyway.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// Everything a worker is handed by the main thread.
pub struct WorkerSetup {
    pub index: usize,
    pub listener: OwnedFd,
    pub wake: OwnedFd,
    pub config: Arc<Config>,
}

/// A core's event loop state. Field order matters for drop: the ring goes
/// before the buffer ring whose memory it names.
pub struct Worker {
    ring: Ring,
    bufs: BufRing,
    conns: Slab<Conn>,
    ex: Exchange,
    config: Arc<Config>,
    listener: Option<OwnedFd>,
    accept_armed: bool,
    /// Accept stopped because the descriptor table was full; re-arm on a close.
    accept_starved: bool,
    wake: OwnedFd,
    /// The eventfd read lands here: owned by the kernel while the read is armed.
    wake_buf: Box<u64>,
    /// Pipes for splicing files, reused.
    pipes: Vec<crate::conn::Pipe>,
    next_generation: u32,
    dirty: Vec<u32>,
    rearm: Vec<u32>,
    completions: Vec<Completion>,
    started: Instant,
    now: u32,
    draining: bool,
    drain_deadline: Option<Instant>,
}

impl Worker {
    /// Sets up the ring, its registrations and the first ops; returns the
    /// worker and its ring's feature line.
    pub fn new(setup: WorkerSetup, ex: Exchange) -> Result<(Worker, String)> {
        let cfg = setup.config;
        let sqpoll = cfg.ring.sqpoll.then_some(cfg.ring.sqpoll_idle_ms);
        let ring = Ring::new(cfg.ring.entries, sqpoll)?;
        let max_conns = cfg.server.max_connections as u32;
        ring.submitter()
            .register_files_sparse(max_conns)
            .map_err(|e| Error::Ring(crate::driver::SetupError::from_io(e)))?;
        let bufs = BufRing::new(
            &ring.submitter(),
            BUF_GROUP,
            cfg.ring.buffers as u16,
            cfg.ring.buffer_size,
        )
        .map_err(|e| Error::Ring(crate::driver::SetupError::from_io(e)))?;
        let features = ring.features().to_string();
        let mut worker = Worker {
            ring,
            bufs,
            conns: Slab::with_capacity(1024.min(max_conns as usize)),
            ex,
            config: cfg,
            listener: Some(setup.listener),
            accept_armed: false,
            accept_starved: false,
            wake: setup.wake,
            wake_buf: Box::new(0),
            pipes: Vec::new(),
            next_generation: 1,
            dirty: Vec::new(),
            rearm: Vec::new(),
            completions: Vec::with_capacity(1024),
            started: Instant::now(),
            now: 0,
            draining: false,
            drain_deadline: None,
        };
        worker.ex.date.refresh(SystemTime::now());
        worker.arm_accept();
        worker.arm_wake();
        Ok((worker, features))
    }

    /// Runs until drained.
    pub fn run(mut self) -> Result<()> {
        loop {
            self.flush();
            if self.finished() {
                return Ok(());
            }
            let wait = Duration::from_millis(
                1000 - (self.started.elapsed().subsec_millis() as u64).min(999),
            );
            self.ring
                .submit_and_wait(wait)
                .map_err(|e| Error::Io(format!("io_uring_enter on core {}", self.ex.core), e))?;
            let mut completions = std::mem::take(&mut self.completions);
            self.ring.reap(&mut completions);
            for c in &completions {
                self.on_completion(*c);
            }
            self.completions = completions;
            self.tick();
        }
    }

    fn finished(&mut self) -> bool {
        if !self.draining {
            return false;
        }
        if self.conns.is_empty() && !self.accept_armed {
            return true;
        }
        match self.drain_deadline {
            Some(deadline) if Instant::now() >= deadline + DRAIN_GRACE => {
                warn!(
                    core = self.ex.core,
                    open = self.conns.len(),
                    "drain grace period over; exiting"
                );
                true
            }
            _ => false,
        }
    }

    // ---- submissions -------------------------------------------------------

    fn push(&mut self, entry: squeue::Entry) {
        // SAFETY: every entry built in this file names either memory owned by
        // a Conn in `self.conns` (which is only removed after its last op's
        // CQE, see `on_close`), `self.wake_buf` (boxed, lives as long as the
        // worker), or fds owned by the worker; none is freed before its CQE.
        unsafe { self.ring.push(entry) }
    }

    fn arm_accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        let entry = opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd()))
            .allocate_file_index(true)
            .build()
            .user_data(Token::worker(Op::Accept).encode());
        self.push(entry);
        self.accept_armed = true;
    }

    fn arm_wake(&mut self) {
        let ptr = (&mut *self.wake_buf as *mut u64).cast::<u8>();
        let entry = opcode::Read::new(types::Fd(self.wake.as_raw_fd()), ptr, 8)
            .build()
            .user_data(Token::worker(Op::Wake).encode());
        self.push(entry);
    }

    fn arm_recv(&mut self, slot: u32) {
        let group = self.bufs.group();
        let Some(conn) = self.conns.get_mut(slot as usize) else {
            return;
        };
        if conn.recv_armed || conn.closing || conn.read_paused {
            return;
        }
        conn.recv_armed = true;
        conn.inflight += 1;
        let entry = opcode::RecvMulti::new(types::Fixed(conn.fd), group)
            .build()
            .user_data(Token::conn(Op::Recv, slot, conn.generation).encode());
        self.push(entry);
    }

    fn cancel(&mut self, target: Token) {
        let entry = opcode::AsyncCancel::new(target.encode())
            .build()
            .user_data(Token::worker(Op::Cancel).encode());
        self.push(entry);
    }

    fn mark_dirty(&mut self, slot: u32) {
        if let Some(conn) = self.conns.get_mut(slot as usize) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(slot);
            }
        }
    }

    /// Once per loop turn: start sends, re-arm recvs, give buffers back.
    fn flush(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for slot in dirty.drain(..) {
            self.flush_conn(slot);
        }
        self.dirty = dirty;
        let mut rearm = std::mem::take(&mut self.rearm);
        for slot in rearm.drain(..) {
            self.arm_recv(slot);
        }
        self.rearm = rearm;
        self.bufs.publish();
        if !self.accept_armed && !self.accept_starved && !self.draining {
            self.arm_accept();
        }
    }

    fn flush_conn(&mut self, slot: u32) {
        let Some(conn) = self.conns.get_mut(slot as usize) else {
            return;
        };
        conn.dirty = false;
        if conn.closing {
            return;
        }
        if conn.prefetch.is_some() && !conn.prefetch_active {
            self.submit_prefetch(slot);
        }
        let conn = &mut self.conns[slot as usize];
        if conn.send_active {
            return;
        }
        if !conn.out.is_empty() {
            std::mem::swap(&mut conn.out, &mut conn.sending);
            conn.send_off = 0;
            self.submit_send(slot);
        } else if conn.outgoing.is_some() {
            self.start_part(slot);
        } else if conn.close_after_flush && conn.prefetch.is_none() {
            self.finish_close(slot);
        }
    }

    fn submit_send(&mut self, slot: u32) {
        let send_secs = self.config.timeouts.send_secs as u32;
        let now = self.now;
        let conn = &mut self.conns[slot as usize];
        let pending = &conn.sending[conn.send_off..];
        // The kernel reads `conn.sending` until the CQE; nothing touches that
        // Vec meanwhile (new output goes to `conn.out`, see the trap in DESIGN.md).
        let entry = opcode::Send::new(
            types::Fixed(conn.fd),
            pending.as_ptr(),
            pending.len().min(u32::MAX as usize) as u32,
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(Token::conn(Op::Send, slot, conn.generation).encode());
        conn.send_active = true;
        conn.inflight += 1;
        conn.deadline = now + send_secs;
        self.push(entry);
    }

    // ---- completions -------------------------------------------------------

    fn on_completion(&mut self, c: Completion) {
        let Some(token) = Token::decode(c.user_data) else {
            return;
        };
        match token.op {
            Op::Accept => self.on_accept(c),
            Op::Wake => self.on_wake(c),
            Op::Cancel => {}
            _ => {
                let live = self
                    .conns
                    .get(token.slot as usize)
                    .is_some_and(|conn| conn.generation == token.generation);
                if !live {
                    // A CQE for a connection that is gone: return its buffer.
                    if let Some(bid) = c.buffer_id() {
                        self.bufs.recycle(bid);
                    }
                    return;
                }
                match token.op {
                    Op::Recv => self.on_recv(token.slot, c),
                    Op::Send => self.on_send(token.slot, c),
                    Op::SendPart => self.on_send_part(token.slot, c),
                    Op::SpliceIn => self.on_splice_in(token.slot, c),
                    Op::SpliceOut => self.on_splice_out(token.slot, c),
                    Op::Prefetch => self.on_prefetch(token.slot, c),
                    Op::Shutdown => {
                        self.conns[token.slot as usize].inflight -= 1;
                        self.op_done(token.slot);
                    }
                    _ => self.on_close(token.slot),
                }
            }
        }
    }

    fn on_accept(&mut self, c: Completion) {
        if !c.more() {
            self.accept_armed = false;
        }
        if c.result < 0 {
            match -c.result {
                libc::ECANCELED => {}
                libc::ENFILE | libc::EMFILE => {
                    warn!(
                        core = self.ex.core,
                        "connection table full ({} per worker): new connections wait",
                        self.config.server.max_connections
                    );
                    self.accept_starved = true;
                }
                e => debug!(
                    core = self.ex.core,
                    "accept failed: {}",
                    std::io::Error::from_raw_os_error(e)
                ),
            }
            if !self.accept_armed && self.draining {
                self.listener = None;
            }
            return;
        }
        let fd = c.result as u32;
        let generation = self.next_generation;
        self.next_generation = (self.next_generation + 1) & GENERATION_MASK;
        let deadline = self.now + self.config.timeouts.header_secs as u32;
        let slot = self.conns.insert(Conn::new(fd, generation, deadline)) as u32;
        if self.draining {
            self.begin_close(slot);
        } else {
            self.arm_recv(slot);
        }
    }

    fn on_wake(&mut self, c: Completion) {
        if c.result < 0 && -c.result == libc::ECANCELED {
            return;
        }
        if !self.draining {
            self.start_drain();
        }
    }

    fn on_recv(&mut self, slot: u32, c: Completion) {
        let conn = &mut self.conns[slot as usize];
        if !c.more() {
            conn.recv_armed = false;
            conn.inflight -= 1;
        }
        if c.result < 0 {
            match -c.result {
                // ENOBUFS: the buffer ring ran dry (load, not an error).
                // ECANCELED: a pause for backpressure, which may already be
                // over: arm_recv re-checks closing and read_paused.
                libc::ENOBUFS | libc::ECANCELED => {
                    if !c.more() {
                        self.rearm.push(slot);
                    }
                }
                e => return self.conn_failed(slot, "recv", e),
            }
            self.op_done(slot);
            return;
        }
        if c.result == 0 {
            conn.peer_eof = true;
            if conn.lingering || conn.is_idle() || conn.close_after_flush {
                self.begin_close(slot);
            } else if conn.prefetch.is_none()
                && conn.outgoing.is_none()
                && conn.out.len() < OUT_HIGH_WATER
            {
                // Nothing held back: what is left in inbuf is a request that
                // can no longer complete. Answer what has arrived, then close.
                conn.inbuf.clear();
                self.ex.drop_chunked(conn);
                conn.close_after_flush = true;
                self.mark_dirty(slot);
            }
            // Else requests are still held (backpressure, a file being
            // opened): output_progress closes once they are answered.
            self.op_done(slot);
            return;
        }
        let Some(bid) = c.buffer_id() else {
            self.op_done(slot);
            return;
        };
        if !(conn.lingering || conn.closing || conn.close_after_flush) {
            let data = self.bufs.filled(bid, c.result as usize);
            receive(&mut self.ex, conn, data, self.now, &self.config);
            if !conn.out.is_empty() || conn.close_after_flush || conn.prefetch.is_some() {
                self.mark_dirty(slot);
            }
            let conn = &mut self.conns[slot as usize];
            if conn.inbuf.len() > OUT_HIGH_WATER && conn.recv_armed && !conn.read_paused {
                // Backpressure: the peer sends faster than it reads.
                conn.read_paused = true;
                let t = Token::conn(Op::Recv, slot, conn.generation);
                self.cancel(t);
            }
        }
        self.bufs.recycle(bid);
        let conn = &self.conns[slot as usize];
        if !c.more() && !conn.closing && !conn.read_paused {
            self.rearm.push(slot);
        }
    }

    /// An op of the connection failed (peer gone, reset): log at debug, end
    /// the connection.
    pub(super) fn conn_failed(&mut self, slot: u32, what: &str, errno: i32) {
        debug!(
            core = self.ex.core,
            "{what} failed: {}",
            std::io::Error::from_raw_os_error(errno)
        );
        self.begin_close(slot);
        self.op_done(slot);
    }

    fn on_send(&mut self, slot: u32, c: Completion) {
        let conn = &mut self.conns[slot as usize];
        conn.send_active = false;
        conn.inflight -= 1;
        if c.result < 0 {
            self.conn_failed(slot, "send", -c.result);
            return;
        }
        conn.send_off += c.result as usize;
        if conn.send_off < conn.sending.len() && !conn.closing {
            self.submit_send(slot); // partial write: send the rest
            return;
        }
        conn.sending.clear();
        conn.send_off = 0;
        if conn.closing {
            self.op_done(slot);
            return;
        }
        self.output_progress(slot);
    }

    /// An output op finished and nothing of it is left to resend: start the
    /// next thing to send, or serve requests held back, or go idle.
    fn output_progress(&mut self, slot: u32) {
        let now = self.now;
        let keepalive = self.config.timeouts.keepalive_secs as u32;
        let conn = &mut self.conns[slot as usize];
        if conn.outgoing.is_some() {
            self.mark_dirty(slot);
            return;
        }
        // Requests held back by backpressure are served now.
        if !conn.inbuf.is_empty() && !conn.close_after_flush {
            let input = std::mem::take(&mut conn.inbuf);
            let served = self.ex.serve(conn, &input);
            conn.inbuf = input;
            conn.inbuf.drain(..served.consumed);
        }
        if conn.peer_eof && conn.prefetch.is_none() && conn.outgoing.is_none() {
            conn.close_after_flush = true; // nothing more can arrive
        }
        if conn.read_paused && conn.inbuf.len() <= OUT_HIGH_WATER {
            conn.read_paused = false;
            self.rearm.push(slot);
        }
        let conn = &mut self.conns[slot as usize];
        if !conn.out.is_empty() || conn.close_after_flush || conn.prefetch.is_some() {
            self.mark_dirty(slot);
        } else if conn.is_idle() {
            conn.release_buffers(&mut self.ex.pool);
            conn.waiting = Waiting::Idle;
            conn.deadline = now + keepalive;
            if self.draining {
                self.begin_close(slot);
            }
        }
    }

    fn on_close(&mut self, slot: u32) {
        let mut conn = self.conns.remove(slot as usize);
        self.ex.drop_chunked(&mut conn);
        self.recycle_pipe(conn.outgoing.take());
        conn.inbuf.clear();
        conn.out.clear();
        conn.sending.clear();
        conn.release_buffers(&mut self.ex.pool);
        if self.accept_starved {
            self.accept_starved = false;
        }
    }

    /// An op of `slot` finished: if the connection is closing and this was its
    /// last op, the close goes out now.
    fn op_done(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        if conn.closing && conn.inflight == 0 && !conn.close_submitted {
            conn.close_submitted = true;
            conn.inflight = 1;
            let entry = opcode::Close::new(types::Fixed(conn.fd))
                .build()
                .user_data(Token::conn(Op::Close, slot, conn.generation).encode());
            self.push(entry);
        }
    }

    // ---- closing -----------------------------------------------------------

    /// Everything is sent and the connection should end: shut down the write
    /// side and linger (discarding input) so a peer still sending does not get
    /// a reset that destroys the response it has not read yet.
    fn finish_close(&mut self, slot: u32) {
        let linger = self.config.timeouts.linger_secs as u32;
        let now = self.now;
        let conn = &mut self.conns[slot as usize];
        if conn.peer_eof || conn.lingering {
            self.begin_close(slot);
            return;
        }
        conn.lingering = true;
        conn.read_paused = false;
        conn.deadline = now + linger;
        conn.inflight += 1;
        let entry = opcode::Shutdown::new(types::Fixed(conn.fd), libc::SHUT_WR)
            .build()
            .user_data(Token::conn(Op::Shutdown, slot, conn.generation).encode());
        self.push(entry);
        self.rearm.push(slot);
    }

    /// Cancels the connection's ops; the close follows the last CQE.
    fn begin_close(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        if conn.closing {
            return;
        }
        conn.closing = true;
        let generation = conn.generation;
        let (recv, send, prefetch) = (conn.recv_armed, conn.send_active, conn.prefetch_active);
        if prefetch {
            self.cancel(Token::conn(Op::Prefetch, slot, generation));
        }
        if recv {
            self.cancel(Token::conn(Op::Recv, slot, generation));
        }
        if send {
            for op in [Op::Send, Op::SendPart, Op::SpliceIn, Op::SpliceOut] {
                self.cancel(Token::conn(op, slot, generation));
            }
        }
        self.op_done(slot);
    }

    // ---- shutdown and timers -----------------------------------------------

    fn start_drain(&mut self) {
        self.draining = true;
        self.ex.draining = true;
        self.drain_deadline =
            Some(Instant::now() + Duration::from_secs(self.config.timeouts.drain_secs));
        if self.accept_armed {
            self.cancel(Token::worker(Op::Accept));
        } else {
            self.listener = None;
        }
        let idle: Vec<u32> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.closing)
            .filter_map(|(slot, c)| {
                (c.is_idle() && c.waiting == Waiting::Idle).then_some(slot as u32)
            })
            .collect();
        for slot in idle {
            self.begin_close(slot);
        }
        debug!(core = self.ex.core, open = self.conns.len(), "draining");
    }

    /// Once a second (checked every turn): refresh Date, fire timeouts.
    fn tick(&mut self) {
        let now = self.started.elapsed().as_secs() as u32;
        self.ex.date.refresh(SystemTime::now());
        if now == self.now && !self.draining {
            return;
        }
        self.now = now;
        let past_drain = self.drain_deadline.is_some_and(|d| Instant::now() >= d);
        let expired: Vec<u32> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.closing && (past_drain || c.deadline <= now))
            .map(|(slot, _)| slot as u32)
            .collect();
        for slot in expired {
            self.on_timeout(slot, past_drain);
        }
    }

    fn on_timeout(&mut self, slot: u32, forced: bool) {
        let conn = &mut self.conns[slot as usize];
        let partial = !conn.inbuf.is_empty() || conn.chunked.is_some();
        debug!(
            core = self.ex.core,
            forced,
            lingering = conn.lingering,
            sending = conn.send_active,
            partial,
            waiting = ?conn.waiting,
            deadline = conn.deadline,
            now = self.now,
            "connection timed out"
        );
        if forced || conn.lingering || conn.send_active || !partial || conn.close_after_flush {
            self.begin_close(slot);
            return;
        }
        // A request started but not finished in time: 408, then close.
        self.ex.drop_chunked(conn);
        conn.inbuf.clear();
        self.ex.pool.ensure(&mut conn.out);
        encode::write_error(
            &mut conn.out,
            ::http::StatusCode::REQUEST_TIMEOUT,
            self.ex.date.get(),
            &self.ex.server_header,
        );
        conn.close_after_flush = true;
        self.mark_dirty(slot);
    }
}

/// Bytes arrived on `conn`: serve what is complete, keep the rest, and set
/// the timeout that now applies.
fn receive(ex: &mut Exchange, conn: &mut Conn, data: &[u8], now: u32, config: &Config) {
    if conn.inbuf.is_empty() {
        // The common case: parse straight from the provided buffer.
        let served = ex.serve(conn, data);
        if served.consumed < data.len() && !conn.close_after_flush {
            ex.pool.ensure(&mut conn.inbuf);
            conn.inbuf.extend_from_slice(&data[served.consumed..]);
        }
    } else {
        // A request split across reads: the one copy, into the connection.
        conn.inbuf.extend_from_slice(data);
        let input = std::mem::take(&mut conn.inbuf);
        let served = ex.serve(conn, &input);
        conn.inbuf = input;
        if conn.close_after_flush {
            conn.inbuf.clear();
        } else {
            conn.inbuf.drain(..served.consumed);
        }
    }
    let t = &config.timeouts;
    if conn.inbuf.is_empty() && conn.chunked.is_none() {
        if conn.inbuf.capacity() > 0 {
            ex.pool.put(std::mem::take(&mut conn.inbuf));
        }
        conn.waiting = Waiting::Idle;
        if !conn.send_active {
            conn.deadline = now + t.keepalive_secs as u32;
        }
    } else if conn.chunked.is_some() || head_complete(&conn.inbuf) {
        conn.waiting = Waiting::Body;
        conn.deadline = now + t.body_secs as u32;
    } else if conn.waiting == Waiting::Idle {
        // Header timeout counts from the first byte and is not extended.
        conn.waiting = Waiting::Head;
        conn.deadline = now + t.header_secs as u32;
    }
}

/// Whether a full head (CRLFCRLF or LFLF) is buffered.
fn head_complete(buf: &[u8]) -> bool {
    memchr::memmem::find(buf, b"\r\n\r\n").is_some() || memchr::memmem::find(buf, b"\n\n").is_some()
}
