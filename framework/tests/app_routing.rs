//! Nesting, fallbacks, `{param}` patterns and the error page: every error the
//! framework makes (404, 405, 413, 400 for an unreadable request, an
//! extractor's rejection, a panic's 500) comes out as the app formats it.

mod common;

use common::*;
use percore::{get, post, App, Json, Path, Response, StatusCode};

fn api() -> App {
    App::new()
        .route("/", get(|| "api root"))
        .route(
            "/todos/{id}",
            get(|Path(id): Path<u64>| format!("todo {id}")),
        )
        .route(
            "/files/{*rest}",
            get(|Path(rest): Path<String>| format!("file {rest}")),
        )
        .route("/boom", get(|| -> &'static str { panic!("bug") }))
        .route(
            "/echo",
            post(|Json(v): Json<serde_json::Value>| async move { Json(v) }),
        )
        .fallback(|req: &percore::Request| {
            (
                StatusCode::NOT_FOUND,
                format!("no api route for {}", req.path()),
            )
        })
}

fn app() -> App {
    App::new()
        .route("/", get(|| "home"))
        .route("/only-get", get(|| "got"))
        .route(
            "/anything",
            percore::any(|req: &percore::Request| format!("any {}", req.method()))
                .get(|| "the GET"),
        )
        .route(
            "/taken",
            get(|| Response::error(StatusCode::CONFLICT, "taken")),
        )
        .nest("/api", api())
        .error_page(|status, message| {
            Json(serde_json::json!({"error": message, "code": status.as_u16()}))
        })
}

fn req(addr: std::net::SocketAddr, raw: &str) -> Resp {
    roundtrip(addr, raw.as_bytes())
}

fn json(r: &Resp) -> serde_json::Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.body)))
}

#[test]
fn nested_routes_fallbacks_and_brace_patterns() {
    let server = start(1, |_| app());
    let addr = server.local_addr();
    let get = |path: &str| req(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_eq!(get("/").body, b"home");
    assert_eq!(get("/api").body, b"api root");
    assert_eq!(get("/api/todos/7").body, b"todo 7");
    assert_eq!(get("/api/files/a/b.txt").body, b"file a/b.txt");
    let r = get("/api/nothing/here");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (404, &b"no api route for /api/nothing/here"[..])
    );
    // Outside the nest there is no fallback: the framework's 404, as JSON.
    assert_eq!(
        get("/anything").body,
        b"the GET",
        "a method's own route wins"
    );
    for m in ["POST", "PROPFIND", "PURGE", "DELETE"] {
        let r = req(
            addr,
            &format!("{m} /anything HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
        );
        assert_eq!(r.body, format!("any {m}").as_bytes());
    }
    let r = get("/apiary");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(json(&r)["code"], 404);
}

#[test]
fn every_framework_error_goes_through_the_error_page() {
    let server = start_with(1, |c| c.limits.max_body = 1000, |_| app());
    let addr = server.local_addr();

    let r = req(addr, "DELETE /only-get HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    assert_eq!(json(&r)["error"], "405 Method Not Allowed");

    let r = req(
        addr,
        "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n",
    );
    assert_eq!(r.status, 413);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("connection"), Some("close"));

    let r = req(addr, "GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 400);
    assert_eq!(json(&r)["code"], 400);
    // The error page learns why the request was refused.
    let r = req(addr, "GET / HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 400);
    assert_eq!(
        json(&r)["error"],
        "400 Bad Request: HTTP/1.1 request without Host"
    );
    let r = req(
        addr,
        "POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    );
    assert_eq!(r.status, 400);
    assert!(
        json(&r)["error"]
            .as_str()
            .unwrap()
            .starts_with("400 Bad Request: "),
        "{:?}",
        json(&r)
    );

    let r = req(addr, "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}");
    assert_eq!(r.status, 415);
    assert!(json(&r)["error"]
        .as_str()
        .unwrap()
        .contains("application/json"));

    let r = req(addr, "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{]");
    assert_eq!(r.status, 400);
    assert!(json(&r)["error"]
        .as_str()
        .unwrap()
        .contains("malformed JSON"));

    let r = req(addr, "GET /api/boom HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 500);
    assert_eq!(json(&r)["code"], 500);

    // A handler's own Response::error is formatted too; its success is not.
    let r = req(addr, "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n[1,2,3]");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"[1,2,3]"[..]));
    let r = req(addr, "GET /taken HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 409);
    assert_eq!(json(&r)["error"], "taken");
}

#[test]
fn bad_patterns_refuse_to_start_with_a_clear_error() {
    let mut config = percore::Config::default();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.server.workers = 1;
    let err = percore::Server::new(config)
        .start(|_| App::new().route("/file-{id}.json", get(|| "x")))
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("{name}") && text.contains("/file-{id}.json"),
        "{text}"
    );
}

#[derive(Clone)]
struct Name(&'static str);

/// A nested app with its own `Name`, read by a sync and an async handler
/// (the async one after a wait, so the state is found on a later poll too).
fn named(name: &'static str) -> App {
    use percore::State;
    App::new()
        .with_state(Name(name))
        .route("/sync", get(|State(n): State<Name>| n.0))
        .route(
            "/async",
            get(|State(n): State<Name>| async move {
                percore::time::sleep(std::time::Duration::from_millis(2)).await;
                n.0
            }),
        )
        .route(
            "/later",
            get(|req: percore::Request| async move {
                use percore::extract::FromRequestParts;
                percore::time::sleep(std::time::Duration::from_millis(2)).await;
                // Extracted by hand on a later poll: the nest's state is
                // still the one found.
                State::<Name>::from_request_parts(&req).map_or("none", |State(n)| n.0)
            }),
        )
        .route("/outer", get(|State(n): State<u32>| n.to_string()))
}

#[test]
fn nested_apps_keep_their_own_state() {
    use percore::State;
    let app = || {
        App::new()
            .with_state(Name("outer"))
            .with_state(7u32)
            .route("/who", get(|State(n): State<Name>| n.0))
            .nest("/a", named("A"))
            .nest("/b", named("B").nest("/c", named("C")))
    };
    let expect = [
        ("/who", "outer"),
        ("/a/sync", "A"),
        ("/a/async", "A"),
        ("/a/later", "A"),
        ("/b/sync", "B"),
        ("/b/async", "B"),
        ("/b/c/sync", "C"),
        ("/b/c/async", "C"),
        ("/b/c/later", "C"),
        // A nested app finds the outer app's states it lacks.
        ("/a/outer", "7"),
        ("/b/c/outer", "7"),
    ];
    let mut client = percore::testing::TestClient::new(app());
    for (path, want) in expect {
        assert_eq!(client.get(path).text(), want, "{path} in process");
    }
    let server = start(2, move |_| app());
    for (path, want) in expect {
        let r = req(
            server.local_addr(),
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"),
        );
        assert_eq!(r.body, want.as_bytes(), "{path}");
    }
}

/// `OPTIONS *` names the methods the app serves, not a fixed list.
#[test]
fn options_asterisk_allows_what_the_routes_serve() {
    type Case = (fn() -> App, &'static str);
    let cases: Vec<Case> = vec![
        (|| App::new().route("/", get(|| "x")), "GET, HEAD, OPTIONS"),
        (
            || {
                App::new()
                    .route("/a", get(|| "x").delete(|| "x"))
                    .route("/b/:id", post(|| "x"))
            },
            "GET, HEAD, POST, DELETE, OPTIONS",
        ),
        (
            || {
                App::new().route(
                    "/report",
                    percore::on(percore::Method::from_bytes(b"REPORT").unwrap(), || "x"),
                )
            },
            "REPORT, OPTIONS",
        ),
        (
            || App::new().route("/x", percore::any(|| "x")),
            "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS",
        ),
        (
            || App::new().nest("/api", App::new().route("/t", percore::put(|| "x"))),
            "PUT, OPTIONS",
        ),
        (App::new, "OPTIONS"),
    ];
    for (app, want) in cases {
        let server = start(1, move |_| app());
        let r = req(server.local_addr(), "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("allow"), Some(want));
    }
}
