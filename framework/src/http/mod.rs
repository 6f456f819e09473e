//! The pure HTTP/1.1 codec: bytes in, structured requests out; structured
//! responses in, bytes out. No I/O, no clocks except through [`date::DateCache`].
//!
//! # Where it sits on the request path
//!
//! ```text
//! recv (provided buffer) -> conn read buffer
//!     -> head::parse_head        request line + header section, RFC 9112 2-6 checks
//!     -> body::ChunkedDecoder    chunked bodies (Content-Length is counted by the conn)
//!     -> router -> handler
//!     -> encode::write_head / write_chunk / write_error   into the conn write buffer
//!        (date::DateCache supplies the Date header, refreshed once per tick)
//! ```
//!
//! # Layout
//!
//! - [`error`]: [`ParseError`], the one error type; each variant maps to a status.
//! - [`head`]: [`RequestHead`], [`Limits`], [`parse_head`].
//! - [`request_line`]: the request line and the request-target forms (RFC 9112 3).
//! - [`fields`]: the semantic checks of the framing fields: Host, Content-Length,
//!   Transfer-Encoding, Connection, Expect (RFC 9112 6, RFC 9110 5/7.2/10.1.1).
//! - [`token`]: byte classes shared by the parsers (tchar, field-vchar, ...).
//! - [`body`]: [`ChunkedDecoder`], a resumable chunked-coding decoder (RFC 9112 7.1).
//! - [`encode`]: response head, chunk and error-response writers.
//! - [`date`]: [`DateCache`], the per-core IMF-fixdate cache.

pub mod body;
pub mod date;
pub mod encode;
pub mod error;
pub(crate) mod field_lines;
pub mod fields;
pub mod head;
pub mod request_line;
pub mod token;

pub use body::{ChunkedDecoder, DecodeStatus};
pub use date::DateCache;
pub use encode::{
    write_chunk, write_error, write_head, write_last_chunk, BodyLength, ResponseHeadParams,
    CONTINUE_100,
};
pub use error::ParseError;
pub use head::{
    parse_head, BodyKind, HeaderSpan, Limits, ParseStatus, RequestHead, Span, Version,
    MAX_HEADERS_CAP,
};
