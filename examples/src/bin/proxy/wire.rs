//! The proxy's HTTP/1.1 on the upstream side: the request head it sends
//! (hop-by-hop headers removed, the body's framing its own) and the
//! response head it reads back.

use std::net::SocketAddr;

use percore::net::TcpStream;
use percore::{Method, Request};

/// Largest upstream response head.
const MAX_HEAD: usize = 64 * 1024;
/// The first read of an answer: its head and, for most, all of its body.
const FIRST_READ: usize = 16 * 1024;

/// How the client's request body is framed (the parser has checked it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestFraming {
    None,
    Length(u64),
    Chunked,
}

impl RequestFraming {
    pub fn of(req: &Request) -> RequestFraming {
        if req.header_bytes("transfer-encoding").is_some() {
            return RequestFraming::Chunked; // the parser admits only a final chunked
        }
        match req
            .header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            Some(0) | None => RequestFraming::None,
            Some(n) => RequestFraming::Length(n),
        }
    }
}

/// Headers that describe one hop, not the message (RFC 9110 7.6.1).
pub fn hop_by_hop(name: &[u8], connection_list: &[u8]) -> bool {
    const HOP: [&str; 9] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ];
    HOP.iter().any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
        || connection_list
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(name))
}

/// The request head as the upstream gets it: the client's headers without
/// the hop-by-hop ones, the client's address in `X-Forwarded-For`, and the
/// body's framing (`content-length`, or `transfer-encoding: chunked` for a
/// body the proxy re-chunks as it streams).
pub fn upstream_head(
    req: &Request,
    upstream: SocketAddr,
    framing: RequestFraming,
    body_len: Option<usize>,
) -> Vec<u8> {
    let connection = req
        .header_list("connection")
        .unwrap_or_default()
        .into_owned();
    let mut out = Vec::with_capacity(512 + body_len.unwrap_or(0));
    out.extend_from_slice(req.method().as_str().as_bytes());
    out.push(b' ');
    // Origin form, always: an absolute-form target (`http://other/p`) would
    // make the upstream take its host from the target, not from Host.
    out.extend_from_slice(req.path().as_bytes());
    if let Some(q) = req.query() {
        out.push(b'?');
        out.extend_from_slice(q.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let forwarded_for = req.header_list("x-forwarded-for");
    let mut host_sent = false;
    for (name, value) in req.headers() {
        if name.eq_ignore_ascii_case(b"x-forwarded-for") {
            continue; // every line, joined, below
        }
        // Host is never hop-by-hop (Connection may not take it away).
        let host = name.eq_ignore_ascii_case(b"host");
        if (!host && hop_by_hop(name, &connection))
            || name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"expect")
        {
            continue;
        }
        host_sent |= host;
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !host_sent {
        // An HTTP/1.0 client may send none; HTTP/1.1 upstreams need one.
        out.extend_from_slice(format!("host: {upstream}\r\n").as_bytes());
    }
    // As nginx's $proxy_add_x_forwarded_for: the client's list (every line),
    // then the client (the peer of this connection).
    out.extend_from_slice(b"x-forwarded-for: ");
    if let Some(list) = forwarded_for {
        out.extend_from_slice(&list);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(req.client_addr().ip().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    let body_methods = !matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
    );
    match (framing, body_len) {
        (_, Some(n)) if n > 0 || body_methods => {
            out.extend_from_slice(format!("content-length: {n}\r\n").as_bytes())
        }
        (RequestFraming::Length(n), None) => {
            out.extend_from_slice(format!("content-length: {n}\r\n").as_bytes())
        }
        (RequestFraming::Chunked, None) => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        (RequestFraming::None, _) if body_methods => {
            out.extend_from_slice(b"content-length: 0\r\n")
        }
        _ => {}
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A parsed upstream response head.
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub framing: Framing,
    pub keep_alive: bool,
    /// The announced length (kept for the answer to a HEAD).
    pub length: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}

/// Reads the upstream's response head (skipping interim answers); returns
/// it and the bytes after it.
pub async fn read_head(conn: &TcpStream, head_only: bool) -> Result<(Head, Vec<u8>), String> {
    let mut buf = Vec::with_capacity(FIRST_READ);
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 256];
        let mut parsed = httparse::Response::new(&mut headers);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let code = parsed.code.unwrap_or(502);
                if (100..200).contains(&code) {
                    buf.drain(..len); // an interim response: the final one follows
                    continue;
                }
                let head = head_of(&parsed, head_only)?;
                let rest = buf.split_off(len);
                return Ok((head, rest));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            _ => return Err("an invalid response head".into()),
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(buf.capacity());
        }
        let (n, b) = conn.read(buf).await;
        buf = b;
        match n {
            Ok(0) => return Err("closed before answering".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

fn head_of(parsed: &httparse::Response<'_, '_>, head_only: bool) -> Result<Head, String> {
    let status = parsed.code.unwrap_or(0);
    if !(200..=599).contains(&status) {
        return Err(format!("an upstream status of {status}"));
    }
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut coded = false;
    let mut close = parsed.version == Some(0);
    let mut headers = Vec::new();
    let connection: Vec<u8> = parsed
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| h.value.iter().copied().chain([b',']))
        .collect();
    for h in parsed.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        match name.as_str() {
            // RFC 9112 6.3: a Content-Length that is not 1*DIGIT, or two
            // that differ, leave the framing unknown: 502, never a guess.
            "content-length" => {
                let v = h.value.trim_ascii();
                if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
                    return Err("an invalid upstream Content-Length".into());
                }
                let n: u64 = std::str::from_utf8(v)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .ok_or("an upstream Content-Length out of range")?;
                if length.is_some_and(|l| l != n) {
                    return Err("two upstream Content-Lengths that differ".into());
                }
                length = Some(n);
            }
            "transfer-encoding" => {
                coded = true;
                let codings = h.value.to_ascii_lowercase();
                chunked = codings
                    .rsplit(|&b| b == b',')
                    .next()
                    .is_some_and(|last| last.trim_ascii() == b"chunked");
            }
            "connection" => {
                let v = h.value.to_ascii_lowercase();
                if v.windows(5).any(|w| w == b"close") {
                    close = true;
                }
            }
            _ => {}
        }
        // Length and framing are the proxy's own; so are Date and Server
        // (as nginx does by default).
        let own = matches!(name.as_str(), "content-length" | "date" | "server");
        if !hop_by_hop(name.as_bytes(), &connection) && !own {
            headers.push((name, h.value.to_vec()));
        }
    }
    if coded && !chunked {
        // A coding the proxy would pass on undecoded, its header dropped.
        return Err("an upstream Transfer-Encoding that is not chunked last".into());
    }
    let framing = if head_only || status == 204 || status == 304 {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        close = true;
        Framing::Close
    };
    Ok(Head {
        status,
        headers,
        framing,
        keep_alive: !close,
        length,
    })
}
