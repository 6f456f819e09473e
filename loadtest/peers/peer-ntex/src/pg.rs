//! tokio-postgres on ntex's own runtime: the connection's socket is an ntex
//! `Io` (opened by ntex's io_uring driver), seen by tokio-postgres through
//! tokio's `AsyncRead`/`AsyncWrite`, and its connection task is spawned on
//! the worker's ntex runtime. No tokio runtime runs: tokio-postgres needs
//! one only for `connect` (its DNS and timers), which `connect_raw` skips.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use ntex::codec::BytesCodec;
use ntex::io::{Io, RecvError};
use ntex::util::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An ntex connection as a tokio byte stream.
pub struct Stream {
    io: Io,
    /// Received bytes the reader has not taken yet.
    unread: Bytes,
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.unread.is_empty() {
            this.unread = match this.io.poll_recv(&BytesCodec, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(bytes)) => bytes,
                Poll::Ready(Err(RecvError::PeerGone(None))) => return Poll::Ready(Ok(())),
                Poll::Ready(Err(RecvError::PeerGone(Some(e)))) => return Poll::Ready(Err(e)),
                Poll::Ready(Err(RecvError::Decoder(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(Err(RecvError::WriteBackpressure)) => {
                    // Our writes are queued: wait for them to drain.
                    return match this.io.poll_flush(cx, false) {
                        Poll::Ready(Ok(())) => {
                            cx.waker().wake_by_ref();
                            Poll::Pending
                        }
                        other => other,
                    };
                }
                Poll::Ready(Err(RecvError::KeepAlive)) => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            };
        }
        let n = this.unread.len().min(buf.remaining());
        buf.put_slice(&this.unread.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // Into ntex's write buffer; its driver sends it.
        self.io.encode_slice(buf)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_flush(cx, false)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_shutdown(cx)
    }
}

/// Connects to `url` through ntex's driver; spawns the connection task.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let config: tokio_postgres::Config = url.parse().expect("database url");
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".to_string(),
    };
    let addr = format!("{host}:{port}")
        .parse()
        .expect("a numeric database host");
    let io = ntex::rt::tcp_connect(addr, ntex::service::cfg::SharedCfg::default())
        .await
        .expect("database connect");
    let stream = Stream {
        io,
        unread: Bytes::new(),
    };
    let (client, connection) = config
        .connect_raw(stream, tokio_postgres::NoTls)
        .await
        .expect("database handshake");
    ntex::rt::spawn(async move {
        let _ = connection.await;
    });
    client
}
