//! One connection's TLS: ciphertext in, plaintext out for the codec;
//! plaintext responses in, records out for the send buffer. rustls keeps
//! the state; this wrapper is what the engine calls, and owns no I/O.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::{ServerConfig, ServerConnection};

/// One connection's TLS state.
pub(crate) struct TlsSession {
    conn: ServerConnection,
}

impl TlsSession {
    pub(crate) fn new(config: Arc<ServerConfig>) -> Result<TlsSession, rustls::Error> {
        let mut conn = ServerConnection::new(config)?;
        // The engine seals in bounded chunks and takes the records out
        // after each (see `runtime::worker::tls`): no limit of rustls' own.
        conn.set_buffer_limit(None);
        Ok(TlsSession { conn })
    }

    /// Bytes from the socket: records are decrypted, the plaintext appended
    /// to `plaintext`; true once the client sent close_notify (nothing more
    /// will come). Handshake answers wait for [`Self::take_output`].
    /// An error (garbage, a plaintext request, a bad handshake, a fatal
    /// alert) ends the connection; rustls has queued the alert to send.
    pub(crate) fn receive(
        &mut self,
        mut ciphertext: &[u8],
        plaintext: &mut Vec<u8>,
    ) -> Result<bool, rustls::Error> {
        let mut closed = false;
        while !ciphertext.is_empty() {
            // Reads at most one buffer's worth; loops until all is taken.
            let n = self
                .conn
                .read_tls(&mut ciphertext)
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            let state = self.conn.process_new_packets()?;
            match self.conn.reader().read_to_end(plaintext) {
                Ok(_) => closed = true, // close_notify
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => closed = true,
                Err(e) => return Err(rustls::Error::General(e.to_string())),
            }
            closed |= state.peer_has_closed();
            if n == 0 {
                break;
            }
        }
        Ok(closed)
    }

    /// Encrypts `plaintext` (a response) into records queued for sending.
    /// The kTLS seam: with the kernel sealing records, this would be a
    /// plain copy into the send buffer.
    pub(crate) fn seal(&mut self, plaintext: &[u8]) {
        // rustls buffers without limit before the handshake is done and
        // never fails to take bytes after it.
        let _ = self.conn.writer().write_all(plaintext);
    }

    /// Moves every record ready to go (handshake, alerts, sealed data) into
    /// `out`, the connection's send buffer.
    pub(crate) fn take_output(&mut self, out: &mut Vec<u8>) {
        while self.conn.wants_write() {
            if self.conn.write_tls(out).is_err() {
                break;
            }
        }
    }

    /// Queues close_notify (the connection is ending cleanly).
    pub(crate) fn close(&mut self) {
        self.conn.send_close_notify();
    }

    /// Records are waiting to be taken (handshake flights, alerts).
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The name the client asked for (SNI).
    #[cfg(test)]
    pub(crate) fn server_name(&self) -> Option<&str> {
        self.conn.server_name()
    }

    /// Whether the handshake resumed an earlier session.
    #[cfg(test)]
    pub(crate) fn resumed(&self) -> bool {
        self.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }
}
