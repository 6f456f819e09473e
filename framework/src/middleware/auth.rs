//! `Auth`: a bearer-token or basic-auth check before the handlers. A
//! request without valid credentials gets 401 with `WWW-Authenticate`
//! (RFC 9110 11.6.1), and the handler never runs.

use base64::Engine;

use super::Middleware;
use crate::handler::{Request, Response};

type Check = Box<dyn Fn(&Credentials<'_>) -> bool>;

/// What the client presented.
#[derive(Debug)]
pub enum Credentials<'a> {
    /// `Authorization: Bearer TOKEN`.
    Bearer(&'a str),
    /// `Authorization: Basic base64(user:password)`.
    Basic { user: &'a str, password: &'a str },
}

/// Refuses requests whose credentials `check` does not accept.
pub struct Auth {
    scheme: &'static str,
    realm: String,
    check: Check,
}

impl Auth {
    /// `Authorization: Bearer TOKEN`, accepted when `check(token)`.
    pub fn bearer(check: impl Fn(&str) -> bool + 'static) -> Auth {
        Auth {
            scheme: "Bearer",
            realm: "api".into(),
            check: Box::new(move |c| matches!(c, Credentials::Bearer(t) if check(t))),
        }
    }

    /// `Authorization: Basic ...`, accepted when `check(user, password)`.
    pub fn basic(realm: &str, check: impl Fn(&str, &str) -> bool + 'static) -> Auth {
        Auth {
            scheme: "Basic",
            realm: realm.replace(['"', '\\'], ""),
            check: Box::new(
                move |c| matches!(c, Credentials::Basic { user, password } if check(user, password)),
            ),
        }
    }

    fn refuse(&self) -> Response {
        Response::error(http::StatusCode::UNAUTHORIZED, "authentication required").header(
            "www-authenticate",
            format!("{} realm=\"{}\"", self.scheme, self.realm),
        )
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("scheme", &self.scheme)
            .finish()
    }
}

impl Middleware for Auth {
    type Memo = ();

    fn before(&self, req: &Request) -> Result<(), Response> {
        let Some(value) = req.header("authorization") else {
            return Err(self.refuse());
        };
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        let ok = if scheme.eq_ignore_ascii_case("bearer") && self.scheme == "Bearer" {
            (self.check)(&Credentials::Bearer(rest))
        } else if scheme.eq_ignore_ascii_case("basic") && self.scheme == "Basic" {
            let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok();
            let text = decoded.as_deref().and_then(|d| std::str::from_utf8(d).ok());
            match text.and_then(|t| t.split_once(':')) {
                Some((user, password)) => (self.check)(&Credentials::Basic { user, password }),
                None => false,
            }
        } else {
            false
        };
        if ok {
            Ok(())
        } else {
            Err(self.refuse())
        }
    }

    fn after(&self, _: (), response: Response) -> Response {
        response
    }
}
