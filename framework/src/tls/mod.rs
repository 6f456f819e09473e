//! TLS with rustls, between the receive buffers and the codec: ciphertext
//! from a recv goes into a connection's [`TlsSession`], which hands back
//! the plaintext the codec parses; responses are sealed into records for
//! the send buffer. The codec never knows. Handshakes run inline on the
//! core (rustls does no I/O and no blocking).
//!
//! Here: certificates ([`certs`]: the chain and key in PEM, more chosen by
//! SNI, OCSP stapling, session tickets rotated per process), their reload
//! on SIGHUP ([`reload`]) and the per-connection session ([`session`]),
//! unit-tested against an in-memory rustls client. The engine's side (the
//! session between the recv and the codec, records sealed into sends, files
//! read and sealed in chunks) is `runtime::worker::tls`.
//! kTLS (the kernel encrypting sends) is off on this kernel
//! (CONFIG_TLS=n): the seam is `TlsSession::seal`, which a kTLS path would
//! replace by handing the session's secrets to the socket.

pub(crate) mod certs;
pub(crate) mod redirect;
pub(crate) mod reload;
pub(crate) mod session;

pub(crate) use certs::{server_config, CertFiles};
pub(crate) use reload::{Certificates, CoreCertificates};
pub(crate) use session::TlsSession;

#[cfg(test)]
mod tests;
