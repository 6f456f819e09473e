//! `App`: the routes of one core, built by the factory closure given to
//! [`crate::Server::serve`] on each worker thread, so handlers and their state
//! may be `!Send` (`Rc`, `RefCell`, `Cell`).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::rc::Rc;

use crate::error::Error;
use crate::fs::StaticFiles;
use crate::handler::{BoxedHandler, HandlerKind, MethodRouter, Request};
use crate::router::Router;
use http::Method;

/// A core's routes.
pub struct App {
    pub(crate) router: Router<BoxedHandler>,
    /// The first invalid route or unusable mount; reported when the server
    /// starts, and the server does not start.
    pub(crate) error: Option<Error>,
    /// The values `State<T>` extracts, by type.
    states: HashMap<TypeId, Box<dyn Any>>,
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
