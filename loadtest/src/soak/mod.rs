//! `percore-loadtest --soak MINUTES`: mixed traffic against percore-server
//! with TLS, a plain percore-server and the proxy example in front of it,
//! for MINUTES; every second each server's RSS, open descriptors,
//! connections and free receive buffers are sampled.
//!
//! Pass: after the warm-up (a tenth of the run, at least 5 s) RSS and
//! descriptors are flat within 5% (the median of the first stretch after
//! the warm-up against that of the last), no valid request got a 5xx or a
//! wrong or missing answer, every bad request got a 4xx, no server died or
//! panicked, and once the clients stop every server is back to zero
//! connections (every connection accounted for).

mod sample;
mod servers;
mod traffic;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use sample::Sample;
use servers::{Server, Setup};
use traffic::{Tally, Targets};

/// Allowed growth of RSS and descriptors from after the warm-up to the end.
const FLAT: f64 = 0.05;
/// Runs at least this long are judged on flatness.
const JUDGE_FLAT_SECS: f64 = 300.0;

/// The binaries the soak runs.
pub struct Binaries {
    pub server: PathBuf,
    pub proxy: PathBuf,
    /// The commit of the tree they were built from (`git describe`).
    pub commit: String,
}

impl Binaries {
    /// The commit and when each binary was built (a `--no-build` run on
    /// stale binaries shows it).
    pub fn describe(&self) -> String {
        let built = |p: &Path| -> String {
            let age = std::fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok());
            match age {
                Some(a) => format!("{} built {} min ago", p.display(), a.as_secs() / 60),
                None => format!("{} (no build time)", p.display()),
            }
        };
        format!(
            "tree at {}; {}; {}",
            self.commit,
            built(&self.server),
            built(&self.proxy)
        )
    }
}

/// One server's samples and verdict.
#[derive(Serialize)]
pub struct ServerRecord {
    pub name: String,
    pub samples: Vec<Sample>,
}

/// The whole run, as written to loadtest/results/soak-*.json.
#[derive(Serialize)]
pub struct Record {
    pub minutes: f64,
    pub warmup_secs: f64,
    pub servers: Vec<ServerRecord>,
    pub valid_sent: u64,
    pub valid_ok: u64,
    pub valid_5xx: u64,
    pub valid_failed: u64,
    pub bad_sent: u64,
    pub bad_4xx: u64,
    pub bad_failed: u64,
    pub connect_failed: u64,
    /// What ran: the commit and each binary's build time.
    pub build: String,
    pub vanished: u64,
    pub slow_readers: u64,
    pub tls_handshakes: u64,
    pub failures: Vec<String>,
    pub problems: Vec<String>,
    pub notes: Vec<String>,
    pub passed: bool,
}

/// Runs the soak in `work` (a scratch directory) and returns its record.
pub fn run(minutes: f64, bins: &Binaries, work: &Path) -> Result<Record, String> {
    let setup = Setup::new(work)?;
    let plain = setup.files_server(&bins.server, false)?;
    let tls = setup.files_server(&bins.server, true)?;
    let proxy = setup.proxy(&bins.proxy, plain.addr)?;
    let mut servers = [tls, plain, proxy];
    for s in &servers {
        println!("soak: {} on {} (metrics {})", s.name, s.addr, s.metrics);
    }
    let targets = Targets {
        plain: servers[1].addr,
        tls: servers[0].addr,
        proxy: servers[2].addr,
        ca: setup.ca.clone(),
    };
    let secs = (minutes * 60.0).max(1.0);
    let warmup = (secs / 10.0).max(5.0).min(secs / 2.0);
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(secs);
    let tally = Arc::new(Tally::default());
    let clients = spawn_clients(&tally, &targets, until);

    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); servers.len()];
    let mut next = started;
    let mut last_line = started;
    while Instant::now() < until {
        next += Duration::from_secs(1);
        let t = started.elapsed().as_secs_f64();
        for (i, s) in servers.iter().enumerate() {
            samples[i].push(sample::take(t, s.pid(), s.metrics));
        }
        if last_line.elapsed() >= Duration::from_secs(60) || samples[0].len() == 1 {
            last_line = Instant::now();
            progress(t, &servers, &samples, &tally);
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    for c in clients {
        let _ = c.join();
    }
    // Every connection accounted for: back to zero once the clients left.
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let settle = Instant::now() + Duration::from_secs(10);
    let mut after: Vec<Sample>;
    loop {
        let t = started.elapsed().as_secs_f64();
        after = servers
            .iter()
            .map(|s| sample::take(t, s.pid(), s.metrics))
            .collect();
        if after.iter().all(|s| s.connections == 0) || Instant::now() > settle {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for (s, a) in servers.iter_mut().zip(&after) {
        if a.connections != 0 {
            problems.push(format!(
                "{}: {} connection(s) still open 10 s after the clients left",
                s.name, a.connections
            ));
        }
        if !s.alive() {
            problems.push(format!("{} died", s.name));
        }
        let log = s.log.lock().unwrap();
        if let Some(line) = log
            .iter()
            .find(|l| l.contains("panicked") || l.contains("ERROR"))
        {
            problems.push(format!("{} logged: {line}", s.name));
        }
    }
    // A run shorter than this is too short to tell growth from warm-up
    // (allocator arenas, the file cache filling): flatness is reported,
    // not judged.
    let judged = secs >= JUDGE_FLAT_SECS;
    for (s, v) in servers.iter().zip(&samples) {
        let mut growth = Vec::new();
        flat(s.name, v, warmup, &mut growth);
        match judged {
            true => problems.extend(growth),
            false => notes.extend(
                growth
                    .into_iter()
                    .map(|g| format!("{g} (not judged: a run under 5 min)")),
            ),
        }
    }
    let t: &Tally = &tally;
    if t.valid_5xx.load(Relaxed) > 0 {
        problems.push(format!("{} 5xx answers", t.valid_5xx.load(Relaxed)));
    }
    if t.valid_failed.load(Relaxed) > 0 {
        problems.push(format!(
            "{} valid requests without their whole, correct answer",
            t.valid_failed.load(Relaxed)
        ));
    }
    if t.bad_failed.load(Relaxed) > 0 {
        problems.push(format!(
            "{} of {} bad requests got no 4xx",
            t.bad_failed.load(Relaxed),
            t.bad_sent.load(Relaxed)
        ));
    }
    if t.connect_failed.load(Relaxed) > 0 {
        problems.push(format!(
            "{} connections refused or timed out",
            t.connect_failed.load(Relaxed)
        ));
    }
    if t.valid_ok.load(Relaxed) == 0 {
        problems.push("no request was answered".into());
    }
    let failures = t.failures.lock().unwrap().clone();
    Ok(Record {
        minutes,
        warmup_secs: warmup,
        servers: servers
            .iter()
            .zip(samples)
            .map(|(s, samples)| ServerRecord {
                name: s.name.to_string(),
                samples,
            })
            .collect(),
        valid_sent: t.valid_sent.load(Relaxed),
        valid_ok: t.valid_ok.load(Relaxed),
        valid_5xx: t.valid_5xx.load(Relaxed),
        valid_failed: t.valid_failed.load(Relaxed),
        bad_sent: t.bad_sent.load(Relaxed),
        bad_4xx: t.bad_4xx.load(Relaxed),
        bad_failed: t.bad_failed.load(Relaxed),
        connect_failed: t.connect_failed.load(Relaxed),
        build: bins.describe(),
        vanished: t.vanished.load(Relaxed),
        slow_readers: t.slow_readers.load(Relaxed),
        tls_handshakes: t.tls_handshakes.load(Relaxed),
        failures,
        passed: problems.is_empty(),
        problems,
        notes,
    })
}

/// The client threads: what each kind of traffic is in `traffic`.
fn spawn_clients(
    tally: &Arc<Tally>,
    targets: &Targets,
    until: Instant,
) -> Vec<std::thread::JoinHandle<()>> {
    type Client = Box<dyn FnOnce(&Tally) + Send>;
    let t = targets.clone();
    let (plain, tls, proxy) = (t.plain, t.tls, t.proxy);
    let ca = t.ca.clone();
    let (t1, t2) = (t.clone(), t);
    let clients: Vec<Client> = vec![
        Box::new(move |x| traffic::files(x, plain, 1, until)),
        Box::new(move |x| traffic::files(x, plain, 2, until)),
        Box::new(move |x| traffic::files(x, proxy, 3, until)),
        Box::new(move |x| traffic::pipelined(x, plain, until)),
        Box::new(move |x| traffic::bad(x, plain, None, until)),
        Box::new(move |x| traffic::bad(x, tls, Some(&ca), until)),
        Box::new(move |x| traffic::bad(x, proxy, None, until)),
        Box::new(move |x| traffic::vanishing(x, plain, until)),
        Box::new(move |x| traffic::vanishing(x, tls, until)),
        Box::new(move |x| traffic::vanishing(x, proxy, until)),
        Box::new(move |x| traffic::slow_reader(x, plain, until)),
        Box::new(move |x| traffic::slow_reader(x, proxy, until)),
        Box::new(move |x| traffic::tls(x, &t1, false, 4, until)),
        Box::new(move |x| traffic::tls(x, &t2, true, 5, until)),
    ];
    clients
        .into_iter()
        .map(|client| {
            let tally = tally.clone();
            std::thread::spawn(move || client(&tally))
        })
        .collect()
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// RSS and descriptors: the median of the last fifth of the samples after
/// the warm-up within [`FLAT`] of the median of the first fifth
/// (descriptors: or within two, one splice pipe).
fn flat(name: &str, samples: &[Sample], warmup: f64, problems: &mut Vec<String>) {
    let after: Vec<&Sample> = samples.iter().filter(|s| s.t >= warmup).collect();
    if after.len() < 4 {
        problems.push(format!("{name}: too few samples after the warm-up"));
        return;
    }
    let stretch = (after.len() / 5).max(2);
    let first = &after[..stretch];
    let last = &after[after.len() - stretch..];
    for (what, get) in [
        ("RSS", (|s: &Sample| s.rss_kib) as fn(&Sample) -> u64),
        ("descriptors", |s: &Sample| s.fds),
    ] {
        let a = median(first.iter().map(|s| get(s)).collect());
        let b = median(last.iter().map(|s| get(s)).collect());
        // Descriptors come and go with the splices in flight (a pooled
        // pipe is two) and the file cache: a pipe's worth is not growth.
        let slack = if what == "descriptors" { 2.0 } else { 0.0 };
        if b as f64 > (a as f64 * (1.0 + FLAT)).max(a as f64 + slack) {
            problems.push(format!(
                "{name}: {what} grew from {a} to {b} ({:+.1}%) after the warm-up",
                (b as f64 / a.max(1) as f64 - 1.0) * 100.0
            ));
        }
    }
}

fn progress(t: f64, servers: &[Server], samples: &[Vec<Sample>], tally: &Tally) {
    let mut line = format!(
        "soak: {:>5.0} s: {} ok / {} sent, {} failed, {} 5xx",
        t,
        tally.valid_ok.load(Relaxed),
        tally.valid_sent.load(Relaxed),
        tally.valid_failed.load(Relaxed),
        tally.valid_5xx.load(Relaxed)
    );
    for (s, v) in servers.iter().zip(samples) {
        if let Some(x) = v.last() {
            line.push_str(&format!(
                "; {}: {} KiB, {} fds, {} conns",
                s.name, x.rss_kib, x.fds, x.connections
            ));
        }
    }
    println!("{line}");
}

/// The record as the lines RELIABILITY.md keeps.
pub fn summary(r: &Record) -> String {
    let mut out = format!(
        "soak: {:.2} min, warm-up {:.0} s: {}\n  build: {}\n",
        r.minutes,
        r.warmup_secs,
        if r.passed { "PASS" } else { "FAIL" },
        r.build
    );
    out.push_str(&format!(
        "  valid requests: {} sent, {} answered whole and correct, {} 5xx, {} failed\n  \
         bad requests: {} sent, {} got a 4xx, {} did not; {} connections failed; \
         {} clients vanished mid-request or mid-response; {} slow readers; {} TLS handshakes\n",
        r.valid_sent,
        r.valid_ok,
        r.valid_5xx,
        r.valid_failed,
        r.bad_sent,
        r.bad_4xx,
        r.bad_failed,
        r.connect_failed,
        r.vanished,
        r.slow_readers,
        r.tls_handshakes
    ));
    out.push_str("  | server | RSS after warm-up -> end (KiB) | max | fds after warm-up -> end | max conns | min free buffers | responses |\n");
    out.push_str("  |---|---|---|---|---|---|---|\n");
    for s in &r.servers {
        let after: Vec<&Sample> = s.samples.iter().filter(|x| x.t >= r.warmup_secs).collect();
        let (Some(a), Some(b)) = (after.first(), after.last()) else {
            continue;
        };
        out.push_str(&format!(
            "  | {} | {} -> {} | {} | {} -> {} | {} | {} | {} |\n",
            s.name,
            a.rss_kib,
            b.rss_kib,
            after.iter().map(|x| x.rss_kib).max().unwrap_or(0),
            a.fds,
            b.fds,
            s.samples.iter().map(|x| x.connections).max().unwrap_or(0),
            s.samples.iter().map(|x| x.buffers_free).min().unwrap_or(0),
            b.responses
        ));
    }
    for p in &r.problems {
        out.push_str(&format!("  problem: {p}\n"));
    }
    for n in &r.notes {
        out.push_str(&format!("  note: {n}\n"));
    }
    for f in &r.failures {
        out.push_str(&format!("  failure: {f}\n"));
    }
    out
}
