//! The request parser's cost per head, in user space alone (no sockets):
//! the first stage of the request path, where a pipelined request spends
//! most of its user-space time (BENCHMARKS.md, "The floor").
//!
//! `cargo bench -p percore --bench codec` (pin it for steadier figures:
//! `taskset -c 1 cargo bench ...`). Prints nanoseconds per parse, the
//! median of 15 rounds, for heads of the shapes the load tests send
//! (`-- WORD` measures only those whose name holds WORD).

use std::hint::black_box;
use std::time::Instant;

use percore::http::{parse_head, Limits, ParseStatus, RequestHead};

const ROUNDS: usize = 15;
const PER_ROUND: usize = 200_000;

fn main() {
    let heads: [(&str, &[u8]); 3] = [
        (
            "wrk pipelined plaintext",
            b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ),
        (
            "wrk default (Host with port)",
            b"GET /64k.bin HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
        ),
        (
            "browser-like, 9 fields and a query",
            b"GET /static/app.js?v=12 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0\r\nAccept: */*\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\nReferer: https://example.com/\r\nIf-None-Match: \"0123456789abcdef\"\r\nCookie: session=abc123; theme=dark\r\n\r\n",
        ),
    ];
    // `cargo bench ... -- WORD` runs the heads whose name holds WORD.
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let limits = Limits::default();
    let mut head = RequestHead::new();
    for (name, bytes) in heads {
        if only.as_ref().is_some_and(|w| !name.contains(w.as_str())) {
            continue;
        }
        // Every head is whole and valid: a failure here is a broken bench.
        let status = parse_head(bytes, &limits, &mut head).expect("the bench's heads are valid");
        assert!(matches!(status, ParseStatus::Complete), "{name}: partial");
        let mut rounds = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let start = Instant::now();
            for _ in 0..PER_ROUND {
                let r = parse_head(black_box(bytes), &limits, &mut head);
                black_box(&r);
            }
            rounds.push(start.elapsed().as_nanos() as f64 / PER_ROUND as f64);
        }
        rounds.sort_by(f64::total_cmp);
        println!(
            "parse_head, {name} ({} bytes): {:.1} ns (rounds {:.1}..{:.1})",
            bytes.len(),
            rounds[ROUNDS / 2],
            rounds[0],
            rounds[ROUNDS - 1]
        );
    }
}
