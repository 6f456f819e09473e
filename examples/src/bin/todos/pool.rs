//! A per-core pool of PostgreSQL connections through tokio-postgres on the
//! core's ring (`percore::net::TcpStream::compat`, no tokio runtime).
//!
//! Each core keeps up to `size` connections (`percore_examples::pool`:
//! opened on first use, never more than `size` at once, replaced when one
//! breaks); each connection's I/O task runs with `spawn_local`.
//! tokio-postgres pipelines concurrent queries on one connection, so a few
//! per core serve many requests at once.

use std::rc::Rc;
use tokio_postgres::{Client, Config};

/// Connections of one core.
pub struct Pool(percore_examples::pool::Pool<Client>);

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
        let config = Rc::new(config);
        Pool(percore_examples::pool::Pool::new(size, move || {
            let config = config.clone();
            async move { percore_examples::pg::connect(&config).await }
        }))
    }

    /// A connection in turn (see `percore_examples::pool`).
    pub async fn get(&self) -> Result<Rc<Client>, DbError> {
        self.0.get().await.map_err(DbError::Connect)
    }
}
