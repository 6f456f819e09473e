//! What else a handler may return: HTML, redirects, `Option` (None is 404),
//! headers beside a status and a body, cookies to set. (`Json<T>` and
//! `serde_json::Value` are in `extract::json`; the basics in `response.rs`.)

use http::header::{HeaderName, HeaderValue, LOCATION, SET_COOKIE};
use http::StatusCode;

use super::{IntoResponse, Response};

/// An HTML body: `Html("<h1>hi</h1>")`, `text/html; charset=utf-8`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Html<T>(pub T);

impl<T: Into<super::Body>> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        Response::ok()
            .content_type_static("text/html; charset=utf-8")
            .body(self.0)
    }
}

/// A redirect to an absolute path on this server (`/login?next=%2Fa`).
/// Only paths are accepted: a target that is not one (`https://evil`,
/// `//evil`, one holding CR or LF) answers 500 and is logged, so a redirect
/// built from user input cannot send the client elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    status: StatusCode,
    location: String,
}

impl Redirect {
    /// 303 See Other: after a POST, "go and GET this".
    pub fn see_other(path: impl Into<String>) -> Redirect {
        Redirect::with(StatusCode::SEE_OTHER, path)
    }

    /// 307 Temporary Redirect: the same method again, there.
    pub fn to(path: impl Into<String>) -> Redirect {
        Redirect::with(StatusCode::TEMPORARY_REDIRECT, path)
    }

    /// 308 Permanent Redirect: the same method, there, from now on.
    pub fn permanent(path: impl Into<String>) -> Redirect {
        Redirect::with(StatusCode::PERMANENT_REDIRECT, path)
    }

    fn with(status: StatusCode, path: impl Into<String>) -> Redirect {
        Redirect {
            status,
            location: path.into(),
        }
    }
}

/// An absolute path (RFC 3986 `path-absolute` with an optional query and
/// fragment): starts with one `/`, no backslash, no space or control
/// character (non-ASCII is allowed, and sent percent-encoded).
fn is_absolute_path(s: &str) -> bool {
    s.starts_with('/')
        && !s.starts_with("//")
        && !s.starts_with("/\\")
        && s.chars().all(|c| !c.is_control() && c != ' ' && c != '\\')
}

impl IntoResponse for Redirect {
    fn into_response(self) -> Response {
        if !is_absolute_path(&self.location) {
            tracing::error!(location = %self.location.escape_debug(), "a redirect to something that is not an absolute path was refused");
            return Response::static_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 Internal Server Error\n",
            );
        }
        // Non-ASCII characters go percent-encoded (a header is ASCII).
        let location =
            percent_encoding::utf8_percent_encode(&self.location, percent_encoding::CONTROLS)
                .to_string();
        Response::new(self.status).header(LOCATION, location)
    }
}

/// `None` is 404 Not Found.
impl<T: IntoResponse> IntoResponse for Option<T> {
    fn into_response(self) -> Response {
        match self {
            Some(t) => t.into_response(),
            None => Response::static_error(StatusCode::NOT_FOUND, "404 Not Found\n"),
        }
    }
}

/// `(status, headers, body)`.
impl<K, V, T, const N: usize> IntoResponse for (StatusCode, [(K, V); N], T)
where
    K: TryInto<HeaderName>,
    V: TryInto<HeaderValue>,
    T: IntoResponse,
{
    fn into_response(self) -> Response {
        let (status, headers, body) = self;
        (headers, body.into_response().status(status)).into_response()
    }
}

/// `(headers, body)`: `([("cache-control", "no-store")], body)`.
impl<K, V, T, const N: usize> IntoResponse for ([(K, V); N], T)
where
    K: TryInto<HeaderName>,
    V: TryInto<HeaderValue>,
    T: IntoResponse,
{
    fn into_response(self) -> Response {
        let (headers, body) = self;
        let mut response = body.into_response();
        for (k, v) in headers {
            response = response.header(k, v);
        }
        response
    }
}

impl Response {
    /// Adds a `Set-Cookie` header for `cookie` (the `cookie` crate's type,
    /// with its attributes: `Path`, `HttpOnly`, `Secure`, `SameSite`,
    /// `Max-Age`, ...): `Response::ok().cookie(Cookie::build(("id", "1")).http_only(true))`.
    pub fn cookie<'c>(self, cookie: impl Into<cookie::Cookie<'c>>) -> Response {
        let cookie = cookie.into();
        self.header(SET_COOKIE, cookie.encoded().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_go_only_to_absolute_paths() {
        let r = Redirect::see_other("/todos/1?x=%2F").into_response();
        assert_eq!(r.status_code(), StatusCode::SEE_OTHER);
        assert_eq!(r.header_value("location").unwrap(), "/todos/1?x=%2F");
        assert_eq!(
            Redirect::permanent("/a").into_response().status_code(),
            StatusCode::PERMANENT_REDIRECT
        );
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil",
            "a/b",
            "",
            "/a\r\nX: y",
            "/a b",
        ] {
            let r = Redirect::to(bad).into_response();
            assert_eq!(
                r.status_code(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "{bad:?}"
            );
            assert!(r.header_value("location").is_none());
        }
    }

    #[test]
    fn option_headers_and_cookies() {
        assert_eq!(
            None::<&str>.into_response().status_code(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(Some("x").into_response().status_code(), StatusCode::OK);
        let r = (
            StatusCode::CREATED,
            [("location", "/todos/7")],
            Html("<p>ok</p>"),
        )
            .into_response();
        assert_eq!(r.status_code(), StatusCode::CREATED);
        assert_eq!(r.header_value("location").unwrap(), "/todos/7");
        assert_eq!(
            r.header_value("content-type").unwrap(),
            "text/html; charset=utf-8"
        );
        let c = cookie::Cookie::build(("session", "a b"))
            .path("/")
            .http_only(true)
            .same_site(cookie::SameSite::Lax);
        let r = Response::ok().cookie(c);
        let v = r.header_value("set-cookie").unwrap().to_str().unwrap();
        assert!(v.starts_with("session=a%20b"), "{v}");
        assert!(
            v.contains("HttpOnly") && v.contains("Path=/") && v.contains("SameSite=Lax"),
            "{v}"
        );
    }
}
