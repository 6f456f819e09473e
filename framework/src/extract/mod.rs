//! Extractors: typed pieces of a request as handler arguments.
//!
//! On the request path this is the step between the router and the handler:
//! `get(|Path(id): Path<u64>, Query(page): Query<Page>| ..)` takes what it
//! needs from the request, and a piece that cannot be had answers for the
//! handler (its rejection: 400, 404, 415, 422 ...) without calling it.
//!
//! Two traits, as in axum:
//! - [`FromRequestParts`]: from the head (path params, query, headers,
//!   cookies, the client's address, the app's state). Any argument.
//! - [`FromRequest`]: may read the body (`Json`, `Form`, `Bytes`, `String`).
//!   The last argument only. In a sync handler the body is whole already; an
//!   async handler reads it first (bounded by `limits.max_body`).
//!
//! An async handler may also take the whole [`Request`] as its last argument
//! (after any parts), to stream its body itself.

pub(crate) mod cookies;
mod json;
mod path;
mod query;
mod rejection;
pub(crate) mod state;

pub use cookies::Cookies;
pub use json::Json;
pub use path::Path;
pub use query::{Form, Query};
pub use rejection::Rejection;
pub use state::State;

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;

use crate::handler::{IntoResponse, Request, Response};

/// A value taken from a request's head (any handler argument).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be taken from a request's head",
    note = "extractors from the head: `Path<T>`, `Query<T>`, `State<T>`, `Cookies`, \
            `http::HeaderMap`, `http::Method`, `http::Uri`, `std::net::SocketAddr` (the client); \
            a body extractor (`Json<T>`, `Form<T>`, `Bytes`, `String`) must be the last argument"
)]
pub trait FromRequestParts: Sized {
    /// What the client gets when it cannot be had.
    type Rejection: IntoResponse;

    /// Takes the value from `req`'s head.
    fn from_request_parts(req: &Request) -> Result<Self, Self::Rejection>;
}

/// A value that may need the request's body (the last handler argument).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be taken from a request",
    note = "the last argument of a handler may be a body extractor (`Json<T>`, `Form<T>`, \
            `Bytes`, `String`) or anything taken from the head (`Path<T>`, `Query<T>`, `State<T>` ..)"
)]
pub trait FromRequest: Sized {
    /// What the client gets when it cannot be had.
    type Rejection: IntoResponse;

    /// Whether an async handler must read the body before extracting.
    const READS_BODY: bool = true;

    /// Takes the value from `req`, whose body is whole.
    fn from_request(req: &Request) -> Result<Self, Self::Rejection>;

    /// What can be refused from the head alone (a content type), before an
    /// async handler reads the body: a client that sent `Expect:
    /// 100-continue` then gets the refusal instead of a `100 Continue`.
    fn check_head(_req: &Request) -> Result<(), Self::Rejection> {
        Ok(())
    }
}

impl<T: FromRequestParts> FromRequest for T {
    type Rejection = <T as FromRequestParts>::Rejection;
    const READS_BODY: bool = false;

    fn from_request(req: &Request) -> Result<Self, Self::Rejection> {
        T::from_request_parts(req)
    }
}

/// The last argument of an async handler: a [`FromRequest`] value (the body
/// read first), or the [`Request`] itself.
#[doc(hidden)]
pub trait FromRequestOwned: Sized {
    fn from_request_owned(req: Request) -> impl Future<Output = Result<Self, Response>>;
}

impl FromRequestOwned for Request {
    async fn from_request_owned(req: Request) -> Result<Self, Response> {
        Ok(req)
    }
}

impl<T: FromRequest> FromRequestOwned for T {
    async fn from_request_owned(mut req: Request) -> Result<Self, Response> {
        if T::READS_BODY {
            T::check_head(&req).map_err(IntoResponse::into_response)?;
            if let Err(e) = req.read_body().await {
                return Err(e.into_response());
            }
        }
        T::from_request(&req).map_err(IntoResponse::into_response)
    }
}

/// The client's address (the TCP peer).
impl FromRequestParts for SocketAddr {
    type Rejection = std::convert::Infallible;

    fn from_request_parts(req: &Request) -> Result<Self, Self::Rejection> {
        Ok(req.client_addr())
    }
}

/// Every header line, as `http` types.
impl FromRequestParts for http::HeaderMap {
    type Rejection = std::convert::Infallible;

    fn from_request_parts(req: &Request) -> Result<Self, Self::Rejection> {
        let mut map = http::HeaderMap::new();
        for (name, value) in req.headers() {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name),
                http::HeaderValue::from_bytes(value),
            ) {
                map.append(n, v);
            }
        }
        Ok(map)
    }
}

/// The request method.
impl FromRequestParts for http::Method {
    type Rejection = std::convert::Infallible;

    fn from_request_parts(req: &Request) -> Result<Self, Self::Rejection> {
        Ok(req.method().clone())
    }
}

/// The request target.
impl FromRequestParts for http::Uri {
    type Rejection = Rejection;

    fn from_request_parts(req: &Request) -> Result<Self, Self::Rejection> {
        req.target()
            .parse()
            .map_err(|_| Rejection::bad_request("the request target is not a URI"))
    }
}

/// The body, whole.
impl FromRequest for Bytes {
    type Rejection = std::convert::Infallible;

    fn from_request(req: &Request) -> Result<Self, Self::Rejection> {
        Ok(Bytes::copy_from_slice(req.body()))
    }
}

/// The body, whole, as UTF-8 text (400 if it is not).
impl FromRequest for String {
    type Rejection = Rejection;

    fn from_request(req: &Request) -> Result<Self, Self::Rejection> {
        String::from_utf8(req.body().to_vec())
            .map_err(|_| Rejection::bad_request("the request body is not UTF-8 text"))
    }
}

impl IntoResponse for std::convert::Infallible {
    fn into_response(self) -> Response {
        match self {}
    }
}
