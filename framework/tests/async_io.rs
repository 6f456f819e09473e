//! I/O of async code on the core's ring: files, TCP (a handler calling a
//! service on its own core), the blocking pool; and the cancellation
//! stories, each as numbered steps, checked by the process's descriptor
//! count coming back to where it was.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use percore::fs::File;
use percore::net::{TcpListener, TcpStream};
use percore::time::{sleep, timeout};
use percore::{get, spawn_blocking, spawn_local, App, Request, Response, StatusCode};

/// The descriptor count is process-wide: the tests of this file take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Waits (a bounded time) for the descriptor count to come back to `want`
/// or under it (a socket of the warm-up may still have been closing when
/// `want` was counted).
fn settles_to(want: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let now = open_fds();
        if now <= want || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn query_addr(req: &Request) -> SocketAddr {
    req.query().unwrap().parse().unwrap()
}

fn app() -> App {
    App::new()
        .route("/plaintext", get(|| "Hello, World!"))
        .route(
            "/file",
            get(|req: Request| async move {
                let path = std::path::PathBuf::from(req.query().unwrap_or(""));
                let name = path.join("data.bin");
                let file = File::create(&name).await.unwrap();
                let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
                let (res, _) = file.write_all_at(data.clone(), 0).await;
                res.unwrap();
                file.sync_all().await.unwrap();
                let meta = File::open(&name).await.unwrap().metadata().await.unwrap();
                let back = percore::fs::read(&name).await.unwrap();
                let file = File::open(&name).await.unwrap();
                let (n, part) = file.read_at(Vec::with_capacity(10), 99_995).await;
                format!(
                    "{} {} {} {:?} {}",
                    meta.len,
                    meta.is_file,
                    back == data,
                    n.unwrap(),
                    part == data[99_995..]
                )
            }),
        )
        .route(
            "/missing",
            get(|| async {
                match File::open("/nonexistent/percore").await {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => "not found".to_string(),
                    other => format!("{other:?}"),
                }
            }),
        )
        .route(
            "/call",
            // A handler that calls a service on its own core (one worker:
            // this deadlocks unless the core serves while the handler waits).
            get(|req: Request| async move {
                let addr = query_addr(&req);
                let stream = TcpStream::connect(addr).await.unwrap();
                let (res, _) = stream
                    .write_all(
                        b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
                    )
                    .await;
                res.unwrap();
                let mut all = Vec::new();
                loop {
                    let (n, buf) = stream.read(Vec::with_capacity(4096)).await;
                    if n.unwrap() == 0 {
                        break;
                    }
                    all.extend_from_slice(&buf);
                }
                let text = String::from_utf8_lossy(&all).into_owned();
                text.rsplit("\r\n\r\n").next().unwrap_or("").to_string()
            }),
        )
        .route(
            "/echo-server",
            // Its own protocol: a listener task on the core, a client of it.
            get(|| async {
                let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
                let addr = listener.local_addr().unwrap();
                spawn_local(async move {
                    let (conn, _) = listener.accept().await.unwrap();
                    let (n, buf) = conn.read(Vec::with_capacity(64)).await;
                    n.unwrap();
                    let (res, _) = conn.write_all(buf).await;
                    res.unwrap();
                });
                let client = TcpStream::connect(addr).await.unwrap();
                let peer = client.peer_addr().unwrap();
                let (res, _) = client.write_all(b"ping".to_vec()).await;
                res.unwrap();
                let (n, buf) = client.read(Vec::with_capacity(64)).await;
                format!(
                    "{} {} {}",
                    n.unwrap(),
                    String::from_utf8_lossy(&buf),
                    peer == addr
                )
            }),
        )
        .route(
            "/read-cancel",
            // Step: a read that never completes is dropped by a timeout.
            get(|req: Request| async move {
                let addr = query_addr(&req);
                let stream = TcpStream::connect(addr).await.unwrap();
                let r = timeout(
                    Duration::from_millis(50),
                    stream.read(Vec::with_capacity(64)),
                )
                .await;
                if r.is_err() {
                    "dropped"
                } else {
                    "read?"
                }
            }),
        )
        .route(
            "/connect-cancel",
            // Step: a connect that never completes (a full backlog) is dropped.
            get(|req: Request| async move {
                let addr = query_addr(&req);
                match TcpStream::connect_timeout(addr, Duration::from_millis(100)).await {
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => "timed out".into(),
                    other => format!("{other:?}"),
                }
            }),
        )
        .route(
            "/blocking",
            get(|| async {
                let t = Instant::now();
                let v = spawn_blocking(|| {
                    std::thread::sleep(Duration::from_millis(100));
                    6 * 7
                })
                .await
                .unwrap();
                let failed = spawn_blocking(|| -> u32 { panic!("blocking bug") })
                    .await
                    .is_err();
                format!("{v} {} {failed}", t.elapsed() >= Duration::from_millis(100))
            }),
        )
        .route(
            "/hold",
            get(|| async {
                sleep(Duration::from_secs(30)).await;
                Response::new(StatusCode::OK)
            }),
        )
}

fn body_of(addr: SocketAddr, target: &str) -> String {
    let r = roundtrip(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.status, 200, "{target}");
    String::from_utf8(r.body).unwrap()
}

#[test]
fn files_through_the_ring() {
    let _turn = turn();
    let server = start(1, |_| app());
    let dir = std::env::temp_dir().join(format!("percore-async-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let body = body_of(server.local_addr(), &format!("/file?{}", dir.display()));
    assert_eq!(body, "100000 true true 5 true");
    assert_eq!(body_of(server.local_addr(), "/missing"), "not found");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_handler_calls_a_service_on_its_own_core() {
    let _turn = turn();
    let server = start(1, |_| app());
    let addr = server.local_addr();
    assert_eq!(body_of(addr, &format!("/call?{addr}")), "Hello, World!");
    assert_eq!(body_of(addr, "/echo-server"), "4 ping true");
}

#[test]
fn blocking_work_runs_off_the_core() {
    let _turn = turn();
    let server = start(1, |_| app());
    let addr = server.local_addr();
    let t = Instant::now();
    let calls: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || body_of(addr, "/blocking")))
        .collect();
    // The core answers meanwhile.
    assert_eq!(body_of(addr, "/plaintext"), "Hello, World!");
    for c in calls {
        assert_eq!(c.join().unwrap(), "42 true true");
    }
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn cancellation_stories_leak_no_descriptor() {
    let _turn = turn();
    let server = start(1, |_| app());
    let addr = server.local_addr();
    // A peer that accepts nothing and writes nothing.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    body_of(addr, &format!("/read-cancel?{silent_addr}")); // warm-up
    let before = open_fds();

    // 1. Drop a read in flight: 20 times.
    for _ in 0..20 {
        assert_eq!(
            body_of(addr, &format!("/read-cancel?{silent_addr}")),
            "dropped"
        );
    }
    // The silent listener's side of those connections: accept and close.
    silent.set_nonblocking(true).unwrap();
    while let Ok((s, _)) = silent.accept() {
        drop(s);
    }
    let after = settles_to(before);
    assert!(
        after <= before,
        "descriptors after dropped reads: {after}, {before} before"
    );

    // 2. Drop a connect that never completes: a listener with a backlog of
    //    0, already full, so the handshake never finishes.
    let full = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: listen on our own socket with a backlog of 0.
    unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&full), 0) };
    let full_addr = full.local_addr().unwrap();
    let fillers: Vec<_> = (0..4)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&full_addr, Duration::from_millis(100)).ok()
        })
        .collect();
    let before = open_fds();
    for _ in 0..5 {
        assert_eq!(
            body_of(addr, &format!("/connect-cancel?{full_addr}")),
            "timed out"
        );
    }
    let after = settles_to(before);
    assert!(
        after <= before,
        "descriptors after dropped connects: {after}, {before} before"
    );
    drop(fillers);

    // 3. Drop a sleep (the timeout around it): see async_handlers.rs; here,
    //    a client that resets while its handler sleeps drops the future.
    // 4. Shut down with tasks in flight: the worker cancels them, waits for
    //    their ops, and exits promptly.
    let mut held = connect(addr);
    held.write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reading = connect(addr);
    reading
        .write_all(format!("GET /read-cancel?{silent_addr} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let t = Instant::now();
    server.shutdown();
    server.join().unwrap();
    assert!(t.elapsed() < Duration::from_secs(13), "{:?}", t.elapsed());
    let mut rest = Vec::new();
    let _ = held.read_to_end(&mut rest);
}
