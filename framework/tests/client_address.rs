//! The client's address behind proxies: `X-Forwarded-For` and `Forwarded`
//! believed only from `server.trusted_proxies`, read from the right; the
//! PROXY protocol (v1, v2) required on every connection when asked for,
//! whole in one write, trickled byte by byte, or followed at once by
//! requests; a connection without it closed unanswered.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use percore::{get, App, Request};

fn app() -> App {
    App::new().route("/who", get(|req: &Request| req.client_addr().to_string()))
}

fn who(addr: std::net::SocketAddr, extra: &str) -> String {
    let r = roundtrip(
        addr,
        format!("GET /who HTTP/1.1\r\nHost: x\r\n{extra}\r\n").as_bytes(),
    );
    String::from_utf8(r.body).unwrap()
}

#[test]
fn forwarding_fields_only_from_trusted_proxies() {
    // Nobody trusted: the fields are anybody's words.
    let open = start(1, |_| app());
    let addr = open.local_addr();
    assert!(who(addr, "X-Forwarded-For: 203.0.113.7\r\n").starts_with("127.0.0.1:"));
    assert!(who(addr, "Forwarded: for=203.0.113.7\r\n").starts_with("127.0.0.1:"));

    // 127.0.0.1 trusted, as a reverse proxy on the same host would be.
    let behind = start_with(
        1,
        |c| c.server.trusted_proxies = vec!["127.0.0.1".into(), "10.0.0.0/8".into()],
        |_| app(),
    );
    let addr = behind.local_addr();
    assert_eq!(
        who(addr, "X-Forwarded-For: 203.0.113.7\r\n"),
        "203.0.113.7:0"
    );
    // A client's own (spoofed) entry on the left is not believed.
    assert_eq!(
        who(addr, "X-Forwarded-For: 6.6.6.6, 203.0.113.7, 10.1.1.1\r\n"),
        "203.0.113.7:0"
    );
    // Several lines are one list.
    assert_eq!(
        who(
            addr,
            "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 198.51.100.2\r\n"
        ),
        "198.51.100.2:0"
    );
    // Only the configured field counts: a client's own Forwarded is not read.
    assert_eq!(
        who(
            addr,
            "Forwarded: for=6.6.6.6\r\nX-Forwarded-For: 6.6.6.6, 198.51.100.9\r\n"
        ),
        "198.51.100.9:0"
    );
    // Something that is not an address stops the walk at the proxy.
    assert!(who(addr, "X-Forwarded-For: 6.6.6.6, unknown\r\n").starts_with("127.0.0.1:"));
    assert!(who(addr, "").starts_with("127.0.0.1:"));
    assert!(who(addr, "X-Forwarded-For: not-an-address\r\n").starts_with("127.0.0.1:"));

    // client_header = "forwarded".
    let rfc = start_with(
        1,
        |c| {
            c.server.trusted_proxies = vec!["127.0.0.1".into()];
            c.server.client_header = percore::net::ClientHeader::Forwarded;
        },
        |_| app(),
    );
    let addr = rfc.local_addr();
    assert_eq!(
        who(
            addr,
            "Forwarded: for=\"[2001:db8::7]:4711\";proto=https\r\nX-Forwarded-For: 1.1.1.1\r\n"
        ),
        "[2001:db8::7]:4711"
    );
    assert!(who(addr, "X-Forwarded-For: 1.1.1.1\r\n").starts_with("127.0.0.1:"));
}

fn proxy_server(trusted: &[&str]) -> percore::RunningServer {
    let trusted: Vec<String> = trusted.iter().map(|s| s.to_string()).collect();
    start_with(
        1,
        move |c| {
            c.server.proxy_protocol = true;
            c.server.trusted_proxies = trusted;
            c.timeouts.header_secs = 1;
        },
        |_| app(),
    )
}

const V1: &[u8] = b"PROXY TCP4 203.0.113.7 127.0.0.1 51000 443\r\n";
const GET: &[u8] = b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n";

fn v2_ipv6() -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n\x21\x21".to_vec();
    let mut addr = vec![0u8; 36];
    addr[..16].copy_from_slice(
        &"2001:db8::9"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    addr[32..34].copy_from_slice(&4711u16.to_be_bytes());
    h.extend_from_slice(&(addr.len() as u16).to_be_bytes());
    h.extend_from_slice(&addr);
    h
}

#[test]
fn the_proxy_protocol_names_the_client_of_a_trusted_proxy() {
    let server = proxy_server(&["127.0.0.1"]);
    let addr = server.local_addr();
    // Header and two pipelined requests in one write: both see the client.
    let mut s = connect(addr);
    s.write_all(&[V1, GET, GET].concat()).unwrap();
    let mut pending = Vec::new();
    for _ in 0..2 {
        let r = read_response(&mut s, &mut pending, false);
        assert_eq!(r.body, b"203.0.113.7:51000");
    }
    // v2, trickled a byte at a time, then a request.
    let mut s = connect(addr);
    for b in v2_ipv6() {
        s.write_all(&[b]).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    s.write_all(GET).unwrap();
    let r = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(r.body, b"[2001:db8::9]:4711");
    // v1 split at every boundary.
    for cut in 1..V1.len() {
        let mut s = connect(addr);
        s.write_all(&V1[..cut]).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        s.write_all(&[&V1[cut..], GET].concat()).unwrap();
        let r = read_response(&mut s, &mut Vec::new(), false);
        assert_eq!(r.body, b"203.0.113.7:51000", "cut at {cut}");
    }
    // UNKNOWN (a health check): the TCP peer stays the client.
    let mut s = connect(addr);
    s.write_all(&[b"PROXY UNKNOWN\r\n".as_slice(), GET].concat())
        .unwrap();
    let r = read_response(&mut s, &mut Vec::new(), false);
    assert!(r.body.starts_with(b"127.0.0.1:"));
}

#[test]
fn without_a_proxy_header_the_connection_closes_unanswered() {
    let server = proxy_server(&["127.0.0.1"]);
    let addr = server.local_addr();
    for start in [
        GET,
        b"PROXY TCP4 1.2.3.4\r\n\r\n".as_slice(),
        b"PROXY TCP4 999.0.0.1 127.0.0.1 1 2\r\n",
    ] {
        let mut s = connect(addr);
        s.write_all(start).unwrap();
        let (bytes, closed) = read_to_close(&mut s);
        assert!(closed, "{:?}", String::from_utf8_lossy(start));
        assert!(bytes.is_empty(), "{:?}", String::from_utf8_lossy(&bytes));
    }
    // Silent past the header timeout: closed.
    let mut s = connect(addr);
    s.write_all(b"PROXY TCP4 ").unwrap();
    let t = std::time::Instant::now();
    let (bytes, closed) = read_to_close(&mut s);
    assert!(closed && bytes.is_empty());
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    // The server still serves.
    let mut s = connect(addr);
    s.write_all(&[V1, GET].concat()).unwrap();
    let mut out = Vec::new();
    let r = read_response(&mut s, &mut out, false);
    assert_eq!(r.status, 200);
    let _ = s.read(&mut [0u8; 1]);
}

#[test]
fn an_untrusted_peer_s_proxy_header_is_read_and_ignored() {
    let server = proxy_server(&["10.0.0.0/8"]);
    let mut s = connect(server.local_addr());
    s.write_all(
        &[
            V1,
            b"GET /who HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 9.9.9.9\r\n\r\n".as_slice(),
        ]
        .concat(),
    )
    .unwrap();
    let r = read_response(&mut s, &mut Vec::new(), false);
    assert!(
        r.body.starts_with(b"127.0.0.1:"),
        "{:?}",
        String::from_utf8_lossy(&r.body)
    );
}
