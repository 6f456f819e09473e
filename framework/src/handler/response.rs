//! The response a handler returns, and its builder.
//!
//! Built without heap allocation for the common cases: a static body, a
//! static content type and no extra headers (an empty `Vec` does not
//! allocate). The encoder in [`crate::http::encode`] turns it into bytes in the
//! connection's write buffer.

use std::cell::Cell;
use std::rc::Rc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::StatusCode;

/// A response body.
pub enum Body {
    /// No body (Content-Length: 0).
    Empty,
    /// Borrowed for the program's life: no allocation.
    Static(&'static [u8]),
    /// Shared, reference-counted bytes.
    Bytes(Bytes),
    /// Owned bytes.
    Vec(Vec<u8>),
    /// Pieces produced one by one; the length is unknown up front, so the
    /// response is sent chunked.
    Stream(Box<dyn Iterator<Item = Bytes>>),
    /// Pieces of known length sent in order without copying them into the
    /// write buffer: memory is sent from where it lies, file ranges are
    /// spliced from the page cache to the socket.
    Parts(Vec<Part>),
    /// Chunks produced by an async stream, sent as they come (chunked, or
    /// with the length given), paced by the client: the stream is polled
    /// while the connection has room for more. Dropped if the client goes.
    Async(AsyncBody),
}

/// A response body from an async stream of byte chunks (see
/// [`Body::from_stream`]).
pub struct AsyncBody {
    pub(crate) stream: std::pin::Pin<Box<dyn futures_core::Stream<Item = Bytes>>>,
    pub(crate) len: Option<u64>,
    /// Set when the body ended in failure (see `BodySender::abort`): the
    /// connection closes without the chunked terminator, so the client
    /// sees a broken body, not a short complete one.
    pub(crate) aborted: Option<std::rc::Rc<std::cell::Cell<bool>>>,
}

impl Body {
    /// A body sent chunked as `stream` yields (server-sent events, a file
    /// read piece by piece, a proxied upstream).
    pub fn from_stream<S>(stream: S) -> Body
    where
        S: futures_core::Stream<Item = Bytes> + 'static,
    {
        Body::Async(AsyncBody {
            stream: Box::pin(stream),
            len: None,
            aborted: None,
        })
    }

    /// A body sent chunked as `stream` yields, ending at its first error:
    /// the response is then cut off (no last chunk, the connection closes),
    /// so the client sees it broken rather than short. A request body
    /// streamed back or to an upstream, an upstream's body.
    pub fn from_try_stream<S, E>(stream: S) -> Body
    where
        S: futures_core::Stream<Item = Result<Bytes, E>> + 'static,
    {
        let aborted = Rc::new(Cell::new(false));
        Body::Async(AsyncBody {
            stream: Box::pin(UntilError {
                stream: Box::pin(stream),
                aborted: aborted.clone(),
            }),
            len: None,
            aborted: Some(aborted),
        })
    }

    /// A body of exactly `len` bytes from `stream`, sent with a
    /// Content-Length. If the stream ends short, the connection is closed
    /// rather than the length broken; bytes past `len` are dropped.
    pub fn from_stream_with_len<S>(len: u64, stream: S) -> Body
    where
        S: futures_core::Stream<Item = Bytes> + 'static,
    {
        Body::Async(AsyncBody {
            stream: Box::pin(stream),
            len: Some(len),
            aborted: None,
        })
    }
}

/// A request body as a response body: its chunks as they arrive, cut off
/// if it fails ([`Body::from_try_stream`]).
impl From<crate::handler::RequestBody> for Body {
    fn from(body: crate::handler::RequestBody) -> Body {
        Body::from_try_stream(body)
    }
}

/// The items of a fallible stream until its first error, which it records.
struct UntilError<S> {
    stream: std::pin::Pin<Box<S>>,
    aborted: Rc<Cell<bool>>,
}

impl<S, E> futures_core::Stream for UntilError<S>
where
    S: futures_core::Stream<Item = Result<Bytes, E>>,
{
    type Item = Bytes;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Bytes>> {
        if self.aborted.get() {
            return std::task::Poll::Ready(None);
        }
        self.stream.as_mut().poll_next(cx).map(|item| match item {
            Some(Ok(chunk)) => Some(chunk),
            Some(Err(_)) => {
                self.aborted.set(true);
                None
            }
            None => None,
        })
    }
}

/// One piece of a [`Body::Parts`] body.
pub enum Part {
    /// Bytes in memory.
    Bytes(Bytes),
    /// A range of an open file.
    File(FileRange),
}

impl Part {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Part::Bytes(b) => b.len() as u64,
            Part::File(f) => f.len,
        }
    }

    /// Whether the part is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `len` bytes of an open file from `offset`. If the file turns out shorter
/// than promised while it is sent, the connection is closed rather than
/// sending fewer bytes than the Content-Length said.
#[derive(Clone)]
pub struct FileRange {
    /// The open file, shared with whoever cached it.
    pub fd: std::rc::Rc<std::os::fd::OwnedFd>,
    /// First byte.
    pub offset: u64,
    /// Number of bytes.
    pub len: u64,
}

impl Body {
    /// The bytes of a body held in one piece of memory; `None` for a stream
    /// or parts.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Body::Empty => Some(&[]),
            Body::Static(b) => Some(b),
            Body::Bytes(b) => Some(b),
            Body::Vec(v) => Some(v),
            Body::Stream(_) | Body::Parts(_) | Body::Async(_) => None,
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The length, when known up front (everything but a stream).
    pub fn len(&self) -> Option<u64> {
        match self {
            Body::Stream(_) => None,
            Body::Async(a) => a.len,
            Body::Parts(parts) => Some(parts.iter().map(Part::len).sum()),
            body => body.as_bytes().map(|b| b.len() as u64),
        }
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::Static(s.as_bytes())
    }
}
impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Body {
        Body::Static(s)
    }
}
impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::Vec(s.into_bytes())
    }
}
impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body::Vec(v)
    }
}
impl From<Bytes> for Body {
    fn from(b: Bytes) -> Body {
        Body::Bytes(b)
    }
}
impl From<()> for Body {
    fn from(_: ()) -> Body {
        Body::Empty
    }
}

/// An HTTP response: status, content type, extra headers, body.
pub struct Response {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<HeaderValue>,
    pub(crate) headers: thin_vec::ThinVec<(HeaderName, HeaderValue)>,
    pub(crate) body: Body,
    /// Set when a header given to the builder was invalid: the response is
    /// replaced by a 500 rather than sending a malformed or injected header.
    pub(crate) invalid: bool,
    /// An error's message (see [`Response::error`]): the app's error page,
    /// if it has one, formats the response from it.
    pub(crate) error: Option<std::borrow::Cow<'static, str>>,
    /// The connection closes after this response (the 500 of a handler
    /// that panicked, once its middleware has seen it).
    pub(crate) close: bool,
}

impl Default for Response {
    fn default() -> Self {
        Response::new(StatusCode::OK)
    }
}

impl Response {
    /// A response with `status`, no headers and an empty body.
    pub fn new(status: StatusCode) -> Response {
        Response {
            status,
            content_type: None,
            headers: thin_vec::ThinVec::new(),
            body: Body::Empty,
            invalid: false,
            error: None,
            close: false,
        }
    }

    /// An error: `message` as plain text, or as the app's error page formats
    /// it (`App::error_page`: JSON, HTML ...). The framework's own errors
    /// (404, 405, 413, an extractor's rejection ...) are made this way.
    pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
        let message: String = message.into();
        let mut r = Response::new(status)
            .content_type_static("text/plain; charset=utf-8")
            .body(format!("{message}\n"));
        r.error = Some(message.into());
        r
    }

    /// A framework error whose text is static: `text` (ending in a newline)
    /// as the body, without the newline as the message. No allocation.
    pub(crate) fn static_error(status: StatusCode, text: &'static str) -> Response {
        let mut r = Response::new(status)
            .content_type_static("text/plain; charset=utf-8")
            .body(text);
        r.error = Some(text.trim_end().into());
        r
    }

    /// The message of an error response, if it is one.
    pub fn error_message(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// 200 OK.
    pub fn ok() -> Response {
        Response::new(StatusCode::OK)
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(body: impl Into<Body>) -> Response {
        Response::ok()
            .content_type_static("text/plain; charset=utf-8")
            .body(body)
    }

    /// An `application/json` response from already-serialised JSON.
    pub fn json(body: impl Into<Body>) -> Response {
        Response::ok()
            .content_type_static("application/json")
            .body(body)
    }

    /// Sets the status.
    pub fn status(mut self, status: StatusCode) -> Response {
        self.status = status;
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Body>) -> Response {
        self.body = body.into();
        self
    }

    /// Sets Content-Type from a static string (no allocation).
    pub fn content_type_static(mut self, value: &'static str) -> Response {
        self.content_type = Some(HeaderValue::from_static(value));
        self
    }

    /// Sets Content-Type. An invalid value turns the response into a 500.
    pub fn content_type<V>(mut self, value: V) -> Response
    where
        V: TryInto<HeaderValue>,
    {
        match value.try_into() {
            Ok(v) => self.content_type = Some(v),
            Err(_) => self.invalid = true,
        }
        self
    }

    /// Adds a header. An invalid name or value (for instance one holding CR
    /// or LF) turns the response into a 500 instead of reaching the wire.
    /// Content-Length, Transfer-Encoding and Connection are framing and are
    /// set by the server; passing them here is ignored.
    pub fn header<K, V>(mut self, name: K, value: V) -> Response
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(name), Ok(value)) => {
                if name == http::header::CONTENT_TYPE {
                    self.content_type = Some(value);
                } else if !is_framing(&name) {
                    self.headers.push((name, value));
                }
            }
            _ => self.invalid = true,
        }
        self
    }

    /// The status.
    pub fn status_code(&self) -> StatusCode {
        self.status
    }

    /// The first value of header `name` (Content-Type included).
    pub fn header_value(&self, name: &str) -> Option<&HeaderValue> {
        if name.eq_ignore_ascii_case("content-type") {
            return self.content_type.as_ref();
        }
        self.headers
            .iter()
            .find(|(n, _)| n.as_str().eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The body.
    pub fn body_ref(&self) -> &Body {
        &self.body
    }
}

fn is_framing(name: &HeaderName) -> bool {
    name == http::header::CONTENT_LENGTH
        || name == http::header::TRANSFER_ENCODING
        || name == http::header::CONNECTION
        || name == http::header::DATE
}

/// Anything a handler may return.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a response",
    note = "a handler may return `&'static str`, `String`, `Vec<u8>`, `Bytes`, `StatusCode`, `()`, \
            `Response`, `Json<T>`, `serde_json::Value`, `Html<T>`, `Redirect`, `Option<T>` \
            (None is 404), `Result<T, E>`, `(StatusCode, T)`, `([(name, value); N], T)` or \
            `(StatusCode, [(name, value); N], T)`, where `T` and `E` are responses themselves"
)]
pub trait IntoResponse {
    /// Converts into a response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for &'static [u8] {
    fn into_response(self) -> Response {
        Response::ok()
            .content_type_static("application/octet-stream")
            .body(self)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Response::ok()
            .content_type_static("application/octet-stream")
            .body(self)
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        Response::ok()
            .content_type_static("application/octet-stream")
            .body(self)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::ok()
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        self.1.into_response().status(self.0)
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(t) => t.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_types_convert() {
        let r = "hi".into_response();
        assert_eq!(r.status_code(), StatusCode::OK);
        assert_eq!(r.body_ref().as_bytes(), Some(&b"hi"[..]));
        assert_eq!(
            r.header_value("content-type").unwrap(),
            "text/plain; charset=utf-8"
        );
        let r = (StatusCode::CREATED, String::from("x")).into_response();
        assert_eq!(r.status_code(), StatusCode::CREATED);
        let r = vec![1u8, 2].into_response();
        assert_eq!(
            r.header_value("Content-Type").unwrap(),
            "application/octet-stream"
        );
        let r: Result<&str, StatusCode> = Err(StatusCode::NOT_FOUND);
        assert_eq!(r.into_response().status_code(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn injected_header_marks_invalid_and_framing_is_ignored() {
        let r = Response::ok().header("x-a", "evil\r\nSet-Cookie: x");
        assert!(r.invalid);
        let r = Response::ok().header("content-length", "5");
        assert!(r.headers.is_empty());
        let r = Response::ok().header("x-ok", "1").content_type("text/html");
        assert!(!r.invalid);
        assert_eq!(r.header_value("X-OK").unwrap(), "1");
        assert_eq!(r.header_value("content-type").unwrap(), "text/html");
    }
}
#[cfg(test)]
mod size {
    /// A response is moved at each builder step and on its way to the
    /// encoder: up to 128 bytes the compiler moves it with a few vector
    /// stores, over that it calls memcpy (136 bytes cost 7% of a pipelined
    /// request's time in user space; issue 12). The extra headers are a
    /// `ThinVec` (8 bytes) for this.
    #[test]
    fn a_response_is_moved_without_memcpy() {
        assert!(
            std::mem::size_of::<super::Response>() <= 128,
            "{}",
            std::mem::size_of::<super::Response>()
        );
    }
}
