//! Metrics: per-core counters, and a Prometheus text endpoint on its own
//! address (`[metrics] listen`, off by default) that reads them.
//!
//! Each core writes only its own [`Counters`] (a cache-line-aligned block):
//! a relaxed load and a relaxed store per count, a plain `mov` on x86, no
//! locked instruction and no line shared between cores while serving. The
//! scraper's thread reads every core's block when asked (relaxed loads: a
//! count may be a few requests behind, never torn). The cores always
//! count, whether or not the endpoint is on, so turning it on changes
//! nothing on the request path.
//!
//! On the request path: the exchange counts each request as it is answered
//! (by method, by status class, the time from dispatch to answer); the
//! worker bytes, connections and the engine's events (receive buffers
//! exhausted, submissions that waited for a full SQ, cancelled ops); the
//! static file cache counts hits, misses and evictions.

mod serve;
mod text;

pub(crate) use serve::spawn_endpoint;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// One count, written by one core only.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds `n` (the owning core only: not an atomic read-modify-write).
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Sets a value the core keeps elsewhere (its ring's counts).
    #[inline]
    pub(crate) fn set(&self, n: u64) {
        self.0.store(n, Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Method classes requests are counted by.
pub(crate) const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "DELETE", "other"];
/// Status classes answers are counted by.
pub(crate) const STATUSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Upper bounds of the request-time buckets, in milliseconds (the core's
/// loop clock: an answer given in the turn its request arrived takes 0).
pub(crate) const BUCKETS_MS: [u64; 12] = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/// A core's counters.
#[repr(align(64))]
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) requests: [Counter; METHODS.len()],
    pub(crate) responses: [Counter; STATUSES.len()],
    /// Request time: per bucket (not cumulative), then the count past the
    /// last, the sum in ms.
    pub(crate) time_buckets: [Counter; BUCKETS_MS.len() + 1],
    pub(crate) time_sum_ms: Counter,
    pub(crate) bytes_in: Counter,
    pub(crate) bytes_out: Counter,
    pub(crate) accepted: Counter,
    pub(crate) closed: Counter,
    pub(crate) cap_waits: Counter,
    pub(crate) closed_at_cap: Counter,
    pub(crate) accept_errors: Counter,
    pub(crate) tls_handshakes: Counter,
    pub(crate) tls_failures: Counter,
    pub(crate) recv_buffers_exhausted: Counter,
    pub(crate) recv_buffers_free: Counter,
    pub(crate) sq_full: Counter,
    pub(crate) ops_cancelled: Counter,
    pub(crate) file_cache_hits: Counter,
    pub(crate) file_cache_misses: Counter,
    pub(crate) file_cache_evictions: Counter,
}

/// The class of requests whose method is none of the named ones (or that
/// had none: a request the codec refused).
pub(crate) const OTHER_METHOD: u8 = 5;

/// The index of `method` in [`METHODS`].
#[inline]
pub(crate) fn method_class(method: &http::Method) -> u8 {
    match *method {
        http::Method::GET => 0,
        http::Method::HEAD => 1,
        http::Method::POST => 2,
        http::Method::PUT => 3,
        http::Method::DELETE => 4,
        _ => OTHER_METHOD,
    }
}

impl Counters {
    /// An answer was given, `took_ms` after its request was dispatched.
    #[inline]
    pub(crate) fn response(&self, status: u16, took_ms: u64) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.responses[class].add(1);
        let bucket = BUCKETS_MS
            .iter()
            .position(|&le| took_ms <= le)
            .unwrap_or(BUCKETS_MS.len());
        self.time_buckets[bucket].add(1);
        if took_ms > 0 {
            self.time_sum_ms.add(took_ms);
        }
    }
}

/// Every core's counters, in core order.
pub(crate) type Registry = Arc<[Arc<Counters>]>;

thread_local! {
    /// This worker's counters, for code far from the worker (the file cache).
    static CORE: RefCell<Option<Arc<Counters>>> = const { RefCell::new(None) };
}

/// Makes `counters` this thread's (a worker, at start).
pub(crate) fn install(counters: Arc<Counters>) {
    CORE.with(|c| *c.borrow_mut() = Some(counters));
}

/// Counts on this thread's counters, if it is a worker.
pub(crate) fn count(f: impl FnOnce(&Counters)) {
    CORE.with(|c| {
        if let Some(c) = c.borrow().as_deref() {
            f(c)
        }
    });
}
