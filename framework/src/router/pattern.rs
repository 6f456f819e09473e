//! Route patterns: parsing and validation of `"/users/:id/files/*rest"`.
//!
//! Runs only at insert time (once per core, before the first request), so it
//! may allocate freely. The result drives where a route lands in the
//! [`Node`](super::tree::Node) tree.
//!
//! Grammar: a pattern is `/` followed by segments separated by `/`. Each
//! segment is one of
//! - static: any other text, compared byte for byte with the raw (still
//!   percent-encoded) request path segment, so register it in the form
//!   clients send (`/caf%C3%A9`, not `/café`); may be empty (`/`, `/a/`, `//`);
//! - `:name`: a parameter, matching exactly one non-empty segment;
//! - `*name`: the rest of the path (possibly empty, without its leading `/`),
//!   allowed only as the last segment.
//!
//! A parameter is always a whole segment: `/file.:ext` is a static segment.

use std::rc::Rc;

use super::error::{ErrorKind, RouteError};

/// One segment of a parsed pattern, borrowing from the pattern text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Segment<'p> {
    /// Matches exactly these raw bytes.
    Static(&'p str),
    /// `:name`: one non-empty segment.
    Param,
    /// `*name`: everything after the previous `/`; always last.
    Rest,
}

/// A validated pattern: its segments and the capture names in path order.
#[derive(Debug)]
pub(super) struct Pattern<'p> {
    pub(super) segments: Vec<Segment<'p>>,
    /// Names of the `:param` and `*rest` captures, in the order they appear.
    /// Shared with every [`Params`](super::Params) that holds this route's
    /// values, so a lookup clones an `Rc` instead of allocating a name.
    pub(super) names: Box<[Rc<str>]>,
}

/// Parses and validates `pattern`.
pub(super) fn parse(pattern: &str) -> Result<Pattern<'_>, RouteError> {
    let err = |kind| Err(RouteError::new(pattern, kind));
    let Some(body) = pattern.strip_prefix('/') else {
        return err(ErrorKind::MissingLeadingSlash);
    };
    let mut segments = Vec::new();
    let mut names: Vec<Rc<str>> = Vec::new();
    let mut parts = body.split('/').peekable();
    while let Some(part) = parts.next() {
        // `{name}` and `{*name}` (axum's syntax) are `:name` and `*name`; any
        // other brace is refused rather than taken literally.
        let braced = part.strip_prefix('{').and_then(|p| p.strip_suffix('}'));
        let whole_capture = braced.is_some_and(|b| !b.contains(['{', '}', ':']));
        if part.contains(['{', '}']) && !whole_capture {
            return err(ErrorKind::BraceSyntax);
        }
        let capture = match braced {
            Some(b) => Some(match b.strip_prefix('*') {
                Some(name) => (Segment::Rest, name),
                None => (Segment::Param, b),
            }),
            None => part
                .strip_prefix(':')
                .map(|name| (Segment::Param, name))
                .or_else(|| part.strip_prefix('*').map(|name| (Segment::Rest, name))),
        };
        let Some((segment, name)) = capture else {
            segments.push(Segment::Static(part));
            continue;
        };
        if segment == Segment::Rest && parts.peek().is_some() {
            return err(ErrorKind::RestNotLast);
        }
        if name.is_empty() {
            return err(ErrorKind::EmptyParamName);
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return err(ErrorKind::BadParamName(name.to_owned()));
        }
        if names.iter().any(|n| &**n == name) {
            return err(ErrorKind::DuplicateParamName(name.to_owned()));
        }
        names.push(Rc::from(name));
        segments.push(segment);
    }
    Ok(Pattern {
        segments,
        names: names.into_boxed_slice(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_patterns() {
        use Segment::*;
        let table: &[(&str, &[Segment], &[&str])] = &[
            ("/", &[Static("")], &[]),
            ("/users", &[Static("users")], &[]),
            ("/users/", &[Static("users"), Static("")], &[]),
            ("//", &[Static(""), Static("")], &[]),
            ("/users/:id", &[Static("users"), Param], &["id"]),
            (
                "/u/:id/p/:post",
                &[Static("u"), Param, Static("p"), Param],
                &["id", "post"],
            ),
            ("/static/*rest", &[Static("static"), Rest], &["rest"]),
            ("/*all", &[Rest], &["all"]),
            ("/file.:ext", &[Static("file.:ext")], &[]),
            ("/users/{id}", &[Static("users"), Param], &["id"]),
            (
                "/u/{id}/p/{post}",
                &[Static("u"), Param, Static("p"), Param],
                &["id", "post"],
            ),
            ("/static/{*rest}", &[Static("static"), Rest], &["rest"]),
        ];
        for &(text, segments, names) in table {
            let p = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(p.segments, segments, "{text}");
            let got: Vec<&str> = p.names.iter().map(|n| &**n).collect();
            assert_eq!(got, names, "{text}");
        }
    }

    #[test]
    fn invalid_patterns() {
        let table: &[(&str, ErrorKind)] = &[
            ("", ErrorKind::MissingLeadingSlash),
            ("users", ErrorKind::MissingLeadingSlash),
            ("/users/:", ErrorKind::EmptyParamName),
            ("/:/x", ErrorKind::EmptyParamName),
            ("/static/*", ErrorKind::EmptyParamName),
            ("/*rest/x", ErrorKind::RestNotLast),
            ("/*rest/", ErrorKind::RestNotLast),
            ("/:id/:id", ErrorKind::DuplicateParamName("id".into())),
            ("/:id/*id", ErrorKind::DuplicateParamName("id".into())),
            ("/file-{id}.json", ErrorKind::BraceSyntax),
            ("/{id", ErrorKind::BraceSyntax),
            ("/id}", ErrorKind::BraceSyntax),
            ("/{{id}}", ErrorKind::BraceSyntax),
            ("/{:id}", ErrorKind::BraceSyntax),
            ("/{}", ErrorKind::EmptyParamName),
            ("/{*}", ErrorKind::EmptyParamName),
            ("/{*rest}/x", ErrorKind::RestNotLast),
            ("/{id}/:id", ErrorKind::DuplicateParamName("id".into())),
            ("/a/{i d}", ErrorKind::BadParamName("i d".into())),
            ("/a/:x-y", ErrorKind::BadParamName("x-y".into())),
        ];
        for (text, kind) in table {
            let e = parse(text).expect_err(text);
            assert_eq!(e.kind(), kind, "{text}");
            assert_eq!(e.pattern(), *text);
        }
    }
}
