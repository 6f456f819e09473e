//! `Query<T>` and `Form<T>`: `application/x-www-form-urlencoded` pairs, from
//! the query string or the body, through `serde_urlencoded`. Anything that
//! does not fit `T` is 400 with serde's message. A missing query is an empty
//! one (so a `T` whose fields are all optional or defaulted still works).

use http::StatusCode;
use serde::de::DeserializeOwned;

use super::{FromRequest, FromRequestParts, Rejection};
use crate::handler::Request;

/// The query string, typed: `Query(page): Query<Page>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts for Query<T> {
    type Rejection = Rejection;

    fn from_request_parts(req: &Request) -> Result<Self, Rejection> {
        serde_urlencoded::from_str(req.query().unwrap_or(""))
            .map(Query)
            .map_err(|e| Rejection::bad_request(format!("bad query string: {e}")))
    }
}

/// A form body (`application/x-www-form-urlencoded`), typed:
/// `Form(login): Form<Login>`. Another content type is 415.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Form<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Form<T> {
    type Rejection = Rejection;

    fn check_head(req: &Request) -> Result<(), Rejection> {
        let form = req.header("content-type").is_some_and(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
        if !form {
            return Err(Rejection::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a request with `Content-Type: application/x-www-form-urlencoded`",
            ));
        }
        Ok(())
    }

    fn from_request(req: &Request) -> Result<Self, Rejection> {
        Self::check_head(req)?;
        serde_urlencoded::from_bytes(req.body())
            .map(Form)
            .map_err(|e| Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, format!("bad form: {e}")))
    }
}
