//! Where access-log lines go: standard output, or `log.access_file`
//! (appended to, created if missing) which SIGUSR1 reopens, so logrotate
//! can move it away and have a new one started. Shared by the cores: each
//! writes its lines once per loop turn, whole, under a read lock; a reopen
//! takes the write lock only to swap the file.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// The access log's destination.
pub(crate) struct Sink {
    path: Option<PathBuf>,
    file: RwLock<Option<File>>,
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Sink {
    /// Standard output (`None`) or the file at `path`.
    pub(crate) fn new(path: Option<&Path>) -> io::Result<Sink> {
        let file = path.map(open).transpose().map_err(|e| {
            let path = path.map(Path::display);
            io::Error::new(e.kind(), format!("log.access_file {}: {e}", path.unwrap()))
        })?;
        Ok(Sink {
            path: path.map(Path::to_path_buf),
            file: RwLock::new(file),
        })
    }

    /// Writes whole lines. A failing write is reported once per call and
    /// the lines are dropped: the log must never stop the server.
    pub(crate) fn write(&self, lines: &[u8]) {
        let file = self.file.read().unwrap_or_else(|e| e.into_inner());
        let result = match file.as_ref() {
            // `&File` writes: the lock is shared by the cores.
            Some(file) => (&*file).write_all(lines),
            None => {
                let mut out = io::stdout().lock();
                out.write_all(lines).and_then(|()| out.flush())
            }
        };
        if let Err(e) = result {
            tracing::warn!("access log: {e}");
        }
    }

    /// Opens the file again (after logrotate moved it). On failure the old
    /// one is kept and the error returned.
    pub(crate) fn reopen(&self) -> io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let file = open(path)?;
        *self.file.write().unwrap_or_else(|e| e.into_inner()) = Some(file);
        Ok(())
    }
}
