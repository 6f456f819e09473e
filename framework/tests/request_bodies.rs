//! Request bodies streaming into async handlers: chunks as they arrive,
//! backpressure (the server stops reading while the handler does not pull),
//! `Expect: 100-continue` answered when the handler first asks, bodies the
//! handler ignores (discarded, keep-alive goes on), and every way a body can
//! fail (framing, size, timeout, the client leaving) reaching the handler
//! as an error it answers.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use common::*;
use percore::time::sleep;
use percore::{post, App, BodyError, Request, Response, StatusCode};

fn app() -> App {
    App::new()
        .route(
            "/echo",
            post(|mut req: Request| async move {
                let body = req.body_bytes().await?;
                Ok::<_, BodyError>(Response::ok().body(body))
            }),
        )
        .route(
            "/count",
            post(|mut req: Request| async move {
                let mut body = req.body_stream();
                let (mut chunks, mut total) = (0usize, 0usize);
                while let Some(chunk) = body.chunk().await {
                    match chunk {
                        Ok(c) => {
                            chunks += 1;
                            total += c.len();
                        }
                        Err(e) => return (e.status(), format!("{e} after {total}")),
                    }
                }
                (StatusCode::OK, format!("{total} in {chunks}"))
            }),
        )
        .route(
            "/late/:ms",
            // Waits before it asks for the body.
            post(|mut req: Request| async move {
                let ms: u64 = req.param("ms").unwrap().parse().unwrap();
                sleep(Duration::from_millis(ms)).await;
                let body = req.body_bytes().await?;
                Ok::<_, BodyError>(format!("{} after {ms}", body.len()))
            }),
        )
        .route(
            "/stream-echo",
            post(|mut req: Request| async move { Response::ok().body(req.body_stream()) }),
        )
        .route("/ignore", post(|| async { "ignored" }))
        .route(
            "/misuse",
            post(|req: Request| async move { req.body().len().to_string() }),
        )
        .route("/sync", post(|req: &Request| req.body().len().to_string()))
}

fn server(tweak: impl FnOnce(&mut percore::Config)) -> percore::RunningServer {
    start_with(1, tweak, |_| app())
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for p in body.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[test]
fn a_trickled_body_arrives_in_chunks_and_whole() {
    let server = server(|_| {});
    let body = pattern(1024 * 1024);
    for is_chunked in [false, true] {
        let mut s = connect(server.local_addr());
        let (head, raw) = if is_chunked {
            (
                "POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_string(),
                chunked(&body, 10_000),
            )
        } else {
            (
                format!(
                    "POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                ),
                body.clone(),
            )
        };
        s.write_all(head.as_bytes()).unwrap();
        for piece in raw.chunks(64 * 1024) {
            std::thread::sleep(Duration::from_millis(5));
            s.write_all(piece).unwrap();
        }
        let r = read_response(&mut s, &mut Vec::new(), false);
        let t = text(&r);
        let (total, chunks) = t.split_once(" in ").unwrap();
        assert_eq!(total, body.len().to_string(), "chunked {is_chunked}");
        let chunks: usize = chunks.parse().unwrap();
        assert!(chunks >= 4, "a trickled body came in {chunks} chunks");
        // The connection goes on.
        s.write_all(b"POST /sync HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
            .unwrap();
        assert_eq!(text(&read_response(&mut s, &mut Vec::new(), false)), "3");
    }
}

#[test]
fn bodies_at_every_limit_and_split_at_every_boundary() {
    let server = server(|c| c.limits.max_body = 64 * 1024);
    let addr = server.local_addr();
    for len in [0usize, 1, 63 * 1024, 64 * 1024] {
        let body = pattern(len);
        let mut req =
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n").into_bytes();
        req.extend_from_slice(&body);
        let r = roundtrip(addr, &req);
        assert_eq!((r.status, r.body.len()), (200, len));
        assert!(r.body == body);
        let mut req =
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        req.extend_from_slice(&chunked(&body, 7000));
        let r = roundtrip(addr, &req);
        assert_eq!((r.status, r.body.len()), (200, len), "chunked {len}");
    }
    // One over: Content-Length refused before the handler, chunked while
    // it streams (the handler's read fails, it answers 413, and closes).
    let r = roundtrip(
        addr,
        format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            64 * 1024 + 1
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 413);
    let mut s = connect(addr);
    let mut req = b"POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(&chunked(&pattern(64 * 1024 + 1), 1000));
    s.write_all(&req).unwrap();
    let (bytes, closed) = read_to_close(&mut s);
    let t = String::from_utf8_lossy(&bytes);
    assert!(closed && t.starts_with("HTTP/1.1 413 "), "{t}");
    assert!(t.to_ascii_lowercase().contains("connection: close"), "{t}");

    // A small chunked body split at every byte boundary, two writes each.
    let mut req = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(&chunked(b"hello, world", 5));
    for cut in 1..req.len() {
        let mut s = connect(addr);
        s.write_all(&req[..cut]).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        s.write_all(&req[cut..]).unwrap();
        let r = read_response(&mut s, &mut Vec::new(), false);
        assert_eq!(text(&r), "hello, world", "cut at {cut}");
    }
}

#[test]
fn the_server_stops_reading_while_the_handler_does_not_pull() {
    let server = server(|c| c.limits.max_body = 64 * 1024 * 1024);
    let mut s = connect(server.local_addr());
    let len = 48 * 1024 * 1024;
    s.write_all(
        format!("POST /late/1500 HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n").as_bytes(),
    )
    .unwrap();
    // Push as much as the kernel takes for a while: with the handler not
    // pulling, that is the socket buffers and the server's bounded buffers,
    // not the whole body.
    s.set_nonblocking(true).unwrap();
    let chunk = vec![b'x'; 256 * 1024];
    let mut sent = 0usize;
    let until = Instant::now() + Duration::from_millis(800);
    while Instant::now() < until && sent < len {
        match s.write(&chunk[..chunk.len().min(len - sent)]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(
        sent < 24 * 1024 * 1024,
        "the server took {sent} bytes of a body its handler was not reading"
    );
    // Then the handler pulls, and all of it arrives.
    s.set_nonblocking(false).unwrap();
    while sent < len {
        let n = s.write(&chunk[..chunk.len().min(len - sent)]).unwrap();
        sent += n;
    }
    let r = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(text(&r), format!("{len} after 1500"));
}

#[test]
fn expect_100_continue_is_answered_when_the_handler_asks() {
    let server = server(|_| {});
    let mut s = connect(server.local_addr());
    s.write_all(
        b"POST /late/300 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    let waited = started.elapsed();
    assert_eq!(&buf[..n], b"HTTP/1.1 100 Continue\r\n\r\n");
    assert!(waited >= Duration::from_millis(250), "100 after {waited:?}");
    s.write_all(b"hello").unwrap();
    let r = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(text(&r), "5 after 300");

    // A handler that never asks: no 100, the answer, and the connection
    // closes (the client may never send the body).
    let mut s = connect(server.local_addr());
    s.write_all(
        b"POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let (bytes, closed) = read_to_close(&mut s);
    let t = String::from_utf8_lossy(&bytes);
    assert!(closed && t.starts_with("HTTP/1.1 200 "), "{t}");
    assert!(!t.contains("100 Continue") && t.ends_with("ignored"), "{t}");

    // A response whose body streams the request body back gets the 100
    // first, then the body flows through.
    let mut s = connect(server.local_addr());
    s.write_all(b"POST /stream-echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"));
    s.write_all(b"hello").unwrap();
    let mut pending = buf[..n]["HTTP/1.1 100 Continue\r\n\r\n".len()..].to_vec();
    let r = read_response(&mut s, &mut pending, false);
    assert_eq!(text(&r), "hello");
}

#[test]
fn an_ignored_body_is_discarded_and_the_next_request_served() {
    let server = server(|_| {});
    let mut s = connect(server.local_addr());
    let body = pattern(300 * 1024);
    let mut req = format!(
        "POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    req.extend_from_slice(
        b"POST /ignore HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    req.extend_from_slice(&chunked(&body, 4096));
    req.extend_from_slice(b"POST /sync HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok");
    s.write_all(&req).unwrap();
    let mut pending = Vec::new();
    assert_eq!(text(&read_response(&mut s, &mut pending, false)), "ignored");
    assert_eq!(text(&read_response(&mut s, &mut pending, false)), "ignored");
    assert_eq!(text(&read_response(&mut s, &mut pending, false)), "2");
}

#[test]
fn a_streamed_echo_returns_every_byte() {
    let server = server(|c| c.limits.max_body = 8 * 1024 * 1024);
    let body = pattern(3 * 1024 * 1024);
    let mut s = connect(server.local_addr());
    let mut req =
        b"POST /stream-echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(&chunked(&body, 100_000));
    let writer = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || w.write_all(&req).unwrap())
    };
    let r = read_response(&mut s, &mut Vec::new(), false);
    writer.join().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body == body, "{} bytes back", r.body.len());
}

#[test]
fn failures_reach_the_handler_as_errors() {
    let server = server(|c| c.timeouts.body_secs = 1);
    let addr = server.local_addr();
    // Bad chunked framing mid-body.
    let mut s = connect(addr);
    s.write_all(
        b"POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    s.write_all(b"zz\r\n").unwrap();
    let (bytes, closed) = read_to_close(&mut s);
    let t = String::from_utf8_lossy(&bytes);
    assert!(
        closed && t.starts_with("HTTP/1.1 400 ") && t.ends_with("after 5"),
        "{t}"
    );

    // The client half-closes mid-body: the handler hears it, its answer
    // still reaches the client.
    let mut s = connect(addr);
    s.write_all(b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    s.shutdown(Shutdown::Write).unwrap();
    let (bytes, closed) = read_to_close(&mut s);
    let t = String::from_utf8_lossy(&bytes);
    assert!(
        closed && t.starts_with("HTTP/1.1 400 ") && t.ends_with("after 10"),
        "{t}"
    );

    // The body stops arriving: after the body timeout (1 s, never early).
    let mut s = connect(addr);
    s.write_all(b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123")
        .unwrap();
    let started = Instant::now();
    let (bytes, closed) = read_to_close(&mut s);
    let waited = started.elapsed();
    let t = String::from_utf8_lossy(&bytes);
    assert!(
        closed && t.starts_with("HTTP/1.1 408 ") && t.ends_with("after 4"),
        "{t}"
    );
    assert!(waited >= Duration::from_millis(950), "408 after {waited:?}");

    // body() before reading: a clear panic, 500, the core lives on.
    let r = roundtrip(
        addr,
        b"POST /misuse HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert_eq!(r.status, 500);
    let r = roundtrip(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert_eq!(text(&r), "hi");
}

#[test]
fn a_half_close_after_a_whole_body_still_delivers_all_of_it_and_nothing_else() {
    let server = server(|_| {});
    let addr = server.local_addr();
    // The body looks like requests: none of it may ever be served as one.
    let fake = b"GET /sync HTTP/1.1\r\nHost: s\r\n\r\n";
    let body: Vec<u8> = fake
        .iter()
        .copied()
        .cycle()
        .take(fake.len() * 9000)
        .collect();
    for chunked_body in [false, true] {
        let mut req = if chunked_body {
            b"POST /late/300 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()
        } else {
            format!(
                "POST /late/300 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes()
        };
        if chunked_body {
            req.extend_from_slice(&chunked(&body, 5000));
        } else {
            req.extend_from_slice(&body);
        }
        let mut s = connect(addr);
        let writer = {
            let mut w = s.try_clone().unwrap();
            std::thread::spawn(move || {
                w.write_all(&req).unwrap();
                w.shutdown(Shutdown::Write).unwrap();
            })
        };
        let (bytes, closed) = read_to_close(&mut s);
        writer.join().unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(closed, "chunked {chunked_body}");
        assert_eq!(
            text.matches("HTTP/1.1 ").count(),
            1,
            "one answer, the body never parsed as requests (chunked {chunked_body}): {}",
            &text[..text.len().min(300)]
        );
        assert!(
            text.starts_with("HTTP/1.1 200 ")
                && text.ends_with(&format!("{} after 300", body.len())),
            "chunked {chunked_body}: {}",
            &text[..text.len().min(300)]
        );
    }
    // The core serves on, holding nothing.
    let r = roundtrip(
        addr,
        b"POST /sync HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx",
    );
    assert_eq!(text(&r), "1");
}
