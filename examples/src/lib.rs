//! What the examples share: the hello app (for in-process tests) and a
//! PostgreSQL connection on the core's ring.

pub mod hello;
pub mod pg;
