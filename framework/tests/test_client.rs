//! The in-process test client runs sync and async handlers, extractors, the
//! error page, timers, spawn_blocking and streamed bodies without a socket.

use std::time::{Duration, Instant};

use percore::testing::TestClient;
use percore::{get, post, App, Body, Json, Path, StatusCode};

fn app() -> App {
    App::new()
        .route("/sync/:n", get(|Path(n): Path<u32>| format!("sync {n}")))
        .route(
            "/sleep",
            get(|| async {
                percore::time::sleep(Duration::from_millis(30)).await;
                "slept"
            }),
        )
        .route(
            "/blocking",
            get(|| async {
                let h = percore::spawn_blocking(|| {
                    std::thread::sleep(Duration::from_millis(20));
                    21 * 2
                });
                format!("{}", h.await.unwrap())
            }),
        )
        .route(
            "/stream",
            get(|| async {
                let (tx, body) = Body::channel();
                percore::spawn_local(async move {
                    for i in 0..3 {
                        percore::time::sleep(Duration::from_millis(5)).await;
                        let _ = tx.send(format!("{i};")).await;
                    }
                });
                percore::Response::ok().body(body)
            }),
        )
        .route(
            "/double",
            post(|Json(v): Json<Vec<i64>>| async move {
                Json(v.into_iter().map(|x| x * 2).collect::<Vec<_>>())
            }),
        )
        .error_page(|_, msg| Json(serde_json::json!({ "error": msg })))
}

#[test]
fn handlers_run_without_a_socket() {
    let mut c = TestClient::new(app());
    assert_eq!(c.get("/sync/4").text(), "sync 4");

    let t = Instant::now();
    let r = c.get("/sleep");
    assert_eq!(r.text(), "slept");
    assert!(
        t.elapsed() >= Duration::from_millis(30),
        "{:?}",
        t.elapsed()
    );

    assert_eq!(c.get("/blocking").text(), "42");
    let r = c.get("/stream");
    assert_eq!((r.status, r.text()), (StatusCode::OK, "0;1;2;".to_string()));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));

    let r = c.post_json("/double", &[1, 2, 3]);
    assert_eq!(r.json::<Vec<i64>>(), vec![2, 4, 6]);

    // Errors come out through the error page, as from a server.
    let r = c.post("/double", "text/plain", "[1]");
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(r.json::<serde_json::Value>()["error"]
        .as_str()
        .unwrap()
        .contains("application/json"));
    let r = c.get("/nope");
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json::<serde_json::Value>()["error"], "404 Not Found");
    let r = c.raw(b"GET /\x7f HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[test]
fn two_clients_on_one_thread_keep_their_own_state() {
    use percore::State;
    use std::rc::Rc;
    let app = |n: u32| {
        App::new()
            .with_state(Rc::new(n))
            .route("/s", get(|State(n): State<Rc<u32>>| n.to_string()))
    };
    let mut a = TestClient::new(app(1));
    let mut b = TestClient::new(app(2));
    assert_eq!(a.get("/s").text(), "1");
    assert_eq!(b.get("/s").text(), "2");
    assert_eq!(a.get("/s").text(), "1");
}

#[test]
fn errors_cookies_redirects_and_panics_as_a_user_expects() {
    use percore::middleware::{Cors, RequestId};
    use percore::{IntoResponse, Redirect, Request, Response};
    let app = App::new()
        .route(
            "/opt/:n",
            get(|Path(n): Path<u32>| (n == 1).then_some("one")),
        )
        .route("/to", get(|| Redirect::to("/caf\u{e9}/☃")))
        .route("/evil", get(|| Redirect::to("//evil.example")))
        .route(
            "/set",
            get(|| Response::ok().cookie(cookie::Cookie::new("sess", "a b;c=\"d\""))),
        )
        .route(
            "/get",
            get(|req: &Request| req.cookie("sess").unwrap_or_default().into_owned()),
        )
        .route("/boom", get(|| -> &'static str { panic!("sync bug") }))
        .layer(RequestId::new())
        .layer(Cors::any_origin().credentials(true))
        .error_page(|_, msg| Json(serde_json::json!({ "error": msg })));
    let mut c = TestClient::new(app);

    // None and a refused redirect are framework errors: the error page.
    let r = c.get("/opt/2");
    assert_eq!(
        (r.status, r.header("content-type")),
        (StatusCode::NOT_FOUND, Some("application/json"))
    );
    let r = c.get("/evil");
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.json::<serde_json::Value>()["error"].is_string());
    // Non-ASCII in a Location goes percent-encoded.
    let r = c.get("/to");
    assert_eq!(r.header("location"), Some("/caf%C3%A9/%E2%98%83"));

    // A cookie set with odd characters comes back as it was set.
    let set = c.get("/set").header("set-cookie").unwrap().to_string();
    let pair = set.split(';').next().unwrap().to_string();
    let r = c.request(
        http::Request::get("/get")
            .header("cookie", pair)
            .body(Default::default())
            .unwrap(),
    );
    assert_eq!(r.text(), "a b;c=\"d\"");

    // A sync handler's panic still goes through the layers and the page.
    let r = c.get("/boom");
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.header("x-request-id").is_some());
    assert!(r.json::<serde_json::Value>()["error"].is_string());

    // `Origin: null` is never reflected by the wildcard.
    let r = c.request(
        http::Request::get("/get")
            .header("origin", "null")
            .body(Default::default())
            .unwrap(),
    );
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = c.request(
        http::Request::get("/get")
            .header("origin", "https://a.example")
            .body(Default::default())
            .unwrap(),
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://a.example")
    );
    let _ = Redirect::to("/x").into_response();
}

#[test]
fn more_captures_than_fit_on_the_stack() {
    type Nine = (u8, u8, u8, u8, u8, u8, u8, u8, u8);
    let app = App::new().route(
        "/:a/:b/:c/:d/:e/:f/:g/:h/:i",
        get(|Path(t): Path<Nine>| {
            format!(
                "{}{}{}{}{}{}{}{}{}",
                t.0, t.1, t.2, t.3, t.4, t.5, t.6, t.7, t.8
            )
        }),
    );
    let mut c = TestClient::new(app);
    assert_eq!(c.get("/1/2/3/4/5/6/7/8/9").text(), "123456789");
    assert_eq!(c.get("/1/2/3/4/5/6/7/8/x").status, StatusCode::NOT_FOUND);
}
