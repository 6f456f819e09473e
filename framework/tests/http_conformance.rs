//! Integration tests over real sockets: keep-alive, pipelining, bodies,
//! 100-continue, HEAD, HTTP/1.0, Connection: close, and every reject class
//! answering, closing, and leaving the request pipelined behind it unanswered.

mod common;

use std::io::Write;
use std::thread::sleep;
use std::time::Duration;

use common::*;
use percore::{get, post, App, Request, Response};

fn app() -> App {
    App::new()
        .route("/plaintext", get(|| "Hello, World!"))
        .route(
            "/n/:i",
            get(|req: &Request| format!("n={}", req.param("i").unwrap())),
        )
        .route(
            "/echo",
            post(|req: &Request| Response::ok().body(req.body().to_vec())),
        )
        .route("/empty", get(|| percore::StatusCode::NO_CONTENT))
        .route(
            "/stream",
            get(|| {
                let pieces =
                    ["one ", "two ", "three"].map(|s| percore::Bytes::from_static(s.as_bytes()));
                Response::ok().body(percore::Body::Stream(Box::new(pieces.into_iter())))
            }),
        )
}

#[test]
fn hundred_pipelined_requests_in_one_write_answer_in_order() {
    let server = start(2, |_| app());
    let mut s = connect(server.local_addr());
    let mut batch = Vec::new();
    for i in 0..100 {
        batch.extend_from_slice(format!("GET /n/{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    s.write_all(&batch).unwrap();
    let mut pending = Vec::new();
    for i in 0..100 {
        let r = read_response(&mut s, &mut pending, false);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, format!("n={i}").as_bytes());
        assert!(r.header("date").is_some() && r.header("server") == Some("percore"));
    }
    server.shutdown();
    server.join().unwrap();
}

#[test]
fn content_length_and_chunked_bodies_echo_across_split_writes() {
    let server = start(2, |_| app());
    let mut s = connect(server.local_addr());
    let mut pending = Vec::new();
    // Content-Length body in three writes.
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhel")
        .unwrap();
    sleep(Duration::from_millis(20));
    s.write_all(b"lo wo").unwrap();
    sleep(Duration::from_millis(20));
    s.write_all(b"rld").unwrap();
    let r = read_response(&mut s, &mut pending, false);
    assert_eq!(r.body, b"hello world");
    // Chunked body with an extension and a trailer, split mid-chunk.
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhel",
    )
    .unwrap();
    sleep(Duration::from_millis(20));
    s.write_all(b"lo\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, &mut pending, false);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello world");
    // The connection is still usable.
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_response(&mut s, &mut pending, false).body,
        b"Hello, World!"
    );
}

#[test]
fn expect_100_continue_gets_an_interim_response_before_the_body() {
    let server = start(2, |_| app());
    let mut s = connect(server.local_addr());
    let mut pending = Vec::new();
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let interim = read_response(&mut s, &mut pending, false);
    assert_eq!(interim.status, 100);
    s.write_all(b"ping").unwrap();
    let r = read_response(&mut s, &mut pending, false);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ping");
}

#[test]
fn head_has_get_headers_and_no_body() {
    let server = start(2, |_| app());
    let mut s = connect(server.local_addr());
    let mut pending = Vec::new();
    s.write_all(
        b"HEAD /plaintext HTTP/1.1\r\nHost: x\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let head = read_response(&mut s, &mut pending, true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("13"));
    // If HEAD had carried a body, it would now be parsed as the next status line.
    let get = read_response(&mut s, &mut pending, false);
    assert_eq!(get.body, b"Hello, World!");
}

#[test]
fn no_content_and_streamed_bodies_are_framed_right() {
    let server = start(2, |_| app());
    let mut s = connect(server.local_addr());
    let mut pending = Vec::new();
    s.write_all(b"GET /empty HTTP/1.1\r\nHost: x\r\n\r\nGET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, &mut pending, false);
    assert_eq!(r.status, 204);
    assert!(r.header("content-length").is_none());
    let r = read_response(&mut s, &mut pending, false);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.body, b"one two three");
    // HTTP/1.0 has no chunked coding: the stream arrives with a length.
    let r = roundtrip(server.local_addr(), b"GET /stream HTTP/1.0\r\n\r\n");
    assert_eq!(r.header("content-length"), Some("13"));
}

#[test]
fn http10_closes_unless_keep_alive_is_asked() {
    let server = start(2, |_| app());
    let mut s = connect(server.local_addr());
    s.write_all(b"GET /plaintext HTTP/1.0\r\n\r\n").unwrap();
    let (bytes, closed) = read_to_close(&mut s);
    assert!(closed, "1.0 without keep-alive must close");
    assert!(bytes.ends_with(b"Hello, World!"));

    let mut s = connect(server.local_addr());
    let mut pending = Vec::new();
    s.write_all(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, &mut pending, false);
    assert_eq!(
        r.header("connection")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("keep-alive")
    );
    s.write_all(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s, &mut pending, false).status, 200);
}

#[test]
fn connection_close_answers_then_closes_and_ignores_what_follows() {
    let server = start(2, |_| app());
    let mut s = connect(server.local_addr());
    s.write_all(b"GET /n/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /n/2 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (bytes, closed) = read_to_close(&mut s);
    assert!(closed);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(text.contains("n=1") && !text.contains("n=2"), "{text}");
}

#[test]
fn absolute_form_targets_route_by_their_path() {
    let server = start(2, |_| app());
    let r = roundtrip(
        server.local_addr(),
        b"GET http://example.com/n/7?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    assert_eq!(r.body, b"n=7");
}

#[test]
fn routing_errors_are_404_and_405_with_allow() {
    let server = start(2, |_| app());
    let r = roundtrip(
        server.local_addr(),
        b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(r.status, 404);
    let r = roundtrip(
        server.local_addr(),
        b"DELETE /plaintext HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
}

/// Each malformed request must get its status, `Connection: close`, a closed
/// connection, and no answer to the valid request pipelined behind it.
#[test]
fn every_reject_class_answers_closes_and_drops_the_pipelined_request() {
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
        "X-A: b\r\n".repeat(101)
    );
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(33 * 1024)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("bad request line", b"GET  /plaintext HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        ("space before colon", b"GET /plaintext HTTP/1.1\r\nHost : x\r\n\r\n".to_vec(), 400),
        ("obs-fold", b"GET /plaintext HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n".to_vec(), 400),
        ("bare CR", b"GET /plaintext HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n".to_vec(), 400),
        ("NUL in value", b"GET /plaintext HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n".to_vec(), 400),
        ("invalid name", b"GET /plaintext HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n".to_vec(), 400),
        ("missing host", b"GET /plaintext HTTP/1.1\r\n\r\n".to_vec(), 400),
        ("two hosts", b"GET /plaintext HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n".to_vec(), 400),
        ("bad content-length", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd".to_vec(), 400),
        ("conflicting content-length", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcd".to_vec(), 400),
        ("overflowing content-length", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n".to_vec(), 400),
        ("te and cl", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n".to_vec(), 400),
        ("te not chunked", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(), 400),
        ("te unknown before chunked", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n".to_vec(), 501),
        ("bad chunk size", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n".to_vec(), 400),
        ("bad chunk framing", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n".to_vec(), 400),
        ("target too long", long_target.into_bytes(), 414),
        ("too many headers", many_headers.into_bytes(), 431),
        ("header too large", big_header.into_bytes(), 431),
        ("body too large", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n".to_vec(), 413),
        ("version", b"GET /plaintext HTTP/2.0\r\nHost: x\r\n\r\n".to_vec(), 505),
    ];
    let server = start(2, |_| app());
    for (name, mut request, status) in cases {
        request.extend_from_slice(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut s = connect(server.local_addr());
        s.write_all(&request).unwrap();
        let (bytes, closed) = read_to_close(&mut s);
        let text = String::from_utf8_lossy(&bytes);
        assert!(closed, "{name}: connection left open: {text}");
        let expected = format!("HTTP/1.1 {status} ");
        assert!(
            text.starts_with(&expected),
            "{name}: expected {status}, got {text}"
        );
        assert!(
            text.to_ascii_lowercase().contains("connection: close"),
            "{name}: {text}"
        );
        // Status lines: a refusal's reason in the body may name HTTP/1.1.
        assert_eq!(
            text.lines().filter(|l| l.starts_with("HTTP/1.1 ")).count(),
            1,
            "{name}: answered more than once: {text}"
        );
        assert!(
            !text.contains("Hello, World!"),
            "{name}: pipelined request was served"
        );
    }
    server.shutdown();
    server.join().unwrap();
}

/// A client that pipelines far more than the server will buffer, reading
/// nothing for a while: the server stops reading (backpressure), keeps its
/// memory bounded, and answers every request once the client reads.
#[test]
fn backpressure_holds_a_pipelining_flood_and_answers_all_of_it() {
    use std::io::Read;
    const N: usize = 50_000;
    let server = start(1, |_| app());
    let mut s = connect(server.local_addr());
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let batch = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
        for _ in 0..N / 1000 {
            w.write_all(&batch).unwrap();
        }
    });
    sleep(Duration::from_millis(500)); // nobody reads: the server must pause
    let needle = b"Hello, World!";
    let (mut count, mut carry) = (0usize, Vec::new());
    let mut buf = vec![0u8; 1 << 16];
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    while count < N {
        let n = s.read(&mut buf).expect("responses keep coming");
        assert!(n > 0, "closed after {count} responses");
        carry.extend_from_slice(&buf[..n]);
        let mut last = 0;
        let mut i = 0;
        while let Some(p) = carry[i..].windows(needle.len()).position(|w| w == needle) {
            count += 1;
            i += p + needle.len();
            last = i;
        }
        let keep = carry.len().saturating_sub(needle.len() - 1).max(last);
        carry.drain(..keep);
    }
    writer.join().unwrap();
    assert_eq!(count, N);
}
