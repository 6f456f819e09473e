//! TLS with rustls, between the receive buffers and the codec: ciphertext
//! from a recv goes into a connection's [`TlsSession`], which hands back
//! the plaintext the codec parses; responses are sealed into records for
//! the send buffer. The codec never knows. Handshakes run inline on the
//! core (rustls does no I/O and no blocking).
//!
//! This module is the pure half: certificates ([`certs`]: the chain and key
//! in PEM, more chosen by SNI, OCSP stapling, session tickets rotated per
//! process) and the per-connection session ([`session`]), unit-tested
//! against an in-memory rustls client. Wiring it into the connection engine
//! (the `[tls]` section, the listener, files sealed in chunks) is the next
//! step of the edge issue; until then nothing outside this module uses it.
//! kTLS (the kernel encrypting sends) is off on this kernel
//! (CONFIG_TLS=n): the seam is `TlsSession::seal`, which a kTLS path would
//! replace by handing the session's secrets to the socket.

// Until the engine uses it (the next step), parts are used by tests only.
#![allow(dead_code, unused_imports)]

pub(crate) mod certs;
pub(crate) mod session;

pub(crate) use certs::{server_config, CertFiles};
pub(crate) use session::TlsSession;

#[cfg(test)]
mod tests;
