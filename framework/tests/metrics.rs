//! The Prometheus endpoint (`[metrics] listen`): off by default; on, a
//! scraper's parser reads every family, and the counts match the traffic
//! sent: requests by method, responses by status class, the request-time
//! histogram (an async handler that sleeps lands in its bucket), bytes,
//! connections, the static file cache.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use percore::fs::StaticFiles;
use percore::{get, post, App};

fn scrape_raw(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Every sample, summed over the cores, by name and its other labels.
fn scrape(addr: SocketAddr) -> (HashMap<String, f64>, prometheus_parse::Scrape) {
    let page = scrape_raw(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let (head, body) = page.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("the page parses");
    let mut sums = HashMap::new();
    for s in &parsed.samples {
        let mut labels: Vec<String> = s
            .labels
            .iter()
            .filter(|(k, _)| *k != "core")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        labels.sort();
        let key = format!("{}{{{}}}", s.metric, labels.join(","));
        let v = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(ref b) => {
                // Buckets come as one sample: keep each bound.
                for bucket in b {
                    *sums
                        .entry(format!("{}{{le={}}}", s.metric, bucket.less_than))
                        .or_insert(0.0) += bucket.count;
                }
                continue;
            }
            _ => continue,
        };
        *sums.entry(key).or_insert(0.0) += v;
    }
    (sums, parsed)
}

fn site() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("percore-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.txt"), b"static\n").unwrap();
    dir
}

#[test]
fn off_by_default() {
    let server = start(1, |_| App::new());
    assert_eq!(server.metrics_addr(), None);
}

#[test]
fn a_scraper_reads_counts_that_match_the_traffic() {
    let root = site();
    let server = start_with(
        2,
        |c| c.metrics.listen = "127.0.0.1:0".into(),
        move |_| {
            App::new()
                .route("/plain", get(|| "hi"))
                .route("/echo", post(|body: percore::Bytes| body))
                .route(
                    "/slow",
                    get(|| async {
                        percore::time::sleep(Duration::from_millis(30)).await;
                        "slow"
                    }),
                )
                .mount("/files", StaticFiles::new(root.clone()))
        },
    );
    let addr = server.local_addr();
    let metrics = server.metrics_addr().expect("the endpoint is on");

    for _ in 0..20 {
        assert_eq!(
            roundtrip(addr, b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n").status,
            200
        );
    }
    for _ in 0..3 {
        let r = roundtrip(
            addr,
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        );
        assert_eq!(r.body, b"hello");
    }
    assert_eq!(
        roundtrip(addr, b"HEAD /plain HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
    assert_eq!(
        roundtrip(addr, b"DELETE /plain HTTP/1.1\r\nHost: x\r\n\r\n").status,
        405
    );
    assert_eq!(
        roundtrip(addr, b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n").status,
        404
    );
    for _ in 0..4 {
        assert_eq!(
            roundtrip(addr, b"GET /files/a.txt HTTP/1.1\r\nHost: x\r\n\r\n").status,
            200
        );
    }
    for _ in 0..2 {
        assert_eq!(
            roundtrip(addr, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").status,
            200
        );
    }
    let mut s = connect(addr);
    s.write_all(b"GARBAGE\r\n\r\n").unwrap();
    let _ = read_to_close(&mut s);
    drop(s); // the server lingers until the client closes too

    // Every connection above is closed once the server has seen its end.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (m, parsed) = loop {
        let (m, parsed) = scrape(metrics);
        if m["percore_connections_open{}"] == 0.0 || Instant::now() > deadline {
            break (m, parsed);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let get = |k: &str| *m.get(k).unwrap_or_else(|| panic!("no {k} in {m:?}"));
    // GET: 20 plain + 1 404 + 4 files + 2 slow.
    assert_eq!(get("percore_requests_total{method=GET}"), 27.0);
    assert_eq!(get("percore_requests_total{method=POST}"), 3.0);
    assert_eq!(get("percore_requests_total{method=HEAD}"), 1.0);
    assert_eq!(get("percore_requests_total{method=DELETE}"), 1.0);
    assert_eq!(
        get("percore_requests_total{method=other}"),
        1.0,
        "the refused request"
    );
    assert_eq!(get("percore_responses_total{status=2xx}"), 30.0);
    assert_eq!(get("percore_responses_total{status=4xx}"), 3.0);
    assert_eq!(get("percore_responses_total{status=5xx}"), 0.0);
    // The histogram: all 33 answers; the sleepers above 25 ms, by 250 ms.
    assert_eq!(get("percore_request_duration_seconds_count{}"), 33.0);
    assert_eq!(get("percore_request_duration_seconds{le=inf}"), 33.0);
    let under_25ms = get("percore_request_duration_seconds{le=0.025}");
    assert_eq!(
        get("percore_request_duration_seconds{le=0.25}") - under_25ms,
        2.0
    );
    assert!(get("percore_request_duration_seconds_sum{}") >= 0.06);
    // Connections: one per request, the refused one included.
    assert_eq!(get("percore_connections_accepted_total{}"), 33.0);
    assert_eq!(get("percore_connections_closed_total{}"), 33.0);
    assert_eq!(get("percore_connections_open{}"), 0.0);
    assert!(get("percore_received_bytes_total{}") > 33.0 * 30.0);
    assert!(get("percore_sent_bytes_total{}") > 33.0 * 60.0);
    assert!(get("percore_file_cache_misses_total{}") >= 1.0);
    assert!(get("percore_file_cache_hits_total{}") >= 3.0);
    for family in [
        "percore_tls_handshakes_total{}",
        "percore_tls_handshake_failures_total{}",
        "percore_recv_buffers_exhausted_total{}",
        "percore_sq_full_total{}",
        "percore_ops_cancelled_total{}",
        "percore_file_cache_evictions_total{}",
    ] {
        assert!(m.contains_key(family), "{family}");
    }
    // Per core, every family has a sample for each of the two cores.
    let cores: std::collections::HashSet<_> = parsed
        .samples
        .iter()
        .filter_map(|s| s.labels.get("core").map(str::to_string))
        .collect();
    assert_eq!(cores.len(), 2, "{cores:?}");
    assert!(parsed.docs.contains_key("percore_requests_total"));

    // Only GET /metrics.
    assert!(scrape_raw(metrics, "GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    assert!(scrape_raw(metrics, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
    assert!(scrape_raw(metrics, "GARBAGE\r\n\r\n").starts_with("HTTP/1.1 400 "));
    // An idle client delays no scrape.
    let _idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(metrics).unwrap())
        .collect();
    let t = Instant::now();
    scrape(metrics);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}
