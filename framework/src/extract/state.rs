//! `State<T>`: the app's state, given to `App::with_state` in the factory.
//!
//! The factory runs once per core, so the state is per core unless it is
//! shared: an `Rc<RefCell<..>>` made in the factory is one per core (cheap,
//! no locks, and *different on each core*: a counter or an in-memory store
//! counts per core); an `Arc<Mutex<..>>` made before `serve` and cloned into
//! each factory call is one for the whole server. Both extract the same way:
//! `State(db): State<Rc<Db>>`, a clone per request (a reference count).

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use http::StatusCode;

use super::{FromRequestParts, Rejection};
use crate::handler::Request;

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

/// Makes `states` the thread's for good (a worker, for its app).
pub(crate) fn install(states: States) {
    CURRENT.with(|c| *c.borrow_mut() = Some(states));
}

impl<T: Clone + 'static> FromRequestParts for State<T> {
    type Rejection = Rejection;

    fn from_request_parts(_: &Request) -> Result<Self, Rejection> {
        let found = CURRENT.with(|c| {
            let c = c.borrow();
            let states = c.as_ref()?;
            states.get(&TypeId::of::<T>())?.downcast_ref::<T>().cloned()
        });
        found.map(State).ok_or_else(|| {
            tracing::error!(
                "State<{}> asked for, but the app has no such state (App::with_state)",
                std::any::type_name::<T>()
            );
            Rejection::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        })
    }
}
