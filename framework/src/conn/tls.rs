//! A TLS connection's per-connection state, boxed behind `Conn::tls` so
//! plain connections pay one pointer: the rustls session and what the
//! engine needs to know of it between ops.

use crate::tls::TlsSession;

pub(crate) struct TlsConn {
    pub(crate) session: TlsSession,
    /// close_notify is queued, or the session failed (rustls queued its
    /// alert): no more records are sealed.
    pub(crate) close_sent: bool,
    /// Some ciphertext arrived (an EOF before the handshake ends is then a
    /// failed handshake, not a port probe).
    pub(crate) received: bool,
    /// The handshake's end (or its failure) was counted in the metrics.
    pub(crate) counted: bool,
}

impl TlsConn {
    pub(crate) fn new(session: TlsSession) -> TlsConn {
        TlsConn {
            session,
            close_sent: false,
            received: false,
            counted: false,
        }
    }
}
