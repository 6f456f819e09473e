//! The per-core open-file cache (like nginx's `open_file_cache`): for each
//! path asked for, the open descriptor, its metadata, the response headers
//! that derive from it, and the bytes of small files, revalidated after a
//! short TTL. A hit costs one hash lookup and no system call; a miss opens
//! the file with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` beneath
//! the root, so neither `..` nor a symlink can lead outside it.
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

use super::encoding::Encoding;

/// Files up to this size are kept in memory and sent from there (in the same
/// send as the headers below 64 KiB, in place above). Measured on a 1 MiB
/// file, 16 connections: from memory 5.0-6.0k req/s at 120-147 us of server
/// CPU per request; spliced from the page cache 2.7k req/s at 99 us (each
/// splice runs in an io-wq thread: cheaper, but slower per connection).
/// Larger files are spliced.
pub const SMALL_FILE_MAX: u64 = 2 << 20;
/// Entries kept per core before the cache is cleared of stale ones.
pub const MAX_ENTRIES: usize = 4096;
/// Memory for cached file contents per core.
pub const MAX_CONTENT_BYTES: usize = 64 << 20;

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
}

struct Slot {
    entry: Entry,
    checked: Instant,
}

/// A core's cache over one root directory.
pub struct FileCache {
    root: OwnedFd,
    /// Whether siblings are looked up when a file is opened.
    precompressed: bool,
    ttl: Duration,
    slots: HashMap<Vec<u8>, Slot>,
    content_bytes: usize,
}

impl FileCache {
    /// Opens `root` (a directory) for lookups beneath it.
    pub fn new(root: &Path, ttl: Duration, precompressed: bool) -> io::Result<FileCache> {
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
            root: unsafe { OwnedFd::from_raw_fd(fd) },
            precompressed,
            ttl,
            slots: HashMap::new(),
            content_bytes: 0,
        })
    }

    /// Looks `rel` (relative, no leading slash, already resolved and checked
    /// by [`super::path`]) up, opening it on a miss or after the TTL.
    pub fn lookup(&mut self, rel: &[u8]) -> Lookup {
        let now = Instant::now();
        if let Some(slot) = self.slots.get(rel) {
            if now.duration_since(slot.checked) < self.ttl {
                return match &slot.entry {
                    Entry::File(f) => Lookup::File(f.clone()),
                    Entry::Dir => Lookup::Dir,
                    Entry::NotFound => Lookup::NotFound,
                    Entry::Forbidden => Lookup::Forbidden,
                };
            }
        }
        let entry = self.open(rel);
        let result = match &entry {
            Entry::File(f) => Lookup::File(f.clone()),
            Entry::Dir => Lookup::Dir,
            Entry::NotFound => Lookup::NotFound,
            Entry::Forbidden => Lookup::Forbidden,
        };
        if self.slots.len() >= MAX_ENTRIES {
            self.evict(now);
        }
        if let Some(old) = self.slots.insert(
            rel.to_vec(),
            Slot {
                entry,
                checked: now,
            },
        ) {
            self.forget(&old.entry);
        }
        result
    }

    fn forget(&mut self, entry: &Entry) {
        if let Entry::File(f) = entry {
            self.content_bytes -= f.cached_bytes();
        }
    }

    /// Drops stale entries; if none is stale, everything.
    fn evict(&mut self, now: Instant) {
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
        if self.slots.len() >= MAX_ENTRIES {
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

    fn open(&mut self, rel: &[u8]) -> Entry {
        let entry = self.open_one(rel, rel);
        let Entry::File(file) = entry else {
            return entry;
        };
        if !self.precompressed {
            return Entry::File(file);
        }
        let mut siblings: [Option<Rc<CachedFile>>; 3] = [None, None, None];
        let mut name = rel.to_vec();
        for (slot, enc) in siblings.iter_mut().zip(Encoding::ALL) {
            name.truncate(rel.len());
            name.push(b'.');
            name.extend_from_slice(enc.extension().as_bytes());
            if let Entry::File(sibling) = self.open_one(&name, rel) {
                *slot = Some(sibling);
            }
        }
        match Rc::try_unwrap(file) {
            Ok(mut file) => {
                file.siblings = siblings;
                Entry::File(Rc::new(file))
            }
            Err(file) => Entry::File(file),
        }
    }

    /// Opens `rel`; `type_name` is the name its Content-Type comes from.
    fn open_one(&mut self, rel: &[u8], type_name: &[u8]) -> Entry {
        let fd = match self.open_beneath(rel) {
            Ok(fd) => fd,
            Err(e) => {
                return match e.raw_os_error() {
                    Some(libc::EACCES) | Some(libc::EPERM) => Entry::Forbidden,
                    _ => Entry::NotFound, // ENOENT, ENOTDIR, EXDEV (escapes the root), ELOOP...
                };
            }
        };
        let file = std::fs::File::from(fd);
        let Ok(meta) = file.metadata() else {
            return Entry::NotFound;
        };
        if meta.is_dir() {
            return Entry::Dir;
        }
        if !meta.is_file() {
            return Entry::NotFound; // devices, sockets, fifos are never served
        }
        use std::os::unix::fs::MetadataExt;
        let size = meta.len();
        let content =
            if size <= SMALL_FILE_MAX && self.content_bytes + size as usize <= MAX_CONTENT_BYTES {
                read_all(&file, size).map(Bytes::from)
            } else {
                None
            };
        if let Some(c) = &content {
            self.content_bytes += c.len();
        }
        let size = content.as_ref().map_or(size, |c| c.len() as u64);
        let mtime_secs = meta.mtime().max(0) as u64;
        let mtime_nanos = meta.mtime_nsec().clamp(0, 999_999_999) as u32;
        let etag = super::conditional::etag(mtime_secs as i64, mtime_nanos, size, meta.ino());
        let last_modified = super::conditional::http_date(mtime_secs);
        let content_type = match super::mime::content_type(type_name) {
            std::borrow::Cow::Borrowed(t) => HeaderValue::from_static(t),
            std::borrow::Cow::Owned(t) => HeaderValue::from_str(&t)
                .unwrap_or(HeaderValue::from_static(super::mime::OCTET_STREAM)),
        };
        Entry::File(Rc::new(CachedFile {
            size,
            mtime_secs,
            mtime_nanos,
            inode: meta.ino(),
            etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\"")),
            last_modified: HeaderValue::from_str(&last_modified)
                .unwrap_or(HeaderValue::from_static("")),
            content,
            content_type,
            siblings: [None, None, None],
            fd: Rc::new(OwnedFd::from(file)),
        }))
    }
}

/// `struct open_how` of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

fn read_all(file: &std::fs::File, size: u64) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; size as usize];
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break, // truncated meanwhile: cache what is there
            Ok(n) => got += n,
            Err(_) => return None,
        }
    }
    buf.truncate(got);
    Some(buf)
}
