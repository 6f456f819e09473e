//! Handlers: what the router dispatches to, and how plain functions and
//! closures become handlers.
//!
//! On the request path this is the step after the router: the matched
//! handler gets a borrowed [`Request`] and returns anything that is
//! [`IntoResponse`]. The marker type parameter `M` on [`Handler`] keeps the
//! blanket impls for different closure shapes (`Fn(&Request)`, `Fn()`, and
//! async handlers later) from overlapping, as axum does.

mod reply;
mod request;
mod response;

pub(crate) use reply::{Pending, Reply};
pub use request::Request;
pub use response::{Body, FileRange, IntoResponse, Part, Response};

use http::Method;

/// Something that answers a request. Implemented for `Fn(&Request) -> R` and
/// `Fn() -> R` where `R: IntoResponse`; you rarely name it.
pub trait Handler<M>: 'static {
    /// Runs the handler.
    fn call(&self, req: &Request<'_>) -> Response;
}

/// Marker for handlers taking the request.
#[doc(hidden)]
pub struct WithRequest<R>(std::marker::PhantomData<R>);
/// Marker for handlers taking nothing.
#[doc(hidden)]
pub struct WithoutRequest<R>(std::marker::PhantomData<R>);

impl<F, R> Handler<WithRequest<R>> for F
where
    F: Fn(&Request<'_>) -> R + 'static,
    R: IntoResponse,
{
    fn call(&self, req: &Request<'_>) -> Response {
        self(req).into_response()
    }
}

impl<F, R> Handler<WithoutRequest<R>> for F
where
    F: Fn() -> R + 'static,
    R: IntoResponse,
{
    fn call(&self, _req: &Request<'_>) -> Response {
        self().into_response()
    }
}

/// A type-erased handler, as stored in the router.
pub(crate) type BoxedHandler = Box<dyn Fn(&Request<'_>) -> Reply>;

fn boxed<H: Handler<M>, M>(h: H) -> BoxedHandler {
    Box::new(move |req: &Request<'_>| Reply::Ready(h.call(req)))
}

/// The handlers of one path, by method. Made with [`get`], [`post`] ... and
/// chained: `get(list).post(create)`.
#[derive(Default)]
pub struct MethodRouter {
    pub(crate) handlers: Vec<(Method, BoxedHandler)>,
}

macro_rules! method_fns {
    ($($name:ident => $method:ident),* $(,)?) => {
        $(
            #[doc = concat!("Routes `", stringify!($method), "` requests to `handler`.")]
            pub fn $name<H: Handler<M>, M>(handler: H) -> MethodRouter {
                MethodRouter::default().$name(handler)
            }
        )*
        impl MethodRouter {
            $(
                #[doc = concat!("Adds a `", stringify!($method), "` handler.")]
                pub fn $name<H: Handler<M>, M>(self, handler: H) -> MethodRouter {
                    self.on(Method::$method, handler)
                }
            )*
        }
    };
}

method_fns! {
    get => GET,
    post => POST,
    put => PUT,
    delete => DELETE,
    patch => PATCH,
    head => HEAD,
    options => OPTIONS,
}

impl MethodRouter {
    /// Adds a handler for any method, including extension methods.
    pub fn on<H: Handler<M>, M>(mut self, method: Method, handler: H) -> MethodRouter {
        self.handlers.push((method, boxed(handler)));
        self
    }

    /// Adds a crate-internal handler that may answer later ([`Reply::Pending`]).
    pub(crate) fn on_reply(mut self, method: Method, handler: BoxedHandler) -> MethodRouter {
        self.handlers.push((method, handler));
        self
    }
}

/// Routes requests of `method` to `handler`.
pub fn on<H: Handler<M>, M>(method: Method, handler: H) -> MethodRouter {
    MethodRouter::default().on(method, handler)
}
