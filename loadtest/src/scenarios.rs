//! The scenarios, which targets each applies to, and how one (scenario,
//! target, round) is run into a [`Run`]:
//!
//! 1. an unavailable target gives an `unavailable` run at once;
//! 2. start the server on its CPUs (a start failure is `unavailable` too);
//! 3. sample its CPU time, drive the load (wrk, oha or the idle client),
//!    sample again: server CPU per request = delta / requests;
//! 4. read its peak RSS, then SIGTERM it and wait for the exit;
//! 5. any socket error, non-2xx answer, or (for percore) an unclean exit
//!    marks the run `failed` with the reason.

use std::path::{Path, PathBuf};

use crate::oha::OhaRun;
use crate::report::{Run, Status};
use crate::targets::Target;
use crate::topology::CpuTicks;
use crate::wrk::WrkRun;
use crate::{idle, procfs};

/// Every scenario name accepted by `--scenarios`, in table order.
pub const ALL: &[&str] = &[
    "plaintext",
    "json",
    "pipelined",
    "static-4k",
    "static-64k",
    "static-1m",
    "latency",
    "idle",
    "sweep",
];

/// The static files the harness creates under `WORK/static/`: (scenario, file, bytes, connections).
pub const STATIC_FILES: &[(&str, &str, usize, usize)] = &[
    ("static-4k", "4k.bin", 4 << 10, 64),
    ("static-64k", "64k.bin", 64 << 10, 64),
    ("static-1m", "1m.bin", 1 << 20, 16),
];

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// GET /plaintext, 64 connections.
    Plaintext,
    /// GET /json, 64 connections.
    Json,
    /// GET /plaintext pipelined 16 deep, 256 connections (TechEmpower).
    Pipelined,
    /// GET /static/FILE.
    Static {
        file: &'static str,
        connections: usize,
    },
    /// oha at a fixed rate: latency percentiles at a load every target carries.
    Latency,
    /// Idle keep-alive connections: server memory per connection.
    Idle,
    /// Plaintext (or pipelined) with `workers` workers, the server on one
    /// CPU of each of `workers` physical cores and wrk on the others (see
    /// [`crate::topology`]).
    Sweep { workers: usize, pipelined: bool },
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub kind: Kind,
}

/// Everything a run needs besides the scenario and the target.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server_cpus: Vec<usize>,
    pub client_cpus: Vec<usize>,
    pub workers: usize,
    pub secs: u64,
    pub wrk_threads: usize,
    pub pipeline_script: PathBuf,
    pub pipeline_depth: usize,
    pub latency_rate: u64,
    pub idle_connections: usize,
    /// Holds `static/` and the servers' logs and scratch dirs.
    pub work: PathBuf,
    /// Where the sweep's steps run.
    pub sweep: SweepCpus,
}

/// The CPU sets of the sweep's steps.
#[derive(Debug, Clone)]
pub enum SweepCpus {
    /// From the machine's physical cores ([`crate::topology::sweep_cpus`]).
    Cores(Vec<Vec<usize>>),
    /// Given with `--server-cpus` / `--client-cpus`: a step of N workers
    /// takes the first N server CPUs, wrk all the client CPUs.
    Explicit,
}

impl Settings {
    /// The server's and the client's CPUs for a sweep step, or why it
    /// cannot run here.
    fn sweep_cpus(&self, workers: usize) -> Result<(Vec<usize>, Vec<usize>), String> {
        match &self.sweep {
            SweepCpus::Cores(cores) => {
                crate::topology::sweep_cpus(cores, workers).ok_or_else(|| {
                    format!(
                        "{workers} worker(s) need {} physical cores (one left for wrk); {} here",
                        workers + 1,
                        cores.len()
                    )
                })
            }
            SweepCpus::Explicit if workers <= self.server_cpus.len() => Ok((
                self.server_cpus[..workers].to_vec(),
                self.client_cpus.clone(),
            )),
            SweepCpus::Explicit => Err(format!(
                "{workers} worker(s) need {workers} server CPUs; --server-cpus gives {}",
                self.server_cpus.len()
            )),
        }
    }
}

impl Scenario {
    /// Expand a scenario name; `sweep` becomes `sweep-plaintext-wN` and
    /// `sweep-pipelined-wN` for each N of `sweep`.
    pub fn expand(name: &str, sweep: &[usize]) -> Vec<Scenario> {
        let one = |kind| {
            vec![Scenario {
                name: name.to_string(),
                kind,
            }]
        };
        match name {
            "plaintext" => one(Kind::Plaintext),
            "json" => one(Kind::Json),
            "pipelined" => one(Kind::Pipelined),
            "latency" => one(Kind::Latency),
            "idle" => one(Kind::Idle),
            "sweep" => [false, true]
                .into_iter()
                .flat_map(|pipelined| {
                    sweep.iter().map(move |&w| Scenario {
                        name: format!(
                            "sweep-{}-w{w}",
                            if pipelined { "pipelined" } else { "plaintext" }
                        ),
                        kind: Kind::Sweep {
                            workers: w,
                            pipelined,
                        },
                    })
                })
                .collect(),
            _ => STATIC_FILES
                .iter()
                .filter(|(n, ..)| *n == name)
                .map(|&(n, file, _, connections)| Scenario {
                    name: n.to_string(),
                    kind: Kind::Static { file, connections },
                })
                .collect(),
        }
    }

    /// Whether `target` takes part in this scenario.
    pub fn applies_to(&self, target: &Target) -> bool {
        match self.kind {
            Kind::Plaintext | Kind::Json | Kind::Pipelined | Kind::Latency | Kind::Sweep { .. } => {
                target.serves.app
            }
            Kind::Static { .. } => target.serves.files,
            Kind::Idle => target.serves.app || target.serves.files,
        }
    }

    /// The path requested, and the connections used.
    fn request(&self, target: &Target) -> (String, usize) {
        match self.kind {
            Kind::Plaintext | Kind::Latency => ("/plaintext".into(), 64),
            // Connections grow with the workers, so each has as many.
            Kind::Sweep { workers, pipelined } => (
                "/plaintext".into(),
                if pipelined { 256 } else { 64 } * workers,
            ),
            Kind::Json => ("/json".into(), 64),
            Kind::Pipelined => ("/plaintext".into(), 256),
            Kind::Static { file, connections } => (format!("/static/{file}"), connections),
            Kind::Idle if target.serves.app => ("/plaintext".into(), 0),
            Kind::Idle => ("/static/4k.bin".into(), 0),
        }
    }

    /// Run this scenario once against `target`.
    pub fn run(&self, target: &Target, round: usize, s: &Settings) -> Run {
        let (path, connections) = self.request(target);
        let step = match self.kind {
            Kind::Sweep { workers, .. } => Some((workers, s.sweep_cpus(workers))),
            _ => None,
        };
        let workers = step.as_ref().map_or(s.workers, |(w, _)| *w);
        let mut run = Run::new(round, &self.name, target, workers, connections, s.secs);
        if let Some(why) = &target.unavailable {
            return run.with_status(Status::Unavailable, why);
        }
        let swept;
        let (cpus, s) = match step {
            None => (s.server_cpus.clone(), s),
            Some((_, Err(why))) => return run.with_status(Status::Unavailable, &why),
            Some((_, Ok((server, client)))) => {
                swept = Settings {
                    wrk_threads: client.len(),
                    client_cpus: client,
                    ..s.clone()
                };
                (server, &swept)
            }
        };
        run.server_cpus = cpus.clone();
        run.client_cpus = s.client_cpus.clone();
        let server = match target.start(&cpus, workers, &s.work) {
            Ok(server) => server,
            Err(why) => return run.with_status(Status::Unavailable, &why),
        };
        let url = format!("http://127.0.0.1:{}{path}", server.port);
        let cpu_before = procfs::cpu_time(server.pid);
        let ticks_before = CpuTicks::sample();
        let failure = self
            .drive(&url, &server, &path, connections, s, &mut run)
            .err();
        let cpu = procfs::cpu_time(server.pid).saturating_sub(cpu_before);
        let ticks = CpuTicks::sample();
        run.server_busy = ticks.busy_since(&ticks_before, &cpus);
        run.client_busy = ticks.busy_since(&ticks_before, &s.client_cpus);
        run.peak_rss_kib = procfs::peak_rss_kib(server.pid);
        run.server_cpu_secs = cpu.as_secs_f64();
        if run.requests > 0 {
            run.cpu_us_per_req = cpu.as_secs_f64() * 1e6 / run.requests as f64;
        }
        let exit = server.stop();
        if let Some(why) = failure {
            return run.with_status(Status::Failed, &why);
        }
        match exit {
            Err(why) => run.with_status(Status::Failed, &why),
            Ok(status) if target.is_percore && !status.success() => {
                run.with_status(Status::Failed, &format!("after SIGTERM: {status}"))
            }
            Ok(_) => run,
        }
    }

    /// Drive the load; figures go into `run`, an error is the failure reason.
    fn drive(
        &self,
        url: &str,
        server: &crate::targets::Server,
        path: &str,
        connections: usize,
        s: &Settings,
        run: &mut Run,
    ) -> Result<(), String> {
        match self.kind {
            Kind::Latency => {
                let oha = OhaRun {
                    url,
                    connections,
                    secs: s.secs,
                    rate: Some(s.latency_rate),
                    client_cpus: &s.client_cpus,
                };
                let r = oha.run()?;
                run.requests = r.requests;
                run.rps = r.rps;
                run.latency_us = [("p50", r.p50_us), ("p99", r.p99_us), ("p99.9", r.p999_us)]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                run.non_2xx = r.non_2xx;
                run.socket_errors = r.errors;
                if r.errors > 0 {
                    return Err(format!(
                        "{} errors ({})",
                        r.errors,
                        r.first_error.unwrap_or_default()
                    ));
                }
                if r.non_2xx > 0 {
                    return Err(format!("{} non-2xx", r.non_2xx));
                }
                if r.requests == 0 {
                    return Err("no request completed".into());
                }
                Ok(())
            }
            Kind::Idle => {
                let r = idle::run(server.pid, server.port, path, s.idle_connections)?;
                run.connections = r.connections;
                run.requests = (r.connections + 101) as u64;
                run.idle = Some(r.into());
                Ok(())
            }
            _ => {
                let pipelined = matches!(
                    self.kind,
                    Kind::Pipelined
                        | Kind::Sweep {
                            pipelined: true,
                            ..
                        }
                );
                let pipeline = pipelined.then_some((s.pipeline_script.as_path(), s.pipeline_depth));
                let wrk = WrkRun {
                    url,
                    connections,
                    threads: s.wrk_threads,
                    secs: s.secs,
                    client_cpus: &s.client_cpus,
                    pipeline,
                };
                let r = wrk.run()?;
                run.requests = r.requests;
                run.rps = r.rps;
                // wrk's latency histogram is garbage with pipelining (it
                // prints p75..p99 = 0), so pipelined runs record none.
                if pipeline.is_none() {
                    run.latency_us = [
                        ("p50", r.p50_us),
                        ("p75", r.p75_us),
                        ("p90", r.p90_us),
                        ("p99", r.p99_us),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                }
                run.non_2xx = r.non_2xx;
                run.socket_errors = r.socket_errors;
                if let Some(line) = r.socket_errors_line {
                    return Err(line);
                }
                if r.non_2xx > 0 {
                    return Err(format!("{} non-2xx", r.non_2xx));
                }
                if r.requests == 0 {
                    return Err("no request completed".into());
                }
                Ok(())
            }
        }
    }
}

/// Create `work/static/{4k,64k,1m}.bin` with non-trivial (pseudo-random)
/// bytes, world-readable: nginx's workers and h2o run as `nobody` under root.
pub fn write_static_files(work: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = work.join("static");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for d in [work, &dir] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for &(_, file, size, _) in STATIC_FILES {
        let bytes: Vec<u8> = (0..size)
            .map(|_| {
                // xorshift64: cheap, deterministic, not compressible.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let path = dir.join(file);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_expands() {
        for name in ALL {
            assert!(!Scenario::expand(name, &[1]).is_empty(), "{name}");
        }
        let sweep: Vec<_> = Scenario::expand("sweep", &[1, 2, 4])
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(
            sweep,
            [
                "sweep-plaintext-w1",
                "sweep-plaintext-w2",
                "sweep-plaintext-w4",
                "sweep-pipelined-w1",
                "sweep-pipelined-w2",
                "sweep-pipelined-w4"
            ]
        );
        assert!(Scenario::expand("nope", &[1]).is_empty());
    }

    #[test]
    fn static_files_have_their_sizes() {
        let dir =
            std::env::temp_dir().join(format!("percore-loadtest-test-{}", std::process::id()));
        write_static_files(&dir).unwrap();
        for &(_, file, size, _) in STATIC_FILES {
            assert_eq!(
                std::fs::metadata(dir.join("static").join(file))
                    .unwrap()
                    .len() as usize,
                size
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
