//! Resources at their limits: the connection cap (the oldest idle
//! connections make way for new clients; with none idle, new clients wait
//! in the backlog, never accepted and dropped), and a provided-buffer ring
//! far smaller than the connections sending at once. Nothing is lost and
//! nothing spins.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use percore::{get, post, App, Request, Response, RunningServer};

const REQUEST: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n";

/// One test at a time: each watches the CPU of the thread named
/// `percore-w0`, which every server of this process has.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn app() -> App {
    App::new()
        .route("/plaintext", get(|| "Hello, World!"))
        .route(
            "/echo",
            post(|req: &Request| Response::ok().body(req.body().to_vec())),
        )
}

/// One worker capped at `cap` connections, with its metrics endpoint.
fn capped(cap: usize) -> RunningServer {
    start_with(
        1,
        |c| {
            c.server.max_connections = cap;
            c.metrics.listen = "127.0.0.1:0".into();
        },
        |_| app(),
    )
}

/// A counter's value, summed over the cores.
fn metric(server: &RunningServer, name: &str) -> u64 {
    let mut s = TcpStream::connect(server.metrics_addr().expect("metrics on")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    page.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// A kept-alive connection that has had one answer.
fn served(addr: SocketAddr) -> TcpStream {
    let mut s = connect(addr);
    s.write_all(REQUEST).unwrap();
    let mut pending = Vec::new();
    assert_eq!(read_response(&mut s, &mut pending, false).status, 200);
    s
}

/// Whether the server closed `s` (EOF or reset) within `wait`.
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 64];
    let closed = match s.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => panic!("unexpected bytes: {:?}", &buf[..n]),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    closed
}

/// Nothing arrived on `s` yet (it waits in the backlog).
fn still_waiting(s: &mut TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let waiting = matches!(s.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    s.set_nonblocking(false).unwrap();
    waiting
}

/// CPU time (user + system) of the thread named `name`, in clock ticks.
fn thread_cpu(name: &str) -> u64 {
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
            let fields: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap()
                .split_whitespace()
                .collect();
            return fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        }
    }
    panic!("no thread named {name}");
}

#[test]
fn at_the_cap_the_oldest_idle_connections_make_way_for_new_clients() {
    let _one = one_at_a_time();
    let server = capped(10);
    let addr = server.local_addr();
    // Ten kept-alive connections, idle in this order.
    let mut held: Vec<TcpStream> = (0..10)
        .map(|_| {
            let s = served(addr);
            std::thread::sleep(Duration::from_millis(15));
            s
        })
        .collect();
    // Two new clients, each sending a request: both are answered.
    let mut new: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(REQUEST).unwrap();
            s
        })
        .collect();
    for s in &mut new {
        let mut pending = Vec::new();
        assert_eq!(read_response(s, &mut pending, false).status, 200);
    }
    // The two idle the longest made way; the other eight still serve.
    for (i, s) in held.iter_mut().enumerate() {
        if i < 2 {
            assert!(closed_within(s, Duration::from_secs(2)), "held #{i} open");
        } else {
            s.write_all(REQUEST).unwrap();
            let mut pending = Vec::new();
            assert_eq!(
                read_response(s, &mut pending, false).status,
                200,
                "held #{i}"
            );
        }
    }
    assert_eq!(
        metric(&server, "percore_connections_closed_at_cap_total"),
        2
    );
    assert!(metric(&server, "percore_connection_cap_waits_total") >= 1);
    // Again, over and over: every fill-up loses nobody.
    for round in 0..5 {
        let mut s = connect(addr);
        s.write_all(REQUEST).unwrap();
        let mut pending = Vec::new();
        assert_eq!(
            read_response(&mut s, &mut pending, false).status,
            200,
            "round {round}"
        );
        new.push(s);
    }
}

#[test]
fn at_the_cap_with_none_idle_new_clients_wait_and_nothing_spins() {
    let _one = one_at_a_time();
    let server = capped(5);
    let addr = server.local_addr();
    let worker_before = thread_cpu("percore-w0");
    // Five connections in the middle of a request head: none is idle.
    let mut busy: Vec<TcpStream> = (0..5)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"GET /plaintext HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut waiting: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(REQUEST).unwrap();
            s
        })
        .collect();
    let t0 = thread_cpu("percore-w0");
    std::thread::sleep(Duration::from_millis(1000));
    let spent = thread_cpu("percore-w0") - t0;
    // A clock tick is 10 ms: a core spinning on the full table would burn
    // about 100 of them in this second.
    assert!(
        spent <= 10,
        "the worker used {spent} ticks in 1 s while full"
    );
    for (i, s) in waiting.iter_mut().enumerate() {
        assert!(still_waiting(s), "waiting #{i} was answered or dropped");
    }
    // The busy ones finish their requests: they are answered, go idle, and
    // make way for the waiting ones, who are all served.
    for s in &mut busy {
        s.write_all(b"Host: x\r\n\r\n").unwrap();
        let mut pending = Vec::new();
        assert_eq!(read_response(s, &mut pending, false).status, 200);
    }
    for (i, s) in waiting.iter_mut().enumerate() {
        let mut pending = Vec::new();
        assert_eq!(
            read_response(s, &mut pending, false).status,
            200,
            "waiting #{i}"
        );
    }
    // As many idle connections made way as clients waited (which ones
    // depends on the order they went idle: a waiting client served and
    // idle before the next busy one finished is the oldest idle then).
    let mut closed = 0;
    for s in busy.iter_mut().chain(waiting.iter_mut()) {
        closed += closed_within(s, Duration::from_millis(300)) as usize;
    }
    assert_eq!(
        closed, 3,
        "as many idle connections closed as clients waited"
    );
    assert_eq!(
        metric(&server, "percore_connections_closed_at_cap_total"),
        3
    );
    assert!(thread_cpu("percore-w0") >= worker_before);
}

#[test]
fn a_tiny_buffer_ring_serves_500_clients_sending_16k_bodies_at_once() {
    let _one = one_at_a_time();
    let server = start_with(
        1,
        |c| {
            c.ring.buffers = 8;
            c.ring.buffer_size = 4096;
            c.metrics.listen = "127.0.0.1:0".into();
        },
        |_| app(),
    );
    let addr = server.local_addr();
    let body: Vec<u8> = (0..16 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let request = {
        let mut r = format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(&body);
        r
    };
    let started = Instant::now();
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let request = request.clone();
            let body = body.clone();
            std::thread::spawn(move || {
                // 50 clients per thread: all send, then all read.
                let mut conns: Vec<TcpStream> = (0..50).map(|_| connect(addr)).collect();
                for s in &mut conns {
                    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    s.write_all(&request).unwrap();
                }
                for s in &mut conns {
                    let mut pending = Vec::new();
                    let r = read_response(s, &mut pending, false);
                    assert_eq!(r.status, 200);
                    assert!(r.body == body, "a body came back wrong");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("every client is answered in full");
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    // The ring did run dry (the point of the test), and that is load, not
    // an error: the server goes on.
    assert!(metric(&server, "percore_recv_buffers_exhausted_total") > 0);
    let mut s = served(addr);
    s.write_all(REQUEST).unwrap();
    let mut pending = Vec::new();
    assert_eq!(read_response(&mut s, &mut pending, false).status, 200);
}

#[test]
fn at_the_cap_silent_new_connections_make_way_after_a_grace_not_the_header_timeout() {
    let _one = one_at_a_time();
    let server = start_with(
        1,
        |c| {
            c.server.max_connections = 3;
            c.timeouts.header_secs = 30;
        },
        |_| app(),
    );
    let addr = server.local_addr();
    // Three clients that connect and say nothing.
    let mut silent: Vec<TcpStream> = (0..3)
        .map(|_| {
            let s = connect(addr);
            std::thread::sleep(Duration::from_millis(20));
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let mut s = connect(addr);
    s.write_all(REQUEST).unwrap();
    let mut pending = Vec::new();
    assert_eq!(read_response(&mut s, &mut pending, false).status, 200);
    let took = t.elapsed();
    // The oldest silent one made way once it had had a second to speak.
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(5),
        "served after {took:?}"
    );
    assert!(closed_within(&mut silent[0], Duration::from_millis(500)));
    for (i, s) in silent.iter_mut().enumerate().skip(1) {
        assert!(still_waiting(s), "silent #{i} was closed too");
    }
}

#[test]
fn a_connection_closed_after_a_whole_request_frees_its_slot_at_once() {
    let _one = one_at_a_time();
    let server = capped(1);
    let addr = server.local_addr();
    // The answer says close; the client reads it and keeps its socket.
    let mut done = connect(addr);
    done.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut pending = Vec::new();
    assert_eq!(read_response(&mut done, &mut pending, false).status, 200);
    assert!(closed_within(&mut done, Duration::from_secs(1)));
    // Nothing is left to linger for (the request was read whole): the slot
    // is free at once, not after timeouts.linger_secs.
    let t = Instant::now();
    let mut next = connect(addr);
    next.write_all(REQUEST).unwrap();
    assert_eq!(read_response(&mut next, &mut pending, false).status, 200);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn empty_lines_after_a_request_leave_the_connection_idle() {
    let _one = one_at_a_time();
    let server = start_with(
        1,
        |c| {
            c.server.max_connections = 1;
            c.timeouts.header_secs = 1;
            c.timeouts.keepalive_secs = 30;
        },
        |_| app(),
    );
    let addr = server.local_addr();
    let mut s = connect(addr);
    // An old client's CRLF after the request (RFC 9112 2.2: ignored).
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n\r\n")
        .unwrap();
    let mut pending = Vec::new();
    assert_eq!(read_response(&mut s, &mut pending, false).status, 200);
    s.write_all(b"\r\n").unwrap();
    // Past the header timeout: no 408, the keep-alive timeout applies.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        still_waiting(&mut s),
        "the connection was answered or closed"
    );
    s.write_all(REQUEST).unwrap();
    assert_eq!(read_response(&mut s, &mut pending, false).status, 200);
    s.write_all(b"\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // At the cap (1), it is idle: a new client is served in its place.
    let mut next = connect(addr);
    next.write_all(REQUEST).unwrap();
    assert_eq!(read_response(&mut next, &mut pending, false).status, 200);
    assert!(closed_within(&mut s, Duration::from_secs(1)));
}

/// A body refused part-way (chunked, over `max_body`; or its framing
/// breaks) is answered and the connection closes, lingering: a client
/// still sending its body fast never meets a reset before it can read the
/// answer (found by a new user: these two drew a reset, a Content-Length
/// body over the limit did not).
#[test]
fn a_body_refused_part_way_lingers_for_a_client_still_sending() {
    let _one = one_at_a_time();
    let server = start_with(1, |c| c.limits.max_body = 64 * 1024, |_| app());
    let chunked = |n: usize, tail: &[u8]| {
        let mut wire =
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..n / 100_000 {
            wire.extend_from_slice(b"186a0\r\n");
            wire.extend(std::iter::repeat_n(b'z', 100_000));
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(tail);
        wire
    };
    // A chunk, then a size line that is not hex, then more bytes.
    let mut broken = chunked(0, b"10\r\n0123456789abcdef\r\nXYZ\r\n");
    broken.extend(std::iter::repeat_n(b'q', 900_000));
    for (name, wire, status) in [
        ("over max_body", chunked(1_500_000, b"0\r\n\r\n"), 413),
        ("bad framing", broken, 400),
    ] {
        let mut s = connect(server.local_addr());
        for piece in wire.chunks(2622) {
            if let Err(e) = s.write_all(piece) {
                panic!("{name}: the client sending its body met {e}");
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let mut pending = Vec::new();
        assert_eq!(
            read_response(&mut s, &mut pending, false).status,
            status,
            "{name}"
        );
    }
}
