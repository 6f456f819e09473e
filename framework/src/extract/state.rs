//! `State<T>`: the app's state, given to `App::with_state` in the factory.
//!
//! The factory runs once per core, so the state is per core unless it is
//! shared: an `Rc<RefCell<..>>` made in the factory is one per core (cheap,
//! no locks, and *different on each core*: a counter or an in-memory store
//! counts per core); an `Arc<Mutex<..>>` made before `serve` and cloned into
//! each factory call is one for the whole server. Both extract the same way:
//! `State(db): State<Rc<Db>>`, a clone per request (a reference count).
//!
//! An app given to `App::nest` keeps its own states: its handlers find them
//! first, then the outer app's; the outer app's handlers never see them (two
//! nested apps may each hold their own `Rc<Pool>`).

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use http::StatusCode;

use std::pin::Pin;
use std::task::{Context, Poll};

use super::{FromRequestParts, Rejection};
use crate::handler::{BoxedHandler, HandlerKind, Reply, Request};
use crate::runtime::executor::{BoxFuture, TaskFuture};

/// The app's state of type `T` (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct State<T>(pub T);

/// States by type, one map per app.
pub(crate) type States = Rc<HashMap<TypeId, Box<dyn Any>>>;

thread_local! {
    /// The states of the app this thread serves (set by the worker, or by
    /// `App::handle` for a test, while it runs handlers).
    static CURRENT: RefCell<Option<States>> = const { RefCell::new(None) };
}

thread_local! {
    /// The states of the nested apps whose handler runs now, innermost last.
    static SCOPES: RefCell<Vec<States>> = const { RefCell::new(Vec::new()) };
}

/// Makes `states` the thread's for good (a worker, for its app).
pub(crate) fn install(states: States) {
    CURRENT.with(|c| *c.borrow_mut() = Some(states));
}

/// Runs `f` with `states` found before the others (a nested app's handler).
fn scoped<R>(states: &States, f: impl FnOnce() -> R) -> R {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            SCOPES.with(|s| s.borrow_mut().pop());
        }
    }
    SCOPES.with(|s| s.borrow_mut().push(states.clone()));
    let _pop = Pop; // also if `f` panics
    f()
}

/// `handler` with `states` in scope whenever it runs: its call, and every
/// poll of the task it starts (an async handler's extractors may run there).
pub(crate) fn scope(handler: BoxedHandler, states: States) -> BoxedHandler {
    let task = |reply: Reply, states: &States| match reply {
        Reply::Spawn(task) => Reply::Spawn(Box::pin(Scoped {
            task,
            states: states.clone(),
        })),
        other => other,
    };
    BoxedHandler(match handler.0 {
        HandlerKind::Sync(f) => HandlerKind::Sync(Box::new(move |req| scoped(&states, || f(req)))),
        HandlerKind::Async(f) => HandlerKind::Async(Box::new(move |req| {
            task(scoped(&states, || f(req)), &states)
        })),
        HandlerKind::AsyncBare(f) => {
            HandlerKind::AsyncBare(Box::new(move || task(scoped(&states, &f), &states)))
        }
    })
}

/// A nested app's handler task, polled with its states in scope.
struct Scoped {
    task: BoxFuture,
    states: States,
}

impl TaskFuture for Scoped {
    fn poll_task(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        scoped(&this.states, || this.task.as_mut().poll_task(cx))
    }

    fn release(self: Pin<Box<Self>>) {
        Pin::into_inner(self).task.release();
    }
}

fn find<T: Clone + 'static>() -> Option<T> {
    let of = |states: &States| states.get(&TypeId::of::<T>())?.downcast_ref::<T>().cloned();
    let scoped = SCOPES.with(|s| s.borrow().iter().rev().find_map(of));
    scoped.or_else(|| CURRENT.with(|c| c.borrow().as_ref().and_then(of)))
}

impl<T: Clone + 'static> FromRequestParts for State<T> {
    type Rejection = Rejection;

    fn from_request_parts(_: &Request) -> Result<Self, Rejection> {
        find::<T>().map(State).ok_or_else(|| {
            tracing::error!(
                "State<{}> asked for, but the app has no such state (App::with_state)",
                std::any::type_name::<T>()
            );
            Rejection::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        })
    }
}
