//! What the examples share: a PostgreSQL connection on the core's ring.

pub mod pg;
