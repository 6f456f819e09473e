//! Step 4 of the pipeline through the ring: opening a path that the
//! open-file cache does not hold (or holds stale), without blocking the core.
//!
//! For the path (and, for a regular file, its `.br`, `.zst`, `.gz` siblings)
//! in turn: `openat2(root, path, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`,
//! then `statx` on the new descriptor, then for a small regular file a read of
//! its bytes. The handler answers a miss with
//! [`crate::handler::Pending::OpenFiles`]; the event loop submits
//! [`Prefetch::submit`] and feeds each result to [`Prefetch::complete`]; when
//! it is done the results go into the cache ([`Prefetch::finish`]) and the
//! request that missed runs again, now a hit. Each step is an op of
//! [`crate::driver::op`] that owns its path, buffers and descriptor while
//! the kernel works.

use std::cell::RefCell;
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use io_uring::squeue;

use super::cache::{FileCache, FileStat, Opened};
use super::encoding::Encoding;
use crate::driver::op::{OpenAt2, Read, Statx};

/// The ring op of the current step.
enum FileOp {
    Open(OpenAt2),
    Stat(Statx),
    Read(Read),
}

/// Where the job stands.
enum Step {
    /// The op to submit next.
    Ready(FileOp),
    /// Submitted; owned here until its CQE.
    InFlight(FileOp),
    /// Every path is done.
    Done,
}

/// Opening one cache miss: a path and its siblings, one ring op at a time.
pub(crate) struct Prefetch {
    cache: Rc<RefCell<FileCache>>,
    root: Rc<OwnedFd>,
    rel: Vec<u8>,
    /// The path, then its siblings.
    paths: Vec<CString>,
    index: usize,
    step: Step,
    stat: Option<FileStat>,
    results: Vec<Opened>,
}

impl Prefetch {
    /// Prepares opening `rel` beneath `root`, `cache`'s root.
    /// `root` and `precompressed` (the cache's setting) are passed in
    /// because the caller holds the cache borrowed.
    pub(crate) fn new(
        cache: Rc<RefCell<FileCache>>,
        root: Rc<OwnedFd>,
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
        let mut job = Box::new(Prefetch {
            cache,
            root,
            rel: rel.to_vec(),
            paths,
            index: 0,
            step: Step::Done,
            stat: None,
            results: Vec::new(),
        });
        job.step = Step::Ready(job.open_op());
        Some(job)
    }

    fn open_op(&self) -> FileOp {
        let resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
        FileOp::Open(OpenAt2::new(
            self.root.clone(),
            self.paths[self.index].clone(),
            resolve,
        ))
    }

    /// Whether an op is in flight.
    pub(crate) fn in_flight(&self) -> bool {
        matches!(self.step, Step::InFlight(_))
    }

    /// Whether an op is ready to be submitted.
    pub(crate) fn ready(&self) -> bool {
        matches!(self.step, Step::Ready(_))
    }

    /// The entry of the next step; the op stays in this job until its CQE.
    pub(crate) fn submit(&mut self, user_data: u64) -> Option<squeue::Entry> {
        let Step::Ready(mut op) = std::mem::replace(&mut self.step, Step::Done) else {
            return None;
        };
        let entry = match &mut op {
            FileOp::Open(o) => o.entry(user_data),
            FileOp::Stat(o) => o.entry(user_data),
            FileOp::Read(o) => o.entry(user_data),
        };
        self.step = Step::InFlight(op);
        Some(entry)
    }

    /// Takes the result of the op in flight; true when every path is done.
    pub(crate) fn complete(&mut self, res: i32) -> bool {
        let Step::InFlight(op) = std::mem::replace(&mut self.step, Step::Done) else {
            return true;
        };
        let next = match op {
            FileOp::Open(o) => match o.complete(res) {
                Err(errno) => self.done(match errno {
                    libc::EACCES | libc::EPERM => Opened::Forbidden,
                    libc::EMFILE | libc::ENFILE | libc::ENOMEM => Opened::Unavailable,
                    _ => Opened::NotFound, // ENOENT, ENOTDIR, EXDEV (leaves the root), ELOOP...
                }),
                Ok(fd) => Step::Ready(FileOp::Stat(Statx::new(fd))),
            },
            FileOp::Stat(o) => {
                let (fd, st) = o.into_parts();
                if res < 0 {
                    self.done(Opened::NotFound)
                } else {
                    self.stat_done(fd, &st)
                }
            }
            FileOp::Read(mut o) => {
                // A failed read: serve the file by splice instead of from memory.
                if res < 0 {
                    let (fd, _) = o.into_parts();
                    self.done_file(fd, None)
                } else if res > 0 && !o.advance(res as usize) {
                    Step::Ready(FileOp::Read(o)) // short read: read the rest
                } else {
                    // Full, or EOF early (the file shrank): keep what is there.
                    let (fd, buf) = o.into_parts();
                    self.done_file(fd, Some(buf))
                }
            }
        };
        self.step = next;
        matches!(self.step, Step::Done)
    }

    fn stat_done(&mut self, fd: OwnedFd, st: &libc::statx) -> Step {
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
            return Step::Ready(FileOp::Read(Read::new(fd, stat.size as usize)));
        }
        self.done_file(fd, None)
    }

    fn done_file(&mut self, fd: OwnedFd, content: Option<Vec<u8>>) -> Step {
        let mut stat = self.stat.take().expect("statted before read");
        if let Some(c) = &content {
            stat.size = c.len() as u64;
        }
        self.done(Opened::File { fd, stat, content })
    }

    /// The current path is done with `result`: the next path's open, or done.
    fn done(&mut self, result: Opened) -> Step {
        let is_file = matches!(result, Opened::File { .. });
        self.results.push(result);
        self.index += 1;
        // Siblings only matter for a regular file.
        if self.index >= self.paths.len() || (self.index == 1 && !is_file) {
            Step::Done
        } else {
            Step::Ready(self.open_op())
        }
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
