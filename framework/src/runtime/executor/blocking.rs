//! `spawn_blocking`: a closure that would block a core (a password hash, a
//! C library, a blocking syscall) runs on a small pool of threads shared by
//! the process, and the core's task is woken when it is done (through the
//! core's eventfd: see the waker).

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::JoinError;

/// Threads at most; more jobs wait in the queue.
const MAX_THREADS: usize = 16;
/// An idle thread exits after this long.
const IDLE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    state: Mutex<PoolState>,
    ready: Condvar,
}

struct PoolState {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(PoolState {
            queue: VecDeque::new(),
            threads: 0,
            idle: 0,
        }),
        ready: Condvar::new(),
    })
}

fn run(job: Job) {
    let pool = pool();
    let mut st = pool.state.lock().unwrap_or_else(|e| e.into_inner());
    st.queue.push_back(job);
    if st.idle == 0 && st.threads < MAX_THREADS {
        st.threads += 1;
        drop(st);
        let spawned = std::thread::Builder::new()
            .name("percore-blocking".into())
            .spawn(worker);
        if spawned.is_err() {
            pool.state.lock().unwrap_or_else(|e| e.into_inner()).threads -= 1;
        }
    } else {
        drop(st);
        pool.ready.notify_one();
    }
}

fn worker() {
    let pool = pool();
    let mut st = pool.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(job) = st.queue.pop_front() {
            drop(st);
            job();
            st = pool.state.lock().unwrap_or_else(|e| e.into_inner());
            continue;
        }
        st.idle += 1;
        let (next, timeout) = pool
            .ready
            .wait_timeout(st, IDLE)
            .unwrap_or_else(|e| e.into_inner());
        st = next;
        st.idle -= 1;
        if timeout.timed_out() && st.queue.is_empty() {
            st.threads -= 1;
            return;
        }
    }
}

struct Shared<T> {
    output: Option<std::thread::Result<T>>,
    waker: Option<Waker>,
}

/// The output of [`spawn_blocking`]: `Ok(value)`, or `Err` if the closure
/// panicked.
pub struct BlockingHandle<T> {
    shared: Arc<Mutex<Shared<T>>>,
}

impl<T> Future for BlockingHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        match s.output.take() {
            Some(Ok(v)) => Poll::Ready(Ok(v)),
            Some(Err(_)) => Poll::Ready(Err(JoinError::Failed)),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Runs `f` on the shared blocking pool; await the handle for its output.
/// The core goes on serving meanwhile.
pub fn spawn_blocking<F, T>(f: F) -> BlockingHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let shared = Arc::new(Mutex::new(Shared {
        output: None,
        waker: None,
    }));
    let done = shared.clone();
    run(Box::new(move || {
        let output = catch_unwind(AssertUnwindSafe(f));
        let waker = {
            let mut s = done.lock().unwrap_or_else(|e| e.into_inner());
            s.output = Some(output);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake(); // from this thread: delivered through the core's eventfd
        }
    }));
    BlockingHandle { shared }
}
