//! TLS for every app, with a rustls client driven byte by byte: the
//! handshake and requests split at every boundary, pipelined requests in
//! one record, bodies at the limit, one over it and far under, trickled
//! uploads, a streamed answer, async handlers, the PROXY header before the
//! TLS records, and close_notify at the end.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use percore::time::sleep;
use percore::{get, post, App, BodyError, Config, Request, Response};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

const LIMIT: u64 = 1 << 20;

fn app() -> App {
    App::new()
        .route(
            "/echo",
            post(|mut req: Request| async move {
                let body = req.body_bytes().await?;
                Ok::<_, BodyError>(Response::ok().body(body))
            }),
        )
        .route(
            "/stream-echo",
            post(|mut req: Request| async move { Response::ok().body(req.body_stream()) }),
        )
        .route(
            "/later",
            get(|| async {
                sleep(Duration::from_millis(20)).await;
                "later"
            }),
        )
        .route("/who", get(|req: &Request| req.client_addr().to_string()))
        .route("/tls", get(|req: &Request| req.is_tls().to_string()))
}

struct Tls {
    _dir: TempDir,
    roots: Arc<ClientConfig>,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A certificate for `localhost` (files an operator would have) and a
/// client that trusts it.
fn certificate(tag: &str) -> (Tls, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("percore-tls-app-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(made.cert.der().to_vec()))
        .unwrap();
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let tls = Tls {
        _dir: TempDir(dir),
        roots: Arc::new(config),
    };
    (tls, cert, key)
}

fn start_tls(tag: &str, tweak: impl FnOnce(&mut Config)) -> (Tls, percore::RunningServer) {
    let (tls, cert, key) = certificate(tag);
    let server = start_with(
        2,
        |c| {
            c.tls.cert = cert;
            c.tls.key = key;
            c.limits.max_body = LIMIT;
            tweak(c);
        },
        |_| app(),
    );
    (tls, server)
}

/// A client connection whose ciphertext we send ourselves, in pieces.
struct Client {
    tls: ClientConnection,
    tcp: TcpStream,
    plain: Vec<u8>,
    /// The server's close_notify arrived.
    notified: bool,
}

impl Client {
    fn connect(t: &Tls, addr: SocketAddr) -> Client {
        Client::over(t, connect(addr))
    }

    fn over(t: &Tls, tcp: TcpStream) -> Client {
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = ClientConnection::new(t.roots.clone(), name).unwrap();
        tls.set_buffer_limit(None);
        Client {
            tls,
            tcp,
            plain: Vec::new(),
            notified: false,
        }
    }

    /// The records the client has ready (handshake, data).
    fn pending(&mut self) -> Vec<u8> {
        let mut wire = Vec::new();
        while self.tls.wants_write() {
            self.tls.write_tls(&mut wire).unwrap();
        }
        wire
    }

    /// Sends `wire` in pieces of `piece` bytes, pausing between them so
    /// each is likely its own recv.
    fn send_in_pieces(&mut self, wire: &[u8], piece: usize) {
        for part in wire.chunks(piece.max(1)) {
            self.tcp.write_all(part).unwrap();
            if piece < wire.len() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// Reads records until `done(plaintext)` or the server closes; true
    /// if it closed.
    fn read_until(&mut self, done: impl Fn(&[u8]) -> bool) -> bool {
        let mut buf = vec![0u8; 1 << 16];
        while !done(&self.plain) {
            let n = match self.tcp.read(&mut buf) {
                Ok(n) => n,
                Err(e) => panic!("read: {e}; have {:?}", String::from_utf8_lossy(&self.plain)),
            };
            if n == 0 {
                return true;
            }
            let mut slice = &buf[..n];
            while !slice.is_empty() {
                self.tls.read_tls(&mut slice).unwrap();
                let state = self.tls.process_new_packets().unwrap();
                let mut got = Vec::new();
                let _ = self.tls.reader().read_to_end(&mut got);
                self.plain.extend_from_slice(&got);
                if state.peer_has_closed() {
                    self.notified = true;
                    return true;
                }
            }
            let wire = self.pending();
            if !wire.is_empty() {
                self.tcp.write_all(&wire).unwrap();
            }
        }
        false
    }

    fn handshake(&mut self, piece: usize) {
        while self.tls.is_handshaking() {
            let wire = self.pending();
            self.send_in_pieces(&wire, piece);
            if !self.tls.is_handshaking() {
                break;
            }
            let mut buf = vec![0u8; 1 << 16];
            let n = self.tcp.read(&mut buf).unwrap();
            assert!(n > 0, "closed during the handshake");
            let mut slice = &buf[..n];
            while !slice.is_empty() {
                self.tls.read_tls(&mut slice).unwrap();
                self.tls.process_new_packets().unwrap();
            }
        }
    }

    fn send(&mut self, plaintext: &[u8], piece: usize) {
        self.tls.writer().write_all(plaintext).unwrap();
        let wire = self.pending();
        self.send_in_pieces(&wire, piece);
    }

    /// Like [`Self::send`], from a thread, so the answer can be read while
    /// the request is still going out (an echo streams it back).
    fn send_meanwhile(&mut self, plaintext: &[u8], piece: usize) -> std::thread::JoinHandle<()> {
        self.tls.writer().write_all(plaintext).unwrap();
        let wire = self.pending();
        let mut tcp = self.tcp.try_clone().unwrap();
        std::thread::spawn(move || {
            for part in wire.chunks(piece.max(1)) {
                if tcp.write_all(part).is_err() {
                    return; // the server answered early and closed
                }
                if piece < wire.len() {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    }

    /// Takes one whole response off the plaintext read so far.
    fn response(&mut self) -> Resp {
        self.read_until(|p| parse_response(p, false).is_some());
        let (resp, used) = parse_response(&self.plain, false).unwrap_or_else(|| {
            panic!(
                "no whole response in {:?}",
                String::from_utf8_lossy(&self.plain)
            )
        });
        self.plain.drain(..used);
        resp
    }
}

#[test]
fn a_handshake_and_requests_split_at_every_boundary() {
    let (t, server) = start_tls("split", |_| {});
    let addr = server.local_addr();
    // The handshake trickled a byte at a time, then a request.
    let mut c = Client::connect(&t, addr);
    c.handshake(1);
    c.send(b"GET /later HTTP/1.1\r\nHost: localhost\r\n\r\n", 1);
    let r = c.response();
    assert_eq!((r.status, &r.body[..]), (200, &b"later"[..]));
    c.send(b"GET /tls HTTP/1.1\r\nHost: localhost\r\n\r\n", usize::MAX);
    assert_eq!(c.response().body, b"true", "the handler knows");
    let plain = start(1, |_| app());
    let r = roundtrip(plain.local_addr(), b"GET /tls HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.body, b"false");
    plain.shutdown();
    plain.join().unwrap();
    // A request's records cut in two at every byte.
    let request = b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello";
    let mut c = Client::connect(&t, addr);
    c.handshake(usize::MAX);
    c.tls.writer().write_all(request).unwrap();
    let wire = c.pending();
    for cut in 1..wire.len() {
        let mut c = Client::connect(&t, addr);
        c.handshake(usize::MAX);
        c.tls.writer().write_all(request).unwrap();
        let wire = c.pending();
        c.tcp.write_all(&wire[..cut]).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        c.tcp.write_all(&wire[cut..]).unwrap();
        let r = c.response();
        assert_eq!(
            (r.status, &r.body[..]),
            (200, &b"hello"[..]),
            "cut at {cut}"
        );
    }
    server.shutdown();
    server.join().unwrap();
}

#[test]
fn pipelined_requests_in_one_record_are_answered_in_order() {
    let (t, server) = start_tls("pipeline", |_| {});
    let mut c = Client::connect(&t, server.local_addr());
    c.handshake(usize::MAX);
    let mut batch = Vec::new();
    for i in 0..20 {
        let path = if i % 5 == 0 { "/later" } else { "/who" };
        batch.extend_from_slice(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes(),
        );
    }
    c.send(&batch, usize::MAX);
    for i in 0..20 {
        let r = c.response();
        assert_eq!(r.status, 200, "{i}");
        if i % 5 == 0 {
            assert_eq!(r.body, b"later", "{i}");
        } else {
            assert!(r.body.starts_with(b"127.0.0.1:"), "{i}: {:?}", r.body);
        }
    }
    server.shutdown();
    server.join().unwrap();
}

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 253) as u8).collect()
}

#[test]
fn bodies_at_the_limit_over_it_and_trickled() {
    let (t, server) = start_tls("bodies", |_| {});
    let addr = server.local_addr();
    let limit = LIMIT as usize;
    for (n, piece, path) in [
        (limit, usize::MAX, "/echo"),
        (limit, 7 * 1024, "/stream-echo"),
        (900 * 1024, 1000, "/echo"),
        (3, usize::MAX, "/echo"),
        (0, usize::MAX, "/echo"),
    ] {
        let mut c = Client::connect(&t, addr);
        c.handshake(usize::MAX);
        let mut req =
            format!("POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {n}\r\n\r\n")
                .into_bytes();
        req.extend_from_slice(&body(n));
        let sending = c.send_meanwhile(&req, piece);
        let r = c.response();
        sending.join().unwrap();
        assert_eq!(r.status, 200, "{n} bytes to {path}");
        assert!(
            r.body == body(n),
            "{n} bytes to {path}: {} back",
            r.body.len()
        );
        // The connection goes on.
        c.send(
            b"GET /later HTTP/1.1\r\nHost: localhost\r\n\r\n",
            usize::MAX,
        );
        assert_eq!(c.response().body, b"later");
    }
    // One over the limit: 413, and the connection ends with close_notify.
    let mut c = Client::connect(&t, addr);
    c.handshake(usize::MAX);
    let n = limit + 1;
    let mut req = format!("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {n}\r\n\r\n")
        .into_bytes();
    req.extend_from_slice(&body(n));
    let sending = c.send_meanwhile(&req, usize::MAX);
    let r = c.response();
    assert_eq!(r.status, 413);
    sending.join().unwrap();
    assert!(c.read_until(|_| false), "closed after the 413");
    // A chunked upload at the limit.
    let mut c = Client::connect(&t, addr);
    c.handshake(usize::MAX);
    let mut req =
        b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for part in body(limit).chunks(50_000) {
        req.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        req.extend_from_slice(part);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let sending = c.send_meanwhile(&req, 16 * 1024 + 5);
    let r = c.response();
    sending.join().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body == body(limit));
    server.shutdown();
    server.join().unwrap();
}

#[test]
fn connection_close_ends_with_close_notify() {
    let (t, server) = start_tls("close", |_| {});
    let mut c = Client::connect(&t, server.local_addr());
    c.handshake(usize::MAX);
    c.send(
        b"GET /later HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        usize::MAX,
    );
    let r = c.response();
    assert_eq!(r.body, b"later");
    assert!(c.read_until(|_| false), "the server closes");
    assert!(c.notified, "no close_notify before the TCP close");
    server.shutdown();
    server.join().unwrap();
}

#[test]
fn a_bad_record_mid_download_ends_it_there() {
    // A 4 GiB file (sparse: zeros from the page cache). The client reads
    // a little, then sends a record that cannot be decrypted: the server
    // must send its alert and close, not read (and log) the rest.
    let (tls, cert, key) = certificate("mid-download");
    let dir = std::env::temp_dir().join(format!("percore-tls-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    std::fs::File::create(dir.join("big.bin"))
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    let server = start_with(
        1,
        |c| {
            c.tls.cert = cert;
            c.tls.key = key;
        },
        move |_| App::new().mount("/files", percore::StaticFiles::new(&dir)),
    );
    let mut c = Client::connect(&tls, server.local_addr());
    c.handshake(usize::MAX);
    c.send(
        b"GET /files/big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n",
        usize::MAX,
    );
    c.read_until(|p| p.len() > 200_000);
    let mut garbage = vec![0x17, 0x03, 0x03, 0x00, 0x20];
    garbage.extend_from_slice(&[0u8; 32]);
    c.tcp.write_all(&garbage).unwrap();
    // Count what still arrives, without decrypting (the alert is in it).
    c.tcp
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut after = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match c.tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => after += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("still open after {:?}: {e}", started.elapsed()),
        }
    }
    assert!(
        after < 64 << 20,
        "{after} bytes came after the bad record (the file is 4 GiB)"
    );
    // Before the fix, the server went on reading the file (sealing
    // nothing) to its end before it closed.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "closed {:?} after the bad record",
        started.elapsed()
    );
    server.shutdown();
    server.join().unwrap();
}

#[test]
fn a_proxy_header_comes_before_the_tls_records() {
    let (t, server) = start_tls("proxy", |c| {
        c.server.proxy_protocol = true;
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
    });
    let addr = server.local_addr();
    for piece in [usize::MAX, 3] {
        let tcp = connect(addr);
        let mut c = Client::over(&t, tcp);
        let header = b"PROXY TCP4 198.51.100.7 10.0.0.1 40000 443\r\n";
        // The header and the ClientHello in one write, or trickled.
        let mut first = header.to_vec();
        first.extend_from_slice(&c.pending());
        c.send_in_pieces(&first, piece);
        c.handshake(usize::MAX);
        c.send(b"GET /who HTTP/1.1\r\nHost: localhost\r\n\r\n", usize::MAX);
        let r = c.response();
        assert_eq!(r.body, b"198.51.100.7:40000", "pieces of {piece}");
    }
    server.shutdown();
    server.join().unwrap();
}
