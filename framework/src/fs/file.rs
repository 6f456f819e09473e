//! Files for async code, through the core's ring: `open`, `create`,
//! positioned reads and writes with owned buffers, `metadata`, `sync_all`.
//!
//! The buffer goes to the kernel with the call and comes back with the
//! result: `let (n, buf) = file.read_at(buf, 0).await;`. Dropping the future
//! before it completes cancels the operation; the buffer and the file stay
//! with the core until the kernel is done with them.

use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::driver::op::{cqe_result, Fsync, OpenAt2, ReadAt, Statx, WriteAt};
use crate::runtime::executor::submit;

/// An open file, read and written through the core's ring. Cheap to clone
/// (the descriptor is shared); closed when the last clone and the last
/// operation on it are gone.
#[derive(Clone, Debug)]
pub struct File {
    fd: Rc<OwnedFd>,
}

/// What [`File::metadata`] tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// Size in bytes.
    pub len: u64,
    /// A directory.
    pub is_dir: bool,
    /// A regular file.
    pub is_file: bool,
    /// Last modification.
    pub modified: SystemTime,
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

impl File {
    async fn open_with(path: &Path, flags: i32, mode: u32) -> io::Result<File> {
        let (op, res) = submit(OpenAt2::with_flags(c_path(path)?, flags, mode)).await;
        File::opened(op, res)
    }

    fn opened(op: OpenAt2, res: i32) -> io::Result<File> {
        let fd = op.complete(res).map_err(io::Error::from_raw_os_error)?;
        Ok(File { fd: Rc::new(fd) })
    }

    /// Opens `path` for reading.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        File::open_with(path.as_ref(), libc::O_RDONLY, 0).await
    }

    /// Opens `rel` for reading beneath this directory: symlinks inside it are
    /// followed, but nothing (`..`, an absolute path, a symlink) may lead out
    /// of it (`openat2` with `RESOLVE_BENEATH`; such a path fails with
    /// `EXDEV`). For serving files under a root.
    pub async fn open_beneath(&self, rel: impl AsRef<Path>) -> io::Result<File> {
        let resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
        let op = OpenAt2::new(self.fd.clone(), c_path(rel.as_ref())?, resolve);
        let (op, res) = submit(op).await;
        File::opened(op, res)
    }

    /// Creates `path` for writing (truncated if it exists; mode 0644).
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC;
        File::open_with(path.as_ref(), flags, 0o644).await
    }

    /// Reads at `pos` into `buf`'s spare capacity (after its length); the
    /// buffer comes back with the bytes read appended. `Ok(0)` is the end of
    /// the file (or a buffer without spare capacity).
    pub async fn read_at(&self, buf: Vec<u8>, pos: u64) -> (io::Result<usize>, Vec<u8>) {
        let op = ReadAt {
            file: self.fd.clone(),
            buf,
            pos,
        };
        let (op, res) = submit(op).await;
        match cqe_result(res) {
            Ok(n) => (Ok(n), op.into_buf(n)),
            Err(e) => (Err(e), op.into_buf(0)),
        }
    }

    /// Writes `buf` at `pos`; returns how much was written (maybe less than
    /// all of it) and the buffer.
    pub async fn write_at(&self, buf: Vec<u8>, pos: u64) -> (io::Result<usize>, Vec<u8>) {
        let op = WriteAt {
            file: self.fd.clone(),
            buf,
            pos,
        };
        let (op, res) = submit(op).await;
        (cqe_result(res), op.buf)
    }

    /// Writes all of `buf` at `pos`.
    pub async fn write_all_at(&self, mut buf: Vec<u8>, pos: u64) -> (io::Result<()>, Vec<u8>) {
        let mut done = 0usize;
        while done < buf.len() {
            let rest = buf.split_off(done);
            let (res, rest) = self.write_at(rest, pos + done as u64).await;
            buf.extend_from_slice(&rest);
            match res {
                Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
                Ok(n) => done += n,
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Reads the whole file.
    pub async fn read_to_end(&self) -> io::Result<Vec<u8>> {
        let size = self.metadata().await?.len as usize;
        let mut buf = Vec::with_capacity(size.max(4096) + 1);
        loop {
            if buf.len() == buf.capacity() {
                buf.reserve(buf.capacity().max(4096));
            }
            let pos = buf.len() as u64;
            let (res, b) = self.read_at(buf, pos).await;
            buf = b;
            if res? == 0 {
                return Ok(buf);
            }
        }
    }

    /// Size, kind and modification time.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let (op, res) = submit(Statx::new(self.fd.clone())).await;
        cqe_result(res)?;
        let (_, st) = op.into_parts();
        let kind = st.stx_mode as u32 & libc::S_IFMT;
        let modified = UNIX_EPOCH
            + Duration::new(
                st.stx_mtime.tv_sec.max(0) as u64,
                st.stx_mtime.tv_nsec.min(999_999_999),
            );
        Ok(Metadata {
            len: st.stx_size,
            is_dir: kind == libc::S_IFDIR,
            is_file: kind == libc::S_IFREG,
            modified,
        })
    }

    /// Flushes the file's data and metadata to the disk.
    pub async fn sync_all(&self) -> io::Result<()> {
        let (_, res) = submit(Fsync {
            file: self.fd.clone(),
        })
        .await;
        cqe_result(res).map(|_| ())
    }
}

impl From<std::fs::File> for File {
    /// A file opened by std (at start-up, say) for use on the ring.
    fn from(f: std::fs::File) -> File {
        File {
            fd: Rc::new(OwnedFd::from(f)),
        }
    }
}

/// Reads the whole file at `path`.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    File::open(path).await?.read_to_end().await
}
