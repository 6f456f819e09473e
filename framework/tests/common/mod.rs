//! Shared helpers for the integration tests: start a real server on
//! 127.0.0.1:0 (two workers unless a test needs one) and talk raw bytes.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use percore::{App, Config, RunningServer, Server};

/// Starts a server whose every core runs `factory`.
pub fn start<F>(workers: usize, factory: F) -> RunningServer
where
    F: Fn(usize) -> App + Send + Sync + 'static,
{
    start_with(workers, |_| {}, factory)
}

/// Like [`start`], with a chance to adjust the config.
pub fn start_with<F>(workers: usize, tweak: impl FnOnce(&mut Config), factory: F) -> RunningServer
where
    F: Fn(usize) -> App + Send + Sync + 'static,
{
    percore::init_logging("warn");
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.server.workers = workers;
    config.server.max_connections = 1024;
    config.ring.buffers = 256;
    tweak(&mut config);
    Server::new(config).start(factory).expect("server starts")
}

/// A connected client with a read timeout.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads until the peer closes (or 5 s pass); returns everything read and
/// whether the connection was closed by the server.
pub fn read_to_close(s: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (out, true),
            Err(_) => return (out, false),
        }
        if Instant::now() > deadline {
            return (out, false);
        }
    }
}

/// One parsed response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads exactly one response (Content-Length or chunked framed; none for
/// HEAD when `head` is set, or for 1xx/204/304).
pub fn read_response(s: &mut TcpStream, pending: &mut Vec<u8>, head: bool) -> Resp {
    loop {
        if let Some((resp, used)) = parse_response(pending, head) {
            pending.drain(..used);
            return resp;
        }
        let mut buf = [0u8; 16384];
        let n = s.read(&mut buf).expect("read response");
        assert!(
            n > 0,
            "connection closed before a full response; got {:?}",
            String::from_utf8_lossy(pending)
        );
        pending.extend_from_slice(&buf[..n]);
    }
}

/// Parses one response at the start of `buf`: the response and bytes used.
pub fn parse_response(buf: &[u8], head: bool) -> Option<(Resp, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = std::str::from_utf8(&buf[..end]).expect("utf-8 head");
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(
        status_line.starts_with("HTTP/1.1 "),
        "status line {status_line:?}"
    );
    let status: u16 = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header colon");
            (n.to_string(), v.trim().to_string())
        })
        .collect();
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    if head || status < 200 || status == 204 || status == 304 {
        return Some((resp, end));
    }
    if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().unwrap();
        if buf.len() < end + len {
            return None;
        }
        resp.body = buf[end..end + len].to_vec();
        return Some((resp, end + len));
    }
    assert_eq!(
        resp.header("transfer-encoding"),
        Some("chunked"),
        "unframed response"
    );
    let mut pos = end;
    loop {
        let line_end = buf[pos..].windows(2).position(|w| w == b"\r\n")? + pos;
        let size =
            usize::from_str_radix(std::str::from_utf8(&buf[pos..line_end]).unwrap(), 16).unwrap();
        pos = line_end + 2;
        if size == 0 {
            if buf.len() < pos + 2 {
                return None;
            }
            return Some((resp, pos + 2));
        }
        if buf.len() < pos + size + 2 {
            return None;
        }
        resp.body.extend_from_slice(&buf[pos..pos + size]);
        pos += size + 2;
    }
}

/// Sends `request` on a new connection and reads one response.
pub fn roundtrip(addr: SocketAddr, request: &[u8]) -> Resp {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    let mut pending = Vec::new();
    read_response(&mut s, &mut pending, request.starts_with(b"HEAD "))
}

/// Closes `s` with a reset (SO_LINGER 0), as a client that aborts does.
pub fn reset(s: TcpStream) {
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
    drop(s);
}
