//! Runs oha pinned to the client CPUs and parses its JSON report:
//! `taskset -c CLIENT_CPUS oha --no-tui --output-format json -z Ss -c C [-q RATE] URL`.
//!
//! oha's client is hyper, stricter about HTTP/1.1 framing than wrk, so a
//! clean oha run is a second opinion on the server's responses. Requests cut
//! off by the deadline (`aborted due to deadline`) are not errors; any other
//! entry of `errorDistribution`, and any status that is not 2xx, is.

use std::process::Command;

use serde_json::Value;

use crate::targets::cpu_list;

/// What one oha run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OhaReport {
    pub requests: u64,
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub non_2xx: u64,
    pub errors: u64,
    /// The first error kind oha reported, for the table.
    pub first_error: Option<String>,
}

/// One oha invocation.
#[derive(Debug, Clone)]
pub struct OhaRun<'a> {
    pub url: &'a str,
    pub connections: usize,
    pub secs: u64,
    /// Requests per second for the whole run (`-q`); `None` = as fast as it can.
    pub rate: Option<u64>,
    pub client_cpus: &'a [usize],
}

impl OhaRun<'_> {
    pub fn run(&self) -> Result<OhaReport, String> {
        let mut cmd = Command::new("taskset");
        cmd.arg("-c")
            .arg(cpu_list(self.client_cpus))
            .arg("oha")
            .arg("--no-tui");
        cmd.args(json_flag());
        cmd.arg("-z")
            .arg(format!("{}s", self.secs))
            .arg("-c")
            .arg(self.connections.to_string());
        if let Some(rate) = self.rate {
            cmd.arg("-q").arg(rate.to_string());
        }
        cmd.arg(self.url);
        let out = cmd.output().map_err(|e| format!("spawn oha: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "oha {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        parse(&String::from_utf8_lossy(&out.stdout))
    }
}

/// Newer oha spells JSON output `--output-format json`; older ones `-j`.
fn json_flag() -> Vec<&'static str> {
    let help = Command::new("oha")
        .arg("--help")
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    if String::from_utf8_lossy(&help).contains("--output-format") {
        vec!["--output-format", "json"]
    } else {
        vec!["-j"]
    }
}

/// Parse oha's JSON report (latencies are in seconds there).
pub fn parse(text: &str) -> Result<OhaReport, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("oha JSON: {e}"))?;
    let pct = |key: &str| {
        v["latencyPercentiles"][key]
            .as_f64()
            .map(|s| s * 1e6)
            .unwrap_or(f64::NAN)
    };
    let mut r = OhaReport {
        rps: v["summary"]["requestsPerSec"]
            .as_f64()
            .ok_or("oha JSON: no summary.requestsPerSec")?,
        p50_us: pct("p50"),
        p99_us: pct("p99"),
        p999_us: pct("p99.9"),
        ..OhaReport::default()
    };
    if let Some(codes) = v["statusCodeDistribution"].as_object() {
        for (code, n) in codes {
            let n = n.as_u64().unwrap_or(0);
            r.requests += n;
            if !code.starts_with('2') {
                r.non_2xx += n;
            }
        }
    }
    if let Some(errors) = v["errorDistribution"].as_object() {
        for (kind, n) in errors
            .iter()
            .filter(|(k, _)| !k.contains("aborted due to deadline"))
        {
            r.errors += n.as_u64().unwrap_or(0);
            r.first_error.get_or_insert_with(|| kind.clone());
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_report() {
        let text = r#"{"summary":{"successRate":1.0,"requestsPerSec":1000.5},
            "latencyPercentiles":{"p50":0.0001,"p99":0.002,"p99.9":0.01},
            "statusCodeDistribution":{"200":990,"503":10},
            "errorDistribution":{"aborted due to deadline":64,"connection closed before message completed":3}}"#;
        let r = parse(text).unwrap();
        assert_eq!(r.rps, 1000.5);
        assert_eq!(r.requests, 1000);
        assert_eq!(r.non_2xx, 10);
        assert_eq!(r.errors, 3);
        assert!((r.p50_us - 100.0).abs() < 1e-6 && (r.p999_us - 10_000.0).abs() < 1e-6);
        assert_eq!(
            r.first_error.as_deref(),
            Some("connection closed before message completed")
        );
    }

    #[test]
    fn bad_json_is_an_error() {
        assert!(parse("not json").is_err());
    }
}
