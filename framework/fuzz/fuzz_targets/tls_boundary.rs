//! Fuzz the TLS-to-HTTP boundary: ciphertext as the multishot recv hands it
//! to the engine, through the connection's rustls session, into the codec,
//! and the responses sealed back (`percore::testing::WireConn`, the code
//! the worker runs minus the ring). A real rustls client does the
//! handshake in memory. Checks:
//!
//! 1. nothing panics, whatever the client sends: requests cut into records
//!    anywhere, ciphertext cut into reads anywhere, a flipped byte, raw
//!    bytes instead of a handshake (garbage, plain HTTP);
//! 2. TLS changes nothing about HTTP: with intact records, the plaintext
//!    the client decrypts is byte for byte what a plain connection answers
//!    to the same request bytes, split as the session handed them over
//!    (Date aside); with no split at all, what it answers to them whole;
//! 3. a flipped byte is never taken for data: the client gets at most a
//!    prefix of the intact answer;
//! 4. plain HTTP instead of a handshake gets the plain 400, and garbage
//!    gets at most an alert; the connection ends either way.
#![no_main]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use percore::testing::WireConn;
use percore::{get, post, App, Config, Request, Response};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// 0..=5: a handshake then the request bytes; 6: the bytes raw
    /// instead of a handshake; 7: "GET " first, then raw.
    mode: u8,
    /// Sizes of the client's writes (each becomes one or more records).
    writes: Vec<u8>,
    /// Sizes of the reads the server is handed.
    reads: Vec<u8>,
    /// A byte to flip in the data records: (position, mask); 0 = none.
    flip: Option<(u16, u8)>,
    /// A small body limit, sometimes.
    small_limits: bool,
    requests: &'a [u8],
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn app() -> App {
    App::new()
        .route("/", get(|| "hello"))
        .route("/big", get(|| vec![b'b'; 70_000]))
        .route(
            "/echo",
            post(|req: &Request| Response::ok().body(req.body().to_vec())),
        )
}

fn config(tls: bool, small: bool) -> Config {
    let mut c = Config::default();
    if small {
        c.limits.max_body = 64;
        c.limits.max_header_bytes = 256;
    }
    if tls {
        c.tls.cert = fixture("leaf.pem");
        c.tls.key = fixture("leaf.key");
    }
    c
}

fn client_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let pem = std::fs::read(fixture("ca.pem")).unwrap();
            let mut roots = RootCertStore::empty();
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                roots.add(cert.unwrap()).unwrap();
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut c = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            c.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(c)
        })
        .clone()
}

/// Drops the `date:` line of every response head (the clocks differ).
fn without_dates(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let line = &rest[..end];
        if !(line.len() > 5 && line[..5].eq_ignore_ascii_case(b"date:")) {
            out.extend_from_slice(line);
        }
        rest = &rest[end..];
    }
    out
}

/// Hands `bytes` to the server in reads of the given sizes.
fn deliver(server: &mut WireConn, bytes: &[u8], reads: &[u8]) {
    let mut rest = bytes;
    for &n in reads.iter().cycle().take(4096) {
        if rest.is_empty() {
            return;
        }
        let n = (usize::from(n) + 1).min(rest.len());
        server.receive(&rest[..n]);
        rest = &rest[n..];
    }
    if !rest.is_empty() {
        server.receive(rest);
    }
}

/// The reference: `pieces` on a plain connection, one receive each.
fn plain_answer(small: bool, pieces: &[Vec<u8>]) -> Vec<u8> {
    let mut plain = WireConn::new(app(), &config(false, small)).unwrap();
    for p in pieces {
        plain.receive(p);
    }
    without_dates(&plain.take_sent())
}

fuzz_target!(|input: Input<'_>| {
    let small = input.small_limits;
    let requests = input.requests;

    let mut server = WireConn::new(app(), &config(true, small)).unwrap();
    match input.mode % 8 {
        6 | 7 => {
            let mut raw = Vec::new();
            if input.mode % 8 == 7 {
                raw.extend_from_slice(b"GET ");
            }
            raw.extend_from_slice(requests);
            deliver(&mut server, &raw, &input.reads);
            let sent = server.take_sent();
            if raw.len() >= 4 && raw.starts_with(b"GET ") {
                assert!(server.is_ending(), "plain HTTP on the TLS port kept open");
                assert!(sent.starts_with(b"HTTP/1.1 400 "), "{sent:?}");
            } else if server.is_ending() {
                // An alert record (type 21) or, for "GET", the plain 400.
                assert!(
                    sent.is_empty() || sent[0] == 21 || sent.starts_with(b"HTTP/1.1 400 "),
                    "{sent:?}"
                );
            }
            return;
        }
        _ => {}
    }

    // Handshake in memory.
    let name = ServerName::try_from("localhost").unwrap();
    let mut client = ClientConnection::new(client_config(), name).unwrap();
    for _ in 0..10 {
        if !client.is_handshaking() {
            break;
        }
        let mut flight = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut flight).unwrap();
        }
        server.receive(&flight);
        let answer = server.take_sent();
        let mut rd = answer.as_slice();
        while !rd.is_empty() {
            client.read_tls(&mut rd).unwrap();
            client
                .process_new_packets()
                .expect("the handshake succeeds");
        }
    }
    assert!(!client.is_handshaking(), "handshake did not finish");

    // The requests, cut into writes (records).
    let mut records = Vec::new();
    let mut rest = requests;
    for &n in input.writes.iter().cycle().take(4096) {
        if rest.is_empty() {
            break;
        }
        let n = (usize::from(n) + 1).min(rest.len());
        client.writer().write_all(&rest[..n]).unwrap();
        rest = &rest[n..];
    }
    if !rest.is_empty() {
        client.writer().write_all(rest).unwrap();
    }
    while client.wants_write() {
        client.write_tls(&mut records).unwrap();
    }
    let flipped = match input.flip {
        Some((pos, mask)) if mask != 0 && !records.is_empty() => {
            let i = usize::from(pos) % records.len();
            records[i] ^= mask;
            true
        }
        _ => false,
    };
    deliver(&mut server, &records, &input.reads);

    // What the client reads back.
    let sent = server.take_sent();
    let mut rd = sent.as_slice();
    let mut got = Vec::new();
    let mut client_failed = false;
    while !rd.is_empty() {
        if client.read_tls(&mut rd).is_err() {
            client_failed = true;
            break;
        }
        if client.process_new_packets().is_err() {
            client_failed = true;
            break;
        }
        let _ = client.reader().read_to_end(&mut got);
    }
    let got = without_dates(&got);
    // The same plaintext, split as the session handed it over. (The codec
    // answers a malformed line that is still arriving at once when it comes
    // in one read, at the header timeout when it trickles: what TLS must
    // not change is the answer to the same split.)
    let pieces = server.plaintext_pieces();
    let expected = plain_answer(small, pieces);
    if !flipped {
        // The session handed over exactly what the client wrote (up to
        // where the connection stopped taking input).
        assert!(
            requests.starts_with(&pieces.concat()),
            "plaintext changed in transit"
        );
    }
    if flipped {
        // The bad record is refused (or, with its length field changed,
        // waited for): never decrypted into a request.
        assert!(expected.starts_with(&got), "a flipped byte got through");
    } else {
        assert!(!client_failed, "the client could not read the answer");
        assert_eq!(got, expected, "TLS changed the HTTP answer");
    }
});
