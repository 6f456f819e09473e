//! `percore::check()` and `percore-server --check`: the setup probes, run
//! before serving, one line each, for an operator (or a bug report). Not on
//! the request path: it runs the same probes the workers would, once, and
//! says which fails first and how to fix it.

use std::fmt;

use crate::config::Config;

/// One probe's result.
#[derive(Debug, Clone)]
pub struct Finding {
    /// What was probed (`io_uring`, `RLIMIT_NOFILE`, `server.listen` ...).
    pub what: &'static str,
    /// What was found.
    pub found: String,
    /// `None` if the configured server can run with it, else the fix.
    pub fix: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.fix {
            None => write!(f, "ok    {}: {}", self.what, self.found),
            Some(fix) => write!(f, "FAIL  {}: {} -> {fix}", self.what, self.found),
        }
    }
}

impl Finding {
    /// A probe that passed.
    pub fn ok(what: &'static str, found: impl Into<String>) -> Finding {
        Finding {
            what,
            found: found.into(),
            fix: None,
        }
    }

    /// A probe that failed, and its fix.
    pub fn fail(what: &'static str, found: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            what,
            found: found.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Locked memory a worker's ring and buffer ring take, about (README:
/// 130 to 190 KiB).
const MEMLOCK_PER_WORKER: u64 = 192 * 1024;

/// Runs every probe for `config`: kernel, io_uring (sysctl, seccomp, ring
/// setup with every opcode and flag the server uses), RLIMIT_MEMLOCK,
/// RLIMIT_NOFILE, the listen addresses, the TLS files.
pub fn check(config: &Config) -> Vec<Finding> {
    let workers = crate::runtime::worker_count(config);
    let mut out = Vec::new();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|e| format!("unknown ({e})"));
    out.push(Finding::ok("kernel", kernel));
    let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "absent (0)".to_owned());
    out.push(match sysctl.as_str() {
        "1" | "2" => Finding::fail(
            "kernel.io_uring_disabled",
            sysctl,
            "sysctl kernel.io_uring_disabled=0",
        ),
        _ => Finding::ok("kernel.io_uring_disabled", sysctl),
    });
    let seccomp = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Seccomp:").map(|v| v.trim().to_owned()))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let filtered = seccomp == "2";
    out.push(Finding::ok(
        "seccomp",
        if filtered {
            "a filter is on (a container?)".to_owned()
        } else {
            format!("mode {seccomp}")
        },
    ));
    let sqpoll = config.ring.sqpoll.then_some(config.ring.sqpoll_idle_ms);
    match crate::driver::setup::build(config.ring.entries, sqpoll) {
        Ok((ring, features)) => {
            let mut line = features.to_string();
            // The buffer ring as a worker registers it (1 buffer): whether
            // the kernel consumes it incrementally. The ring goes first, as
            // in a worker: the buffer ring's memory outlives its use.
            let bufs = crate::driver::buf_ring::BufRing::new(&ring.submitter(), 0, 1, 4096);
            if bufs.as_ref().is_ok_and(|b| b.incremental()) {
                line.push_str(" buf-ring-inc");
            }
            drop(ring);
            drop(bufs);
            out.push(Finding::ok("io_uring", line));
            // `build` has probed each opcode the server submits: all there.
            let mut names: Vec<&str> = Vec::new();
            for (_, name) in crate::driver::op::PROBED {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            out.push(Finding::ok("io_uring opcodes", names.join(", ")));
        }
        Err(e) => out.push(Finding::fail("io_uring", "cannot be set up", e.to_string())),
    }
    use nix::sys::resource::{getrlimit, Resource};
    let need = workers as u64 * MEMLOCK_PER_WORKER;
    out.push(match getrlimit(Resource::RLIMIT_MEMLOCK) {
        Ok((soft, _)) if soft >= need => Finding::ok(
            "RLIMIT_MEMLOCK",
            format!(
                "{} KiB for {workers} worker(s) needing about {} KiB",
                soft / 1024,
                need / 1024
            ),
        ),
        Ok((soft, _)) => Finding::fail(
            "RLIMIT_MEMLOCK",
            format!(
                "{} KiB for {workers} worker(s) needing about {} KiB",
                soft / 1024,
                need / 1024
            ),
            "ulimit -l unlimited (LimitMEMLOCK=infinity, docker run --ulimit memlock=-1)",
        ),
        Err(e) => Finding::ok("RLIMIT_MEMLOCK", format!("unknown ({e})")),
    });
    let conns = workers as u64 * config.server.max_connections as u64;
    let least = crate::runtime::descriptors_needed(workers);
    out.push(match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((_, hard)) if hard < least => Finding::fail(
            "RLIMIT_NOFILE",
            format!("{hard} (hard)"),
            crate::runtime::too_few_descriptors(hard, workers),
        ),
        // The server raises the soft limit to the hard one at start.
        Ok((_, hard)) if hard >= conns + 64 => Finding::ok(
            "RLIMIT_NOFILE",
            format!(
                "{hard} (hard) for {workers} x {} connections",
                config.server.max_connections
            ),
        ),
        // It runs, capped: say so, as the server's start-up warning does.
        Ok((_, hard)) => Finding::ok(
            "RLIMIT_NOFILE",
            format!(
                "{hard} (hard) for {workers} x {} connections: each worker is capped at \
                 {hard} (raise it with LimitNOFILE= or ulimit -Hn for more)",
                config.server.max_connections
            ),
        ),
        Err(e) => Finding::ok("RLIMIT_NOFILE", format!("unknown ({e})")),
    });
    let mut listens = vec![("server.listen", Some(config.server.listen))];
    listens.push(("tls.redirect_http", config.tls.redirect_addr()));
    listens.push(("metrics.listen", config.metrics.addr()));
    for (what, addr) in listens {
        let Some(addr) = addr else { continue };
        out.push(match crate::net::ensure_free(addr) {
            Ok(()) => Finding::ok(what, format!("{addr} is free")),
            Err(_) if config.server.takeover => Finding::ok(
                what,
                format!("{addr} is in use: joined with server.takeover"),
            ),
            Err(e) => Finding::fail(
                what,
                format!("{addr}: {e}"),
                "stop the other server, or --takeover",
            ),
        });
    }
    if config.tls.enabled() {
        out.push(match crate::tls::Certificates::load(&config.tls) {
            Ok(_) => Finding::ok(
                "tls",
                format!("{} and its key load", config.tls.cert.display()),
            ),
            Err(e) => Finding::fail("tls", e, "fix the [tls] files"),
        });
    }
    out
}

/// Prints [`check`]'s findings, one line each, and the first fix; the
/// process's exit status: 0 when the configured server can run, else 1.
pub fn print_check(config: &Config) -> i32 {
    print_findings(&check(config))
}

/// Prints `findings` (those of [`check`], and an app's own probes after
/// them, made with [`Finding::ok`] and [`Finding::fail`]), then the
/// verdict: "percore can run with this configuration" and 0, or the first
/// fix and 1.
pub fn print_findings(findings: &[Finding]) -> i32 {
    for f in findings {
        println!("{f}");
    }
    match findings.iter().find(|f| f.fix.is_some()) {
        None => {
            println!("percore can run with this configuration");
            0
        }
        Some(f) => {
            println!("first fix: {}", f.fix.as_deref().unwrap_or(""));
            1
        }
    }
}
