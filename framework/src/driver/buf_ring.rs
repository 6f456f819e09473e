//! The per-core provided buffer ring: the receive memory that multishot recv
//! picks from.
//!
//! A connection holds no receive buffer while it is idle; the kernel takes one
//! from this ring only when bytes arrive, and the event loop gives it back as
//! soon as those bytes have been parsed (or copied into the connection's own
//! buffer, for a request split across reads).
//!
//! Buffers are consumed incrementally where the kernel can
//! (`IOU_PBUF_RING_INC`, Linux 6.12): a recv takes only the bytes it
//! fills, and the next recv (of any connection) continues in the same
//! buffer. Forty-byte requests then share a buffer instead of taking 4 KiB
//! each: the ring's memory a core touches follows the bytes received, not
//! the number of recvs. 10,000 one-request connections touched every
//! buffer of every core before, 552 bytes of RSS each with two workers;
//! 219 bytes since (BENCHMARKS.md, idle memory). The bytes a busy core
//! parses sit in a few hot pages too.
//!
//! Memory layout: `entries` ring slots of `io_uring_buf` (16 bytes each, page
//! aligned, mapped with mmap) shared with the kernel, and one contiguous
//! allocation of `entries * buf_size` bytes that the slots point into. The ring
//! tail is the `u16` overlaid on the `resv` field of slot 0 (liburing's
//! `io_uring_buf_ring` layout).

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::Submitter;

/// `IOU_PBUF_RING_INC` (linux/io_uring.h; the io-uring crate keeps its
/// `sys` module private).
const IOU_PBUF_RING_INC: u16 = 2;

/// Byte offset of the shared tail inside slot 0 (`struct io_uring_buf_ring`).
const TAIL_OFFSET: usize = 14;

/// A registered provided-buffer ring and the buffers it hands out.
pub struct BufRing {
    ring: NonNull<BufRingEntry>,
    ring_bytes: usize,
    buffers: Box<[u8]>,
    buf_size: u32,
    mask: u16,
    /// Our copy of the tail; published to the kernel by [`BufRing::publish`].
    tail: u16,
    published: u16,
    group: u16,
    /// Buffers the kernel may fill: published, not yet handed back in a CQE.
    available: u32,
    entries: u32,
    /// Consumed incrementally (the kernel accepted `IOU_PBUF_RING_INC`).
    incremental: bool,
    /// Per buffer: bytes already handed out in earlier CQEs (incremental
    /// consumption: the next CQE's bytes start there).
    consumed: Box<[u32]>,
}

impl BufRing {
    /// Maps the ring, registers it as buffer group `group` and provides every
    /// buffer. `entries` must be a power of two no larger than 32768.
    pub fn new(
        submitter: &Submitter<'_>,
        group: u16,
        entries: u16,
        buf_size: u32,
    ) -> io::Result<BufRing> {
        if !entries.is_power_of_two() || entries > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer ring entries must be a power of two <= 32768",
            ));
        }
        let ring_bytes = entries as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping owned by this BufRing; nothing
        // else aliases it. It is unmapped in Drop, after the ring (and so the
        // kernel's use of it) is gone: the worker drops the IoUring first.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ring = NonNull::new(addr.cast::<BufRingEntry>()).expect("mmap returned null");
        let buffers = vec![0u8; entries as usize * buf_size as usize].into_boxed_slice();
        let mut this = BufRing {
            ring,
            ring_bytes,
            buffers,
            buf_size,
            mask: entries - 1,
            tail: 0,
            published: 0,
            group,
            available: 0,
            entries: entries as u32,
            incremental: true,
            consumed: vec![0; entries as usize].into_boxed_slice(),
        };
        // SAFETY: the mapping lives as long as `this`, which the worker keeps
        // until after the ring is dropped (see field order in the worker).
        let addr = this.ring.as_ptr() as u64;
        let inc = IOU_PBUF_RING_INC;
        // SAFETY: as above, for either registration.
        if let Err(e) = unsafe { submitter.register_buf_ring_with_flags(addr, entries, group, inc) }
        {
            // A kernel before 6.12 refuses the flag: whole buffers, then.
            if e.raw_os_error() != Some(libc::EINVAL) {
                return Err(e);
            }
            this.incremental = false;
            // SAFETY: as above.
            unsafe { submitter.register_buf_ring_with_flags(addr, entries, group, 0)? };
        }
        for bid in 0..entries {
            this.recycle(bid);
        }
        this.publish();
        Ok(this)
    }

    /// Buffer group id to name in recv SQEs.
    pub fn group(&self) -> u16 {
        self.group
    }

    /// A CQE with these `flags` named a buffer. Unless the kernel keeps
    /// filling it (`IORING_CQE_F_BUF_MORE`), the buffer has left the ring
    /// (it comes back by [`BufRing::release`]).
    pub fn taken(&mut self, flags: u32) {
        if !io_uring::cqueue::buffer_more(flags) {
            self.available = self.available.saturating_sub(1);
        }
    }

    /// Buffers the kernel may fill now, and how many the ring has. Equal
    /// after a loop turn's publish unless a buffer was lost.
    pub fn available(&self) -> (u32, u32) {
        (self.available, self.entries)
    }

    /// The `len` bytes a CQE says the kernel wrote into buffer `bid`
    /// (after the bytes of its earlier CQEs, when consumed incrementally).
    pub fn filled(&self, bid: u16, len: usize) -> &[u8] {
        let size = self.buf_size as usize;
        let offset = self.consumed.get(bid as usize).map_or(0, |&c| c as usize);
        let start = bid as usize * size + offset.min(size);
        let len = len.min(size - offset.min(size));
        &self.buffers[start..start + len]
    }

    /// The bytes of a CQE (`len`, `flags`) in buffer `bid` were used: the
    /// buffer goes back to the ring, unless the kernel keeps filling it
    /// (`IORING_CQE_F_BUF_MORE`), in which case its next bytes follow these.
    pub fn release(&mut self, bid: u16, len: usize, flags: u32) {
        let Some(consumed) = self.consumed.get_mut(bid as usize) else {
            return;
        };
        if self.incremental && io_uring::cqueue::buffer_more(flags) {
            *consumed += len as u32;
        } else {
            *consumed = 0;
            self.recycle(bid);
        }
    }

    /// Whether buffers are consumed incrementally.
    pub fn incremental(&self) -> bool {
        self.incremental
    }

    /// Gives buffer `bid` back: writes its slot at the tail. The kernel sees
    /// it after the next [`BufRing::publish`].
    fn recycle(&mut self, bid: u16) {
        let slot = (self.tail & self.mask) as usize;
        let addr = self.buffers.as_ptr() as u64 + bid as u64 * self.buf_size as u64;
        // SAFETY: `slot < entries`, inside the mapping. Slots between the
        // published tail and our tail are not yet visible to the kernel, so
        // we are their only writer. Fields are written through the entry
        // accessors, never the tail (bytes 14..16 of slot 0), except bid/len/addr
        // which the kernel only reads after publish.
        let entry = unsafe { &mut *self.ring.as_ptr().add(slot) };
        entry.set_addr(addr);
        entry.set_len(self.buf_size);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes every recycled buffer visible to the kernel (release store of the
    /// tail, so the slot writes happen-before the kernel reads them).
    pub fn publish(&mut self) {
        if self.published == self.tail {
            return;
        }
        // SAFETY: the tail is a u16 at byte 14 of slot 0, 2-byte aligned, inside
        // the mapping; the kernel reads it concurrently, hence the atomic.
        let tail = unsafe {
            &*(self
                .ring
                .as_ptr()
                .cast::<u8>()
                .add(TAIL_OFFSET)
                .cast::<AtomicU16>())
        };
        tail.store(self.tail, Ordering::Release);
        self.available += self.tail.wrapping_sub(self.published) as u32;
        self.published = self.tail;
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: the mapping was created in `new` with this length; the ring
        // that read it has been dropped before us (worker field order).
        unsafe {
            libc::munmap(self.ring.as_ptr().cast(), self.ring_bytes);
        }
    }
}
