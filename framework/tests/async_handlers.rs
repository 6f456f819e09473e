//! Async handlers and tasks on each core's executor: handlers that wait do
//! not hold up the core, pipelined answers stay in order, panics answer 500,
//! bodies reach async handlers whole, timers never end early, tasks from
//! the app factory run in the background, and a connection reset drops its
//! handler's future.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use percore::time::{interval, sleep, timeout};
use percore::{get, post, spawn_local, App, BodyError, Request, Response};

fn ms_param(req: &Request) -> u64 {
    req.param("ms").and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn app(drops: Arc<AtomicUsize>) -> App {
    let stream_drops = drops.clone();
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let counter = ticks.clone();
    // A per-core background job started by the factory.
    spawn_local(async move {
        let mut every = interval(Duration::from_millis(10));
        loop {
            every.tick().await;
            counter.set(counter.get() + 1);
        }
    });
    App::new()
        .route("/plaintext", get(|| "Hello, World!"))
        .route(
            "/sleep/:ms",
            get(|req: Request| async move {
                let ms = ms_param(&req);
                let started = std::time::Instant::now();
                sleep(Duration::from_millis(ms)).await;
                format!("{ms} {}", started.elapsed().as_millis())
            }),
        )
        .route(
            "/slow",
            get(move || {
                struct Guard(Arc<AtomicUsize>);
                impl Drop for Guard {
                    fn drop(&mut self) {
                        self.0.fetch_add(1, Ordering::SeqCst);
                    }
                }
                let guard = Guard(drops.clone());
                async move {
                    let _guard = guard;
                    sleep(Duration::from_secs(5)).await;
                    "late"
                }
            }),
        )
        .route(
            "/boom",
            get(|| async {
                sleep(Duration::from_millis(5)).await;
                if true {
                    panic!("async handler bug");
                }
                "never"
            }),
        )
        .route(
            "/echo",
            post(|mut req: Request| async move {
                sleep(Duration::from_millis(1)).await;
                let body = req.body_bytes().await?;
                Ok::<_, BodyError>(Response::ok().body(body))
            }),
        )
        .route(
            "/read",
            // read_body, then body(): the whole body, kept in the request.
            post(|mut req: Request| async move {
                req.read_body().await?;
                Ok::<_, BodyError>(Response::ok().body(req.body().to_vec()))
            }),
        )
        .route(
            "/count",
            // Chunks as they arrive: how many, how long in all.
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
                (percore::StatusCode::OK, format!("{total} in {chunks}"))
            }),
        )
        .route(
            "/stream-echo",
            // The request body streamed back as the response body.
            post(|mut req: Request| async move { Response::ok().body(req.body_stream()) }),
        )
        .route(
            "/ignore",
            // Answers without reading the body.
            post(|| async { "ignored" }),
        )
        .route(
            "/misuse",
            // body() before the body was read: a clear panic (500).
            post(|req: Request| async move { req.body().len().to_string() }),
        )
        .route(
            "/timeout",
            get(|| async {
                match timeout(Duration::from_millis(50), sleep(Duration::from_secs(2))).await {
                    Ok(()) => "finished",
                    Err(_) => "elapsed",
                }
            }),
        )
        .route(
            "/join",
            get(|| async {
                let handle = spawn_local(async {
                    sleep(Duration::from_millis(5)).await;
                    42
                });
                format!("{}", handle.await.unwrap())
            }),
        )
        .route(
            "/stream",
            get(move || {
                let drops = stream_drops.clone();
                async move {
                    let (tx, body) = percore::Body::channel();
                    spawn_local(async move {
                        for i in 0..100u32 {
                            let chunk = vec![(i % 251) as u8; 10_000];
                            if tx.send(chunk).await.is_err() {
                                drops.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                            if i % 10 == 0 {
                                sleep(Duration::from_millis(1)).await;
                            }
                        }
                    });
                    Response::ok().body(body)
                }
            }),
        )
        .route(
            "/short/:n",
            // A body that promises 10 bytes and ends after `n`.
            get(|req: Request| async move {
                let n: usize = req.param("n").unwrap().parse().unwrap();
                let promised = if n == 0 { 0 } else { 10 };
                let (tx, body) = percore::Body::channel_with_len(promised);
                spawn_local(async move {
                    sleep(Duration::from_millis(20)).await;
                    if n > 0 {
                        let _ = tx.send(vec![b'x'; n]).await;
                    }
                });
                Response::ok().body(body)
            }),
        )
        .route("/ticks", get(move || format!("{}", ticks.get())))
}

fn server(workers: usize) -> (percore::RunningServer, Arc<AtomicUsize>) {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    (start(workers, move |_| app(d.clone())), drops)
}

fn get_body(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let r = roundtrip(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    );
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

#[test]
fn waiting_handlers_share_one_core_and_a_fast_request_is_not_held_up() {
    let (server, _) = server(1);
    let addr = server.local_addr();
    let started = Instant::now();
    let sleepers: Vec<_> = (0..10)
        .map(|_| std::thread::spawn(move || get_body(addr, "/sleep/200")))
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    let (status, body) = get_body(addr, "/plaintext");
    let fast = t.elapsed();
    assert_eq!((status, body.as_str()), (200, "Hello, World!"));
    assert!(
        fast < Duration::from_millis(100),
        "plaintext took {fast:?} behind sleepers"
    );
    for s in sleepers {
        let (status, body) = s.join().unwrap();
        assert_eq!(status, 200);
        let slept: u128 = body.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(slept >= 200, "slept only {slept} ms");
    }
    let wall = started.elapsed();
    assert!(
        wall < Duration::from_millis(1000),
        "10 sleeps of 200 ms took {wall:?}: not concurrent"
    );
}

#[test]
fn pipelined_async_answers_stay_in_order() {
    for workers in [1, 2] {
        let (server, _) = server(workers);
        let mut s = connect(server.local_addr());
        s.write_all(
            b"GET /sleep/120 HTTP/1.1\r\nHost: x\r\n\r\nGET /sleep/10 HTTP/1.1\r\nHost: x\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\nGET /join HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .unwrap();
        let mut pending = Vec::new();
        let bodies: Vec<String> = (0..4)
            .map(|_| String::from_utf8(read_response(&mut s, &mut pending, false).body).unwrap())
            .collect();
        assert!(bodies[0].starts_with("120 "), "{bodies:?}");
        assert!(bodies[1].starts_with("10 "), "{bodies:?}");
        assert_eq!(bodies[2], "Hello, World!");
        assert_eq!(bodies[3], "42");
    }
}

#[test]
fn a_panicking_async_handler_gives_500_and_close_and_the_core_lives_on() {
    let (server, _) = server(1);
    let mut s = connect(server.local_addr());
    s.write_all(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (bytes, closed) = read_to_close(&mut s);
    let text = String::from_utf8_lossy(&bytes);
    assert!(closed && text.starts_with("HTTP/1.1 500 "), "{text}");
    assert!(!text.contains("Hello"), "{text}");
    assert_eq!(
        get_body(server.local_addr(), "/plaintext").1,
        "Hello, World!"
    );
}

#[test]
fn timers_tasks_and_join_handles_work() {
    let (server, _) = server(2);
    let addr = server.local_addr();
    let t = Instant::now();
    assert_eq!(get_body(addr, "/timeout").1, "elapsed");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(50) && took < Duration::from_millis(1000),
        "{took:?}"
    );
    assert_eq!(get_body(addr, "/join").1, "42");
    std::thread::sleep(Duration::from_millis(150));
    let ticks: u64 = get_body(addr, "/ticks").1.parse().unwrap();
    assert!(
        ticks >= 5,
        "the factory's interval task ticked {ticks} times"
    );
}

#[test]
fn bodies_up_to_the_limit_reach_async_handlers_whole() {
    let (server, _) = server(2);
    let addr = server.local_addr();
    for len in [0usize, 1, 300 * 1024, 1024 * 1024] {
        let body: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        for chunked in [false, true] {
            let mut req = if chunked {
                b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()
            } else {
                format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n")
                    .into_bytes()
            };
            if chunked {
                for piece in body.chunks(50_000) {
                    req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                    req.extend_from_slice(piece);
                    req.extend_from_slice(b"\r\n");
                }
                req.extend_from_slice(b"0\r\n\r\n");
            } else {
                req.extend_from_slice(&body);
            }
            for trickle in [false, true] {
                let mut s = connect(addr);
                if trickle {
                    for p in req.chunks(8192) {
                        s.write_all(p).unwrap();
                    }
                } else {
                    s.write_all(&req).unwrap();
                }
                let mut pending = Vec::new();
                let r = read_response(&mut s, &mut pending, false);
                assert_eq!(r.status, 200, "{len} chunked {chunked}");
                assert!(r.body == body, "{len} chunked {chunked} trickled {trickle}");
            }
        }
    }
}

#[test]
fn a_half_closing_client_still_gets_the_async_answer() {
    let (server, _) = server(2);
    for _ in 0..10 {
        let mut s = connect(server.local_addr());
        s.write_all(b"GET /sleep/30 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let (bytes, closed) = read_to_close(&mut s);
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            closed && text.starts_with("HTTP/1.1 200 ") && text.contains("\r\n\r\n30 "),
            "{text}"
        );
    }
}

#[test]
fn a_reset_connection_drops_its_handlers_future() {
    let (server, drops) = server(1);
    let s = TcpStream::connect(server.local_addr()).unwrap();
    (&s).write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(drops.load(Ordering::SeqCst), 0, "still running");
    // A reset: the server's recv fails at once.
    reset(s);
    let deadline = Instant::now() + Duration::from_secs(2);
    while drops.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the future was dropped with its connection"
    );
    let mut probe = connect(server.local_addr());
    probe
        .write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 512];
    assert!(probe.read(&mut buf).unwrap() > 0);
}

fn stream_bytes() -> Vec<u8> {
    (0..100u32)
        .flat_map(|i| vec![(i % 251) as u8; 10_000])
        .collect()
}

#[test]
fn a_streamed_body_arrives_whole_chunked_close_delimited_and_not_for_head() {
    let (server, _) = server(2);
    let addr = server.local_addr();
    // HTTP/1.1: chunked, then the connection serves the next request.
    let mut s = connect(addr);
    s.write_all(
        b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let mut pending = Vec::new();
    let r = read_response(&mut s, &mut pending, false);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(r.body == stream_bytes(), "{} bytes", r.body.len());
    assert_eq!(
        read_response(&mut s, &mut pending, false).body,
        b"Hello, World!"
    );
    // HTTP/1.0: no chunked coding; the body ends with the connection.
    let mut s = connect(addr);
    s.write_all(b"GET /stream HTTP/1.0\r\n\r\n").unwrap();
    let (bytes, closed) = read_to_close(&mut s);
    assert!(closed);
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&bytes[..split]).to_ascii_lowercase();
    assert!(
        !head.contains("transfer-encoding") && head.contains("connection: close"),
        "{head}"
    );
    assert!(bytes[split..] == stream_bytes()[..]);
    // HEAD: the head of GET, no body.
    let r = roundtrip(addr, b"HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
}

#[test]
fn a_client_that_leaves_mid_stream_stops_the_stream() {
    let (server, drops) = server(1);
    let mut s = connect(server.local_addr());
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1000];
    let _ = s.read(&mut buf).unwrap();
    drop(s); // unread data: the close is a reset
    let deadline = Instant::now() + Duration::from_secs(3);
    while drops.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the sender saw the body go"
    );
}

#[test]
fn a_streamed_body_that_ends_empty_or_short_never_hangs() {
    let (server, _) = server(2);
    let addr = server.local_addr();
    // Empty, then the next pipelined request.
    let mut s = connect(addr);
    s.write_all(
        b"GET /short/0 HTTP/1.1\r\nHost: x\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let mut pending = Vec::new();
    assert_eq!(read_response(&mut s, &mut pending, false).body, b"");
    assert_eq!(
        read_response(&mut s, &mut pending, false).body,
        b"Hello, World!"
    );
    // Short of its Content-Length: the connection closes, never completes.
    let mut s = connect(addr);
    s.write_all(b"GET /short/4 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (bytes, closed) = read_to_close(&mut s);
    assert!(closed, "closed, not hung");
    assert!(
        bytes.ends_with(b"\r\n\r\nxxxx"),
        "{:?}",
        String::from_utf8_lossy(&bytes)
    );
}
