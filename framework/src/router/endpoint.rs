//! [`Endpoint`]: the routes that share one path shape, one per method, and
//! the `Allow` header value for a 405, precomputed at insert time.
//!
//! Once the tree has matched a path to an endpoint, the router picks the
//! route for the request's method here (HEAD falling back to GET) or answers
//! 405 with [`Endpoint::allow`], all without allocating.

use std::rc::Rc;

use http::Method;

use super::error::{ErrorKind, RouteError};

/// One registered route: its method, value and capture names.
#[derive(Debug)]
pub(super) struct Route<T> {
    pub(super) method: Method,
    pub(super) value: T,
    /// Capture names in path order; each route of an endpoint may name its
    /// captures differently (`GET /a/:x`, `POST /a/:y`).
    pub(super) names: Box<[Rc<str>]>,
    /// The pattern as registered, for conflict messages.
    pattern: Box<str>,
}

/// All routes for one path shape.
#[derive(Debug)]
pub(super) struct Endpoint<T> {
    /// Few per endpoint (usually one or two), so a linear scan beats a map.
    routes: Vec<Route<T>>,
    /// `"GET, HEAD, POST"`: see [`allow_value`].
    allow: Box<str>,
}

impl<T> Endpoint<T> {
    pub(super) fn new() -> Self {
        Self {
            routes: Vec::new(),
            allow: Box::from(""),
        }
    }

    /// Adds a route, refusing a second one for the same method.
    pub(super) fn insert(
        &mut self,
        method: Method,
        pattern: &str,
        names: Box<[Rc<str>]>,
        value: T,
    ) -> Result<(), RouteError> {
        if let Some(existing) = self.routes.iter().find(|r| r.method == method) {
            let existing = existing.pattern.to_string();
            return Err(RouteError::new(
                pattern,
                ErrorKind::Conflict { method, existing },
            ));
        }
        self.routes.push(Route {
            method,
            value,
            names,
            pattern: Box::from(pattern),
        });
        self.allow = allow_value(self.routes.iter().map(|r| &r.method));
        Ok(())
    }

    /// Every route, as (method, pattern, value), for re-registering.
    pub(super) fn into_routes(self, out: &mut Vec<(Method, Box<str>, T)>) {
        for r in self.routes {
            out.push((r.method, r.pattern, r.value));
        }
    }

    /// The route for `method`; a HEAD request without its own HEAD route
    /// uses the GET route (the response writer drops the body); then the
    /// route for any method ([`super::any_method`]), if there is one.
    pub(super) fn route(&self, method: &Method) -> Option<&Route<T>> {
        let find = |m: &Method| self.routes.iter().find(|r| r.method == *m);
        find(method)
            .or_else(|| {
                if *method == Method::HEAD {
                    find(&Method::GET)
                } else {
                    None
                }
            })
            .or_else(|| self.routes.iter().find(|r| super::is_any(&r.method)))
    }

    /// The `Allow` header value listing every method this endpoint answers.
    pub(super) fn allow(&self) -> &str {
        &self.allow
    }
}

/// Builds an `Allow` value: HEAD is listed whenever GET is (see
/// [`Endpoint::route`]); standard methods come in the order of RFC 9110's
/// method table followed by PATCH, then extension methods sorted by name.
fn allow_value<'m>(methods: impl Iterator<Item = &'m Method>) -> Box<str> {
    let mut list: Vec<&Method> = methods.filter(|m| !super::is_any(m)).collect();
    if list.contains(&&Method::GET) && !list.contains(&&Method::HEAD) {
        list.push(&Method::HEAD);
    }
    list.sort_by(|a, b| (rank(a), a.as_str()).cmp(&(rank(b), b.as_str())));
    let names: Vec<&str> = list.iter().map(|m| m.as_str()).collect();
    names.join(", ").into_boxed_str()
}

/// Position of a standard method in an `Allow` list; extensions sort last.
fn rank(method: &Method) -> u8 {
    const ORDER: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::CONNECT,
        Method::OPTIONS,
        Method::TRACE,
        Method::PATCH,
    ];
    ORDER
        .iter()
        .position(|m| m == method)
        .map_or(u8::MAX, |i| i as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Method {
        Method::from_bytes(s.as_bytes()).unwrap()
    }

    #[test]
    fn allow_values() {
        let table: &[(&[&str], &str)] = &[
            (&["GET"], "GET, HEAD"),
            (&["HEAD"], "HEAD"),
            (&["POST"], "POST"),
            (&["POST", "GET"], "GET, HEAD, POST"),
            (&["HEAD", "GET"], "GET, HEAD"),
            (&["PATCH", "DELETE", "PUT"], "PUT, DELETE, PATCH"),
            (
                &["PURGE", "GET", "BREW", "OPTIONS"],
                "GET, HEAD, OPTIONS, BREW, PURGE",
            ),
        ];
        for &(methods, want) in table {
            let methods: Vec<Method> = methods.iter().map(|s| m(s)).collect();
            assert_eq!(&*allow_value(methods.iter()), want, "{methods:?}");
        }
    }
}
