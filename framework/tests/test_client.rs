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
