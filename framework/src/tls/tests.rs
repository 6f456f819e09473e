//! The session against an in-memory rustls client: certificates made with
//! rcgen and written as PEM files, as an operator's would be.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use crate::tls::{server_config, CertFiles, TlsSession};

/// A self-signed certificate for `names`, written to a temp dir; its DER.
fn cert(dir: &std::path::Path, tag: &str, names: &[&str]) -> (CertFiles, CertificateDer<'static>) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let made = rcgen::generate_simple_self_signed(names).unwrap();
    let chain = dir.join(format!("{tag}.crt"));
    let key = dir.join(format!("{tag}.key"));
    std::fs::write(&chain, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let der = made.cert.der().clone();
    (
        CertFiles {
            chain,
            key,
            ocsp: None,
        },
        der,
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("percore-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn client_config(trusted: &[&CertificateDer<'static>]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in trusted {
        roots.add((*c).clone()).unwrap();
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Runs the handshake between `client` and `server` in memory; returns the
/// plaintext the server received meanwhile.
fn handshake(client: &mut ClientConnection, server: &mut TlsSession) -> Vec<u8> {
    let mut plain = Vec::new();
    for _ in 0..10 {
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).unwrap();
        }
        server.receive(&wire, &mut plain).unwrap();
        let mut back = Vec::new();
        server.take_output(&mut back);
        let mut back = back.as_slice();
        while !back.is_empty() {
            client.read_tls(&mut back).unwrap();
            client.process_new_packets().unwrap();
        }
        if !client.is_handshaking() && !server.is_handshaking() && !client.wants_write() {
            break;
        }
    }
    plain
}

#[test]
fn a_request_and_its_answer_go_through_sealed() {
    let dir = temp_dir("roundtrip");
    let (files, der) = cert(&dir, "a", &["localhost"]);
    let config = server_config(&files, &[], None).unwrap();
    let mut server = TlsSession::new(config).unwrap();
    let mut client = ClientConnection::new(
        client_config(&[&der]),
        ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    client
        .writer()
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut plain = handshake(&mut client, &mut server);
    // The request may have come with the handshake's last flight, or after.
    let mut wire = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut wire).unwrap();
    }
    server.receive(&wire, &mut plain).unwrap();
    assert_eq!(plain, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(client.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(
        client.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );

    server.seal(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    let mut out = Vec::new();
    server.take_output(&mut out);
    assert!(
        !out.windows(2).any(|w| w == b"ok"),
        "sealed, not in the clear"
    );
    let mut out = out.as_slice();
    while !out.is_empty() {
        client.read_tls(&mut out).unwrap();
    }
    client.process_new_packets().unwrap();
    let mut answer = Vec::new();
    let _ = client.reader().read_to_end(&mut answer);
    assert!(answer.ends_with(b"\r\n\r\nok"), "{answer:?}");

    // close_notify reaches the server as the end of input.
    client.send_close_notify();
    let mut wire = Vec::new();
    client.write_tls(&mut wire).unwrap();
    let closed = server.receive(&wire, &mut Vec::new()).unwrap();
    assert!(closed);
}

#[test]
fn sni_picks_the_certificate_and_unknown_names_get_the_default() {
    let dir = temp_dir("sni");
    let (default, default_der) = cert(&dir, "default", &["default.test"]);
    let (api, api_der) = cert(&dir, "api", &["api.example.test"]);
    let (wild, wild_der) = cert(&dir, "wild", &["*.example.test"]);
    let config = server_config(
        &default,
        &[
            ("API.example.test".into(), api),
            ("*.example.test".into(), wild),
        ],
        None,
    )
    .unwrap();
    for (name, expect) in [
        ("api.example.test", &api_der),
        ("www.example.test", &wild_der),
        ("default.test", &default_der),
    ] {
        let mut server = TlsSession::new(config.clone()).unwrap();
        let trust = [&default_der, &api_der, &wild_der];
        let mut client = ClientConnection::new(
            client_config(&trust),
            ServerName::try_from(name.to_string()).unwrap(),
        )
        .unwrap();
        handshake(&mut client, &mut server);
        assert!(!client.is_handshaking(), "{name}");
        assert_eq!(client.peer_certificates().unwrap()[0], *expect, "{name}");
        assert_eq!(server.server_name(), Some(name));
    }
}

#[test]
fn a_second_connection_resumes_with_a_ticket() {
    let dir = temp_dir("resume");
    let (files, der) = cert(&dir, "a", &["localhost"]);
    let config = server_config(&files, &[], None).unwrap();
    let client_config = client_config(&[&der]);
    let name = ServerName::try_from("localhost").unwrap();
    let mut first = TlsSession::new(config.clone()).unwrap();
    let mut client = ClientConnection::new(client_config.clone(), name.clone()).unwrap();
    handshake(&mut client, &mut first);
    assert!(!first.resumed());
    // The ticket arrives after the handshake: let the client read it.
    let mut out = Vec::new();
    first.take_output(&mut out);
    let mut out = out.as_slice();
    while !out.is_empty() {
        client.read_tls(&mut out).unwrap();
    }
    client.process_new_packets().unwrap();
    let mut again = TlsSession::new(config).unwrap();
    let mut client = ClientConnection::new(client_config, name).unwrap();
    handshake(&mut client, &mut again);
    assert!(again.resumed());
}

#[test]
fn garbage_and_plaintext_http_are_errors() {
    let dir = temp_dir("garbage");
    let (files, _) = cert(&dir, "a", &["localhost"]);
    let config = server_config(&files, &[], None).unwrap();
    for input in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"\x16\x03\x01\x00\x05hello",
        b"\x00\x00\x00\x00\x00\x00",
    ] {
        let mut server = TlsSession::new(config.clone()).unwrap();
        let mut plain = Vec::new();
        assert!(server.receive(input, &mut plain).is_err(), "{input:?}");
        assert!(plain.is_empty());
        // Whatever rustls queued for the peer is at most an alert.
        let mut out = Vec::new();
        server.take_output(&mut out);
        assert!(out.is_empty() || out[0] == 0x15, "{out:?}");
    }
    // A truncated handshake is not an error yet: more may come.
    let mut server = TlsSession::new(config).unwrap();
    let mut plain = Vec::new();
    let closed = server
        .receive(b"\x16\x03\x01\x02\x00\x01", &mut plain)
        .unwrap();
    assert!(!closed && plain.is_empty());
    assert!(server.is_handshaking());
}

#[test]
fn bad_files_are_clear_errors() {
    let dir = temp_dir("bad");
    let (good, _) = cert(&dir, "a", &["localhost"]);
    let (other, _) = cert(&dir, "b", &["localhost"]);
    let missing = CertFiles {
        chain: dir.join("nope.crt"),
        ..good.clone()
    };
    let err = server_config(&missing, &[], None).unwrap_err();
    assert!(err.contains("nope.crt"), "{err}");
    let mismatched = CertFiles {
        key: other.key.clone(),
        ..good.clone()
    };
    let err = server_config(&mismatched, &[], None).unwrap_err();
    assert!(err.contains("a.crt") && err.contains("b.key"), "{err}");
    let not_pem = dir.join("empty.crt");
    std::fs::write(&not_pem, b"hello").unwrap();
    let err = server_config(
        &CertFiles {
            chain: not_pem,
            ..good
        },
        &[],
        None,
    )
    .unwrap_err();
    assert!(err.contains("no PEM certificate"), "{err}");
}
