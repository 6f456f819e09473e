//! A per-core pool of byte buffers, so connections borrow read and write
//! buffers only while they have bytes in them, and the hot path allocates
//! nothing after warm-up.

/// Buffers kept, at most; more are freed.
const MAX_POOLED: usize = 1024;
/// A buffer that grew past this (a large body) is freed rather than pooled.
const MAX_POOLED_CAPACITY: usize = 64 * 1024;
/// Capacity of a new buffer.
const INITIAL_CAPACITY: usize = 4096;

/// The pool.
#[derive(Default)]
pub struct BufPool {
    free: Vec<Vec<u8>>,
}

impl BufPool {
    /// An empty pool.
    pub fn new() -> BufPool {
        BufPool {
            free: Vec::with_capacity(MAX_POOLED),
        }
    }

    /// An empty buffer, reused if one is free.
    pub fn get(&mut self) -> Vec<u8> {
        self.free
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(INITIAL_CAPACITY))
    }

    /// Makes sure `buf` has capacity, taking a pooled buffer if it has none.
    pub fn ensure(&mut self, buf: &mut Vec<u8>) {
        if buf.capacity() == 0 {
            *buf = self.get();
        }
    }

    /// Returns a buffer. Buffers with no capacity are dropped (nothing to keep).
    pub fn put(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() == 0
            || buf.capacity() > MAX_POOLED_CAPACITY
            || self.free.len() >= MAX_POOLED
        {
            return;
        }
        buf.clear();
        self.free.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_returned_buffers_and_drops_huge_ones() {
        let mut pool = BufPool::new();
        let mut b = pool.get();
        b.extend_from_slice(b"abc");
        let ptr = b.as_ptr();
        pool.put(b);
        let again = pool.get();
        assert_eq!(again.as_ptr(), ptr);
        assert!(again.is_empty());
        pool.put(Vec::with_capacity(MAX_POOLED_CAPACITY + 1));
        assert!(pool.free.is_empty());
    }
}
