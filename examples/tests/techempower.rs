//! The `techempower` example against the benchmark's own verification
//! rules, on a real PostgreSQL (`.ci/postgres.sh` creates `hello_world`). A
//! database that cannot be reached fails this test: it never skips.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Te {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Te {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Te {
    start_with(&["--workers", "2"])
}

fn start_with(args: &[&str]) -> Te {
    let mut child = Command::new(env!("CARGO_BIN_EXE_techempower"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "warn,percore=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn techempower");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("exited before listening").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Te { child, addr }
}

/// (status, head lowercased, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn worlds(body: &str) -> Vec<(i64, i64)> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let list = match v {
        serde_json::Value::Array(a) => a,
        one => vec![one],
    };
    list.iter()
        .map(|w| {
            let id = w["id"].as_i64().expect("id");
            let n = w["randomNumber"].as_i64().expect("randomNumber");
            assert!((1..=10000).contains(&id) && (1..=10000).contains(&n), "{w}");
            (id, n)
        })
        .collect()
}

fn psql(sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "benchmarkdbuser",
            "-d",
            "hello_world",
            "-tAc",
            sql,
        ])
        .env("PGPASSWORD", "benchmarkdbpass")
        .output()
        .expect("psql (Debian's postgresql-client)");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn techempower_endpoints_pass_the_benchmarks_rules() {
    let te = start();
    let addr = te.addr;
    // The database answers (and the per-core cache is loaded).
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(addr, "/cached-queries").0 != 200 {
        assert!(
            Instant::now() < deadline,
            "PostgreSQL is not reachable: start it with `bash .ci/postgres.sh` (database \
             hello_world, user benchmarkdbuser), or set DATABASE_URL. /db: {:?}",
            get(addr, "/db")
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let (_, head, body) = get(addr, "/json");
    assert_eq!(body, r#"{"message":"Hello, World!"}"#);
    assert!(
        head.contains("content-type: application/json")
            && head.contains("server:")
            && head.contains("date:")
    );
    let (_, head, body) = get(addr, "/plaintext");
    assert_eq!(body, "Hello, World!");
    assert!(head.contains("content-type: text/plain"));

    let (_, head, body) = get(addr, "/db");
    assert!(head.contains("content-type: application/json"));
    assert!(body.starts_with('{'), "one object: {body}");
    assert_eq!(worlds(&body).len(), 1);

    // N: 1 to 500; out of range clamped; anything else 1.
    for path in ["/queries", "/cached-queries"] {
        let key = if path == "/queries" {
            "queries"
        } else {
            "count"
        };
        for (arg, want) in [
            ("", 1),
            ("=0", 1),
            ("=1", 1),
            ("=20", 20),
            ("=501", 500),
            ("=foo", 1),
            ("=-5", 1),
            ("=99999999999999999999", 500),
            ("=2&KEY=3", 2),
        ] {
            let arg = arg.replace("KEY", key);
            let (status, _, body) = get(addr, &format!("{path}?{key}{arg}"));
            assert_eq!(status, 200);
            assert!(body.starts_with('['), "{path}?{key}{arg}: an array");
            assert_eq!(worlds(&body).len(), want, "{path}?{key}{arg}");
        }
    }

    // Updates are written.
    let (_, _, body) = get(addr, "/updates?queries=20");
    let updated = worlds(&body);
    assert_eq!(updated.len(), 20);
    for (id, n) in updated {
        assert_eq!(
            psql(&format!("SELECT randomnumber FROM world WHERE id = {id}")),
            n.to_string(),
            "world {id}"
        );
    }

    // Fortunes: every row plus the added one, sorted by message, escaped.
    let (_, head, body) = get(addr, "/fortunes");
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    let mut rows: Vec<(i64, String)> = psql("SELECT id || '|' || message FROM fortune")
        .lines()
        .map(|l| {
            let (id, m) = l.split_once('|').unwrap();
            (id.parse().unwrap(), m.to_string())
        })
        .collect();
    assert_eq!(rows.len(), 12);
    rows.push((0, "Additional fortune added at request time.".into()));
    rows.sort_by(|a, b| a.1.cmp(&b.1));
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#x27;")
    };
    let mut want = String::from("<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>");
    for (id, m) in &rows {
        want += &format!("<tr><td>{id}</td><td>{}</td></tr>", esc(m));
    }
    want += "</table></body></html>";
    assert_eq!(body, want);
}

/// A fresh core met by a burst of requests opens `--pool` connections, not
/// one per request (each connection is a PostgreSQL backend; too many and
/// the database refuses them).
#[test]
fn a_burst_on_a_fresh_core_opens_at_most_pool_connections() {
    let name = format!("percore_pool_test_{}", std::process::id());
    let url = format!(
        "postgres://benchmarkdbuser:benchmarkdbpass@127.0.0.1:5432/hello_world?application_name={name}"
    );
    let te = start_with(&["--workers", "1", "--pool", "3", "--database-url", &url]);
    let addr = te.addr;
    let burst: Vec<_> = (0..48)
        .map(|i| {
            let path = if i % 2 == 0 {
                "/queries?queries=7"
            } else {
                "/updates?queries=3"
            };
            std::thread::spawn(move || get(addr, path))
        })
        .collect();
    for call in burst {
        let (status, _, body) = call.join().unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let backends: usize = psql(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{name}'"
    ))
    .trim()
    .parse()
    .unwrap();
    assert!(
        (1..=3).contains(&backends),
        "{backends} connections for a pool of 3"
    );
}
