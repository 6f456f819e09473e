//! The soak's clients, each a loop on its own thread until the deadline:
//! keep-alive and pipelined plaintext, files of every size and ranges (in
//! the clear and over TLS), bad requests, clients that vanish mid-request
//! and mid-response, slow readers, TLS handshakes (full and resumed), and
//! requests through the proxy. Every valid request must get its whole,
//! correct answer; what each got is counted in [`Tally`].

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::servers::{byte_at, FILES};

/// What the clients saw, shared by all of them.
#[derive(Default)]
pub struct Tally {
    /// Valid requests sent and whole, correct answers to them.
    pub valid_sent: AtomicU64,
    pub valid_ok: AtomicU64,
    /// 5xx to a valid request (must stay 0).
    pub valid_5xx: AtomicU64,
    /// A valid request whose answer was wrong, cut short or never came
    /// (must stay 0); the first few are kept for the report.
    pub valid_failed: AtomicU64,
    /// Bad requests sent, those refused with a 4xx, and those answered
    /// otherwise or not at all (must stay 0).
    pub bad_sent: AtomicU64,
    pub bad_4xx: AtomicU64,
    pub bad_failed: AtomicU64,
    /// Connections refused or timed out (must stay 0).
    pub connect_failed: AtomicU64,
    /// Clients that left mid-request or mid-response on purpose.
    pub vanished: AtomicU64,
    /// Slow readers that read for a while, then left.
    pub slow_readers: AtomicU64,
    pub tls_handshakes: AtomicU64,
    pub failures: std::sync::Mutex<Vec<String>>,
}

impl Tally {
    /// A valid request went without its whole, correct answer.
    fn fail(&self, what: String) {
        self.fail_n(1, what);
    }

    /// `n` valid requests went without their answers.
    fn fail_n(&self, n: u64, what: String) {
        self.valid_failed.fetch_add(n, Relaxed);
        self.note(what);
    }

    fn note(&self, what: String) {
        let mut f = self.failures.lock().unwrap();
        if f.len() < 20 {
            f.push(what);
        }
    }

    fn connect_failed(&self, addr: SocketAddr, e: io::Error) {
        self.connect_failed.fetch_add(1, Relaxed);
        self.note(format!("connect {addr}: {e}"));
    }

    fn bad_failed(&self, what: String) {
        self.bad_failed.fetch_add(1, Relaxed);
        self.note(what);
    }
}

/// Where the clients go.
#[derive(Clone)]
pub struct Targets {
    pub plain: SocketAddr,
    pub tls: SocketAddr,
    pub proxy: SocketAddr,
    pub ca: std::path::PathBuf,
}

/// A tiny deterministic generator (xorshift), one per client.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// A response read off a stream: status and body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// Reads one response (Content-Length or chunked framing; a HEAD or 304
/// has no body). `buf` keeps bytes of the next response.
fn read_answer(s: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<Answer> {
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before a head",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let chunked = head.contains("transfer-encoding: chunked");
    buf.drain(..head_end);
    if chunked {
        return Err(io::Error::other("chunked answers are not expected here"));
    }
    while buf.len() < len {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "body cut short",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf.drain(..len).collect();
    Ok(Answer { status, body })
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// A connection for a client whose requests count: a failure is counted
/// (and paced, so a server that is gone is not hammered).
fn connect_counted(t: &Tally, addr: SocketAddr) -> Option<TcpStream> {
    match connect(addr) {
        Ok(s) => Some(s),
        Err(e) => {
            t.connect_failed(addr, e);
            std::thread::sleep(Duration::from_millis(100));
            None
        }
    }
}

/// Checks a 200 (or 206 for `range`) answer to a GET of file `index`.
fn check_file(
    t: &Tally,
    what: &str,
    a: &io::Result<Answer>,
    index: usize,
    range: Option<(usize, usize)>,
) {
    let size = FILES[index].1;
    match a {
        Ok(a) if a.status >= 500 => {
            t.valid_5xx.fetch_add(1, Relaxed);
            t.fail(format!("{what}: {}", a.status));
        }
        Ok(a) => {
            let (want_status, from, to) = match range {
                Some((from, to)) if from < size => (206, from, to.min(size - 1) + 1),
                Some(_) => (416, 0, 0),
                None => (200, 0, size),
            };
            // A 416 carries a short error page, not file bytes.
            let right = a.status == want_status
                && (want_status == 416
                    || (a.body.len() == to - from
                        && a.body
                            .iter()
                            .enumerate()
                            .all(|(i, &b)| b == byte_at(from + i))));
            if right {
                t.valid_ok.fetch_add(1, Relaxed);
            } else {
                t.fail(format!(
                    "{what}: status {} (want {want_status}), {} bytes (want {})",
                    a.status,
                    a.body.len(),
                    to - from
                ));
            }
        }
        Err(e) => t.fail(format!("{what}: {e}")),
    }
}

fn get(name: &str, range: Option<(usize, usize)>, close: bool) -> Vec<u8> {
    let mut r = format!("GET /{name} HTTP/1.1\r\nHost: soak\r\n");
    if let Some((a, b)) = range {
        r.push_str(&format!("Range: bytes={a}-{b}\r\n"));
    }
    if close {
        r.push_str("Connection: close\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// A random file (the 8 MiB one seldom) and sometimes a range of it.
fn pick(rng: &mut Rng) -> (usize, Option<(usize, usize)>) {
    let index = match rng.below(20) {
        0 => 6,
        n => (n % 6) as usize,
    };
    let size = FILES[index].1;
    let range = (rng.below(3) == 0).then(|| {
        let a = rng.below(size as u64 + 2) as usize;
        (a, a + rng.below(70_000) as usize)
    });
    (index, range)
}

/// Keep-alive GETs of random files and ranges on one connection after
/// another (`target`: the plain server, or the proxy).
pub fn files(t: &Tally, addr: SocketAddr, seed: u64, until: Instant) {
    let mut rng = Rng(seed);
    while Instant::now() < until {
        let Some(mut s) = connect_counted(t, addr) else {
            continue;
        };
        let mut buf = Vec::new();
        for _ in 0..50 {
            let (index, range) = pick(&mut rng);
            t.valid_sent.fetch_add(1, Relaxed);
            if let Err(e) = s.write_all(&get(FILES[index].0, range, false)) {
                t.fail(format!("send to {addr}: {e}"));
                break;
            }
            let a = read_answer(&mut s, &mut buf);
            let failed = a.is_err();
            check_file(
                t,
                &format!("GET {} {range:?} via {addr}", FILES[index].0),
                &a,
                index,
                range,
            );
            if failed || Instant::now() >= until {
                break;
            }
        }
    }
}

/// 16 requests in one write, 16 answers.
pub fn pipelined(t: &Tally, addr: SocketAddr, until: Instant) {
    while Instant::now() < until {
        let Some(mut s) = connect_counted(t, addr) else {
            continue;
        };
        let mut buf = Vec::new();
        for _ in 0..100 {
            let burst = get("f4k", None, false).repeat(16);
            t.valid_sent.fetch_add(16, Relaxed);
            if let Err(e) = s.write_all(&burst) {
                t.fail_n(16, format!("pipelined send: {e}"));
                break;
            }
            for _ in 0..16 {
                let a = read_answer(&mut s, &mut buf);
                check_file(t, "pipelined GET f4k", &a, 2, None);
            }
        }
    }
}

/// Requests a server must refuse with a 4xx (never a 5xx), each on its own
/// connection.
const BAD: [&[u8]; 9] = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET /f1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET /f1 HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"POST /f1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /../../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /f1 HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n",
    b"POST /f1 HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999\r\n\r\n",
    b"GET /f1 HTTP/1.1\r\nHost: a\r\nRange: bytes=5-1\r\nIf-Match: \"nope\"\r\n\r\n",
];

/// Bad requests, plus an oversized head, each on a new connection: in the
/// clear, or inside TLS when `tls` names the CA.
pub fn bad(t: &Tally, addr: SocketAddr, tls: Option<&std::path::Path>, until: Instant) {
    let config = tls.map(|ca| tls_config(ca, true));
    let big_head = {
        let mut r = b"GET /f1 HTTP/1.1\r\nHost: a\r\n".to_vec();
        // Over the soak's max_header_bytes (16 KiB): 431.
        r.extend_from_slice(format!("X-Big: {}\r\n\r\n", "a".repeat(20_000)).as_bytes());
        r
    };
    let mut i = 0usize;
    while Instant::now() < until {
        let req: &[u8] = if i % 10 == 9 {
            &big_head
        } else {
            BAD[i % BAD.len()]
        };
        i += 1;
        let Ok(sock) = connect(addr) else { continue };
        let mut s: Box<dyn ReadWrite> = match &config {
            Some(c) => {
                let name = ServerName::try_from("localhost").expect("a name");
                let conn = ClientConnection::new(c.clone(), name).expect("a client");
                Box::new(StreamOwned::new(conn, sock))
            }
            None => Box::new(sock),
        };
        t.bad_sent.fetch_add(1, Relaxed);
        let _ = s.write_all(req);
        let mut buf = Vec::new();
        match read_answer(&mut s, &mut buf) {
            Ok(a) if (400..500).contains(&a.status) => {
                t.bad_4xx.fetch_add(1, Relaxed);
            }
            // 412 and 416 are 4xx; anything else (a 5xx, a 200 to
            // nonsense) is wrong.
            Ok(a) => t.bad_failed(format!(
                "bad request {:?} got {}",
                String::from_utf8_lossy(&req[..req.len().min(40)]),
                a.status
            )),
            Err(e) => t.bad_failed(format!("bad request {i}: no answer ({e})")),
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Clients that leave: mid-head, right after a request (reset), and
/// mid-response of the 8 MiB file.
pub fn vanishing(t: &Tally, addr: SocketAddr, until: Instant) {
    let mut i = 0u64;
    while Instant::now() < until {
        i += 1;
        let Ok(mut s) = connect(addr) else { continue };
        match i % 3 {
            0 => {
                let _ = s.write_all(b"GET /f4k HTTP/1.1\r\nHo");
            }
            1 => {
                let _ = s.write_all(&get("f1m", None, false));
                reset_on_close(&s);
            }
            _ => {
                let _ = s.write_all(&get("f8m", None, false));
                let mut chunk = [0u8; 16384];
                let _ = s.read(&mut chunk);
            }
        }
        drop(s);
        t.vanished.fetch_add(1, Relaxed);
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reads the 8 MiB file 16 KiB every 20 ms for about 2 s, then leaves.
pub fn slow_reader(t: &Tally, addr: SocketAddr, until: Instant) {
    while Instant::now() < until {
        let Ok(mut s) = connect(addr) else { continue };
        let _ = s.write_all(&get("f8m", None, false));
        let mut chunk = [0u8; 16384];
        for _ in 0..100 {
            if s.read(&mut chunk).unwrap_or(0) == 0 || Instant::now() >= until {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        t.slow_readers.fetch_add(1, Relaxed);
    }
}

fn tls_config(ca: &std::path::Path, resume: bool) -> Arc<ClientConfig> {
    let pem = std::fs::read(ca).expect("the soak CA");
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.expect("a PEM cert")).expect("a usable CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut c = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("rustls defaults")
        .with_root_certificates(roots)
        .with_no_client_auth();
    if !resume {
        c.resumption = rustls::client::Resumption::disabled();
    }
    Arc::new(c)
}

/// New TLS connections (full handshakes, or resumed ones), each serving a
/// few random files and ranges.
pub fn tls(t: &Tally, targets: &Targets, resume: bool, seed: u64, until: Instant) {
    let config = tls_config(&targets.ca, resume);
    let mut rng = Rng(seed);
    while Instant::now() < until {
        let Some(sock) = connect_counted(t, targets.tls) else {
            continue;
        };
        let name = ServerName::try_from("localhost").expect("a name");
        let conn = ClientConnection::new(config.clone(), name).expect("a client");
        let mut s = StreamOwned::new(conn, sock);
        let mut buf = Vec::new();
        t.tls_handshakes.fetch_add(1, Relaxed);
        for k in 0..4 {
            let (index, range) = pick(&mut rng);
            t.valid_sent.fetch_add(1, Relaxed);
            if let Err(e) = s.write_all(&get(FILES[index].0, range, k == 3)) {
                t.fail(format!("TLS send: {e}"));
                break;
            }
            let a = read_answer(&mut s, &mut buf);
            let failed = a.is_err();
            check_file(
                t,
                &format!("TLS GET {} {range:?}", FILES[index].0),
                &a,
                index,
                range,
            );
            if failed {
                break;
            }
        }
    }
}

/// SO_LINGER 0: closing sends a reset, as a client that crashed.
fn reset_on_close(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads the linger struct on our stack for the call.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
}
