//! A warm lookup allocates nothing: the router is on every request's path,
//! so this is checked with a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use http::Method;
use percore::router::{Lookup, Params, Router};

/// Counts allocations made by the current thread (other test threads do
/// not disturb the count).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the allocator may run while thread-locals are torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System` upholds the `GlobalAlloc` contract; counting
// touches only a const-initialised thread-local `Cell`, which never
// allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as is; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn warm_lookups_do_not_allocate() {
    let mut router = Router::new();
    for (i, pattern) in [
        "/",
        "/plaintext",
        "/json",
        "/db",
        "/queries",
        "/fortunes",
        "/updates",
        "/users/:id",
        "/users/:id/posts/:post",
        "/static/*rest",
    ]
    .into_iter()
    .enumerate()
    {
        router.insert(Method::GET, pattern, i).unwrap();
    }
    router.insert(Method::POST, "/echo", 99).unwrap();
    let purge = Method::from_bytes(b"PURGE").unwrap();
    router.insert(purge.clone(), "/cache/:key", 100).unwrap();

    let requests: [(&Method, &[u8], Lookup<'_, usize>); 8] = [
        (&Method::GET, b"/plaintext", Lookup::Found(&1)),
        (&Method::HEAD, b"/plaintext", Lookup::Found(&1)),
        (
            &Method::GET,
            b"/users/42/posts/caf%C3%A9",
            Lookup::Found(&8),
        ),
        (&Method::GET, b"/static/css/a%20b.css", Lookup::Found(&9)),
        (&purge, b"/cache/k%2F1", Lookup::Found(&100)),
        (&Method::GET, b"/missing", Lookup::NotFound),
        (&Method::GET, b"/users/%FF", Lookup::NotFound),
        (
            &Method::DELETE,
            b"/echo",
            Lookup::MethodNotAllowed { allow: "POST" },
        ),
    ];

    let mut params = Params::new();
    // Warm-up: let `params` grow its buffers.
    for (method, path, want) in &requests {
        assert_eq!(router.lookup(method, path, &mut params), *want);
    }
    for (method, path, want) in &requests {
        let mut got = Lookup::NotFound;
        let n = allocations_during(|| got = router.lookup(method, path, &mut params));
        assert_eq!(got, *want);
        assert_eq!(n, 0, "{method} {}", String::from_utf8_lossy(path));
    }
    // The params of a warm lookup are usable without allocating either.
    let n = allocations_during(|| {
        router.lookup(&Method::GET, b"/users/42/posts/caf%C3%A9", &mut params);
        assert_eq!(params.get("id"), Some("42"));
        assert_eq!(params.get("post"), Some("café"));
        assert_eq!(params.iter().count(), 2);
    });
    assert_eq!(n, 0);
    // The counter works at all.
    assert!(allocations_during(|| drop(Box::new(1u8))) > 0);
}
