//! Once a second, for each server: RSS and open descriptors from /proc, and
//! from its metrics endpoint the connections open, the provided receive
//! buffers free and the requests answered so far.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde::Serialize;

/// One server at one moment.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Sample {
    /// Seconds since the soak started.
    pub t: f64,
    pub rss_kib: u64,
    pub fds: u64,
    pub connections: u64,
    pub buffers_free: u64,
    pub responses: u64,
}

pub fn take(t: f64, pid: u32, metrics: SocketAddr) -> Sample {
    let page = scrape(metrics).unwrap_or_default();
    let sum = |name: &str| -> u64 {
        page.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    };
    Sample {
        t,
        rss_kib: crate::procfs::rss_kib(pid),
        fds: std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64),
        connections: sum("percore_connections_open"),
        buffers_free: sum("percore_recv_buffers_free"),
        responses: sum("percore_responses_total"),
    }
}

fn scrape(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")?;
    let mut page = String::new();
    s.read_to_string(&mut page)?;
    Ok(page)
}
