//! What the examples share: the hello app (for in-process tests), a
//! PostgreSQL connection on the core's ring and a per-core pool of them.

pub mod hello;
pub mod pg;
pub mod pool;
