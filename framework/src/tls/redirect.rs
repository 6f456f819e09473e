//! `tls.redirect_http`: the plain-HTTP listener that sends every request to
//! HTTPS, as nginx's `return 301 https://$host$request_uri;`. It is an app
//! served by the same engine on its own workers (one per core, sharing the
//! access log), so it has every limit and timeout of the main listener.
//!
//! GET and HEAD get `301 Moved Permanently`; other methods `308 Permanent
//! Redirect`, which keeps the method and body. The host is the target's
//! authority for an absolute-form target (RFC 9112 3.2.2), else `Host`,
//! without its port (the HTTPS port is added unless it is 443); without a
//! usable host the answer is 400, so nothing the client sends can shape the
//! `Location` beyond a host name and the target. The handler is async and
//! never reads the body: the answer goes as soon as the head is in, and a
//! request with a body closes the connection after it (no upload of any
//! size is read, or refused with 413, before the client is told where to
//! send it).

use http::{Method, StatusCode};

use crate::app::App;
use crate::handler::{Request, Response};

/// The redirecting app for an HTTPS server on `https_port`.
pub(crate) fn app(https_port: u16) -> App {
    App::new().fallback(move |req: Request| async move { redirect(&req, https_port) })
}

fn redirect(req: &Request, https_port: u16) -> Response {
    let target = req.target_bytes();
    let (authority, rest) = split_absolute(target);
    let host = match authority {
        Some(a) => std::str::from_utf8(a).ok().and_then(host_name),
        None => req.header("host").and_then(host_name),
    };
    let Some(host) = host else {
        let mut r = Response::error(
            StatusCode::BAD_REQUEST,
            "a redirect to HTTPS needs a valid Host header",
        );
        r.close = true;
        return r;
    };
    let port = match https_port {
        443 => String::new(),
        p => format!(":{p}"),
    };
    let status = if *req.method() == Method::GET || *req.method() == Method::HEAD {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::PERMANENT_REDIRECT
    };
    let location = format!("https://{host}{port}{}", path_and_query(rest));
    let has_body = req
        .header("content-length")
        .is_some_and(|n| n.trim() != "0")
        || req.header("transfer-encoding").is_some();
    let mut response = Response::new(status)
        .header("location", location.as_str())
        .content_type_static("text/plain")
        .body(format!("{} {location}\n", status.as_u16()));
    response.close = has_body;
    response
}

/// An absolute-form target's authority and the rest (its path and query);
/// any other target is all "rest".
fn split_absolute(target: &[u8]) -> (Option<&[u8]>, &[u8]) {
    let lower = |n: usize| target.get(..n).map(<[u8]>::to_ascii_lowercase);
    let scheme = [&b"http://"[..], b"https://"]
        .into_iter()
        .find(|s| lower(s.len()).as_deref() == Some(*s));
    let Some(scheme) = scheme else {
        return (None, target);
    };
    let after = &target[scheme.len()..];
    let end = after
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(after.len());
    (Some(&after[..end]), &after[end..])
}

/// The path and query to put in the `Location`: `/` for `*` or an empty
/// path, bytes beyond ASCII percent-encoded (obs-text the parser let in).
fn path_and_query(rest: &[u8]) -> String {
    let mut out = String::with_capacity(rest.len() + 1);
    let rest = match rest {
        [] | b"*" => &b"/"[..],
        [b'?', ..] => {
            out.push('/'); // "http://host?q": the path is empty
            rest
        }
        r => r,
    };
    for &b in rest {
        if b.is_ascii_graphic() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The host of a `Host` value (its port dropped), if it is a plain DNS
/// name, an IPv4 address or a bracketed IPv6 address.
fn host_name(value: &str) -> Option<&str> {
    let value = value.trim();
    let host = if let Some(rest) = value.strip_prefix('[') {
        let end = rest.find(']')?;
        let v6 = &rest[..end];
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        &value[..end + 2]
    } else {
        value.split(':').next()?
    };
    let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
    let bracketed = host.starts_with('[');
    if host.is_empty() || host.len() > 253 || (!bracketed && !host.bytes().all(ok)) {
        return None;
    }
    Some(host)
}

#[cfg(test)]
mod tests {
    use super::{host_name, path_and_query, split_absolute};

    #[test]
    fn only_host_names_reach_the_location() {
        assert_eq!(host_name("example.com"), Some("example.com"));
        assert_eq!(host_name("example.com:8080"), Some("example.com"));
        assert_eq!(host_name("127.0.0.1:80"), Some("127.0.0.1"));
        assert_eq!(host_name("[::1]:80"), Some("[::1]"));
        assert_eq!(host_name("[::1]"), Some("[::1]"));
        for bad in [
            "",
            "evil.com/path",
            "a b",
            "x@y",
            "[::1",
            "[zz]",
            "a\"b",
            ":80",
        ] {
            assert_eq!(host_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn targets_keep_their_path_and_query() {
        assert_eq!(split_absolute(b"/a?b"), (None, &b"/a?b"[..]));
        assert_eq!(
            split_absolute(b"HTTP://evil.com:81/x?y"),
            (Some(&b"evil.com:81"[..]), &b"/x?y"[..])
        );
        assert_eq!(split_absolute(b"http://h?q"), (Some(&b"h"[..]), &b"?q"[..]));
        assert_eq!(split_absolute(b"http://h"), (Some(&b"h"[..]), &b""[..]));
        assert_eq!(path_and_query(b""), "/");
        assert_eq!(path_and_query(b"*"), "/");
        assert_eq!(path_and_query(b"?q=1"), "/?q=1");
        assert_eq!(path_and_query(b"/a?x=\xff"), "/a?x=%FF");
        assert_eq!(path_and_query(b"/caf\xc3\xa9"), "/caf%C3%A9");
    }
}
