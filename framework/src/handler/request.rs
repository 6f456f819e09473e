//! The request a handler sees: a borrowed view of the parsed head, the route
//! params and the body, valid for the duration of one handler call.
//!
//! Nothing here is copied: the head bytes are the connection's receive bytes,
//! the spans come from the codec, the params from the router's reused buffer.

use http::Method;

use crate::http::head::{RequestHead, Version};
use crate::router::Params;

/// A parsed HTTP request, borrowed from the connection for one handler call.
pub struct Request<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) head: &'a RequestHead,
    pub(crate) params: &'a Params,
    pub(crate) body: &'a [u8],
    pub(crate) core: usize,
}

impl<'a> Request<'a> {
    /// The request method.
    pub fn method(&self) -> &'a Method {
        &self.head.method
    }

    /// The path, still percent-encoded, without the query (`/` for an
    /// absolute-form target with no path).
    pub fn path(&self) -> &'a str {
        match str_of(self.head.path.get(self.buf)) {
            "" => "/",
            path => path,
        }
    }

    /// The query string without `?`, if the target had one.
    pub fn query(&self) -> Option<&'a str> {
        self.head.query.map(|q| str_of(q.get(self.buf)))
    }

    /// The raw request target as sent.
    pub fn target(&self) -> &'a str {
        str_of(self.head.target.get(self.buf))
    }

    /// HTTP/1.0 or HTTP/1.1.
    pub fn version(&self) -> http::Version {
        match self.head.version {
            Version::Http10 => http::Version::HTTP_10,
            Version::Http11 => http::Version::HTTP_11,
        }
    }

    /// The first value of header `name` (case-insensitive), as bytes.
    pub fn header_bytes(&self, name: &str) -> Option<&'a [u8]> {
        self.head.header(self.buf, name)
    }

    /// The first value of header `name` (case-insensitive), if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.header_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// A list-valued header (RFC 9110 5.3): every line named `name` joined
    /// with `", "`, as if they had been sent as one. Borrowed when there is
    /// at most one line.
    pub fn header_list(&self, name: &str) -> Option<std::borrow::Cow<'a, [u8]>> {
        let mut lines = self.head.headers_named(self.buf, name);
        let first = lines.next()?;
        let Some(second) = lines.next() else {
            return Some(std::borrow::Cow::Borrowed(first));
        };
        let mut joined = first.to_vec();
        for line in std::iter::once(second).chain(lines) {
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(line);
        }
        Some(std::borrow::Cow::Owned(joined))
    }

    /// Every header line in arrival order, as `(name, value)` bytes.
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let buf = self.buf;
        self.head
            .headers
            .iter()
            .map(move |h| (h.name.get(buf), h.value.get(buf)))
    }

    /// A route parameter (`:name` or `*name`), percent-decoded.
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params.get(name)
    }

    /// Every route parameter, percent-decoded.
    pub fn params(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.params.iter()
    }

    /// The request body, de-chunked, complete.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The index of the worker (core) running this handler.
    pub fn core(&self) -> usize {
        self.core
    }
}

/// The codec only admits visible ASCII in the target, so this never fails for
/// targets; header values may carry obs-text and are offered as bytes too.
fn str_of(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("")
}
