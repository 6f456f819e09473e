//! HTTPS with real clients: curl and `openssl s_client` against
//! `percore-server` with `[tls]`, certificates made by the openssl tool as
//! an operator would (a CA, a leaf, an OCSP response from `openssl ocsp`).
//! TLS 1.2 and 1.3, ALPN, files of every size sealed in chunks, ranges,
//! resumption, SNI, OCSP stapling, bad input, the HTTP redirect, HSTS, a
//! certificate reload on SIGHUP, and a slow reader of a large file.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{listening_addr, Running, TempDir};

fn run(cmd: &mut Command) -> Output {
    let out = cmd.stdin(Stdio::null()).output().expect("run a tool");
    out
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = run(Command::new("openssl").current_dir(dir).args(args));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed ECDSA P-256 certificate for `name`: (cert, key).
fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (format!("{name}.crt"), format!("{name}.key"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &cert,
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            &format!("subjectAltName=DNS:{name}"),
        ],
    );
    (dir.join(cert), dir.join(key))
}

/// A CA, a leaf for `localhost` it signed, and a "good" OCSP response for
/// the leaf: (ca, leaf, key, ocsp).
fn ca_leaf_and_ocsp(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
    ]);
    openssl(dir, &args);
    let mut args = vec!["req", "-new"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &args);
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
    let serial = run(Command::new("openssl")
        .current_dir(dir)
        .args(["x509", "-in", "leaf.pem", "-noout", "-serial"]));
    let serial = String::from_utf8_lossy(&serial.stdout);
    let serial = serial.trim().trim_start_matches("serial=");
    std::fs::write(
        dir.join("index.txt"),
        format!("V\t301231235959Z\t\t{serial}\tunknown\t/CN=localhost\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "ocsp",
            "-issuer",
            "ca.pem",
            "-cert",
            "leaf.pem",
            "-reqout",
            "req.der",
            "-no_nonce",
        ],
    );
    openssl(
        dir,
        &[
            "ocsp",
            "-index",
            "index.txt",
            "-rsigner",
            "ca.pem",
            "-rkey",
            "ca.key",
            "-CA",
            "ca.pem",
            "-reqin",
            "req.der",
            "-respout",
            "ocsp.der",
            "-ndays",
            "1",
        ],
    );
    (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
        dir.join("ocsp.der"),
    )
}

/// `n` bytes that differ at every offset (so a misplaced chunk shows).
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8 ^ (i >> 12) as u8).collect()
}

/// Starts percore-server on `config` (written into `dir`); its HTTPS
/// address.
fn start(dir: &TempDir, config: &str) -> (Running, SocketAddr) {
    let path = dir.write("config.toml", config.as_bytes());
    let mut server = Running::start(&["--config", path.to_str().unwrap()]);
    let addr = listening_addr(&server.wait_for("listening on "));
    (server, addr)
}

fn curl(args: &[&str]) -> Output {
    run(Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args))
}

fn s_client(addr: SocketAddr, args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn curl_gets_files_of_every_size_over_tls_1_2_and_1_3() {
    let dir = TempDir::new("tls-files");
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    let chunk = 60 * 1024;
    let sizes = [
        0,
        1,
        4096,
        chunk - 1,
        chunk,
        chunk + 1,
        3 * chunk,
        2 * 1024 * 1024 + 13,
    ];
    for n in sizes {
        std::fs::write(www.join(format!("{n}.bin")), pattern(n)).unwrap();
    }
    let (cert, key) = self_signed(dir.path(), "localhost");
    let (mut server, addr) = start(
        &dir,
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 2\n[files]\nroot = {www:?}\n\
             [log]\naccess_log = true\n[tls]\ncert = {cert:?}\nkey = {key:?}\n"
        ),
    );
    let base = format!("https://localhost:{}", addr.port());
    let resolve = format!("localhost:{}:127.0.0.1", addr.port());
    let ca = cert.to_str().unwrap();
    for versions in [&["--tlsv1.2", "--tls-max", "1.2"][..], &["--tlsv1.3"][..]] {
        // Every size on one kept-alive connection (curl reuses it).
        let mut args: Vec<String> = ["--cacert", ca, "--resolve", &resolve, "-v"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(versions.iter().map(|s| s.to_string()));
        for n in sizes {
            args.extend([
                format!("{base}/{n}.bin"),
                "-o".into(),
                dir.path().join(format!("got-{n}")).display().to_string(),
            ]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = curl(&args);
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{log}");
        let version = if versions.len() == 1 {
            "TLSv1.3"
        } else {
            "TLSv1.2"
        };
        assert!(
            log.contains(&format!("SSL connection using {version}")),
            "{log}"
        );
        assert!(log.contains("ALPN: server accepted http/1.1"), "{log}");
        assert!(log.contains("Re-using existing connection"), "{log}");
        for n in sizes {
            let got = std::fs::read(dir.path().join(format!("got-{n}"))).unwrap();
            assert!(
                got == pattern(n),
                "{version}: {n} bytes came back as {}",
                got.len()
            );
        }
    }
    // Ranges across chunk boundaries, and several at once.
    let n = 2 * 1024 * 1024 + 13;
    let all = pattern(n);
    let out = curl(&[
        "--cacert",
        ca,
        "--resolve",
        &resolve,
        "-r",
        "61000-200000",
        &format!("{base}/{n}.bin"),
    ]);
    assert!(out.stdout == all[61000..=200000], "{}", out.stdout.len());
    let out = curl(&[
        "--cacert",
        ca,
        "--resolve",
        &resolve,
        "-I",
        &format!("{base}/{n}.bin"),
    ]);
    let head = String::from_utf8_lossy(&out.stdout);
    assert!(head.contains(&format!("content-length: {n}")), "{head}");
    // The access log counts plaintext body bytes, not records.
    server.wait_for(&format!("\"GET /{n}.bin HTTP/1.1\" 200 {n} "));
    server.wait_for("\"GET /1.bin HTTP/1.1\" 200 1 ");
    server.wait_for("\"GET /2097165.bin HTTP/1.1\" 206 139001 ");
    // TLS 1.1 and older are refused (rustls' safe defaults).
    let old = s_client(addr, &["-tls1_1"], b"");
    assert!(
        !old.contains("BEGIN CERTIFICATE") && !old.contains("Cipher is TLS"),
        "{old}"
    );
    let out = curl(&[
        "--cacert",
        ca,
        "--resolve",
        &resolve,
        &format!("{base}/1.bin"),
    ]);
    assert_eq!(
        out.stdout,
        pattern(1),
        "still serving after a refused handshake"
    );
}

#[test]
fn tickets_resume_sni_picks_the_certificate_and_ocsp_is_stapled() {
    let dir = TempDir::new("tls-sni");
    let (ca, leaf, key, ocsp) = ca_leaf_and_ocsp(dir.path());
    let (other, other_key) = self_signed(dir.path(), "other.test");
    let (wild, wild_key) = self_signed(dir.path(), "wild.example.test");
    let (_server, addr) = start(
        &dir,
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n[files]\nroot = {:?}\n\
             [tls]\ncert = {leaf:?}\nkey = {key:?}\nocsp = {ocsp:?}\n\
             [[tls.sni]]\nserver_name = \"other.test\"\ncert = {other:?}\nkey = {other_key:?}\n\
             [[tls.sni]]\nserver_name = \"*.example.test\"\ncert = {wild:?}\nkey = {wild_key:?}\n",
            dir.path()
        ),
    );
    let ca = ca.to_str().unwrap();
    let default = s_client(
        addr,
        &["-servername", "localhost", "-CAfile", ca, "-status"],
        b"",
    );
    assert!(default.contains("Verify return code: 0 (ok)"), "{default}");
    assert!(
        default.contains("OCSP Response Status: successful"),
        "{default}"
    );
    assert!(default.contains("Cert Status: good"), "{default}");
    let named = s_client(addr, &["-servername", "other.test"], b"");
    assert!(named.contains("subject=CN = other.test"), "{named}");
    let wildcard = s_client(addr, &["-servername", "api.example.test"], b"");
    assert!(
        wildcard.contains("subject=CN = wild.example.test"),
        "{wildcard}"
    );
    let unknown = s_client(addr, &["-servername", "nobody.test"], b"");
    assert!(unknown.contains("subject=CN = localhost"), "{unknown}");

    // An OCSP file that is not a good response for this certificate (PEM,
    // empty, with bytes after it, another certificate's: a failed refresh,
    // or one left from before a renewal) is logged, naming it, and nothing
    // is stapled; the certificate is served all the same.
    let (_, _, _, other_ocsp) = {
        let sub = dir.path().join("other");
        std::fs::create_dir(&sub).unwrap();
        ca_leaf_and_ocsp(&sub)
    };
    let empty = dir.write("empty.der", b"");
    let mut long = std::fs::read(&ocsp).unwrap();
    long.extend_from_slice(b"XYZ");
    let trailing = dir.write("trailing.der", &long);
    let sub = TempDir::new("tls-bad-ocsp");
    for (bad, why) in [
        (&leaf, "not a DER OCSP response"),
        (&empty, "not a DER OCSP response"),
        (&trailing, "bytes after it"),
        (&other_ocsp, "about another certificate"),
    ] {
        let (mut server, addr) = start(
            &sub,
            &format!(
                "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n[files]\nroot = {:?}\n\
                 [tls]\ncert = {leaf:?}\nkey = {key:?}\nocsp = {bad:?}\n",
                dir.path()
            ),
        );
        let line = server.wait_for("stapling nothing");
        assert!(
            line.contains(why) && line.contains(bad.to_str().unwrap()),
            "{line}"
        );
        let status = s_client(
            addr,
            &["-servername", "localhost", "-CAfile", ca, "-status"],
            b"",
        );
        assert!(
            status.contains("OCSP response: no response sent"),
            "{status}"
        );
        assert!(status.contains("Verify return code: 0 (ok)"), "{status}");
    }

    for version in ["-tls1_3", "-tls1_2"] {
        let sess = dir.path().join(format!("sess{version}"));
        let sess = sess.to_str().unwrap();
        // The request makes TLS 1.3 clients read the ticket, sent after
        // the handshake.
        let get = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        // -ign_eof: read until the server closes (after the answer), so
        // the ticket is in.
        let first = s_client(
            addr,
            &[version, "-ign_eof", "-CAfile", ca, "-sess_out", sess],
            get,
        );
        assert!(first.contains("\nNew, TLS"), "{first}");
        let again = s_client(
            addr,
            &[version, "-ign_eof", "-CAfile", ca, "-sess_in", sess],
            get,
        );
        assert!(again.contains("\nReused, TLS"), "{version}: {again}");
    }
}

/// Reads from `s` until it closes or `limit` passes: the bytes and how
/// long it took.
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("still open after {limit:?}: {e}; got {got:?}"),
        }
    }
    (got, start.elapsed())
}

fn metric(metrics: SocketAddr, name: &str) -> f64 {
    let mut s = TcpStream::connect(metrics).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (body, _) = read_until_closed(&mut s, Duration::from_secs(5));
    let body = String::from_utf8_lossy(&body);
    body.lines()
        .filter(|l| l.starts_with(name))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// An `openssl s_client` connection kept open, asking for /a.txt (which
/// holds "fine\n") whenever told.
struct Kept {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: std::process::ChildStdout,
}

impl Kept {
    fn open(addr: SocketAddr, args: &[&str]) -> Kept {
        let mut child = Command::new("openssl")
            .args(["s_client", "-connect", &addr.to_string(), "-quiet"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = child.stdout.take().unwrap();
        Kept {
            child,
            input,
            output,
        }
    }

    fn ask(&mut self) {
        self.input
            .write_all(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.ends_with(b"\r\n\r\nfine\n") {
            let n = self.output.read(&mut buf).unwrap();
            assert!(n > 0, "the kept connection closed: {got:?}");
            got.extend_from_slice(&buf[..n]);
        }
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn bad_tls_input_closes_that_connection_only() {
    let dir = TempDir::new("tls-bad");
    dir.write("a.txt", b"fine\n");
    let (cert, key) = self_signed(dir.path(), "localhost");
    let metrics_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (mut server, addr) = start(
        &dir,
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n[files]\nroot = {:?}\n\
             [timeouts]\nheader_secs = 1\n[log]\nlevel = \"info,percore=debug\"\n\
             [metrics]\nlisten = \"{metrics_port}\"\n[tls]\ncert = {cert:?}\nkey = {key:?}\n",
            dir.path()
        ),
    );
    let ca = cert.to_str().unwrap();
    let url = format!("https://localhost:{}/a.txt", addr.port());
    let resolve = format!("localhost:{}:127.0.0.1", addr.port());
    // A client that stays connected through all of it.
    let mut kept = Kept::open(addr, &["-CAfile", ca]);
    kept.ask();

    let cases: [(&str, &[u8]); 5] = [
        (
            "plaintext HTTP",
            b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ),
        (
            "garbage",
            &[
                0x8f, 0x00, 0xff, 0x13, 0x37, 0x42, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7,
            ],
        ),
        ("an alert", &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]),
        // A Certificate message where the ClientHello belongs (rustls
        // warns about it: not in our log at info).
        (
            "a message out of order",
            &[
                0x16, 0x03, 0x01, 0x00, 0x07, 0x0b, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
            ],
        ),
        // A record header promising a ClientHello that never comes.
        (
            "a truncated handshake",
            &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01],
        ),
    ];
    for (what, bytes) in cases {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(bytes).unwrap();
        let (got, took) = read_until_closed(&mut s, Duration::from_secs(5));
        if what == "plaintext HTTP" {
            // nginx's answer, in the clear, instead of an alert.
            let got = String::from_utf8_lossy(&got);
            assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");
            assert!(got.ends_with("\r\n\r\nThe plain HTTP request was sent to HTTPS port\n"));
        } else {
            assert!(!got.windows(4).any(|w| w == b"HTTP"), "{what}: {got:?}");
        }
        assert!(
            took < Duration::from_secs(4),
            "{what}: closed after {took:?}"
        );
        kept.ask();
        let out = curl(&["--cacert", ca, "--resolve", &resolve, &url]);
        assert_eq!(out.stdout, b"fine\n", "{what}: then a new client");
    }
    // Plain HTTP typed slowly: the 400 all the same.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(b" / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (got, _) = read_until_closed(&mut s, Duration::from_secs(5));
    let got = String::from_utf8_lossy(&got);
    assert!(
        got.ends_with("The plain HTTP request was sent to HTTPS port\n"),
        "{got}"
    );
    server.wait_for("TLS: ");
    server.wait_for("the handshake did not finish");
    std::thread::sleep(Duration::from_millis(200));
    while let Ok(line) = server.lines.try_recv() {
        server.seen.push(line);
    }
    let rustls: Vec<_> = server
        .seen
        .iter()
        .filter(|l| l.contains("rustls"))
        .collect();
    assert!(rustls.is_empty(), "a client wrote to our log: {rustls:?}");
    assert!(metric(metrics_port, "percore_tls_handshake_failures_total") >= 4.0);
    assert!(metric(metrics_port, "percore_tls_handshakes_total") >= 5.0);
}

fn raw(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let (got, _) = read_until_closed(&mut s, Duration::from_secs(5));
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn plain_http_redirects_to_https_which_sends_hsts() {
    let dir = TempDir::new("tls-redirect");
    dir.write("a.txt", b"secure\n");
    let (cert, key) = self_signed(dir.path(), "localhost");
    let (mut server, addr) = start(
        &dir,
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 2\n[files]\nroot = {:?}\n\
             [tls]\ncert = {cert:?}\nkey = {key:?}\nredirect_http = \"127.0.0.1:0\"\n\
             hsts = true\nhsts_include_subdomains = true\n",
            dir.path()
        ),
    );
    let line = server.wait_for("listening on 127.0.0.1:");
    assert!(
        line.contains(&addr.to_string()),
        "the HTTPS line comes first: {line}"
    );
    let plain = listening_addr(&server.wait_for("(http, redirects to https)"));
    let port = addr.port();
    let get = raw(
        plain,
        "GET /a.txt?x=1 HTTP/1.1\r\nHost: Example.COM:80\r\nConnection: close\r\n\r\n",
    );
    assert!(get.starts_with("HTTP/1.1 301 "), "{get}");
    assert!(
        get.contains(&format!(
            "\r\nlocation: https://Example.COM:{port}/a.txt?x=1\r\n"
        )),
        "{get}"
    );
    assert!(
        !get.to_lowercase().contains("strict-transport"),
        "no HSTS over HTTP: {get}"
    );
    let post = raw(
        plain,
        "POST /form HTTP/1.1\r\nHost: [::1]:80\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab",
    );
    assert!(post.starts_with("HTTP/1.1 308 "), "{post}");
    assert!(
        post.contains(&format!("location: https://[::1]:{port}/form\r\n")),
        "{post}"
    );
    let evil = raw(
        plain,
        "GET / HTTP/1.1\r\nHost: evil.test/phish\r\nConnection: close\r\n\r\n",
    );
    assert!(evil.starts_with("HTTP/1.1 400 "), "{evil}");
    // Refusals of the parser carry it too (nginx's `add_header ... always`).
    let refused = s_client(addr, &["-quiet"], b"GET / HTTP/1.1\r\n\r\n");
    assert!(refused.contains("HTTP/1.1 400 "), "{refused}");
    assert!(
        refused.contains("strict-transport-security: max-age="),
        "{refused}"
    );
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    let refused = s_client(addr, &["-quiet"], huge.as_bytes());
    assert!(refused.contains("HTTP/1.1 431 "), "{refused}");
    assert!(
        refused.contains("strict-transport-security: max-age="),
        "{refused}"
    );
    // curl follows it to the file, which carries HSTS.
    let out = curl(&[
        "-L",
        "-i",
        "--cacert",
        cert.to_str().unwrap(),
        "--resolve",
        &format!("localhost:{port}:127.0.0.1"),
        "--resolve",
        &format!("localhost:{}:127.0.0.1", plain.port()),
        &format!("http://localhost:{}/a.txt", plain.port()),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("secure\n"), "{text}");
    assert!(
        text.contains("strict-transport-security: max-age=31536000; includeSubDomains"),
        "{text}"
    );
}

/// The subject of the certificate a new connection gets.
fn subject(addr: SocketAddr) -> String {
    let out = s_client(addr, &["-servername", "localhost"], b"");
    out.lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or_else(|| panic!("no subject in {out}"))
        .to_owned()
}

#[test]
fn sighup_reloads_the_certificates_and_a_bad_file_keeps_the_old_ones() {
    let dir = TempDir::new("tls-reload");
    dir.write("a.txt", b"fine\n");
    let (first, first_key) = self_signed(dir.path(), "first");
    let (second, second_key) = self_signed(dir.path(), "second");
    let cert = dir.path().join("live.crt");
    let key = dir.path().join("live.key");
    std::fs::copy(&first, &cert).unwrap();
    std::fs::copy(&first_key, &key).unwrap();
    let (mut server, addr) = start(
        &dir,
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 2\n[files]\nroot = {:?}\n\
             [tls]\ncert = {cert:?}\nkey = {key:?}\n",
            dir.path()
        ),
    );
    assert!(subject(addr).contains("first"));
    // A connection open across the reloads.
    let mut kept = Kept::open(addr, &[]);
    kept.ask();

    std::fs::copy(&second, &cert).unwrap();
    std::fs::copy(&second_key, &key).unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for("TLS certificates reloaded");
    assert!(subject(addr).contains("second"));
    kept.ask();

    // A broken file: logged, and the second certificate stays.
    std::fs::write(&cert, b"-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    server.signal(libc::SIGHUP);
    let line = server.wait_for("cannot reload the TLS certificates");
    assert!(line.contains("live.crt"), "names the file: {line}");
    assert!(subject(addr).contains("second"));
    kept.ask();
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_slow_reader_of_a_large_file_holds_a_chunk_not_the_file() {
    let dir = TempDir::new("tls-slow");
    let size: u64 = 96 << 20;
    let file = std::fs::File::create(dir.path().join("big.bin")).unwrap();
    file.set_len(size).unwrap(); // zeros, from the page cache
    let (cert, key) = self_signed(dir.path(), "localhost");
    let (server, addr) = start(
        &dir,
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n[files]\nroot = {:?}\n\
             [timeouts]\nsend_secs = 30\n[tls]\ncert = {cert:?}\nkey = {key:?}\n",
            dir.path()
        ),
    );
    let pid = server.child.id();
    let before = rss_kib(pid);
    // s_client reads the socket only as fast as its stdout is read: not
    // at all, for two seconds.
    let mut client = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string(), "-quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = client.stdin.take().unwrap();
    input
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let stalled = rss_kib(pid);
    assert!(
        stalled < before + 16 * 1024,
        "RSS grew from {before} to {stalled} KiB while a reader stalled"
    );
    // Then it reads everything.
    let mut out = client.stdout.take().unwrap();
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    let mut head = Vec::new();
    loop {
        let n = out.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if head.len() < 512 {
            head.extend_from_slice(&buf[..n.min(512)]);
        }
        total += n as u64;
    }
    drop(input);
    let _ = client.wait();
    let head_len = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap() as u64 + 4;
    assert_eq!(total - head_len, size, "{}", String::from_utf8_lossy(&head));
}

#[test]
fn the_redirect_keeps_odd_targets_and_never_reads_an_upload() {
    let dir = TempDir::new("tls-redirect-odd");
    let (cert, key) = self_signed(dir.path(), "localhost");
    let (mut server, addr) = start(
        &dir,
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n[files]\nroot = {:?}\n\
             [limits]\nmax_body = 1000\n\
             [tls]\ncert = {cert:?}\nkey = {key:?}\nredirect_http = \"127.0.0.1:0\"\n\
             redirect_https_port = 443\n",
            dir.path()
        ),
    );
    let plain = listening_addr(&server.wait_for("(http, redirects to https)"));
    // The Location names the public port, 443: so, no port.
    let _ = addr;
    let send = |bytes: &[u8]| {
        let mut s = TcpStream::connect(plain).unwrap();
        s.write_all(bytes).unwrap();
        let (got, _) = read_until_closed(&mut s, Duration::from_secs(5));
        String::from_utf8_lossy(&got).into_owned()
    };
    // Obs-text in the query is kept, percent-encoded.
    let odd = send(b"GET /a?x=\xff HTTP/1.1\r\nHost: good.test\r\nConnection: close\r\n\r\n");
    assert!(
        odd.contains("location: https://good.test/a?x=%FF\r\n"),
        "{odd}"
    );
    // An absolute-form target names the host (RFC 9112 3.2.2).
    let absolute =
        send(b"GET http://other.test/x?y HTTP/1.1\r\nHost: good.test\r\nConnection: close\r\n\r\n");
    assert!(
        absolute.contains("location: https://other.test/x?y\r\n"),
        "{absolute}"
    );
    // An upload far over limits.max_body: 308 at once, then the close.
    let mut s = TcpStream::connect(plain).unwrap();
    s.write_all(b"POST /up HTTP/1.1\r\nHost: good.test\r\nContent-Length: 100000000\r\n\r\n")
        .unwrap();
    s.write_all(&[b'x'; 4096]).unwrap();
    let (got, took) = read_until_closed(&mut s, Duration::from_secs(5));
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 308 "), "{got}");
    assert!(took < Duration::from_secs(4), "{took:?}");
}
