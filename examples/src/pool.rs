//! A per-core pool of database connections, as both database examples keep
//! them: up to `size` per core, opened on first use and again when one
//! breaks, handed out in turn (tokio-postgres pipelines the queries of
//! concurrent requests on each). Connections being opened count towards the
//! size, so the burst of requests a fresh core meets opens `size`
//! connections, not one each: a request that finds them all opening waits.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

/// A pooled connection: knows when it broke.
pub trait Pooled {
    fn is_closed(&self) -> bool;
}

impl Pooled for tokio_postgres::Client {
    fn is_closed(&self) -> bool {
        tokio_postgres::Client::is_closed(self)
    }
}

type Opening<T> = Pin<Box<dyn Future<Output = Result<T, String>>>>;

/// One core's connections (per-core state: `Rc`, no lock).
pub struct Pool<T> {
    size: usize,
    conns: RefCell<Vec<Rc<T>>>,
    next: Cell<usize>,
    opening: Cell<usize>,
    open: Box<dyn Fn() -> Opening<T>>,
}

impl<T: Pooled + 'static> Pool<T> {
    /// A pool of at most `size` (at least 1) connections made by `open`.
    pub fn new<F, Fut>(size: usize, open: F) -> Pool<T>
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<T, String>> + 'static,
    {
        Pool {
            size: size.max(1),
            conns: RefCell::new(Vec::new()),
            next: Cell::new(0),
            opening: Cell::new(0),
            open: Box::new(move || Box::pin(open())),
        }
    }

    /// A connection in turn; opened if fewer than `size` are open or opening.
    pub async fn get(&self) -> Result<Rc<T>, String> {
        loop {
            self.conns.borrow_mut().retain(|c| !c.is_closed());
            let open = self.conns.borrow().len();
            if open + self.opening.get() < self.size {
                return self.open_one().await;
            }
            if open > 0 {
                let conns = self.conns.borrow();
                let i = self.next.get() % conns.len();
                self.next.set(i + 1);
                return Ok(conns[i].clone());
            }
            // All of them are being opened (each within its connect timeout).
            percore::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The first open connection, else any (opening one if need be). Single
    /// queries share it: PostgreSQL serves a pipelined connection with less
    /// CPU per query than queries spread over several backends.
    pub async fn first(&self) -> Result<Rc<T>, String> {
        let first = self.conns.borrow().iter().find(|c| !c.is_closed()).cloned();
        match first {
            Some(c) => Ok(c),
            None => self.get().await,
        }
    }

    async fn open_one(&self) -> Result<Rc<T>, String> {
        // Counted while it opens, even if the request asking is dropped.
        struct Counted<'a>(&'a Cell<usize>);
        impl Drop for Counted<'_> {
            fn drop(&mut self) {
                self.0.set(self.0.get() - 1);
            }
        }
        self.opening.set(self.opening.get() + 1);
        let counted = Counted(&self.opening);
        let opened = (self.open)().await;
        drop(counted);
        let conn = Rc::new(opened?);
        self.conns.borrow_mut().push(conn.clone());
        Ok(conn)
    }

    /// The most connections it keeps.
    pub fn size(&self) -> usize {
        self.size
    }
}
