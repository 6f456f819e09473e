//! Handlers: what the router dispatches to, and how plain functions and
//! closures become handlers.
//!
//! On the request path this is the step after the router: the matched
//! handler gets a [`Request`] and returns anything that is [`IntoResponse`]:
//! a sync handler borrows the request and answers at once; an async one
//! owns it (`Request`) and its future runs as a task on the core's
//! executor. The marker type parameter `M` on [`Handler`] keeps the blanket
//! impls for the closure shapes (`Fn(&Request)`, `Fn(extractors..)`, and
//! async, `impls.rs`) from overlapping, as axum does.

mod body_in;
mod channel;
mod impls;
mod reply;
mod request;
mod response;
mod shapes;

pub(crate) use reply::{Deferred, Pending, Reply};

pub use body_in::{BodyError, RequestBody};
pub(crate) use body_in::{BodyPipe, PipeReader, PipeWriter, PIPE_ROOM};
pub use channel::{BodyClosed, BodySender};
pub(crate) use request::Origin;
pub use request::Request;
pub use response::{AsyncBody, Body, FileRange, IntoResponse, Part, Response};
pub use shapes::{Html, Redirect};

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Method;

/// Something that answers a request; you rarely name it. Implemented for
/// functions and closures of these shapes, returning anything
/// [`IntoResponse`] (or, async, a future of it):
/// - `Fn(&Request)`: a sync handler lent the whole request (body included);
/// - `Fn(E1, .., En)` for up to 8 extractors ([`crate::extract`]): the
///   last may read the body (`Json<T>`, `Form<T>`, `Bytes`, `String`), the
///   others come from the head (`Path<T>`, `Query<T>`, `State<T>`, ...);
/// - the same, async; an async handler may also take the whole `Request`
///   (owned) as its last argument.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a percore handler",
    note = "a handler is `Fn(&Request) -> impl IntoResponse`, or takes up to 8 extractors \
            (`Path<T>`, `Query<T>`, `State<T>`, `Cookies`, `HeaderMap`, `SocketAddr`, and last \
            `Json<T>`, `Form<T>`, `Bytes` or `String`) and returns `impl IntoResponse`, \
            or is async: returns `impl Future<Output = impl IntoResponse>` and may take \
            `Request` (owned) last"
)]
pub trait Handler<M>: 'static {
    /// The handler as the router stores it.
    #[doc(hidden)]
    fn into_boxed(self) -> BoxedHandler;
}

/// Marker for sync handlers lent the request.
#[doc(hidden)]
pub struct WithRequest<R>(std::marker::PhantomData<R>);

impl<F, R> Handler<WithRequest<R>> for F
where
    F: Fn(&Request) -> R + 'static,
    R: IntoResponse,
{
    fn into_boxed(self) -> BoxedHandler {
        BoxedHandler(HandlerKind::Sync(Box::new(move |req| {
            Reply::Ready(self(req).into_response())
        })))
    }
}

pin_project_lite::pin_project! {
    /// An async handler's future as a task: its response goes to the
    /// connection waiting for it. Runs in a slot of its handler's
    /// `FuturePool`, so after warm-up it allocates nothing.
    struct Answering<Fut> {
        #[pin]
        future: Fut,
    }
}

impl<Fut> Future for Answering<Fut>
where
    Fut: Future,
    Fut::Output: IntoResponse,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let response = ready!(self.project().future.poll(cx)).into_response();
        crate::runtime::executor::with_core("an async handler", |core| core.answer(response));
        Poll::Ready(())
    }
}

/// A type-erased handler, as stored in the router (opaque: only the crate
/// looks inside).
#[doc(hidden)]
pub struct BoxedHandler(pub(crate) HandlerKind);

/// A sync or an async handler.
pub(crate) enum HandlerKind {
    /// Borrows the request for the call; the body is whole.
    Sync(Box<dyn Fn(&Request) -> Reply>),
    /// Owns the request and runs as a task; called once the head is
    /// parsed, its body streams in.
    Async(Box<dyn Fn(Request) -> Reply>),
    /// Runs as a task and takes nothing from the request (its body, if
    /// any, is discarded).
    AsyncBare(Box<dyn Fn() -> Reply>),
}

fn boxed<H: Handler<M>, M>(h: H) -> BoxedHandler {
    h.into_boxed()
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

/// Routes requests of every method to `handler` (a proxy, a catch-all);
/// a route of its own for a method wins over it.
pub fn any<H: Handler<M>, M>(handler: H) -> MethodRouter {
    MethodRouter::default().on(crate::router::any_method(), handler)
}

/// Routes requests of `method` to `handler`.
pub fn on<H: Handler<M>, M>(method: Method, handler: H) -> MethodRouter {
    MethodRouter::default().on(method, handler)
}
