//! Time for async code on a core: [`sleep`], [`timeout`], [`interval`].
//! Sleeps sit on the core's one timer heap (with the connections'
//! deadlines), so a thousand sleeping handlers cost a thousand heap entries
//! and no thread; the worker's loop never waits past the earliest.
//!
//! Durations round up to the next millisecond: a sleep never ends early.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pub use std::time::Instant;

use crate::runtime::executor::{try_core, with_core, SleepEntry};
use crate::runtime::timer::{Armed, Clock, Millis, TASK_TIMER};

/// Waits until `duration` has passed.
///
/// # Panics
/// When first polled outside a percore worker thread.
pub fn sleep(duration: Duration) -> Sleep {
    let now = with_core("percore::time::sleep", |core| core.now());
    // A zero sleep is ready at once; any other rounds up (never early).
    let deadline = if duration.is_zero() {
        now
    } else {
        Clock::deadline(now, duration)
    };
    Sleep {
        deadline,
        entry: None,
    }
}

/// The future of [`sleep`].
#[must_use = "a sleep does nothing unless awaited"]
pub struct Sleep {
    deadline: Millis,
    /// Its entry in the core's sleep table while it waits.
    entry: Option<usize>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        with_core("percore::time::sleep", |core| {
            let now = core.now();
            if now >= deadline {
                if let Some(key) = self.entry.take() {
                    core.sleeps.borrow_mut().try_remove(key);
                }
                return Poll::Ready(());
            }
            let mut sleeps = core.sleeps.borrow_mut();
            let key = *self.entry.get_or_insert_with(|| {
                sleeps.insert(SleepEntry {
                    waker: None,
                    armed: Armed::default(),
                })
            });
            let entry = &mut sleeps[key];
            match &entry.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => entry.waker = Some(cx.waker().clone()),
            }
            core.timers.borrow_mut().ensure_task(
                TASK_TIMER + key as u32,
                deadline,
                &mut entry.armed,
            );
            Poll::Pending
        })
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.entry.take() {
            if let Some(core) = try_core() {
                core.sleeps.borrow_mut().try_remove(key);
            }
        }
    }
}

/// A future that did not finish within its [`timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// Runs `future` for at most `duration`: its output, or [`Elapsed`] (and
/// the future is dropped, which cancels what it was doing).
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future: Box::pin(future),
        sleep: sleep(duration),
    }
}

/// The future of [`timeout`].
#[must_use = "a timeout does nothing unless awaited"]
pub struct Timeout<F> {
    future: Pin<Box<F>>,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(v) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut self.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Ticks every `period`, the first tick at once. A tick that is late (the
/// task was busy) is not made up for: the next comes a period after it.
pub fn interval(period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "percore::time::interval: the period must not be zero"
    );
    Interval {
        period,
        next: Instant::now(),
    }
}

/// The ticker of [`interval`].
pub struct Interval {
    period: Duration,
    next: Instant,
}

impl Interval {
    /// Waits for the next tick; returns when it was due.
    pub async fn tick(&mut self) -> Instant {
        let due = self.next;
        let now = Instant::now();
        if due > now {
            sleep(due - now).await;
        }
        let after = Instant::now();
        self.next = if due + self.period > after {
            due + self.period
        } else {
            after + self.period
        };
        due
    }
}
