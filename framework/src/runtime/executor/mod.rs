//! Each core's executor: tasks polled in the worker's own loop, their I/O
//! and timers on the core's ring and timer heap, no `Send` bound.
//!
//! One turn of the worker: poll the ready tasks (a bounded number), hand
//! the answers of handler tasks to their connections, flush, enter the ring
//! once, handle completions and timers (which wake tasks). A task is a
//! boxed future in a slot of the core's task table; a wake puts its id on
//! the ready queue (see [`waker`]). A panicking task is dropped and the
//! worker lives on; if it was a handler's, its connection gets a 500.
//!
//! The core's state is reached through a thread-local, so `spawn_local`,
//! `sleep` and wakers work from any code running on the worker thread.

mod blocking;
mod join;
mod ops;
pub(crate) mod pool;
mod waker;

pub use blocking::{spawn_blocking, BlockingHandle};
pub use join::{JoinError, JoinHandle};
pub(crate) use ops::{submit, OpSlot};
pub(crate) use waker::{Remote, TaskId};

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use super::timer::{Armed, Clock, Millis, Timers};
use crate::handler::Response;

/// A task's future.
pub(crate) type BoxFuture = Pin<Box<dyn TaskFuture>>;

/// What the executor runs: a future of `()`, and what to do with its memory
/// once it finished (dropped, unless it came from a [`pool::FuturePool`]).
pub(crate) trait TaskFuture {
    fn poll_task(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;

    /// The task finished: its future is done with.
    fn release(self: Pin<Box<Self>>) {}
}

impl<F: Future<Output = ()>> TaskFuture for F {
    fn poll_task(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.poll(cx)
    }
}

/// Tasks polled per turn at most, so connections are served between.
const BUDGET: usize = 256;

struct Task {
    generation: u32,
    /// Taken out while it is polled (so it may spawn and wake freely).
    future: Option<BoxFuture>,
    /// On the ready queue.
    queued: bool,
    /// The connection waiting for this task's response, if it is a
    /// handler's: (slot, generation).
    owner: Option<(u32, u32)>,
    /// When it took a slot (its first poll did not finish it).
    started: Millis,
}

/// What a handler task produced, for its connection.
pub(crate) struct Answer {
    pub(crate) task: TaskId,
    pub(crate) owner: (u32, u32),
    /// `None`: the handler panicked.
    pub(crate) response: Option<Response>,
    /// How long the task ran, from its first poll (0: it answered then).
    pub(crate) took: Millis,
}

/// A handler task on its first poll, before it has a slot.
#[derive(Clone, Copy)]
struct Unslotted {
    id: TaskId,
    owner: (u32, u32),
    /// It was woken during the poll.
    woken: bool,
}

/// A sleeping timer of a task.
pub(crate) struct SleepEntry {
    pub(crate) waker: Option<Waker>,
    pub(crate) armed: Armed,
}

/// One core's executor state, shared through a thread-local with the code
/// running on the core.
pub(crate) struct Core {
    key: u16,
    tasks: RefCell<Slab<Task>>,
    ready: RefCell<VecDeque<TaskId>>,
    next_generation: Cell<u32>,
    /// The task being polled, if any.
    current: Cell<Option<TaskId>>,
    /// A handler task polled before it has a slot (see `spawn_now`).
    unslotted: Cell<Option<Unslotted>>,
    pub(crate) answers: RefCell<Vec<Answer>>,
    /// What the worker holds, written once per loop turn.
    pub(crate) stats: Cell<crate::runtime::stats::CoreStats>,
    /// Connections (slot, generation) whose streaming body moved: a
    /// response body has bytes ready, or a request body's handler took
    /// bytes, asked for the body or dropped it.
    pub(crate) streams_ready: RefCell<Vec<(u32, u32)>>,
    /// Every timer of the core: connection deadlines and task sleeps.
    pub(crate) timers: RefCell<Timers>,
    pub(crate) sleeps: RefCell<Slab<SleepEntry>>,
    pub(crate) clock: Clock,
    pub(crate) remote: Arc<Remote>,
    /// Ring ops of tasks (see `ops.rs`).
    pub(crate) ops: RefCell<Slab<OpSlot>>,
    next_op_generation: Cell<u32>,
    /// Entries of task ops, pushed to the ring at the worker's next flush.
    sq: RefCell<Vec<io_uring::squeue::Entry>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// Runs `f` with the current core, or panics with a sentence that says why.
pub(crate) fn with_core<R>(what: &str, f: impl FnOnce(&Rc<Core>) -> R) -> R {
    // Borrowed, not cloned: `f` may nest (shared borrows), and only the
    // worker's start and end replace the core.
    CURRENT.with(|c| match &*c.borrow() {
        Some(core) => f(core),
        None => panic!(
            "{what} must run on a percore worker thread (inside a handler, a task, or the app factory)"
        ),
    })
}

/// The current core, if this is a worker thread.
pub(crate) fn try_core() -> Option<Rc<Core>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Tells this thread's worker that a connection's streaming body (either
/// direction) moved. A no-op off a worker thread and while the thread ends
/// (a body dropped by a thread-local's destructor).
pub(crate) fn stream_moved(owner: (u32, u32)) {
    let _ = CURRENT.try_with(|c| {
        if let Ok(c) = c.try_borrow() {
            if let Some(core) = &*c {
                core.streams_ready.borrow_mut().push(owner);
            }
        }
    });
}

/// Wakes `id` if it belongs to this thread's core; false if it does not.
pub(crate) fn wake_local(id: TaskId) -> bool {
    CURRENT.with(|c| match &*c.borrow() {
        Some(core) if core.key == id.core => {
            core.schedule(id);
            true
        }
        _ => false,
    })
}

impl Core {
    /// The core of the calling worker thread: registered for remote wakes
    /// (through `eventfd`) and installed in the thread-local.
    pub(crate) fn install(eventfd: std::os::fd::OwnedFd) -> Rc<Core> {
        let remote = Arc::new(Remote::new(eventfd));
        let key = waker::register(remote.clone());
        let core = Rc::new(Core {
            key,
            tasks: RefCell::new(Slab::with_capacity(64)),
            stats: Cell::new(Default::default()),
            ready: RefCell::new(VecDeque::with_capacity(64)),
            next_generation: Cell::new(1),
            current: Cell::new(None),
            unslotted: Cell::new(None),
            answers: RefCell::new(Vec::new()),
            streams_ready: RefCell::new(Vec::new()),
            timers: RefCell::new(Timers::new()),
            sleeps: RefCell::new(Slab::new()),
            clock: Clock::new(),
            remote,
            ops: RefCell::new(Slab::new()),
            next_op_generation: Cell::new(1),
            sq: RefCell::new(Vec::new()),
        });
        CURRENT.with(|c| *c.borrow_mut() = Some(core.clone()));
        core
    }

    /// Drops every task; their ops in flight become orphans with a cancel
    /// queued (the worker then waits for their CQEs).
    pub(crate) fn drop_tasks(&self) {
        let tasks = std::mem::take(&mut *self.tasks.borrow_mut());
        for task in tasks {
            contained(|| drop(task));
        }
        self.ready.borrow_mut().clear();
    }

    /// Removes the core from the thread and the registry.
    pub(crate) fn uninstall(&self) {
        self.drop_tasks();
        CURRENT.with(|c| *c.borrow_mut() = None);
        waker::unregister(self.key);
    }

    fn next_op_generation(&self) -> u32 {
        next_generation(&self.next_op_generation)
    }

    /// Puts `future` in the task table (not yet scheduled).
    fn insert(&self, future: BoxFuture, owner: Option<(u32, u32)>) -> TaskId {
        let generation = next_generation(&self.next_generation);
        self.insert_as(future, owner, generation)
    }

    fn insert_as(&self, future: BoxFuture, owner: Option<(u32, u32)>, generation: u32) -> TaskId {
        let index = self.tasks.borrow_mut().insert(Task {
            generation,
            future: Some(future),
            queued: false,
            owner,
            started: self.clock.now(),
        });
        TaskId {
            core: self.key,
            index: index as u32,
            generation,
        }
    }

    /// Takes task `id` out of the table, if it is still there. The caller
    /// drops it outside the borrow (a future's drop may touch the core).
    fn remove(&self, id: TaskId) -> Option<Task> {
        let mut tasks = self.tasks.borrow_mut();
        match tasks.get(id.index as usize) {
            Some(t) if t.generation == id.generation => Some(tasks.remove(id.index as usize)),
            _ => None,
        }
    }

    /// Starts `future` as a task; `owner` is the connection waiting for it.
    pub(crate) fn spawn(&self, future: BoxFuture, owner: Option<(u32, u32)>) -> TaskId {
        let id = self.insert(future, owner);
        self.schedule(id);
        id
    }

    /// Tasks alive.
    pub(crate) fn task_count(&self) -> usize {
        self.tasks.borrow().len()
    }

    /// Drops a task that is no longer wanted (its connection closed).
    pub(crate) fn cancel(&self, id: TaskId) {
        contained(|| drop(self.remove(id)));
    }

    /// Puts a task on the ready queue (once).
    pub(crate) fn schedule(&self, id: TaskId) {
        let Ok(mut tasks) = self.tasks.try_borrow_mut() else {
            self.ready.borrow_mut().push_back(id); // deduplicated when run
            return;
        };
        match tasks.get_mut(id.index as usize) {
            Some(t) if t.generation == id.generation => {
                if !t.queued {
                    t.queued = true;
                    self.ready.borrow_mut().push_back(id);
                }
            }
            _ => {
                // Woken during its first poll, before it has a slot.
                if let Some(u) = self.unslotted.get().filter(|u| u.id == id) {
                    self.unslotted.set(Some(Unslotted { woken: true, ..u }));
                }
            }
        }
    }

    /// Whether some task is ready to run.
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.borrow().is_empty()
    }

    /// A task's sleep, entered in the timer heap for `at`, is due: wake its
    /// task (unless the sleep moved or went since).
    pub(crate) fn fire_sleep(&self, at: Millis, key: u32) {
        let waker = {
            let mut sleeps = self.sleeps.borrow_mut();
            match sleeps.get_mut(key as usize) {
                Some(entry) if entry.armed.is(at) => {
                    entry.armed.clear();
                    entry.waker.clone()
                }
                _ => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Takes the wakes other threads left.
    pub(crate) fn take_remote_wakes(&self, scratch: &mut Vec<u64>) {
        self.remote.drain(scratch);
        for packed in scratch.drain(..) {
            self.schedule(TaskId::unpack(packed));
        }
    }

    /// Polls up to [`BUDGET`] ready tasks.
    pub(crate) fn run_ready(&self) {
        for _ in 0..BUDGET {
            let Some(id) = self.ready.borrow_mut().pop_front() else {
                return;
            };
            // Polled even if its `queued` flag is clear: a wake that found
            // the table borrowed queued the id without the flag (see
            // `schedule`); a spurious poll is harmless, a lost wake is not.
            let live = {
                let mut tasks = self.tasks.borrow_mut();
                match tasks.get_mut(id.index as usize) {
                    Some(t) if t.generation == id.generation => {
                        t.queued = false;
                        true
                    }
                    _ => false,
                }
            };
            if live {
                self.poll_task(id);
            }
        }
    }

    /// Starts a handler's task and polls it at once: a handler that does
    /// not wait answers in the same pass, without a trip through the ready
    /// queue and the ring (the answer is returned). Else it waits as tasks do.
    pub(crate) fn spawn_now(
        &self,
        mut future: BoxFuture,
        owner: (u32, u32),
    ) -> (TaskId, Option<Answer>) {
        // Polled before it takes a slot: most handlers answer on this poll,
        // and then never need one. Its wakers name the slot it would take.
        let id = TaskId {
            core: self.key,
            index: self.tasks.borrow().vacant_key() as u32,
            generation: next_generation(&self.next_generation),
        };
        let waker = waker::waker(id);
        let mut cx = Context::from_waker(&waker);
        let outer = self.current.replace(Some(id));
        let first = Unslotted {
            id,
            owner,
            woken: false,
        };
        let outer_unslotted = self.unslotted.replace(Some(first));
        let polled = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll_task(&mut cx)));
        let woken = self
            .unslotted
            .replace(outer_unslotted)
            .is_some_and(|u| u.woken);
        self.current.set(outer);
        match polled {
            Ok(Poll::Ready(())) => {
                future.release();
                let mut answers = self.answers.borrow_mut();
                let answer = match answers.last() {
                    Some(a) if a.task == id => answers.pop(),
                    _ => None,
                };
                (id, answer)
            }
            Ok(Poll::Pending) => {
                let slotted = self.insert_as(future, Some(owner), id.generation);
                if slotted != id || woken {
                    // Its slot was taken meanwhile (a task it spawned), or
                    // it woke itself: poll it again, so the wakers it keeps
                    // are ones that name its slot.
                    self.schedule(slotted);
                }
                (slotted, None)
            }
            Err(panic) => {
                tracing::error!("task panicked: {}", panic_message(&panic));
                contained(|| drop(future));
                let answer = Answer {
                    task: id,
                    owner,
                    response: None,
                    took: 0,
                };
                (id, Some(answer))
            }
        }
    }

    /// Polls one task once.
    fn poll_task(&self, id: TaskId) {
        let future = {
            let mut tasks = self.tasks.borrow_mut();
            match tasks.get_mut(id.index as usize) {
                Some(t) if t.generation == id.generation => t.future.take(),
                _ => None,
            }
        };
        let Some(mut future) = future else {
            return; // gone (or being polled)
        };
        let waker = waker::waker(id);
        let mut cx = Context::from_waker(&waker);
        let outer = self.current.replace(Some(id));
        let polled = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll_task(&mut cx)));
        self.current.set(outer);
        match polled {
            Ok(Poll::Pending) => {
                let mut tasks = self.tasks.borrow_mut();
                if let Some(t) = tasks.get_mut(id.index as usize) {
                    if t.generation == id.generation {
                        t.future = Some(future);
                        return;
                    }
                }
                // Cancelled while it ran: dropped below, outside the borrow.
                drop(tasks);
            }
            Ok(Poll::Ready(())) => {
                self.finish(id, false);
                return contained(|| future.release());
            }
            Err(panic) => {
                tracing::error!("task panicked: {}", panic_message(&panic));
                self.finish(id, true);
            }
        }
        contained(|| drop(future));
    }

    /// A task is done; a handler task that panicked answers 500.
    fn finish(&self, id: TaskId, panicked: bool) {
        let task = self.remove(id);
        if let (Some(task), true) = (task, panicked) {
            if let Some(owner) = task.owner {
                self.answers.borrow_mut().push(Answer {
                    task: id,
                    owner,
                    response: None,
                    took: self.clock.now().saturating_sub(task.started),
                });
            }
        }
    }

    /// Changes the response the current task has just answered with (the
    /// `after` hooks of middleware around an async handler).
    pub(crate) fn map_answer(&self, f: impl FnOnce(Response) -> Response) {
        let Some(id) = self.current.get() else {
            return;
        };
        let response = {
            let mut answers = self.answers.borrow_mut();
            answers
                .iter_mut()
                .rev()
                .find(|a| a.task == id)
                .and_then(|a| a.response.take())
        };
        let Some(response) = response else {
            return;
        };
        let response = f(response);
        let mut answers = self.answers.borrow_mut();
        if let Some(a) = answers.iter_mut().rev().find(|a| a.task == id) {
            a.response = Some(response);
        }
    }

    /// A handler task's response, for its connection.
    pub(crate) fn answer(&self, response: Response) {
        let Some(id) = self.current.get() else {
            return;
        };
        let owner = match self.unslotted.get() {
            Some(u) if u.id == id => Some((u.owner, 0)),
            _ => self
                .tasks
                .borrow()
                .get(id.index as usize)
                .filter(|t| t.generation == id.generation)
                .and_then(|t| Some((t.owner?, self.clock.now().saturating_sub(t.started)))),
        };
        if let Some((owner, took)) = owner {
            self.answers.borrow_mut().push(Answer {
                task: id,
                owner,
                response: Some(response),
                took,
            });
        }
    }

    /// The time now on the core's clock.
    pub(crate) fn now(&self) -> Millis {
        self.clock.now()
    }
}

/// The next of a 24-bit generation counter, never 0 (0 reads as "none" in
/// packed ids).
fn next_generation(counter: &Cell<u32>) -> u32 {
    let g = counter.get();
    counter.set((g % ((1 << 24) - 1)) + 1);
    g
}

/// Runs `f` (dropping a task, or what it held) so that a panic in some
/// `Drop` stays with the task: logged, and the core goes on. Unwinding out
/// of here would kill the worker and every connection on it.
fn contained(f: impl FnOnce()) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(f)) {
        tracing::error!(
            "task panicked while being dropped: {}",
            panic_message(&panic)
        );
    }
}

pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

/// Starts `future` as a task on the current core and returns a handle to
/// its output. Runs on the worker thread, so the future needs no `Send`
/// and may hold `Rc`s across awaits. Call it from a handler, a task, or the
/// app factory (a per-core background job).
///
/// # Panics
/// Outside a percore worker thread.
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let (handle, task) = join::pair(future);
    with_core("percore::spawn_local", |core| core.spawn(task, None));
    handle
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::os::fd::FromRawFd;

    fn eventfd() -> std::os::fd::OwnedFd {
        // SAFETY: plain syscall; we own the new descriptor.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        assert!(fd >= 0);
        // SAFETY: fresh descriptor, owned by nobody else.
        unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
    }

    /// A future that is pending until `flag` is set, counting its polls.
    struct Until {
        flag: Rc<Cell<bool>>,
        polls: Rc<Cell<u32>>,
        waker: Rc<RefCell<Option<Waker>>>,
    }

    impl Future for Until {
        type Output = ();
        fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.set(self.polls.get() + 1);
            if self.flag.get() {
                return Poll::Ready(());
            }
            *self.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// A probe future, and the flag, poll count and waker it shares.
    #[allow(clippy::type_complexity)]
    fn until() -> (
        Until,
        Rc<Cell<bool>>,
        Rc<Cell<u32>>,
        Rc<RefCell<Option<Waker>>>,
    ) {
        let (flag, polls, waker) = (
            Rc::new(Cell::new(false)),
            Rc::new(Cell::new(0)),
            Rc::new(RefCell::new(None)),
        );
        let future = Until {
            flag: flag.clone(),
            polls: polls.clone(),
            waker: waker.clone(),
        };
        (future, flag, polls, waker)
    }

    #[test]
    fn tasks_run_when_woken_locally_and_from_another_thread() {
        let core = Core::install(eventfd());
        let (future, flag, polls, waker) = until();
        let handle = spawn_local(future);
        core.run_ready();
        assert_eq!(polls.get(), 1);
        assert!(!core.has_ready(), "pending and not woken: not queued");

        // A local wake queues it once, however often it is woken.
        let w = waker.borrow().clone().unwrap();
        w.wake_by_ref();
        w.wake_by_ref();
        core.run_ready();
        assert_eq!(polls.get(), 2);

        // A wake from another thread goes through the remote queue.
        let remote = waker.borrow().clone().unwrap();
        std::thread::spawn(move || remote.wake()).join().unwrap();
        assert!(!core.has_ready(), "not on the local queue");
        let mut scratch = Vec::new();
        core.take_remote_wakes(&mut scratch);
        flag.set(true);
        core.run_ready();
        assert_eq!(polls.get(), 3);
        assert!(handle.is_finished());
        core.uninstall();
    }

    #[test]
    fn a_cancelled_task_is_dropped_and_a_stale_wake_is_harmless() {
        let core = Core::install(eventfd());
        let (future, _, polls, waker) = until();
        let id = core.spawn(Box::pin(future), None);
        core.run_ready();
        let w = waker.borrow().clone().unwrap();
        core.cancel(id);
        w.wake(); // the task is gone: nothing to run
        core.run_ready();
        assert_eq!(polls.get(), 1);
        // The slot is reused by a new task; the old waker does not reach it.
        let (future2, _, polls2, _) = until();
        let id2 = core.spawn(Box::pin(future2), None);
        assert_eq!(id2.index, id.index);
        core.run_ready();
        waker::waker(id).wake();
        core.run_ready();
        assert_eq!(polls2.get(), 1, "a stale id did not poll the new task");
        core.uninstall();
    }

    /// A handler future: yields (waking itself) `yields` times, optionally
    /// spawns a task first, then answers.
    struct Handler {
        yields: u32,
        spawn_first: bool,
        polls: Rc<Cell<u32>>,
    }

    impl Future for Handler {
        type Output = ();
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.set(self.polls.get() + 1);
            if self.spawn_first {
                self.spawn_first = false;
                drop(spawn_local(async {})); // takes the slot it would have had
            }
            if self.yields > 0 {
                self.yields -= 1;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            with_core("test", |c| c.answer(crate::handler::Response::ok()));
            Poll::Ready(())
        }
    }

    #[test]
    fn a_handler_answering_on_its_first_poll_never_takes_a_slot() {
        let core = Core::install(eventfd());
        let polls = Rc::new(Cell::new(0));
        let h = Handler {
            yields: 0,
            spawn_first: false,
            polls: polls.clone(),
        };
        let (_, answer) = core.spawn_now(Box::pin(h), (3, 9));
        let answer = answer.expect("answered at once");
        assert_eq!(answer.owner, (3, 9));
        assert!(answer.response.is_some());
        assert_eq!(core.task_count(), 0, "no slot was taken");
        core.uninstall();
    }

    #[test]
    fn a_handler_that_wakes_itself_or_loses_its_slot_on_its_first_poll_runs_on() {
        for spawn_first in [false, true] {
            let core = Core::install(eventfd());
            let polls = Rc::new(Cell::new(0));
            let h = Handler {
                yields: 2,
                spawn_first,
                polls: polls.clone(),
            };
            let (id, answer) = core.spawn_now(Box::pin(h), (1, 7));
            assert!(answer.is_none());
            assert!(
                core.has_ready(),
                "its own wake was not lost (spawn_first {spawn_first})"
            );
            for _ in 0..4 {
                core.run_ready();
            }
            assert_eq!(polls.get(), 3, "spawn_first {spawn_first}");
            let answers = std::mem::take(&mut *core.answers.borrow_mut());
            assert_eq!(answers.len(), 1);
            assert_eq!((answers[0].task, answers[0].owner), (id, (1, 7)));
            core.uninstall();
        }
    }
}
