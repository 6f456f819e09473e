//! `cargo run --release -p percore-loadtest -- [--scenarios LIST] [--targets LIST] [--rounds N] [--secs S]`
//!
//! The round loop: build percore's binaries, create the static files, pin
//! this process to the client CPUs, then
//! `for round { for scenario { for target { run } } }` (rounds interleaved,
//! A B C A B C), print the markdown table of medians, write the JSON of every
//! raw run and the SVG chart. Exits 1 if any percore run failed, 2 on a setup
//! error (a missing tool names loadtest/setup.sh).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use percore_loadtest::report::{self, Dump, Run, Status};
use percore_loadtest::scenarios::{self, Scenario, Settings};
use percore_loadtest::targets::{self, find_tool, parse_cpu_list, Target};
use percore_loadtest::{chart, default_cpus, procfs};

/// Load-test percore against nginx, h2o, actix-web, hyper, may-minihttp and ntex.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Comma-separated scenarios: plaintext,json,pipelined,static-4k,static-64k,static-1m,latency,idle,sweep.
    /// Default: all, or only the sweep when --sweep is given.
    #[arg(long, value_delimiter = ',')]
    scenarios: Option<Vec<String>>,
    /// Worker counts of the sweep (plaintext and pipelined at each), e.g.
    /// 1,2,4,8: the server on one CPU of each of N physical cores, wrk on
    /// the other cores. Default: 1 and the powers of two below the number
    /// of physical cores.
    #[arg(long, value_delimiter = ',')]
    sweep: Option<Vec<usize>>,
    /// Comma-separated targets: percore-hello,percore-server,nginx,h2o,actix,hyper,may,ntex
    #[arg(long, value_delimiter = ',', default_values_t = targets::ALL.iter().map(|s| s.to_string()))]
    targets: Vec<String>,
    /// Rounds; the table shows the median.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds per run.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// CPUs for the server (e.g. 1 or 32-63). Default: the second of two CPUs, else the upper half.
    #[arg(long)]
    server_cpus: Option<String>,
    /// CPUs for wrk/oha and the idle client. Default: the others.
    #[arg(long)]
    client_cpus: Option<String>,
    /// Workers per server. Default: one per server CPU.
    #[arg(long)]
    workers: Option<usize>,
    /// Requests per second of the latency scenario (oha -q).
    #[arg(long, default_value_t = 10_000)]
    latency_rate: u64,
    /// Idle keep-alive connections of the idle scenario.
    #[arg(long, default_value_t = 10_000)]
    idle_connections: usize,
    /// Pipeline depth of the pipelined scenario.
    #[arg(long, default_value_t = 16)]
    pipeline_depth: usize,
    /// One round of 2 s, percore targets only, plaintext/json/pipelined/latency/idle(1000).
    #[arg(long)]
    smoke: bool,
    /// Don't build percore's binaries first (use what is in target/release).
    #[arg(long)]
    no_build: bool,
    /// Also write the chart to BENCHMARKS-chart.svg at the repository root.
    #[arg(long)]
    write_benchmarks: bool,
    /// Instead of benchmarks: a soak of this many minutes (fractions too)
    /// against percore-server with TLS and the proxy example; see
    /// RELIABILITY.md. Exits 1 if it fails.
    #[arg(long, value_name = "MINUTES")]
    soak: Option<f64>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("percore-loadtest: {e}");
            ExitCode::from(2)
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

fn run(mut cli: Cli) -> Result<ExitCode, String> {
    let repo = repo_root();
    if let Some(minutes) = cli.soak {
        return soak(&repo, minutes, cli.no_build);
    }
    let mut scenario_names = cli.scenarios.clone().unwrap_or_else(|| match cli.sweep {
        Some(_) => vec!["sweep".to_string()],
        None => scenarios::ALL.iter().map(|s| s.to_string()).collect(),
    });
    if cli.smoke {
        cli.rounds = 1;
        cli.secs = 2;
        cli.idle_connections = cli.idle_connections.min(1000);
        cli.targets = vec!["percore-hello".into(), "percore-server".into()];
        scenario_names = ["plaintext", "json", "pipelined", "latency", "idle"]
            .map(String::from)
            .to_vec();
    }
    if cli.sweep.as_ref().is_some_and(|w| w.contains(&0)) {
        return Err("--sweep: worker counts start at 1".into());
    }
    for s in &scenario_names {
        if !scenarios::ALL.contains(&s.as_str()) {
            return Err(format!(
                "unknown scenario {s:?}; known: {}",
                scenarios::ALL.join(",")
            ));
        }
    }
    if find_tool("wrk").is_none() {
        return Err("wrk not installed: run loadtest/setup.sh".into());
    }
    if scenario_names.iter().any(|s| s == "latency") && find_tool("oha").is_none() {
        println!("latency: skipped: oha not installed (run loadtest/setup.sh)");
        scenario_names.retain(|s| s != "latency");
    }
    if !cli.no_build {
        build_percore(&repo);
    }

    let allowed = procfs::allowed_cpus();
    // Before this process pins itself to the client CPUs below.
    let cores = percore_loadtest::topology::physical_cores();
    let (default_server, default_client) = default_cpus(&allowed);
    let server_cpus = cli
        .server_cpus
        .as_deref()
        .map(parse_cpu_list)
        .transpose()?
        .unwrap_or(default_server);
    let client_cpus = cli
        .client_cpus
        .as_deref()
        .map(parse_cpu_list)
        .transpose()?
        .unwrap_or(default_client);
    let nofile = procfs::raise_nofile_limit();
    let idle_connections = cli
        .idle_connections
        .min((nofile as usize).saturating_sub(300))
        .max(1);
    if idle_connections < cli.idle_connections {
        eprintln!("idle: RLIMIT_NOFILE is {nofile}: using {idle_connections} connections");
    }
    let work = std::env::temp_dir().join(format!("percore-loadtest-{}", std::process::id()));
    scenarios::write_static_files(&work)?;
    pin_self(&client_cpus);

    let sweep_steps = cli.sweep.clone().unwrap_or_else(|| {
        std::iter::successors(Some(1), |w| Some(w * 2))
            .take_while(|w| *w == 1 || *w < cores.len())
            .collect()
    });
    let sweep = if cli.server_cpus.is_some() || cli.client_cpus.is_some() {
        scenarios::SweepCpus::Explicit
    } else {
        scenarios::SweepCpus::Cores(cores)
    };
    let settings = Settings {
        sweep,
        workers: cli.workers.unwrap_or(server_cpus.len()),
        server_cpus,
        wrk_threads: client_cpus.len(),
        client_cpus,
        secs: cli.secs,
        pipeline_script: repo.join("loadtest/pipeline.lua"),
        pipeline_depth: cli.pipeline_depth,
        latency_rate: cli.latency_rate,
        idle_connections,
        work: work.clone(),
    };
    let mut targets: Vec<Target> = Vec::new();
    for name in &cli.targets {
        let t = Target::probe(name, &repo)
            .ok_or_else(|| format!("unknown target {name:?}; known: {}", targets::ALL.join(",")))?;
        if let Some(why) = &t.unavailable {
            eprintln!("{}: unavailable: {why}", t.name);
        }
        targets.push(t);
    }
    let scenario_list: Vec<Scenario> = scenario_names
        .iter()
        .flat_map(|s| Scenario::expand(s, &sweep_steps))
        .collect();
    eprintln!(
        "server CPUs {} ({} workers), client CPUs {} ({} wrk threads), {} round(s) of {} s",
        targets::cpu_list(&settings.server_cpus),
        settings.workers,
        targets::cpu_list(&settings.client_cpus),
        settings.wrk_threads,
        cli.rounds,
        cli.secs
    );

    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut runs: Vec<Run> = Vec::new();
    for round in 1..=cli.rounds {
        for scenario in &scenario_list {
            for target in targets.iter().filter(|t| scenario.applies_to(t)) {
                let run = scenario.run(target, round, &settings);
                eprintln!("{}", progress_line(&run));
                runs.push(run);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);

    let machine = procfs::machine();
    let command = format!(
        "cargo run --release -p percore-loadtest -- {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    let table = report::markdown(&runs);
    println!(
        "\nMachine: {}, {} cores, Linux {}\nCommand: `{}`\n",
        machine.cpu_model,
        machine.cores,
        machine.kernel,
        command.trim_end()
    );
    println!("{table}");

    let results = repo.join("loadtest/results");
    let (stamped, latest) = if cli.smoke {
        ("smoke".to_string(), "smoke")
    } else {
        (report::timestamp(started), "latest")
    };
    let dump = Dump {
        started_unix: started,
        command,
        machine,
        server_cpus: &settings.server_cpus,
        client_cpus: &settings.client_cpus,
        runs: &runs,
        table: table.clone(),
    };
    for p in report::write_json(&dump, &results, &stamped, latest)? {
        eprintln!("wrote {}", p.display());
    }
    let svg = results.join(format!("{latest}.svg"));
    let title = format!(
        "percore-loadtest ({} cores, {} s x {} rounds)",
        dump.machine.cores, cli.secs, cli.rounds
    );
    match chart::write_svg(&runs, &svg, &title) {
        Ok(()) => eprintln!("wrote {}", svg.display()),
        Err(e) => eprintln!("chart: {e}"),
    }
    std::fs::write(results.join(format!("{latest}.md")), &table).map_err(|e| e.to_string())?;
    if cli.write_benchmarks {
        let to = repo.join("BENCHMARKS-chart.svg");
        std::fs::copy(&svg, &to).map_err(|e| format!("{}: {e}", to.display()))?;
        eprintln!("wrote {}", to.display());
    }

    let failed = runs
        .iter()
        .filter(|r| r.percore && r.status == Status::Failed)
        .count();
    if failed > 0 {
        eprintln!("{failed} percore run(s) failed");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_line(run: &Run) -> String {
    let head = format!(
        "round {} {:<11} {:<15}",
        run.round, run.scenario, run.target
    );
    match run.status {
        Status::Ok => match &run.idle {
            Some(i) => format!(
                "{head} ok: {:.0} bytes/conn over {} connections",
                i.bytes_per_conn, i.connections
            ),
            None => format!(
                "{head} ok: {:.0} req/s, {:.2} us CPU/req,{} peak RSS {} KiB",
                run.rps,
                run.cpu_us_per_req,
                run.latency_us
                    .get("p99")
                    .map(|p| format!(" p99 {p:.0} us,"))
                    .unwrap_or_default(),
                run.peak_rss_kib
            ),
        },
        Status::Failed => format!("{head} FAILED: {}", run.reason.as_deref().unwrap_or("")),
        Status::Unavailable => format!(
            "{head} unavailable: {}",
            run.reason.as_deref().unwrap_or("")
        ),
    }
}

/// Build hello and percore-server in release mode; a failure is reported and
/// the run goes on with whatever binaries exist.
/// `--soak MINUTES`: builds percore-server and the proxy (unless
/// `no_build`), runs the soak, prints its summary and writes its record.
fn soak(repo: &Path, minutes: f64, no_build: bool) -> Result<ExitCode, String> {
    use percore_loadtest::soak;
    if !no_build {
        build(
            repo,
            &[
                ["-p", "percore-server", "--bin", "percore-server"],
                ["-p", "percore-examples", "--bin", "proxy"],
            ],
        );
    }
    let release = targets::release_dir(repo);
    let commit = Command::new("git")
        .current_dir(repo)
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".into(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        });
    let bins = soak::Binaries {
        server: release.join("percore-server"),
        proxy: release.join("proxy"),
        commit,
    };
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let work = std::env::temp_dir().join(format!("percore-soak-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let record = soak::run(minutes, &bins, &work);
    let _ = std::fs::remove_dir_all(&work);
    let record = record?;
    print!("{}", soak::summary(&record));
    let results = repo.join("loadtest/results");
    let _ = std::fs::create_dir_all(&results);
    let path = results.join(format!("soak-{stamp}.json"));
    match serde_json::to_string(&record) {
        Ok(json) => match std::fs::write(&path, json) {
            Ok(()) => println!("soak: samples in {}", path.display()),
            Err(e) => eprintln!("warning: cannot write {}: {e}", path.display()),
        },
        Err(e) => eprintln!("warning: cannot encode the record: {e}"),
    }
    Ok(if record.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn build_percore(repo: &Path) {
    build(
        repo,
        &[
            ["-p", "percore-examples", "--bin", "hello"],
            ["-p", "percore-server", "--bin", "percore-server"],
        ],
    );
}

fn build(repo: &Path, what: &[[&str; 4]]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for args in what {
        eprintln!("building: cargo build --release {}", args.join(" "));
        let status = Command::new(&cargo)
            .current_dir(repo)
            .args(["build", "--release", "-q"])
            .args(args)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => eprintln!(
                "warning: cargo build {} failed ({s}); using what is in target/release",
                args.join(" ")
            ),
            Err(e) => eprintln!("warning: cannot run cargo ({e}); using what is in target/release"),
        }
    }
}

/// Pin this process (and so the idle client) to the client CPUs.
fn pin_self(cpus: &[usize]) {
    // SAFETY: `set` is a plain bitmask owned by this frame.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!(
                "warning: could not pin the harness to CPUs {}",
                targets::cpu_list(cpus)
            );
        }
    }
}
