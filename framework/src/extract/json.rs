//! `Json<T>`: a JSON body in, a JSON body out.
//!
//! In: the request must say `Content-Type: application/json` (or any
//! `+json` type) else 415; malformed JSON is 400, JSON of the wrong shape
//! (a missing field, a wrong type, an unknown field where the type denies
//! them) is 422; each with serde's message. Out: `Json(value)` serializes
//! with `Content-Type: application/json`; `(StatusCode::CREATED, Json(v))`
//! gives it a status.

use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{FromRequest, Rejection};
use crate::handler::{IntoResponse, Request, Response};

/// A JSON body: an extractor (`Json(todo): Json<NewTodo>`) and a response
/// (`Json(todo)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

/// Whether `content_type` is JSON: `application/json` or `*/*+json`,
/// parameters (`; charset=utf-8`) ignored.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    let suffix = |s: &str| {
        s.len() > 5
            && s.is_char_boundary(s.len() - 5)
            && s[s.len() - 5..].eq_ignore_ascii_case("+json")
    };
    kind.eq_ignore_ascii_case("application") && (sub.eq_ignore_ascii_case("json") || suffix(sub))
}

impl<T: DeserializeOwned> FromRequest for Json<T> {
    type Rejection = Rejection;

    fn check_head(req: &Request) -> Result<(), Rejection> {
        if !req.header("content-type").is_some_and(is_json) {
            return Err(Rejection::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a request with `Content-Type: application/json`",
            ));
        }
        Ok(())
    }

    fn from_request(req: &Request) -> Result<Self, Rejection> {
        Self::check_head(req)?;
        let mut de = serde_json::Deserializer::from_slice(req.body());
        let value = T::deserialize(&mut de).and_then(|v| de.end().map(|()| v));
        value.map(Json).map_err(|e| {
            use serde_json::error::Category;
            let status = match e.classify() {
                Category::Data => StatusCode::UNPROCESSABLE_ENTITY,
                Category::Syntax | Category::Eof | Category::Io => StatusCode::BAD_REQUEST,
            };
            let what = if status == StatusCode::BAD_REQUEST {
                "malformed JSON"
            } else {
                "JSON of the wrong shape"
            };
            Rejection::new(status, format!("{what}: {e}"))
        })
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::ok()
                .content_type_static("application/json")
                .body(body),
            Err(e) => {
                tracing::error!("a response could not be serialized to JSON: {e}");
                Response::new(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

/// A JSON value answers as JSON.
impl IntoResponse for serde_json::Value {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn json_content_types() {
        for yes in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/problem+json",
        ] {
            assert!(is_json(yes), "{yes}");
        }
        for no in [
            "text/json",
            "application/jsonx",
            "",
            "application",
            "text/plain",
        ] {
            assert!(!is_json(no), "{no}");
        }
    }
}
