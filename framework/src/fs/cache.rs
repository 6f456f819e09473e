//! The per-core open-file cache (like nginx's `open_file_cache`): for each
//! path asked for, the open descriptor, its metadata, the response headers
//! that derive from it, and the bytes of small files, revalidated after a
//! short TTL. A hit costs one hash lookup and no system call. A miss is
//! answered with [`Lookup::Miss`]: the handler asks the event loop to open
//! the path through the ring (`super::prefetch`: `openat2` with
//! `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`, so neither `..` nor a symlink
//! can lead outside the root, then `statx`, then a read of small files), the
//! results are [`FileCache::install`]ed, and the request runs again.
//!
//! Negative results (not found, forbidden) are cached too, so a flood of
//! requests for missing files costs no system calls either.

use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::HeaderValue;

#[allow(unused_imports)]
use super::encoding::Encoding;

/// Files up to this size are kept in memory and sent from there (copied
/// behind the head below 16 KiB, gathered behind it in one `sendmsg` from
/// 16 KiB: see `SEND_GATHERED_MIN`). Measured on a 1 MiB file, 16
/// connections: from memory 5.0-6.0k req/s at 120-147 us of server CPU per
/// request; spliced from the page cache 2.7k req/s at 99 us (each splice
/// runs in an io-wq thread: cheaper, but slower per connection). Again
/// with gathered sends (issue 12): 7.8k req/s at 112 us from memory.
/// Larger files are spliced.
pub const SMALL_FILE_MAX: u64 = 2 << 20;
/// Entries kept per core before the cache is cleared of stale ones (fewer
/// when RLIMIT_NOFILE is low: see [`entries_for_limit`]).
pub const MAX_ENTRIES: usize = 2048;
/// Memory for cached file contents per core.
pub const MAX_CONTENT_BYTES: usize = 64 << 20;

/// Entries a core may keep given the open-file limit: an eighth of it (an
/// entry holds up to three descriptors with its precompressed siblings,
/// and the rest are for pipes, sockets and other cores), between 16 and
/// [`MAX_ENTRIES`]. Found by a new user: with `ulimit -n 64` and 400
/// files, one client met a 503 every 53 files, the cache having taken
/// every descriptor.
pub fn entries_for_limit(nofile: u64) -> usize {
    ((nofile / 8) as usize).clamp(16, MAX_ENTRIES)
}

/// What a path resolved to.
pub enum Lookup {
    /// A regular file.
    File(Rc<CachedFile>),
    /// A directory.
    Dir,
    /// Nothing there (or not reachable beneath the root).
    NotFound,
    /// There, but not readable by the server.
    Forbidden,
    /// The server is out of descriptors or memory for now (503).
    Unavailable,
    /// Not cached (or stale): open it through the ring, then ask again.
    Miss,
}

/// An open regular file and what the responses about it need.
pub struct CachedFile {
    /// The descriptor, kept open while cached (splice and reads use it).
    pub fd: Rc<OwnedFd>,
    /// Strong validator, computed once per open.
    pub etag: HeaderValue,
    /// `Last-Modified`, computed once per open.
    pub last_modified: HeaderValue,
    /// Size in bytes at the last check.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime_secs: u64,
    /// Nanoseconds part of the modification time.
    pub mtime_nanos: u32,
    /// Inode number (part of the ETag).
    pub inode: u64,
    /// The whole content, for small files.
    pub content: Option<Bytes>,
    /// `Content-Type` by this file's name (for a compressed sibling: by the
    /// original's name, which is the type of what it decodes to).
    pub content_type: HeaderValue,
    /// Precompressed siblings (`.br`, `.zst`, `.gz`, in [`Encoding::ALL`]
    /// order), looked up when this file was opened, so choosing one costs
    /// no lookup per request.
    pub siblings: [Option<Rc<CachedFile>>; 3],
}

impl CachedFile {
    /// Bytes of content held in memory for this file and its siblings (what
    /// it counts against [`MAX_CONTENT_BYTES`]).
    pub fn cached_bytes(&self) -> usize {
        let own = self.content.as_ref().map_or(0, |c| c.len());
        own + self
            .siblings
            .iter()
            .flatten()
            .map(|s| s.cached_bytes())
            .sum::<usize>()
    }

    /// Modification time as a `SystemTime`.
    pub fn modified(&self) -> SystemTime {
        UNIX_EPOCH + Duration::new(self.mtime_secs, self.mtime_nanos)
    }
}

enum Entry {
    File(Rc<CachedFile>),
    Dir,
    NotFound,
    Forbidden,
    Unavailable,
}

struct Slot {
    entry: Entry,
    checked: Instant,
    /// When a request took it on itself to reopen this stale entry; until
    /// that is done (or a TTL has passed), others are served the stale one.
    refreshing: Option<Instant>,
}

/// A core's cache over one root directory.
pub struct FileCache {
    root: Rc<OwnedFd>,
    /// Whether siblings are looked up when a file is opened.
    precompressed: bool,
    /// `; charset=` for text types (`files.charset`), if any.
    charset: Option<String>,
    ttl: Duration,
    slots: HashMap<Vec<u8>, Slot>,
    content_bytes: usize,
    /// Entries kept at most ([`entries_for_limit`]).
    max_entries: usize,
}

impl FileCache {
    /// Opens `root` (a directory) for lookups beneath it.
    pub fn new(
        root: &Path,
        ttl: Duration,
        precompressed: bool,
        charset: Option<String>,
    ) -> io::Result<FileCache> {
        let c = CString::new(root.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "root path contains NUL"))?;
        // SAFETY: plain syscall with a valid NUL-terminated path; we own the
        // returned descriptor.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(FileCache {
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            root: Rc::new(unsafe { OwnedFd::from_raw_fd(fd) }),
            precompressed,
            charset,
            ttl,
            slots: HashMap::new(),
            content_bytes: 0,
            max_entries: entries_for_limit(crate::runtime::open_file_limit()),
        })
    }

    /// Looks `rel` (relative, no leading slash, already resolved and checked
    /// by [`super::path`]) up: [`Lookup::Miss`] when it is not cached or its
    /// TTL has passed.
    pub fn lookup(&mut self, rel: &[u8]) -> Lookup {
        let ttl = self.ttl;
        let miss = || {
            crate::metrics::count(|m| m.file_cache_misses.add(1));
            Lookup::Miss
        };
        let Some(slot) = self.slots.get_mut(rel) else {
            return miss();
        };
        if slot.checked.elapsed() >= ttl {
            // Stale: exactly one request reopens it (stale-while-revalidate),
            // so a hot file's expiry is one open, not one per connection.
            let in_flight = slot.refreshing.is_some_and(|since| since.elapsed() < ttl);
            if !in_flight {
                slot.refreshing = Some(Instant::now());
                return miss();
            }
        }
        crate::metrics::count(|m| m.file_cache_hits.add(1));
        match &slot.entry {
            Entry::File(f) => Lookup::File(f.clone()),
            Entry::Dir => Lookup::Dir,
            Entry::NotFound => Lookup::NotFound,
            Entry::Forbidden => Lookup::Forbidden,
            Entry::Unavailable => Lookup::Unavailable,
        }
    }

    /// The root directory's descriptor (the dirfd of every open beneath it).
    pub fn root_fd(&self) -> std::os::fd::RawFd {
        self.root.as_raw_fd()
    }

    /// The root directory, shared with the opens in flight beneath it.
    pub(crate) fn root(&self) -> Rc<OwnedFd> {
        self.root.clone()
    }

    /// Whether siblings are to be opened with each file.
    pub fn precompressed(&self) -> bool {
        self.precompressed
    }

    /// Whether a file of `size` bytes may be kept in memory.
    pub fn wants_content(&self, size: u64) -> bool {
        size <= SMALL_FILE_MAX && self.content_bytes + size as usize <= MAX_CONTENT_BYTES
    }

    /// Records what opening `rel` (and its siblings, in [`Encoding::ALL`]
    /// order) found.
    pub fn install(&mut self, rel: &[u8], opened: Opened, siblings: Vec<Opened>) {
        let now = Instant::now();
        if matches!(opened, Opened::Unavailable) {
            // Out of descriptors: give back every cached one. The request
            // gets 503 for this TTL rather than a cached 404.
            let evicted = self.slots.len() as u64;
            crate::metrics::count(|m| m.file_cache_evictions.add(evicted));
            self.slots.clear();
            self.content_bytes = 0;
        }
        let mut entry = self.entry(opened, rel);
        if let Entry::File(file) = &mut entry {
            let file = Rc::get_mut(file).expect("just created");
            for (slot, sibling) in file.siblings.iter_mut().zip(siblings) {
                if let Entry::File(s) = self.entry(sibling, rel) {
                    *slot = Some(s);
                }
            }
        }
        if self.slots.len() >= self.max_entries {
            self.evict(now);
        }
        if let Entry::File(f) = &entry {
            self.content_bytes += f.cached_bytes();
        }
        if let Some(old) = self.slots.insert(
            rel.to_vec(),
            Slot {
                entry,
                checked: now,
                refreshing: None,
            },
        ) {
            self.forget(&old.entry);
        }
    }

    fn forget(&mut self, entry: &Entry) {
        if let Entry::File(f) = entry {
            self.content_bytes -= f.cached_bytes();
        }
    }

    /// Drops stale entries; if none is stale, everything.
    fn evict(&mut self, now: Instant) {
        let before = self.slots.len();
        self.evict_stale(now);
        let evicted = (before - self.slots.len()) as u64;
        crate::metrics::count(|m| m.file_cache_evictions.add(evicted));
    }

    fn evict_stale(&mut self, now: Instant) {
        let ttl = self.ttl;
        let mut freed = 0;
        self.slots.retain(|_, slot| {
            let keep = now.duration_since(slot.checked) < ttl;
            if !keep {
                if let Entry::File(f) = &slot.entry {
                    freed += f.cached_bytes();
                }
            }
            keep
        });
        self.content_bytes -= freed;
        if self.slots.len() >= self.max_entries {
            self.slots.clear();
            self.content_bytes = 0;
        }
    }

    /// Opens `rel` beneath the root (never outside it, whatever symlinks
    /// say): `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`.
    pub fn open_beneath(&self, rel: &[u8]) -> io::Result<OwnedFd> {
        let path = if rel.is_empty() { &b"."[..] } else { rel };
        let c = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::ENOENT))?;
        let how = OpenHow {
            // O_NONBLOCK: opening a FIFO must not wait for a writer (it is
            // then refused as not a regular file); regular files ignore it.
            flags: (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY) as u64,
            mode: 0,
            resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
        };
        // SAFETY: openat2 with a valid dirfd, NUL-terminated path and an
        // open_how of the size we pass; we own the returned descriptor.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.root.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    /// An entry from what the ring found; `type_name` is the name the
    /// Content-Type comes from (the original's, for a sibling).
    fn entry(&self, opened: Opened, type_name: &[u8]) -> Entry {
        let (fd, stat, content) = match opened {
            Opened::File { fd, stat, content } => (fd, stat, content),
            Opened::Dir => return Entry::Dir,
            Opened::NotFound => return Entry::NotFound,
            Opened::Forbidden => return Entry::Forbidden,
            Opened::Unavailable => return Entry::Unavailable,
        };
        let content = content.map(Bytes::from);
        let size = content.as_ref().map_or(stat.size, |c| c.len() as u64);
        let etag =
            super::conditional::etag(stat.mtime_secs as i64, stat.mtime_nanos, size, stat.inode);
        let last_modified = super::conditional::http_date(stat.mtime_secs);
        let content_type = match super::mime::content_type(type_name, self.charset.as_deref()) {
            std::borrow::Cow::Borrowed(t) => HeaderValue::from_static(t),
            std::borrow::Cow::Owned(t) => HeaderValue::from_str(&t)
                .unwrap_or(HeaderValue::from_static(super::mime::OCTET_STREAM)),
        };
        Entry::File(Rc::new(CachedFile {
            size,
            mtime_secs: stat.mtime_secs,
            mtime_nanos: stat.mtime_nanos,
            inode: stat.inode,
            etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\"")),
            last_modified: HeaderValue::from_str(&last_modified)
                .unwrap_or(HeaderValue::from_static("")),
            content,
            content_type,
            siblings: [None, None, None],
            fd: Rc::new(fd),
        }))
    }
}

/// What opening one path found (from the ring ops of `super::prefetch`).
pub enum Opened {
    /// A regular file: its descriptor, metadata, and bytes if small.
    File {
        /// The open descriptor.
        fd: OwnedFd,
        /// From statx.
        stat: FileStat,
        /// The whole content, when read.
        content: Option<Vec<u8>>,
    },
    /// A directory.
    Dir,
    /// Missing, outside the root, or not a regular file or directory.
    NotFound,
    /// Not readable.
    Forbidden,
    /// Out of descriptors (EMFILE, ENFILE) or memory: try again later.
    Unavailable,
}

/// The statx fields the cache keeps.
#[derive(Clone, Copy, Debug)]
pub struct FileStat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds.
    pub mtime_secs: u64,
    /// Modification time, nanoseconds part.
    pub mtime_nanos: u32,
    /// Inode number.
    pub inode: u64,
}

/// `struct open_how` of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}
