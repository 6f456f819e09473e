//! `Handler` for functions of extractors, sync and async, arity 0 to 8.
//!
//! Sync: each argument is taken from the lent request in order; a rejection
//! answers instead of the handler. Async: the head's extractors run at once
//! (the request is still at hand), then the task reads the body if the last
//! argument needs it, then calls the handler. The handler is shared by its
//! tasks through an `Rc` (a reference count per request, no allocation), and
//! their futures run in a pooled slot.

use std::future::Future;
use std::rc::Rc;

use super::{Answering, BoxedHandler, Handler, HandlerKind, IntoResponse, Reply, Request};
use crate::extract::{FromRequest, FromRequestOwned, FromRequestParts};
use crate::runtime::executor::pool::FuturePool;

/// Marker for sync handlers of extractors.
#[doc(hidden)]
pub struct Args<T>(std::marker::PhantomData<T>);
/// Marker for async handlers of extractors.
#[doc(hidden)]
pub struct AsyncArgs<T>(std::marker::PhantomData<T>);

impl<F, R> Handler<Args<(R,)>> for F
where
    F: Fn() -> R + 'static,
    R: IntoResponse,
{
    fn into_boxed(self) -> BoxedHandler {
        BoxedHandler(HandlerKind::Sync(Box::new(move |_| {
            Reply::Ready(self().into_response())
        })))
    }
}

impl<F, Fut> Handler<AsyncArgs<(Fut::Output,)>> for F
where
    F: Fn() -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: IntoResponse,
{
    fn into_boxed(self) -> BoxedHandler {
        let pool = FuturePool::new();
        // It takes nothing: no owned copy of the request is made for it.
        BoxedHandler(HandlerKind::AsyncBare(Box::new(move || {
            Reply::Spawn(pool.start(Answering { future: self() }))
        })))
    }
}

macro_rules! handler_of_extractors {
    ($($T:ident),*) => {
        #[allow(non_snake_case)]
        impl<F, R, $($T,)* L> Handler<Args<(R, $($T,)* L)>> for F
        where
            F: Fn($($T,)* L) -> R + 'static,
            R: IntoResponse,
            $($T: FromRequestParts,)*
            L: FromRequest,
        {
            fn into_boxed(self) -> BoxedHandler {
                BoxedHandler(HandlerKind::Sync(Box::new(move |req| {
                    $(
                        let $T = match $T::from_request_parts(req) {
                            Ok(v) => v,
                            Err(e) => return Reply::Ready(e.into_response()),
                        };
                    )*
                    let last = match L::from_request(req) {
                        Ok(v) => v,
                        Err(e) => return Reply::Ready(e.into_response()),
                    };
                    Reply::Ready(self($($T,)* last).into_response())
                })))
            }
        }

        #[allow(non_snake_case)]
        impl<F, Fut, $($T,)* L> Handler<AsyncArgs<(Fut::Output, $($T,)* L)>> for F
        where
            F: Fn($($T,)* L) -> Fut + 'static,
            Fut: Future + 'static,
            Fut::Output: IntoResponse,
            $($T: FromRequestParts + 'static,)*
            L: FromRequestOwned + 'static,
        {
            fn into_boxed(self) -> BoxedHandler {
                let handler = Rc::new(self);
                let pool = FuturePool::new();
                BoxedHandler(HandlerKind::Async(Box::new(move |req: Request| {
                    $(
                        let $T = $T::from_request_parts(&req).map_err(IntoResponse::into_response);
                    )*
                    let handler = handler.clone();
                    let future = async move {
                        $(
                            let $T = match $T {
                                Ok(v) => v,
                                Err(response) => return response,
                            };
                        )*
                        match L::from_request_owned(req).await {
                            Ok(last) => handler($($T,)* last).await.into_response(),
                            Err(response) => response,
                        }
                    };
                    Reply::Spawn(pool.start(Answering { future }))
                })))
            }
        }
    };
}

handler_of_extractors!();
handler_of_extractors!(T1);
handler_of_extractors!(T1, T2);
handler_of_extractors!(T1, T2, T3);
handler_of_extractors!(T1, T2, T3, T4);
handler_of_extractors!(T1, T2, T3, T4, T5);
handler_of_extractors!(T1, T2, T3, T4, T5, T6);
handler_of_extractors!(T1, T2, T3, T4, T5, T6, T7);
