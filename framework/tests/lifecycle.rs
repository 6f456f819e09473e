//! Handler panics, graceful shutdown with a request in flight, idle
//! connections closed on drain, per-core state, and workers on every core.

mod common;

use std::cell::Cell;
use std::io::Write;
use std::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::*;
use percore::{get, post, App, Request, Response};

#[test]
fn a_panicking_handler_gives_500_and_close_and_the_worker_lives_on() {
    let server = start(1, |_| {
        App::new()
            .route("/boom", get(|| -> &'static str { panic!("handler bug") }))
            .route("/ok", get(|| "fine"))
    });
    let mut s = connect(server.local_addr());
    s.write_all(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (bytes, closed) = read_to_close(&mut s);
    let text = String::from_utf8_lossy(&bytes);
    assert!(closed, "{text}");
    assert!(text.starts_with("HTTP/1.1 500 "), "{text}");
    assert!(!text.contains("fine"), "{text}");
    // The single worker is still serving.
    for _ in 0..3 {
        let r = roundtrip(server.local_addr(), b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.body, b"fine");
    }
}

#[test]
fn shutdown_finishes_a_request_in_flight_closes_idle_ones_and_stops_accepting() {
    let server = start(2, |_| {
        App::new().route(
            "/echo",
            post(|req: &Request| Response::ok().body(req.body().to_vec())),
        )
    });
    let addr = server.local_addr();
    let mut idle = connect(addr);
    let mut pending = Vec::new();
    idle.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        .unwrap();
    assert_eq!(read_response(&mut idle, &mut pending, false).body, b"hi");

    let mut busy = connect(addr);
    busy.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    server.shutdown();
    std::thread::sleep(Duration::from_millis(100));

    // The idle keep-alive connection is closed by the drain.
    let (rest, closed) = read_to_close(&mut idle);
    assert!(
        closed && rest.is_empty(),
        "idle connection not closed: {rest:?}"
    );
    // The request in flight is finished, with Connection: close.
    busy.write_all(b"world").unwrap();
    let (bytes, closed) = read_to_close(&mut busy);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.starts_with("HTTP/1.1 200 ") && text.ends_with("helloworld"),
        "{text}"
    );
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(closed);

    let t = Instant::now();
    server.join().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "drain took {:?}",
        t.elapsed()
    );
    // Nobody accepts any more.
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn per_core_state_is_counted_per_core_and_both_cores_serve() {
    let server = start(2, |core| {
        let hits = Rc::new(Cell::new(0u64));
        App::new().route(
            "/count",
            get(move |req: &Request| {
                hits.set(hits.get() + 1);
                format!("{} {} {}", core, req.core(), hits.get())
            }),
        )
    });
    let mut seen = [0u64; 2];
    for _ in 0..200 {
        let r = roundtrip(
            server.local_addr(),
            b"GET /count HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        let text = String::from_utf8(r.body).unwrap();
        let parts: Vec<u64> = text.split(' ').map(|p| p.parse().unwrap()).collect();
        assert_eq!(parts[0], parts[1], "handler ran on another core's app");
        let core = parts[0] as usize;
        seen[core] += 1;
        assert_eq!(parts[2], seen[core], "per-core count out of step");
        if seen[0] > 0 && seen[1] > 0 && seen.iter().sum::<u64>() > 20 {
            break;
        }
    }
    assert!(
        seen[0] > 0 && seen[1] > 0,
        "SO_REUSEPORT spread nothing to one core: {seen:?}"
    );
}

#[test]
fn an_invalid_route_stops_the_server_from_starting_with_its_name() {
    let mut config = percore::Config::default();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.server.workers = 1;
    let err = percore::Server::new(config)
        .start(|_| App::new().route("users/:id", get(|| "x")))
        .err()
        .expect("must fail");
    assert!(err.to_string().contains("users/:id"), "{err}");
}

#[test]
fn header_timeout_answers_408_and_closes() {
    let server = start_with(
        1,
        |c| c.timeouts.header_secs = 1,
        |_| App::new().route("/", get(|| "x")),
    );
    let mut s = connect(server.local_addr());
    s.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    let t = Instant::now();
    let (bytes, closed) = read_to_close(&mut s);
    let text = String::from_utf8_lossy(&bytes);
    assert!(closed && text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(t.elapsed() < Duration::from_secs(4));
}

#[test]
fn a_peer_that_half_closes_gets_its_answers_and_a_prompt_close() {
    let server = start(1, |_| App::new().route("/", get(|| "x")));
    // A complete request, then half of one, then the client's FIN: the first
    // is answered, the second can never complete, the connection ends now
    // rather than at the header timeout.
    let mut s = connect(server.local_addr());
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HT")
        .unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let t = Instant::now();
    let (bytes, closed) = read_to_close(&mut s);
    let text = String::from_utf8_lossy(&bytes);
    assert!(closed, "{text}");
    assert_eq!(text.matches("HTTP/1.1 200 ").count(), 1, "{text}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
}

/// Panics in `Drop` when a client leaves mid-request and its handler is
/// dropped: a bug of the app, which stays with that request.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("a handler's value panicked in drop");
    }
}

#[test]
fn a_handler_whose_drop_panics_when_its_client_leaves_does_not_take_the_core_down() {
    let server = start(1, |_| {
        App::new()
            .route(
                "/wait",
                get(|| async {
                    let _guard = PanicOnDrop;
                    percore::time::sleep(Duration::from_secs(60)).await;
                    "never"
                }),
            )
            .route("/ok", get(|| "fine"))
    });
    let addr = server.local_addr();
    for _ in 0..3 {
        let mut s = connect(addr);
        s.write_all(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        drop(s); // the handler is dropped with the connection
        std::thread::sleep(Duration::from_millis(50));
        let r = roundtrip(addr, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.body, b"fine");
    }
    assert!(!server.any_worker_exited());
    server.shutdown();
    server.join().expect("the worker ends cleanly");
}
