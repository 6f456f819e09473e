//! The exchange of bytes for responses, without a ring: bytes in through
//! `receive`, `peer_closed` and `resume`, responses out in `http.out`.

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::conn::{Phase, Waiting};
use crate::handler::{get, post, Request, Response};

const BODY_LIMIT: u64 = 4096;
const T: ReadTimeouts = ReadTimeouts {
    keepalive: Duration::from_secs(75),
    header: Duration::from_secs(60),
    body: Duration::from_secs(30),
};

fn exchange() -> Exchange {
    let app = App::new()
        .route("/", get(|| "ok"))
        .route(
            "/echo",
            post(|req: &Request| Response::ok().body(req.body().to_vec())),
        )
        // Under the gather threshold, so copied into the write buffer.
        .route("/big", get(|| vec![b'b'; 15 * 1024]))
        .route("/huge", get(|| Bytes::from(vec![b'h'; 300 * 1024])));
    let limits = Limits {
        max_body: BODY_LIMIT,
        ..Limits::default()
    };
    Exchange::new(app, limits, "percore", 0, T)
}

fn conn() -> Conn {
    Conn::new(1, 1, 0)
}

/// The responses in `out`: (status, body) each.
fn responses(mut out: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut all = Vec::new();
    while !out.is_empty() {
        let end = memchr::memmem::find(out, b"\r\n\r\n").expect("a whole head") + 4;
        let head = std::str::from_utf8(&out[..end]).unwrap();
        let status: u16 = head[9..12].parse().unwrap();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.trim().parse().unwrap());
        let len = if status < 200 { 0 } else { len };
        all.push((status, out[end..end + len].to_vec()));
        out = &out[end + len..];
    }
    all
}

fn statuses(out: &[u8]) -> Vec<u16> {
    responses(out).into_iter().map(|(s, _)| s).collect()
}

/// A fresh connection that was sent `input` in one read and answered with
/// the statuses `want`.
fn served(input: &[u8], want: &[u16]) -> (Exchange, Conn) {
    let (mut ex, mut c) = (exchange(), conn());
    ex.receive(&mut c, input, 0);
    let got = statuses(&c.http.out);
    assert_eq!(got, want, "{:?}", String::from_utf8_lossy(input));
    (ex, c)
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

fn post_cl(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn post_chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut r = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in body.chunks(chunk) {
        r.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        r.extend_from_slice(piece);
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"0\r\n\r\n");
    r
}

fn feed(ex: &mut Exchange, c: &mut Conn, pieces: &[&[u8]]) {
    for p in pieces {
        ex.receive(c, p, 0);
    }
}

#[test]
fn complete_and_pipelined_requests_are_answered_in_order() {
    let cases: &[(&[u8], &[u16])] = &[
        (GET, &[200]),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
            &[200, 404],
        ),
        (b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", &[200]),
        (
            b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            &[405, 200],
        ),
        (
            b"GET / HTTP/1.1\nHost: x\n\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            &[200, 200],
        ),
    ];
    for (input, want) in cases {
        let (_, c) = served(input, want);
        assert!(c.http.inbuf.is_empty());
        assert_eq!(c.http.waiting, Waiting::Idle);
        assert_eq!(c.phase, Phase::Open);
    }
}

/// Every request, split in two at every byte and trickled a byte at a
/// time, gives the same answer as in one piece.
#[test]
fn requests_split_at_every_boundary_give_the_same_answer() {
    let body: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
    let requests = [
        GET.to_vec(),
        post_cl(&body),
        post_chunked(&body, 7),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc"
            .to_vec(),
    ];
    for req in &requests {
        let (mut ex, mut c) = (exchange(), conn());
        ex.receive(&mut c, req, 0);
        let whole = responses(&c.http.out);
        let whole_final = whole.last().unwrap().clone();
        for split in 1..req.len() {
            let (mut ex, mut c) = (exchange(), conn());
            feed(&mut ex, &mut c, &[&req[..split], &req[split..]]);
            assert_eq!(
                responses(&c.http.out).last(),
                Some(&whole_final),
                "split at {split}"
            );
            assert!(c.http.inbuf.is_empty() && c.http.body.is_none());
        }
        let (mut ex, mut c) = (exchange(), conn());
        for b in req.iter() {
            ex.receive(&mut c, std::slice::from_ref(b), 0);
        }
        assert_eq!(
            responses(&c.http.out).last(),
            Some(&whole_final),
            "trickled"
        );
        if whole_final.0 == 200 && req.starts_with(b"POST") && !req.ends_with(b"abc") {
            assert_eq!(whole_final.1, body);
        }
    }
}

#[test]
fn bodies_at_the_limit_pass_and_one_over_is_413() {
    for (len, want) in [
        (0, 200),
        (1, 200),
        (BODY_LIMIT as usize, 200),
        (BODY_LIMIT as usize + 1, 413),
    ] {
        let body = vec![b'x'; len];
        for (kind, req) in [
            ("length", post_cl(&body)),
            ("chunked", post_chunked(&body, 1000)),
        ] {
            for piece in [req.len(), 1000, 1] {
                let (mut ex, mut c) = (exchange(), conn());
                for p in req.chunks(piece) {
                    ex.receive(&mut c, p, 0);
                }
                let got = responses(&c.http.out);
                assert_eq!(
                    got.last().map(|r| r.0),
                    Some(want),
                    "{kind} {len} in {piece}s"
                );
                if want == 200 {
                    assert_eq!(got.last().unwrap().1, body, "{kind} {len}");
                } else {
                    assert_eq!(c.phase, Phase::CloseAfterFlush);
                }
            }
        }
    }
}

#[test]
fn expect_continue_sends_100_once_before_the_body() {
    let (mut ex, mut c) = (exchange(), conn());
    let head =
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n";
    ex.receive(&mut c, head, 0);
    assert_eq!(c.http.out, encode::CONTINUE_100);
    assert_eq!(c.http.waiting, Waiting::Body);
    ex.receive(&mut c, b"ab", 0);
    assert_eq!(c.http.out, encode::CONTINUE_100, "one 100 only");
    ex.receive(&mut c, b"cd", 0);
    assert_eq!(statuses(&c.http.out), [100, 200]);
    // The next request on the connection gets its own 100.
    c.http.out.clear();
    ex.receive(&mut c, head, 0);
    assert_eq!(c.http.out, encode::CONTINUE_100);
}

#[test]
fn backpressure_holds_complete_requests_between_requests_only() {
    let (mut ex, mut c) = (exchange(), conn());
    let one = b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
    let input = one.repeat(30);
    ex.receive(&mut c, &input, 0);
    // 15 KiB each: serving stops at the high-water mark, the rest is held.
    let served = statuses(&c.http.out).len();
    assert_eq!(served, 17, "stops once 256 KiB wait");
    assert_eq!(c.http.waiting, Waiting::Held);
    assert_eq!(c.http.inbuf.len(), one.len() * (30 - served));
    assert_eq!(c.due(0), crate::conn::NEVER, "no read timeout while held");
    // The output drains: the rest is served, in order.
    let mut total = served;
    while c.http.waiting == Waiting::Held {
        c.http.out.clear();
        ex.resume(&mut c, 0);
        total += statuses(&c.http.out).len();
    }
    assert_eq!(total, 30);
    assert!(c.http.inbuf.is_empty());
}

#[test]
fn a_body_behind_held_requests_is_read_once_they_are_answered() {
    let (mut ex, mut c) = (exchange(), conn());
    let body = vec![b'y'; BODY_LIMIT as usize];
    let req = post_cl(&body);
    let mut input = b"GET /huge HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    input.extend_from_slice(&req[..req.len() / 2]);
    ex.receive(&mut c, &input, 0);
    assert!(c.http.outgoing.is_some(), "a 300 KiB body is sent in place");
    assert_eq!(c.http.waiting, Waiting::Held);
    // Parts sent: the held POST is partial, so its body is read on.
    c.http.outgoing = None;
    c.http.out.clear();
    ex.resume(&mut c, 0);
    assert_eq!(c.http.waiting, Waiting::Body);
    ex.receive(&mut c, &req[req.len() / 2..], 0);
    assert_eq!(responses(&c.http.out), [(200, body)]);
}

#[test]
fn eof_answers_every_complete_request_then_closes() {
    // Nothing held: the partial tail is dropped, the answers stay queued.
    let (mut ex, mut c) = (exchange(), conn());
    let mut input = GET.repeat(2);
    input.extend_from_slice(b"GET / HT");
    ex.receive(&mut c, &input, 0);
    ex.peer_closed(&mut c);
    assert_eq!(statuses(&c.http.out), [200, 200]);
    assert!(c.http.inbuf.is_empty());
    assert_eq!(c.phase, Phase::CloseAfterFlush);

    // Held back by backpressure: answered after the EOF, then closed.
    let (mut ex, mut c) = (exchange(), conn());
    let mut input = b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n".repeat(20);
    input.extend_from_slice(b"GET / HT");
    ex.receive(&mut c, &input, 0);
    ex.peer_closed(&mut c);
    assert_eq!(c.phase, Phase::Open, "held requests are still owed");
    let mut total = statuses(&c.http.out).len();
    while c.phase == Phase::Open {
        c.http.out.clear();
        ex.resume(&mut c, 0);
        total += statuses(&c.http.out).len();
    }
    assert_eq!(total, 20);
    assert_eq!(c.phase, Phase::CloseAfterFlush);
    assert!(c.http.inbuf.is_empty());

    // A partial body at EOF: nothing to answer, close.
    let (mut ex, mut c) = (exchange(), conn());
    let req = post_cl(b"abcdef");
    ex.receive(&mut c, &req[..req.len() - 3], 0);
    ex.peer_closed(&mut c);
    assert!(c.http.out.is_empty() && c.http.inbuf.is_empty() && c.http.body.is_none());
    assert_eq!(c.phase, Phase::CloseAfterFlush);
}

#[test]
fn errors_and_connection_close_end_the_connection_and_drop_what_follows() {
    let cases: &[(&[u8], &[u16])] = &[
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", &[200]),
        (b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", &[200]),
        (b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", &[400]),
        (b"\x16\x03\x01\x02\x00\x01", &[400]),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\nBAD\x01", &[200, 400]),
    ];
    for (input, want) in cases {
        let (mut ex, mut c) = served(input, want);
        assert_eq!(c.phase, Phase::CloseAfterFlush);
        assert!(c.http.inbuf.is_empty());
        // Bytes after the last response are discarded.
        ex.receive(&mut c, GET, 0);
        assert_eq!(&statuses(&c.http.out), want);
    }
}

#[test]
fn a_trickled_head_is_scanned_once_and_limits_still_apply() {
    let limit = Limits::default().max_header_bytes;
    // Pad a head to exactly `len` bytes with one long field.
    let head_of = |len: usize| {
        let base = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: \r\n\r\n".len();
        let mut h = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
        h.extend(std::iter::repeat_n(b'p', len - base));
        h.extend_from_slice(b"\r\n\r\n");
        h
    };
    for (len, want) in [(limit, 200), (limit + 1, 431), (100, 200)] {
        let head = head_of(len);
        assert_eq!(head.len(), len);
        for piece in [len, 100, 7] {
            let (mut ex, mut c) = (exchange(), conn());
            for p in head.chunks(piece) {
                ex.receive(&mut c, p, 0);
            }
            assert_eq!(statuses(&c.http.out), [want], "{len} in {piece}s");
        }
    }
    // The scan remembers how far it looked.
    let (mut ex, mut c) = (exchange(), conn());
    ex.receive(&mut c, b"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n", 0);
    assert_eq!(c.http.scan.scanned as usize, c.http.inbuf.len());
    ex.receive(&mut c, b"\r\n", 0);
    assert_eq!(statuses(&c.http.out), [200]);
    assert_eq!(c.http.scan, HeadScan::default());
}

#[test]
fn a_garbage_request_line_is_refused_before_it_ends() {
    let (mut ex, mut c) = (exchange(), conn());
    ex.receive(&mut c, b"GET / HTTP/1.1\r\nHost: x\r\n\r\nG", 0);
    ex.receive(&mut c, b"ET /\x01", 0);
    assert_eq!(statuses(&c.http.out), [200, 400]);
}

#[test]
fn deadlines_header_from_first_byte_body_extended_on_reads() {
    let (mut ex, mut c) = (exchange(), conn());
    ex.receive(&mut c, b"GET / HT", 1000);
    assert_eq!(c.http.waiting, Waiting::Head);
    assert_eq!(c.read_deadline.get(0), Clock::deadline(1000, T.header));
    ex.receive(&mut c, b"TP/1.1\r\n", 5000);
    assert_eq!(
        c.read_deadline.get(0),
        Clock::deadline(1000, T.header),
        "not extended"
    );
    ex.receive(&mut c, b"Host: x\r\n\r\n", 6000);
    assert_eq!(c.http.waiting, Waiting::Idle);
    assert_eq!(c.read_deadline.get(0), Clock::deadline(6000, T.keepalive));

    let (mut ex, mut c) = (exchange(), conn());
    let req = post_cl(b"0123456789");
    ex.receive(&mut c, &req[..req.len() - 5], 1000);
    assert_eq!(c.http.waiting, Waiting::Body);
    assert_eq!(c.read_deadline.get(0), Clock::deadline(1000, T.body));
    ex.receive(&mut c, b"56", 2000);
    assert_eq!(
        c.read_deadline.get(0),
        Clock::deadline(2000, T.body),
        "extended"
    );
    // A new request right behind a complete one starts its own header clock.
    let mut rest = b"789".to_vec();
    rest.extend_from_slice(b"GET / H");
    ex.receive(&mut c, &rest, 3000);
    assert_eq!(c.http.waiting, Waiting::Head);
    assert_eq!(c.read_deadline.get(0), Clock::deadline(3000, T.header));
}

#[test]
fn a_chunked_body_keeps_only_its_decoded_bytes() {
    let (mut ex, mut c) = (exchange(), conn());
    let body = vec![b'z'; BODY_LIMIT as usize];
    let req = post_chunked(&body, 16);
    let mut fed = 0;
    for p in req.chunks(512) {
        ex.receive(&mut c, p, 0);
        fed += p.len();
        if fed < req.len() {
            let head_len = match c.http.body.as_deref() {
                Some(crate::conn::BodyProgress::Collecting(p)) => p.head_len,
                _ => 0,
            };
            assert!(
                c.http.inbuf.len() <= head_len + 512,
                "raw bytes kept: {}",
                c.http.inbuf.len()
            );
        }
    }
    assert_eq!(responses(&c.http.out), [(200, body)]);
}

#[test]
fn a_request_no_route_takes_is_refused_before_its_body() {
    for (head, want) in [
        (&b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"[..], 404),
        (b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n", 405),
        (b"POST /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n", 404),
    ] {
        let (mut ex, mut c) = (exchange(), conn());
        ex.receive(&mut c, head, 0);
        assert_eq!(statuses(&c.http.out), [want], "no 100 first");
        assert_eq!(c.phase, Phase::CloseAfterFlush);
        ex.receive(&mut c, b"abcd", 0);
        assert_eq!(statuses(&c.http.out), [want], "the body is discarded");
    }
    // Without Expect the body is read as usual before the 404.
    let (mut ex, mut c) = (exchange(), conn());
    ex.receive(
        &mut c,
        b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n",
        0,
    );
    assert!(c.http.out.is_empty());
    ex.receive(&mut c, b"abcd", 0);
    assert_eq!(statuses(&c.http.out), [404]);
    assert_eq!(c.phase, Phase::Open);
}

/// Found by the `tls_boundary` fuzz target: a bad field line before the
/// head's end was refused at once when it came in one read, but waited
/// for the header timeout when it trickled in (the blank line never
/// comes). Now the answer is the same, as soon as the line is whole.
#[test]
fn a_bad_field_line_is_refused_as_soon_as_it_is_whole_however_it_arrives() {
    for bad in [
        &b"POST /echo HTTP/1.1\r\n\xad\r\xb5\x00: *\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n",
    ] {
        let (_, whole) = {
            let (mut ex, mut c) = (exchange(), conn());
            ex.receive(&mut c, bad, 0);
            (ex, statuses(&c.http.out))
        };
        assert_eq!(whole, [400], "{:?}", String::from_utf8_lossy(bad));
        for piece in [1, 2, 5] {
            let (mut ex, mut c) = (exchange(), conn());
            for p in bad.chunks(piece) {
                ex.receive(&mut c, p, 0);
            }
            assert_eq!(
                statuses(&c.http.out),
                whole,
                "{:?} in {piece}s",
                String::from_utf8_lossy(bad)
            );
        }
    }
    // A good head still waits for its blank line, parsed once at its end.
    let (mut ex, mut c) = (exchange(), conn());
    for p in b"GET http://a:80/ HTTP/1.1\r\nHost: x\r\nA: b\r\n".chunks(3) {
        ex.receive(&mut c, p, 0);
    }
    assert!(c.http.out.is_empty());
    ex.receive(&mut c, b"\r\n", 0);
    assert_eq!(statuses(&c.http.out), [200]);
}

/// A bad field line is refused once its bad byte arrives, before its LF,
/// as in one read: a client that stalls there gets its 400, not a 408
/// (a new user's hunt: `" fold"`, `"X y"`, `"\rx"` waited for the timeout).
#[test]
fn a_bad_field_line_is_refused_before_its_lf() {
    for tail in [&b" fold"[..], b"X y", b"\rx", b"X: a\x01", b"X@"] {
        let (mut ex, mut c) = (exchange(), conn());
        ex.receive(&mut c, b"GET / HTTP/1.1\r\nHost: x\r\n", 0);
        assert!(c.http.out.is_empty());
        ex.receive(&mut c, tail, 0);
        assert_eq!(
            statuses(&c.http.out),
            [400],
            "{:?}",
            String::from_utf8_lossy(tail)
        );
    }
    // What may still become a good line waits.
    for tail in [&b"X-Name"[..], b"X: v", b"X: v\r", b"\r"] {
        let (mut ex, mut c) = (exchange(), conn());
        ex.receive(&mut c, b"GET / HTTP/1.1\r\nHost: x\r\n", 0);
        ex.receive(&mut c, tail, 0);
        assert!(c.http.out.is_empty(), "{:?}", String::from_utf8_lossy(tail));
        assert_eq!(c.http.waiting, Waiting::Head);
    }
}

/// Empty lines before a request line count toward their limit and keep a
/// CR whose LF is still to come, however the reads cut them (a new user's
/// hunt: a lone CR read alone was dropped, so `\r` + request was a 200
/// split and a 400 in one read, and nine CRLFs split were all forgiven).
#[test]
fn empty_lines_before_a_request_are_judged_alike_however_they_arrive() {
    let cases: &[(&[u8], &[u16])] = &[
        (b"\rGET / HTTP/1.1\r\nHost: x\r\n\r\n", &[400]),
        (b"\r\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", &[400]),
        (b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", &[200]),
        (
            b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            &[200],
        ),
        (
            b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            &[400],
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\r\n\n\r\n\n\r\n\n\r\n\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            &[200, 200],
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\r\n\n\r\n\n\r\n\n\r\n\n\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            &[200, 400],
        ),
    ];
    for (input, want) in cases {
        let (mut ex, mut c) = (exchange(), conn());
        ex.receive(&mut c, input, 0);
        assert_eq!(
            statuses(&c.http.out),
            *want,
            "{:?} whole",
            String::from_utf8_lossy(input)
        );
        for split in 1..input.len() {
            let (mut ex, mut c) = (exchange(), conn());
            feed(&mut ex, &mut c, &[&input[..split], &input[split..]]);
            assert_eq!(
                statuses(&c.http.out),
                *want,
                "{:?} split at {split}",
                String::from_utf8_lossy(input)
            );
        }
        let (mut ex, mut c) = (exchange(), conn());
        for b in input.iter() {
            ex.receive(&mut c, std::slice::from_ref(b), 0);
        }
        assert_eq!(
            statuses(&c.http.out),
            *want,
            "{:?} trickled",
            String::from_utf8_lossy(input)
        );
    }
}
