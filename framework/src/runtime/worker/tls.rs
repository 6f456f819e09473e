//! A TLS connection's ring side: ciphertext from the recv goes through its
//! session into the core's plaintext scratch buffer and on to the exchange
//! (which never knows); everything the exchange queues (the write buffer,
//! body parts, a stream's chunks) is sealed into records in a pooled buffer
//! and sent. A file part cannot be spliced through TLS: it is read in
//! chunks ([`CHUNK`]) and each chunk is sealed and sent before the next is
//! read, one op in flight at a time, so a slow reader holds one chunk of
//! memory, never the file.
//!
//! The kTLS seam: with the kernel sealing records (CONFIG_TLS, off here),
//! the session's secrets would go to the socket after the handshake and
//! these paths would fall back to the plain ones (splice included).

use std::io;

use tracing::debug;

use super::Worker;
use crate::conn::{Conn, Output, Phase, Sealed, TlsConn, Waiting};
use crate::driver::op::{self, ReadAt};
use crate::driver::token::{Op, Token};
use crate::driver::Completion;
use crate::handler::Part;
use crate::runtime::exchange::Exchange;
use crate::runtime::timer::{Clock, Deadline, Millis};
use crate::tls::TlsSession;

/// Plaintext sealed per send of a body part: four records whose ciphertext
/// (60 KiB + 4 x 22 bytes) still fits a pooled 64 KiB buffer.
const CHUNK: usize = 60 * 1024;

/// Bytes that arrived on a TLS connection: decrypted and handed to the
/// exchange. Bad input (garbage, plaintext HTTP, a broken handshake, a
/// fatal alert) ends this connection only, after the alert rustls queued.
pub(crate) fn receive(
    ex: &mut Exchange,
    conn: &mut Conn,
    plain: &mut Vec<u8>,
    data: &[u8],
    now: Millis,
) {
    if conn.http.waiting == Waiting::Proxy {
        // The PROXY header comes before the TLS records, in the clear.
        if let Some(rest) = ex.proxy_header(conn, data) {
            receive(ex, conn, plain, &rest, now);
            ex.pool.put(rest);
        }
        return;
    }
    let Some(tls) = conn.tls.as_mut() else {
        return;
    };
    let have = tls.first_len as usize;
    let take = data.len().min(tls.first.len() - have);
    tls.first[have..have + take].copy_from_slice(&data[..take]);
    tls.first_len += take as u8;
    plain.clear();
    let result = tls.session.receive(data, plain);
    match result {
        Ok(closed) => {
            if !tls.counted && !tls.session.is_handshaking() {
                tls.counted = true;
                ex.metrics.tls_handshakes.add(1);
            }
            if !plain.is_empty() {
                ex.receive(conn, plain, now);
            }
            if closed {
                ex.peer_closed(conn); // close_notify: as a read EOF
            }
        }
        Err(e) => {
            let plain_http = tls.session.is_handshaking()
                && looks_like_http(&tls.first[..tls.first_len as usize]);
            debug!(
                core = ex.core,
                client = %conn.peer.get(),
                "TLS: {}; closing the connection",
                if plain_http { "a plain HTTP request".to_owned() } else { e.to_string() }
            );
            if !tls.counted {
                tls.counted = true;
                ex.metrics.tls_failures.add(1);
            }
            tls.close_sent = true; // the alert is the last record
            tls.failed = true;
            if plain_http {
                tls.plain_answer = Some(PLAIN_HTTP_ANSWER);
            }
            ex.drop_input(conn);
            conn.http.waiting = Waiting::Idle;
            conn.end_after_flush();
        }
    }
}

/// The session for a connection just accepted on the TLS listener.
pub(crate) fn session(config: std::sync::Arc<rustls::ServerConfig>) -> io::Result<Box<TlsConn>> {
    TlsSession::new(config)
        .map(|s| Box::new(TlsConn::new(s)))
        .map_err(io::Error::other)
}

impl Worker {
    /// `flush_conn` for a TLS connection whose output is idle: seal and
    /// send the write buffer (with any handshake records), else the next
    /// body part's chunk, else close_notify and the close.
    pub(super) fn flush_tls(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        let Some(tls) = conn.tls.as_mut() else {
            return;
        };
        if tls.failed {
            return self.flush_failed(slot);
        }
        if !conn.http.out.is_empty() || tls.session.wants_write() {
            let plain = conn.http.out.len() as u64;
            if !tls.close_sent {
                tls.session.seal(&conn.http.out);
            }
            conn.http.out.clear();
            return self.send_sealed(slot, plain, false);
        }
        if conn.http.outgoing.is_some() {
            return self.tls_part(slot);
        }
        if conn.phase == Phase::CloseAfterFlush && conn.http.pending.is_none() {
            // No close_notify on a session that never began (a broken
            // PROXY header, a client that sent nothing).
            if !tls.close_sent && !tls.session.is_handshaking() {
                tls.close_sent = true;
                tls.session.close();
                return self.send_sealed(slot, 0, false);
            }
            self.finish_close(slot);
        }
    }

    /// The session failed: its alert (or, to a plain HTTP request, a plain
    /// 400) is the last thing sent, then the connection closes, dropping
    /// any response under way (its bytes can no longer be sealed).
    fn flush_failed(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        let Some(tls) = conn.tls.as_mut() else {
            return;
        };
        let mut buf = self.ex.pool.get();
        tls.session.take_output(&mut buf);
        if let Some(answer) = tls.plain_answer.take() {
            buf.clear();
            buf.extend_from_slice(answer);
        }
        conn.http.out.clear();
        if buf.is_empty() {
            self.ex.pool.put(buf);
            return self.begin_close(slot);
        }
        self.push_sealed(slot, buf, 0, false);
    }

    /// Sends the records the session has ready, which carry `plain` bytes
    /// of plaintext (of the front body part if `of_part`).
    fn send_sealed(&mut self, slot: u32, plain: u64, of_part: bool) {
        let conn = &mut self.conns[slot as usize];
        let Some(tls) = conn.tls.as_mut() else {
            return;
        };
        let mut buf = self.ex.pool.get();
        tls.session.take_output(&mut buf);
        if buf.is_empty() {
            // Nothing came out (no plaintext, no record pending): the body
            // moves on as if it were sent.
            self.ex.pool.put(buf);
            self.sealed_done(slot, plain, of_part);
            return self.part_progress(slot);
        }
        self.push_sealed(slot, buf, plain, of_part);
    }

    /// Sends `buf` (records carrying `plain` bytes of plaintext, or a
    /// failed session's last words) as the connection's output.
    fn push_sealed(&mut self, slot: u32, buf: Vec<u8>, plain: u64, of_part: bool) {
        let deadline = Clock::deadline(self.now, self.config.timeouts.send());
        let conn = &mut self.conns[slot as usize];
        let op = op::Send::new(buf);
        let entry = op.entry(
            conn.fd,
            Token::conn(Op::Send, slot, conn.generation).encode(),
        );
        conn.output = Output::Sealed(Box::new(Sealed { op, plain, of_part }));
        conn.send_deadline = Deadline::at(deadline);
        self.push(entry);
    }

    /// Records carrying `plain` bytes are all sent: the access log counts
    /// them, and a body part moves on.
    pub(super) fn sealed_done(&mut self, slot: u32, plain: u64, of_part: bool) {
        let conn = &mut self.conns[slot as usize];
        if let (Some(track), Some(log), true) = (
            conn.http.access.as_mut(),
            self.ex.access.as_mut(),
            plain > 0,
        ) {
            track.sent(plain, log);
        }
        if of_part {
            if let Some(out) = conn.http.outgoing.as_mut() {
                out.done += plain;
            }
        }
    }

    /// Starts the front body part's next chunk: memory is sealed at once, a
    /// file is read first; after the parts, a stream's ready bytes.
    fn tls_part(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        let (Some(out), Some(tls)) = (conn.http.outgoing.as_mut(), conn.tls.as_mut()) else {
            return;
        };
        let chunk = out.remaining().min(CHUNK as u64) as usize;
        if chunk == 0 && !out.parts.is_empty() {
            return self.part_progress(slot); // an empty part: done
        }
        match out.parts.front() {
            None => {
                let Some(ready) = self.stream_ready(slot) else {
                    return;
                };
                let conn = &mut self.conns[slot as usize];
                if let Some(tls) = conn.tls.as_mut() {
                    tls.session.seal(&ready);
                }
                let plain = ready.len() as u64;
                self.ex.pool.put(ready);
                self.send_sealed(slot, plain, false);
            }
            Some(Part::Bytes(bytes)) => {
                let start = out.done as usize;
                tls.session.seal(&bytes[start..start + chunk]);
                self.send_sealed(slot, chunk as u64, true);
            }
            Some(Part::File(_)) => self.read_file_chunk(slot),
        }
    }

    /// Reads the front file part's next chunk (at most [`CHUNK`]) through
    /// the ring, to be sealed (TLS) or sent as it is (a plain connection
    /// that could not get a splice pipe); see [`Self::on_read_chunk`].
    pub(super) fn read_file_chunk(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        let Some(out) = conn.http.outgoing.as_mut() else {
            return;
        };
        let Some(Part::File(file)) = out.parts.front() else {
            return;
        };
        let chunk = out.remaining().min(CHUNK as u64) as u32;
        let mut buf = self.ex.pool.get();
        buf.reserve(chunk as usize);
        let mut read = ReadAt {
            file: file.fd.clone(),
            buf,
            pos: file.offset + out.done,
        };
        let deadline = Clock::deadline(self.now, self.config.timeouts.send());
        let entry = read.entry_at_most(
            Token::conn(Op::ReadChunk, slot, conn.generation).encode(),
            chunk,
        );
        conn.output = Output::ReadChunk(Box::new(read));
        conn.send_deadline = Deadline::at(deadline);
        self.push(entry);
    }

    /// A file chunk was read: seal it (TLS) and send it (or end the
    /// connection if the file shrank under its promised length).
    pub(super) fn on_read_chunk(&mut self, slot: u32, c: Completion) {
        let conn = &mut self.conns[slot as usize];
        let Output::ReadChunk(read) = std::mem::replace(&mut conn.output, Output::Idle) else {
            return;
        };
        let n = c.result.max(0) as usize;
        let buf = read.into_buf(n);
        if matches!(conn.phase, Phase::Closing { .. }) || c.result <= 0 {
            self.ex.pool.put(buf);
            if c.result <= 0 && !matches!(conn.phase, Phase::Closing { .. }) {
                debug!(
                    core = self.ex.core,
                    "reading a file to seal failed ({}); closing the connection",
                    match c.result {
                        0 => "it shrank".to_owned(),
                        e => io::Error::from_raw_os_error(-e).to_string(),
                    }
                );
                return self.begin_close(slot);
            }
            return self.try_close(slot);
        }
        match conn.tls.as_mut() {
            Some(tls) => {
                tls.session.seal(&buf);
                self.ex.pool.put(buf);
                self.send_sealed(slot, n as u64, true);
            }
            // A plain connection without a splice pipe: the chunk as it is.
            None => self.push_sealed(slot, buf, n as u64, true),
        }
    }

    /// A connection ends: a handshake the peer started and never finished
    /// counts as failed.
    pub(super) fn tls_closed(&mut self, conn: &Conn) {
        if let Some(tls) = conn.tls.as_ref() {
            if tls.first_len > 0 && !tls.counted && tls.session.is_handshaking() {
                debug!(
                    core = self.ex.core,
                    client = %conn.peer.get(),
                    "TLS: the handshake did not finish (the client left or timed out)"
                );
                self.ex.metrics.tls_failures.add(1);
            }
        }
    }
}

/// nginx's answer to plain HTTP on an HTTPS port, so that `curl
/// http://host:443/` says what is wrong instead of printing an alert.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\n\
content-length: 46\r\nconnection: close\r\n\r\nThe plain HTTP request was sent to HTTPS port\n";

/// The first bytes of a connection look like an HTTP request line (a
/// method in capitals, then a space, or the end of what came: rustls
/// refuses the first byte already, as no record type is a letter), not a
/// TLS record.
fn looks_like_http(data: &[u8]) -> bool {
    let method = data.iter().take_while(|b| b.is_ascii_uppercase()).count();
    (1..=7).contains(&method) && matches!(data.get(method), Some(b' ') | None)
}

/// Whether a TLS connection has records to send that no plaintext asked
/// for (handshake flights, alerts, session tickets).
pub(super) fn wants_flush(conn: &Conn) -> bool {
    conn.tls.as_ref().is_some_and(|t| t.session.wants_write())
}
