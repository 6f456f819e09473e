//! The connection engine against real sockets, for the bugs real clients
//! hit: bodies up to the limit (never paused inside a body), clients that
//! half-close after their requests (every kind of response still arrives in
//! full), pipelined requests followed by a half-close, and timeouts that
//! never fire early. Each runs with one worker and with two.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use percore::fs::StaticFiles;
use percore::{get, post, App, Request, Response, RunningServer};

const MAX_BODY: usize = 1024 * 1024;
const BIG_FILE: usize = 3 * 1024 * 1024 + 17;
const MID_FILE: usize = 60_000;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(seed as u32) as u8
        })
        .collect()
}

/// A directory with a 3 MiB file (spliced) and a 60 KB one, made once.
fn files_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("percore-engine-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("big.bin"), pattern(BIG_FILE, 3)).unwrap();
        std::fs::write(dir.join("mid.bin"), pattern(MID_FILE, 5)).unwrap();
        dir
    })
    .clone()
}

fn app() -> App {
    App::new()
        .route("/plaintext", get(|| "Hello, World!"))
        .route(
            "/echo",
            post(|req: &Request| Response::ok().body(req.body().to_vec())),
        )
        .mount("/files", StaticFiles::new(files_dir()))
}

fn server(workers: usize) -> RunningServer {
    start(workers, |_| app())
}

fn server_with(workers: usize, tweak: impl FnOnce(&mut percore::Config)) -> RunningServer {
    start_with(workers, tweak, |_| app())
}

/// Writes `bytes` in `piece`-byte writes, pausing now and then (trickled).
fn write_trickled(s: &mut TcpStream, bytes: &[u8], piece: usize) {
    for (i, p) in bytes.chunks(piece).enumerate() {
        s.write_all(p).unwrap();
        if i % 64 == 63 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn post_request(body: &[u8], chunked: bool, expect: bool) -> (Vec<u8>, Vec<u8>) {
    let expect = if expect {
        "Expect: 100-continue\r\n"
    } else {
        ""
    };
    if chunked {
        let head =
            format!("POST /echo HTTP/1.1\r\nHost: x\r\n{expect}Transfer-Encoding: chunked\r\n\r\n");
        let mut b = Vec::new();
        for piece in body.chunks(10_000) {
            b.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            b.extend_from_slice(piece);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"0\r\n\r\n");
        (head.into_bytes(), b)
    } else {
        let head = format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\n{expect}Content-Length: {}\r\n\r\n",
            body.len()
        );
        (head.into_bytes(), body.to_vec())
    }
}

/// Sends a POST of `len` bytes and returns the final response.
fn post_body(addr: SocketAddr, len: usize, chunked: bool, expect: bool, trickle: bool) -> Resp {
    let body = pattern(len, 7);
    let (head, payload) = post_request(&body, chunked, expect);
    let mut s = connect(addr);
    let mut pending = Vec::new();
    s.write_all(&head).unwrap();
    if expect {
        let r = read_response(&mut s, &mut pending, false);
        if r.status != 100 {
            return r; // refused before the body (413)
        }
    }
    if trickle {
        write_trickled(&mut s, &payload, 4096);
    } else {
        s.write_all(&payload).unwrap();
    }
    let r = read_response(&mut s, &mut pending, false);
    if r.status == 200 {
        assert_eq!(r.body.len(), len, "echoed length");
        assert!(r.body == body, "echoed bytes differ");
    }
    r
}

#[test]
fn bodies_up_to_the_limit_complete_in_one_write_and_trickled() {
    for workers in [1, 2] {
        let server = server(workers);
        let addr = server.local_addr();
        for len in [
            0,
            1,
            256 * 1024,
            300 * 1024,
            500 * 1024,
            900 * 1024,
            MAX_BODY,
        ] {
            for chunked in [false, true] {
                for expect in [false, true] {
                    for trickle in [false, true] {
                        let r = post_body(addr, len, chunked, expect, trickle);
                        assert_eq!(
                            r.status, 200,
                            "{len} bytes, chunked {chunked}, expect {expect}, trickled {trickle}, {workers} workers"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_body_one_byte_over_the_limit_is_413() {
    for workers in [1, 2] {
        over_the_limit(workers);
    }
}

fn over_the_limit(workers: usize) {
    let server = server(workers);
    for chunked in [false, true] {
        for expect in [false, true] {
            let body = pattern(MAX_BODY + 1, 1);
            let (head, payload) = post_request(&body, chunked, expect);
            let mut s = connect(server.local_addr());
            s.write_all(&head).unwrap();
            if !expect || chunked {
                // The server answers as soon as it knows; it may close before
                // reading all of the body, so a failed write is fine.
                let _ = s.write_all(&payload);
            }
            let mut pending = Vec::new();
            let mut r = read_response(&mut s, &mut pending, false);
            if r.status == 100 {
                let _ = s.write_all(&payload);
                r = read_response(&mut s, &mut pending, false);
            }
            assert_eq!(
                r.status, 413,
                "chunked {chunked}, expect {expect}, {workers} workers"
            );
        }
    }
}

/// Sends `request`, half-closes, and reads to the server's close.
fn half_close_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let (bytes, closed) = read_to_close(&mut s);
    assert!(closed, "the server closes after answering");
    bytes
}

fn all_responses(mut bytes: &[u8], head: bool) -> Vec<Resp> {
    let mut out = Vec::new();
    while let Some((r, used)) = parse_response(bytes, head) {
        out.push(r);
        bytes = &bytes[used..];
    }
    assert!(bytes.is_empty(), "{} trailing bytes", bytes.len());
    out
}

#[test]
fn a_half_closing_client_gets_every_kind_of_response_in_full() {
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    let cases: Vec<(&str, Vec<u8>, u16, usize)> = vec![
        (
            "close",
            b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            200,
            13,
        ),
        (
            "http/1.0",
            b"GET /plaintext HTTP/1.0\r\n\r\n".to_vec(),
            200,
            13,
        ),
        (
            "keep-alive",
            b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            200,
            13,
        ),
        (
            "400",
            b"GET /plaintext HTTP/1.1\r\n\r\n".to_vec(),
            400,
            usize::MAX,
        ),
        (
            "404",
            b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            404,
            usize::MAX,
        ),
        ("414", long_target.into_bytes(), 414, usize::MAX),
        (
            "spliced file",
            b"GET /files/big.bin HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            200,
            BIG_FILE,
        ),
        (
            "spliced file, 1.0",
            b"GET /files/big.bin HTTP/1.0\r\n\r\n".to_vec(),
            200,
            BIG_FILE,
        ),
        (
            "file",
            b"GET /files/mid.bin HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            200,
            MID_FILE,
        ),
        (
            "echo",
            post_request(b"hello", false, false)
                .0
                .into_iter()
                .chain(*b"hello")
                .collect(),
            200,
            5,
        ),
    ];
    for workers in [1, 2] {
        let server = server(workers);
        for (name, request, status, len) in &cases {
            for attempt in 0..20 {
                let bytes = half_close_exchange(server.local_addr(), request);
                let got = all_responses(&bytes, false);
                assert_eq!(got.len(), 1, "{name} try {attempt}, {workers} workers");
                assert_eq!(got[0].status, *status, "{name}");
                if *len != usize::MAX {
                    assert_eq!(got[0].body.len(), *len, "{name} try {attempt}");
                }
            }
        }
        let big = half_close_exchange(server.local_addr(), &cases[6].1);
        assert!(
            all_responses(&big, false)[0].body == pattern(BIG_FILE, 3),
            "file bytes"
        );
    }
}

#[test]
fn pipelined_requests_then_a_half_close_are_all_answered() {
    for workers in [1, 2] {
        let server = server(workers);
        let addr = server.local_addr();
        let mid = b"GET /files/mid.bin HTTP/1.1\r\nHost: x\r\n\r\n".repeat(20);
        for attempt in 0..10 {
            let got = all_responses(&half_close_exchange(addr, &mid), false);
            assert_eq!(got.len(), 20, "try {attempt}, {workers} workers");
            assert!(got
                .iter()
                .all(|r| r.status == 200 && r.body.len() == MID_FILE));
        }
        // 20,000 pipelined requests: the client writes them all, then
        // half-closes, while a second thread reads every answer.
        let plain = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n".repeat(20_000);
        let mut s = connect(addr);
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut reader = s.try_clone().unwrap();
        let read = std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = reader.read_to_end(&mut all);
            all
        });
        s.write_all(&plain).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let all = read.join().unwrap();
        let count = memchr::memmem::find_iter(&all, b"Hello, World!").count();
        assert_eq!(count, 20_000, "{workers} workers");
    }
}

/// How long until the server closes `s` (or answers and closes).
fn time_to_close(s: &mut TcpStream, started: Instant) -> (Duration, Vec<u8>) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (bytes, closed) = read_to_close(s);
    assert!(closed, "closed by the server");
    (started.elapsed(), bytes)
}

fn assert_within(what: &str, took: Duration, secs: u64) {
    assert!(
        took >= Duration::from_secs(secs),
        "{what}: fired after {took:?}, before {secs} s"
    );
    // At most N+1 s by design; the rest is slack for a loaded machine.
    assert!(
        took <= Duration::from_millis(secs * 1000 + 1500),
        "{what}: fired after {took:?}, long after {secs} s"
    );
}

#[test]
fn timeouts_never_fire_early() {
    for workers in [1, 2] {
        let server = server_with(workers, |c| {
            c.timeouts.keepalive_secs = 1;
            c.timeouts.header_secs = 2;
            c.timeouts.body_secs = 3;
            c.timeouts.send_secs = 2;
        });
        let addr = server.local_addr();
        std::thread::scope(|scope| {
            // Keep-alive: idle after a response.
            scope.spawn(|| {
                let mut s = connect(addr);
                let mut pending = Vec::new();
                s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                read_response(&mut s, &mut pending, false);
                let t = Instant::now();
                let (took, rest) = time_to_close(&mut s, t);
                assert!(rest.is_empty());
                assert_within("keep-alive 1 s", took, 1);
            });
            // Header: a partial head, trickled, from its first byte.
            scope.spawn(|| {
                let mut s = connect(addr);
                let t = Instant::now();
                s.write_all(b"GET /plaintext HT").unwrap();
                std::thread::sleep(Duration::from_millis(700));
                s.write_all(b"TP/1.1\r\n").unwrap();
                let (took, bytes) = time_to_close(&mut s, t);
                assert!(
                    bytes.starts_with(b"HTTP/1.1 408 "),
                    "{:?}",
                    String::from_utf8_lossy(&bytes)
                );
                assert_within("header 2 s", took, 2);
            });
            // Body after 100-continue: the send of the 100 does not replace
            // the body's deadline with the send's.
            scope.spawn(|| {
                let mut s = connect(addr);
                let t = Instant::now();
                s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
                    .unwrap();
                let (took, bytes) = time_to_close(&mut s, t);
                let text = String::from_utf8_lossy(&bytes);
                assert!(text.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 408 "), "{text}");
                assert_within("body 3 s after 100-continue", took, 3);
            });
            // A fresh connection that sends nothing: the header timeout.
            scope.spawn(|| {
                // The clock starts before the handshake: the server may
                // accept (and start its own) before `connect` returns here.
                let t = Instant::now();
                let mut s = connect(addr);
                let (took, bytes) = time_to_close(&mut s, t);
                assert!(bytes.is_empty());
                assert_within("silent connection", took, 2);
            });
        });
    }
}

#[test]
fn a_body_trickled_slower_than_its_timeout_overall_but_steadily_completes() {
    // The body timeout is extended on every read: 3 s of steady trickle
    // against a 1 s body timeout succeeds.
    let server = server_with(2, |c| c.timeouts.body_secs = 1);
    let mut s = connect(server.local_addr());
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n")
        .unwrap();
    for b in b"abcdef" {
        std::thread::sleep(Duration::from_millis(500));
        s.write_all(std::slice::from_ref(b)).unwrap();
    }
    let mut pending = Vec::new();
    let r = read_response(&mut s, &mut pending, false);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"abcdef"[..]));
}

/// Shuts the server down and says how long the drain took: a connection
/// the engine lost track of holds it until drain_secs and the grace after.
fn drain_time(server: RunningServer) -> Duration {
    let t = Instant::now();
    server.shutdown();
    server.join().unwrap();
    t.elapsed()
}

#[test]
fn connections_that_fail_while_closing_are_still_freed() {
    for workers in [1, 2] {
        let server = server_with(workers, |c| {
            c.timeouts.drain_secs = 5;
            c.timeouts.send_secs = 1;
        });
        let addr = server.local_addr();
        // Aborted downloads of a spliced file: the peer resets mid-body.
        for _ in 0..20 {
            let mut s = connect(addr);
            s.write_all(b"GET /files/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut buf = [0u8; 1000];
            let _ = s.read(&mut buf).unwrap();
            reset(s);
        }
        // A client that pipelines and never reads: the send timeout ends it.
        let mut stuck = connect(addr);
        let burst = b"GET /files/mid.bin HTTP/1.1\r\nHost: x\r\n\r\n".repeat(200);
        stuck
            .set_write_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let _ = stuck.write_all(&burst);
        std::thread::sleep(Duration::from_millis(2500));
        reset(stuck);
        std::thread::sleep(Duration::from_millis(200));
        let took = drain_time(server);
        assert!(
            took < Duration::from_secs(3),
            "drain took {took:?}: connections leaked ({workers} workers)"
        );
    }
}
