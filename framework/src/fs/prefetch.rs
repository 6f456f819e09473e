//! Step 4 of the pipeline through the ring: opening a path that the
//! open-file cache does not hold (or holds stale), without blocking the core.
//!
//! For the path (and, for a regular file, its `.br`, `.zst`, `.gz` siblings)
//! in turn: `openat2(root, path, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`,
//! then `statx` on the new descriptor, then for a small regular file a read of
//! its bytes. The event loop submits [`Prefetch::sqe`] and feeds each result
//! to [`Prefetch::complete`]; when it is done the results go into the cache
//! ([`Prefetch::finish`]) and the request that missed runs again, now a hit.

use std::cell::RefCell;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::cache::{FileCache, FileStat, Opened};
use super::encoding::Encoding;

/// The step the current path is at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Open,
    Stat,
    Read,
}

/// Opening one cache miss: a path and its siblings, one ring op at a time.
pub struct Prefetch {
    cache: Rc<RefCell<FileCache>>,
    rel: Vec<u8>,
    /// The path, then its siblings (NUL-terminated; named by the SQEs).
    paths: Vec<CString>,
    index: usize,
    step: Step,
    /// Named by the openat2 SQE.
    how: types::OpenHow,
    /// Filled by the statx SQE.
    statx: Box<libc::statx>,
    fd: Option<OwnedFd>,
    stat: Option<FileStat>,
    /// Filled by the read SQEs (allocated at full size before the first).
    buf: Vec<u8>,
    filled: usize,
    results: Vec<Opened>,
}

impl Prefetch {
    /// Prepares opening `rel` beneath `cache`'s root.
    /// `precompressed`: whether to open the siblings too (the cache's
    /// setting; passed in because the caller holds the cache borrowed).
    pub(crate) fn new(
        cache: Rc<RefCell<FileCache>>,
        rel: &[u8],
        precompressed: bool,
    ) -> Option<Box<Prefetch>> {
        let mut paths = vec![CString::new(if rel.is_empty() { &b"."[..] } else { rel }).ok()?];
        if precompressed && !rel.is_empty() {
            for enc in Encoding::ALL {
                let mut name = rel.to_vec();
                name.push(b'.');
                name.extend_from_slice(enc.extension().as_bytes());
                paths.push(CString::new(name).ok()?);
            }
        }
        let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
        Some(Box::new(Prefetch {
            cache,
            rel: rel.to_vec(),
            paths,
            index: 0,
            step: Step::Open,
            how: types::OpenHow::new()
                .flags(flags as u64)
                .resolve(libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS),
            // SAFETY: statx is plain old data; all zeroes is a valid value.
            statx: Box::new(unsafe { std::mem::zeroed() }),
            fd: None,
            stat: None,
            buf: Vec::new(),
            filled: 0,
            results: Vec::new(),
        }))
    }

    /// The SQE for the current step. Every pointer in it names memory owned
    /// by this boxed Prefetch (path, open_how, statx buffer, read buffer),
    /// which the connection keeps until the CQE has come back.
    pub(crate) fn sqe(&mut self) -> squeue::Entry {
        match self.step {
            Step::Open => {
                let root = self.cache.borrow().root_fd();
                opcode::OpenAt2::new(types::Fd(root), self.paths[self.index].as_ptr(), &self.how)
                    .build()
            }
            Step::Stat => {
                let fd = self.fd.as_ref().expect("opened").as_raw_fd();
                opcode::Statx::new(
                    types::Fd(fd),
                    c"".as_ptr(),
                    (&mut *self.statx as *mut libc::statx).cast::<types::statx>(),
                )
                .flags(libc::AT_EMPTY_PATH)
                .mask(libc::STATX_BASIC_STATS)
                .build()
            }
            Step::Read => {
                let fd = self.fd.as_ref().expect("opened").as_raw_fd();
                let rest = &mut self.buf[self.filled..];
                opcode::Read::new(
                    types::Fd(fd),
                    rest.as_mut_ptr(),
                    rest.len().min(u32::MAX as usize) as u32,
                )
                .offset(self.filled as u64)
                .build()
            }
        }
    }

    /// Takes the result of the last SQE; true when every path is done.
    pub(crate) fn complete(&mut self, res: i32) -> bool {
        match self.step {
            Step::Open if res < 0 => {
                self.done(match -res {
                    libc::EACCES | libc::EPERM => Opened::Forbidden,
                    libc::EMFILE | libc::ENFILE | libc::ENOMEM => Opened::Unavailable,
                    _ => Opened::NotFound, // ENOENT, ENOTDIR, EXDEV (leaves the root), ELOOP...
                })
            }
            Step::Open => {
                // SAFETY: a successful openat2 CQE carries a new descriptor
                // that nobody else owns.
                self.fd = Some(unsafe { OwnedFd::from_raw_fd(res) });
                self.step = Step::Stat;
                false
            }
            Step::Stat if res < 0 => self.done(Opened::NotFound),
            Step::Stat => {
                let st = &*self.statx;
                let kind = st.stx_mode as u32 & libc::S_IFMT;
                if kind == libc::S_IFDIR {
                    return self.done(Opened::Dir);
                }
                if kind != libc::S_IFREG {
                    return self.done(Opened::NotFound); // fifos, devices, sockets
                }
                let stat = FileStat {
                    size: st.stx_size,
                    mtime_secs: st.stx_mtime.tv_sec.max(0) as u64,
                    mtime_nanos: st.stx_mtime.tv_nsec.min(999_999_999),
                    inode: st.stx_ino,
                };
                self.stat = Some(stat);
                if stat.size > 0 && self.cache.borrow().wants_content(stat.size) {
                    self.buf = vec![0; stat.size as usize];
                    self.filled = 0;
                    self.step = Step::Read;
                    return false;
                }
                self.done_file(None)
            }
            // A failed read: serve the file by splice instead of from memory.
            Step::Read if res < 0 => self.done_file(None),
            Step::Read => {
                self.filled += res as usize;
                if res > 0 && self.filled < self.buf.len() {
                    return false; // short read: read the rest
                }
                // EOF early: the file shrank meanwhile; keep what is there.
                let mut buf = std::mem::take(&mut self.buf);
                buf.truncate(self.filled);
                self.done_file(Some(buf))
            }
        }
    }

    fn done_file(&mut self, content: Option<Vec<u8>>) -> bool {
        let fd = self.fd.take().expect("opened");
        let mut stat = self.stat.take().expect("statted");
        if let Some(c) = &content {
            stat.size = c.len() as u64;
        }
        self.done(Opened::File { fd, stat, content })
    }

    /// The current path is done with `result`; move to the next one.
    fn done(&mut self, result: Opened) -> bool {
        let is_file = matches!(result, Opened::File { .. });
        self.results.push(result);
        self.fd = None;
        self.step = Step::Open;
        self.index += 1;
        // Siblings only matter for a regular file.
        self.index >= self.paths.len() || (self.index == 1 && !is_file)
    }

    /// Puts what was found into the cache.
    pub(crate) fn finish(mut self) {
        let mut results = std::mem::take(&mut self.results).into_iter();
        let Some(main) = results.next() else { return };
        self.cache
            .borrow_mut()
            .install(&self.rel, main, results.collect());
    }
}
