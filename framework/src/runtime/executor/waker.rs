//! Task wakers: no allocation, no reference count. A waker's data is the
//! task's id packed into the pointer: the core's registry key (16 bits),
//! the task's slot (24) and its generation (24).
//!
//! A wake on the task's own core pushes it on the core's ready queue. A wake
//! from any other thread (a `spawn_blocking` thread, a foreign library)
//! goes through the process-wide registry to that core's remote queue and
//! its eventfd, which the core's ring is reading; it never touches the
//! core's state. A stale id (the task or even the core gone, its key or
//! slot reused) at worst wakes a task spuriously, which futures allow.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::task::{RawWaker, RawWakerVTable, Waker};

use slab::Slab;

/// A task's identity, as packed in its waker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TaskId {
    pub(crate) core: u16,
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

const MASK24: u64 = (1 << 24) - 1;

impl TaskId {
    pub(crate) fn pack(self) -> u64 {
        (self.core as u64) << 48
            | (self.index as u64 & MASK24) << 24
            | (self.generation as u64 & MASK24)
    }

    pub(crate) fn unpack(v: u64) -> TaskId {
        TaskId {
            core: (v >> 48) as u16,
            index: ((v >> 24) & MASK24) as u32,
            generation: (v & MASK24) as u32,
        }
    }
}

/// Where other threads leave wakes for a core.
pub(crate) struct Remote {
    queue: Mutex<Vec<u64>>,
    eventfd: OwnedFd,
}

impl Remote {
    pub(crate) fn new(eventfd: OwnedFd) -> Remote {
        Remote {
            queue: Mutex::new(Vec::new()),
            eventfd,
        }
    }

    fn push(&self, packed: u64) {
        let first = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.push(packed);
            q.len() == 1
        };
        if first {
            let one = 1u64.to_ne_bytes();
            // SAFETY: an 8-byte write from a stack array to an eventfd this
            // Remote owns (kept open while the registry holds the Remote).
            unsafe { libc::write(self.eventfd.as_raw_fd(), one.as_ptr().cast(), 8) };
        }
    }

    /// Takes every wake left so far.
    pub(crate) fn drain(&self, into: &mut Vec<u64>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        into.append(&mut q);
    }
}

/// The cores of this process that can be woken from other threads.
static REGISTRY: Mutex<Slab<Arc<Remote>>> = Mutex::new(Slab::new());

/// Registers a core's remote queue; its key goes into every waker it makes.
pub(crate) fn register(remote: Arc<Remote>) -> u16 {
    let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let key = reg.insert(remote);
    assert!(
        key <= u16::MAX as usize,
        "more than 65536 percore workers in one process"
    );
    key as u16
}

/// Forgets a core (its worker is exiting).
pub(crate) fn unregister(key: u16) {
    let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    reg.try_remove(key as usize);
}

/// The waker of task `id`.
pub(crate) fn waker(id: TaskId) -> Waker {
    // SAFETY: the vtable's functions treat the data as a plain integer; no
    // memory is behind it, so any thread may clone, wake or drop it.
    unsafe { Waker::from_raw(raw(id.pack())) }
}

fn raw(packed: u64) -> RawWaker {
    RawWaker::new(packed as usize as *const (), &VTABLE)
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop_waker);

fn clone(data: *const ()) -> RawWaker {
    raw(data as usize as u64)
}

fn wake(data: *const ()) {
    let id = TaskId::unpack(data as usize as u64);
    if super::wake_local(id) {
        return;
    }
    let remote = {
        let reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        reg.get(id.core as usize).cloned()
    };
    if let Some(remote) = remote {
        remote.push(id.pack());
    }
}

fn drop_waker(_: *const ()) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_pack_and_unpack() {
        for id in [
            TaskId {
                core: 0,
                index: 0,
                generation: 0,
            },
            TaskId {
                core: u16::MAX,
                index: (1 << 24) - 1,
                generation: (1 << 24) - 1,
            },
            TaskId {
                core: 7,
                index: 12345,
                generation: 99,
            },
        ] {
            assert_eq!(TaskId::unpack(id.pack()), id);
        }
    }
}
