//! `StaticFiles` over raw TCP: traversal in every spelling, dotfiles,
//! directories and listings, headers, HEAD, conditionals, ranges (also on
//! spliced files), precompressed siblings, large bodies with keep-alive,
//! methods, and a file truncated while it is being sent.
//!
//! Every test builds its own tree under the system temp directory (removed
//! when the test ends) and its own two-worker server on 127.0.0.1:0.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

use common::*;
use percore::fs::StaticFiles;
use percore::{App, RunningServer};

/// Content of the file outside the root that no request may ever see.
const SECRET: &[u8] = b"TOPSECRET-outside-the-root\n";
const HELLO: &[u8] = b"hello, static world\n";
const INDEX: &[u8] = b"<!DOCTYPE html><h1>root index</h1>\n";
const DIR_INDEX: &[u8] = b"<!DOCTYPE html><h1>dir index</h1>\n";
const CSS: &[u8] = b"body { color: red; }\n";
const CSS_GZ: &[u8] = b"\x1f\x8b-pretend-gzip-bytes-of-site.css";
const CSS_BR: &[u8] = b"pretend-brotli";

/// A temp tree and a server serving its `root/`; both go away on drop.
struct Site {
    dir: PathBuf,
    root: PathBuf,
    server: Option<RunningServer>,
}

impl Site {
    fn addr(&self) -> SocketAddr {
        self.server.as_ref().expect("running").local_addr()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown();
            let _ = server.join();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A fresh, unique directory under the system temp dir.
fn unique_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let dir = std::env::temp_dir().join(format!(
        "percore-static-{}-{name}-{}-{nanos:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Builds the standard tree:
///
/// ```text
/// DIR/secret                      outside the root
/// DIR/outside/secret              outside the root
/// DIR/root/index.html hello.txt style.css blob.qqq range.txt
/// DIR/root/site.css site.css.gz site.css.br
/// DIR/root/dir/index.html         a directory with an index
/// DIR/root/empty/a<b>&c.txt .hidden sub/   a directory without one
/// DIR/root/a/                     for /a/../../secret
/// DIR/root/.env .git/config       dotfiles
/// DIR/root/link-out -> DIR/secret, link-rel-out -> ../secret,
/// DIR/root/linkdir-out -> DIR/outside, link-in -> hello.txt
/// ```
fn build_tree(name: &str) -> (PathBuf, PathBuf) {
    let dir = unique_dir(name);
    let root = dir.join("root");
    fs::create_dir_all(root.join("dir")).unwrap();
    fs::create_dir_all(root.join("empty/sub")).unwrap();
    fs::create_dir_all(root.join("a")).unwrap();
    fs::create_dir_all(root.join(".git")).unwrap();
    fs::create_dir_all(dir.join("outside")).unwrap();
    fs::write(dir.join("secret"), SECRET).unwrap();
    fs::write(dir.join("outside/secret"), SECRET).unwrap();
    fs::write(root.join("index.html"), INDEX).unwrap();
    fs::write(root.join("hello.txt"), HELLO).unwrap();
    fs::write(root.join("style.css"), CSS).unwrap();
    fs::write(root.join("blob.qqq"), b"\x00\x01\x02binary").unwrap();
    fs::write(root.join("range.txt"), range_content()).unwrap();
    fs::write(root.join("site.css"), CSS).unwrap();
    fs::write(root.join("site.css.gz"), CSS_GZ).unwrap();
    fs::write(root.join("site.css.br"), CSS_BR).unwrap();
    fs::write(root.join("dir/index.html"), DIR_INDEX).unwrap();
    fs::write(root.join("empty/a<b>&c.txt"), b"odd name").unwrap();
    fs::write(root.join("empty/.hidden"), b"hidden").unwrap();
    fs::write(root.join(".env"), b"PASSWORD=hunter2\n").unwrap();
    fs::write(root.join(".git/config"), b"[core]\n\tsecret = yes\n").unwrap();
    std::os::unix::fs::symlink(dir.join("secret"), root.join("link-out")).unwrap();
    std::os::unix::fs::symlink("../secret", root.join("link-rel-out")).unwrap();
    std::os::unix::fs::symlink(dir.join("outside"), root.join("linkdir-out")).unwrap();
    std::os::unix::fs::symlink("hello.txt", root.join("link-in")).unwrap();
    (dir, root)
}

/// The standard tree served by `files(root)` mounted at `prefix`.
fn site_with(name: &str, prefix: &'static str, files: impl Fn(&Path) -> StaticFiles) -> Site {
    let (dir, root) = build_tree(name);
    let files = files(&root);
    let server = start(2, move |_| App::new().mount(prefix, files.clone()));
    Site {
        dir,
        root,
        server: Some(server),
    }
}

/// The standard tree with the default options at `/`.
fn site(name: &str) -> Site {
    site_with(name, "/", |root| StaticFiles::new(root))
}

/// 100 bytes: `0123456789abcdef...` repeated.
fn range_content() -> Vec<u8> {
    (0..100u8)
        .map(|i| b"0123456789abcdefghijklmnopqrstuvwxyz"[(i % 36) as usize])
        .collect()
}

/// A size over the in-memory limit: served by splicing from the descriptor.
fn spliced_size() -> usize {
    percore::fs::cache::SMALL_FILE_MAX as usize + (1 << 20) + 13
}

/// `len` bytes of a pseudo-random pattern (every offset distinguishable).
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `GET path` with `extra` header lines (each ending in CRLF).
fn get_req(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").into_bytes()
}

fn get(addr: SocketAddr, path: &str, extra: &str) -> Resp {
    roundtrip(addr, &get_req(path, extra))
}

/// Sends `request` on `s` and reads one response.
fn exchange(s: &mut TcpStream, pending: &mut Vec<u8>, request: &[u8]) -> Resp {
    s.write_all(request).unwrap();
    read_response(s, pending, request.starts_with(b"HEAD "))
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

fn assert_no_secret(target: &str, r: &Resp) {
    assert!(
        !r.body.windows(9).any(|w| w == b"TOPSECRET"),
        "{target}: the content of a file outside the root was served: {r:?}"
    );
}

// ---------------------------------------------------------------- 1. traversal

#[test]
fn traversal_in_every_spelling_is_400_or_404_and_never_leaves_the_root() {
    let site = site("traversal");
    let cases: &[(&str, &[u16])] = &[
        ("/../secret", &[400]),
        ("/../../secret", &[400]),
        ("/%2e%2e/secret", &[400]),
        ("/%2E%2E/secret", &[400]),
        ("/.%2e/secret", &[400]),
        ("/%2E%2E%2Fsecret", &[400]),
        ("/..%2fsecret", &[400]),
        ("/..%2Fsecret", &[400]),
        ("/a/../../secret", &[400]),
        ("/a/%2e%2e/%2e%2e/secret", &[400]),
        ("/a/./../../secret", &[400]),
        ("//../secret", &[400]),
        // Decoded once: the literal name `%2e%2e`, which does not exist.
        ("/%252e%252e/secret", &[404]),
        ("/%252e%252e%252fsecret", &[404]),
        // A backslash is an ordinary byte of a name.
        ("/..\\secret", &[404]),
        ("/a\\..\\..\\secret", &[404]),
        ("/%5c..%5c..%5csecret", &[404]),
        // NUL, raw or encoded, is never part of a name.
        ("/hello.txt%00", &[400]),
        ("/%00", &[400]),
        ("/hello.txt%00.html", &[400]),
        // Malformed escapes.
        ("/%zz", &[400]),
        ("/hello.txt%2", &[400]),
    ];
    for (target, allowed) in cases {
        let r = get(site.addr(), target, "");
        assert!(
            allowed.contains(&r.status),
            "{target}: status {} not in {allowed:?}: {r:?}",
            r.status
        );
        assert_no_secret(target, &r);
    }
    // Absolute-form targets go through the same resolution.
    for target in [
        "http://x/../secret",
        "http://x/%2e%2e/secret",
        "http://x/a/../../secret",
    ] {
        let r = get(site.addr(), target, "");
        assert!(
            r.status == 400 || r.status == 404,
            "{target}: status {}: {r:?}",
            r.status
        );
        assert_no_secret(target, &r);
    }
    // A dot segment that stays inside the root is fine.
    let r = get(site.addr(), "/a/../hello.txt", "");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, HELLO);
    let r = get(site.addr(), "http://x/a/%2e%2e/hello.txt", "");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, HELLO);
    // And the server is still serving after all that.
    assert_eq!(get(site.addr(), "/hello.txt", "").body, HELLO);
}

#[test]
fn symlinks_inside_the_root_are_followed_but_never_out_of_it() {
    let site = site("symlinks");
    for target in [
        "/link-out",
        "/link-rel-out",
        "/linkdir-out/secret",
        "/linkdir-out/",
        "/linkdir-out",
    ] {
        let r = get(site.addr(), target, "");
        assert_eq!(r.status, 404, "{target}: {r:?}");
        assert_no_secret(target, &r);
    }
    let r = get(site.addr(), "/link-in", "");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, HELLO);
    assert_eq!(r.header("content-length"), Some(&*HELLO.len().to_string()));
}

// ---------------------------------------------------------------- 2. dotfiles

#[test]
fn dotfiles_are_hidden_by_default() {
    let site = site("dotfiles");
    for target in [
        "/.env",
        "/.git/config",
        "/.git/",
        "/.git",
        "/%2eenv",
        "/a/../.env",
        "/empty/.hidden",
    ] {
        let r = get(site.addr(), target, "");
        assert_eq!(r.status, 404, "{target}: {r:?}");
        assert!(!text(&r.body).contains("hunter2"), "{target}: {r:?}");
        assert!(!text(&r.body).contains("secret = yes"), "{target}: {r:?}");
    }
    // A hidden segment removed by `..` leaves a visible path.
    let r = get(site.addr(), "/.git/../hello.txt", "");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, HELLO);
}

// ---------------------------------------------------------------- 3. directories

#[test]
fn a_directory_redirects_to_its_slash_and_serves_its_index() {
    let site = site("dirs");
    let r = get(site.addr(), "/dir", "");
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(r.header("location"), Some("/dir/"));
    let r = get(site.addr(), "/dir?x=1&y=two", "");
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(r.header("location"), Some("/dir/?x=1&y=two"));
    // The redirect is built from the resolved path: never off-site.
    let r = get(site.addr(), "//dir", "");
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(r.header("location"), Some("/dir/"));

    let r = get(site.addr(), "/dir/", "");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, DIR_INDEX);
    assert_eq!(r.header("content-type"), Some("text/html"));
    let r = get(site.addr(), "/", "");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, INDEX);
    let r = get(site.addr(), "/dir/index.html", "");
    assert_eq!(r.body, DIR_INDEX);

    // No index, listing off by default.
    let r = get(site.addr(), "/empty/", "");
    assert_eq!(r.status, 404, "{r:?}");
    assert!(!text(&r.body).contains("a&lt;b"), "{r:?}");
    // A file asked for as a directory.
    let r = get(site.addr(), "/hello.txt/", "");
    assert_eq!(r.status, 404, "{r:?}");
    let r = get(site.addr(), "/missing.txt", "");
    assert_eq!(r.status, 404, "{r:?}");
}

#[test]
fn listing_escapes_names_and_hides_dotfiles() {
    let site = site_with("listing", "/", |root| StaticFiles::new(root).listing(true));
    let r = get(site.addr(), "/empty/", "");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = text(&r.body);
    assert!(html.contains(">a&lt;b&gt;&amp;c.txt<"), "{html}");
    assert!(html.contains("href=\"./a%3Cb%3E&amp;c.txt\""), "{html}");
    assert!(!html.contains("a<b>"), "{html}");
    assert!(html.contains("sub/"), "{html}");
    assert!(!html.contains(".hidden"), "{html}");
    assert!(html.contains("href=\"../\""), "{html}");
    // A directory with an index still gets the index.
    assert_eq!(get(site.addr(), "/dir/", "").body, DIR_INDEX);
    // Dot directories stay hidden even with the listing on.
    assert_eq!(get(site.addr(), "/.git/", "").status, 404);
    // The listing of the root, from a directory not shown otherwise.
    fs::remove_file(site.path("index.html")).unwrap();
    std::thread::sleep(Duration::from_millis(1100)); // the cache TTL
    let r = get(site.addr(), "/", "");
    assert_eq!(r.status, 200, "{r:?}");
    let html = text(&r.body);
    assert!(html.contains("hello.txt"), "{html}");
    assert!(!html.contains(".env"), "{html}");
    assert!(!html.contains(".git"), "{html}");
    assert!(!html.contains("href=\"../\""), "{html}");
}

#[test]
fn a_mount_under_a_prefix_serves_below_it() {
    let site = site_with("prefix", "/assets", |root| StaticFiles::new(root));
    let r = get(site.addr(), "/assets/hello.txt", "");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, HELLO);
    let r = get(site.addr(), "/assets/dir", "");
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(r.header("location"), Some("/assets/dir/"));
    assert_eq!(get(site.addr(), "/assets/dir/", "").body, DIR_INDEX);
    assert_eq!(get(site.addr(), "/assets/", "").body, INDEX);
    assert_eq!(get(site.addr(), "/hello.txt", "").status, 404);
    for target in [
        "/assets/../secret",
        "/assets/%2e%2e/secret",
        "/assets/..%2fsecret",
    ] {
        let r = get(site.addr(), target, "");
        assert!(r.status == 400 || r.status == 404, "{target}: {r:?}");
        assert_no_secret(target, &r);
    }
}

#[test]

fn the_mount_point_without_its_slash_redirects() {
    let site = site_with("prefix-redirect", "/assets", |root| StaticFiles::new(root));
    let r = get(site.addr(), "/assets", "");
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(r.header("location"), Some("/assets/"));
    let r = get(site.addr(), "/assets?v=1", "");
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(r.header("location"), Some("/assets/?v=1"));
}

// ---------------------------------------------------------------- 4. headers

#[test]
fn a_200_carries_type_length_validators_ranges_and_cache_control() {
    let site = site("headers");
    let cases: &[(&str, &str, &[u8])] = &[
        ("/index.html", "text/html", INDEX),
        ("/style.css", "text/css", CSS),
        (
            "/blob.qqq",
            "application/octet-stream",
            b"\x00\x01\x02binary",
        ),
    ];
    for (target, ctype, body) in cases {
        let r = get(site.addr(), target, "");
        assert_eq!(r.status, 200, "{target}: {r:?}");
        assert_eq!(r.body, *body, "{target}");
        assert_eq!(r.header("content-type"), Some(*ctype), "{target}: {r:?}");
        assert_eq!(
            r.header("content-length"),
            Some(&*body.len().to_string()),
            "{target}"
        );
        let mtime = fs::metadata(site.path(&target[1..]))
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(
            r.header("last-modified"),
            Some(&*percore::fs::conditional::http_date(mtime)),
            "{target}"
        );
        assert!(
            r.header("last-modified").unwrap().ends_with(" GMT"),
            "{r:?}"
        );
        let etag = r.header("etag").expect("etag");
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
            "strong etag: {etag}"
        );
        assert_eq!(r.header("accept-ranges"), Some("bytes"), "{target}");
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=600"),
            "{target}"
        );
        assert!(r.header("date").is_some(), "{target}: {r:?}");
        assert!(r.header("content-encoding").is_none(), "{target}: {r:?}");
        // No sibling exists: nothing varies.
        assert!(r.header("vary").is_none(), "{target}: {r:?}");
    }
    // Different files, different tags; the same file, the same tag.
    let a = get(site.addr(), "/index.html", "");
    let b = get(site.addr(), "/style.css", "");
    let a2 = get(site.addr(), "/index.html", "");
    assert_ne!(a.header("etag"), b.header("etag"));
    assert_eq!(a.header("etag"), a2.header("etag"));
}

#[test]
fn cache_control_can_be_changed_or_dropped() {
    let site = site_with("cache-control", "/", |root| {
        StaticFiles::new(root).cache_control("no-cache")
    });
    let r = get(site.addr(), "/hello.txt", "");
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    drop(site);
    let site = site_with("cache-control-off", "/", |root| {
        StaticFiles::new(root).cache_control("")
    });
    let r = get(site.addr(), "/hello.txt", "");
    assert_eq!(r.status, 200);
    assert!(r.header("cache-control").is_none(), "{r:?}");
}

/// No charset is forced on text (a page in ISO-8859-1 that says so in its
/// `<meta>` must render as written); `files.charset` adds one to text types.
#[test]
fn a_charset_only_when_configured() {
    let site = site("charset-off");
    for (path, want) in [
        ("/hello.txt", "text/plain"),
        ("/index.html", "text/html"),
        ("/style.css", "text/css"),
    ] {
        assert_eq!(
            get(site.addr(), path, "").header("content-type"),
            Some(want)
        );
    }
    drop(site);
    let site = site_with("charset-on", "/", |root| {
        StaticFiles::new(root).charset("iso-8859-1")
    });
    for (path, want) in [
        ("/hello.txt", "text/plain; charset=iso-8859-1"),
        ("/index.html", "text/html; charset=iso-8859-1"),
        ("/blob.qqq", "application/octet-stream"),
    ] {
        assert_eq!(
            get(site.addr(), path, "").header("content-type"),
            Some(want)
        );
    }
}

// ---------------------------------------------------------------- 5. HEAD

/// The headers a HEAD must share with the GET.
const ENTITY_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "etag",
    "last-modified",
    "accept-ranges",
    "cache-control",
];

#[test]
fn head_has_the_headers_of_get_and_no_body() {
    let site = site("head");
    fs::write(site.path("big.bin"), pattern(spliced_size(), 7)).unwrap();
    for target in ["/hello.txt", "/big.bin", "/index.html"] {
        let mut s = connect(site.addr());
        let mut pending = Vec::new();
        // HEAD then GET, pipelined in one write.
        let mut both = format!("HEAD {target} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes();
        both.extend_from_slice(&get_req(target, ""));
        s.write_all(&both).unwrap();
        let head = read_response(&mut s, &mut pending, true);
        assert_eq!(head.status, 200, "{target}: {head:?}");
        let full = read_response(&mut s, &mut pending, false);
        assert_eq!(full.status, 200, "{target}: {full:?}");
        for name in ENTITY_HEADERS {
            assert_eq!(head.header(name), full.header(name), "{target}: {name}");
        }
        let expected = fs::read(site.path(&target[1..])).unwrap();
        assert_eq!(full.body.len(), expected.len(), "{target}");
        assert!(full.body == expected, "{target}: body differs");
        assert!(pending.is_empty(), "{target}: stray bytes after the GET");
        // Nothing more arrives on the connection (no body left from the HEAD).
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => panic!("{target}: connection closed"),
            Ok(n) => panic!("{target}: {n} stray bytes: {:?}", &buf[..n]),
            Err(_) => {}
        }
    }
    // HEAD of a big file, then a small GET on the same connection.
    let mut s = connect(site.addr());
    let mut pending = Vec::new();
    let head = exchange(
        &mut s,
        &mut pending,
        b"HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(
        head.header("content-length"),
        Some(&*spliced_size().to_string())
    );
    let r = exchange(&mut s, &mut pending, &get_req("/hello.txt", ""));
    assert_eq!(r.body, HELLO);
}

// ---------------------------------------------------------------- 6. conditionals

#[test]
fn conditional_requests_answer_304_and_412() {
    let site = site("conditional");
    let mut s = connect(site.addr());
    let mut pending = Vec::new();
    let first = exchange(&mut s, &mut pending, &get_req("/hello.txt", ""));
    assert_eq!(first.status, 200);
    let etag = first.header("etag").unwrap().to_string();
    let lm = first.header("last-modified").unwrap().to_string();
    // All on one connection: a 304 with a stray body would break the next.
    let not_modified = [
        format!("If-None-Match: {etag}\r\n"),
        "If-None-Match: *\r\n".to_string(),
        format!("If-None-Match: W/{etag}\r\n"),
        format!("If-None-Match: \"other\", {etag}\r\n"),
        // A list split over two field lines means the same (RFC 9110 5.3).
        format!("If-None-Match: \"other\"\r\nIf-None-Match: {etag}\r\n"),
        format!("If-Modified-Since: {lm}\r\n"),
        "If-Modified-Since: Fri, 31 Dec 9999 23:59:59 GMT\r\n".to_string(),
        format!("If-None-Match: {etag}\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"),
    ];
    for extra in &not_modified {
        let r = exchange(&mut s, &mut pending, &get_req("/hello.txt", extra));
        assert_eq!(r.status, 304, "{extra}: {r:?}");
        assert!(r.body.is_empty());
        assert_eq!(r.header("etag"), Some(&*etag), "{extra}");
        assert_eq!(r.header("last-modified"), Some(&*lm), "{extra}");
        assert_eq!(r.header("cache-control"), Some("public, max-age=600"));
        assert!(
            r.header("content-length")
                .is_none_or(|v| v == "0" || v == HELLO.len().to_string()),
            "{extra}: {r:?}"
        );
        // HEAD too.
        let head = format!("HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
        let r = exchange(&mut s, &mut pending, head.as_bytes());
        assert_eq!(r.status, 304, "HEAD {extra}: {r:?}");
    }
    let proceed = [
        // If-Modified-Since is ignored when If-None-Match is present.
        format!("If-None-Match: \"nope\"\r\nIf-Modified-Since: {lm}\r\n"),
        "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n".to_string(),
        "If-Modified-Since: not a date\r\n".to_string(),
        format!("If-Match: {etag}\r\n"),
        "If-Match: *\r\n".to_string(),
        "If-Unmodified-Since: Fri, 31 Dec 9999 23:59:59 GMT\r\n".to_string(),
        format!("If-Unmodified-Since: {lm}\r\n"),
    ];
    for extra in &proceed {
        let r = exchange(&mut s, &mut pending, &get_req("/hello.txt", extra));
        assert_eq!(r.status, 200, "{extra}: {r:?}");
        assert_eq!(r.body, HELLO, "{extra}");
    }
    let failed = [
        "If-Match: \"nope\"\r\n".to_string(),
        // Weak comparison is not allowed for If-Match.
        format!("If-Match: W/{etag}\r\n"),
        "If-Unmodified-Since: Mon, 01 Jan 1990 00:00:00 GMT\r\n".to_string(),
        // If-Match wins over a matching If-None-Match.
        format!("If-Match: \"nope\"\r\nIf-None-Match: {etag}\r\n"),
    ];
    for extra in &failed {
        let r = exchange(&mut s, &mut pending, &get_req("/hello.txt", extra));
        assert_eq!(r.status, 412, "{extra}: {r:?}");
        assert!(!r.body.windows(5).any(|w| w == b"hello"), "{extra}: {r:?}");
    }
    // Preconditions do not apply to a missing file.
    let r = exchange(
        &mut s,
        &mut pending,
        &get_req("/missing", "If-None-Match: *\r\n"),
    );
    assert_eq!(r.status, 404, "{r:?}");
    // The connection is still in step.
    let r = exchange(&mut s, &mut pending, &get_req("/hello.txt", ""));
    assert_eq!(r.body, HELLO);
    assert!(pending.is_empty());
}

#[test]
fn conditionals_on_a_spliced_file_send_no_body() {
    let site = site("conditional-big");
    fs::write(site.path("big.bin"), pattern(spliced_size(), 3)).unwrap();
    let mut s = connect(site.addr());
    let mut pending = Vec::new();
    let first = exchange(&mut s, &mut pending, &get_req("/big.bin", ""));
    assert_eq!(first.body.len(), spliced_size());
    let etag = first.header("etag").unwrap().to_string();
    let r = exchange(
        &mut s,
        &mut pending,
        &get_req("/big.bin", &format!("If-None-Match: {etag}\r\n")),
    );
    assert_eq!(r.status, 304);
    let r = exchange(&mut s, &mut pending, &get_req("/hello.txt", ""));
    assert_eq!(r.body, HELLO);
}

// ---------------------------------------------------------------- 7. ranges

/// The parts of a `multipart/byteranges` body: (Content-Type, Content-Range, data).
fn parse_multipart(body: &[u8], boundary: &str) -> Vec<(String, String, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let first = format!("{delimiter}\r\n");
    assert!(
        body.starts_with(first.as_bytes()),
        "body does not open with the boundary: {:?}",
        text(body)
    );
    let trailer = format!("\r\n{delimiter}--\r\n");
    assert!(
        body.ends_with(trailer.as_bytes()),
        "body does not end with the closing delimiter: {:?}",
        text(body)
    );
    let next = format!("\r\n{delimiter}");
    let mut parts = Vec::new();
    let mut pos = first.len();
    loop {
        let head_end = find(&body[pos..], b"\r\n\r\n").expect("part head") + pos;
        let head = std::str::from_utf8(&body[pos..head_end]).unwrap();
        let mut ctype = String::new();
        let mut crange = String::new();
        for line in head.split("\r\n") {
            let (n, v) = line.split_once(':').expect("part header");
            match n.to_ascii_lowercase().as_str() {
                "content-type" => ctype = v.trim().to_string(),
                "content-range" => crange = v.trim().to_string(),
                other => panic!("unexpected part header {other}"),
            }
        }
        let data_start = head_end + 4;
        let data_end = find(&body[data_start..], next.as_bytes()).expect("delimiter") + data_start;
        parts.push((ctype, crange, body[data_start..data_end].to_vec()));
        pos = data_end + next.len();
        if body[pos..].starts_with(b"--\r\n") {
            assert_eq!(pos + 4, body.len(), "bytes after the closing delimiter");
            return parts;
        }
        assert!(
            body[pos..].starts_with(b"\r\n"),
            "delimiter not followed by CRLF"
        );
        pos += 2;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn boundary_of(r: &Resp) -> String {
    let ct = r.header("content-type").expect("content-type");
    let rest = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart/byteranges: {ct}"));
    rest.trim_matches('"').to_string()
}

#[test]
fn single_ranges_give_206_with_exact_bytes() {
    let site = site("range");
    let content = range_content();
    let whole = get(site.addr(), "/range.txt", "");
    let ctype = whole.header("content-type").unwrap().to_string();
    let mut s = connect(site.addr());
    let mut pending = Vec::new();
    let cases: &[(&str, std::ops::Range<usize>)] = &[
        ("bytes=0-9", 0..10),
        ("bytes=-5", 95..100),
        ("bytes=10-", 10..100),
        ("bytes=99-", 99..100),
        ("bytes=0-0", 0..1),
        ("bytes=90-1000", 90..100),
        ("bytes=-1000", 0..100),
        ("bytes= 20-29 ", 20..30),
    ];
    for (spec, want) in cases {
        let r = exchange(
            &mut s,
            &mut pending,
            &get_req("/range.txt", &format!("Range: {spec}\r\n")),
        );
        assert_eq!(r.status, 206, "{spec}: {r:?}");
        assert_eq!(
            r.header("content-range"),
            Some(&*format!("bytes {}-{}/100", want.start, want.end - 1)),
            "{spec}"
        );
        assert_eq!(
            r.header("content-length"),
            Some(&*want.len().to_string()),
            "{spec}"
        );
        assert_eq!(r.body, &content[want.clone()], "{spec}");
        assert_eq!(r.header("content-type"), Some(&*ctype), "{spec}");
        assert!(r.header("etag").is_some(), "{spec}");
    }
    // Not a byte range we honour: the whole file.
    for spec in [
        "items=0-9",
        "bytes=9-0",
        "bytes=abc",
        "bytes=",
        "bytes=0-5,3-8",
    ] {
        let r = exchange(
            &mut s,
            &mut pending,
            &get_req("/range.txt", &format!("Range: {spec}\r\n")),
        );
        assert_eq!(r.status, 200, "{spec}: {r:?}");
        assert_eq!(r.body, content, "{spec}");
        assert!(r.header("content-range").is_none(), "{spec}");
    }
    // HEAD ignores Range.
    let r = exchange(
        &mut s,
        &mut pending,
        b"HEAD /range.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-length"), Some("100"));
}

#[test]
fn multipart_ranges_give_multipart_byteranges() {
    let site = site("multipart");
    let content = range_content();
    let ctype = get(site.addr(), "/range.txt", "")
        .header("content-type")
        .unwrap()
        .to_string();
    let r = get(site.addr(), "/range.txt", "Range: bytes=0-1,5-6\r\n");
    assert_eq!(r.status, 206, "{r:?}");
    assert!(r.header("content-range").is_none(), "{r:?}");
    assert_eq!(r.header("content-length"), Some(&*r.body.len().to_string()));
    let parts = parse_multipart(&r.body, &boundary_of(&r));
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert_eq!(parts[0].0, ctype);
    assert_eq!(parts[0].1, "bytes 0-1/100");
    assert_eq!(parts[0].2, &content[0..2]);
    assert_eq!(parts[1].0, ctype);
    assert_eq!(parts[1].1, "bytes 5-6/100");
    assert_eq!(parts[1].2, &content[5..7]);

    // Three parts, out of order, one a suffix.
    let r = get(site.addr(), "/range.txt", "Range: bytes=50-59, -3, 0-0\r\n");
    assert_eq!(r.status, 206, "{r:?}");
    let parts = parse_multipart(&r.body, &boundary_of(&r));
    let got: Vec<(&str, &[u8])> = parts.iter().map(|p| (&*p.1, &p.2[..])).collect();
    assert_eq!(
        got,
        vec![
            ("bytes 50-59/100", &content[50..60]),
            ("bytes 97-99/100", &content[97..100]),
            ("bytes 0-0/100", &content[0..1]),
        ]
    );
}

#[test]
fn unsatisfiable_and_huge_ranges() {
    let site = site("range-416");
    let mut s = connect(site.addr());
    let mut pending = Vec::new();
    for spec in ["bytes=100-", "bytes=100-200", "bytes=1000-", "bytes=-0"] {
        let r = exchange(
            &mut s,
            &mut pending,
            &get_req("/range.txt", &format!("Range: {spec}\r\n")),
        );
        assert_eq!(r.status, 416, "{spec}: {r:?}");
        assert_eq!(r.header("content-range"), Some("bytes */100"), "{spec}");
        assert!(!r.body.starts_with(b"0123456789"), "{spec}: {r:?}");
    }
    for spec in [
        "bytes=99999999999999999999999-",
        "bytes=0-99999999999999999999999",
        "bytes=-99999999999999999999999",
        "bytes=18446744073709551615-18446744073709551615",
        "bytes=18446744073709551616-",
    ] {
        let r = exchange(
            &mut s,
            &mut pending,
            &get_req("/range.txt", &format!("Range: {spec}\r\n")),
        );
        assert!([200, 206, 416].contains(&r.status), "{spec}: {r:?}");
        if r.status == 416 {
            assert_eq!(r.header("content-range"), Some("bytes */100"), "{spec}");
        }
    }
    // A last-pos past the end is clamped to it.
    let r = exchange(
        &mut s,
        &mut pending,
        &get_req("/range.txt", "Range: bytes=0-99999999999999999999999\r\n"),
    );
    assert_eq!(r.status, 206, "{r:?}");
    assert_eq!(r.header("content-range"), Some("bytes 0-99/100"));
    assert_eq!(r.body, range_content());
    // The connection survived all of it.
    let r = exchange(&mut s, &mut pending, &get_req("/hello.txt", ""));
    assert_eq!(r.body, HELLO);
}

#[test]
fn if_range_honours_the_range_only_for_the_current_validator() {
    let site = site("if-range");
    let content = range_content();
    let whole = get(site.addr(), "/range.txt", "");
    let etag = whole.header("etag").unwrap().to_string();
    let lm = whole.header("last-modified").unwrap().to_string();
    let r = get(
        site.addr(),
        "/range.txt",
        &format!("Range: bytes=0-9\r\nIf-Range: {etag}\r\n"),
    );
    assert_eq!(r.status, 206, "{r:?}");
    assert_eq!(r.body, &content[..10]);
    for old in ["\"0-0-0.0\"", "W/\"x\"", "Mon, 01 Jan 1990 00:00:00 GMT"] {
        let r = get(
            site.addr(),
            "/range.txt",
            &format!("Range: bytes=0-9\r\nIf-Range: {old}\r\n"),
        );
        assert_eq!(r.status, 200, "{old}: {r:?}");
        assert_eq!(r.body, content, "{old}");
    }
    // A weak form of the current tag never matches (strong comparison).
    let r = get(
        site.addr(),
        "/range.txt",
        &format!("Range: bytes=0-9\r\nIf-Range: W/{etag}\r\n"),
    );
    assert_eq!(r.status, 200, "{r:?}");
    // The Last-Modified date matches only if it is strong (the file was
    // written over a second ago): then 206, else 200; never anything else.
    let r = get(
        site.addr(),
        "/range.txt",
        &format!("Range: bytes=0-9\r\nIf-Range: {lm}\r\n"),
    );
    assert!(r.status == 206 || r.status == 200, "{r:?}");
}

#[test]
fn ranges_of_a_large_spliced_file_are_exact() {
    let site = site("range-big");
    let content = pattern(spliced_size(), 11);
    fs::write(site.path("big.bin"), &content).unwrap();
    let len = content.len();
    let mut s = connect(site.addr());
    let mut pending = Vec::new();
    let r = exchange(
        &mut s,
        &mut pending,
        &get_req("/big.bin", "Range: bytes=1000000-1000099\r\n"),
    );
    assert_eq!(r.status, 206, "{:?}", r.headers);
    assert_eq!(
        r.header("content-range"),
        Some(&*format!("bytes 1000000-1000099/{len}"))
    );
    assert!(
        r.body == content[1_000_000..1_000_100],
        "range bytes differ"
    );
    // A long tail and a suffix.
    let r = exchange(
        &mut s,
        &mut pending,
        &get_req("/big.bin", "Range: bytes=300000-\r\n"),
    );
    assert_eq!(r.status, 206);
    assert!(r.body == content[300_000..], "tail differs");
    let r = exchange(
        &mut s,
        &mut pending,
        &get_req("/big.bin", "Range: bytes=-70000\r\n"),
    );
    assert!(r.body == content[len - 70_000..], "suffix differs");
    // Multipart from the file descriptor, parts of several hundred KiB.
    let r = exchange(
        &mut s,
        &mut pending,
        &get_req("/big.bin", "Range: bytes=0-9,500000-899999,2000000-\r\n"),
    );
    assert_eq!(r.status, 206, "{:?}", r.headers);
    let parts = parse_multipart(&r.body, &boundary_of(&r));
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0].1, format!("bytes 0-9/{len}"));
    assert!(parts[0].2 == content[..10]);
    assert_eq!(parts[1].1, format!("bytes 500000-899999/{len}"));
    assert!(
        parts[1].2 == content[500_000..900_000],
        "middle part differs"
    );
    assert_eq!(parts[2].1, format!("bytes 2000000-{}/{len}", len - 1));
    assert!(parts[2].2 == content[2_000_000..], "last part differs");
    assert_eq!(parts[2].0, "application/octet-stream");
    // And the connection is still in step.
    let r = exchange(&mut s, &mut pending, &get_req("/hello.txt", ""));
    assert_eq!(r.body, HELLO);
    assert!(pending.is_empty());
}

// ---------------------------------------------------------------- 8. precompressed

#[test]
fn precompressed_siblings_follow_accept_encoding() {
    let site = site("precompressed");
    let cases: &[(&str, Option<&str>, &[u8])] = &[
        ("Accept-Encoding: gzip\r\n", Some("gzip"), CSS_GZ),
        ("Accept-Encoding: br, gzip\r\n", Some("br"), CSS_BR),
        (
            "Accept-Encoding: gzip;q=1, br;q=0.5\r\n",
            Some("gzip"),
            CSS_GZ,
        ),
        (
            "Accept-Encoding: gzip, deflate, br, zstd\r\n",
            Some("br"),
            CSS_BR,
        ),
        ("Accept-Encoding: zstd\r\n", None, CSS),
        ("Accept-Encoding: identity\r\n", None, CSS),
        ("Accept-Encoding: br;q=0, gzip;q=0\r\n", None, CSS),
        ("", None, CSS),
    ];
    let mut tags = Vec::new();
    for (extra, encoding, body) in cases {
        let r = get(site.addr(), "/site.css", extra);
        assert_eq!(r.status, 200, "{extra}: {r:?}");
        assert_eq!(r.header("content-encoding"), *encoding, "{extra}: {r:?}");
        assert_eq!(r.body, *body, "{extra}");
        assert_eq!(
            r.header("content-length"),
            Some(&*body.len().to_string()),
            "{extra}"
        );
        assert_eq!(r.header("content-type"), Some("text/css"), "{extra}");
        assert!(
            r.header("vary")
                .is_some_and(|v| v.eq_ignore_ascii_case("accept-encoding")),
            "{extra}: {r:?}"
        );
        tags.push((*encoding, r.header("etag").unwrap().to_string()));
    }
    // Each representation has its own validator.
    let gz = tags.iter().find(|t| t.0 == Some("gzip")).unwrap();
    let br = tags.iter().find(|t| t.0 == Some("br")).unwrap();
    let id = tags.iter().find(|t| t.0.is_none()).unwrap();
    assert_ne!(gz.1, br.1);
    assert_ne!(gz.1, id.1);
    // A 304 of the gzip representation carries Vary and Content-Encoding... or
    // at least Vary, and the gzip ETag.
    let r = get(
        site.addr(),
        "/site.css",
        &format!("Accept-Encoding: gzip\r\nIf-None-Match: {}\r\n", gz.1),
    );
    assert_eq!(r.status, 304, "{r:?}");
    assert_eq!(r.header("etag"), Some(&*gz.1));
    assert!(r.header("vary").is_some(), "{r:?}");
    // The identity tag does not validate the gzip representation.
    let r = get(
        site.addr(),
        "/site.css",
        &format!("Accept-Encoding: gzip\r\nIf-None-Match: {}\r\n", id.1),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, CSS_GZ);
    // A range of the gzip representation is a range of the .gz bytes.
    let r = get(
        site.addr(),
        "/site.css",
        "Accept-Encoding: gzip\r\nRange: bytes=0-1\r\n",
    );
    assert_eq!(r.status, 206, "{r:?}");
    assert_eq!(r.body, &CSS_GZ[..2]);
    assert_eq!(
        r.header("content-range"),
        Some(&*format!("bytes 0-1/{}", CSS_GZ.len()))
    );
    // The siblings are also files of their own.
    let r = get(site.addr(), "/site.css.gz", "");
    assert_eq!(r.body, CSS_GZ);
    assert!(r.header("content-encoding").is_none(), "{r:?}");
}

#[test]
fn precompressed_off_sends_identity() {
    let site = site_with("precompressed-off", "/", |root| {
        StaticFiles::new(root).precompressed(false)
    });
    let r = get(site.addr(), "/site.css", "Accept-Encoding: br, gzip\r\n");
    assert_eq!(r.body, CSS);
    assert!(r.header("content-encoding").is_none(), "{r:?}");
    assert!(r.header("vary").is_none(), "{r:?}");
}

// ---------------------------------------------------------------- 9. large bodies

#[test]
fn a_4_mib_file_is_byte_exact_twice_on_one_connection() {
    let site = site("large");
    let content = pattern(4 << 20, 42);
    fs::write(site.path("big.bin"), &content).unwrap();
    let mut s = connect(site.addr());
    let mut pending = Vec::new();
    let r = exchange(&mut s, &mut pending, &get_req("/big.bin", ""));
    assert_eq!(r.status, 200, "{:?}", r.headers);
    assert_eq!(r.header("content-length"), Some("4194304"));
    assert_eq!(r.body.len(), content.len());
    assert!(r.body == content, "first body differs");
    // Then two more and a small one, pipelined in one write.
    let mut three = get_req("/big.bin", "");
    three.extend_from_slice(&get_req("/big.bin", ""));
    three.extend_from_slice(&get_req("/hello.txt", ""));
    s.write_all(&three).unwrap();
    for i in 0..2 {
        let r = read_response(&mut s, &mut pending, false);
        assert_eq!(r.status, 200);
        assert!(r.body == content, "pipelined body {i} differs");
    }
    let r = read_response(&mut s, &mut pending, false);
    assert_eq!(r.body, HELLO);
    assert!(pending.is_empty());
    // A small request on the same connection still works.
    let r = exchange(&mut s, &mut pending, &get_req("/index.html", ""));
    assert_eq!(r.body, INDEX);
}

#[test]
fn many_clients_on_both_workers_get_the_same_large_file() {
    let site = site("large-parallel");
    let content = std::sync::Arc::new(pattern(3 << 20, 5));
    fs::write(site.path("big.bin"), &*content).unwrap();
    let addr = site.addr();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let content = content.clone();
            std::thread::spawn(move || {
                let mut s = connect(addr);
                let mut pending = Vec::new();
                for _ in 0..2 {
                    let r = exchange(&mut s, &mut pending, &get_req("/big.bin", ""));
                    assert!(r.body == *content, "body differs");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

// ---------------------------------------------------------------- 10. methods

#[test]
fn other_methods_get_405_with_allow() {
    let site = site("methods");
    let mut s = connect(site.addr());
    let mut pending = Vec::new();
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let req = format!("{method} /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        let r = exchange(&mut s, &mut pending, req.as_bytes());
        assert_eq!(r.status, 405, "{method}: {r:?}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"), "{method}");
        assert!(!r.body.starts_with(HELLO), "{method}");
    }
    let r = exchange(
        &mut s,
        &mut pending,
        b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(r.status, 405);
    let r = exchange(&mut s, &mut pending, &get_req("/hello.txt", ""));
    assert_eq!(r.body, HELLO);
}

// ---------------------------------------------------------------- 11. truncation

#[test]
fn a_file_truncated_mid_send_ends_the_connection_early() {
    let site = site("truncate");
    let len = 8 << 20;
    let content = pattern(len, 99);
    let path = site.path("big.bin");
    fs::write(&path, &content).unwrap();
    let mut s = TcpStream::connect(site.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&get_req("/big.bin", "")).unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut truncated = false;
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(e) => panic!(
                "no progress for 10 s after {} bytes (a hang): {e}",
                got.len()
            ),
        }
        if !truncated && got.len() >= 256 << 10 {
            // The server is mid-splice: shrink the file under it.
            fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(1 << 20)
                .unwrap();
            truncated = true;
        } else if got.len() < 1 << 20 {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "still reading after 15 s"
        );
        let head_end = find(&got, b"\r\n\r\n");
        if let Some(end) = head_end {
            if got.len() == end + 4 + len {
                // Everything arrived: stop here, whether or not it closes.
                break false;
            }
        }
    };
    assert!(
        truncated,
        "the response ended before 256 KiB: {}",
        got.len()
    );
    let head_end = find(&got, b"\r\n\r\n").expect("a response head") + 4;
    let head = text(&got[..head_end]);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {len}\r\n")),
        "{head}"
    );
    let body = &got[head_end..];
    if body.len() == len {
        // The kernel had it all buffered before the truncation took effect.
        assert!(body == &content[..], "a full-length body that differs");
    } else {
        assert!(closed, "short body and the connection stayed open");
        assert!(body.len() < len);
        // What lies before the new end must be the file's. Past it, the
        // bytes already handed to the kernel by splice are page-cache pages
        // that the truncation may have zeroed meanwhile (a large folio
        // straddling the new end is zeroed beyond it, in place): that is
        // the page cache's behaviour, as with sendfile, and the short body
        // tells the client the response is incomplete.
        let kept = body.len().min(1 << 20);
        assert!(
            body[..kept] == content[..kept],
            "the first {kept} bytes received are not the file's"
        );
    }
    // After the cache's TTL the file is served at its new length.
    std::thread::sleep(Duration::from_millis(1100));
    let r = get(site.addr(), "/big.bin", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("1048576"));
    assert!(r.body == content[..1 << 20], "truncated file differs");
}

#[test]
fn a_changed_file_is_seen_after_the_cache_ttl() {
    let site = site("changed");
    let first = get(site.addr(), "/hello.txt", "");
    assert_eq!(first.body, HELLO);
    fs::write(
        site.path("hello.txt"),
        b"changed content, longer than before\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let r = get(site.addr(), "/hello.txt", "");
    assert_eq!(r.body, b"changed content, longer than before\n");
    assert_ne!(r.header("etag"), first.header("etag"));
    // The old tag no longer validates.
    let r = get(
        site.addr(),
        "/hello.txt",
        &format!("If-None-Match: {}\r\n", first.header("etag").unwrap()),
    );
    assert_eq!(r.status, 200);
    // A new file appears, a removed one disappears.
    fs::write(site.path("new.txt"), b"new").unwrap();
    fs::remove_file(site.path("style.css")).unwrap();
    let _ = get(site.addr(), "/style.css", ""); // may still be cached
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(get(site.addr(), "/new.txt", "").body, b"new");
    assert_eq!(get(site.addr(), "/style.css", "").status, 404);
}

// ---------------------------------------------------------------- more edges

#[test]
fn empty_files_and_sizes_around_the_memory_limit() {
    let site = site("sizes");
    fs::write(site.path("empty.txt"), b"").unwrap();
    let limit = percore::fs::cache::SMALL_FILE_MAX as usize;
    let sizes = [1, 65535, 65536, 65537, 1 << 20, limit - 1, limit, limit + 1];
    for &n in &sizes {
        fs::write(site.path(&format!("f{n}.bin")), pattern(n, n as u64)).unwrap();
    }
    let mut s = connect(site.addr());
    let mut pending = Vec::new();
    let r = exchange(&mut s, &mut pending, &get_req("/empty.txt", ""));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-length"), Some("0"));
    assert!(r.body.is_empty());
    // Any range of an empty file is unsatisfiable but a suffix one.
    let r = exchange(
        &mut s,
        &mut pending,
        &get_req("/empty.txt", "Range: bytes=0-\r\n"),
    );
    assert_eq!(r.status, 416, "{r:?}");
    assert_eq!(r.header("content-range"), Some("bytes */0"));
    let r = exchange(
        &mut s,
        &mut pending,
        &get_req("/empty.txt", "Range: bytes=-5\r\n"),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.is_empty());
    for &n in &sizes {
        let want = pattern(n, n as u64);
        let r = exchange(&mut s, &mut pending, &get_req(&format!("/f{n}.bin"), ""));
        assert_eq!(r.status, 200);
        assert!(r.body == want, "size {n}: body differs");
        // The last byte alone.
        let r = exchange(
            &mut s,
            &mut pending,
            &get_req(&format!("/f{n}.bin"), "Range: bytes=-1\r\n"),
        );
        assert_eq!(r.status, 206);
        assert_eq!(r.body, &want[n - 1..], "size {n}");
    }
    // The empty file again, then a small one: still in step.
    let r = exchange(&mut s, &mut pending, &get_req("/empty.txt", ""));
    assert!(r.body.is_empty());
    let r = exchange(&mut s, &mut pending, &get_req("/hello.txt", ""));
    assert_eq!(r.body, HELLO);
}

#[test]
fn names_with_escapes_spaces_and_utf8() {
    let site = site("names");
    fs::write(site.path("with space.txt"), b"space").unwrap();
    fs::write(site.path("q?x.txt"), b"question").unwrap();
    fs::write(site.path("caf\u{e9}.txt"), b"utf8").unwrap();
    fs::write(site.path("100%.txt"), b"percent").unwrap();
    fs::create_dir(site.path("a b")).unwrap();
    fs::write(site.path("a b/index.html"), b"spaced dir").unwrap();
    let cases: &[(&str, &[u8])] = &[
        ("/with%20space.txt", b"space"),
        ("/q%3Fx.txt", b"question"),
        ("/q%3fx.txt?ignored=1", b"question"),
        ("/caf%C3%A9.txt", b"utf8"),
        ("/100%25.txt", b"percent"),
        ("/a%20b/", b"spaced dir"),
        ("/hell%6F.txt", HELLO),
    ];
    for (target, body) in cases {
        let r = get(site.addr(), target, "");
        assert_eq!(r.status, 200, "{target}: {r:?}");
        assert_eq!(r.body, *body, "{target}");
    }
    let r = get(site.addr(), "/a%20b", "");
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(r.header("location"), Some("/a%20b/"));
    // Decoded once only.
    assert_eq!(get(site.addr(), "/with%2520space.txt", "").status, 404);
}

#[test]
fn long_names_and_paths() {
    let site = site("long");
    let long_name = format!("/{}", "n".repeat(256));
    let r = get(site.addr(), &long_name, "");
    assert_eq!(r.status, 404, "{r:?}");
    let long_path = "/a".repeat(2100);
    let r = get(site.addr(), &long_path, "");
    assert_eq!(r.status, 414, "{r:?}");
    assert_eq!(get(site.addr(), "/hello.txt", "").body, HELLO);
}

#[test]
fn a_symlink_loop_is_404() {
    let site = site("loop");
    std::os::unix::fs::symlink("loop-b", site.path("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", site.path("loop-b")).unwrap();
    let r = get(site.addr(), "/loop-a", "");
    assert_eq!(r.status, 404, "{r:?}");
}

#[test]

fn a_fifo_is_never_opened_for_reading_and_the_worker_lives_on() {
    let site = site("fifo");
    let fifo = site.path("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    // Several connections, so both workers see the request.
    let mut failure = None;
    for _ in 0..4 {
        let mut s = connect(site.addr());
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.write_all(&get_req("/pipe", "")).unwrap();
        let mut pending = Vec::new();
        let mut buf = [0u8; 4096];
        let r = loop {
            if let Some((r, _)) = parse_response(&pending, false) {
                break Some(r);
            }
            match s.read(&mut buf) {
                Ok(n) if n > 0 => pending.extend_from_slice(&buf[..n]),
                _ => break None,
            }
        };
        match r {
            Some(r) => assert!(r.status == 404 || r.status == 403, "{r:?}"),
            None => {
                failure = Some("no answer within 3 s for GET /pipe (a FIFO)");
                break;
            }
        }
        assert_eq!(get(site.addr(), "/hello.txt", "").body, HELLO);
    }
    if let Some(failure) = failure {
        // Release the worker blocked in open(2) (it waits for a writer), so
        // the server can shut down, then fail.
        let _ = fs::OpenOptions::new().write(true).open(&fifo);
        panic!("{failure}: the worker is blocked opening it for reading");
    }
}

#[test]
fn too_many_ranges_get_the_whole_file() {
    let site = site("many-ranges");
    let spec: Vec<String> = (0..17).map(|i| format!("{}-{}", i * 4, i * 4)).collect();
    let r = get(
        site.addr(),
        "/range.txt",
        &format!("Range: bytes={}\r\n", spec.join(",")),
    );
    assert_eq!(r.status, 200, "{:?}", r.headers);
    assert_eq!(r.body, range_content());
    let r = get(
        site.addr(),
        "/range.txt",
        &format!("Range: bytes={}\r\n", spec[..16].join(",")),
    );
    assert_eq!(r.status, 206, "{:?}", r.headers);
    assert_eq!(parse_multipart(&r.body, &boundary_of(&r)).len(), 16);
}

#[test]
fn a_large_file_with_connection_close_or_http_1_0_is_complete_then_closed() {
    let site = site("close");
    let content = pattern(3 << 20, 77);
    fs::write(site.path("big.bin"), &content).unwrap();
    for req in [
        "GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /big.bin HTTP/1.0\r\n\r\n",
        "GET /range.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\nRange: bytes=0-1,4-5\r\n\r\n",
    ] {
        let mut s = connect(site.addr());
        s.write_all(req.as_bytes()).unwrap();
        let (bytes, closed) = read_to_close(&mut s);
        assert!(closed, "{req}: not closed");
        let (r, used) = parse_response(&bytes, false).expect("one whole response");
        assert_eq!(used, bytes.len(), "{req}: bytes after the response");
        if req.contains("big.bin") {
            assert_eq!(r.status, 200);
            assert!(r.body == content, "{req}: body differs");
        } else {
            assert_eq!(r.status, 206);
            assert_eq!(parse_multipart(&r.body, &boundary_of(&r)).len(), 2);
        }
    }
}

#[test]
fn a_client_that_goes_away_mid_splice_does_not_hurt_the_server() {
    let site = site("abort");
    let content = pattern(8 << 20, 13);
    fs::write(site.path("big.bin"), &content).unwrap();
    for _ in 0..6 {
        let mut s = connect(site.addr());
        s.write_all(&get_req("/big.bin", "")).unwrap();
        let mut buf = [0u8; 65536];
        let _ = s.read(&mut buf).unwrap();
        drop(s);
    }
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..4 {
        let mut s = connect(site.addr());
        let mut pending = Vec::new();
        let r = exchange(&mut s, &mut pending, &get_req("/big.bin", ""));
        assert!(r.body == content, "body differs after aborted clients");
        let r = exchange(&mut s, &mut pending, &get_req("/hello.txt", ""));
        assert_eq!(r.body, HELLO);
    }
}

#[test]
fn a_precompressed_sibling_cannot_lead_out_of_the_root() {
    let site = site("sibling-escape");
    fs::write(site.path("evil.css"), CSS).unwrap();
    std::os::unix::fs::symlink(site.dir.join("secret"), site.path("evil.css.gz")).unwrap();
    std::os::unix::fs::symlink("../secret", site.path("evil.css.br")).unwrap();
    let r = get(site.addr(), "/evil.css", "Accept-Encoding: br, gzip\r\n");
    assert_eq!(r.status, 200, "{r:?}");
    assert_no_secret("/evil.css", &r);
    assert_eq!(r.body, CSS);
    assert!(r.header("content-encoding").is_none(), "{r:?}");
}

#[test]
fn head_of_a_directory_and_of_a_missing_file() {
    let site = site("head-dir");
    let mut s = connect(site.addr());
    let mut pending = Vec::new();
    let r = exchange(
        &mut s,
        &mut pending,
        b"HEAD /dir HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(r.header("location"), Some("/dir/"));
    let r = exchange(
        &mut s,
        &mut pending,
        b"HEAD /missing HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(r.status, 404, "{r:?}");
    let r = exchange(
        &mut s,
        &mut pending,
        b"HEAD /dir/ HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("content-length"),
        Some(&*DIR_INDEX.len().to_string())
    );
    let r = exchange(&mut s, &mut pending, &get_req("/hello.txt", ""));
    assert_eq!(r.body, HELLO);
    assert!(pending.is_empty());
}
