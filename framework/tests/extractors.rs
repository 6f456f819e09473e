//! Extractors and response shapes end to end, sync and async: each with its
//! rejection (415, 400, 422, 404), several per handler, state per core and
//! shared, cookies from every Cookie line.

mod common;

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use percore::extract::{Cookies, Form, Json, Path, Query, State};
use percore::{get, post, App, Html, Redirect, StatusCode};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
struct NewTodo {
    title: String,
    #[serde(default)]
    done: bool,
}

#[derive(Deserialize)]
struct Page {
    limit: Option<u32>,
    offset: Option<u32>,
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

fn app(shared: Arc<AtomicU64>) -> App {
    let per_core = Rc::new(std::cell::Cell::new(0u64));
    App::new()
        .with_state(per_core)
        .with_state(shared)
        .route(
            "/sync/todos",
            post(|Json(t): Json<NewTodo>| {
                (
                    StatusCode::CREATED,
                    Json(serde_json::json!({"title": t.title, "done": t.done})),
                )
            }),
        )
        .route(
            "/async/todos",
            post(
                |State(hits): State<Rc<std::cell::Cell<u64>>>, Json(t): Json<NewTodo>| async move {
                    percore::time::sleep(std::time::Duration::from_millis(1)).await;
                    hits.set(hits.get() + 1);
                    (StatusCode::CREATED, Json(t))
                },
            ),
        )
        .route(
            "/todos/:id",
            get(|Path(id): Path<u64>, Query(p): Query<Page>| {
                format!("{id} {:?} {:?}", p.limit, p.offset)
            }),
        )
        .route(
            "/async/todos/:id",
            get(|Path(id): Path<u64>| async move { (id != 0).then(|| format!("todo {id}")) }),
        )
        .route(
            "/pair/:a/:b",
            get(|Path((a, b)): Path<(String, u32)>| format!("{a}+{b}")),
        )
        .route(
            "/login",
            post(|Form(l): Form<Login>| Redirect::see_other(format!("/hello/{}", l.user))),
        )
        .route(
            "/whoami",
            get(|addr: std::net::SocketAddr, cookies: Cookies| {
                Html(format!("{} {}", addr.ip(), cookies.get("b").unwrap_or("-")))
            }),
        )
        .route(
            "/cookie",
            get(|req: &percore::Request| req.cookie("b").as_deref().unwrap_or("-").to_string()),
        )
        .route(
            "/shared",
            get(|State(n): State<Arc<AtomicU64>>| {
                (n.fetch_add(1, Ordering::SeqCst) + 1).to_string()
            }),
        )
        .route("/value", get(|| serde_json::json!({"ok": true})))
        .route("/raw", post(|body: percore::Bytes| body.len().to_string()))
}

fn request(addr: std::net::SocketAddr, raw: &str) -> Resp {
    roundtrip(addr, raw.as_bytes())
}

fn json_post(path: &str, content_type: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn json_bodies_and_their_rejections_sync_and_async() {
    let server = start(2, |_| app(Arc::new(AtomicU64::new(0))));
    let addr = server.local_addr();
    for path in ["/sync/todos", "/async/todos"] {
        let r = request(
            addr,
            &json_post(path, "application/json", r#"{"title":"milk"}"#),
        );
        assert_eq!(r.status, 201, "{path}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v, serde_json::json!({"title": "milk", "done": false}));

        let r = request(addr, &json_post(path, "text/plain", r#"{"title":"milk"}"#));
        assert_eq!(r.status, 415, "{path}");
        let r = request(addr, &json_post(path, "application/json", r#"{"title": "#));
        assert_eq!(
            r.status,
            400,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(String::from_utf8_lossy(&r.body).contains("malformed JSON"));
        for wrong in [
            r#"{"title": 5}"#,
            r#"{"done": true}"#,
            r#"{"title":"a","x":1}"#,
        ] {
            let r = request(
                addr,
                &json_post(path, "application/json; charset=utf-8", wrong),
            );
            assert_eq!(r.status, 422, "{path} {wrong}");
            let text = String::from_utf8_lossy(&r.body).into_owned();
            assert!(text.contains("wrong shape"), "{text}");
        }
    }
}

#[test]
fn paths_queries_forms_cookies_state_and_shapes() {
    let shared = Arc::new(AtomicU64::new(0));
    let s2 = shared.clone();
    let server = start(2, move |_| app(s2.clone()));
    let addr = server.local_addr();
    let get = |path: &str, extra: &str| {
        request(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n"),
        )
    };

    let r = get("/todos/42?limit=5", "");
    assert_eq!(
        (r.status, String::from_utf8_lossy(&r.body).into_owned()),
        (200, "42 Some(5) None".to_string())
    );
    assert_eq!(
        get("/todos/abc", "").status,
        404,
        "a non-numeric id names no todo"
    );
    assert_eq!(
        get("/todos/1?limit=x", "").status,
        400,
        "a bad query is 400"
    );
    assert_eq!(get("/pair/a%20b/7", "").body, b"a b+7");
    assert_eq!(get("/async/todos/3", "").body, b"todo 3");
    assert_eq!(get("/async/todos/0", "").status, 404, "None is 404");
    assert_eq!(get("/async/todos/x", "").status, 404);

    let r = request(addr, "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\nuser=ann%21");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/hello/ann!"));
    let r = request(addr, "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nuser=ann");
    assert_eq!(r.status, 415);

    // Every Cookie line counts (RFC 6265 5.4 allows one; HTTP/2 gateways send several).
    let cookies = "Cookie: a=1\r\nCookie: b=\"two\"; c=3\r\n";
    let r = get("/whoami", cookies);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.body, b"127.0.0.1 two");
    assert_eq!(get("/cookie", cookies).body, b"two");
    assert_eq!(get("/cookie", "").body, b"-");

    // Shared state counts across both cores; per-core state is per core.
    for i in 1..=6 {
        assert_eq!(get("/shared", "").body, i.to_string().as_bytes());
    }
    assert_eq!(shared.load(Ordering::SeqCst), 6);

    let r = get("/value", "");
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("application/json"))
    );
    assert_eq!(r.body, br#"{"ok":true}"#);
    let r = request(
        addr,
        "POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert_eq!(r.body, b"3");
}

/// An async handler's `Json<T>` refuses a wrong content type from the head:
/// a client that waits for `100 Continue` gets the 415 instead, and never
/// has to send the body; one that sends the body anyway is answered the same.
#[test]
fn a_wrong_content_type_is_refused_before_100_continue() {
    use std::io::{Read, Write};
    let server = start(1, |_| app(Arc::new(AtomicU64::new(0))));
    let mut s = connect(server.local_addr());
    s.write_all(
        b"POST /async/todos HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\
          Expect: 100-continue\r\nContent-Length: 13\r\n\r\n",
    )
    .unwrap();
    let mut pending = Vec::new();
    let r = read_response(&mut s, &mut pending, false);
    assert_eq!(r.status, 415, "{:?}", String::from_utf8_lossy(&r.body));
    // The body never came: the connection must not wait for it as the
    // next request's bytes; it closes.
    assert_eq!(r.header("connection"), Some("close"));
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));

    // The right type with Expect: 100 Continue, then the answer.
    let mut s = connect(server.local_addr());
    s.write_all(
        b"POST /async/todos HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Expect: 100-continue\r\nContent-Length: 13\r\n\r\n",
    )
    .unwrap();
    let mut pending = Vec::new();
    let r = read_response(&mut s, &mut pending, false);
    assert_eq!(r.status, 100);
    s.write_all(b"{\"title\":\"x\"}").unwrap();
    assert_eq!(read_response(&mut s, &mut pending, false).status, 201);

    // Without Expect, the body sent at once: 415, and the connection goes on.
    let mut s = connect(server.local_addr());
    let wrong = json_post("/async/todos", "text/plain", "{\"title\":\"x\"}");
    let right = json_post("/async/todos", "application/json", "{\"title\":\"y\"}");
    s.write_all(format!("{wrong}{right}").as_bytes()).unwrap();
    let mut pending = Vec::new();
    assert_eq!(read_response(&mut s, &mut pending, false).status, 415);
    assert_eq!(read_response(&mut s, &mut pending, false).status, 201);
}
