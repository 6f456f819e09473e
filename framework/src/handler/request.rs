//! The request a handler sees: the parsed head, the route params and the
//! body.
//!
//! A sync handler gets `&Request` for the call, and nothing is copied: the
//! head bytes are the connection's receive bytes, the spans come from the
//! codec, the params from the router's reused buffer. An async handler
//! outlives the receive buffer, so it gets a `Request` of its own: head
//! bytes, body, head and params in one block taken from a per-core pool, so
//! after warm-up it costs no allocation. An async handler runs as soon as
//! the head is parsed: its body is read with `body_bytes().await`,
//! `read_body().await` or `body_stream()` (see [`super::body_in`]).

use std::cell::RefCell;
use std::net::SocketAddr;

use http::Method;

use bytes::Bytes;

use super::body_in::{BodyError, PipeReader, RequestBody};
use crate::conn::PeerAddr;
use crate::http::head::{BodyKind, RequestHead, Version};
use crate::router::Params;

/// Owned blocks kept per core for async requests, at most.
const POOLED: usize = 256;
/// A block whose buffers grew past this (a large body) is not kept.
const POOLED_BYTES: usize = 64 * 1024;

/// A request's storage when it is owned.
#[derive(Default)]
struct Owned {
    buf: Vec<u8>,
    body: Vec<u8>,
    head: RequestHead,
    params: Params,
}

thread_local! {
    // Boxed: a request holds its block by pointer, so taking one from the
    // pool and giving it back moves 8 bytes, not the block.
    #[allow(clippy::vec_box)]
    static POOL: RefCell<Vec<Box<Owned>>> = const { RefCell::new(Vec::new()) };
}

/// Where a request's bytes are.
enum View {
    /// In the connection and the core's parser: valid while the `Request`
    /// exists, which [`Request::with_borrowed`] confines to one call.
    Borrowed {
        buf: *const [u8],
        head: *const RequestHead,
        params: *const Params,
        body: *const [u8],
    },
    /// In a block of its own.
    Owned(Box<Owned>),
    /// Given back to the pool (only while the request is dropped).
    Released,
}

/// Where an owned request's body stands.
enum BodyState {
    /// In the request: `body()` returns it.
    Read,
    /// Arrived whole with the head, in the request's block, not yet read.
    Whole,
    /// Still arriving: the connection feeds this pipe.
    Streaming(PipeReader),
    /// Taken by `body_stream` or `body_bytes`.
    Taken,
}

/// A parsed HTTP request: lent to a sync handler for its call (`&Request`),
/// owned by an async handler (`Request`).
///
/// A sync handler sees the whole body in [`Request::body`]. An async handler
/// is called as soon as the head is parsed, so it reads the body itself:
/// [`Request::body_bytes`] or [`Request::read_body`] for all of it,
/// [`Request::body_stream`] for chunks as they arrive.
pub struct Request {
    view: View,
    origin: Origin,
    body: BodyState,
}

/// Where a request came from: the core serving it, the client, and
/// whether the connection is TLS.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Origin {
    pub(crate) core: usize,
    pub(crate) client: PeerAddr,
    pub(crate) tls: bool,
}

impl Drop for Request {
    fn drop(&mut self) {
        if let View::Owned(mut owned) = std::mem::replace(&mut self.view, View::Released) {
            if owned.buf.capacity() + owned.body.capacity() > POOLED_BYTES {
                return;
            }
            owned.buf.clear();
            owned.body.clear();
            owned.params.clear();
            let _ = POOL.try_with(|p| {
                let mut p = p.borrow_mut();
                if p.len() < POOLED {
                    p.push(owned);
                }
            });
        }
    }
}

impl Request {
    /// Lends `f` a request over borrowed parts. The request cannot leave the
    /// call: `f` only gets a reference, and `R` cannot borrow from it.
    pub(crate) fn with_borrowed<R>(
        buf: &[u8],
        head: &RequestHead,
        params: &Params,
        body: &[u8],
        origin: Origin,
        f: impl FnOnce(&Request) -> R,
    ) -> R {
        let req = Request {
            view: View::Borrowed {
                buf,
                head,
                params,
                body,
            },
            origin,
            body: BodyState::Read,
        };
        f(&req)
    }

    /// An owned request for an async handler: head bytes, params and the
    /// body that arrived with the head copied into a pooled block; a body
    /// still arriving comes through `streaming`.
    pub(crate) fn owned(
        buf: &[u8],
        head: &RequestHead,
        params: &Params,
        body: &[u8],
        origin: Origin,
        streaming: Option<PipeReader>,
    ) -> Request {
        let mut owned = POOL
            .try_with(|p| p.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        owned
            .buf
            .extend_from_slice(&buf[..head.head_len.min(buf.len())]);
        owned.body.extend_from_slice(body);
        owned.head.copy_from(head);
        owned.params.copy_from(params);
        let has_body = !matches!(head.body, BodyKind::None | BodyKind::Length(0));
        let body = match streaming {
            Some(reader) => BodyState::Streaming(reader),
            None if has_body => BodyState::Whole,
            None => BodyState::Read,
        };
        Request {
            view: View::Owned(owned),
            origin,
            body,
        }
    }

    fn parts(&self) -> (&[u8], &RequestHead, &Params, &[u8]) {
        match &self.view {
            View::Borrowed {
                buf,
                head,
                params,
                body,
            } => {
                // SAFETY: a borrowed request only exists inside
                // `with_borrowed`, whose caller keeps the four parts alive
                // (and unchanged) for the call; these references end with
                // the `&self` borrow, inside that call.
                unsafe { (&**buf, &**head, &**params, &**body) }
            }
            View::Owned(o) => (&o.buf, &o.head, &o.params, &o.body),
            View::Released => unreachable!("a request is not used while it is dropped"),
        }
    }

    fn buf(&self) -> &[u8] {
        self.parts().0
    }

    fn head(&self) -> &RequestHead {
        self.parts().1
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.head().method
    }

    /// The path, still percent-encoded, without the query (`/` for an
    /// absolute-form target with no path).
    pub fn path(&self) -> &str {
        match str_of(self.head().path.get(self.buf())) {
            "" => "/",
            path => path,
        }
    }

    /// The query string without `?`, if the target had one.
    pub fn query(&self) -> Option<&str> {
        self.head().query.map(|q| str_of(q.get(self.buf())))
    }

    /// The raw request target as sent ("" if it is not UTF-8: see
    /// [`Self::target_bytes`]).
    pub fn target(&self) -> &str {
        str_of(self.head().target.get(self.buf()))
    }

    /// The raw request target as sent, as bytes (it may hold obs-text).
    pub fn target_bytes(&self) -> &[u8] {
        self.head().target.get(self.buf())
    }

    /// HTTP/1.0 or HTTP/1.1.
    pub fn version(&self) -> http::Version {
        match self.head().version {
            Version::Http10 => http::Version::HTTP_10,
            Version::Http11 => http::Version::HTTP_11,
        }
    }

    /// The first value of header `name` (case-insensitive), as bytes.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.head().header(self.buf(), name)
    }

    /// The first value of header `name` (case-insensitive), if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// A list-valued header (RFC 9110 5.3): every line named `name` joined
    /// with `", "`, as if they had been sent as one. Borrowed when there is
    /// at most one line.
    pub fn header_list(&self, name: &str) -> Option<std::borrow::Cow<'_, [u8]>> {
        self.head().header_list(self.buf(), name)
    }

    /// Every header line in arrival order, as `(name, value)` bytes.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let (buf, head, _, _) = self.parts();
        head.headers
            .iter()
            .map(move |h| (h.name.get(buf), h.value.get(buf)))
    }

    /// The first cookie named `name`, from every `Cookie` line (RFC 6265),
    /// percent-decoded (as `Response::cookie` encodes it); borrowed unless
    /// it had something to decode.
    pub fn cookie(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        crate::extract::cookies::pairs(self)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| crate::extract::cookies::decode(v))
    }

    /// A route parameter (`:name` or `*name`), percent-decoded.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.parts().2.get(name)
    }

    /// Every route parameter, percent-decoded.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.parts().2.iter()
    }

    /// The request body, de-chunked, complete.
    ///
    /// # Panics
    /// In an async handler, before the body was read with
    /// [`Request::read_body`] (the body may still be arriving), or after it
    /// was taken by [`Request::body_stream`] or [`Request::body_bytes`]: a
    /// mistake that would otherwise read as an empty body.
    pub fn body(&self) -> &[u8] {
        match self.body {
            BodyState::Read => self.parts().3,
            BodyState::Whole | BodyState::Streaming(_) => panic!(
                "Request::body() in an async handler before the body was read: \
                 use `req.read_body().await?` (then `req.body()`), `req.body_bytes().await?` \
                 or `req.body_stream()`"
            ),
            BodyState::Taken => {
                panic!("Request::body() after the body was taken by body_stream() or body_bytes()")
            }
        }
    }

    /// Reads the whole body into the request (once; bounded by
    /// `limits.max_body`) and returns it; `body()` returns it from then on.
    /// In an async handler, the first call sends `100 Continue` to a client
    /// that asked for it.
    pub async fn read_body(&mut self) -> Result<&[u8], BodyError> {
        match std::mem::replace(&mut self.body, BodyState::Read) {
            BodyState::Read | BodyState::Whole => {}
            BodyState::Taken => {
                self.body = BodyState::Taken;
                return Err(BodyError::Taken);
            }
            BodyState::Streaming(reader) => {
                let mut stream = RequestBody::streaming(reader);
                while let Some(chunk) = stream.chunk().await {
                    let chunk = match chunk {
                        Ok(chunk) => chunk,
                        Err(e) => {
                            self.body = BodyState::Taken;
                            return Err(e);
                        }
                    };
                    if let View::Owned(o) = &mut self.view {
                        o.body.extend_from_slice(&chunk);
                    }
                }
            }
        }
        Ok(self.parts().3)
    }

    /// Takes the whole body (bounded by `limits.max_body`). Later calls,
    /// and `body()`, find it taken.
    pub async fn body_bytes(&mut self) -> Result<Bytes, BodyError> {
        self.body_stream().bytes().await
    }

    /// Takes the body as a stream of chunks that yields as bytes arrive; the
    /// connection reads no further ahead than the stream is pulled.
    pub fn body_stream(&mut self) -> RequestBody {
        match std::mem::replace(&mut self.body, BodyState::Taken) {
            BodyState::Streaming(reader) => RequestBody::streaming(reader),
            BodyState::Taken => RequestBody::failed(BodyError::Taken),
            BodyState::Read | BodyState::Whole => match &mut self.view {
                View::Owned(o) => RequestBody::whole(Bytes::from(std::mem::take(&mut o.body))),
                _ => RequestBody::whole(Bytes::copy_from_slice(self.parts().3)),
            },
        }
    }

    /// The client's address: the TCP peer of the connection, or, when that
    /// peer is a trusted proxy (`server.trusted_proxies`), the client it
    /// names in a PROXY protocol header, `Forwarded` or `X-Forwarded-For`
    /// (see [`crate::net::TrustedProxies`]). A port of 0: the proxy did not
    /// say.
    pub fn client_addr(&self) -> SocketAddr {
        self.origin.client.get()
    }

    /// Whether the request came over TLS (`[tls]`): the scheme to build
    /// absolute URLs with. Behind a TLS-terminating proxy, this is the
    /// proxy's connection: `false`.
    pub fn is_tls(&self) -> bool {
        self.origin.tls
    }

    /// The index of the worker (core) running this handler.
    pub fn core(&self) -> usize {
        self.origin.core
    }
}

/// The codec only admits visible ASCII in the target, so this never fails for
/// targets; header values may carry obs-text and are offered as bytes too.
fn str_of(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("")
}
