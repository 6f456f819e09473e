//! Rough lookup timing (a program, not a test): `cargo run --release --example lookup_bench`.

use std::hint::black_box;
use std::time::Instant;

use http::Method;
use percore::router::{Params, Router};

fn main() {
    let mut router = Router::new();
    let patterns = [
        "/",
        "/json",
        "/db",
        "/queries",
        "/fortunes",
        "/updates",
        "/plaintext",
        "/users/:id",
        "/users/:id/posts/:post",
        "/static/*rest",
    ];
    for (i, pattern) in patterns.into_iter().enumerate() {
        router.insert(Method::GET, pattern, i).unwrap();
    }
    let mut params = Params::new();
    let cases: [&[u8]; 3] = [
        b"/plaintext",
        b"/users/42/posts/7",
        b"/static/css/a%20b.css",
    ];
    for path in cases {
        let n = 10_000_000u32;
        let start = Instant::now();
        for _ in 0..n {
            black_box(router.lookup(black_box(&Method::GET), black_box(path), &mut params));
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(n);
        println!("{:<28} {ns:6.1} ns/lookup", String::from_utf8_lossy(path));
    }
}
