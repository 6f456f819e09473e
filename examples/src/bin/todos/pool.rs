//! A per-core pool of PostgreSQL connections through tokio-postgres on the
//! core's ring (`percore::net::TcpStream::compat`, no tokio runtime).
//!
//! Each core keeps up to `size` connections, opened on first use; each
//! connection's I/O task runs with `spawn_local`. tokio-postgres pipelines
//! concurrent queries on one connection, so a few per core serve many
//! requests at once. A connection that broke is replaced on the next use.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use tokio_postgres::{Client, Config};

/// Connections of one core.
pub struct Pool {
    config: Config,
    size: usize,
    clients: RefCell<Vec<Rc<Client>>>,
    next: Cell<usize>,
}

/// Why a query could not run.
#[derive(Debug)]
pub enum DbError {
    /// The database could not be reached.
    Connect(String),
    /// A query failed.
    Query(tokio_postgres::Error),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Connect(e) => write!(f, "cannot reach the database: {e}"),
            DbError::Query(e) => write!(f, "query failed: {e}"),
        }
    }
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        DbError::Query(e)
    }
}

impl Pool {
    pub fn new(config: Config, size: usize) -> Pool {
        Pool {
            config,
            size: size.max(1),
            clients: RefCell::new(Vec::new()),
            next: Cell::new(0),
        }
    }

    /// A connection, opened if the pool is not full or the one in turn broke.
    pub async fn get(&self) -> Result<Rc<Client>, DbError> {
        self.clients.borrow_mut().retain(|c| !c.is_closed());
        if self.clients.borrow().len() < self.size {
            let client = Rc::new(self.connect().await?);
            self.clients.borrow_mut().push(client.clone());
            return Ok(client);
        }
        let clients = self.clients.borrow();
        let i = self.next.get() % clients.len();
        self.next.set(i + 1);
        Ok(clients[i].clone())
    }

    async fn connect(&self) -> Result<Client, DbError> {
        percore_examples::pg::connect(&self.config)
            .await
            .map_err(DbError::Connect)
    }
}
