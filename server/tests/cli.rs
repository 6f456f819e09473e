//! The `percore-server` binary: configuration errors are one line and exit
//! 2; a good run logs the chosen port, serves files, writes access-log
//! lines, and exits 0 on SIGTERM.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{listening_addr, server, with_open_file_limit, Running, TempDir};

/// Runs the binary to completion (it must not start serving).
fn run(args: &[&str]) -> Output {
    let mut child = server()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn percore-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("percore-server {args:?} did not exit within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The non-empty lines of a process's stderr.
fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn assert_config_error(out: &Output, must_contain: &[&str]) {
    let stderr = lines(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr:?}");
    assert_eq!(stderr.len(), 1, "one line expected: {stderr:?}");
    for needle in must_contain {
        assert!(
            stderr[0].contains(needle),
            "{:?} does not mention {needle:?}",
            stderr[0]
        );
    }
    assert!(
        !stderr[0].contains("panicked"),
        "a panic, not an error: {stderr:?}"
    );
}

#[test]
fn an_unknown_config_key_is_one_line_naming_it_and_exit_2() {
    let dir = TempDir::new("unknown-key");
    let config = dir.write("bad.toml", b"[server]\nworkerz = 2\n");
    let out = run(&["--config", config.to_str().unwrap()]);
    assert_config_error(&out, &["workerz", "bad.toml"]);

    let config = dir.write("bad-section.toml", b"[servre]\nworkers = 2\n");
    let out = run(&["--config", config.to_str().unwrap()]);
    assert_config_error(&out, &["servre"]);
}

#[test]
fn a_bad_config_value_is_exit_2() {
    let dir = TempDir::new("bad-value");
    let config = dir.write("bad.toml", b"[server]\nworkers = \"x\"\n");
    let out = run(&["--config", config.to_str().unwrap()]);
    assert_config_error(&out, &["workers"]);

    let config = dir.write("range.toml", b"[server]\nworkers = 5000\n");
    let out = run(&["--config", config.to_str().unwrap()]);
    assert_config_error(&out, &["workers"]);

    let config = dir.write("syntax.toml", b"[server\nworkers = 1\n");
    let out = run(&["--config", config.to_str().unwrap()]);
    assert_config_error(&out, &[]);

    let missing = dir.path().join("missing.toml");
    let out = run(&["--config", missing.to_str().unwrap()]);
    assert_config_error(&out, &["missing.toml"]);
}

#[test]
fn a_missing_root_is_exit_2_with_a_clear_line() {
    let out = run(&[
        "--root",
        "/nonexistent/percore-root",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_config_error(&out, &["/nonexistent/percore-root", "not a directory"]);

    // A file is not a directory either.
    let dir = TempDir::new("root-file");
    let file = dir.write("file.txt", b"x");
    let out = run(&["--root", file.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    assert_config_error(&out, &["file.txt"]);
}

#[test]
fn bad_flags_are_exit_2() {
    let out = run(&["--listen", "not-an-address"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", lines(&out.stderr));
    let out = run(&["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", lines(&out.stderr));
    let out = run(&["--workers", "x"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", lines(&out.stderr));
}

/// One request on a fresh connection with `Connection: close`; the whole
/// answer.
fn fetch(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_good_run_logs_its_port_serves_logs_access_and_exits_0_on_sigterm() {
    let dir = TempDir::new("serve");
    dir.write("hello.txt", b"hello from percore-server\n");
    dir.write("index.html", b"<h1>index</h1>\n");
    let mut server = Running::start(&[
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--root",
        dir.path().to_str().unwrap(),
    ]);
    let line = server.wait_for("listening on ");
    let addr = listening_addr(&line);
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0, "{line}");

    let answer = fetch(addr, "/hello.txt");
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(
        answer.ends_with("\r\n\r\nhello from percore-server\n"),
        "{answer}"
    );
    let answer = fetch(addr, "/");
    assert!(answer.ends_with("<h1>index</h1>\n"), "{answer}");
    let answer = fetch(addr, "/missing-file");
    assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
    let answer = fetch(addr, "/../etc/passwd");
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");

    // nginx's combined format, then the request time.
    let access = server.wait_for("/hello.txt");
    assert!(access.starts_with("127.0.0.1 - - ["), "{access}");
    assert!(
        access.contains("] \"GET /hello.txt HTTP/1.1\" 200 26 \"-\" \"-\" 0."),
        "{access}"
    );
    let access = server.wait_for("/missing-file");
    assert!(access.contains("\" 404 "), "{access}");
    let access = server.wait_for("/../etc/passwd");
    assert!(access.contains("\" 400 "), "{access}");

    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit(15), Some(0), "stderr: {:?}", server.seen);
}

#[test]
fn sigint_also_exits_0_and_a_config_file_is_used_with_flags_over_it() {
    let dir = TempDir::new("config");
    let root = dir.path().join("site");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("a.txt"), b"from the config root").unwrap();
    let config = dir.write(
        "percore.toml",
        format!(
            "[server]\nlisten = \"127.0.0.1:1\"\nworkers = 1\n\n[files]\nroot = \"{}\"\ncache_control = \"no-store\"\n\n[log]\naccess_log = false\n",
            root.display()
        )
        .as_bytes(),
    );
    let mut server = Running::start(&[
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let addr = listening_addr(&server.wait_for("listening on "));
    let answer = fetch(addr, "/a.txt");
    assert!(answer.ends_with("from the config root"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("cache-control: no-store\r\n"),
        "{answer}"
    );
    server.signal(libc::SIGINT);
    assert_eq!(server.wait_exit(15), Some(0), "stderr: {:?}", server.seen);
    // access_log = false: no access line.
    while let Ok(line) = server.lines.recv_timeout(Duration::from_secs(2)) {
        server.seen.push(line);
    }
    assert!(
        !server.seen.iter().any(|l| l.contains("/a.txt")),
        "{:?}",
        server.seen
    );
}

/// Out of descriptors, a file is 503 with Retry-After (not a cached 404),
/// and served again once descriptors come back. Here the descriptors go to
/// the pipes of big downloads whose clients do not read (one per
/// connection): the file cache alone keeps within the limit.
#[test]
fn running_out_of_descriptors_is_503_and_then_recovers() {
    let dir = TempDir::new("fds");
    for i in 0..40 {
        dir.write(&format!("f{i}.txt"), format!("file {i}\n").as_bytes());
    }
    let big: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
    dir.write("big.bin", &big);
    let mut cmd = server();
    cmd.args(["--listen", "127.0.0.1:0", "--workers", "1", "--root"])
        .arg(dir.path());
    with_open_file_limit(&mut cmd, 48);
    let mut running = Running::spawn(cmd);
    let addr = listening_addr(&running.wait_for("listening on"));
    // Downloads that stall: each holds a splice pipe (two descriptors).
    let mut stalled: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut unavailable = Vec::new();
    for i in 0..40 {
        let r = fetch(addr, &format!("/f{i}.txt"));
        if r.starts_with("HTTP/1.1 503 ") {
            assert!(r.to_ascii_lowercase().contains("retry-after: 1"), "{r}");
            unavailable.push(i);
        } else {
            assert!(
                r.starts_with("HTTP/1.1 200 ") && r.ends_with(&format!("file {i}\n")),
                "{r}"
            );
        }
    }
    assert!(
        !unavailable.is_empty(),
        "48 descriptors never ran out with 20 stalled downloads"
    );
    // Every stalled download still arrives whole (or, if the server could
    // not get a pipe for it, as a 503): none is cut short.
    for s in &mut stalled {
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        let text = String::from_utf8_lossy(&got[..got.len().min(12)]).into_owned();
        if text.starts_with("HTTP/1.1 200") {
            assert!(
                got.ends_with(&big[big.len() - 1000..]) && got.len() > big.len(),
                "cut short: {} bytes, {:?}",
                got.len(),
                String::from_utf8_lossy(&got[..got.len().min(200)])
            );
        } else {
            assert!(text.starts_with("HTTP/1.1 503"), "{text}");
        }
    }
    drop(stalled);
    std::thread::sleep(Duration::from_millis(1200)); // the 503 is cached for the TTL
    for &i in &unavailable {
        let r = fetch(addr, &format!("/f{i}.txt"));
        assert!(r.starts_with("HTTP/1.1 200 "), "f{i}: {r}");
    }
    running.signal(libc::SIGTERM);
    assert_eq!(running.wait_exit(10), Some(0));
}

/// The JSON lines of `path` once it has at least `n` (10 s at most).
fn json_lines(path: &Path, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn send(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

#[test]
fn the_access_log_counts_bytes_sent_logs_refusals_and_reopens_on_sigusr1() {
    let dir = TempDir::new("access-log");
    let root = dir.path().join("site");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("hello.txt"), b"hello from percore-server\n").unwrap();
    let big = vec![b'x'; 8 << 20];
    std::fs::write(root.join("big.bin"), &big).unwrap();
    let log = dir.path().join("access.log");
    let config = dir.write(
        "percore.toml",
        format!(
            "[timeouts]\nbody_secs = 1\n\n[files]\nroot = \"{}\"\n\n[log]\naccess_format = \"json\"\naccess_file = \"{}\"\n",
            root.display(),
            log.display()
        )
        .as_bytes(),
    );
    let mut server = Running::start(&[
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "1",
    ]);
    let addr = listening_addr(&server.wait_for("listening on "));

    send(addr, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nReferer: https://a.example/\"q\r\nUser-Agent: t/1\r\nConnection: close\r\n\r\n");
    send(
        addr,
        b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    send(addr, b"BLAH\r\n\r\n");
    // A download abandoned after 64 KiB: logged with what was sent.
    {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut got = 0;
        let mut buf = [0u8; 16384];
        while got < 65536 {
            got += s.read(&mut buf).unwrap();
        }
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt on our own socket with a valid linger struct.
        unsafe {
            use std::os::fd::AsRawFd;
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as u32,
            );
        }
    }
    // A body that stops coming: 408, logged with its request line.
    let timed_out = send(
        addr,
        b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab",
    );
    assert!(
        timed_out.starts_with(b"HTTP/1.1 408 "),
        "{:?}",
        String::from_utf8_lossy(&timed_out)
    );
    let lines = json_lines(&log, 5);
    assert_eq!(lines.len(), 5, "{lines:?}");
    let by = |req: &str| {
        lines
            .iter()
            .find(|l| l["request"] == req)
            .unwrap_or_else(|| panic!("no line for {req}: {lines:?}"))
    };
    let get = by("GET /hello.txt HTTP/1.1");
    assert_eq!(get["status"], 200);
    assert_eq!(get["body_bytes"], 26);
    assert_eq!(get["client"], "127.0.0.1");
    assert_eq!(get["referer"], "https://a.example/\"q");
    assert_eq!(get["user_agent"], "t/1");
    assert!(get["request_time"].as_f64().is_some());
    assert!(get["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    let head = by("HEAD /hello.txt HTTP/1.1");
    assert_eq!(
        (head["status"].as_u64(), head["body_bytes"].as_u64()),
        (Some(200), Some(0))
    );
    let refused = by("BLAH");
    assert_eq!(refused["status"], 400);
    assert_eq!(by("POST /hello.txt HTTP/1.1")["status"], 408);
    let abandoned = by("GET /big.bin HTTP/1.1");
    assert_eq!(abandoned["status"], 200);
    let sent = abandoned["body_bytes"].as_u64().unwrap();
    assert!(
        sent > 0 && sent < big.len() as u64,
        "{sent} of {}",
        big.len()
    );

    // logrotate: move the file away, SIGUSR1, and the next line starts a
    // new file; the moved one keeps what it had.
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    server.signal(libc::SIGUSR1);
    server.wait_for("access log reopened");
    send(
        addr,
        b"GET /hello.txt?after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let fresh = json_lines(&log, 1);
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    assert_eq!(fresh[0]["request"], "GET /hello.txt?after HTTP/1.1");
    assert_eq!(json_lines(&rotated, 5).len(), 5);

    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit(15), Some(0), "stderr: {:?}", server.seen);
}

/// systemd's `Type=notify`: READY=1 once listening, STOPPING=1 at the drain.
#[test]
fn systemd_hears_ready_and_stopping() {
    let dir = TempDir::new("notify");
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut cmd = server();
    cmd.args(["--listen", "127.0.0.1:0", "--workers", "1", "--root"])
        .arg(dir.path())
        .env("NOTIFY_SOCKET", &socket_path);
    let mut server = Running::spawn(cmd);
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("READY=1 within 10 s");
    assert_eq!(&buf[..n], b"READY=1");
    // Ready means listening: the address was logged before.
    let addr = listening_addr(&server.wait_for("listening on "));
    assert!(fetch(addr, "/").starts_with("HTTP/1.1 404 "));
    server.signal(libc::SIGTERM);
    let n = socket.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert_eq!(server.wait_exit(15), Some(0));
}

/// SIGHUP is not fatal; SIGQUIT drains like SIGTERM; a second signal during
/// a drain ends it at once.
#[test]
fn sighup_is_survived_sigquit_drains_and_a_second_signal_cuts_the_drain() {
    let dir = TempDir::new("signals");
    dir.write("big.bin", &vec![b'x'; 32 << 20]);
    let mut server = Running::start(&[
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--root",
        dir.path().to_str().unwrap(),
    ]);
    let addr = listening_addr(&server.wait_for("listening on "));
    server.signal(libc::SIGHUP);
    server.wait_for("received SIGHUP");
    assert!(
        fetch(addr, "/").starts_with("HTTP/1.1 404 "),
        "still serving"
    );

    // A download nobody reads keeps the drain going (10 s by default).
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    server.signal(libc::SIGQUIT);
    server.wait_for("received SIGQUIT: draining");
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.child.try_wait().unwrap().is_none(), "still draining");
    let t = Instant::now();
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit(5), Some(1), "{:?}", server.seen);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    drop(slow);
}

#[test]
fn check_prints_one_line_per_probe_and_names_the_first_fix() {
    let dir = TempDir::new("check");
    let good = run(&[
        "--check",
        "--listen",
        "127.0.0.1:0",
        "--root",
        dir.path().to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&good.stdout);
    assert_eq!(good.status.code(), Some(0), "{text}");
    for probe in [
        "kernel:",
        "io_uring:",
        "io_uring opcodes: accept, poll_add, multishot recv, send, sendmsg, splice",
        "RLIMIT_MEMLOCK:",
        "RLIMIT_NOFILE:",
        "server.listen:",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("ok") && l.contains(probe)),
            "{probe}: {text}"
        );
    }
    // Receive buffers consumed incrementally from Linux 6.12 on.
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut version = release
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (version.next().unwrap_or(0), version.next().unwrap_or(0));
    let ring_line = text
        .lines()
        .find(|l| l.contains("io_uring: flags="))
        .unwrap();
    assert_eq!(
        ring_line.contains("buf-ring-inc"),
        (major, minor) >= (6, 12),
        "{release}: {ring_line}"
    );
    // A taken port and a broken certificate: exit 1, the first fix named.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let cert = dir.write("bad.crt", b"not a certificate");
    let config = dir.write(
        "c.toml",
        format!("[tls]\ncert = {cert:?}\nkey = {cert:?}\n").as_bytes(),
    );
    let bad = run(&[
        "--check",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        &port,
        "--root",
        dir.path().to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  server.listen:") && text.contains("EADDRINUSE"),
        "{text}"
    );
    assert!(
        text.contains("FAIL  tls:") && text.contains("bad.crt"),
        "{text}"
    );
    assert!(
        text.contains("first fix: stop the other server, or --takeover"),
        "{text}"
    );
}

/// Runs percore-server with `args` under `ulimit -n limit`.
fn run_with_open_file_limit(args: &[&str], limit: u64) -> Output {
    let mut cmd = server();
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    with_open_file_limit(&mut cmd, limit);
    let child = cmd.spawn().expect("spawn percore-server");
    child.wait_with_output().expect("percore-server exits")
}

#[test]
fn too_few_descriptors_and_a_missing_root_fail_the_check_and_the_start_with_the_fix() {
    let dir = TempDir::new("check-limits");
    let root = dir.path().to_str().unwrap();
    let args = ["--listen", "127.0.0.1:0", "--workers", "2", "--root", root];
    let check = run_with_open_file_limit(&[&["--check"][..], &args].concat(), 12);
    let text = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL  RLIMIT_NOFILE: 12 (hard)"), "{text}");
    assert!(
        text.contains("first fix: RLIMIT_NOFILE is 12: 2 worker(s) need at least 32"),
        "{text}"
    );
    assert!(!text.contains("can run"), "{text}");
    // The real start says the same, not "eventfd: Too many open files".
    let start = run_with_open_file_limit(&args, 12);
    let err = String::from_utf8_lossy(&start.stderr);
    assert_eq!(start.status.code(), Some(1), "{err}");
    assert!(
        err.contains("RLIMIT_NOFILE is 12") && err.contains("ulimit -n"),
        "{err}"
    );
    // Enough descriptors, no root: the root is a probe like the others,
    // before the verdict.
    let missing = dir.path().join("nope");
    let out = run(&[
        "--check",
        "--listen",
        "127.0.0.1:0",
        "--root",
        missing.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[lines.len() - 2].starts_with("FAIL  files.root:"),
        "{text}"
    );
    assert!(
        lines[lines.len() - 1].starts_with("first fix: set files.root"),
        "{text}"
    );
    assert!(!text.contains("can run"), "{text}");
}
