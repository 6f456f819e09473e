//! Runs wrk pinned to the client CPUs and parses its report:
//! `taskset -c CLIENT_CPUS wrk -tT -cC -dSs --latency [-s pipeline.lua] URL [-- DEPTH]`.
//!
//! Parsed: requests, req/s, the latency distribution (50/75/90/99 %), the
//! `Socket errors:` line and `Non-2xx or 3xx responses:`. wrk counts each
//! pipelined response as a request, so req/s is comparable across depths.

use std::path::Path;
use std::process::Command;

use crate::targets::cpu_list;

/// What one wrk run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WrkReport {
    pub requests: u64,
    pub rps: f64,
    /// Latency percentiles in microseconds: p50, p75, p90, p99.
    pub p50_us: f64,
    pub p75_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    /// connect + read + write + timeout errors.
    pub socket_errors: u64,
    /// The `Socket errors:` line as printed, when there was one.
    pub socket_errors_line: Option<String>,
    pub non_2xx: u64,
}

/// One wrk invocation.
#[derive(Debug, Clone)]
pub struct WrkRun<'a> {
    pub url: &'a str,
    pub connections: usize,
    pub threads: usize,
    pub secs: u64,
    pub client_cpus: &'a [usize],
    /// `(pipeline.lua, depth)` for pipelined runs.
    pub pipeline: Option<(&'a Path, usize)>,
}

impl WrkRun<'_> {
    /// Run wrk to completion and parse its output.
    pub fn run(&self) -> Result<WrkReport, String> {
        let mut cmd = Command::new("taskset");
        cmd.arg("-c").arg(cpu_list(self.client_cpus)).arg("wrk");
        // wrk needs at least as many connections as threads.
        let threads = self.threads.clamp(1, self.connections.max(1));
        cmd.arg(format!("-t{threads}"))
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.secs))
            .arg("--latency");
        if let Some((script, _)) = self.pipeline {
            cmd.arg("-s").arg(script);
        }
        cmd.arg(self.url);
        if let Some((_, depth)) = self.pipeline {
            cmd.arg("--").arg(depth.to_string());
        }
        let out = cmd.output().map_err(|e| format!("spawn wrk: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(format!(
                "wrk {}: {}{}",
                out.status,
                stderr.trim(),
                stdout.trim()
            ));
        }
        parse(&stdout)
    }
}

/// Parse wrk's stdout.
pub fn parse(text: &str) -> Result<WrkReport, String> {
    let mut r = WrkReport::default();
    let mut saw_requests = false;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => r.p50_us = duration_us(v)?,
            ["75%", v] => r.p75_us = duration_us(v)?,
            ["90%", v] => r.p90_us = duration_us(v)?,
            ["99%", v] => r.p99_us = duration_us(v)?,
            [n, "requests", "in", ..] => {
                r.requests = n
                    .parse()
                    .map_err(|_| format!("bad request count in {line:?}"))?;
                saw_requests = true;
            }
            ["Requests/sec:", v] => {
                r.rps = v.parse().map_err(|_| format!("bad req/s in {line:?}"))?
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => r.non_2xx = n.parse().unwrap_or(u64::MAX),
            ["Socket", "errors:", rest @ ..] => {
                // "connect 0, read 0, write 0, timeout 0"
                r.socket_errors = rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum();
                if r.socket_errors > 0 {
                    r.socket_errors_line = Some(line.to_string());
                }
            }
            _ => {}
        }
    }
    if !saw_requests {
        return Err(format!(
            "no 'requests in' line in wrk output: {}",
            text.trim()
        ));
    }
    Ok(r)
}

/// `512.00us`, `1.20ms`, `2.00s`, `3.00m` -> microseconds.
fn duration_us(v: &str) -> Result<f64, String> {
    let split = v
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| format!("bad duration {v:?}"))?;
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("bad duration {v:?}"))?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return Err(format!("bad duration unit in {v:?}")),
    };
    Ok(n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = "Running 3s test @ http://127.0.0.1:8080/plaintext
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   520.00us  100.00us   2.00ms   90.00%
    Req/Sec   120.00k     5.00k  130.00k    80.00%
  Latency Distribution
     50%  500.00us
     75%  550.00us
     90%    1.20ms
     99%    2.50s
  360000 requests in 3.00s, 45.00MB read
Requests/sec: 120000.50
Transfer/sec:     15.00MB
";

    #[test]
    fn parses_a_clean_run() {
        let r = parse(CLEAN).unwrap();
        assert_eq!(r.requests, 360000);
        assert_eq!(r.rps, 120000.5);
        assert_eq!(
            (r.p50_us, r.p75_us, r.p90_us, r.p99_us),
            (500.0, 550.0, 1200.0, 2_500_000.0)
        );
        assert_eq!((r.socket_errors, r.non_2xx), (0, 0));
    }

    #[test]
    fn parses_errors() {
        let text = CLEAN.replace(
            "Requests/sec",
            "  Socket errors: connect 0, read 12, write 3, timeout 1\n  Non-2xx or 3xx responses: 7\nRequests/sec",
        );
        let r = parse(&text).unwrap();
        assert_eq!(r.socket_errors, 16);
        assert_eq!(r.non_2xx, 7);
        assert!(r.socket_errors_line.unwrap().contains("read 12"));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse("unable to connect to 127.0.0.1:1 Connection refused").is_err());
    }
}
