//! The `todos` example against a real PostgreSQL (Debian's, started by
//! `.ci/postgres.sh` on 127.0.0.1; `DATABASE_URL` to point elsewhere). A
//! database that cannot be reached fails this test, with the fix in its
//! message: it never skips.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Todos {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Todos {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Todos {
    let mut child = Command::new(env!("CARGO_BIN_EXE_todos"))
        .args(["--listen", "127.0.0.1:0", "--workers", "2"])
        .env("RUST_LOG", "warn,percore=info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn todos");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("todos exited before listening")
            .unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            let addr = rest.split_whitespace().next().unwrap();
            break addr.parse().expect("address");
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Todos { child, addr }
}

/// One request on its own connection: (status, headers lowercased, body).
fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    if let Some(b) = body {
        req += &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        );
    }
    req += "\r\n";
    req += body.unwrap_or("");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn todos_api_against_postgres() {
    let app = start();
    let addr = app.addr;
    // The database answers (the table is created at start).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, body) = call(addr, "GET", "/health", None);
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "PostgreSQL is not reachable (GET /health: {status} {body}). Start it with \
             `bash .ci/postgres.sh` (Debian's postgresql on 127.0.0.1:5432, database todos, \
             user percore/percore), or set DATABASE_URL."
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Create: 201, the todo, its Location.
    let tag = format!("t{}", std::process::id());
    let (status, head, body) = call(
        addr,
        "POST",
        "/todos",
        Some(&format!(r#"{{"title":"{tag} a"}}"#)),
    );
    assert_eq!(status, 201, "{body}");
    let a = json(&body);
    let id = a["id"].as_i64().unwrap();
    assert_eq!(
        a,
        serde_json::json!({"id": id, "title": format!("{tag} a"), "done": false})
    );
    assert!(head.contains(&format!("location: /todos/{id}")), "{head}");
    let (_, _, body) = call(
        addr,
        "POST",
        "/todos",
        Some(&format!(r#"{{"title":"{tag} b","done":true}}"#)),
    );
    let id_b = json(&body)["id"].as_i64().unwrap();
    assert!(id_b > id);

    // Read, list by id with limit and offset.
    assert_eq!(json(&call(addr, "GET", &format!("/todos/{id}"), None).2), a);
    let (_, _, body) = call(addr, "GET", "/todos?limit=1000", None);
    let all = json(&body);
    let ids: Vec<i64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted by id: {ids:?}");
    assert!(ids.contains(&id) && ids.contains(&id_b));
    let pos = ids.iter().position(|&i| i == id).unwrap();
    let (_, _, body) = call(addr, "GET", &format!("/todos?limit=1&offset={pos}"), None);
    assert_eq!(json(&body)[0]["id"], id);

    // Update, delete.
    let (status, _, body) = call(
        addr,
        "PUT",
        &format!("/todos/{id}"),
        Some(r#"{"title":"changed","done":true}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(
        json(&body),
        serde_json::json!({"id": id, "title": "changed", "done": true})
    );
    for victim in [id, id_b] {
        let (status, _, body) = call(addr, "DELETE", &format!("/todos/{victim}"), None);
        assert_eq!((status, body.as_str()), (204, ""));
    }
    let (status, _, body) = call(addr, "GET", &format!("/todos/{id}"), None);
    assert_eq!(status, 404);
    assert!(json(&body)["error"].is_string());

    // Every error is JSON with its status.
    let long = "x".repeat(201);
    let cases: &[(&str, &str, Option<&str>, u16)] = &[
        ("GET", "/todos/abc", None, 404),
        ("GET", "/todos/99999999999", None, 404),
        ("PUT", "/todos/abc", Some(r#"{"title":"x"}"#), 404),
        ("GET", "/todos?limit=x", None, 400),
        ("GET", "/todos?limit=0", None, 400),
        ("GET", "/todos?limit=1001", None, 400),
        ("GET", "/todos?offset=-1", None, 400),
        ("POST", "/todos", Some(r#"{"title":""}"#), 422),
        (
            "POST",
            "/todos",
            Some(&format!(r#"{{"title":"{long}"}}"#)),
            422,
        ),
        (
            "POST",
            "/todos",
            Some(r#"{"title":"x","color":"red"}"#),
            422,
        ),
        ("POST", "/todos", Some(r#"{"done":true}"#), 422),
        ("POST", "/todos", Some(r#"{"title":"a\u0000b"}"#), 422),
        ("POST", "/todos", Some(r#"["x", true]"#), 422),
        ("POST", "/todos", Some(r#"[]"#), 422),
        ("POST", "/todos", Some(r#""x""#), 422),
        ("POST", "/todos", Some(r#"{"title":"#), 400),
        ("PATCH", "/todos", None, 405),
        ("GET", "/nothing", None, 404),
    ];
    for &(method, path, body, want) in cases {
        let (status, head, got) = call(addr, method, path, body);
        assert_eq!(status, want, "{method} {path}: {got}");
        assert!(
            head.contains("content-type: application/json"),
            "{method} {path}: {head}"
        );
        assert!(json(&got)["error"].is_string(), "{method} {path}: {got}");
    }
    // The contract's letter: any 1 to 200 characters (spaces, multibyte);
    // a query parameter it does not name is ignored.
    for title in ["   ", "é", &"ü".repeat(200), "tab\there"] {
        let body = serde_json::json!({ "title": title }).to_string();
        let (status, _, got) = call(addr, "POST", "/todos", Some(&body));
        assert_eq!(status, 201, "{title:?}: {got}");
        assert_eq!(json(&got)["title"], title);
    }
    let (status, _, got) = call(addr, "GET", "/todos?limit=2&foo=1", None);
    assert_eq!(status, 200, "{got}");
    assert!(json(&got).as_array().is_some_and(|a| a.len() <= 2), "{got}");

    // Without a JSON content type: 415.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /todos HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n{\"title\":\"x\"}")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 415 "), "{out}");
    assert!(out.contains(r#"{"error":"#), "{out}");
}
