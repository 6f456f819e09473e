//! `App`: the routes of one core, built by the factory closure given to
//! [`crate::Server::serve`] on each worker thread, so handlers and their state
//! may be `!Send` (`Rc`, `RefCell`, `Cell`).

use crate::handler::{BoxedHandler, MethodRouter};
use crate::router::{RouteError, Router};

/// A core's routes.
pub struct App {
    pub(crate) router: Router<BoxedHandler>,
    /// The first invalid or conflicting route; reported when the server starts.
    pub(crate) error: Option<RouteError>,
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
        }
    }

    /// Adds the handlers of `methods` at `pattern`: static segments,
    /// `:param` segments and a final `*rest` (see [`crate::router`]).
    /// A bad pattern or a conflict makes the server refuse to start, naming it.
    pub fn route(mut self, pattern: &str, methods: MethodRouter) -> App {
        for (method, handler) in methods.handlers {
            if let Err(e) = self.router.insert(method, pattern, handler) {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// The first route error, if any.
    pub fn error(&self) -> Option<&RouteError> {
        self.error.as_ref()
    }
}
