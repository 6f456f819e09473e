//! `openat2` beneath a directory: the first step of opening a file that the
//! static-file cache does not hold.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::RingOp;

/// Owns the directory it resolves beneath (none: the working directory),
/// the NUL-terminated path and the `open_how` (boxed: the kernel reads them
/// by address).
pub(crate) struct OpenAt2 {
    dir: Option<Rc<OwnedFd>>,
    path: CString,
    how: Box<types::OpenHow>,
}

impl RingOp for OpenAt2 {
    const CODE: u8 = opcode::OpenAt2::CODE;
    const NAME: &'static str = "openat2";
}

impl OpenAt2 {
    /// Opens `path` read-only beneath `dir` with `resolve` flags
    /// (`RESOLVE_BENEATH` ...). Non-blocking, so a FIFO never stalls a core.
    pub(crate) fn new(dir: Rc<OwnedFd>, path: CString, resolve: u64) -> OpenAt2 {
        let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
        let how = types::OpenHow::new().flags(flags as u64).resolve(resolve);
        OpenAt2 {
            dir: Some(dir),
            path,
            how: Box::new(how),
        }
    }

    /// Opens `path` (relative to the working directory) with `flags` and,
    /// when it creates the file, `mode`.
    pub(crate) fn with_flags(path: CString, flags: i32, mode: u32) -> OpenAt2 {
        let how = types::OpenHow::new()
            .flags((flags | libc::O_CLOEXEC) as u64)
            .mode(mode as u64);
        OpenAt2 {
            dir: None,
            path,
            how: Box::new(how),
        }
    }

    pub(crate) fn entry(&self, user_data: u64) -> squeue::Entry {
        let dir = self.dir.as_ref().map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
        opcode::OpenAt2::new(types::Fd(dir), self.path.as_ptr(), &*self.how)
            .build()
            .user_data(user_data)
    }

    /// The opened file from a CQE's result, or the errno.
    pub(crate) fn complete(self, res: i32) -> Result<OwnedFd, i32> {
        if res < 0 {
            return Err(-res);
        }
        // SAFETY: a successful openat2 CQE carries a new descriptor that
        // nobody else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(res) })
    }
}
