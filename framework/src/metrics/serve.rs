//! The scrape endpoint: a plain blocking listener on its own thread (not a
//! core: a scrape must not take a core's time, and must answer while the
//! cores are busy). `GET /metrics` answers the text format; anything else
//! is 404 (or 405 for another method). Each connection gets a short-lived
//! thread of its own (at most [`MAX_CLIENTS`] at once), so a client that
//! connects and says nothing (a health check, a port scan) delays no
//! scrape; it gets 5 s to send its request. The listener is bound as the
//! server's are: exclusively, or joining a running server's port on a
//! takeover (the old and the new server then share it until the old exits).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Registry;
use crate::net::Bind;

/// Connections served at once; more are closed at once.
const MAX_CLIENTS: usize = 16;

/// Binds `addr` and serves scrapes of `registry` until the process ends.
/// Returns the address bound (port 0 picks one).
pub(crate) fn spawn_endpoint(
    addr: SocketAddr,
    mode: Bind,
    registry: Registry,
) -> io::Result<SocketAddr> {
    let (mut fds, bound) = crate::net::bind_listeners(addr, 1, 128, mode)
        .map_err(|e| io::Error::new(e.kind(), format!("metrics.listen: {e}")))?;
    let listener = TcpListener::from(fds.remove(0));
    let busy = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("percore-metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let s = match stream {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("metrics accept: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                };
                if busy.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
                    busy.fetch_sub(1, Ordering::AcqRel);
                    continue; // dropped: closed
                }
                let (registry, busy) = (registry.clone(), busy.clone());
                let spawned = std::thread::Builder::new()
                    .name("percore-scrape".into())
                    .spawn(move || {
                        if let Err(e) = answer(s, &registry) {
                            tracing::debug!("metrics scrape: {e}");
                        }
                        busy.fetch_sub(1, Ordering::AcqRel);
                    });
                if spawned.is_err() {
                    // The closure, and its count, went with the error.
                    tracing::warn!("metrics: cannot start a thread for a scrape");
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
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let (method, target) = match parts.as_slice() {
        [method, target, version] if version.starts_with(b"HTTP/1.") => (*method, *target),
        _ => (&b""[..], &b""[..]),
    };
    let path = target.split(|&b| b == b'?').next().unwrap_or(b"");
    let (status, body, content_type) = match (method, path) {
        (b"", _) => ("400 Bad Request", "400 Bad Request\n".into(), "text/plain"),
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
