//! One server per port unless a takeover is asked for: a second copy on a
//! taken address fails with EADDRINUSE, `server.takeover` joins a running
//! server, and stopping the old one then loses no request of clients that
//! keep going the whole time (keep-alive, or a new connection for each
//! request; no retries, as wrk).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use percore::{get, App, Config, Server};

fn app(name: &'static str) -> App {
    App::new().route("/who", get(move || name))
}

#[test]
fn a_second_server_on_a_taken_address_fails_naming_it() {
    let first = common::start(2, |_| app("a"));
    let addr = first.local_addr();
    let mut config = Config::default();
    config.server.listen = addr;
    config.server.workers = 2;
    let err = Server::new(config)
        .start(|_| app("b"))
        .err()
        .expect("a second server on a taken port fails");
    let msg = err.to_string();
    assert!(msg.contains(&addr.to_string()), "{msg}");
    assert!(msg.contains("EADDRINUSE"), "{msg}");
    // The first still serves everything.
    for _ in 0..20 {
        let r = common::roundtrip(addr, b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.body, b"a");
    }
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    answered: AtomicUsize,
    by_new: AtomicUsize,
    lost: AtomicUsize,
}

/// A client as wrk is one: keep-alive, the next request as soon as the last
/// answer is in, a new connection only after `Connection: close` (or for
/// every request, with `one_each`: `wrk -H 'Connection: close'`), and any
/// request left without an answer is counted lost.
fn client(
    addr: SocketAddr,
    one_each: bool,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
    new_only: Arc<AtomicBool>,
) {
    let mut conn: Option<(TcpStream, Vec<u8>)> = None;
    let mut served_here = 0;
    while !stop.load(Ordering::Relaxed) {
        let (s, pending) = match &mut conn {
            Some(c) => c,
            None => match TcpStream::connect(addr) {
                Ok(s) => {
                    served_here = 0;
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    conn.insert((s, Vec::new()))
                }
                Err(e) => {
                    eprintln!("connect: {e}");
                    tally.lost.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            },
        };
        let request: &[u8] = if one_each {
            b"GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        } else {
            b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n"
        };
        if s.write_all(request).is_err() {
            tally.lost.fetch_add(1, Ordering::Relaxed);
            conn = None;
            continue;
        }
        let mut ended = String::new();
        let resp = loop {
            if let Some((r, used)) = common::parse_response(pending, false) {
                pending.drain(..used);
                break Some(r);
            }
            let mut buf = [0u8; 4096];
            match s.read(&mut buf) {
                Ok(n) if n > 0 => pending.extend_from_slice(&buf[..n]),
                other => {
                    ended = format!("{other:?}");
                    break None;
                }
            }
        };
        match resp {
            Some(r) => {
                served_here += 1;
                tally.answered.fetch_add(1, Ordering::Relaxed);
                if new_only.load(Ordering::Relaxed) {
                    assert_eq!(r.body, b"new", "an answer from the stopped server");
                }
                if r.body == b"new" {
                    tally.by_new.fetch_add(1, Ordering::Relaxed);
                }
                if r.header("connection") == Some("close") || one_each {
                    conn = None;
                }
            }
            None => {
                eprintln!(
                    "a request without an answer: {ended}, after {served_here} on its connection"
                );
                tally.lost.fetch_add(1, Ordering::Relaxed);
                conn = None;
            }
        }
    }
}

#[test]
fn a_takeover_then_stopping_the_old_server_loses_no_request() {
    // The procedure asks for it: connections queued on the old server's
    // listeners move to the new one's instead of being reset.
    let sysctl = "/proc/sys/net/ipv4/tcp_migrate_req";
    if std::fs::write(sysctl, "1").is_err()
        && std::fs::read_to_string(sysctl)
            .map(|v| v.trim() != "1")
            .unwrap_or(true)
    {
        eprintln!("skipped: net.ipv4.tcp_migrate_req is not 1 and cannot be set (not root?)");
        return;
    }
    let old = common::start_with(
        2,
        |c| c.metrics.listen = "127.0.0.1:0".into(),
        |_| app("old"),
    );
    let addr = old.local_addr();
    let metrics = old.metrics_addr().unwrap();
    // The new server joins the metrics port too (one config for both).
    let new = common::start_with(
        2,
        |c| {
            c.server.listen = addr;
            c.server.takeover = true;
            c.metrics.listen = metrics.to_string();
        },
        |_| app("new"),
    );
    assert_eq!(new.local_addr(), addr);
    assert_eq!(new.metrics_addr(), Some(metrics));

    let stop = Arc::new(AtomicBool::new(false));
    let new_only = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = (0..12)
        .map(|i| {
            let (stop, tally, new_only) = (stop.clone(), tally.clone(), new_only.clone());
            std::thread::spawn(move || client(addr, i % 2 == 1, stop, tally, new_only))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let before = tally.answered.load(Ordering::Relaxed);
    old.shutdown();
    old.join().expect("the old server drains and exits");
    new_only.store(true, Ordering::Relaxed);
    let at_exit = tally.answered.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join()
            .expect("a client saw an answer from the stopped server");
    }
    let answered = tally.answered.load(Ordering::Relaxed);
    assert_eq!(tally.lost.load(Ordering::Relaxed), 0, "requests lost");
    assert!(before > 100, "{before} answers before the stop");
    assert!(
        answered > at_exit + 100,
        "{answered} answers, {at_exit} when the old one exited"
    );
    assert!(tally.by_new.load(Ordering::Relaxed) > 100);
}
