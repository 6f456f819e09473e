//! Table-driven tests of the whole router: insert a route table, then check
//! each (method, path) against the expected outcome and params.

use http::Method;
use proptest::prelude::*;

use super::*;

/// Expected outcome of one lookup.
#[derive(Debug)]
enum Want {
    /// The route registered with this value, and these params in order.
    Found(&'static str, &'static [(&'static str, &'static str)]),
    NotFound,
    NotAllowed(&'static str),
}
use Want::*;

fn method(s: &str) -> Method {
    Method::from_bytes(s.as_bytes()).unwrap()
}

fn build(routes: &[(&str, &'static str)]) -> Router<&'static str> {
    let mut router = Router::new();
    for &(route, value) in routes {
        let (m, pattern) = route.split_once(' ').unwrap();
        router
            .insert(method(m), pattern, value)
            .unwrap_or_else(|e| panic!("{route}: {e}"));
    }
    router
}

fn check(router: &Router<&'static str>, cases: &[(&str, Want)]) {
    let mut params = Params::new();
    for (request, want) in cases {
        let (m, path) = request.split_once(' ').unwrap();
        let got = router.lookup(&method(m), path.as_bytes(), &mut params);
        let got_params: Vec<(&str, &str)> = params.iter().collect();
        match (want, got) {
            (Found(v, p), Lookup::Found(g)) => {
                assert_eq!(v, g, "{request}");
                assert_eq!(*p, &got_params[..], "{request}");
                for (name, value) in *p {
                    assert_eq!(params.get(name), Some(*value), "{request}");
                }
                assert_eq!(params.len(), p.len(), "{request}");
            }
            (NotFound, Lookup::NotFound) => assert!(params.is_empty(), "{request}"),
            (NotAllowed(a), Lookup::MethodNotAllowed { allow }) => {
                assert_eq!(*a, allow, "{request}");
                assert!(params.is_empty(), "{request}");
            }
            (want, got) => panic!("{request}: want {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn static_param_rest_precedence_and_backtracking() {
    let router = build(&[
        ("GET /", "root"),
        ("GET /users", "users"),
        ("GET /users/", "users/"),
        ("GET /users/me", "me"),
        ("GET /users/:id", "user"),
        ("GET /users/:id/posts/:post", "post"),
        ("GET /users/*rest", "users-rest"),
        ("GET /a/b", "a/b"),
        ("GET /a/:x/c", "a/:x/c"),
        ("GET /a/*rest", "a-rest"),
        ("GET /static/*path", "static"),
        ("GET /x//y", "x//y"),
    ]);
    check(
        &router,
        &[
            ("GET /", Found("root", &[])),
            ("GET /users", Found("users", &[])),
            ("GET /users/", Found("users/", &[])),
            ("GET /users/me", Found("me", &[])),
            ("GET /users/42", Found("user", &[("id", "42")])),
            (
                "GET /users/me/posts/7",
                Found("post", &[("id", "me"), ("post", "7")]),
            ),
            (
                "GET /users/42/posts",
                Found("users-rest", &[("rest", "42/posts")]),
            ),
            ("GET /users/42/", Found("users-rest", &[("rest", "42/")])),
            // Backtracking: static "b" has no child "c", so ":x" takes it.
            ("GET /a/b", Found("a/b", &[])),
            ("GET /a/b/c", Found("a/:x/c", &[("x", "b")])),
            ("GET /a/z/c", Found("a/:x/c", &[("x", "z")])),
            // ... and when ":x" dead-ends too, "*rest" takes it.
            ("GET /a/b/d", Found("a-rest", &[("rest", "b/d")])),
            ("GET /a/b/c/", Found("a-rest", &[("rest", "b/c/")])),
            ("GET /a", NotFound),
            // Rest with empty remainder; without the slash it does not match.
            ("GET /static/", Found("static", &[("path", "")])),
            ("GET /static", NotFound),
            (
                "GET /static/css/site.css",
                Found("static", &[("path", "css/site.css")]),
            ),
            ("GET /static//x", Found("static", &[("path", "/x")])),
            // Empty segments only match empty static segments.
            ("GET /x//y", Found("x//y", &[])),
            ("GET /x/y", NotFound),
            ("GET //", NotFound),
            (
                "GET /users//posts/1",
                Found("users-rest", &[("rest", "/posts/1")]),
            ),
            ("GET /nope", NotFound),
            ("GET ", NotFound),
            ("GET *", NotFound),
            ("GET users", NotFound),
        ],
    );
}

#[test]
fn trailing_slash_and_root() {
    let router = build(&[("GET /a", "a"), ("GET /b/", "b/"), ("GET /:p", "p")]);
    check(
        &router,
        &[
            ("GET /a", Found("a", &[])),
            ("GET /a/", NotFound),
            ("GET /b/", Found("b/", &[])),
            ("GET /b", Found("p", &[("p", "b")])),
            // "/" is one empty segment: no param can take it.
            ("GET /", NotFound),
        ],
    );
    let router = build(&[("GET /*all", "all")]);
    check(
        &router,
        &[
            ("GET /", Found("all", &[("all", "")])),
            ("GET /a/b/", Found("all", &[("all", "a/b/")])),
        ],
    );
}

#[test]
fn methods_head_fallback_and_405() {
    let router = build(&[
        ("GET /r", "get"),
        ("POST /r", "post"),
        ("DELETE /r", "delete"),
        ("HEAD /h", "head-h"),
        ("GET /h", "get-h"),
        ("POST /p", "post-p"),
        ("PURGE /cache/:key", "purge"),
        ("GET /cache/:key", "cache"),
        ("BREW /pot", "brew"),
        ("GET /a/b", "a/b"),
        ("POST /a/:x", "post-a"),
    ]);
    check(
        &router,
        &[
            ("GET /r", Found("get", &[])),
            ("HEAD /r", Found("get", &[])),
            ("POST /r", Found("post", &[])),
            ("PUT /r", NotAllowed("GET, HEAD, POST, DELETE")),
            ("OPTIONS /r", NotAllowed("GET, HEAD, POST, DELETE")),
            ("HEAD /h", Found("head-h", &[])),
            ("GET /h", Found("get-h", &[])),
            ("HEAD /p", NotAllowed("POST")),
            ("GET /p", NotAllowed("POST")),
            ("PURGE /cache/k1", Found("purge", &[("key", "k1")])),
            ("HEAD /cache/k1", Found("cache", &[("key", "k1")])),
            ("DELETE /cache/k1", NotAllowed("GET, HEAD, PURGE")),
            ("BREW /pot", Found("brew", &[])),
            ("GET /pot", NotAllowed("BREW")),
            ("GET /missing", NotFound),
            // The path picks "/a/b" first; its methods decide.
            ("POST /a/b", NotAllowed("GET, HEAD")),
            ("POST /a/c", Found("post-a", &[("x", "c")])),
            ("GET /a/c", NotAllowed("POST")),
        ],
    );
}

#[test]
fn capture_names_are_per_route() {
    let router = build(&[("GET /a/:x", "get"), ("POST /a/:y", "post")]);
    check(
        &router,
        &[
            ("GET /a/1", Found("get", &[("x", "1")])),
            ("POST /a/1", Found("post", &[("y", "1")])),
        ],
    );
}

#[test]
fn percent_decoded_params() {
    let router = build(&[
        ("GET /u/:name", "u"),
        ("GET /u/:name/x", "u/x"),
        ("GET /f/*path", "f"),
        ("GET /caf%C3%A9", "cafe"),
        ("GET /v/:bad", "v"),
        ("GET /v/*fallback", "v-rest"),
    ]);
    check(
        &router,
        &[
            ("GET /u/John%20Doe", Found("u", &[("name", "John Doe")])),
            ("GET /u/a%2Fb", Found("u", &[("name", "a/b")])),
            ("GET /u/a%2Fb/x", Found("u/x", &[("name", "a/b")])),
            ("GET /u/caf%C3%A9", Found("u", &[("name", "café")])),
            ("GET /u/100%", Found("u", &[("name", "100%")])),
            ("GET /u/%zz", Found("u", &[("name", "%zz")])),
            ("GET /u/a+b", Found("u", &[("name", "a+b")])),
            // Invalid UTF-8 after decoding: the route does not match.
            ("GET /u/%FF", NotFound),
            ("GET /u/%C3/x", NotFound),
            ("GET /f/a%20b/%FF", NotFound),
            ("GET /f/a%20b/c%2Fd", Found("f", &[("path", "a b/c/d")])),
            // Every candidate that captures the bad bytes fails.
            ("GET /v/%FF", NotFound),
            ("GET /v/ok", Found("v", &[("bad", "ok")])),
            // Static segments compare raw bytes.
            ("GET /caf%C3%A9", Found("cafe", &[])),
            ("GET /caf%c3%a9", NotFound),
        ],
    );
    // Non-UTF-8 raw bytes (obs-text) in a path are handled the same way.
    let mut params = Params::new();
    assert_eq!(
        router.lookup(&Method::GET, b"/u/\xff", &mut params),
        Lookup::NotFound
    );
}

#[test]
fn params_are_reset_between_lookups() {
    let router = build(&[("GET /u/:id", "u"), ("GET /plain", "plain")]);
    let mut params = Params::new();
    assert_eq!(
        router.lookup(&Method::GET, b"/u/1", &mut params),
        Lookup::Found(&"u")
    );
    assert_eq!(params.get("id"), Some("1"));
    assert_eq!(
        router.lookup(&Method::GET, b"/plain", &mut params),
        Lookup::Found(&"plain")
    );
    assert!(params.is_empty());
    router.lookup(&Method::GET, b"/u/2", &mut params);
    assert_eq!(
        router.lookup(&Method::POST, b"/u/2", &mut params),
        Lookup::MethodNotAllowed { allow: "GET, HEAD" }
    );
    assert!(params.is_empty());
}

#[test]
fn invalid_patterns_and_conflicts() {
    let mut router = build(&[
        ("GET /a/:x", "a"),
        ("GET /s/*rest", "s"),
        ("GET /p", "p"),
        ("PURGE /p", "purge"),
    ]);
    let table: &[(&str, ErrorKind, &str)] = &[
        (
            "GET a",
            ErrorKind::MissingLeadingSlash,
            "must start with '/'",
        ),
        (
            "GET ",
            ErrorKind::MissingLeadingSlash,
            "must start with '/'",
        ),
        ("GET /u/:", ErrorKind::EmptyParamName, "without a name"),
        ("GET /u/*", ErrorKind::EmptyParamName, "without a name"),
        ("GET /u/*r/x", ErrorKind::RestNotLast, "must be the last"),
        (
            "GET /u/:a/:a",
            ErrorKind::DuplicateParamName("a".into()),
            "\"a\" used twice",
        ),
        (
            "GET /a/:y",
            ErrorKind::Conflict {
                method: Method::GET,
                existing: "/a/:x".into(),
            },
            "route conflict: GET \"/a/:y\" is equivalent to GET \"/a/:x\"",
        ),
        (
            "GET /s/*other",
            ErrorKind::Conflict {
                method: Method::GET,
                existing: "/s/*rest".into(),
            },
            "equivalent",
        ),
        (
            "PURGE /p",
            ErrorKind::Conflict {
                method: method("PURGE"),
                existing: "/p".into(),
            },
            "PURGE \"/p\"",
        ),
    ];
    for (route, kind, message) in table {
        let (m, pattern) = route.split_once(' ').unwrap();
        let err = router.insert(method(m), pattern, "x").expect_err(route);
        assert_eq!(err.kind(), kind, "{route}");
        assert_eq!(err.pattern(), pattern);
        let text = err.to_string();
        assert!(text.contains(message), "{route}: {text}");
        assert!(text.contains(&format!("{pattern:?}")), "{route}: {text}");
    }
    // Same shape, other method; and a param next to a rest: not conflicts.
    router.insert(Method::POST, "/a/:y", "post").unwrap();
    router.insert(Method::GET, "/s/:one", "one").unwrap();
    router.insert(Method::HEAD, "/p", "head").unwrap();
    assert_eq!(router.len(), 7);
    // The failed inserts left the router working.
    check(
        &router,
        &[
            ("GET /a/1", Found("a", &[("x", "1")])),
            ("POST /a/1", Found("post", &[("y", "1")])),
            ("GET /s/1", Found("one", &[("one", "1")])),
            ("GET /s/1/2", Found("s", &[("rest", "1/2")])),
            ("HEAD /p", Found("head", &[])),
            ("PUT /p", NotAllowed("GET, HEAD, PURGE")),
        ],
    );
}

/// One static segment: short, from a tiny alphabet so routes share
/// prefixes, sometimes empty, sometimes percent-encoded.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[ab]{1,2}",
        1 => Just(String::new()),
        1 => Just("%20".to_string()),
    ]
}

proptest! {
    /// Any path spelled exactly like a registered static route finds that
    /// route, even with `:param` and `*rest` routes competing at every level.
    #[test]
    fn static_routes_find_themselves(
        routes in proptest::collection::vec(proptest::collection::vec(segment(), 1..5), 1..20),
    ) {
        let mut router: Router<String> = Router::new();
        let mut patterns = Vec::new();
        for segments in &routes {
            let pattern = format!("/{}", segments.join("/"));
            if !patterns.contains(&pattern) {
                router.insert(Method::GET, &pattern, pattern.clone()).unwrap();
                patterns.push(pattern);
            }
        }
        for noise in ["/:a", "/:a/:b", "/a/:b/:c", "/*all", "/a/*rest", "/b/:x/*rest"] {
            router.insert(Method::GET, noise, noise.to_string()).unwrap();
        }
        let mut params = Params::new();
        for pattern in &patterns {
            let got = router.lookup(&Method::GET, pattern.as_bytes(), &mut params);
            prop_assert_eq!(got, Lookup::Found(pattern));
            prop_assert!(params.is_empty());
            let got = router.lookup(&Method::POST, pattern.as_bytes(), &mut params);
            prop_assert_eq!(got, Lookup::MethodNotAllowed { allow: "GET, HEAD" });
        }
    }

    /// A param value survives percent-encoding: encode any non-empty string,
    /// look it up, get it back decoded.
    #[test]
    fn param_round_trips_through_percent_encoding(value in "\\PC{1,12}") {
        use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
        let mut router = Router::new();
        router.insert(Method::GET, "/u/:v/end", ()).unwrap();
        let path = format!("/u/{}/end", utf8_percent_encode(&value, NON_ALPHANUMERIC));
        let mut params = Params::new();
        prop_assert_eq!(router.lookup(&Method::GET, path.as_bytes(), &mut params), Lookup::Found(&()));
        prop_assert_eq!(params.get("v"), Some(value.as_str()));
    }
}
