//! Files: [`File`] for async code, read and written through the core's ring,
//! and static files as a handler, the pure decisions of whose request
//! pipeline follow.
//!
//! Everything here is I/O-free and table-tested; the runtime does the I/O
//! (`openat2`, `statx`, `getdents`, `splice` through the ring) and calls these
//! functions between the steps. A request for a static file goes through:
//!
//! 1. **Method.** GET and HEAD; anything else is 405 with `Allow:` [`ALLOW`].
//! 2. **Path.** [`path::resolve`]: percent-decode each segment once, `%00`,
//!    NUL, `%2f` or a malformed escape -> 400, dot segments resolved and never
//!    above the root (400), `//` collapsed, a backslash an ordinary byte,
//!    a name over `NAME_MAX` -> 404, a path over `PATH_MAX` -> 414.
//! 3. **Dotfiles.** Hidden by default: a resolved name starting with `.` is
//!    404 (also in [`path::resolve`]).
//! 4. **Open.** From the per-core open-file cache ([`cache`]): a hit costs no
//!    system call. A miss (or an entry past its one-second TTL; one request
//!    refreshes it while others get the cached one) is opened through the
//!    ring (`prefetch`): `openat2(root_fd, rel, O_RDONLY | O_NONBLOCK |
//!    O_CLOEXEC, resolve: RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` (`"."` for
//!    the root), `statx`, a read of small files, the same for the siblings;
//!    then the request runs again. Symlinks inside the root are followed; none may
//!    lead out of it (the kernel refuses with EXDEV). ENOENT, ENOTDIR, ELOOP,
//!    EXDEV, and anything not a regular file or directory -> 404; EACCES ->
//!    403; out of descriptors (EMFILE, ENFILE) -> 503 with Retry-After.
//! 5. **Directories.** Without a trailing slash: 301 to
//!    [`path::dir_redirect_location`]. With one: `index.html` inside it (back
//!    to step 4), else the listing from [`listing::render_listing`] if enabled
//!    (off by default: 404 otherwise). io_uring has no getdents operation,
//!    so the listing alone reads its directory with a system call.
//! 6. **Precompressed sibling.** If enabled, see which of `NAME.br`, `.zst`,
//!    `.gz` exist (opened as in step 4, regular files only);
//!    [`encoding::choose_encoding`] picks one by `Accept-Encoding`. Its fd,
//!    size and validators replace the original's from here on. This comes
//!    before the conditionals because the ETag they compare must be the one
//!    of the representation that would be sent. Add `Vary: Accept-Encoding`
//!    whenever any sibling exists, and `Content-Encoding` when one is sent.
//! 7. **Conditionals.** [`conditional::evaluate`] with the representation's
//!    [`conditional::etag`] and mtime: 304 (no body) or 412 per RFC 9110
//!    13.2.2. Preconditions apply only to a file that exists (not to 404/301).
//! 8. **Range.** GET only, with `Range`, and if `If-Range` is absent or
//!    [`conditional::if_range_allows`]: [`range::parse_range`] -> 200 whole,
//!    206 one part ([`range::content_range`]), 206 `multipart/byteranges`
//!    ([`range::Multipart`]), or 416 with [`range::unsatisfied_content_range`].
//! 9. **Headers.** `Content-Type` ([`mime::content_type`] of the original
//!    name), `Content-Length`, `Last-Modified` ([`conditional::http_date`]),
//!    `ETag`, `Accept-Ranges: bytes`, `Cache-Control` from config, and the
//!    `Vary`/`Content-Encoding` of step 6. A 304 carries ETag, Last-Modified,
//!    Cache-Control and Vary, and no body.
//! 10. **Body.** HEAD: none. GET: the range(s) or the whole file by
//!     `splice`/`send` from the fd (for multipart: each part head, its range,
//!     then the trailer).
//!
//! # Layout
//!
//! - [`path`]: steps 2 and 3, request path -> path beneath the root; redirect target.
//! - [`listing`]: step 5, the HTML directory listing.
//! - [`encoding`]: step 6, which precompressed sibling to send.
//! - [`conditional`]: step 7 and If-Range, validators (ETag, HTTP-date).
//! - [`range`]: step 8, `Range` parsing, `Content-Range`, multipart layout.
//! - [`mime`]: step 9, `Content-Type` from the name.
//! - [`cache`]: step 4, the per-core open-file cache (descriptor, metadata,
//!   validators, the bytes of small files).
//! - `serve`: [`StaticFiles`], the handler that runs the steps in order.

pub mod cache;
pub mod conditional;
pub mod encoding;
mod file;
pub mod listing;
pub mod mime;
pub mod path;
pub(crate) mod prefetch;
pub mod range;
mod serve;

pub use file::{read, File, Metadata};
pub(crate) use serve::CoreFiles;
pub use serve::StaticFiles;

/// The `Allow` header of a 405 from the file handler.
pub const ALLOW: &str = "GET, HEAD";
