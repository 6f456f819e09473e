//! The crate's error type: everything that can stop a server from starting.

use std::fmt;
use std::io;

use crate::config::ConfigError;
use crate::driver::SetupError;
use crate::router::RouteError;

/// Why a server could not start (or stopped).
#[derive(Debug)]
pub enum Error {
    /// Bad configuration or command line.
    Config(ConfigError),
    /// io_uring could not be set up.
    Ring(SetupError),
    /// A route pattern was invalid or conflicted with another.
    Route(RouteError),
    /// An I/O error, with what was being done.
    Io(String, io::Error),
    /// A worker thread stopped abnormally.
    Worker(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "{e}"),
            Error::Ring(e) => write!(f, "{e}"),
            Error::Route(e) => write!(f, "invalid route: {e}"),
            Error::Io(what, e) => write!(f, "{what}: {e}"),
            Error::Worker(msg) => write!(f, "worker failed: {msg}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<SetupError> for Error {
    fn from(e: SetupError) -> Self {
        Error::Ring(e)
    }
}

impl From<RouteError> for Error {
    fn from(e: RouteError) -> Self {
        Error::Route(e)
    }
}

impl Error {
    /// The process exit code for this error: 2 for configuration, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) => 2,
            _ => 1,
        }
    }
}
