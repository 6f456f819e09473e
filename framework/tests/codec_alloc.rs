//! The hot path allocates nothing once warm: parsing a head into a reused
//! `RequestHead`, decoding a chunk into a reserved Vec, encoding a response
//! into a reserved Vec, and refreshing the Date cache.

use percore::http::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, UNIX_EPOCH};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts calls on this thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds GlobalAlloc's contract, which we forward.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn allocs<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCS.with(Cell::get);
    let r = f();
    (ALLOCS.with(Cell::get) - before, r)
}

#[test]
fn hot_path_does_not_allocate() {
    let limits = Limits::default();
    let mut head = RequestHead::new();
    let reqs: &[&[u8]] = &[
        b"GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\nAccept: text/plain\r\nConnection: keep-alive\r\n\r\n",
        b"POST /echo?x=1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET http://a/b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    ];
    for req in reqs {
        assert_eq!(
            parse_head(req, &limits, &mut head),
            Ok(ParseStatus::Complete)
        );
    }
    for req in reqs {
        let (n, r) = allocs(|| parse_head(req, &limits, &mut head));
        assert_eq!(r, Ok(ParseStatus::Complete));
        assert_eq!(
            n,
            0,
            "parse_head allocated for {:?}",
            String::from_utf8_lossy(req)
        );
    }

    let mut dec = ChunkedDecoder::new(1 << 20);
    let mut body = Vec::with_capacity(64);
    let (n, r) = allocs(|| dec.decode(b"5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n", &mut body));
    assert_eq!(r, Ok(DecodeStatus::Complete { consumed: 25 }));
    assert_eq!(n, 0);

    let mut date = DateCache::new();
    let mut out = Vec::with_capacity(1024);
    let (n, ()) = allocs(|| {
        date.refresh(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let p = ResponseHeadParams {
            status: http::StatusCode::OK,
            date: date.get(),
            server: b"percore",
            length: BodyLength::Fixed(13),
            close: false,
            keep_alive_10: true,
        };
        let extra: [(&[u8], &[u8]); 1] = [(b"content-type", b"text/plain")];
        write_head(&mut out, &p, extra.into_iter());
        out.extend_from_slice(b"Hello, World!");
        write_chunk(&mut out, b"abc");
        write_last_chunk(&mut out);
        write_error(
            &mut out,
            http::StatusCode::BAD_REQUEST,
            date.get(),
            b"percore",
        );
    });
    assert_eq!(n, 0);
}
