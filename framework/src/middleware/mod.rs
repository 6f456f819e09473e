//! Middleware: layers around the handlers, as a pair of hooks.
//!
//! On the request path a layer sits between the router and the handler:
//! `before` sees the request's head and may answer instead of the handler
//! (a refused login, a CORS preflight); `after` sees every response on its
//! way out (the handler's, an extractor's rejection, the framework's own 404
//! and 405) and may change it. `before` keeps what `after` needs in a memo
//! (an id, a start time, the request's Origin). Layers added with
//! `App::layer` wrap the whole app, 404s included; layers of an app given to
//! `App::nest` wrap only its routes. The first layer added is the outermost.
//!
//! Why hooks and not `async fn(req, next)`: the sync fast path stays a
//! plain call, and a layer costs nothing when it is not used. What hooks
//! cannot do (time out a handler) is a layer of its own kind: [`Timeout`].
//!
//! Layers also see the framework's refusals of a request whose head is
//! whole: 404 and 405 (before a `100 Continue` too), 413 for a declared or
//! chunked body over `max_body`, 400 for a missing Host, conflicting framing
//! fields or a chunked body that breaks its framing, 417 for an unknown
//! expectation, 501 for an unknown transfer coding, and the 500 of a
//! handler that panicked, sync or async (the connection closes after those). Not seen: a request the codec refuses
//! before its head is whole (bad syntax, a head over the limits, a
//! timeout): there is no request to show them; the app's error page still
//! formats the answer.
//!
//! Built in: [`RequestId`], [`AccessLog`] (with the time taken), [`Cors`],
//! [`Compression`] (gzip, brotli), [`Auth`] (bearer, basic), [`Timeout`].

// A refusal is the response itself, made once on a rare path; boxing it
// would put a box in every middleware's signature for nothing.
#![allow(clippy::result_large_err)]

mod access_log;
mod auth;
mod compression;
mod cors;
mod request_id;
mod timeout;

pub use access_log::AccessLog;
pub use auth::{Auth, Credentials};
pub use compression::{Coding, Compression};
pub use cors::Cors;
pub use request_id::RequestId;
pub use timeout::Timeout;

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::handler::{Request, Response};
use crate::runtime::executor::{panic_message, with_core, BoxFuture};

/// A layer around handlers (see the module docs).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a percore middleware",
    note = "implement `before(&self, &Request) -> Result<Memo, Response>` and \
            `after(&self, Memo, Response) -> Response`"
)]
pub trait Middleware: 'static {
    /// What `after` needs to remember of the request.
    type Memo: 'static;

    /// Before the handler: `Err(response)` answers instead of it (the
    /// layers outside this one still see that response in `after`). The
    /// request's body is not read yet: only its head is meant for this.
    fn before(&self, req: &Request) -> Result<Self::Memo, Response>;

    /// After: every response of a request `before` let through.
    fn after(&self, memo: Self::Memo, response: Response) -> Response;

    /// How long a handler may take (only [`Timeout`] sets it).
    #[doc(hidden)]
    fn time_limit(&self) -> Option<std::time::Duration> {
        None
    }
}

/// A middleware with its memo type erased, as an app holds it.
pub(crate) trait Layer {
    fn before(&self, req: &Request) -> Result<Box<dyn Any>, Response>;
    fn after(&self, memo: Box<dyn Any>, response: Response) -> Response;
    fn time_limit(&self) -> Option<std::time::Duration>;
}

impl<M: Middleware> Layer for M {
    fn before(&self, req: &Request) -> Result<Box<dyn Any>, Response> {
        // A zero-sized memo (most) is boxed without allocating.
        Middleware::before(self, req).map(|m| Box::new(m) as Box<dyn Any>)
    }

    fn after(&self, memo: Box<dyn Any>, response: Response) -> Response {
        match memo.downcast::<M::Memo>() {
            Ok(memo) => Middleware::after(self, *memo, response),
            Err(_) => response,
        }
    }

    fn time_limit(&self) -> Option<std::time::Duration> {
        Middleware::time_limit(self)
    }
}

/// Layers, outermost first.
pub(crate) type Layers = Rc<[Rc<dyn Layer>]>;

/// The memos of the layers a request went through, in order.
pub(crate) type Memos = Vec<Box<dyn Any>>;

/// Runs the `before` hooks in order. On a refusal, the response has been
/// through the `after` hooks of the layers already passed.
pub(crate) fn before(layers: &[Rc<dyn Layer>], req: &Request) -> Result<Memos, Response> {
    let mut memos = Vec::with_capacity(layers.len());
    for layer in layers {
        match layer.before(req) {
            Ok(memo) => memos.push(memo),
            Err(response) => return Err(after(layers, memos, response)),
        }
    }
    Ok(memos)
}

/// Runs the `after` hooks of the layers that have memos, innermost first.
pub(crate) fn after(layers: &[Rc<dyn Layer>], memos: Memos, mut response: Response) -> Response {
    for (layer, memo) in layers.iter().zip(memos).rev() {
        response = layer.after(memo, response);
    }
    response
}

/// The shortest time limit of the layers, if any sets one.
pub(crate) fn time_limit(layers: &[Rc<dyn Layer>]) -> Option<std::time::Duration> {
    layers.iter().filter_map(|l| l.time_limit()).min()
}

pin_project_lite::pin_project! {
    /// A handler task whose answer goes through the `after` hooks (and,
    /// with a time limit, is replaced by a 504 if it comes too late).
    pub(crate) struct Layered {
        task: BoxFuture,
        memos: Option<Memos>,
        layers: Layers,
        #[pin]
        deadline: Option<crate::time::Sleep>,
    }
}

impl Layered {
    pub(crate) fn new(task: BoxFuture, memos: Memos, layers: Layers) -> Layered {
        let deadline = time_limit(&layers).map(crate::time::sleep);
        Layered {
            task,
            memos: Some(memos),
            layers,
            deadline,
        }
    }
}

impl Future for Layered {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let timed_out = match this.deadline.as_mut().as_pin_mut() {
            Some(d) => d.poll(cx).is_ready(),
            None => false,
        };
        if timed_out {
            // The handler is dropped (its operations cancelled) and the
            // client gets 504, through the after hooks.
            let memos = this.memos.take().unwrap_or_default();
            let r = Response::error(
                http::StatusCode::GATEWAY_TIMEOUT,
                "the handler took too long",
            );
            let r = after(this.layers, memos, r);
            with_core("a middleware", |core| core.answer(r));
            return Poll::Ready(());
        }
        // A panic is caught here, so that the 500 goes through the layers
        // (a CORS header on it lets a browser read it); the connection
        // still closes after it.
        let task = &mut *this.task;
        match catch_unwind(AssertUnwindSafe(|| task.as_mut().poll_task(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(())) => {}
            Err(panic) => {
                tracing::error!("handler panicked: {}", panic_message(&panic));
                let memos = this.memos.take().unwrap_or_default();
                let r = Response::static_error(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "500 Internal Server Error\n",
                );
                let mut r = after(this.layers, memos, r);
                r.close = true;
                with_core("a middleware", |core| core.answer(r));
                return Poll::Ready(());
            }
        }
        let Some(memos) = this.memos.take() else {
            return Poll::Ready(());
        };
        let layers = this.layers.clone();
        with_core("a middleware", |core| {
            core.map_answer(|r| after(&layers, memos, r))
        });
        Poll::Ready(())
    }
}

/// `handler` with `layers` around it (outermost first).
pub(crate) fn wrap(
    handler: crate::handler::BoxedHandler,
    layers: Layers,
) -> crate::handler::BoxedHandler {
    use crate::handler::{BoxedHandler, HandlerKind, Reply};
    let finish = |reply: Reply, memos: Memos, layers: &Layers| match reply {
        Reply::Ready(r) => Reply::Ready(after(layers, memos, r)),
        Reply::Spawn(task) => Reply::Spawn(Box::pin(Layered::new(task, memos, layers.clone()))),
        // A static-file miss runs again once its files are open: its
        // layers run then.
        Reply::Pending(p) => Reply::Pending(p),
    };
    BoxedHandler(match handler.0 {
        HandlerKind::Sync(f) => {
            HandlerKind::Sync(Box::new(move |req| match before(&layers, req) {
                Ok(memos) => finish(f(req), memos, &layers),
                Err(r) => Reply::Ready(r),
            }))
        }
        HandlerKind::Async(f) => {
            HandlerKind::Async(Box::new(move |req| match before(&layers, &req) {
                Ok(memos) => finish(f(req), memos, &layers),
                Err(r) => Reply::Ready(r),
            }))
        }
        // The layers need the request: the handler is called without it.
        HandlerKind::AsyncBare(f) => {
            HandlerKind::Async(Box::new(move |req| match before(&layers, &req) {
                Ok(memos) => finish(f(), memos, &layers),
                Err(r) => Reply::Ready(r),
            }))
        }
    })
}
