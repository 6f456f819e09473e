//! Bodies sent from their own memory, gathered behind the head in one
//! `sendmsg` (issue 12): every size around the gather threshold, more parts
//! than one send gathers, pipelined behind and before small answers, and
//! read by a client so slow that every send is cut short at an arbitrary
//! byte (inside the head, inside a part, on a part's boundary).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::*;
use percore::handler::{Body, Part};
use percore::{get, App, Bytes, Response};

/// Deterministic, position-dependent bytes (a shifted byte would show).
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(seed as u32 % 32) as u8
        })
        .collect()
}

/// The part sizes of `/parts`: more parts than one send gathers (8 iovecs
/// with the head), small ones among large ones.
const PART_SIZES: [usize; 11] = [
    20_000, 3, 70_000, 1, 16_384, 16_383, 100_000, 7, 40_000, 2, 300_000,
];

fn parts_body() -> Vec<u8> {
    let mut all = Vec::new();
    for (i, &n) in PART_SIZES.iter().enumerate() {
        all.extend(pattern(n, i as u8));
    }
    all
}

fn app() -> App {
    App::new()
        .route("/plaintext", get(|| "Hello, World!"))
        .route(
            "/size/{n}",
            get(|p: percore::Path<usize>| Response::ok().body(Bytes::from(pattern(p.0, 7)))),
        )
        .route(
            "/vec/{n}",
            get(|p: percore::Path<usize>| Response::ok().body(pattern(p.0, 9))),
        )
        .route(
            "/parts",
            get(|| {
                let parts = PART_SIZES
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| Part::Bytes(Bytes::from(pattern(n, i as u8))))
                    .collect();
                Response::ok().body(Body::Parts(parts))
            }),
        )
}

/// Reads one response with a Content-Length; returns its body.
fn read_response(s: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("head byte");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("content-length")
        .parse()
        .unwrap();
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("body");
    body
}

#[test]
fn every_size_around_the_threshold_arrives_whole() {
    let server = start(1, |_| app());
    let mut s = connect(server.local_addr());
    for n in [
        0,
        1,
        4096,
        16 * 1024 - 1,
        16 * 1024,
        16 * 1024 + 1,
        65_536,
        65_536 + 333,
        1 << 20,
        (2 << 20) + 5,
    ] {
        for route in ["size", "vec"] {
            write!(s, "GET /{route}/{n} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let want = pattern(n, if route == "size" { 7 } else { 9 });
            assert!(read_response(&mut s) == want, "/{route}/{n}");
        }
    }
}

#[test]
fn more_parts_than_one_send_gathers_keep_their_order_when_pipelined() {
    let server = start(1, |_| app());
    let mut s = connect(server.local_addr());
    let batch = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n\
GET /parts HTTP/1.1\r\nHost: x\r\n\r\n\
GET /size/70000 HTTP/1.1\r\nHost: x\r\n\r\n\
GET /parts HTTP/1.1\r\nHost: x\r\n\r\n\
GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n";
    s.write_all(batch).unwrap();
    assert_eq!(read_response(&mut s), b"Hello, World!");
    assert!(read_response(&mut s) == parts_body(), "first /parts");
    assert!(read_response(&mut s) == pattern(70_000, 7), "/size/70000");
    assert!(read_response(&mut s) == parts_body(), "second /parts");
    assert_eq!(read_response(&mut s), b"Hello, World!");
}

/// A tiny receive buffer, read a few bytes at a time with pauses: the
/// server's sends stop wherever the window closes, and each resumes from
/// the exact byte.
#[test]
fn a_slow_reader_gets_every_byte_after_short_sends() {
    let server = start(1, |_| app());
    let s = TcpStream::connect(server.local_addr()).unwrap();
    let size: libc::c_int = 16 * 1024;
    // SAFETY: setsockopt on an open socket with a valid int option.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &size as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut s = s;
    s.write_all(
        b"GET /parts HTTP/1.1\r\nHost: x\r\n\r\nGET /size/6000000 HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 8 * 1024];
    let want_bytes = parts_body().len() + 6_000_000;
    let mut reads = 0;
    while got.len() < want_bytes + 2 * 100 {
        let n = s.read(&mut chunk[..(reads % 7 + 1) * 1000]).unwrap();
        assert!(n > 0, "closed early after {} bytes", got.len());
        got.extend_from_slice(&chunk[..n]);
        reads += 1;
        if reads % 100 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Stop once both responses are in.
        if got.len() < want_bytes {
            continue;
        }
        if let Some(split) = both_responses(&got) {
            assert!(split.0 == parts_body(), "/parts after short sends");
            assert!(split.1 == pattern(6_000_000, 7), "/size after short sends");
            return;
        }
    }
    panic!("did not get both responses: {} bytes", got.len());
}

/// The two bodies of `got`, once both responses are complete.
fn both_responses(got: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut rest = got;
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let end = memchr::memmem::find(rest, b"\r\n\r\n")? + 4;
        let head = std::str::from_utf8(&rest[..end]).ok()?;
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))?
            .parse()
            .ok()?;
        if rest.len() < end + len {
            return None;
        }
        bodies.push(rest[end..end + len].to_vec());
        rest = &rest[end + len..];
    }
    let second = bodies.pop()?;
    Some((bodies.pop()?, second))
}
