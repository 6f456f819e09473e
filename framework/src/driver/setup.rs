//! Ring setup with feature fallback, the opcode probe, and the one-sentence
//! errors an operator sees when io_uring is unavailable.

use std::fmt;
use std::io;

use io_uring::{register::Probe, IoUring};

/// What a ring was set up with, for the startup log line.
#[derive(Clone, Debug, Default)]
pub struct RingFeatures {
    /// `IORING_SETUP_SINGLE_ISSUER`.
    pub single_issuer: bool,
    /// `IORING_SETUP_DEFER_TASKRUN`.
    pub defer_taskrun: bool,
    /// `IORING_SETUP_COOP_TASKRUN`.
    pub coop_taskrun: bool,
    /// `IORING_SETUP_SQPOLL` (opt-in).
    pub sqpoll: bool,
    /// SQ entries.
    pub sq_entries: u32,
    /// CQ entries.
    pub cq_entries: u32,
}

impl fmt::Display for RingFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut flags = Vec::new();
        if self.sqpoll {
            flags.push("SQPOLL");
        }
        if self.single_issuer {
            flags.push("SINGLE_ISSUER");
        }
        if self.defer_taskrun {
            flags.push("DEFER_TASKRUN");
        }
        if self.coop_taskrun {
            flags.push("COOP_TASKRUN");
        }
        if flags.is_empty() {
            flags.push("none");
        }
        write!(
            f,
            "flags={} sq={} cq={} multishot-accept multishot-recv buf-ring direct-fds",
            flags.join("|"),
            self.sq_entries,
            self.cq_entries
        )
    }
}

/// Why a ring could not be set up, phrased for the operator.
#[derive(Debug)]
pub enum SetupError {
    /// io_uring_setup was refused (EPERM/EACCES/ENOSYS); `seccomp`: the
    /// process runs under a seccomp filter (`Seccomp: 2`), as in a
    /// container, where the filter is the likely cause.
    Blocked { error: io::Error, seccomp: bool },
    /// Not enough locked memory for the rings.
    MemLock(io::Error),
    /// The kernel lacks an opcode or feature percore needs.
    Unsupported(&'static str),
    /// Anything else.
    Other(io::Error),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Blocked { error, seccomp: true } => write!(
                f,
                "io_uring is blocked ({error}), most likely by this container's seccomp profile \
                 (Docker Engine 25.0 and later block io_uring by default): run with a profile \
                 that allows it, `docker run --security-opt seccomp=docker/seccomp-io_uring.json ...` \
                 (the image has it at /etc/percore/seccomp-io_uring.json); failing that, the host \
                 may have `sysctl kernel.io_uring_disabled` set: set it to 0"
            ),
            SetupError::Blocked { error, seccomp: false } => write!(
                f,
                "io_uring is blocked on this system ({error}): set `sysctl kernel.io_uring_disabled=0`, \
                 or in a container run with a seccomp profile that allows io_uring \
                 (docker run --security-opt seccomp=docker/seccomp-io_uring.json ...)"
            ),
            SetupError::MemLock(e) => write!(
                f,
                "io_uring could not lock memory for its rings ({e}): raise RLIMIT_MEMLOCK \
                 (`ulimit -l unlimited`, or LimitMEMLOCK=infinity in a systemd unit, \
                 or docker run --ulimit memlock=-1)"
            ),
            SetupError::Unsupported(what) => write!(
                f,
                "this kernel lacks io_uring {what}: percore needs Linux 6.1 or newer"
            ),
            SetupError::Other(e) => write!(f, "io_uring setup failed: {e}"),
        }
    }
}

impl std::error::Error for SetupError {}

impl SetupError {
    /// Classifies an error from io_uring_setup or a registration.
    pub fn from_io(e: io::Error) -> SetupError {
        match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) | Some(libc::ENOSYS) => SetupError::Blocked {
                error: e,
                seccomp: under_seccomp_filter(),
            },
            Some(libc::ENOMEM) => SetupError::MemLock(e),
            _ => SetupError::Other(e),
        }
    }
}

/// Whether this process runs under a seccomp filter (`Seccomp: 2` in
/// /proc/self/status): a container's profile.
fn under_seccomp_filter() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .any(|l| l.strip_prefix("Seccomp:").is_some_and(|v| v.trim() == "2"))
    })
}

/// Flag sets to try, best first: (single_issuer, defer_taskrun, coop_taskrun).
/// With SQPOLL only the ones without task-run flags apply.
const STEPS: [(bool, bool, bool); 5] = [
    (true, true, true),
    (true, false, true),
    (false, false, true),
    (true, false, false),
    (false, false, false),
];

/// Builds a ring, stepping down through [`STEPS`] on EINVAL.
pub fn build(entries: u32, sqpoll: Option<u32>) -> Result<(IoUring, RingFeatures), SetupError> {
    let mut last = None;
    for (single_issuer, defer, coop) in STEPS {
        // DEFER_TASKRUN and COOP_TASKRUN are meaningless with a polling thread.
        if sqpoll.is_some() && (defer || coop) {
            continue;
        }
        let mut builder = IoUring::builder();
        builder
            .setup_cqsize(entries.saturating_mul(4))
            .setup_clamp();
        if let Some(idle) = sqpoll {
            builder.setup_sqpoll(idle);
        }
        if single_issuer {
            builder.setup_single_issuer();
        }
        if defer {
            builder.setup_defer_taskrun();
        }
        if coop {
            builder.setup_coop_taskrun();
        }
        match builder.build(entries) {
            Ok(ring) => {
                probe(&ring)?;
                let features = RingFeatures {
                    single_issuer,
                    defer_taskrun: defer,
                    coop_taskrun: coop,
                    sqpoll: sqpoll.is_some(),
                    sq_entries: ring.params().sq_entries(),
                    cq_entries: ring.params().cq_entries(),
                };
                return Ok((ring, features));
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(SetupError::from_io(e)),
        }
    }
    Err(SetupError::Other(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::Unsupported, "no ring flags accepted")
    })))
}

/// Checks that every opcode the event loop submits exists (the list comes
/// from the op types, [`super::op::PROBED`]).
fn probe(ring: &IoUring) -> Result<(), SetupError> {
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|_| SetupError::Unsupported("opcode probing (IORING_REGISTER_PROBE)"))?;
    for (code, name) in super::op::PROBED {
        if !probe.is_supported(code) {
            return Err(SetupError::Unsupported(name));
        }
    }
    Ok(())
}
