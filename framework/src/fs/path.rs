//! Request path -> file path relative to the root (pipeline steps 2 and 3).
//!
//! [`resolve`] turns the raw request path (still percent-encoded) into the
//! relative path the runtime hands to `openat2(root_fd, rel, RESOLVE_BENEATH)`.
//! It is the lexical half of "never leave the root"; `RESOLVE_BENEATH` is the
//! half that covers symlinks. The order is fixed, and it is what makes every
//! traversal spelling land in the same place:
//!
//! 1. The path must start with `/`; a raw NUL is 400; anything from a `?` on
//!    is dropped (a query that slipped through).
//! 2. Split on the raw `/` **first**, then percent-decode each segment exactly
//!    once. A segment that decodes to something holding `/` (`%2f`) or NUL
//!    (`%00`) is 400: a name can never contain either, and splitting after
//!    decoding would turn data into structure. A malformed escape (`%zz`,
//!    `%4`) is 400 too. So `%252e%252e` is the literal name `%2e%2e`.
//! 3. Dot segments (RFC 3986 5.2.4), judged on the *decoded* segment so that
//!    `%2e%2e` is `..`: `.` is dropped, `..` removes the previous segment, and a
//!    `..` with nothing left to remove is 400 (as nginx answers `/../x`).
//!    Empty segments (`//`) are dropped. A backslash is an ordinary byte.
//! 4. Hidden names: a segment of the *result* that starts with `.` is 404
//!    unless dotfiles are allowed (so `/.git/../a` is `a` and is served).
//! 5. Limits: a segment over `NAME_MAX` (255) bytes cannot exist (404); a
//!    result over `PATH_MAX` (4096) bytes is 414.
//!
//! Names are bytes (Linux file names need not be UTF-8), so the result is a
//! `Vec<u8>`. [`dir_redirect_location`] builds the `Location` of the 301 that
//! adds a directory's trailing slash, from the *resolved* path, so that a
//! request for `//evil.example` can never redirect off-site.

use http::StatusCode;
use percent_encoding::{percent_encode, AsciiSet, CONTROLS};

use crate::http::token::hex_value;

/// Longest name of one path component (Linux `NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// Longest resolved relative path (Linux `PATH_MAX`, less the NUL).
pub const PATH_MAX: usize = 4095;

/// Bytes percent-encoded when a name is put back into a URL path segment:
/// everything but RFC 3986 `pchar`s, and `%` itself.
pub const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A request path resolved beneath the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedPath {
    /// Segments joined by `/`, no leading or trailing `/`; empty for the root.
    /// Never contains NUL, an empty segment, `.` or `..`.
    pub rel: Vec<u8>,
    /// The request named a directory: it ended in `/`, or in a dot segment
    /// (`/a/..` is `/`). `/dir` without it is answered with a 301.
    pub trailing_slash: bool,
}

/// Why a path was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// 400: no leading `/`, NUL, `%2f`, a malformed escape, or `..` above the root.
    Invalid(&'static str),
    /// 404: a hidden (dot) name, or a name no file system allows.
    NotFound(&'static str),
    /// 414: the resolved path is longer than `PATH_MAX`.
    TooLong,
}

impl PathError {
    /// The response status for this error.
    pub fn status(self) -> StatusCode {
        match self {
            PathError::Invalid(_) => StatusCode::BAD_REQUEST,
            PathError::NotFound(_) => StatusCode::NOT_FOUND,
            PathError::TooLong => StatusCode::URI_TOO_LONG,
        }
    }
}

/// Resolve `raw_path` (percent-encoded, query optional) beneath the root.
/// See the module docs for the exact rules.
pub fn resolve(raw_path: &[u8], dotfiles_allowed: bool) -> Result<ResolvedPath, PathError> {
    let raw = match memchr::memchr(b'?', raw_path) {
        Some(q) => &raw_path[..q],
        None => raw_path,
    };
    let Some(rest) = raw.strip_prefix(b"/") else {
        return Err(PathError::Invalid("path does not start with '/'"));
    };
    if memchr::memchr(0, rest).is_some() {
        return Err(PathError::Invalid("NUL in path"));
    }
    // Ends of the kept segments in `rel`, so `..` can truncate back.
    let mut ends: Vec<usize> = Vec::new();
    let mut rel: Vec<u8> = Vec::with_capacity(rest.len());
    let mut trailing_slash = true; // "/" itself names the root directory
    for raw_seg in rest.split(|&b| b == b'/') {
        trailing_slash = true;
        if raw_seg.is_empty() {
            continue;
        }
        let start = rel.len();
        if start > 0 {
            rel.push(b'/');
        }
        decode_into(raw_seg, &mut rel)?;
        match &rel[start..] {
            b"/." | b"." => rel.truncate(start),
            b"/.." | b".." => {
                rel.truncate(start);
                ends.pop()
                    .ok_or(PathError::Invalid("'..' above the root"))?;
                rel.truncate(ends.last().copied().unwrap_or(0));
            }
            seg => {
                let name = seg.strip_prefix(b"/").unwrap_or(seg);
                if name.len() > NAME_MAX {
                    return Err(PathError::NotFound("name longer than NAME_MAX"));
                }
                ends.push(rel.len());
                trailing_slash = false;
            }
        }
    }
    if rel.len() > PATH_MAX {
        return Err(PathError::TooLong);
    }
    if !dotfiles_allowed && rel.split(|&b| b == b'/').any(|s| s.first() == Some(&b'.')) {
        return Err(PathError::NotFound("hidden name"));
    }
    Ok(ResolvedPath {
        rel,
        trailing_slash,
    })
}

/// Percent-decode one raw segment onto `out`, refusing `/`, NUL and malformed
/// escapes in the result.
fn decode_into(seg: &[u8], out: &mut Vec<u8>) -> Result<(), PathError> {
    let mut i = 0;
    while i < seg.len() {
        let b = seg[i];
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let (Some(h), Some(l)) = (
            seg.get(i + 1).and_then(|&c| hex_value(c)),
            seg.get(i + 2).and_then(|&c| hex_value(c)),
        ) else {
            return Err(PathError::Invalid("malformed percent-escape"));
        };
        match h << 4 | l {
            0 => return Err(PathError::Invalid("%00 in path")),
            b'/' => return Err(PathError::Invalid("%2f in path")),
            d => out.push(d),
        }
        i += 3;
    }
    Ok(())
}

/// The `Location` for the 301 that adds a directory's trailing slash:
/// `/` + the resolved path re-encoded + `/`, then `?query` if there was one.
/// Built from the resolved path, never echoed from the request, so it is
/// always a same-origin absolute path (never `//host`).
pub fn dir_redirect_location(resolved: &ResolvedPath, query: Option<&[u8]>) -> String {
    let mut loc = String::with_capacity(resolved.rel.len() + 2);
    for seg in resolved.rel.split(|&b| b == b'/').filter(|s| !s.is_empty()) {
        loc.push('/');
        loc.extend(percent_encode(seg, SEGMENT));
    }
    loc.push('/');
    if let Some(q) = query {
        loc.push('?');
        // The query was a valid request-target part; re-encode only what
        // could break the header (controls, non-ASCII).
        loc.extend(percent_encode(q, CONTROLS));
    }
    loc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(rel: &str, trailing_slash: bool) -> Result<ResolvedPath, PathError> {
        Ok(ResolvedPath {
            rel: rel.as_bytes().to_vec(),
            trailing_slash,
        })
    }

    #[test]
    fn table() {
        let bad = |why| Err(PathError::Invalid(why));
        let above = bad("'..' above the root");
        let hidden = Err(PathError::NotFound("hidden name"));
        let cases: &[(&str, Result<ResolvedPath, PathError>)] = &[
            ("/", ok("", true)),
            ("/index.html", ok("index.html", false)),
            ("/a/b/", ok("a/b", true)),
            ("/a//b///c", ok("a/b/c", false)),
            ("//", ok("", true)),
            ("/a/./b", ok("a/b", false)),
            ("/a/.", ok("a", true)),
            ("/a/..", ok("", true)),
            ("/a/b/..", ok("a", true)),
            ("/a/b/../c", ok("a/c", false)),
            ("/a/b/../../c", ok("c", false)),
            ("/a/%2e/b", ok("a/b", false)),
            ("/a/%2E%2e/b", ok("b", false)),
            ("/a/.%2e/b", ok("b", false)),
            ("/x?y=/../..", ok("x", false)),
            // Traversal spellings: never above the root.
            ("/..", above.clone()),
            ("/../etc/passwd", above.clone()),
            ("/%2e%2e/etc/passwd", above.clone()),
            ("/%2E%2E/etc/passwd", above.clone()),
            ("/.%2e/etc/passwd", above.clone()),
            ("/a/b/../../../x", above.clone()),
            ("/a/../../x", above.clone()),
            ("/./../x", above.clone()),
            ("/%2e%2e%2fetc/passwd", bad("%2f in path")),
            ("/..%2f..%2fetc", bad("%2f in path")),
            ("/a%2F..", bad("%2f in path")),
            ("/%00", bad("%00 in path")),
            ("/a%00.html", bad("%00 in path")),
            ("/a\0b", bad("NUL in path")),
            ("/%", bad("malformed percent-escape")),
            ("/%4", bad("malformed percent-escape")),
            ("/%zz", bad("malformed percent-escape")),
            ("/%%32e", bad("malformed percent-escape")),
            ("", bad("path does not start with '/'")),
            ("a/b", bad("path does not start with '/'")),
            ("*", bad("path does not start with '/'")),
            ("http://h/x", bad("path does not start with '/'")),
            // Decoded once: a double-encoded dot is a literal name.
            ("/%252e%252e/x", ok("%2e%2e/x", false)),
            ("/%252f", ok("%2f", false)),
            // Backslash is an ordinary byte.
            ("/a\\..\\b", ok("a\\..\\b", false)),
            ("/..\\x", hidden.clone()),
            ("/%5c..%5cx", ok("\\..\\x", false)),
            // Hidden names, judged on the result.
            ("/.git/config", hidden.clone()),
            ("/a/.env", hidden.clone()),
            ("/%2egit/config", hidden.clone()),
            ("/a/.hidden/", hidden.clone()),
            ("/.git/../a", ok("a", false)),
            ("/...", hidden.clone()),
            // Non-ASCII and space.
            ("/caf%C3%A9%20x", ok("café x", false)),
            ("/a%20b/", ok("a b", true)),
        ];
        for (raw, want) in cases {
            assert_eq!(&resolve(raw.as_bytes(), false), want, "{raw:?}");
        }
    }

    #[test]
    fn dotfiles_allowed() {
        assert_eq!(resolve(b"/.well-known/x", true), ok(".well-known/x", false));
        assert_eq!(resolve(b"/...", true), ok("...", false));
        assert_eq!(
            resolve(b"/../x", true),
            Err(PathError::Invalid("'..' above the root"))
        );
    }

    #[test]
    fn invalid_utf8_names_are_kept_as_bytes() {
        let r = resolve(b"/%FF%FE/\xC3", false).unwrap();
        assert_eq!(r.rel, b"\xFF\xFE/\xC3");
    }

    #[test]
    fn lengths() {
        let name = "a".repeat(NAME_MAX);
        assert!(resolve(format!("/{name}").as_bytes(), false).is_ok());
        let too = format!("/{name}a");
        assert_eq!(
            resolve(too.as_bytes(), false),
            Err(PathError::NotFound("name longer than NAME_MAX"))
        );
        // 41 names of 100 bytes and 40 slashes: 4140 > PATH_MAX.
        let deep = "/".to_owned() + &vec!["b".repeat(100); 41].join("/");
        assert_eq!(resolve(deep.as_bytes(), false), Err(PathError::TooLong));
        // Long raw paths that resolve short are fine.
        let churn = "/a/..".repeat(10_000) + "/x";
        assert_eq!(resolve(churn.as_bytes(), false), ok("x", false));
        let slashes = "/".repeat(100_000) + "x";
        assert_eq!(resolve(slashes.as_bytes(), false), ok("x", false));
    }

    #[test]
    fn statuses() {
        assert_eq!(PathError::Invalid("x").status(), StatusCode::BAD_REQUEST);
        assert_eq!(PathError::NotFound("x").status(), StatusCode::NOT_FOUND);
        assert_eq!(PathError::TooLong.status(), StatusCode::URI_TOO_LONG);
    }

    #[test]
    fn redirect_location() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("/dir", None, "/dir/"),
            ("//evil.example", None, "/evil.example/"),
            ("/a/b", Some("x=1&y=%2F"), "/a/b/?x=1&y=%2F"),
            ("/a%20b/c%3Fd", None, "/a%20b/c%3Fd/"),
            ("/caf%C3%A9", None, "/caf%C3%A9/"),
            ("/a%25b", None, "/a%25b/"),
            ("/x/..", None, "/"),
        ];
        for (raw, q, want) in cases {
            let r = resolve(raw.as_bytes(), false).unwrap();
            assert_eq!(
                dir_redirect_location(&r, q.map(str::as_bytes)),
                *want,
                "{raw}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn never_escapes(raw in "/[a-z./%2eEfF5c\\\\]{0,40}") {
            if let Ok(r) = resolve(raw.as_bytes(), true) {
                for seg in r.rel.split(|&b| b == b'/') {
                    proptest::prop_assert!(seg != b".." && seg != b"." && !seg.contains(&0));
                    proptest::prop_assert!(!seg.is_empty() || r.rel.is_empty());
                }
            }
        }
    }
}
