//! `tls.redirect_http`: the plain-HTTP listener that sends every request to
//! HTTPS, as nginx's `return 301 https://$host$request_uri;`. It is an app
//! served by the same engine on its own workers (one per core, sharing the
//! access log), so it has every limit and timeout of the main listener.
//!
//! GET and HEAD get `301 Moved Permanently`; other methods `308 Permanent
//! Redirect`, which keeps the method and body. The host is the request's
//! `Host` without its port (the HTTPS port is added unless it is 443); a
//! request without a usable `Host` gets 400, so nothing the client sends
//! can shape the `Location` beyond a host name and the target.

use http::{Method, StatusCode};

use crate::app::App;
use crate::handler::{Request, Response};

/// The redirecting app for an HTTPS server on `https_port`.
pub(crate) fn app(https_port: u16) -> App {
    App::new().fallback(move |req: &Request| redirect(req, https_port))
}

fn redirect(req: &Request, https_port: u16) -> Response {
    let Some(host) = req.header("host").and_then(host_name) else {
        return Response::error(
            StatusCode::BAD_REQUEST,
            "a redirect to HTTPS needs a valid Host header",
        );
    };
    let port = match https_port {
        443 => String::new(),
        p => format!(":{p}"),
    };
    let target = match req.target() {
        t if t.starts_with('/') => t,
        _ => "/", // `*` (OPTIONS) or an absolute form the parser normalised
    };
    let status = if *req.method() == Method::GET || *req.method() == Method::HEAD {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::PERMANENT_REDIRECT
    };
    let location = format!("https://{host}{port}{target}");
    Response::new(status)
        .header("location", location.as_str())
        .content_type_static("text/plain")
        .body(format!("{} {location}\n", status.as_u16()))
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
    use super::host_name;

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
}
