//! Fuzz `percore::router::Router::lookup` on a fixed table of static, `:param`
//! and `*rest` routes with an arbitrary method and raw path. Checks:
//!
//! 1. it never panics;
//! 2. `Found(pattern)`: `pattern` really matches the path (checked by the
//!    simple matcher below, which follows the module's matching rules), the
//!    params are that route's names with the values the matcher decoded, so
//!    each value is valid UTF-8 and part of the path's decoded form;
//! 3. `NotFound` only if no pattern matches the path at all (the tree
//!    backtracks, so it must find any match there is);
//! 4. `MethodNotAllowed`: `Allow` does not list the method (nor GET for HEAD),
//!    and some pattern matches the path; params are empty unless `Found`;
//! 5. a `Params` reused from the previous lookup gives the same result.
#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode;
use percore::router::{Lookup, Params, Router};

/// (method, pattern). Same shape under other names on purpose: `/users/:uid`
/// for POST, `/users/:id` for GET.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/users"),
    ("GET", "/users/"),
    ("GET", "/users/me"),
    ("GET", "/users/:id"),
    ("POST", "/users/:uid"),
    ("GET", "/users/:id/posts/:post"),
    ("GET", "/users/*rest"),
    ("GET", "/a/b"),
    ("GET", "/a/:x/c"),
    ("GET", "/a/*rest"),
    ("GET", "/static/*path"),
    ("GET", "/x//y"),
    ("PUT", "/caf%C3%A9"),
    ("GET", "/:lang/docs/*page"),
    ("DELETE", "/:a/:b/:c"),
    ("PURGE", "/cache/*key"),
    ("HEAD", "/h"),
];

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PURGE", "PATCH", "OPTIONS",
];

thread_local! {
    static ROUTER: Router<&'static str> = {
        let mut r = Router::new();
        for &(m, p) in ROUTES {
            r.insert(Method::from_bytes(m.as_bytes()).unwrap(), p, p).unwrap();
        }
        r
    };
}

// `Params` is not `Send`; one per fuzzing thread, reused like a connection's.
thread_local! {
    static REUSED: std::cell::RefCell<Params> = Default::default();
}

fuzz_target!(|data: &[u8]| {
    let Some((&m, path)) = data.split_first() else {
        return;
    };
    let method = Method::from_bytes(METHODS[usize::from(m) % METHODS.len()].as_bytes()).unwrap();
    ROUTER.with(|router| {
        let mut params = Params::new();
        let got = router.lookup(&method, path, &mut params);
        let got_params: Vec<(String, String)> = params
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        let any_match = ROUTES.iter().any(|(_, p)| matches(p, path).is_some());
        match got {
            Lookup::Found(pattern) => {
                let values = matches(pattern, path).expect("Found a pattern that does not match");
                let names = capture_names(pattern);
                let want: Vec<(String, String)> =
                    names.into_iter().map(str::to_owned).zip(values).collect();
                assert_eq!(got_params, want, "params of {pattern}");
                let decoded: Vec<u8> = percent_decode(path).collect();
                for (_, v) in &got_params {
                    assert!(
                        contains(&decoded, v.as_bytes()),
                        "{v:?} not in decoded path"
                    );
                }
            }
            Lookup::NotFound => assert!(!any_match, "NotFound but a pattern matches"),
            Lookup::MethodNotAllowed { allow } => {
                assert!(any_match, "MethodNotAllowed but no pattern matches");
                let listed: Vec<&str> = allow.split(", ").collect();
                assert!(
                    !listed.contains(&method.as_str()),
                    "{method} in Allow: {allow}"
                );
                assert!(
                    method != Method::HEAD || !listed.contains(&"GET"),
                    "Allow: {allow}"
                );
            }
        }
        if !matches!(got, Lookup::Found(_)) {
            assert!(params.is_empty());
        }

        // 5. A Params dirty from the previous input gives the same answer.
        REUSED.with(|reused| {
            let mut reused = reused.borrow_mut();
            assert_eq!(router.lookup(&method, path, &mut reused), got);
            let again: Vec<(String, String)> = reused
                .iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            assert_eq!(again, got_params);
        });
    });
});

/// The decoded captures if `pattern` matches the raw `path` (module rules:
/// split on '/' before decoding; static segments compare raw; `:x` takes one
/// non-empty segment; `*x` the rest; every capture must decode to UTF-8).
fn matches(pattern: &str, path: &[u8]) -> Option<Vec<String>> {
    let mut rest = path.strip_prefix(b"/")?;
    let mut values = Vec::new();
    let decode = |raw: &[u8]| String::from_utf8(percent_decode(raw).collect()).ok();
    let mut segments = pattern[1..].split('/').peekable();
    while let Some(seg) = segments.next() {
        if seg.starts_with('*') {
            values.push(decode(rest)?);
            return Some(values);
        }
        let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
        let (part, tail) = rest.split_at(end);
        if seg.starts_with(':') {
            if part.is_empty() {
                return None;
            }
            values.push(decode(part)?);
        } else if part != seg.as_bytes() {
            return None;
        }
        match (segments.peek(), tail) {
            (Some(_), [b'/', after @ ..]) => rest = after,
            (None, []) => return Some(values),
            _ => return None,
        }
    }
    unreachable!("a pattern has at least one segment")
}

fn capture_names(pattern: &str) -> Vec<&str> {
    pattern[1..]
        .split('/')
        .filter(|s| s.starts_with(':') || s.starts_with('*'))
        .map(|s| &s[1..])
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}
