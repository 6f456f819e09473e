//! `TcpStream` as `tokio::io::{AsyncRead, AsyncWrite}`, so clients written
//! for tokio's traits (tokio-postgres, redis, hyper's client) run on the
//! core's ring: `TcpStream::connect(addr).await?.compat()`.
//!
//! No tokio runtime is involved: the traits only. A crate works if it needs
//! nothing more than these traits and futures (tokio-postgres through
//! `Config::connect_raw`, with its `Connection` given to `spawn_local`); it
//! does not if it calls `tokio::spawn`, tokio's timers or tokio's own
//! sockets (which panic without a tokio runtime: "there is no reactor
//! running").
//!
//! Reads go through one owned buffer (16 KiB) and are copied into the
//! caller's `ReadBuf`; a write copies the caller's bytes into an owned
//! buffer, reports them written, and the next write or flush waits for them
//! to reach the socket.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::TcpStream;

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;

type OpFuture = Pin<Box<dyn Future<Output = (io::Result<usize>, Vec<u8>)>>>;

/// A [`TcpStream`] with tokio's I/O traits (see the module docs).
pub struct Compat {
    stream: Rc<TcpStream>,
    read: Option<OpFuture>,
    /// Bytes read and not yet handed out, from `pos`.
    buffered: Vec<u8>,
    pos: usize,
    write: Option<OpFuture>,
}

impl TcpStream {
    /// This stream with `tokio::io::{AsyncRead, AsyncWrite}`.
    pub fn compat(self) -> Compat {
        Compat {
            stream: Rc::new(self),
            read: None,
            buffered: Vec::new(),
            pos: 0,
            write: None,
        }
    }
}

impl Compat {
    /// The stream underneath.
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }

    /// Waits for the write in flight, if any.
    fn poll_write_done(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(op) = self.write.as_mut() {
            let (result, _) = ready!(op.as_mut().poll(cx));
            self.write = None;
            result?;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Compat {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos == this.buffered.len() {
            let op = this.read.get_or_insert_with(|| {
                let stream = this.stream.clone();
                let mut buf = std::mem::take(&mut this.buffered);
                this.pos = 0; // nothing buffered while the read is in flight
                buf.clear();
                buf.reserve(READ_CHUNK);
                Box::pin(async move { stream.read(buf).await })
            });
            let (result, buf) = ready!(op.as_mut().poll(cx));
            this.read = None;
            this.buffered = buf;
            this.pos = 0;
            if result? == 0 {
                return Poll::Ready(Ok(())); // end of stream: nothing filled
            }
        }
        let n = out.remaining().min(this.buffered.len() - this.pos);
        out.put_slice(&this.buffered[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Compat {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_write_done(cx))?;
        let stream = this.stream.clone();
        let buf = data.to_vec();
        this.write = Some(Box::pin(async move {
            let (result, buf) = stream.write_all(buf).await;
            (result.map(|()| buf.len()), buf)
        }));
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_write_done(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_done(cx))?;
        Poll::Ready(this.stream.shutdown(std::net::Shutdown::Write))
    }
}
