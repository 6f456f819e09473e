//! A core's timers: one min-heap of deadlines in milliseconds of the core's
//! clock, checked once per loop turn; the loop's wait never outlasts the
//! earliest one.
//!
//! Connection deadlines move on every request (keep-alive, header, body,
//! send), so entries are not removed when a deadline moves later: the owner
//! keeps its current deadline, and an entry that fires early is pushed again
//! at that deadline. A new entry is pushed only when a deadline moves
//! earlier than the armed one, so the heap holds a few entries per
//! connection at most, and a request costs a comparison, not a heap update.
//! The heap is a `Vec`: no allocation per push once it has grown.
//!
//! A deadline of N seconds set at time t fires at t + N or later (deadlines
//! round up to the next millisecond of a clock that counts whole
//! milliseconds) and no later than the turn after it passes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Milliseconds since the core's clock started.
pub(crate) type Millis = u64;

/// The clock deadlines are measured on.
pub(crate) struct Clock {
    start: Instant,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    /// Whole milliseconds since start (rounded down).
    pub(crate) fn now(&self) -> Millis {
        self.start.elapsed().as_millis() as Millis
    }

    /// `after` from `now`, rounded up so that at least `after` passes.
    pub(crate) fn deadline(now: Millis, after: Duration) -> Millis {
        // +1: `now` was rounded down, so the true instant may be up to 1 ms later.
        now + after.as_millis() as Millis + 1
    }
}

/// What a timer entry belongs to: a connection slot and its generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

/// The heap of armed deadlines.
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Millis, TimerKey)>>,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            heap: BinaryHeap::with_capacity(1024),
        }
    }

    /// Makes sure `key` is woken at `deadline` or earlier. `armed` is the
    /// owner's record of its earliest entry (0 = none), updated here.
    pub(crate) fn ensure(&mut self, key: TimerKey, deadline: Millis, armed: &mut Millis) {
        if *armed == 0 || deadline < *armed {
            self.heap.push(Reverse((deadline, key)));
            *armed = deadline;
        }
    }

    /// The earliest entry's time, if any.
    pub(crate) fn next(&self) -> Option<Millis> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Takes one entry whose time has come. The owner checks the entry
    /// against its `armed` record (a mismatch is a superseded entry) and its
    /// real deadline (later means: [`Timers::ensure`] again).
    pub(crate) fn pop_expired(&mut self, now: Millis) -> Option<(Millis, TimerKey)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Entries held (for tests and the memory bound).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: TimerKey = TimerKey {
        slot: 1,
        generation: 1,
    };

    #[test]
    fn a_deadline_is_never_early() {
        assert_eq!(Clock::deadline(100, Duration::from_secs(1)), 1101);
        assert_eq!(Clock::deadline(0, Duration::ZERO), 1);
    }

    #[test]
    fn later_deadlines_reuse_the_armed_entry_and_earlier_ones_push() {
        let mut t = Timers::new();
        let mut armed = 0;
        t.ensure(K, 5000, &mut armed);
        for later in [5001, 6000, 75_000] {
            t.ensure(K, later, &mut armed);
        }
        assert_eq!((t.len(), armed), (1, 5000));
        t.ensure(K, 3000, &mut armed);
        assert_eq!((t.len(), armed), (2, 3000));
        assert_eq!(t.next(), Some(3000));
    }

    #[test]
    fn expired_entries_come_out_in_order_and_no_earlier() {
        let mut t = Timers::new();
        let mut a = 0;
        let mut b = 0;
        let kb = TimerKey {
            slot: 2,
            generation: 7,
        };
        t.ensure(K, 200, &mut a);
        t.ensure(kb, 100, &mut b);
        assert_eq!(t.pop_expired(99), None);
        assert_eq!(t.pop_expired(250), Some((100, kb)));
        assert_eq!(t.pop_expired(250), Some((200, K)));
        assert_eq!(t.pop_expired(250), None);
    }
}
