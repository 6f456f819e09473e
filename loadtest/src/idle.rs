//! Idle keep-alive memory: what an open, quiet connection costs the server.
//!
//! 1. Warm up: 100 connections, one request each, closed (pools fill up).
//! 2. Measure the server's RSS (summed over its processes).
//! 3. Open `n` connections, one request each (response read in full), kept open.
//! 4. Measure RSS again: `(after - before) / n` is the cost per connection.
//! 5. A fresh connection must still get a 200 (the server is not wedged).
//!
//! The client side needs `n` sockets: the caller raises RLIMIT_NOFILE first.
//! No sleeps: once a response has been read, the server has done its work.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::procfs;

const WARM_UP: usize = 100;
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What the idle scenario measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdleReport {
    pub connections: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub bytes_per_conn: f64,
}

/// Run the scenario against the server `pid` on `port`, requesting `path`.
pub fn run(pid: u32, port: u16, path: &str, n: usize) -> Result<IdleReport, String> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    for i in 0..WARM_UP {
        let mut s = connect(port).map_err(|e| format!("warm-up connection {i}: {e}"))?;
        one_request(&mut s, &request).map_err(|e| format!("warm-up request {i}: {e}"))?;
    }
    let rss_before_kib = procfs::rss_kib(pid);
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = connect(port).map_err(|e| format!("connection {i} of {n}: {e}"))?;
        one_request(&mut s, &request)
            .map_err(|e| format!("request on connection {i} of {n}: {e}"))?;
        conns.push(s);
    }
    let rss_after_kib = procfs::rss_kib(pid);
    let mut fresh = connect(port).map_err(|e| format!("fresh connection with {n} idle: {e}"))?;
    one_request(&mut fresh, &request).map_err(|e| format!("fresh request with {n} idle: {e}"))?;
    drop(conns);
    Ok(IdleReport {
        connections: n,
        rss_before_kib,
        rss_after_kib,
        bytes_per_conn: (rss_after_kib as f64 - rss_before_kib as f64) * 1024.0 / n as f64,
    })
}

fn connect(port: u16) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(READ_TIMEOUT))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Send one request and read exactly one whole response; it must be a 200.
fn one_request(s: &mut TcpStream, request: &str) -> Result<(), String> {
    s.write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).map_err(read_error)?;
        if n == 0 {
            return Err("closed before a response head".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!("status {status:?}, want 200"));
    }
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .ok_or("response without Content-Length")?;
    while buf.len() < head_end + length {
        let n = s.read(&mut chunk).map_err(read_error)?;
        if n == 0 {
            return Err("closed inside the body".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

/// A read timeout means the server did not answer (h2o, for one, stops
/// accepting work at its `max-connections`); say so rather than "EAGAIN".
fn read_error(e: std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("no response within {} s", READ_TIMEOUT.as_secs())
        }
        _ => format!("read: {e}"),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn reads_one_whole_response() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf).unwrap();
            c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")
                .unwrap();
            c.write_all(b"lo").unwrap();
            let _ = c.read(&mut buf).unwrap();
            c.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
        });
        let mut s = connect(port).unwrap();
        one_request(&mut s, "GET / HTTP/1.1\r\n\r\n").unwrap();
        assert!(one_request(&mut s, "GET / HTTP/1.1\r\n\r\n")
            .unwrap_err()
            .contains("404"));
        t.join().unwrap();
    }
}
