//! `App`: the routes of one core, built by the factory closure given to
//! [`crate::Server::serve`] on each worker thread, so handlers and their state
//! may be `!Send` (`Rc`, `RefCell`, `Cell`).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::rc::Rc;

use crate::error::Error;
use crate::fs::StaticFiles;
use crate::handler::{
    BoxedHandler, Handler, HandlerKind, IntoResponse, MethodRouter, Request, Response,
};
use crate::middleware::{Layer, Layers, Middleware};
use crate::router::{Lookup, Router};
use http::{Method, StatusCode};

/// A core's routes.
pub struct App {
    pub(crate) router: Router<BoxedHandler>,
    /// The first invalid route or unusable mount; reported when the server
    /// starts, and the server does not start.
    pub(crate) error: Option<Error>,
    /// The values `State<T>` extracts, by type.
    states: HashMap<TypeId, Box<dyn Any>>,
    /// Handlers for paths no route matches, by path prefix (`""` for the
    /// whole app), longest first.
    fallbacks: Vec<(String, BoxedHandler)>,
    /// Formats the framework's errors (see [`App::error_page`]).
    pub(crate) error_page: Option<ErrorPage>,
    /// Middleware around the whole app, outermost first.
    pub(crate) layers: Vec<Rc<dyn Layer>>,
    /// The `Allow` of `OPTIONS *`, made on first use.
    options_allow: std::cell::OnceCell<http::HeaderValue>,
}

/// An app's error page: the status and the message, to a response.
pub(crate) type ErrorPage = Rc<dyn Fn(StatusCode, &str) -> Response>;

/// What answers a request's method and path.
pub(crate) enum Resolved<'a> {
    /// A route, or a fallback.
    Handler(&'a BoxedHandler),
    /// The path has routes, not for this method.
    MethodNotAllowed {
        allow: &'a str,
    },
    NotFound,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// An app with no routes: every request gets 404.
    pub fn new() -> App {
        App {
            router: Router::new(),
            error: None,
            states: HashMap::new(),
            fallbacks: Vec::new(),
            error_page: None,
            options_allow: std::cell::OnceCell::new(),
            layers: Vec::new(),
        }
    }

    /// Adds the handlers of `methods` at `pattern`: static segments,
    /// `:param` segments and a final `*rest` (see [`crate::router`]).
    /// A bad pattern or a conflict makes the server refuse to start, naming it.
    pub fn route(mut self, pattern: &str, methods: MethodRouter) -> App {
        for (method, handler) in methods.handlers {
            if let Err(e) = self.router.insert(method, pattern, handler) {
                self.error.get_or_insert(Error::Route(e));
            }
        }
        self
    }

    /// Serves the files of `files` under `prefix` (`"/"` for the whole
    /// site): `App::new().mount("/assets", StaticFiles::new("./public"))`.
    /// GET and HEAD; other methods get 405 with `Allow: GET, HEAD`.
    pub fn mount(mut self, prefix: &str, files: StaticFiles) -> App {
        let prefix = prefix.trim_end_matches('/');
        let root = files.root().display().to_string();
        let core = match files.for_core(prefix.len()) {
            Ok(core) => Rc::new(core),
            Err(e) => {
                self.error
                    .get_or_insert(Error::Io(format!("cannot serve files from {root}"), e));
                return self;
            }
        };
        let handler = |core: Rc<crate::fs::CoreFiles>| -> BoxedHandler {
            BoxedHandler(HandlerKind::Sync(Box::new(move |req: &Request| {
                core.serve(req)
            })))
        };
        let files = |core| MethodRouter::default().on_reply(Method::GET, handler(core));
        if prefix.is_empty() {
            return self.route("/*path", files(core));
        }
        self.route(prefix, files(core.clone()))
            .route(&format!("{prefix}/*path"), files(core))
    }

    /// Answers the paths no route matches with `handler` (any handler
    /// shape) instead of 404. A path that has routes, but not for the
    /// request's method, still gets 405.
    pub fn fallback<H: Handler<M>, M>(mut self, handler: H) -> App {
        self.add_fallback(String::new(), handler.into_boxed());
        self
    }

    /// Formats every error the framework makes (404, 405, 413, 408, 400 for
    /// a request it cannot parse, an extractor's rejection, a body error,
    /// 500 for a panic ...) and every [`Response::error`]: `page(status,
    /// message)` gives the response, whose status is then set to `status`
    /// and whose extra headers (`Allow` on a 405) are kept.
    /// `App::new().error_page(|status, msg| Json(json!({"error": msg})))`.
    pub fn error_page<F, R>(mut self, page: F) -> App
    where
        F: Fn(StatusCode, &str) -> R + 'static,
        R: IntoResponse,
    {
        self.error_page = Some(Rc::new(move |status, msg| {
            page(status, msg).into_response()
        }));
        self
    }

    /// Mounts `app`'s routes under `prefix` (`"/api"`: its `"/todos"` answers
    /// `"/api/todos"`, its `"/"` answers `"/api"`), with its fallback for the
    /// paths under `prefix`. Its states are its own: its handlers find them
    /// first, then the outer app's; the outer app's handlers do not see them.
    /// The outer app's error page covers it.
    pub fn nest(mut self, prefix: &str, app: App) -> App {
        let prefix = prefix.trim_end_matches('/');
        if !prefix.starts_with('/') {
            self.error
                .get_or_insert(Error::Route(crate::router::RouteError::new_prefix(prefix)));
            return self;
        }
        let App {
            router,
            error,
            states,
            fallbacks,
            error_page: _,
            layers,
            options_allow: _,
        } = app;
        // Its own middleware wraps its handlers (inside the outer app's),
        // and they find its states before the outer app's.
        let layers: Layers = layers.into();
        let states: Option<crate::extract::state::States> =
            (!states.is_empty()).then(|| Rc::new(states));
        let wrapped = |h: BoxedHandler| {
            let h = if layers.is_empty() {
                h
            } else {
                crate::middleware::wrap(h, layers.clone())
            };
            match &states {
                Some(s) => crate::extract::state::scope(h, s.clone()),
                None => h,
            }
        };
        if let Some(e) = error {
            self.error.get_or_insert(e);
        }
        for (method, pattern, handler) in router.into_routes() {
            let full = match &*pattern {
                "/" => prefix.to_string(),
                p => format!("{prefix}{p}"),
            };
            if let Err(e) = self.router.insert(method, &full, wrapped(handler)) {
                self.error.get_or_insert(Error::Route(e));
            }
        }
        for (inner, handler) in fallbacks {
            self.add_fallback(format!("{prefix}{inner}"), wrapped(handler));
        }
        self
    }

    fn add_fallback(&mut self, prefix: String, handler: BoxedHandler) {
        self.fallbacks.retain(|(p, _)| *p != prefix);
        self.fallbacks.push((prefix, handler));
        self.fallbacks.sort_by_key(|f| std::cmp::Reverse(f.0.len()));
    }

    /// What `OPTIONS *` answers in `Allow`: the methods the app's routes
    /// serve (HEAD with GET, and OPTIONS); a route or fallback that takes
    /// any method makes it the common ones.
    pub(crate) fn options_allow(&self) -> &http::HeaderValue {
        self.options_allow.get_or_init(|| {
            const ORDER: [Method; 6] = [
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::PATCH,
            ];
            let routed = self.router.methods();
            let any = !self.fallbacks.is_empty()
                || routed.iter().any(|m| *m == crate::router::any_method());
            let served = |m: &Method| {
                any || routed.contains(m) || (*m == Method::HEAD && routed.contains(&Method::GET))
            };
            let mut allow: Vec<&str> = ORDER
                .iter()
                .filter(|m| served(m))
                .map(Method::as_str)
                .collect();
            let others = routed.iter().filter(|m| {
                !ORDER.contains(m) && **m != Method::OPTIONS && **m != crate::router::any_method()
            });
            allow.extend(others.map(Method::as_str));
            allow.push("OPTIONS");
            http::HeaderValue::from_str(&allow.join(", "))
                .unwrap_or(http::HeaderValue::from_static("OPTIONS"))
        })
    }

    /// The handler for `method` and `path` (a route, or the fallback of the
    /// longest prefix that holds `path`); `params` gets a route's captures.
    pub(crate) fn resolve<'a>(
        &'a self,
        method: &Method,
        path: &[u8],
        params: &mut crate::router::Params,
    ) -> Resolved<'a> {
        match self.router.lookup(method, path, params) {
            Lookup::Found(h) => Resolved::Handler(h),
            Lookup::MethodNotAllowed { allow } => Resolved::MethodNotAllowed { allow },
            Lookup::NotFound => {
                let under = |prefix: &str| {
                    let p = prefix.as_bytes();
                    path.starts_with(p) && (path.len() == p.len() || path[p.len()] == b'/')
                };
                match self.fallbacks.iter().find(|(prefix, _)| under(prefix)) {
                    Some((_, h)) => Resolved::Handler(h),
                    None => Resolved::NotFound,
                }
            }
        }
    }

    /// Adds a middleware around the whole app: every route and fallback,
    /// and the framework's 404 and 405 (see [`crate::middleware`]). The
    /// first added is the outermost.
    pub fn layer<M: Middleware>(mut self, middleware: M) -> App {
        self.layers.push(Rc::new(middleware));
        self
    }

    /// Wraps every handler in the app's middleware (once, as the app starts
    /// serving).
    pub(crate) fn finish(&mut self) {
        if self.layers.is_empty() {
            return;
        }
        let layers: Layers = self.layers.clone().into();
        let router = std::mem::take(&mut self.router);
        for (method, pattern, handler) in router.into_routes() {
            let wrapped = crate::middleware::wrap(handler, layers.clone());
            if let Err(e) = self.router.insert(method, &pattern, wrapped) {
                self.error.get_or_insert(Error::Route(e));
            }
        }
        self.fallbacks = std::mem::take(&mut self.fallbacks)
            .into_iter()
            .map(|(prefix, h)| (prefix, crate::middleware::wrap(h, layers.clone())))
            .collect();
    }

    /// Adds a state its handlers extract with `State<T>` (a clone per
    /// request: make `T` an `Rc` or `Arc`, or a small `Copy` value). One per
    /// type; a second of the same type replaces the first. See
    /// [`crate::extract::State`] for per-core against shared state.
    pub fn with_state<T: Clone + 'static>(mut self, state: T) -> App {
        self.states.insert(TypeId::of::<T>(), Box::new(state));
        self
    }

    /// The states, for the thread that runs this app's handlers.
    pub(crate) fn states(&mut self) -> crate::extract::state::States {
        Rc::new(std::mem::take(&mut self.states))
    }

    /// The first route or mount error, if any.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }
}
