//! `Cors`: cross-origin requests (the Fetch standard's CORS protocol).
//! A preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered
//! here, 204 with the allowed methods, headers and max-age, or 403 for an
//! origin not allowed; other requests from an allowed origin get
//! `Access-Control-Allow-Origin` (and `-Credentials` when allowed, and
//! `-Expose-Headers` when some are listed). Responses say `Vary: Origin`
//! whenever the answer depends on it; preflights also vary on the method
//! and headers they ask for.
//!
//! Request headers a preflight may allow: those given to [`Cors::headers`];
//! when none are given, the ones the preflight asks for are allowed (as
//! tower-http's `mirror_request`) unless credentials are allowed, where
//! none are (list them: a credentialed request is the one to be strict
//! about).

use super::Middleware;
use crate::handler::{Request, Response};

/// The CORS policy.
#[derive(Debug, Clone)]
pub struct Cors {
    /// Allowed origins (`https://app.example`), or `None` for any.
    origins: Option<Vec<String>>,
    methods: String,
    headers: String,
    expose: String,
    credentials: bool,
    max_age: Option<u32>,
}

impl Cors {
    /// Any origin, GET/HEAD/POST, no credentials.
    pub fn any_origin() -> Cors {
        Cors {
            origins: None,
            methods: "GET, HEAD, POST".into(),
            headers: String::new(),
            expose: String::new(),
            credentials: false,
            max_age: None,
        }
    }

    /// Only these origins.
    pub fn origins<I: IntoIterator<Item = S>, S: Into<String>>(origins: I) -> Cors {
        Cors {
            origins: Some(origins.into_iter().map(Into::into).collect()),
            ..Cors::any_origin()
        }
    }

    /// The methods a preflight may allow.
    pub fn methods(mut self, methods: &[http::Method]) -> Cors {
        self.methods = methods
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        self
    }

    /// The request headers a preflight may allow.
    pub fn headers(mut self, headers: &[&str]) -> Cors {
        self.headers = headers.join(", ");
        self
    }

    /// The response headers a page's script may read, beyond the
    /// CORS-safelisted ones (`x-request-id`, say).
    pub fn expose_headers(mut self, headers: &[&str]) -> Cors {
        self.expose = headers.join(", ");
        self
    }

    /// Whether credentials (cookies, Authorization) may be sent. With a
    /// wildcard origin, the request's own origin is echoed (the standard
    /// forbids `*` with credentials): every site could then read
    /// credentialed answers, so this is logged as a warning; list the
    /// origins instead.
    pub fn credentials(mut self, allow: bool) -> Cors {
        if allow && self.origins.is_none() {
            tracing::warn!(
                "Cors: credentials with any origin lets every site read credentialed answers; list the origins"
            );
        }
        self.credentials = allow;
        self
    }

    /// How long a browser may cache a preflight's answer.
    pub fn max_age(mut self, seconds: u32) -> Cors {
        self.max_age = Some(seconds);
        self
    }

    /// Whether `origin` is allowed. `null` (sandboxed frames, files,
    /// redirects) is never allowed by the wildcard, only when listed.
    fn allows(&self, origin: &str) -> bool {
        match &self.origins {
            Some(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
            None => origin != "null",
        }
    }

    /// The `Access-Control-Allow-Origin` value for an allowed `origin`.
    fn allow_origin(&self, origin: &str) -> String {
        if self.origins.is_none() && !self.credentials {
            "*".into()
        } else {
            origin.to_string()
        }
    }
}

/// What a request's origin was, for `after`.
pub struct Seen(Option<String>);

impl Middleware for Cors {
    type Memo = Seen;

    fn before(&self, req: &Request) -> Result<Seen, Response> {
        let Some(origin) = req.header("origin") else {
            return Ok(Seen(None)); // not a cross-origin request
        };
        let preflight = req.method() == http::Method::OPTIONS
            && req.header("access-control-request-method").is_some();
        if !preflight {
            return Ok(Seen(self.allows(origin).then(|| origin.to_string())));
        }
        if !self.allows(origin) {
            return Err(
                Response::error(http::StatusCode::FORBIDDEN, "origin not allowed")
                    .header("vary", "origin"),
            );
        }
        let mut r = Response::new(http::StatusCode::NO_CONTENT)
            .header("access-control-allow-origin", self.allow_origin(origin))
            .header("access-control-allow-methods", self.methods.clone())
            .header(
                "vary",
                "origin, access-control-request-method, access-control-request-headers",
            );
        // Every line of the field, as one list (RFC 9110 5.3).
        let asked = req.header_list("access-control-request-headers");
        let asked = asked.as_deref().and_then(|v| std::str::from_utf8(v).ok());
        let headers = match asked {
            _ if !self.headers.is_empty() => self.headers.as_str(),
            Some(asked) if !self.credentials => asked,
            _ => "",
        };
        if !headers.is_empty() {
            r = r.header("access-control-allow-headers", headers.to_string());
        }
        if self.credentials {
            r = r.header("access-control-allow-credentials", "true");
        }
        if let Some(age) = self.max_age {
            r = r.header("access-control-max-age", age.to_string());
        }
        Err(r)
    }

    fn after(&self, seen: Seen, mut response: Response) -> Response {
        if self.origins.is_some() || self.credentials {
            response = response.header("vary", "origin");
        }
        let Some(origin) = seen.0 else {
            return response;
        };
        response = response.header("access-control-allow-origin", self.allow_origin(&origin));
        if !self.expose.is_empty() {
            response = response.header("access-control-expose-headers", self.expose.clone());
        }
        if self.credentials {
            response = response.header("access-control-allow-credentials", "true");
        }
        response
    }
}
