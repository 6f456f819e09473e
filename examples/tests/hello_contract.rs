//! The `hello` binary as other tools see it: `--listen 127.0.0.1:0` logs the
//! chosen port, the TechEmpower answers are exact, `/echo` returns the body
//! as it arrived (Content-Length or chunked) with its Content-Type, and
//! SIGTERM drains and exits 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Hello {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Hello {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary and waits for its "listening on" line.
fn start(bin: &str, args: &[&str]) -> Hello {
    let workers: &[&str] = if args.contains(&"--workers") {
        &[]
    } else {
        &["--workers", "2"]
    };
    let mut child = Command::new(bin)
        .args(["--listen", "127.0.0.1:0"])
        .args(workers)
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn example");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    let addr = loop {
        let line = lines
            .next()
            .expect("example exited before listening")
            .unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            let addr = rest.split_whitespace().next().unwrap();
            let addr = addr.trim_matches(|c: char| !c.is_ascii_digit() && c != '.' && c != ':');
            break addr.parse().expect("address in the listening line");
        }
        assert!(Instant::now() < deadline, "no listening line");
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Hello { child, addr }
}

fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[test]
fn hello_answers_the_techempower_contract_and_drains_on_sigterm() {
    let mut hello = start(env!("CARGO_BIN_EXE_hello"), &[]);
    let addr = hello.addr;

    let r = exchange(
        addr,
        b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert_eq!(body(&r), "Hello, World!");
    assert_eq!(header(&r, "content-type"), Some("text/plain"));
    assert_eq!(header(&r, "server"), Some("percore"));
    let date = header(&r, "date").expect("Date header");
    assert!(httpdate_like(date), "{date}");

    // The async handler answers byte for byte the same (Date aside).
    let without_date = |r: &str| -> String {
        r.lines()
            .filter(|l| !l.starts_with("date:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let a = exchange(
        addr,
        b"GET /async/plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(without_date(&a), without_date(&r));

    let r = exchange(
        addr,
        b"GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(body(&r), r#"{"message":"Hello, World!"}"#);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    assert!(header(&r, "server").is_some() && header(&r, "date").is_some());

    let r = exchange(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-thing\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert_eq!(body(&r), "hello");
    assert_eq!(header(&r, "content-type"), Some("application/x-thing"));

    let r = exchange(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\na,b\r\n2\r\n,c\r\n0\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
    assert_eq!(body(&r), "a,b,c");
    assert_eq!(header(&r, "content-type"), Some("text/csv"));

    // SIGTERM: exits 0, promptly.
    // SAFETY: sending a signal to our own child process.
    let sent = unsafe { libc::kill(hello.child.id() as i32, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let t = Instant::now();
    let status = loop {
        if let Some(status) = hello.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            t.elapsed() < Duration::from_secs(12),
            "did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status:?}");
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after exit"
    );
}

fn httpdate_like(s: &str) -> bool {
    s.len() == 29 && s.ends_with(" GMT") && s.as_bytes()[3] == b','
}

#[test]
fn router_example_serves_params_wildcards_and_405() {
    let router = start(env!("CARGO_BIN_EXE_router"), &[]);
    let r = exchange(
        router.addr,
        b"GET /users/42/posts/7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(body(&r), "post 7 of user 42\n");
    let r = exchange(
        router.addr,
        b"GET /users/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(body(&r).starts_with("the current user"), "{r}");
    let r = exchange(
        router.addr,
        b"GET /users/a%20b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(body(&r), "user a b\n");
    let r = exchange(
        router.addr,
        b"GET /files/css/site.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(body(&r), "file \"css/site.css\"\n");
    let r = exchange(
        router.addr,
        b"DELETE /users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 405 "), "{r}");
    assert_eq!(header(&r, "allow"), Some("GET, HEAD, POST"));
    let r = exchange(
        router.addr,
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
}

#[test]
fn state_example_counts_per_core() {
    let state = start(env!("CARGO_BIN_EXE_state"), &[]);
    let mut counts = std::collections::HashMap::<u32, u64>::new();
    for _ in 0..40 {
        let r = exchange(
            state.addr,
            b"GET /count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let text = body(&r).trim();
        let (core, count) = text
            .strip_prefix("core ")
            .and_then(|t| t.split_once(": "))
            .expect(text);
        let core: u32 = core.parse().unwrap();
        let count: u64 = count.parse().unwrap();
        let seen = counts.entry(core).or_default();
        *seen += 1;
        assert_eq!(count, *seen, "core {core} counted out of step");
    }
    assert!(counts.keys().all(|&c| c < 2), "{counts:?}");
}

#[test]
fn async_api_sleeps_without_holding_up_the_core() {
    let app = start(env!("CARGO_BIN_EXE_async_api"), &["--workers", "1"]);
    let addr = app.addr;
    let t = Instant::now();
    let r = exchange(
        addr,
        b"GET /sleep?ms=150 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(t.elapsed() >= Duration::from_millis(150));
    assert_eq!(body(&r), "slept 150 ms");
    for bad in ["ms=10001", "ms=-1", "ms=abc", "x=1", ""] {
        let req = format!("GET /sleep?{bad} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let r = exchange(addr, req.as_bytes());
        assert!(r.starts_with("HTTP/1.1 400 "), "{bad}: {r}");
    }
    // Twenty sleepers at once, and a sync request meanwhile.
    let t = Instant::now();
    let sleepers: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(move || {
                exchange(
                    addr,
                    b"GET /sleep?ms=300 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                )
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let quick = Instant::now();
    let r = exchange(
        addr,
        b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(body(&r), "Hello, World!");
    assert!(
        quick.elapsed() < Duration::from_millis(100),
        "{:?}",
        quick.elapsed()
    );
    for s in sleepers {
        assert_eq!(body(&s.join().unwrap()), "slept 300 ms");
    }
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn async_api_streams_files_and_events() {
    let root = std::env::temp_dir().join(format!("percore-async-api-{}", std::process::id()));
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let data: Vec<u8> = (0..1_000_003u32).map(|i| (i % 249) as u8).collect();
    std::fs::write(root.join("sub/big.bin"), &data).unwrap();
    std::fs::write(root.join("empty.bin"), b"").unwrap();
    let _ = std::os::unix::fs::symlink("/etc/passwd", root.join("escape"));
    let _ = std::os::unix::fs::symlink("sub/big.bin", root.join("inside"));
    let root_arg = root.display().to_string();
    let app = start(env!("CARGO_BIN_EXE_async_api"), &["--root", &root_arg]);
    let addr = app.addr;

    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /file/sub/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&out[..split]);
    assert!(
        head.starts_with("HTTP/1.1 200 ") && head.contains("content-length: 1000003"),
        "{head}"
    );
    assert!(out[split..] == data[..], "file bytes");
    for bad in [
        "/file/../etc/passwd",
        "/file/nope.bin",
        "/file/sub",
        "/file/%2e%2e/x",
    ] {
        let req = format!("GET {bad} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let r = exchange(addr, req.as_bytes());
        assert!(
            r.starts_with("HTTP/1.1 404 ") || r.starts_with("HTTP/1.1 400 "),
            "{bad}: {r}"
        );
    }

    let t = Instant::now();
    let r = exchange(
        addr,
        b"GET /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let took = t.elapsed();
    assert_eq!(header(&r, "content-type"), Some("text/event-stream"));
    let events = r.matches("data: event ").count();
    assert_eq!(events, 5, "{r}");
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(7),
        "{took:?}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

/// Reads responses from `s` until `count` are complete; their bodies.
fn read_bodies(s: &mut TcpStream, count: usize) -> Vec<String> {
    let mut buf = Vec::new();
    let mut bodies = Vec::new();
    let mut chunk = [0u8; 65536];
    while bodies.len() < count {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "closed after {} responses", bodies.len());
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() < end + 4 + len {
                break;
            }
            bodies.push(String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned());
            buf.drain(..end + 4 + len);
        }
    }
    bodies
}

#[test]
fn proxy_forwards_to_hello_with_bodies_pipelining_and_expect() {
    let upstream = start(env!("CARGO_BIN_EXE_hello"), &[]);
    let up = upstream.addr.to_string();
    let proxy = start(env!("CARGO_BIN_EXE_proxy"), &["--upstream", &up]);
    let addr = proxy.addr;

    let r = exchange(
        addr,
        b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(body(&r), "Hello, World!");
    assert_eq!(header(&r, "content-type"), Some("text/plain"));
    assert_eq!(r.matches("server:").count(), 1, "{r}");

    // Bodies both ways: Content-Length and chunked, 300 KB.
    let data: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let text = String::from_utf8(data.clone()).unwrap();
    let mut req = format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", data.len()).into_bytes();
    req.extend_from_slice(&data);
    let r = exchange(addr, &req);
    assert_eq!(body(&r), text);
    assert_eq!(header(&r, "content-type"), Some("text/x"));
    let mut req = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for piece in data.chunks(70_000) {
        req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        req.extend_from_slice(piece);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(body(&exchange(addr, &req)), text);

    // 100 pipelined requests on one connection, answered in order.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut burst = Vec::new();
    for i in 0..100 {
        if i % 2 == 0 {
            burst.extend_from_slice(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
        } else {
            let b = format!("n{i}");
            burst.extend_from_slice(
                format!(
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{b}",
                    b.len()
                )
                .as_bytes(),
            );
        }
    }
    s.write_all(&burst).unwrap();
    let bodies = read_bodies(&mut s, 100);
    for (i, b) in bodies.iter().enumerate() {
        let want = if i % 2 == 0 {
            "Hello, World!".to_string()
        } else {
            format!("n{i}")
        };
        assert_eq!(b, &want, "response {i}");
    }

    // Expect: 100-continue: the proxy answers 100, then relays.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").unwrap();
    let mut first = [0u8; 64];
    let n = s.read(&mut first).unwrap();
    assert!(
        first[..n].starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"),
        "{:?}",
        String::from_utf8_lossy(&first[..n])
    );
    s.write_all(b"hello").unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(body(&String::from_utf8_lossy(&rest)), "hello");
}

#[test]
fn proxy_answers_502_504_and_breaks_a_body_the_upstream_broke() {
    // An upstream of our own: scripted answers.
    let fake = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let fake_addr = fake.local_addr().unwrap();
    let script = std::thread::spawn(move || {
        let answers: [&[u8]; 3] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
            b"", // accepts and never answers
        ];
        let mut held = Vec::new();
        for answer in answers {
            let (mut c, _) = fake.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            if answer.is_empty() {
                held.push(c);
            } else {
                c.write_all(answer).unwrap();
            }
        }
        std::thread::sleep(Duration::from_secs(3));
        drop(held);
    });
    let up = fake_addr.to_string();
    let proxy = start(
        env!("CARGO_BIN_EXE_proxy"),
        &[
            "--upstream",
            &up,
            "--upstream-timeout",
            "1",
            "--workers",
            "1",
        ],
    );
    let addr = proxy.addr;
    for (what, complete) in [("length", "only ten..".len()), ("chunked", 0)] {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out); // the proxy closes
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 200 "), "{what}: {text}");
        if what == "length" {
            assert_eq!(
                body(&text).len(),
                complete,
                "{what}: a short body, then the close"
            );
        } else {
            assert!(
                !text.ends_with("0\r\n\r\n"),
                "{what}: the chunked body must not end complete: {text:?}"
            );
        }
    }
    let t = Instant::now();
    let r = exchange(
        addr,
        b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 504 "), "{r}");
    assert!(t.elapsed() >= Duration::from_secs(1) && t.elapsed() < Duration::from_secs(3));
    script.join().unwrap();
    // Nobody listens there any more: 502.
    let r = exchange(
        addr,
        b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 502 "), "{r}");
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// 100 connections at once, each with `per_conn` pipelined GETs of `path`.
fn pipelined_load(addr: SocketAddr, path: &str, per_conn: usize) -> usize {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").repeat(per_conn);
    let threads: Vec<_> = (0..100)
        .map(|_| {
            let req = req.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.write_all(req.as_bytes()).unwrap();
                read_bodies(&mut s, per_conn).len()
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).sum()
}

#[test]
fn proxy_keeps_no_descriptor_after_10000_requests_timeouts_and_aborts() {
    let upstream = start(env!("CARGO_BIN_EXE_async_api"), &["--workers", "1"]);
    let up = upstream.addr.to_string();
    let proxy = start(
        env!("CARGO_BIN_EXE_proxy"),
        &[
            "--upstream",
            &up,
            "--upstream-timeout",
            "1",
            "--workers",
            "1",
            "--stats",
            "/__stats",
        ],
    );
    let addr = proxy.addr;
    let pid = proxy.child.id();
    let stats = || {
        let r = exchange(
            addr,
            b"GET /__stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        serde_json::from_str::<serde_json::Value>(body(&r)).unwrap()
    };
    // Warm-up at the same concurrency, so the upstream pool is as full as
    // it will get.
    assert_eq!(pipelined_load(addr, "/plaintext", 10), 1000);
    std::thread::sleep(Duration::from_millis(300));
    let before = fd_count(pid);
    let stats_before = stats();
    assert_eq!(
        stats_before["recv_buffers_available"], stats_before["recv_buffers"],
        "{stats_before}"
    );

    assert_eq!(pipelined_load(addr, "/plaintext", 100), 10_000);
    // Upstream timeouts: 504s.
    let slow: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(move || {
                exchange(
                    addr,
                    b"GET /sleep?ms=1500 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                )
            })
        })
        .collect();
    // Client aborts: the request goes up, the client resets.
    for _ in 0..100 {
        let s = TcpStream::connect(addr).unwrap();
        (&s).write_all(b"GET /sleep?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt with a properly sized linger struct on our socket.
        unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&s),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as u32,
            );
        }
    }
    for t in slow {
        assert!(t.join().unwrap().starts_with("HTTP/1.1 504 "));
    }
    // Give the upstream time to answer the aborted ones (300 ms) and the
    // proxy to settle.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut after = fd_count(pid);
    while after > before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        after = fd_count(pid);
    }
    assert!(
        after <= before,
        "descriptors: {before} before, {after} after"
    );
    // Nothing left behind on the core: every receive buffer back in the
    // ring, no task or ring op of the aborted and timed-out requests.
    // Connections the last requests closed may still be finishing their
    // close (lingering until the client's FIN): they must get there.
    let mut stats_after = stats();
    let deadline = Instant::now() + Duration::from_secs(5);
    while stats_after["connections"] != stats_before["connections"] && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        stats_after = stats();
    }
    for key in [
        "recv_buffers_available",
        "connections",
        "tasks",
        "task_ops_in_flight",
    ] {
        assert_eq!(
            stats_after[key], stats_before[key],
            "{key}: before {stats_before}, after {stats_after}"
        );
    }
    assert_eq!(
        body(&exchange(
            addr,
            b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )),
        "Hello, World!"
    );
}

/// A scripted upstream: the first connection answers once, then writes an
/// unsolicited answer while idle; every later connection answers each
/// request with its own path; `/stall` sends 10 of 100 bytes and stops.
fn scripted_upstream() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut first = true;
        for conn in l.incoming() {
            let Ok(mut c) = conn else { return };
            let dirty = std::mem::replace(&mut first, false);
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match c.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end + 4);
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    if path == "/stall" {
                        let _ = c
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
                        std::thread::sleep(Duration::from_secs(5));
                        return;
                    }
                    let _ = c.write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{path}",
                            path.len()
                        )
                        .as_bytes(),
                    );
                    if dirty {
                        std::thread::sleep(Duration::from_millis(100));
                        let _ =
                            c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\npoisoned");
                        std::thread::sleep(Duration::from_secs(5));
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn proxy_pool_drops_dirty_or_closed_connections_and_times_out_stalled_bodies() {
    let up = scripted_upstream().to_string();
    let proxy = start(
        env!("CARGO_BIN_EXE_proxy"),
        &[
            "--upstream",
            &up,
            "--upstream-timeout",
            "1",
            "--workers",
            "1",
        ],
    );
    let addr = proxy.addr;
    let get = |path: &str| {
        body(&exchange(
            addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        ))
        .to_string()
    };
    assert_eq!(get("/first"), "/first");
    std::thread::sleep(Duration::from_millis(300)); // the upstream writes on the idle connection
    assert_eq!(
        get("/victim"),
        "/victim",
        "an unsolicited answer was handed to another request"
    );
    assert_eq!(get("/victim2"), "/victim2");
    // A body that stalls ends (broken) after the timeout.
    let t = Instant::now();
    let r = exchange(addr, b"GET /stall HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(
        r.starts_with("HTTP/1.1 200 ") && body(&r) == "0123456789",
        "{r}"
    );
}

#[test]
fn proxy_keeps_head_lengths_adds_host_and_survives_upstream_idle_closes() {
    let dir = std::env::temp_dir().join(format!("percore-proxy-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("upstream.toml");
    std::fs::write(&cfg, "[timeouts]\nkeepalive_secs = 1\n").unwrap();
    let cfg_arg = cfg.display().to_string();
    let upstream = start(env!("CARGO_BIN_EXE_hello"), &["--config", &cfg_arg]);
    let up = upstream.addr.to_string();
    let proxy = start(env!("CARGO_BIN_EXE_proxy"), &["--upstream", &up]);
    let addr = proxy.addr;
    let r = exchange(
        addr,
        b"HEAD /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(header(&r, "content-length"), Some("13"), "{r}");
    assert_eq!(body(&r), "");
    let r = exchange(addr, b"GET /plaintext HTTP/1.0\r\n\r\n");
    assert_eq!(body(&r), "Hello, World!", "{r}");
    let post =
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi";
    assert_eq!(body(&exchange(addr, post)), "hi");
    // The upstream closes its idle connections after 1 s; a POST (not
    // retried) must not land on one of them.
    std::thread::sleep(Duration::from_millis(1600));
    for _ in 0..4 {
        let r = exchange(addr, post);
        assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An upstream that answers each request with what it received: the head's
/// lines (lowercased) and the body's length and checksum after de-chunking.
/// `/early` answers 413 at once without reading the body, and closes.
fn inspecting_upstream() -> SocketAddr {
    fn read_until(c: &mut TcpStream, buf: &mut Vec<u8>, pat: &[u8]) -> Option<usize> {
        let mut chunk = [0u8; 65536];
        loop {
            if let Some(p) = buf.windows(pat.len()).position(|w| w == pat) {
                return Some(p);
            }
            match c.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
    fn read_n(c: &mut TcpStream, buf: &mut Vec<u8>, n: usize) -> Option<Vec<u8>> {
        let mut chunk = [0u8; 65536];
        while buf.len() < n {
            match c.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        }
        Some(buf.drain(..n).collect())
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                loop {
                    let Some(end) = read_until(&mut c, &mut buf, b"\r\n\r\n") else {
                        return;
                    };
                    let head = String::from_utf8_lossy(&buf[..end])
                        .to_ascii_lowercase()
                        .replace("\r\n", "\n");
                    buf.drain(..end + 4);
                    let bad_framing = [
                        ("get /badcl ", "Content-Length: abc\r\n"),
                        ("get /pluscl ", "Content-Length: +2\r\n"),
                        ("get /twocl ", "Content-Length: 2\r\nContent-Length: 3\r\n"),
                        ("get /gzip ", "Transfer-Encoding: gzip\r\n"),
                        ("get /status99 ", ""),
                    ];
                    if let Some((path, framing)) =
                        bad_framing.iter().find(|(p, _)| head.starts_with(p))
                    {
                        let status = if path.contains("99") { "099" } else { "200" };
                        let _ = c.write_all(
                            format!("HTTP/1.1 {status} OK\r\n{framing}Connection: close\r\n\r\nok")
                                .as_bytes(),
                        );
                        return;
                    }
                    if head.starts_with("post /early") {
                        let _ = c.write_all(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 5\r\nConnection: close\r\n\r\nearly");
                        std::thread::sleep(Duration::from_millis(200));
                        return;
                    }
                    let field = |name: &str| {
                        head.lines()
                            .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
                    };
                    let mut body = Vec::new();
                    if field("transfer-encoding").as_deref() == Some("chunked") {
                        loop {
                            let Some(eol) = read_until(&mut c, &mut buf, b"\r\n") else {
                                return;
                            };
                            let size = usize::from_str_radix(
                                std::str::from_utf8(&buf[..eol]).unwrap().trim(),
                                16,
                            )
                            .unwrap();
                            buf.drain(..eol + 2);
                            let Some(data) = read_n(&mut c, &mut buf, size + 2) else {
                                return;
                            };
                            body.extend_from_slice(&data[..size]);
                            if size == 0 {
                                break;
                            }
                        }
                    } else if let Some(n) = field("content-length") {
                        let Some(data) = read_n(&mut c, &mut buf, n.parse().unwrap()) else {
                            return;
                        };
                        body = data;
                    }
                    let sum: u64 = body.iter().map(|&b| b as u64).sum();
                    let answer = format!("{head}\nbody {} {sum}\n", body.len());
                    let _ = c.write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{answer}",
                            answer.len()
                        )
                        .as_bytes(),
                    );
                }
            });
        }
    });
    addr
}

#[test]
fn proxy_streams_uploads_adds_x_forwarded_for_and_strips_hop_headers() {
    let up = inspecting_upstream().to_string();
    let proxy = start(
        env!("CARGO_BIN_EXE_proxy"),
        &["--upstream", &up, "--workers", "1"],
    );
    let addr = proxy.addr;

    // The client's address appended to X-Forwarded-For; hop-by-hop gone.
    let r = exchange(
        addr,
        b"GET /h HTTP/1.1\r\nHost: x\r\nConnection: close, foo\r\nFoo: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nX-Kept: yes\r\n\r\n",
    );
    let seen = body(&r);
    assert!(seen.contains("\nx-forwarded-for: 127.0.0.1\n"), "{seen}");
    assert!(seen.contains("\nx-kept: yes\n"), "{seen}");
    for gone in ["\nfoo:", "\nkeep-alive:", "\nte:", "\nconnection: close"] {
        assert!(!seen.contains(gone), "{gone} forwarded: {seen}");
    }
    let r = exchange(
        addr,
        b"GET /h HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert!(
        body(&r).contains("\nx-forwarded-for: 10.0.0.1, 127.0.0.1\n"),
        "{r}"
    );
    // Every X-Forwarded-For line counts (RFC 9110 5.3), as with nginx.
    let r = exchange(
        addr,
        b"GET /h HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\nConnection: close\r\n\r\n",
    );
    assert!(
        body(&r).contains("\nx-forwarded-for: 1.1.1.1, 2.2.2.2, 127.0.0.1\n"),
        "{r}"
    );
    // An absolute-form target goes up in origin form; Host always goes up,
    // even when Connection names it; any method is proxied.
    let r = exchange(
        addr,
        b"GET http://evil.example/h?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close, host\r\n\r\n",
    );
    let seen = body(&r);
    assert!(seen.starts_with("get /h?q=1 http/1.1\n"), "{seen}");
    assert!(seen.contains("\nhost: x\n"), "{seen}");
    let r = exchange(
        addr,
        b"PROPFIND /dav HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(body(&r).starts_with("propfind /dav http/1.1\n"), "{r}");
    // An upstream answer whose framing is unknowable is 502, not a guess.
    for path in ["/badcl", "/pluscl", "/twocl", "/gzip", "/status99"] {
        let r = exchange(
            addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert!(r.starts_with("HTTP/1.1 502 "), "{path}: {r}");
        assert!(body(&r).starts_with("502"), "{path}: {r}");
    }

    // Large bodies stream up, trickled: Content-Length kept, chunked
    // re-chunked, every byte there.
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let sum: u64 = data.iter().map(|&b| b as u64).sum();
    for chunked in [false, true] {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = if chunked {
            b"PUT /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                .to_vec()
        } else {
            format!(
                "PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                data.len()
            )
            .into_bytes()
        };
        if chunked {
            for piece in data.chunks(33_333) {
                req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                req.extend_from_slice(piece);
                req.extend_from_slice(b"\r\n");
            }
            req.extend_from_slice(b"0\r\n\r\n");
        } else {
            req.extend_from_slice(&data);
        }
        for piece in req.chunks(100_000) {
            s.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let r = String::from_utf8_lossy(&out);
        let seen = body(&r);
        assert!(
            seen.contains(&format!("body {} {sum}", data.len())),
            "chunked {chunked}: {seen}"
        );
        if chunked {
            assert!(seen.contains("\ntransfer-encoding: chunked\n"), "{seen}");
        } else {
            assert!(
                seen.contains(&format!("\ncontent-length: {}\n", data.len())),
                "{seen}"
            );
        }
    }

    // An upstream that answers before reading the body: its answer is
    // relayed, the upload stops.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\n\r\n")
        .unwrap();
    let writer = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || {
            let chunk = vec![b'x'; 100_000];
            for _ in 0..9 {
                if w.write_all(&chunk).is_err() {
                    return;
                }
            }
        })
    };
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("early") {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    let r = String::from_utf8_lossy(&got);
    assert!(
        r.starts_with("HTTP/1.1 413 ") && r.ends_with("early"),
        "{r}"
    );
    drop(s);
    writer.join().unwrap();
}

/// Every app built on `Server::from_args` has `--check`.
#[test]
fn check_runs_the_probes_and_exits() {
    let out = Command::new(env!("CARGO_BIN_EXE_hello"))
        .args(["--check", "--listen", "127.0.0.1:0", "--workers", "1"])
        .output()
        .expect("run hello --check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("ok    io_uring:")),
        "{text}"
    );
    assert!(
        text.ends_with("percore can run with this configuration\n"),
        "{text}"
    );
}
