//! [`StaticFiles`]: the steps of the module doc, in order, as one handler.
//! Mount it with [`crate::App::mount`]; each core gets its own open-file cache.

use std::borrow::Cow;
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

use super::cache::{CachedFile, FileCache, Lookup};
use super::conditional::{self, Conditions, Precondition};
use super::encoding::{self, Available, Encoding};
use super::prefetch::Prefetch;
use super::range::{self, RangeDecision};
use super::{listing, mime, path};
use crate::config::FilesSection;
use crate::handler::{Body, FileRange, Part, Pending, Reply, Request, Response};

/// How many ranges one request may ask for before it gets the whole file.
pub const MAX_RANGES: usize = 16;
/// How long a cached open file is trusted before it is checked again
/// (nginx's open_file_cache_valid is 60 s; a second keeps edits visible).
pub const CACHE_TTL: Duration = Duration::from_secs(1);

/// A directory served as static files.
#[derive(Clone, Debug)]
pub struct StaticFiles {
    root: PathBuf,
    index: String,
    listing: bool,
    dotfiles: bool,
    cache_control: String,
    precompressed: bool,
    charset: String,
}

impl StaticFiles {
    /// Serves `root` with the defaults: `index.html`, no listing, dotfiles
    /// hidden, precompressed siblings used, `Cache-Control` from the config
    /// default.
    pub fn new(root: impl Into<PathBuf>) -> StaticFiles {
        let files = FilesSection::default();
        StaticFiles {
            root: root.into(),
            ..StaticFiles::from_config(&files)
        }
    }

    /// The `[files]` section of the configuration.
    pub fn from_config(files: &FilesSection) -> StaticFiles {
        StaticFiles {
            root: files.root.clone(),
            index: files.index.clone(),
            listing: files.listing,
            dotfiles: files.dotfiles,
            cache_control: files.cache_control.clone(),
            precompressed: true,
            charset: files.charset.clone(),
        }
    }

    /// The file served for a directory URL (empty: none).
    pub fn index(mut self, name: &str) -> Self {
        self.index = name.to_string();
        self
    }

    /// Whether a directory without an index gets an HTML listing.
    pub fn listing(mut self, on: bool) -> Self {
        self.listing = on;
        self
    }

    /// Whether names starting with `.` are served.
    pub fn dotfiles(mut self, on: bool) -> Self {
        self.dotfiles = on;
        self
    }

    /// The `Cache-Control` value (empty: none).
    pub fn cache_control(mut self, value: &str) -> Self {
        self.cache_control = value.to_string();
        self
    }

    /// The charset text types are declared in (`"utf-8"`), added to their
    /// `Content-Type`; empty (the default): none, a file is served as
    /// stored and its own `<meta charset>` stands.
    pub fn charset(mut self, charset: &str) -> Self {
        self.charset = charset.to_string();
        self
    }

    /// Whether `.br`, `.zst`, `.gz` siblings are offered.
    pub fn precompressed(mut self, on: bool) -> Self {
        self.precompressed = on;
        self
    }

    /// The root directory.
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// Builds this core's handler state; fails if the root can't be opened.
    pub(crate) fn for_core(self, prefix_len: usize) -> std::io::Result<CoreFiles> {
        let charset = (!self.charset.is_empty()).then(|| self.charset.clone());
        let cache = FileCache::new(&self.root, CACHE_TTL, self.precompressed, charset)?;
        let cache_control = match self.cache_control.as_str() {
            "" => None,
            v => HeaderValue::from_str(v).ok(),
        };
        Ok(CoreFiles {
            opts: self,
            cache: Rc::new(RefCell::new(cache)),
            cache_control,
            prefix_len,
        })
    }
}

/// One core's static file handler: options and open-file cache.
pub(crate) struct CoreFiles {
    opts: StaticFiles,
    cache: Rc<RefCell<FileCache>>,
    cache_control: Option<HeaderValue>,
    prefix_len: usize,
}

/// The representation chosen to answer: a file, perhaps a compressed sibling.
struct Chosen {
    file: Rc<CachedFile>,
    encoding: Option<Encoding>,
    vary: bool,
    /// The original's type, also for a compressed sibling.
    content_type: HeaderValue,
}

impl CoreFiles {
    /// Runs the pipeline for one request (GET or HEAD: the router answers 405
    /// for other methods).
    pub(crate) fn serve(&self, req: &Request) -> Reply {
        // 2. and 3. Path, dotfiles.
        let raw = req.path().as_bytes();
        let rest = &raw[self.prefix_len.min(raw.len())..];
        if rest.is_empty() {
            // The mount point itself ("/assets"): into the directory, so
            // relative links in its index resolve below it.
            let mut location = String::from_utf8_lossy(raw).into_owned();
            location.push('/');
            if let Some(q) = req.query() {
                location.push('?');
                location.push_str(q);
            }
            return plain(StatusCode::MOVED_PERMANENTLY)
                .header(header::LOCATION, location)
                .into();
        }
        // Borrowed from the request on the fast path: no allocation per hit.
        let (mut rel, trailing_slash): (Cow<'_, [u8]>, bool) = match fast_resolve(rest) {
            Some((rel, slash)) => (Cow::Borrowed(rel), slash),
            None => match path::resolve(rest, self.opts.dotfiles) {
                Ok(r) => (Cow::Owned(r.rel), r.trailing_slash),
                Err(e) => return plain(e.status()).into(),
            },
        };
        // 4. Open (cached).
        let mut cache = self.cache.borrow_mut();
        let file = match cache.lookup(&rel) {
            Lookup::File(f) if !trailing_slash || rel.is_empty() => f,
            Lookup::File(_) => return plain(StatusCode::NOT_FOUND).into(), // "/file.txt/"
            Lookup::NotFound => return plain(StatusCode::NOT_FOUND).into(),
            Lookup::Forbidden => return plain(StatusCode::FORBIDDEN).into(),
            Lookup::Unavailable => return unavailable().into(),
            Lookup::Miss => return self.prefetch(&cache, &rel),
            // 5. Directories.
            Lookup::Dir => {
                if !trailing_slash {
                    let prefix = &raw[..self.prefix_len.min(raw.len())];
                    let mut location = String::from_utf8_lossy(prefix).into_owned();
                    let dir = path::ResolvedPath {
                        rel: rel.to_vec(),
                        trailing_slash: false,
                    };
                    location.push_str(&path::dir_redirect_location(
                        &dir,
                        req.query().map(str::as_bytes),
                    ));
                    return plain(StatusCode::MOVED_PERMANENTLY)
                        .header(header::LOCATION, location)
                        .into();
                }
                let dir_rel = rel.clone();
                if !self.opts.index.is_empty() {
                    let rel = rel.to_mut();
                    if !rel.is_empty() {
                        rel.push(b'/');
                    }
                    rel.extend_from_slice(self.opts.index.as_bytes());
                }
                match (self.opts.index.is_empty(), cache.lookup(&rel)) {
                    (false, Lookup::File(f)) => f,
                    (false, Lookup::Miss) => return self.prefetch(&cache, &rel),
                    (false, Lookup::Unavailable) => return unavailable().into(),
                    _ if self.opts.listing => return self.listing(&cache, &dir_rel).into(),
                    _ => return plain(StatusCode::NOT_FOUND).into(),
                }
            }
        };
        drop(cache);
        // 6. Precompressed sibling.
        let chosen = choose_sibling(file, req);
        self.respond(req, chosen).into()
    }

    fn respond(&self, req: &Request, chosen: Chosen) -> Response {
        let content_type = chosen.content_type.clone();
        let file = &chosen.file;
        let etag = file.etag.to_str().unwrap_or("");
        // 7. Conditionals.
        // If-Match and If-None-Match are lists and may come on several lines.
        let if_match = req.header_list("if-match");
        let if_none_match = req.header_list("if-none-match");
        let cond = Conditions {
            if_match: if_match.as_deref(),
            if_none_match: if_none_match.as_deref(),
            if_modified_since: req.header_bytes("if-modified-since"),
            if_unmodified_since: req.header_bytes("if-unmodified-since"),
        };
        match conditional::evaluate(&cond, req.method(), etag, file.mtime_secs) {
            Precondition::Proceed => {}
            Precondition::NotModified => {
                return self.validators(Response::new(StatusCode::NOT_MODIFIED), &chosen);
            }
            Precondition::Failed => return plain(StatusCode::PRECONDITION_FAILED),
        }
        // 8. Range.
        let len = file.size;
        let mut decision = RangeDecision::Full;
        if req.method() == Method::GET {
            if let Some(range) = req.header_bytes("range") {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let allowed = req
                    .header_bytes("if-range")
                    .is_none_or(|v| conditional::if_range_allows(v, etag, file.mtime_secs, now));
                if allowed {
                    decision = range::parse_range(range, len, MAX_RANGES);
                }
            }
        }
        // 9. Headers, 10. body.
        let response = Response::new(StatusCode::OK);
        let mut response = self.validators(response, &chosen);
        response
            .headers
            .push((header::ACCEPT_RANGES, HeaderValue::from_static("bytes")));
        match decision {
            RangeDecision::Full => with_type(response, content_type).body(whole(file)),
            RangeDecision::Unsatisfiable => plain(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, range::unsatisfied_content_range(len)),
            RangeDecision::Partial(ranges) if ranges.len() == 1 => {
                with_type(response, content_type)
                    .status(StatusCode::PARTIAL_CONTENT)
                    .header(header::CONTENT_RANGE, range::content_range(&ranges[0], len))
                    .body(Body::Parts(vec![part(file, ranges[0].clone())]))
            }
            RangeDecision::Partial(ranges) => {
                let multipart = range::Multipart::new(
                    range::boundary(file.mtime_secs ^ file.inode ^ len),
                    content_type.to_str().unwrap_or(mime::OCTET_STREAM),
                    &ranges,
                    len,
                );
                let mut parts = Vec::with_capacity(ranges.len() * 2 + 1);
                for (head, r) in multipart.parts.iter() {
                    parts.push(Part::Bytes(Bytes::copy_from_slice(head)));
                    parts.push(part(file, r.clone()));
                }
                parts.push(Part::Bytes(Bytes::copy_from_slice(&multipart.trailer)));
                response
                    .status(StatusCode::PARTIAL_CONTENT)
                    .content_type(multipart.content_type())
                    .body(Body::Parts(parts))
            }
        }
    }

    /// ETag, Last-Modified, Cache-Control, Vary, Content-Encoding: what a 200,
    /// 206 and 304 all carry.
    fn validators(&self, mut response: Response, chosen: &Chosen) -> Response {
        response.headers.reserve(7);
        response
            .headers
            .push((header::ETAG, chosen.file.etag.clone()));
        response
            .headers
            .push((header::LAST_MODIFIED, chosen.file.last_modified.clone()));
        if let Some(cc) = &self.cache_control {
            response.headers.push((header::CACHE_CONTROL, cc.clone()));
        }
        if chosen.vary {
            response
                .headers
                .push((header::VARY, HeaderValue::from_static("accept-encoding")));
        }
        if let Some(enc) = chosen.encoding {
            response.headers.push((
                header::CONTENT_ENCODING,
                HeaderValue::from_static(enc.token()),
            ));
        }
        response
    }

    /// A cache miss: the event loop opens `rel` through the ring, then runs
    /// the request again.
    fn prefetch(&self, cache: &FileCache, rel: &[u8]) -> Reply {
        match Prefetch::new(
            self.cache.clone(),
            cache.root(),
            rel,
            self.opts.precompressed,
        ) {
            Some(p) => Reply::Pending(Pending::OpenFiles(p)),
            None => plain(StatusCode::NOT_FOUND).into(),
        }
    }

    fn listing(&self, cache: &FileCache, dir_rel: &[u8]) -> Response {
        let Ok(fd) = cache.open_beneath(dir_rel) else {
            return plain(StatusCode::NOT_FOUND);
        };
        use std::os::fd::AsRawFd;
        // Read the directory through the descriptor opened beneath the root.
        let Ok(dir) = std::fs::read_dir(format!("/proc/self/fd/{}", fd.as_raw_fd())) else {
            return plain(StatusCode::FORBIDDEN);
        };
        use std::os::unix::ffi::OsStrExt;
        let mut entries: Vec<(Vec<u8>, bool)> = dir
            .filter_map(|e| e.ok())
            .map(|e| {
                (
                    e.file_name().as_bytes().to_vec(),
                    e.file_type().is_ok_and(|t| t.is_dir()),
                )
            })
            .filter(|(name, _)| self.opts.dotfiles || !name.starts_with(b"."))
            .collect();
        let html = listing::render_listing(dir_rel, &mut entries);
        Response::ok()
            .content_type_static("text/html; charset=utf-8")
            .body(html)
    }
}

fn with_type(mut response: Response, content_type: HeaderValue) -> Response {
    response.content_type = Some(content_type);
    response
}

/// The whole file: its cached bytes (no allocation), or its descriptor.
fn whole(file: &CachedFile) -> Body {
    match &file.content {
        Some(bytes) => Body::Bytes(bytes.clone()),
        None => Body::Parts(vec![part(file, 0..file.size)]),
    }
}

/// Step 6: the sibling `Accept-Encoding` prefers, if any exists.
fn choose_sibling(file: Rc<CachedFile>, req: &Request) -> Chosen {
    let mut available = Available::default();
    for (sibling, enc) in file.siblings.iter().zip(Encoding::ALL) {
        if sibling.is_some() {
            available.set(enc);
        }
    }
    let content_type = file.content_type.clone();
    let vary = available.any();
    if vary {
        if let Some(enc) =
            encoding::choose_encoding(req.header_list("accept-encoding").as_deref(), available)
        {
            let i = Encoding::ALL
                .iter()
                .position(|e| *e == enc)
                .expect("one of ALL");
            if let Some(sibling) = &file.siblings[i] {
                return Chosen {
                    file: sibling.clone(),
                    encoding: Some(enc),
                    vary,
                    content_type,
                };
            }
        }
    }
    Chosen {
        file,
        encoding: None,
        vary,
        content_type,
    }
}

/// The common case without decoding: a path of plain name bytes (letters,
/// digits, `-_.~/`) with no empty or dot-leading segment resolves to itself;
/// anything else goes through [`path::resolve`].
fn fast_resolve(raw: &[u8]) -> Option<(&[u8], bool)> {
    let rest = raw.strip_prefix(b"/")?;
    let plain = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/');
    if rest.len() > 1024 || !rest.iter().all(plain) {
        return None;
    }
    let (rel, trailing_slash) = match rest.strip_suffix(b"/") {
        Some(r) => (r, true),
        None => (rest, rest.is_empty()),
    };
    if !rel.is_empty()
        && rel
            .split(|&b| b == b'/')
            .any(|seg| seg.is_empty() || seg[0] == b'.')
    {
        return None;
    }
    Some((rel, trailing_slash))
}

/// The bytes `r` of `file`: from memory when cached, else from the descriptor.
fn part(file: &CachedFile, r: std::ops::Range<u64>) -> Part {
    match &file.content {
        Some(bytes) => Part::Bytes(bytes.slice(r.start as usize..r.end as usize)),
        None => Part::File(FileRange {
            fd: file.fd.clone(),
            offset: r.start,
            len: r.end - r.start,
        }),
    }
}

/// 503 with `Retry-After`: the server ran out of descriptors for a moment.
fn unavailable() -> Response {
    plain(StatusCode::SERVICE_UNAVAILABLE).header(header::RETRY_AFTER, "1")
}

fn plain(status: StatusCode) -> Response {
    let text = match status {
        StatusCode::NOT_FOUND => "404 Not Found\n",
        StatusCode::FORBIDDEN => "403 Forbidden\n",
        StatusCode::SERVICE_UNAVAILABLE => "503 Service Unavailable\n",
        StatusCode::BAD_REQUEST => "400 Bad Request\n",
        StatusCode::URI_TOO_LONG => "414 URI Too Long\n",
        StatusCode::PRECONDITION_FAILED => "412 Precondition Failed\n",
        StatusCode::RANGE_NOT_SATISFIABLE => "416 Range Not Satisfiable\n",
        StatusCode::MOVED_PERMANENTLY => "301 Moved Permanently\n",
        _ => "",
    };
    if status.is_client_error() || status.is_server_error() {
        return Response::static_error(status, text);
    }
    Response::new(status)
        .content_type_static("text/plain; charset=utf-8")
        .body(text)
}
