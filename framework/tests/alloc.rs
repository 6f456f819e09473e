//! Zero heap allocations per keep-alive plaintext request after warm-up,
//! counted by a global allocator wrapped around the whole process (server
//! worker and client alike; the client below allocates nothing in the loop).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use percore::{get, App, Response};

struct Counting;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const REQUEST: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n";
const ASYNC_REQUEST: &[u8] = b"GET /async/plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// Sends `n` requests one at a time and reads exactly `n * len` bytes back.
fn run(s: &mut std::net::TcpStream, n: usize, len: usize, buf: &mut [u8]) {
    run_request(s, REQUEST, n, len, buf)
}

fn run_request(s: &mut std::net::TcpStream, request: &[u8], n: usize, len: usize, buf: &mut [u8]) {
    for _ in 0..n {
        s.write_all(request).unwrap();
        let mut got = 0;
        while got < len {
            let k = s.read(&mut buf[got..len]).unwrap();
            assert!(k > 0, "closed");
            got += k;
        }
        assert!(buf[..len].ends_with(b"Hello, World!"));
    }
}

/// The counter is process-wide: the tests of this file take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn keep_alive_plaintext_allocates_nothing_per_request() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = common::start(1, |_| {
        App::new().route(
            "/plaintext",
            get(|| {
                Response::ok()
                    .content_type_static("text/plain")
                    .body("Hello, World!")
            }),
        )
    });
    let mut s = common::connect(server.local_addr());
    let mut buf = vec![0u8; 4096];
    // Learn the response length (constant: the Date header is fixed-width).
    s.write_all(REQUEST).unwrap();
    let len = s.read(&mut buf).unwrap();
    assert!(
        buf[..len].ends_with(b"Hello, World!"),
        "one read holds the response"
    );

    run(&mut s, 2_000, len, &mut buf); // warm-up: pools and buffers fill
    const N: usize = 20_000;
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    run(&mut s, N, len, &mut buf);
    let per_request = (ALLOCATIONS.load(Ordering::SeqCst) - before) as f64 / N as f64;
    // Once a second the Date header is reformatted (a String from httpdate);
    // everything else must be allocation-free.
    assert!(per_request < 0.001, "{per_request} allocations per request");
    eprintln!("allocations per request after warm-up: {per_request}");
}

#[test]
fn an_async_handler_allocates_nothing_per_request_after_warm_up() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = common::start(1, |_| {
        App::new().route(
            "/async/plaintext",
            get(|req: percore::Request| async move {
                // The owned request is usable across an await.
                let _ = req.path();
                Response::ok()
                    .content_type_static("text/plain")
                    .body("Hello, World!")
            }),
        )
    });
    let mut s = common::connect(server.local_addr());
    let mut buf = vec![0u8; 4096];
    s.write_all(ASYNC_REQUEST).unwrap();
    let len = s.read(&mut buf).unwrap();
    assert!(buf[..len].ends_with(b"Hello, World!"));
    run_request(&mut s, ASYNC_REQUEST, 2_000, len, &mut buf);
    const N: usize = 10_000;
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    run_request(&mut s, ASYNC_REQUEST, N, len, &mut buf);
    let per_request = (ALLOCATIONS.load(Ordering::SeqCst) - before) as f64 / N as f64;
    // None after warm-up: the task's future runs in a slot of its handler's
    // pool, the owned request comes from the core's pool (the Date header's
    // once-a-second String aside).
    assert!(per_request < 0.01, "{per_request} allocations per request");
    eprintln!("async allocations per request after warm-up: {per_request}");
}

#[test]
fn a_sync_handler_of_extractors_allocates_nothing_per_request() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = common::start(1, |_| {
        App::new().route(
            "/items/:id",
            get(|percore::Path(id): percore::Path<u32>| {
                Response::ok()
                    .content_type_static("text/plain")
                    .body(if id == 7 { "Hello, World!" } else { "other" })
            }),
        )
    });
    const ITEM: &[u8] = b"GET /items/7 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut s = common::connect(server.local_addr());
    let mut buf = vec![0u8; 4096];
    s.write_all(ITEM).unwrap();
    let len = s.read(&mut buf).unwrap();
    assert!(buf[..len].ends_with(b"Hello, World!"));
    run_request(&mut s, ITEM, 2_000, len, &mut buf);
    const N: usize = 10_000;
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    run_request(&mut s, ITEM, N, len, &mut buf);
    let per_request = (ALLOCATIONS.load(Ordering::SeqCst) - before) as f64 / N as f64;
    // A typed path capture is parsed in place: nothing allocated (the
    // Date header's once-a-second String aside).
    assert!(per_request < 0.01, "{per_request} allocations per request");
}
