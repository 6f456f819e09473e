//! The per-core router: maps a request's method and raw path to the value
//! (handler) registered for it, and captures `:param` / `*rest` values.
//!
//! # Where it sits
//!
//! ```text
//! recv -> http codec (head parsed: method, raw path, query split off)
//!      -> router: Router::lookup(method, path, &mut params)   <- this module
//!           Found(handler)        -> handler(req + params, per-core state)
//!           NotFound              -> 404
//!           MethodNotAllowed{..}  -> 405 with `Allow: {allow}`
//!      -> response encoder -> send
//! ```
//!
//! Each core builds its own `Router` once at start-up, so the values need
//! not be `Send` (they may hold `Rc`s of per-core state). Lookups then run for
//! every request and allocate nothing once the caller's reused [`Params`] has
//! warmed up: matching compares slices of the raw path, and the 405 `Allow`
//! value is built at insert time.
//!
//! # Matching rules
//!
//! 1. The path is the raw request target without its query, still
//!    percent-encoded, and is split on `/` before any decoding, so `%2F`
//!    never splits a segment. A path not starting with `/` (`*`) is not found.
//! 2. Segment by segment, a static child beats a `:param` child, which beats
//!    a `*rest` child; a dead end backtracks to the next candidate
//!    (the `tree` module explains why this stays linear).
//! 3. A trailing slash is significant (`/users/` is not `/users`), and an
//!    empty segment (`//`, a trailing `/`) matches only an empty static
//!    segment, never a `:param`. `*rest` matches the remainder after the `/`,
//!    possibly empty: `/static/*rest` matches `/static/` but not `/static`.
//! 4. Captured values are percent-decoded; if one is not valid UTF-8 the
//!    route does not match (and the search backtracks as in rule 2).
//! 5. The path picks one endpoint; the method then picks the route there.
//!    HEAD uses the GET route if there is no HEAD route. A method with no
//!    route at that endpoint gets `MethodNotAllowed`, even if a lower
//!    precedence pattern (`/a/:x` for `/a/b`) has one: like axum and
//!    actix-web, the path decides first, so `Allow` is exactly the set of
//!    methods that would succeed for this path.

#![forbid(unsafe_code)]

mod endpoint;
mod error;
mod params;
mod pattern;
#[cfg(test)]
mod tests;
mod tree;

use std::fmt;

use http::Method;

pub use error::{ErrorKind, RouteError};
pub use params::Params;

use endpoint::Endpoint;
use pattern::Segment;
use tree::Node;

/// Routes of one core: patterns to values of type `T` (typically handlers).
pub struct Router<T> {
    root: Node<T>,
    /// Patterns with no capture, by their whole path: looked up first, by
    /// length then bytes, without walking the tree segment by segment. The
    /// tree would find the same endpoint (a static segment beats a capture
    /// at every level), so this changes no answer, only the cost: a path of
    /// two segments took about 110 instructions more to route than one of one.
    exact: Vec<(Box<[u8]>, Endpoint<T>)>,
    len: usize,
    /// Every method some route registered, in the order first seen.
    methods: Vec<Method>,
}

/// The outcome of [`Router::lookup`].
pub enum Lookup<'r, T> {
    /// The route for this method and path.
    Found(&'r T),
    /// No route matches the path, for any method: answer 404.
    NotFound,
    /// Some route matches the path, but not for this method: answer 405
    /// with this `Allow` header value (e.g. `"GET, HEAD, POST"`).
    MethodNotAllowed {
        /// Methods the path answers to, comma-separated; HEAD is included
        /// whenever GET is.
        allow: &'r str,
    },
}

/// The method a route registers to answer every method without a route of
/// its own (extension methods included): `*`, which `Router::insert` and
/// `MethodRouter::any` take.
pub fn any_method() -> Method {
    Method::from_bytes(b"*").expect("`*` is a token")
}

fn is_any(m: &Method) -> bool {
    m.as_str() == "*"
}

impl<T> Router<T> {
    /// An empty router.
    pub fn new() -> Self {
        Self {
            root: Node::new(),
            exact: Vec::new(),
            len: 0,
            methods: Vec::new(),
        }
    }

    /// Registers `value` for `method` and `pattern`.
    ///
    /// Patterns: `"/"`, `"/users"`, `"/users/:id"`, `"/users/:id/posts/:post"`,
    /// `"/static/*rest"`. A `:name` matches one non-empty segment; a `*name`
    /// (last segment only) matches the rest of the path, possibly empty,
    /// without its leading slash. Static segments are compared with the raw
    /// request path, so write them percent-encoded as clients send them.
    ///
    /// # Errors
    ///
    /// An invalid pattern (not starting with `/`, an empty capture name, `*`
    /// not last, a capture name used twice), or a conflict: `method` already
    /// has an equivalent pattern (same shape, whatever the capture names:
    /// `/a/:x` and `/a/:y`).
    pub fn insert(&mut self, method: Method, pattern: &str, value: T) -> Result<(), RouteError> {
        let parsed = pattern::parse(pattern)?;
        if !self.methods.contains(&method) {
            self.methods.push(method.clone());
        }
        if parsed
            .segments
            .iter()
            .all(|s| matches!(s, Segment::Static(_)))
        {
            let i = match self
                .exact
                .iter()
                .position(|(p, _)| **p == *pattern.as_bytes())
            {
                Some(i) => i,
                None => {
                    self.exact
                        .push((pattern.as_bytes().into(), Endpoint::new()));
                    self.exact.len() - 1
                }
            };
            self.exact[i]
                .1
                .insert(method, pattern, parsed.names, value)?;
        } else {
            self.root.insert(method, pattern, parsed, value)?;
        }
        self.len += 1;
        Ok(())
    }

    /// Finds the route for `method` and the raw (still percent-encoded) `path`
    /// without its query, filling `params` with the decoded captures (cleared
    /// first; left empty unless `Found`). See the [module docs](self) for the
    /// rules; notably a capture that decodes to invalid UTF-8 makes its route
    /// not match, so such a request gets `NotFound` unless another route
    /// matches.
    pub fn lookup<'r>(
        &'r self,
        method: &Method,
        path: &[u8],
        params: &mut Params,
    ) -> Lookup<'r, T> {
        params.clear();
        if path.first() != Some(&b'/') {
            return Lookup::NotFound;
        }
        let exact = self.exact.iter().find(|(p, _)| **p == *path);
        let Some(endpoint) = exact
            .map(|(_, e)| e)
            .or_else(|| self.root.find(path, 1, params))
        else {
            params.clear();
            return Lookup::NotFound;
        };
        match endpoint.route(method) {
            Some(route) => {
                params.set_names(&route.names);
                Lookup::Found(&route.value)
            }
            None => {
                params.clear();
                Lookup::MethodNotAllowed {
                    allow: endpoint.allow(),
                }
            }
        }
    }

    /// Every method some route answers ([`any_method`] for a route of any),
    /// in the order first registered.
    pub fn methods(&self) -> &[Method] {
        &self.methods
    }

    /// Takes every route out, as (method, pattern as registered, value):
    /// to register them again elsewhere (`App::nest`).
    pub fn into_routes(self) -> Vec<(Method, Box<str>, T)> {
        let mut out = Vec::with_capacity(self.len);
        for (_, endpoint) in self.exact {
            endpoint.into_routes(&mut out);
        }
        self.root.into_routes(&mut out);
        out
    }

    /// Number of registered routes (method + pattern pairs).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no route is registered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for Router<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("len", &self.len)
            .field("root", &self.root)
            .finish()
    }
}

// Manual impls: deriving would require `T: Clone` etc. for a `&T`.
impl<T> Clone for Lookup<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Lookup<'_, T> {}

impl<T: PartialEq> PartialEq for Lookup<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Lookup::Found(a), Lookup::Found(b)) => a == b,
            (Lookup::NotFound, Lookup::NotFound) => true,
            (Lookup::MethodNotAllowed { allow: a }, Lookup::MethodNotAllowed { allow: b }) => {
                a == b
            }
            _ => false,
        }
    }
}

impl<T: Eq> Eq for Lookup<'_, T> {}

impl<T: fmt::Debug> fmt::Debug for Lookup<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lookup::Found(v) => f.debug_tuple("Found").field(v).finish(),
            Lookup::NotFound => f.write_str("NotFound"),
            Lookup::MethodNotAllowed { allow } => f
                .debug_struct("MethodNotAllowed")
                .field("allow", allow)
                .finish(),
        }
    }
}
