//! Bodies between the client and the upstream: the request body streamed up
//! as the client sends it (re-chunked when it came chunked), and the
//! upstream's response body relayed to the client's as it arrives.

use std::rc::Rc;

use bytes::Bytes;
use percore::http::{ChunkedDecoder, DecodeStatus};
use percore::net::TcpStream;
use percore::time::timeout;
use percore::{BodyError, BodySender, JoinHandle, RequestBody};

use super::wire::Framing;
use super::{pool, uploaded_cleanly, Upstream, READ};

/// Why a streamed upload stopped.
#[derive(Debug)]
pub enum UploadError {
    /// The client's body failed: answer its status.
    Client(BodyError),
    /// The upstream stopped taking it.
    Upstream(String),
}

/// The request body's upload, running beside the wait for the answer.
pub type Upload = JoinHandle<Result<(), UploadError>>;

/// Sends the client's body to the upstream as it arrives: each chunk as it
/// came (`chunked`: framed as a chunk, then the last chunk). Each write must
/// finish within `limit`.
pub async fn upload(
    conn: Rc<TcpStream>,
    mut body: RequestBody,
    chunked: bool,
    limit: std::time::Duration,
) -> Result<(), UploadError> {
    while let Some(chunk) = body.chunk().await {
        let chunk = chunk.map_err(UploadError::Client)?;
        let mut wire = Vec::with_capacity(chunk.len() + 16);
        if chunked {
            wire.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        }
        wire.extend_from_slice(&chunk);
        if chunked {
            wire.extend_from_slice(b"\r\n");
        }
        send(&conn, wire, limit).await?;
    }
    if chunked {
        send(&conn, b"0\r\n\r\n".to_vec(), limit).await?;
    }
    Ok(())
}

async fn send(
    conn: &TcpStream,
    wire: Vec<u8>,
    limit: std::time::Duration,
) -> Result<(), UploadError> {
    match timeout(limit, conn.write_all(wire)).await {
        Ok((Ok(()), _)) => Ok(()),
        Ok((Err(e), _)) => Err(UploadError::Upstream(format!("send: {e}"))),
        Err(_) => Err(UploadError::Upstream("send timed out".into())),
    }
}

/// A stream with no items: the body of an answer to HEAD.
pub struct Empty;

impl futures_core::Stream for Empty {
    type Item = Bytes;
    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Bytes>> {
        std::task::Poll::Ready(None)
    }
}

/// Copies the upstream body to the client's.
pub async fn relay(
    up: Rc<Upstream>,
    conn: Rc<TcpStream>,
    framing: Framing,
    keep_alive: bool,
    mut pending: Vec<u8>,
    tx: BodySender,
    upload: Option<Upload>,
) {
    let mut decoder = ChunkedDecoder::new(u64::MAX);
    let mut left = match framing {
        Framing::Length(n) => n,
        _ => u64::MAX,
    };
    loop {
        if !pending.is_empty() {
            let chunk = match framing {
                Framing::Chunked => {
                    let mut out = Vec::with_capacity(pending.len());
                    match decoder.decode(&pending, &mut out) {
                        Ok(DecodeStatus::Complete { .. }) => {
                            if !out.is_empty() && tx.send(out).await.is_err() {
                                return;
                            }
                            if keep_alive && uploaded_cleanly(upload).await {
                                pool(&up, conn);
                            }
                            return; // sender dropped: the body ends cleanly
                        }
                        Ok(DecodeStatus::NeedMore { .. }) => out,
                        Err(_) => return tx.abort(),
                    }
                }
                _ => {
                    let n = (left.min(pending.len() as u64)) as usize;
                    left -= n as u64;
                    pending[..n].to_vec()
                }
            };
            pending.clear();
            if !chunk.is_empty() && tx.send(Bytes::from(chunk)).await.is_err() {
                return; // the client left: the upstream connection is dropped
            }
            if left == 0 {
                if keep_alive && uploaded_cleanly(upload).await {
                    pool(&up, conn);
                }
                return;
            }
        }
        // A stalled upstream ends the body after the timeout (as between
        // reads in nginx's proxy_read_timeout).
        let read = percore::time::timeout(up.limit, conn.read(Vec::with_capacity(READ))).await;
        let Ok((n, buf)) = read else {
            return tx.abort();
        };
        match n {
            // The end of a close-delimited body; anything else ended short.
            Ok(0) if framing == Framing::Close => return,
            Ok(0) | Err(_) => return tx.abort(),
            Ok(_) => pending = buf,
        }
    }
}
