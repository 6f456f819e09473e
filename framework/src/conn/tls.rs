//! A TLS connection's per-connection state, boxed behind `Conn::tls` so
//! plain connections pay one pointer: the rustls session and what the
//! engine needs to know of it between ops.

use crate::tls::TlsSession;

pub(crate) struct TlsConn {
    pub(crate) session: TlsSession,
    /// close_notify is queued, or the session failed: no more records are
    /// sealed.
    pub(crate) close_sent: bool,
    /// The session failed (bad records, an alert): once rustls' alert is
    /// out, the connection closes, whatever response was under way.
    pub(crate) failed: bool,
    /// A plain-HTTP request came to the TLS port: this answer (in the
    /// clear, as nginx's) goes instead of the alert.
    pub(crate) plain_answer: Option<&'static [u8]>,
    /// The connection's first bytes (up to 8), however they were split:
    /// a plain HTTP request line shows in them. Some arrived (`first_len >
    /// 0`): an EOF before the handshake ends is then a failed handshake,
    /// not a port probe.
    pub(crate) first: [u8; 8],
    pub(crate) first_len: u8,
    /// The handshake's end (or its failure) was counted in the metrics.
    pub(crate) counted: bool,
}

impl TlsConn {
    pub(crate) fn new(session: TlsSession) -> TlsConn {
        TlsConn {
            session,
            close_sent: false,
            failed: false,
            plain_answer: None,
            first: [0; 8],
            first_len: 0,
            counted: false,
        }
    }
}
