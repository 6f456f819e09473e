//! A core's timers: one min-heap of deadlines in milliseconds of the core's
//! clock, checked once per loop turn; the loop's wait never outlasts the
//! earliest one.
//!
//! Connection deadlines move on every request (keep-alive, header, body,
//! send), so entries are not removed when a deadline moves later: the owner
//! keeps its current deadline, and an entry that fires early is pushed again
//! at that deadline. A new entry is pushed only when a deadline moves
//! earlier than the armed one, so a request costs a comparison, not a heap
//! update. Only deadlines within [`HORIZON`] get an entry; the worker sweeps
//! its connections once a second ([`SWEEP`]) to arm those that came near.
//! So idle keep-alive connections (75 s) hold no entry for most of their
//! wait, and cost no heap memory. The heap is a `Vec`: no allocation per
//! push once it has grown.
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

/// A deadline as a connection stores it: the low 32 bits of its [`Millis`],
/// read back relative to the current time. Exact while the deadline is
/// within 24 days of now (timeouts are at most a day), and half the size:
/// idle connections are what a server holds most of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Deadline(u32);

impl Deadline {
    pub(crate) fn at(at: Millis) -> Deadline {
        Deadline(at as u32)
    }

    /// The full time, given the current one.
    pub(crate) fn get(self, now: Millis) -> Millis {
        let delta = self.0.wrapping_sub(now as u32) as i32;
        now.saturating_add_signed(delta as i64)
    }
}

/// An owner's record of its earliest heap entry: the entry's deadline as a
/// [`Deadline`], 0 for none. (A deadline whose low bits are 0 reads as
/// none: at worst one extra entry is pushed, which fires harmlessly.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Armed(u32);

impl Armed {
    /// Whether the entry due at `at` is the one this record stands for.
    pub(crate) fn is(self, at: Millis) -> bool {
        self.0 == at as u32
    }

    /// Forgets the entry (it fired).
    pub(crate) fn clear(&mut self) {
        self.0 = 0;
    }
}

/// How often the worker offers every connection's deadline to the heap.
pub(crate) const SWEEP: Millis = 1000;
/// Deadlines further than this get no entry yet: a sweep arms them first
/// (one sweep always comes between `HORIZON` and `HORIZON - SWEEP` before
/// the deadline, allowing a loop turn of lateness).
pub(crate) const HORIZON: Millis = 2 * SWEEP;

/// Bits of a heap entry that hold its key: a connection slot
/// (max_connections is at most 1,000,000 < 2^23) or a task's sleep; the
/// deadline takes the 40 above them (34 years of uptime).
const SLOT_BITS: u32 = 24;

/// Heap keys from here up are task sleeps (`TASK_TIMER + sleep index`);
/// below are connection slots.
pub(crate) const TASK_TIMER: u32 = 1 << (SLOT_BITS - 1);

/// The heap of armed deadlines: one `u64` each, `deadline << 24 | slot`.
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<u64>>,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            heap: BinaryHeap::with_capacity(1024),
        }
    }

    /// Makes sure `slot` is woken at `deadline` or earlier, if it is within
    /// [`HORIZON`] of `now` (else the next sweep offers it again). `armed` is
    /// the owner's record of its earliest entry, updated here.
    pub(crate) fn ensure(&mut self, slot: u32, deadline: Millis, armed: &mut Armed, now: Millis) {
        if deadline > now + HORIZON {
            return;
        }
        if armed.0 == 0 || deadline < Deadline(armed.0).get(deadline) {
            self.heap.push(Reverse(deadline << SLOT_BITS | slot as u64));
            *armed = Armed(deadline as u32);
        }
    }

    /// Like [`Timers::ensure`] for a task's sleep, whatever its distance
    /// (sleeps are not swept).
    pub(crate) fn ensure_task(&mut self, key: u32, deadline: Millis, armed: &mut Armed) {
        if armed.0 == 0 || deadline < Deadline(armed.0).get(deadline) {
            self.heap.push(Reverse(deadline << SLOT_BITS | key as u64));
            *armed = Armed(deadline as u32);
        }
    }

    /// The earliest entry's time, if any.
    pub(crate) fn next(&self) -> Option<Millis> {
        self.heap.peek().map(|Reverse(e)| e >> SLOT_BITS)
    }

    /// Takes one entry whose time has come: its time and slot. The owner
    /// checks the entry against its `armed` record (a mismatch is a
    /// superseded entry, or one of a previous connection of the slot) and
    /// its real deadline (later means: [`Timers::ensure`] again).
    pub(crate) fn pop_expired(&mut self, now: Millis) -> Option<(Millis, u32)> {
        match self.heap.peek() {
            Some(Reverse(e)) if e >> SLOT_BITS <= now => {
                let e = self.heap.pop()?.0;
                Some((e >> SLOT_BITS, (e & ((1 << SLOT_BITS) - 1)) as u32))
            }
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

    #[test]
    fn a_deadline_is_never_early() {
        assert_eq!(Clock::deadline(100, Duration::from_secs(1)), 1101);
        assert_eq!(Clock::deadline(0, Duration::ZERO), 1);
    }

    #[test]
    fn a_stored_deadline_reads_back_around_now_across_the_wrap() {
        for now in [0, 5_000, u32::MAX as u64 - 10, u32::MAX as u64 * 3 + 7] {
            for at in [now, now + 1, now + 86_400_000, now.saturating_sub(1000)] {
                assert_eq!(Deadline::at(at).get(now), at, "now {now} at {at}");
            }
        }
    }

    #[test]
    fn later_deadlines_reuse_the_armed_entry_and_earlier_ones_push() {
        let mut t = Timers::new();
        let mut armed = Armed::default();
        t.ensure(1, 5000, &mut armed, 4000);
        for later in [5001, 6000, 75_000] {
            t.ensure(1, later, &mut armed, 4000);
        }
        assert_eq!((t.len(), armed), (1, Armed(5000)));
        t.ensure(1, 3000, &mut armed, 4000);
        assert_eq!((t.len(), armed), (2, Armed(3000)));
        assert_eq!(t.next(), Some(3000));
    }

    #[test]
    fn far_deadlines_wait_for_a_sweep() {
        let mut t = Timers::new();
        let mut armed = Armed::default();
        t.ensure(1, 75_000, &mut armed, 0);
        assert_eq!((t.len(), armed), (0, Armed::default()));
        t.ensure(1, 75_000, &mut armed, 75_000 - HORIZON);
        assert_eq!((t.len(), t.next()), (1, Some(75_000)));
    }

    #[test]
    fn expired_entries_come_out_in_order_and_no_earlier() {
        let mut t = Timers::new();
        let (mut a, mut b) = (Armed::default(), Armed::default());
        t.ensure(1, 200, &mut a, 0);
        t.ensure(999_999, 100, &mut b, 0);
        assert_eq!(t.pop_expired(99), None);
        assert_eq!(t.pop_expired(250), Some((100, 999_999)));
        assert_eq!(t.pop_expired(250), Some((200, 1)));
        assert_eq!(t.pop_expired(250), None);
    }
}
