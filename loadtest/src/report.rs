//! Raw runs, their medians, the markdown table and the JSON dump.
//!
//! The table has one row per scenario and one column per target. A cell is
//! the median over the rounds of the runs that succeeded, with the ratio to
//! the best *peer* (a non-percore target) for that scenario: req/s (higher
//! is better) for throughput rows, p99 latency for `latency` and bytes per
//! connection for `idle` (lower is better there). A (scenario, target) with
//! any failed round shows `FAILED(reason)`: a failed run is never averaged in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::idle::IdleReport;
use crate::targets::Target;

/// How one run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    Unavailable,
}

/// The idle scenario's figures.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct IdleFigures {
    pub connections: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub bytes_per_conn: f64,
}

impl From<IdleReport> for IdleFigures {
    fn from(r: IdleReport) -> Self {
        IdleFigures {
            connections: r.connections,
            rss_before_kib: r.rss_before_kib,
            rss_after_kib: r.rss_after_kib,
            bytes_per_conn: r.bytes_per_conn,
        }
    }
}

/// Every figure of one run of one scenario against one target.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub round: usize,
    pub scenario: String,
    pub target: String,
    pub percore: bool,
    pub status: Status,
    pub reason: Option<String>,
    pub workers: usize,
    pub connections: usize,
    pub secs: u64,
    pub requests: u64,
    pub rps: f64,
    /// Percentile name (`p50`, `p99`, `p99.9`, ...) -> microseconds.
    pub latency_us: BTreeMap<String, f64>,
    pub server_cpu_secs: f64,
    pub cpu_us_per_req: f64,
    pub peak_rss_kib: u64,
    pub non_2xx: u64,
    pub socket_errors: u64,
    pub idle: Option<IdleFigures>,
    /// The CPUs the server and the load generator ran on.
    pub server_cpus: Vec<usize>,
    pub client_cpus: Vec<usize>,
    /// Share of time (0..=1) those CPUs were busy during the load, from
    /// /proc/stat: a client near 1 means the figure is the client's limit.
    pub server_busy: Option<f64>,
    pub client_busy: Option<f64>,
}

impl Run {
    pub fn new(
        round: usize,
        scenario: &str,
        target: &Target,
        workers: usize,
        connections: usize,
        secs: u64,
    ) -> Run {
        Run {
            round,
            scenario: scenario.to_string(),
            target: target.name.to_string(),
            percore: target.is_percore,
            status: Status::Ok,
            reason: None,
            workers,
            connections,
            secs,
            requests: 0,
            rps: 0.0,
            latency_us: BTreeMap::new(),
            server_cpu_secs: 0.0,
            cpu_us_per_req: 0.0,
            peak_rss_kib: 0,
            non_2xx: 0,
            socket_errors: 0,
            idle: None,
            server_cpus: Vec::new(),
            client_cpus: Vec::new(),
            server_busy: None,
            client_busy: None,
        }
    }

    pub fn with_status(mut self, status: Status, reason: &str) -> Run {
        self.status = status;
        self.reason = Some(reason.to_string());
        self
    }
}

/// The machine the figures come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub kernel: String,
}

/// The median figures of one (scenario, target), or why there are none.
#[derive(Debug, Clone)]
pub enum Cell {
    Ok {
        rps: f64,
        cpu_us_per_req: f64,
        p50_us: f64,
        p99_us: f64,
        p999_us: f64,
        bytes_per_conn: Option<f64>,
        /// Busy shares of the server's and the client's CPUs, in percent.
        server_busy_pct: f64,
        client_busy_pct: f64,
    },
    Failed(String),
    Unavailable(String),
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median of the rounds of one (scenario, target).
pub fn cell(runs: &[&Run]) -> Option<Cell> {
    let first = runs.first()?;
    if let Some(bad) = runs.iter().find(|r| r.status == Status::Failed) {
        let n = runs.iter().filter(|r| r.status == Status::Failed).count();
        return Some(Cell::Failed(format!(
            "{n}/{}: {}",
            runs.len(),
            bad.reason.clone().unwrap_or_default()
        )));
    }
    if runs.iter().all(|r| r.status == Status::Unavailable) {
        return Some(Cell::Unavailable(first.reason.clone().unwrap_or_default()));
    }
    let ok: Vec<&&Run> = runs.iter().filter(|r| r.status == Status::Ok).collect();
    let m = |f: &dyn Fn(&Run) -> f64| median(ok.iter().map(|r| f(r)).collect());
    let pct = |k: &'static str| move |r: &Run| r.latency_us.get(k).copied().unwrap_or(f64::NAN);
    let bytes = m(&|r| r.idle.map_or(f64::NAN, |i| i.bytes_per_conn));
    Some(Cell::Ok {
        rps: m(&|r| r.rps),
        cpu_us_per_req: m(&|r| r.cpu_us_per_req),
        p50_us: m(&pct("p50")),
        p99_us: m(&pct("p99")),
        p999_us: m(&pct("p99.9")),
        bytes_per_conn: bytes.is_finite().then_some(bytes),
        server_busy_pct: m(&|r| r.server_busy.map_or(f64::NAN, |b| b * 100.0)),
        client_busy_pct: m(&|r| r.client_busy.map_or(f64::NAN, |b| b * 100.0)),
    })
}

/// Scenario names and target names in the order they first appear.
fn order(runs: &[Run], key: impl Fn(&Run) -> &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for r in runs {
        if !seen.iter().any(|s| s == key(r)) {
            seen.push(key(r).to_string());
        }
    }
    seen
}

/// Cells keyed by (scenario, target).
pub type CellMap = BTreeMap<(String, String), Cell>;

/// Scenarios and targets in order of appearance, and all their cells.
pub fn cells(runs: &[Run]) -> (Vec<String>, Vec<String>, CellMap) {
    let scenarios = order(runs, |r| &r.scenario);
    let mut targets = order(runs, |r| &r.target);
    // Columns in the order of `targets::ALL` (percore first), whatever ran first.
    let rank = |t: &String| {
        crate::targets::ALL
            .iter()
            .position(|a| a == t)
            .unwrap_or(usize::MAX)
    };
    targets.sort_by_key(rank);
    let mut out = BTreeMap::new();
    for s in &scenarios {
        for t in &targets {
            let mine: Vec<&Run> = runs
                .iter()
                .filter(|r| &r.scenario == s && &r.target == t)
                .collect();
            if let Some(c) = cell(&mine) {
                out.insert((s.clone(), t.clone()), c);
            }
        }
    }
    (scenarios, targets, out)
}

/// The figure a scenario is compared on, and whether lower is better.
fn key_figure(scenario: &str, c: &Cell) -> Option<(f64, bool)> {
    let Cell::Ok {
        rps,
        p99_us,
        bytes_per_conn,
        ..
    } = c
    else {
        return None;
    };
    let (v, lower) = match scenario {
        "latency" => (*p99_us, true),
        "idle" => ((*bytes_per_conn)?, true),
        _ => (*rps, false),
    };
    v.is_finite().then_some((v, lower))
}

fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn ms(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} us")
    }
}

fn short(reason: &str) -> String {
    let r: String = reason.replace('|', "/").chars().take(70).collect();
    if r.len() < reason.len() {
        format!("{r}...")
    } else {
        r
    }
}

/// The markdown table (plus notes on unavailable targets).
pub fn markdown(runs: &[Run]) -> String {
    let (scenarios, targets, cells) = cells(runs);
    let percore: Vec<bool> = targets
        .iter()
        .map(|t| runs.iter().any(|r| &r.target == t && r.percore))
        .collect();
    let mut out = String::new();
    out.push_str(&format!("| scenario | {} |\n", targets.join(" | ")));
    out.push_str(&format!("|---|{}\n", "---|".repeat(targets.len())));
    let mut unavailable: BTreeMap<String, String> = BTreeMap::new();
    for s in &scenarios {
        // The best peer: highest req/s, or lowest p99 / bytes per connection.
        let best = targets
            .iter()
            .zip(&percore)
            .filter(|(_, p)| !**p)
            .filter_map(|(t, _)| key_figure(s, cells.get(&(s.clone(), t.clone()))?))
            .reduce(|a, b| if (b.0 < a.0) == a.1 { b } else { a });
        let mut row = format!("| {s} |");
        for t in &targets {
            let text = match cells.get(&(s.clone(), t.clone())) {
                None => "-".to_string(),
                // A sweep step this machine cannot run says why in place
                // (the target itself ran the other steps).
                Some(Cell::Unavailable(why)) if s.starts_with("sweep-") => {
                    format!("unavailable ({})", short(why))
                }
                Some(Cell::Unavailable(why)) => {
                    unavailable.entry(t.clone()).or_insert_with(|| why.clone());
                    "unavailable".to_string()
                }
                Some(Cell::Failed(why)) => format!("FAILED({})", short(why)),
                Some(
                    c @ Cell::Ok {
                        rps,
                        cpu_us_per_req,
                        p50_us,
                        p99_us,
                        p999_us,
                        bytes_per_conn,
                        server_busy_pct,
                        client_busy_pct,
                    },
                ) => {
                    let mut text = match (s.as_str(), bytes_per_conn) {
                        ("latency", _) => format!(
                            "p50 {} / p99 {} / p99.9 {}, {cpu_us_per_req:.2} us/req",
                            ms(*p50_us),
                            ms(*p99_us),
                            ms(*p999_us)
                        ),
                        (_, Some(b)) => format!("{:.2} KiB/conn", b / 1024.0),
                        _ => format!("{} req/s, {cpu_us_per_req:.2} us/req", si(*rps)),
                    };
                    if s.starts_with("sweep-") {
                        text.push_str(&format!(
                            ", server {server_busy_pct:.0}% / client {client_busy_pct:.0}% busy"
                        ));
                    }
                    if let (Some((mine, _)), Some((best, _))) = (key_figure(s, c), best) {
                        text.push_str(&format!(" ({:.2}x)", mine / best));
                    }
                    text
                }
            };
            row.push_str(&format!(" {text} |"));
        }
        out.push_str(&row);
        out.push('\n');
    }
    out.push_str(
        "\nMedian of the rounds. (Nx) = ratio to the best peer (non-percore target) of the row: \
         req/s for throughput rows (higher is better), p99 for latency and KiB/conn for idle \
         (lower is better). us/req = server CPU (utime+stime of all its processes) per request.\n",
    );
    for (t, why) in unavailable {
        out.push_str(&format!("\n- {t} unavailable: {why}"));
    }
    out.push('\n');
    out.push_str(&scaling(&scenarios, &targets, &cells));
    out
}

/// For the sweep: each step's req/s as a share of linear scaling from the
/// step of one worker (req/s at N workers / (N x req/s at 1)).
fn scaling(scenarios: &[String], targets: &[String], cells: &CellMap) -> String {
    let rps = |s: &str, t: &String| match cells.get(&(s.to_string(), t.clone())) {
        Some(Cell::Ok { rps, .. }) if rps.is_finite() && *rps > 0.0 => Some(*rps),
        _ => None,
    };
    let mut out = String::new();
    for load in ["plaintext", "pipelined"] {
        let prefix = format!("sweep-{load}-w");
        let steps: Vec<(usize, &String)> = scenarios
            .iter()
            .filter_map(|s| Some((s.strip_prefix(&prefix)?.parse().ok()?, s)))
            .filter(|(w, _)| *w > 1)
            .collect();
        let mut lines = String::new();
        for t in targets {
            let Some(one) = rps(&format!("{prefix}1"), t) else {
                continue;
            };
            let shares: Vec<String> = steps
                .iter()
                .filter_map(|(w, s)| {
                    Some(format!(
                        "{w}: {:.0}%",
                        rps(s, t)? / (one * *w as f64) * 100.0
                    ))
                })
                .collect();
            if !shares.is_empty() {
                lines.push_str(&format!("- {t}: {}\n", shares.join(", ")));
            }
        }
        if !lines.is_empty() {
            out.push_str(&format!(
                "\nScaling of {load} (req/s as a share of linear from 1 worker):\n{lines}"
            ));
        }
    }
    out
}

/// Everything written to the JSON file.
#[derive(Debug, Serialize)]
pub struct Dump<'a> {
    pub started_unix: u64,
    pub command: String,
    pub machine: Machine,
    pub server_cpus: &'a [usize],
    pub client_cpus: &'a [usize],
    pub runs: &'a [Run],
    pub table: String,
}

/// Write the dump to `dir/<stem>-<timestamp>.json` and `dir/<latest>.json`.
pub fn write_json(
    dump: &Dump<'_>,
    dir: &Path,
    stamped: &str,
    latest: &str,
) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let text = serde_json::to_string_pretty(dump).map_err(|e| e.to_string())?;
    let mut paths = vec![
        dir.join(format!("{stamped}.json")),
        dir.join(format!("{latest}.json")),
    ];
    paths.dedup();
    for p in &paths {
        std::fs::write(p, &text).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(paths)
}

/// `YYYYMMDD-HHMMSS` in UTC.
pub fn timestamp(unix: u64) -> String {
    let (days, secs) = (unix / 86400, unix % 86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(scenario: &str, target: &str, percore: bool, rps: f64, status: Status) -> Run {
        Run {
            round: 1,
            scenario: scenario.into(),
            target: target.into(),
            percore,
            status,
            reason: (status != Status::Ok).then(|| "boom".into()),
            workers: 1,
            connections: 64,
            secs: 1,
            requests: 10,
            rps,
            latency_us: BTreeMap::new(),
            server_cpu_secs: 0.0,
            cpu_us_per_req: 2.0,
            peak_rss_kib: 0,
            non_2xx: 0,
            socket_errors: 0,
            idle: None,
            server_cpus: Vec::new(),
            client_cpus: Vec::new(),
            server_busy: None,
            client_busy: None,
        }
    }

    #[test]
    fn medians_and_ratios() {
        let runs = vec![
            run("plaintext", "percore-hello", true, 300.0, Status::Ok),
            run("plaintext", "nginx", false, 100.0, Status::Ok),
            run("plaintext", "actix", false, 150.0, Status::Ok),
            run("plaintext", "percore-hello", true, 100.0, Status::Ok),
            run("plaintext", "percore-hello", true, 200.0, Status::Ok),
            run("plaintext", "hyper", false, 0.0, Status::Unavailable),
            run("json", "percore-hello", true, 1.0, Status::Failed),
        ];
        let t = markdown(&runs);
        assert!(t.contains("| plaintext | 200 req/s, 2.00 us/req (1.33x) | 100 req/s, 2.00 us/req (0.67x) | 150 req/s, 2.00 us/req (1.00x) | unavailable |"), "{t}");
        assert!(
            t.contains("| json | FAILED(1/1: boom) | - | - | - |"),
            "{t}"
        );
        assert!(t.contains("- hyper unavailable: boom"), "{t}");
    }

    #[test]
    fn sweep_rows_show_busy_shares_and_scaling() {
        let step = |scenario: &str, target: &str, rps: f64, client: f64| {
            let mut r = run(
                scenario,
                target,
                target.starts_with("percore"),
                rps,
                Status::Ok,
            );
            r.server_busy = Some(0.99);
            r.client_busy = Some(client);
            r
        };
        let mut far = run(
            "sweep-plaintext-w8",
            "nginx",
            false,
            0.0,
            Status::Unavailable,
        );
        far.reason = Some("8 worker(s) need 9 physical cores".into());
        let runs = vec![
            step("sweep-plaintext-w1", "percore-hello", 100.0, 0.5),
            step("sweep-plaintext-w1", "nginx", 80.0, 0.4),
            step("sweep-plaintext-w4", "percore-hello", 380.0, 1.0),
            step("sweep-plaintext-w4", "nginx", 240.0, 0.7),
            far,
        ];
        let t = markdown(&runs);
        assert!(
            t.contains("| sweep-plaintext-w4 | 380 req/s, 2.00 us/req, server 99% / client 100% busy (1.58x) |"),
            "{t}"
        );
        assert!(
            t.contains("unavailable (8 worker(s) need 9 physical cores)"),
            "{t}"
        );
        assert!(!t.contains("- nginx unavailable"), "{t}");
        assert!(t.contains("- percore-hello: 4: 95%"), "{t}");
        assert!(t.contains("- nginx: 4: 75%"), "{t}");
        assert!(!t.contains("Scaling of pipelined"), "{t}");
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(0), "19700101-000000");
        assert_eq!(timestamp(1_700_000_000), "20231114-221320");
    }
}
