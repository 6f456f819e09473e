//! Middleware: order, refusals, the framework's own answers, nesting, and
//! the built-in layers (request id, auth, CORS, timeout), through the
//! in-process client and through a real server.

mod common;

use std::time::{Duration, Instant};

use percore::middleware::{Auth, Cors, Middleware, RequestId, Timeout};
use percore::testing::TestClient;
use percore::{get, App, Json, Request, Response, StatusCode};

/// Records the order hooks run in, in a response header.
struct Trace(&'static str);

impl Middleware for Trace {
    type Memo = ();
    fn before(&self, req: &Request) -> Result<(), Response> {
        if req.header("x-refuse").is_some_and(|v| v == self.0) {
            return Err(Response::error(
                StatusCode::FORBIDDEN,
                format!("{} refused", self.0),
            ));
        }
        Ok(())
    }
    fn after(&self, _: (), r: Response) -> Response {
        let seen = r
            .header_value("x-trace")
            .map(|v| v.to_str().unwrap_or("").to_string());
        let trace = match seen {
            Some(s) => format!("{s},{}", self.0),
            None => self.0.to_string(),
        };
        r.header("x-trace", trace)
    }
}

fn admin() -> App {
    App::new()
        .route("/panel", get(|| "panel"))
        .layer(Auth::bearer(|token| token == "s3cret"))
}

fn app() -> App {
    App::new()
        .route("/sync", get(|| "sync"))
        .route("/async", get(|| async { "async" }))
        .route(
            "/slow",
            get(|| async {
                percore::time::sleep(Duration::from_millis(300)).await;
                "late"
            }),
        )
        .nest("/admin", admin())
        .layer(Trace("outer"))
        .layer(Trace("inner"))
        .layer(RequestId::new())
        .layer(
            Cors::origins(["https://app.example"])
                .methods(&[percore::Method::GET, percore::Method::POST])
                .headers(&["content-type", "authorization"])
                .credentials(true)
                .max_age(600),
        )
        .layer(Timeout(Duration::from_millis(100)))
        .error_page(|_, m| Json(serde_json::json!({ "error": m })))
}

#[test]
fn layers_wrap_handlers_and_the_frameworks_own_answers_in_order() {
    let mut c = TestClient::new(app());
    for path in ["/sync", "/async", "/nothing"] {
        let r = c.get(path);
        // After hooks run innermost first: inner, then outer.
        let trace: Vec<&str> = r
            .headers
            .get_all("x-trace")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            trace.last().copied(),
            Some("inner,outer"),
            "{path}: {trace:?}"
        );
        assert!(
            r.header("x-request-id").is_some_and(|id| id.len() > 4),
            "{path}"
        );
    }
    assert_eq!(c.get("/nothing").status, StatusCode::NOT_FOUND);

    // A refusal answers instead of the handler; outer layers still see it.
    let r = c.request(
        http::Request::get("/sync")
            .header("x-refuse", "inner")
            .body(Default::default())
            .unwrap(),
    );
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json::<serde_json::Value>()["error"], "inner refused");
    let trace: Vec<&str> = r
        .headers
        .get_all("x-trace")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(trace.last().copied(), Some("outer"), "{trace:?}");

    // Request ids: the client's own when sane, else a new one each time.
    let id = |c: &mut TestClient, sent: Option<&str>| {
        let mut b = http::Request::get("/sync");
        if let Some(s) = sent {
            b = b.header("x-request-id", s);
        }
        c.request(b.body(Default::default()).unwrap())
            .header("x-request-id")
            .unwrap()
            .to_string()
    };
    assert_eq!(id(&mut c, Some("abc-123")), "abc-123");
    let long = "x".repeat(200);
    assert_ne!(id(&mut c, Some(&long)), long);
    assert_ne!(id(&mut c, None), id(&mut c, None));
}

#[test]
fn auth_cors_and_timeout() {
    let mut c = TestClient::new(app());
    // Auth on the nested app only.
    let r = c.get("/admin/panel");
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"api\""));
    let with = |token: &str| {
        http::Request::get("/admin/panel")
            .header("authorization", format!("Bearer {token}"))
            .body(Default::default())
            .unwrap()
    };
    assert_eq!(c.request(with("nope")).status, StatusCode::UNAUTHORIZED);
    assert_eq!(c.request(with("s3cret")).text(), "panel");
    assert_eq!(
        c.get("/sync").status,
        StatusCode::OK,
        "outside the nest: no auth"
    );

    // CORS: a preflight is answered, a stranger refused, a simple request
    // marked; the framework's 404 too.
    let preflight = |origin: &str| {
        http::Request::options("/sync")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .body(Default::default())
            .unwrap()
    };
    let r = c.request(preflight("https://app.example"));
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type, authorization")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(
        c.request(preflight("https://evil.example")).status,
        StatusCode::FORBIDDEN
    );
    for path in ["/sync", "/nothing"] {
        let r = c.request(
            http::Request::get(path)
                .header("origin", "https://app.example")
                .body(Default::default())
                .unwrap(),
        );
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example"),
            "{path}"
        );
        assert!(
            r.headers.get_all("vary").iter().any(|v| v == "origin"),
            "{path}"
        );
    }

    // Timeout: a slow async handler is cut off with 504, quickly.
    let t = Instant::now();
    let r = c.get("/slow");
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(
        t.elapsed() < Duration::from_millis(280),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        r.json::<serde_json::Value>()["error"],
        "the handler took too long"
    );
    assert_eq!(c.get("/async").text(), "async");
}

#[test]
fn layers_run_in_a_real_server_too() {
    let server = common::start(1, |_| app());
    let r = common::roundtrip(
        server.local_addr(),
        b"GET /async HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n\r\n",
    );
    assert_eq!(r.body, b"async");
    assert!(r.header("x-request-id").is_some());
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let r = common::roundtrip(
        server.local_addr(),
        b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(r.status, 504);
}

#[test]
fn compression_follows_accept_encoding_and_skips_what_it_should() {
    use percore::middleware::Compression;
    use std::io::Read;
    let big = serde_json::json!({ "items": (0..400).map(|i| format!("item number {i}")).collect::<Vec<_>>() });
    let big2 = big.clone();
    let big3 = big.clone();
    let app = App::new()
        .route("/big", get(move || Json(big2.clone())))
        .route("/small", get(|| Json(serde_json::json!({"a": 1}))))
        .route(
            "/created",
            get(move || (StatusCode::CREATED, Json(big3.clone()))),
        )
        .route(
            "/png",
            get(|| {
                Response::ok()
                    .content_type_static("image/png")
                    .body(vec![7u8; 5000])
            }),
        )
        .route(
            "/tagged",
            get(|| Response::text("x".repeat(5000)).header("etag", "\"v1\"")),
        )
        .layer(Compression::new());
    let mut c = TestClient::new(app);
    let ask = |c: &mut TestClient, path: &str, accept: &str| {
        c.request(
            http::Request::get(path)
                .header("accept-encoding", accept)
                .body(Default::default())
                .unwrap(),
        )
    };
    let plain = serde_json::to_vec(&big).unwrap();
    let r = ask(&mut c, "/big", "gzip, deflate, br");
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert_eq!(r.header("vary"), Some("accept-encoding"));
    assert!(
        r.body.len() < plain.len() / 3,
        "{} of {}",
        r.body.len(),
        plain.len()
    );
    let mut out = Vec::new();
    brotli::Decompressor::new(&r.body[..], 4096)
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, plain);

    let r = ask(&mut c, "/big", "br;q=0.2, gzip;q=0.9");
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, plain);

    for (path, accept) in [
        ("/big", "br;q=0, gzip;q=0"),
        ("/big", "identity"),
        ("/small", "br"),
        ("/png", "br"),
    ] {
        let r = ask(&mut c, path, accept);
        assert_eq!(r.header("content-encoding"), None, "{path} {accept}");
    }
    let r = ask(&mut c, "/created", "gzip");
    assert_eq!(
        (r.status, r.header("content-encoding")),
        (StatusCode::CREATED, Some("gzip"))
    );
    let r = ask(&mut c, "/tagged", "gzip");
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(
        r.header("etag"),
        Some("W/\"v1\""),
        "a strong ETag is weakened"
    );
}

/// An app whose layers mark every response, with a small body limit, for
/// the framework's refusals of requests whose head is whole.
fn refusing_app() -> App {
    App::new()
        .route(
            "/upload",
            percore::post(|req: &Request| format!("{} bytes", req.body().len())),
        )
        .route(
            "/stream",
            percore::post(|mut req: Request| async move {
                match req.body_bytes().await {
                    Ok(b) => Response::text(format!("{} bytes", b.len())),
                    Err(e) => percore::IntoResponse::into_response(e),
                }
            }),
        )
        .route(
            "/panic",
            get(|| -> &'static str { panic!("sync handler fails") }),
        )
        .route(
            "/panic-async",
            get(|| async {
                percore::time::sleep(Duration::from_millis(5)).await;
                if Instant::now().elapsed() < Duration::from_secs(1) {
                    panic!("async handler fails");
                }
                "never"
            }),
        )
        .layer(Trace("outer"))
        .layer(Cors::origins(["https://app.example"]))
        .error_page(|_, m| Json(serde_json::json!({ "error": m })))
}

const LIMIT: u64 = 1000;

fn refusing_server() -> percore::RunningServer {
    common::start_with(1, |c| c.limits.max_body = LIMIT, |_| refusing_app())
}

/// Sends `request`, reads to the close, and parses the one response.
fn refused(addr: std::net::SocketAddr, request: &[u8]) -> (common::Resp, bool, Vec<u8>) {
    use std::io::Write;
    let mut s = common::connect(addr);
    s.write_all(request).unwrap();
    let (bytes, closed) = common::read_to_close(&mut s);
    let (resp, _) = common::parse_response(&bytes, false)
        .unwrap_or_else(|| panic!("no response in {:?}", String::from_utf8_lossy(&bytes)));
    (resp, closed, bytes)
}

fn assert_seen_by_layers(r: &common::Resp, status: u16) {
    assert_eq!(r.status, status);
    assert_eq!(
        r.header("x-trace"),
        Some("outer"),
        "the layer saw the {status}"
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("the error page's JSON");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|m| m.starts_with(&status.to_string())),
        "{v}"
    );
}

#[test]
fn layers_see_the_frameworks_refusals_of_whole_heads() {
    let server = refusing_server();
    let addr = server.local_addr();
    let origin = "Origin: https://app.example\r\n";
    for path in ["/upload", "/stream"] {
        // At the limit: served, through the layer.
        let body = vec![b'a'; LIMIT as usize];
        let mut req =
            format!("POST {path} HTTP/1.1\r\nHost: x\r\n{origin}Content-Length: {LIMIT}\r\n\r\n")
                .into_bytes();
        req.extend_from_slice(&body);
        let r = common::roundtrip(addr, &req);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.body, format!("{LIMIT} bytes").as_bytes());
        assert_eq!(r.header("x-trace"), Some("outer"));

        // One over, declared: 413 through the layers, body unread, closed;
        // with Expect, no 100 Continue first.
        for expect in ["", "Expect: 100-continue\r\n"] {
            let req = format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\n{origin}{expect}Content-Length: {}\r\n\r\n",
                LIMIT + 1
            );
            let (r, closed, bytes) = refused(addr, req.as_bytes());
            assert!(!bytes.starts_with(b"HTTP/1.1 100"), "{path} {expect:?}");
            assert_seen_by_layers(&r, 413);
            assert!(closed, "{path}: the connection closes after a 413");
        }
    }

    // Chunked to a sync handler: one byte over the limit is a 413, a broken
    // chunk a 400, both through the layers.
    let over = LIMIT as usize + 1;
    let mut req = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\n{origin}Transfer-Encoding: chunked\r\n\r\n{over:x}\r\n"
    )
    .into_bytes();
    req.extend(std::iter::repeat_n(b'a', over));
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    let (r, closed, _) = refused(addr, &req);
    assert_seen_by_layers(&r, 413);
    assert!(closed);
    let req = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\n{origin}Transfer-Encoding: chunked\r\n\r\nzz\r\n"
    );
    let (r, closed, _) = refused(addr, req.as_bytes());
    assert_seen_by_layers(&r, 400);
    assert!(closed);

    // No route, before a 100 Continue: 404 through the layers.
    let req = format!(
        "POST /nowhere HTTP/1.1\r\nHost: x\r\n{origin}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    );
    let (r, _, bytes) = refused(addr, req.as_bytes());
    assert!(!bytes.starts_with(b"HTTP/1.1 100"));
    assert_seen_by_layers(&r, 404);

    // A whole head refused for its fields: no Host, conflicting framing,
    // an unknown expectation; through the layers, with the reason.
    for (bad, status) in [
        (format!("GET /upload HTTP/1.1\r\n{origin}\r\n"), 400),
        (
            format!("POST /upload HTTP/1.1\r\nHost: x\r\n{origin}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400,
        ),
        (format!("POST /upload HTTP/1.1\r\nHost: x\r\n{origin}Expect: teapot\r\nContent-Length: 2\r\n\r\nhi"), 417),
    ] {
        let (r, closed, _) = refused(addr, bad.as_bytes());
        assert_seen_by_layers(&r, status);
        assert!(closed);
    }
    let (r, _, _) = refused(addr, format!("GET / HTTP/1.1\r\n{origin}\r\n").as_bytes());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["error"], "400 Bad Request: HTTP/1.1 request without Host");

    // A panicking handler, sync or async: 500 through the layers, closed.
    for path in ["/panic", "/panic-async"] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{origin}\r\n");
        let (r, closed, _) = refused(addr, req.as_bytes());
        assert_seen_by_layers(&r, 500);
        assert!(closed, "{path}: the connection closes after a panic");
    }

    // The core still serves.
    let r = common::roundtrip(
        addr,
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert_eq!(r.body, b"2 bytes");
}

#[test]
fn a_panicking_async_handler_behind_layers_gets_500_in_process_too() {
    let mut c = TestClient::new(refusing_app());
    let r = c.get("/panic-async");
    assert_eq!(r.status, 500);
    assert_eq!(
        r.headers.get("x-trace").map(|v| v.to_str().unwrap()),
        Some("outer")
    );
}

/// List fields sent over several lines count as one list (RFC 9110 5.3).
#[test]
fn cors_and_compression_read_every_line_of_a_list_field() {
    use percore::middleware::Compression;
    let big = "x".repeat(5000);
    let app = move |cors: Cors| {
        let big = big.clone();
        App::new()
            .route("/text", get(move || big.clone()))
            .layer(Compression::new())
            .layer(cors)
    };
    let mut c = TestClient::new(app(Cors::any_origin()));
    let r = c.request(
        http::Request::get("/text")
            .header("accept-encoding", "gzip;q=0")
            .header("accept-encoding", "br")
            .body(Default::default())
            .unwrap(),
    );
    assert_eq!(r.header("content-encoding"), Some("br"));

    let preflight = || {
        http::Request::options("/text")
            .header("origin", "https://app.example")
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "content-type")
            .header("access-control-request-headers", "x-foo")
            .body(Default::default())
            .unwrap()
    };
    // No headers configured, no credentials: what was asked is allowed.
    let r = c.request(preflight());
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type, x-foo")
    );
    let vary: Vec<_> = r.headers.get_all("vary").iter().collect();
    assert!(
        vary.iter().any(|v| v
            .to_str()
            .unwrap()
            .contains("access-control-request-headers")),
        "{vary:?}"
    );
    // With credentials and no list: nothing is mirrored.
    let mut strict = TestClient::new(app(Cors::origins(["https://app.example"]).credentials(true)));
    assert_eq!(
        strict
            .request(preflight())
            .header("access-control-allow-headers"),
        None
    );
    // Exposed headers on actual responses.
    let mut exposing = TestClient::new(app(Cors::any_origin().expose_headers(&["x-request-id"])));
    let r = exposing.request(
        http::Request::get("/text")
            .header("origin", "https://app.example")
            .body(Default::default())
            .unwrap(),
    );
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("x-request-id")
    );
}
