//! SIGINT, SIGTERM and SIGQUIT: blocked in every thread, taken
//! synchronously by the main thread, which then asks the workers to drain
//! (a second one ends the drain at once). SIGUSR1 likewise, and reopens the
//! access log. SIGHUP is taken and logged, not fatal (nginx's reload
//! signal, and what a closing terminal sends).

use std::time::Duration;

use nix::sys::signal::{SigSet, SigmaskHow, Signal};

use crate::error::{Error, Result};

/// Blocks SIGINT, SIGTERM, SIGQUIT, SIGUSR1 and SIGHUP in the calling thread (and every thread it
/// spawns afterwards) and returns the set to wait on.
pub fn block_termination() -> Result<SigSet> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGQUIT);
    set.add(Signal::SIGUSR1);
    set.add(Signal::SIGHUP);
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .map_err(|e| Error::Io("block the signals the server takes".into(), e.into()))?;
    Ok(set)
}

/// Waits up to `timeout` for one of `set`; returns its name.
pub fn wait(set: &SigSet, timeout: Duration) -> Option<&'static str> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `set` is a valid sigset for the call; no siginfo is requested.
    let sig = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
    match sig {
        libc::SIGINT => Some("SIGINT"),
        libc::SIGTERM => Some("SIGTERM"),
        libc::SIGQUIT => Some("SIGQUIT"),
        libc::SIGUSR1 => Some("SIGUSR1"),
        libc::SIGHUP => Some("SIGHUP"),
        _ => None,
    }
}
