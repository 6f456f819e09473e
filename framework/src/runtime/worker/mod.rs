//! The per-core event loop: one thread, one ring, one listener, its
//! connections. Each turn: flush (one send per connection with output, re-arm
//! recvs, publish recycled buffers), one `io_uring_enter` that submits and
//! waits (never past the earliest timer), then handle every completion and
//! fire the timers that are due.
//!
//! The connection's ring side lives in `receive.rs` (recv, backpressure),
//! `output.rs` (sends, body parts, splices), `files.rs` (file opens for a
//! pending answer) and `close.rs` (linger, cancel, close); the bytes in
//! between are the exchange's ([`super::exchange`]).

mod accept;
mod close;
mod drain;
mod files;
mod output;
mod receive;
pub(crate) mod tls;

use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use io_uring::squeue;
use slab::Slab;
use tracing::{debug, warn};

use crate::config::Config;
use crate::conn::{Conn, Phase, Waiting, NEVER};
use crate::driver::buf_ring::BufRing;
use crate::driver::op::{Cancel, EventfdRead, Pipe};
use crate::driver::token::{Op, Token};
use crate::driver::{Completion, Ring};
use crate::error::{Error, Result};
use crate::handler::{BodyError, Pending};
use crate::runtime::exchange::Exchange;
use crate::runtime::executor::{Answer, Core};
use crate::runtime::timer::{Millis, SWEEP, TASK_TIMER};

/// The provided buffer group every recv of this core draws from.
const BUF_GROUP: u16 = 0;
/// If the drain has not finished this long after its deadline, stop anyway.
const DRAIN_GRACE: Duration = Duration::from_secs(1);
/// The longest the loop sleeps without a timer due (drain checks, Date).
const MAX_WAIT: Duration = Duration::from_secs(1);

/// Everything a worker is handed by the main thread.
pub(crate) struct WorkerSetup {
    pub(crate) index: usize,
    pub(crate) listener: OwnedFd,
    pub(crate) wake: OwnedFd,
    pub(crate) config: Arc<Config>,
    /// `[tls]`: the listener speaks TLS with these certificates.
    pub(crate) certs: Option<Arc<crate::tls::Certificates>>,
}

/// The eventfd other threads write to wake tasks of this core (a dup of
/// the one its [`Core`] holds), read by the worker's ring.
pub(crate) fn remote_eventfd() -> std::io::Result<(OwnedFd, OwnedFd)> {
    // SAFETY: plain syscall; on success we take ownership of the new fd.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor owned by nobody else.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let dup = fd.try_clone()?;
    Ok((fd, dup))
}

/// A core's event loop state. Field order matters for drop: the ring goes
/// before the buffer ring, the listener and the ops whose memory it names.
pub(crate) struct Worker {
    ring: Ring,
    bufs: BufRing,
    conns: Slab<Conn>,
    /// Connections this core holds at most: `server.max_connections`, or
    /// fewer if RLIMIT_NOFILE limits the descriptor table.
    conn_cap: usize,
    ex: Exchange,
    config: Arc<Config>,
    accept: accept::Acceptor,
    /// The shutdown notice's read; in flight for the worker's whole life.
    wake: EventfdRead,
    /// The read of the eventfd other threads wake tasks through; re-armed
    /// after each completion.
    remote: EventfdRead,
    /// The core's executor, timers and clock (shared with the code running
    /// on the core through a thread-local).
    core: Rc<Core>,
    /// Scratch for the wakes other threads left.
    remote_wakes: Vec<u64>,
    /// Scratch for the answers of handler tasks.
    answers: Vec<Answer>,
    /// Scratch for the entries of task ops.
    task_sqes: Vec<squeue::Entry>,
    /// Scratch for the connections whose streaming body has bytes ready.
    streams_ready: Vec<(u32, u32)>,
    /// Pipes for splicing files, reused.
    pipes: Vec<Pipe>,
    next_generation: u32,
    /// Connections with something to send (or to close) this turn.
    flush_list: Vec<u32>,
    /// The list being flushed (see `flush`).
    flushing: Vec<u32>,
    /// Connections whose recv is to be armed again this turn.
    rearm: Vec<u32>,
    completions: Vec<Completion>,
    /// The clock at the start of this turn's completions.
    now: Millis,
    /// When the connections' deadlines were last offered to the heap.
    last_sweep: Millis,
    draining: bool,
    drain_deadline: Option<Instant>,
    /// The listener speaks TLS: the certificates new connections get.
    certs: Option<crate::tls::CoreCertificates>,
    /// Scratch for the plaintext a TLS record held.
    tls_plain: Vec<u8>,
    /// The failpoint `PERCORE_FAILPOINT=panic-on-accept:N`: the core panics
    /// (outside any handler) on its Nth accepted connection. For testing
    /// the fault path and supervisors (RELIABILITY.md); read once at start.
    panic_on_accept: Option<u64>,
}

/// `PERCORE_FAILPOINT=panic-on-accept:N`, if set.
fn panic_on_accept_failpoint() -> Option<u64> {
    let v = std::env::var("PERCORE_FAILPOINT").ok()?;
    v.strip_prefix("panic-on-accept:")?.parse().ok()
}

impl Worker {
    /// Sets up the ring, its registrations and the first ops; returns the
    /// worker and its ring's feature line.
    pub(crate) fn new(
        setup: WorkerSetup,
        ex: Exchange,
        core: Rc<Core>,
        remote_fd: OwnedFd,
    ) -> Result<(Worker, String)> {
        let cfg = setup.config;
        let sqpoll = cfg.ring.sqpoll.then_some(cfg.ring.sqpoll_idle_ms);
        let ring = Ring::new(cfg.ring.entries, sqpoll)?;
        // One direct descriptor per connection. The kernel refuses a table
        // over RLIMIT_NOFILE: the cap is then the table (an accept into a
        // full table would take the connection off the queue and drop it).
        let max_conns = cfg.server.max_connections as u32;
        // (The kernel refuses a table larger than the soft RLIMIT_NOFILE.)
        let nofile = crate::runtime::open_file_limit().min(u32::MAX as u64) as u32;
        let table = max_conns.min(nofile).max(1);
        if table < max_conns {
            warn!(
                core = setup.index,
                "server.max_connections = {max_conns}, but RLIMIT_NOFILE allows {table} per worker: capped"
            );
        }
        ring.submitter()
            .register_files_sparse(table)
            .map_err(|e| Error::Ring(crate::driver::SetupError::from_io(e)))?;
        let bufs = BufRing::new(
            &ring.submitter(),
            BUF_GROUP,
            cfg.ring.buffers as u16,
            cfg.ring.buffer_size,
        )
        .map_err(|e| Error::Ring(crate::driver::SetupError::from_io(e)))?;
        let mut features = ring.features().to_string();
        if bufs.incremental() {
            features.push_str(" buf-ring-inc");
        }
        let mut worker = Worker {
            ring,
            bufs,
            conns: Slab::with_capacity(1024.min(table as usize)),
            conn_cap: table as usize,
            ex,
            config: cfg,
            accept: accept::Acceptor::new(setup.listener),
            wake: EventfdRead::new(setup.wake),
            remote: EventfdRead::new(remote_fd),
            core,
            remote_wakes: Vec::new(),
            answers: Vec::new(),
            task_sqes: Vec::new(),
            streams_ready: Vec::new(),
            pipes: Vec::new(),
            next_generation: 1,
            flush_list: Vec::new(),
            flushing: Vec::new(),
            rearm: Vec::new(),
            completions: Vec::with_capacity(1024),
            now: 0,
            last_sweep: 0,
            draining: false,
            drain_deadline: None,
            certs: setup.certs.map(crate::tls::CoreCertificates::new),
            tls_plain: Vec::new(),
            panic_on_accept: panic_on_accept_failpoint(),
        };
        worker.ex.date.refresh(SystemTime::now());
        let entry = worker.wake.entry(Token::worker(Op::Wake).encode());
        worker.push(entry);
        let entry = worker.remote.entry(Token::worker(Op::Remote).encode());
        worker.push(entry);
        Ok((worker, features))
    }

    /// Runs until drained (see [`Self::run_to_end`]). A panic outside any
    /// handler or task (a bug in the engine) ends this worker with an
    /// error naming it, and the server then stops with a non-zero exit so
    /// a supervisor restarts it, rather than serve on with a core missing.
    /// The worker is leaked, not dropped: the kernel may still own memory
    /// of its ops in flight (a file read, the buffer ring), and the
    /// process is about to exit.
    pub(crate) fn run(self) -> Result<()> {
        let core = self.ex.core;
        let mut worker = std::mem::ManuallyDrop::new(self);
        let run = std::panic::AssertUnwindSafe(|| worker.run_to_end());
        match std::panic::catch_unwind(run) {
            Ok(result) => {
                drop(std::mem::ManuallyDrop::into_inner(worker));
                result
            }
            Err(panic) => Err(Error::Worker(format!(
                "core {core} panicked outside any handler: {}",
                crate::runtime::executor::panic_message(&panic)
            ))),
        }
    }

    /// Runs until drained; then drops the core's tasks and waits (a
    /// bounded time) for the CQEs of their ops, whose memory the kernel
    /// owns until then.
    fn run_to_end(&mut self) -> Result<()> {
        let result = self.turns();
        self.core.drop_tasks();
        let deadline = Instant::now() + DRAIN_GRACE;
        while self.core.ops_in_flight() > 0 && Instant::now() < deadline {
            self.push_task_sqes();
            let _ = self.ring.submit_and_wait(Duration::from_millis(50));
            let mut completions = std::mem::take(&mut self.completions);
            self.ring.reap(&mut completions);
            for c in &completions {
                if let Some(t) = Token::decode(c.user_data).filter(|t| t.op == Op::Task) {
                    self.core.complete_op(t.slot, t.generation, c.result);
                }
            }
            self.completions = completions;
        }
        self.core.uninstall();
        result
    }

    /// Pushes the entries of ops tasks started since the last flush.
    fn push_task_sqes(&mut self) {
        let mut sqes = std::mem::take(&mut self.task_sqes);
        self.core.take_sqes(&mut sqes);
        for entry in sqes.drain(..) {
            self.push(entry);
        }
        self.task_sqes = sqes;
    }

    fn turns(&mut self) -> Result<()> {
        loop {
            self.run_tasks();
            self.flush();
            if let Some(log) = self.ex.access.as_mut() {
                log.flush();
            }
            if self.finished() {
                return Ok(());
            }
            let wait = if self.core.has_ready() || !self.core.streams_ready.borrow().is_empty() {
                Duration::ZERO
            } else {
                self.wait_time()
            };
            self.ring
                .submit_and_wait(wait)
                .map_err(|e| Error::Io(format!("io_uring_enter on core {}", self.ex.core), e))?;
            let mut completions = std::mem::take(&mut self.completions);
            self.ring.reap(&mut completions);
            // Read after the wait: deadlines set from it are never early.
            self.now = self.core.clock.now();
            self.ex.date.refresh(SystemTime::now());
            for c in &completions {
                self.on_completion(*c);
            }
            self.completions = completions;
            self.fire_timers();
        }
    }

    /// Until the earliest timer (at least 1 ms when one is due), at most
    /// [`MAX_WAIT`].
    fn wait_time(&self) -> Duration {
        let now = self.core.clock.now();
        let next = self.core.timers.borrow().next();
        let next = [next, self.accept.paused_until, self.accept.look_again_at]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(at) if at <= now => Duration::from_millis(1).min(MAX_WAIT),
            Some(at) => Duration::from_millis(at - now).min(MAX_WAIT),
            None => MAX_WAIT,
        }
    }

    fn finished(&mut self) -> bool {
        if !self.draining {
            return false;
        }
        if self.conns.is_empty() && self.accept.closed() {
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
        // SAFETY: every entry pushed by the worker is built by an op of
        // `driver::op` that is kept until its final CQE: in a `Conn` (whose
        // slot is freed only on its close CQE, which is submitted only once
        // `Conn::ops_in_flight` is false), in `self.accept` (dropped on its
        // final CQE or with the worker, after the ring), `self.wake` and
        // `self.remote` (live as long as the worker, dropped after the
        // ring), or a task's op: in its `OpFuture`, or orphaned in the
        // core's op table until its CQE (`runtime::executor::ops`).
        unsafe { self.ring.push(entry) }
    }

    fn cancel(&mut self, target: Token) {
        self.ex.metrics.ops_cancelled.add(1);
        let entry = Cancel::entry(target.encode(), Token::worker(Op::Cancel).encode());
        self.push(entry);
    }

    /// Queues the connection for this turn's flush. A connection may be in
    /// the list twice: flushing is idempotent (a second flush finds its
    /// output in flight, or nothing to do).
    fn queue(&mut self, slot: u32) {
        self.flush_list.push(slot);
    }

    /// Makes sure the connection's timer fires when it is due.
    fn arm_timer(&mut self, slot: u32) {
        let Some(conn) = self.conns.get_mut(slot as usize) else {
            return;
        };
        let due = conn.due(self.now);
        if due != NEVER {
            let mut timers = self.core.timers.borrow_mut();
            timers.ensure(slot, due, &mut conn.timer_armed, self.now);
        }
    }

    /// Once per loop turn: start sends, re-arm recvs, give buffers back,
    /// re-arm accept.
    fn flush(&mut self) {
        // Flushing one connection can queue it again (a body part done, a
        // held request served): keep going until nothing is queued.
        // Two lists, so connections queued meanwhile land in one with room
        // (no allocation per turn).
        while !self.flush_list.is_empty() {
            std::mem::swap(&mut self.flush_list, &mut self.flushing);
            let mut list = std::mem::take(&mut self.flushing);
            for slot in list.drain(..) {
                self.flush_conn(slot);
            }
            self.flushing = list;
        }
        let mut rearm = std::mem::take(&mut self.rearm);
        for slot in rearm.drain(..) {
            self.arm_recv(slot);
        }
        self.rearm = rearm;
        self.push_task_sqes();
        self.bufs.publish();
        if !self.draining {
            self.arm_accepts();
        }
        self.ex.metrics.sq_full.set(self.ring.backlogged());
        let (available, total) = self.bufs.available();
        self.ex.metrics.recv_buffers_free.set(available as u64);
        self.core.stats.set(crate::runtime::stats::CoreStats {
            core: self.ex.core,
            connections: self.conns.len(),
            tasks: self.core.task_count(),
            task_ops_in_flight: self.core.ops_in_flight(),
            recv_buffers_available: available,
            recv_buffers: total,
        });
    }

    // ---- completions -------------------------------------------------------

    fn on_completion(&mut self, c: Completion) {
        if c.buffer_id().is_some() {
            self.bufs.taken(c.flags); // released on every path below
        }
        let Some(token) = Token::decode(c.user_data) else {
            return;
        };
        match token.op {
            Op::Accept => return self.on_accept(token.slot, c),
            Op::ListenerReady => return self.on_listener_ready(c),
            Op::Wake => return self.on_wake(c),
            Op::Remote => return self.on_remote(),
            Op::Task => {
                return self
                    .core
                    .complete_op(token.slot, token.generation, c.result)
            }
            Op::Cancel => return,
            _ => {}
        }
        let slot = token.slot;
        let live = self
            .conns
            .get(slot as usize)
            .is_some_and(|conn| conn.generation == token.generation);
        if !live {
            // A CQE for a connection that is gone: return its buffer.
            if let Some(bid) = c.buffer_id() {
                self.bufs.release(bid, c.result.max(0) as usize, c.flags);
            }
            return;
        }
        match token.op {
            Op::Recv => self.on_recv(slot, c),
            Op::Send => self.on_send(slot, c),
            Op::SpliceIn => self.on_splice_in(slot, c),
            Op::SpliceOut => self.on_splice_out(slot, c),
            Op::FileOpen => self.on_file_op(slot, c),
            Op::ReadChunk => self.on_read_chunk(slot, c),
            Op::Shutdown => self.on_shutdown(slot),
            Op::Close => return self.on_close(slot),
            Op::Accept | Op::ListenerReady | Op::Wake | Op::Remote | Op::Task | Op::Cancel => {}
        }
        // Whatever path the completion took (an error on a connection that
        // was already closing included): the close goes out once its last
        // op is back.
        self.try_close(slot);
        self.arm_timer(slot);
    }

    /// Other threads woke tasks of this core.
    fn on_remote(&mut self) {
        self.core.take_remote_wakes(&mut self.remote_wakes);
        let entry = self.remote.entry(Token::worker(Op::Remote).encode());
        self.push(entry);
    }

    // ---- tasks -------------------------------------------------------------

    /// Polls the ready tasks, then hands the handler tasks' answers to their
    /// connections.
    fn run_tasks(&mut self) {
        if self.core.has_ready() {
            self.core.run_ready();
        }
        // Streaming bodies that moved: response bytes ready to send, or a
        // request body's handler that took bytes, asked for it or left it.
        let mut ready = std::mem::take(&mut self.streams_ready);
        std::mem::swap(&mut ready, &mut *self.core.streams_ready.borrow_mut());
        for (slot, generation) in ready.drain(..) {
            let Some(conn) = self.conns.get_mut(slot as usize) else {
                continue;
            };
            if conn.generation != generation || matches!(conn.phase, Phase::Closing { .. }) {
                continue;
            }
            self.ex.owner = (slot, generation);
            self.ex.body_moved(conn, self.now);
            self.settle(slot);
            self.want_reading(slot);
            self.arm_timer(slot);
        }
        self.streams_ready = ready;
        std::mem::swap(&mut self.answers, &mut *self.core.answers.borrow_mut());
        let mut answers = std::mem::take(&mut self.answers);
        for answer in answers.drain(..) {
            let (slot, generation) = answer.owner;
            let Some(conn) = self.conns.get_mut(slot as usize) else {
                continue;
            };
            let deferred = match &conn.http.pending {
                Some(Pending::Task(id, d))
                    if conn.generation == generation && *id == answer.task =>
                {
                    *d
                }
                _ => continue, // the connection went away meanwhile
            };
            if !conn.is_open() && !matches!(conn.phase, Phase::CloseAfterFlush) {
                continue;
            }
            self.ex.owner = (slot, generation);
            self.ex.answer(conn, answer, deferred, self.now);
            self.settle(slot);
            self.want_reading(slot);
            self.arm_timer(slot);
        }
        self.answers = answers;
    }

    fn on_wake(&mut self, c: Completion) {
        if c.result < 0 && -c.result == libc::ECANCELED {
            return;
        }
        if !self.draining {
            self.start_drain();
        }
    }

    // ---- shutdown and timers -----------------------------------------------

    /// Fires every connection timer that is due; past the drain deadline,
    /// closes whatever is left.
    fn fire_timers(&mut self) {
        let now = self.now;
        if now >= self.last_sweep + SWEEP {
            // Offer every deadline to the heap; those within its horizon get
            // an entry (see runtime::timer).
            self.last_sweep = now;
            let mut timers = self.core.timers.borrow_mut();
            for (slot, conn) in self.conns.iter_mut() {
                let due = conn.due(now);
                if due != NEVER {
                    timers.ensure(slot as u32, due, &mut conn.timer_armed, now);
                }
            }
        }
        loop {
            let Some((at, slot)) = self.core.timers.borrow_mut().pop_expired(now) else {
                break;
            };
            if slot >= TASK_TIMER {
                self.core.fire_sleep(at, slot - TASK_TIMER);
                continue;
            }
            let Some(conn) = self.conns.get_mut(slot as usize) else {
                continue;
            };
            if !conn.timer_armed.is(at) {
                continue; // a newer entry stands for it, or it was another connection's
            }
            conn.timer_armed.clear();
            if conn.due(now) <= now {
                self.on_timeout(slot);
            }
            self.arm_timer(slot);
        }
        self.cut_at_drain_deadline();
    }

    fn on_timeout(&mut self, slot: u32) {
        let now = self.now;
        let conn = &mut self.conns[slot as usize];
        debug!(
            core = self.ex.core,
            phase = ?conn.phase,
            waiting = ?conn.http.waiting,
            sending = !conn.output.is_idle(),
            "connection timed out"
        );
        let send_stalled = !conn.output.is_idle() && conn.send_deadline.get(now) <= now;
        if conn.http.waiting == Waiting::Proxy {
            // No PROXY header in time: not a request to answer.
            return self.begin_close(slot);
        }
        let reading = matches!(conn.http.waiting, Waiting::Head | Waiting::Body);
        if !send_stalled && reading && self.ex.fail_feed(conn, BodyError::TimedOut) {
            // A body streaming to its handler stopped arriving: the handler
            // learns it (and answers); the connection closes after that.
            self.ex.drop_input(conn);
            conn.http.waiting = Waiting::Idle;
            conn.end_after_flush();
            return self.queue(slot);
        }
        if send_stalled || !reading || !conn.is_open() {
            // Keep-alive, linger or send timeout: nothing to answer.
            return self.begin_close(slot);
        }
        // A request started but not finished in time: 408, then close. The
        // access log gets its request line, as far as it came.
        let line = match self.ex.access {
            Some(_) => conn.http.inbuf[..conn.http.inbuf.len().min(8192)].to_vec(),
            None => Vec::new(),
        };
        self.ex.drop_input(conn);
        conn.http.waiting = Waiting::Idle; // no read timeout: see Conn::due
        self.ex
            .write_error(conn, ::http::StatusCode::REQUEST_TIMEOUT, None, &line);
        conn.end_after_flush();
        self.queue(slot);
    }
}
