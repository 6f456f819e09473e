//! The scrape endpoint: a plain blocking listener on its own thread (not a
//! core: a scrape must not take a core's time, and must answer while the
//! cores are busy). `GET /metrics` answers the text format; anything else
//! is 404 (or 405 for another method). One scrape at a time; a client gets
//! 5 s to send its request.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use super::Registry;

/// Binds `addr` and serves scrapes of `registry` until the process ends.
/// Returns the address bound (port 0 picks one).
pub(crate) fn spawn_endpoint(addr: SocketAddr, registry: Registry) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("metrics.listen {addr}: {e}")))?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("percore-metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(s) => {
                        if let Err(e) = answer(s, &registry) {
                            tracing::debug!("metrics scrape: {e}");
                        }
                    }
                    Err(e) => {
                        tracing::warn!("metrics accept: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })?;
    Ok(bound)
}

fn answer(mut s: TcpStream, registry: &Registry) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf)?;
        if n == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or(b"");
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (parts.next().unwrap_or(b""), parts.next().unwrap_or(b""));
    let path = target.split(|&b| b == b'?').next().unwrap_or(b"");
    let (status, body, content_type) = match (method, path) {
        (b"GET" | b"HEAD", b"/metrics") => (
            "200 OK",
            super::text::render(registry),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        (_, b"/metrics") => (
            "405 Method Not Allowed",
            "405 Method Not Allowed\n".into(),
            "text/plain",
        ),
        _ => (
            "404 Not Found",
            "404 Not Found: the metrics are at /metrics\n".into(),
            "text/plain",
        ),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != b"HEAD" {
        response.extend_from_slice(body.as_bytes());
    }
    s.write_all(&response)
}
