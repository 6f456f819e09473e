//! The codec's single error type. Every way a request can be refused by the
//! head parser ([`super::head`]) or the chunked decoder ([`super::body`]) is
//! one variant here, and [`ParseError::status`] says which response the
//! connection sends before it closes.

use http::StatusCode;

/// Why a request was refused. The connection answers with [`ParseError::status`]
/// (see [`super::encode::write_error`]) and then closes: after a framing error the
/// rest of the byte stream cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// 400: the bytes are not a valid HTTP/1.1 request. The reason is for a debug log.
    BadRequest(&'static str),
    /// 414: the request-target is longer than `Limits::max_request_target`.
    UriTooLong,
    /// 431: the head is longer than `Limits::max_header_bytes`, has more than
    /// `Limits::max_headers` fields, or a chunked trailer section is too large.
    HeadersTooLarge,
    /// 413: the declared or decoded body is longer than `Limits::max_body`.
    PayloadTooLarge,
    /// 501: a well-formed request that uses something this server does not
    /// implement (a transfer coding other than chunked).
    NotImplemented(&'static str),
    /// 505: an HTTP major version other than 1.
    VersionNotSupported,
    /// 417: an `Expect` other than `100-continue` on an HTTP/1.1 request.
    ExpectationFailed,
}

impl ParseError {
    /// The response status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ParseError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ParseError::UriTooLong => StatusCode::URI_TOO_LONG,
            ParseError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ParseError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ParseError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ParseError::VersionNotSupported => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            ParseError::ExpectationFailed => StatusCode::EXPECTATION_FAILED,
        }
    }
}

impl ParseError {
    /// What was wrong, beyond the status (for the error page), if known.
    pub fn detail(&self) -> Option<&'static str> {
        match self {
            ParseError::BadRequest(why) | ParseError::NotImplemented(why) => Some(why),
            _ => None,
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::BadRequest(why) => write!(f, "bad request: {why}"),
            ParseError::NotImplemented(why) => write!(f, "not implemented: {why}"),
            other => f.write_str(other.status().canonical_reason().unwrap_or("error")),
        }
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let table: &[(ParseError, u16)] = &[
            (ParseError::BadRequest("x"), 400),
            (ParseError::UriTooLong, 414),
            (ParseError::HeadersTooLarge, 431),
            (ParseError::PayloadTooLarge, 413),
            (ParseError::NotImplemented("x"), 501),
            (ParseError::VersionNotSupported, 505),
            (ParseError::ExpectationFailed, 417),
        ];
        for (e, code) in table {
            assert_eq!(e.status().as_u16(), *code, "{e:?}");
            assert!(!e.to_string().is_empty());
        }
    }
}
