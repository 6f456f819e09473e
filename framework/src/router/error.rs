//! [`RouteError`]: why [`Router::insert`](super::Router::insert) refused a
//! route. Raised while the app is being built on each core, before any
//! request is served, so it carries owned strings for a clear message.

use std::fmt;

use http::Method;

/// A route that cannot be registered: an invalid pattern or a conflict with
/// a route already in the router. The message names the pattern and the
/// problem, e.g. `invalid route pattern "/a/*rest/b": "*" segment must be last`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    pattern: String,
    kind: ErrorKind,
}

/// What is wrong with the pattern. See [`RouteError::kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The pattern does not start with `/`.
    MissingLeadingSlash,
    /// A `:` or `*` segment without a name.
    EmptyParamName,
    /// A `*rest` segment that is not the last one.
    RestNotLast,
    /// Two captures with the same name in one pattern.
    DuplicateParamName(String),
    /// A capture name that is not letters, digits and `_` (`{i d}`).
    BadParamName(String),
    /// A `{` or `}` in a segment that is not a whole `{name}` or `{*name}`
    /// capture (`/file-{id}.json`): never taken literally.
    BraceSyntax,
    /// The same method is already registered for an equivalent pattern
    /// (same shape; capture names do not matter).
    Conflict {
        /// The method registered twice.
        method: Method,
        /// The pattern registered first.
        existing: String,
    },
}

impl RouteError {
    pub(super) fn new(pattern: &str, kind: ErrorKind) -> Self {
        Self {
            pattern: pattern.to_owned(),
            kind,
        }
    }

    /// The pattern that was refused, as passed to `insert`.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// A nest prefix that does not start with `/`.
    pub(crate) fn new_prefix(prefix: &str) -> Self {
        Self::new(prefix, ErrorKind::MissingLeadingSlash)
    }

    /// What is wrong with it.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pattern = &self.pattern;
        match &self.kind {
            ErrorKind::MissingLeadingSlash => {
                write!(f, "invalid route pattern {pattern:?}: must start with '/'")
            }
            ErrorKind::EmptyParamName => write!(
                f,
                "invalid route pattern {pattern:?}: ':' or '*' segment without a name"
            ),
            ErrorKind::RestNotLast => write!(
                f,
                "invalid route pattern {pattern:?}: '*' segment must be the last one"
            ),
            ErrorKind::DuplicateParamName(name) => write!(
                f,
                "invalid route pattern {pattern:?}: parameter name {name:?} used twice"
            ),
            ErrorKind::BadParamName(name) => write!(
                f,
                "invalid route pattern {pattern:?}: capture name {name:?} must be letters, digits and '_'"
            ),
            ErrorKind::BraceSyntax => write!(
                f,
                "invalid route pattern {pattern:?}: '{{' and '}}' only make a whole segment \
                 capture, `{{name}}` (as `:name`) or `{{*name}}` (as `*name`)"
            ),
            ErrorKind::Conflict { method, existing } => write!(
                f,
                "route conflict: {method} {pattern:?} is equivalent to {method} {existing:?}, \
                 registered before"
            ),
        }
    }
}

impl std::error::Error for RouteError {}
