//! `percore-loadtest --smoke` end to end: one round of 2 s against percore's
//! hello (plaintext, json, pipelined, latency when oha is installed, idle
//! memory with 1000 connections). Needs wrk; without it the test says it
//! skipped and passes. Builds the release hello first (the harness runs with
//! `--no-build` so the build happens once, here).

use std::path::Path;
use std::process::Command;

fn on_path(name: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(name).is_file())
}

#[test]
fn smoke_run_serves_every_percore_scenario_without_errors() {
    if !on_path("wrk") {
        println!("skipped: wrk not installed (loadtest/setup.sh installs it)");
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("loadtest/ has a parent");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = Command::new(&cargo)
        .current_dir(repo)
        .args([
            "build",
            "--release",
            "-p",
            "percore-examples",
            "--bin",
            "hello",
        ])
        .status()
        .expect("run cargo build");
    assert!(
        build.success(),
        "cargo build --release -p percore-examples failed"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_percore-loadtest"))
        .current_dir(repo)
        .args(["--smoke", "--no-build"])
        .output()
        .expect("run percore-loadtest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    assert!(
        out.status.success(),
        "percore-loadtest --smoke failed ({}):\n{stdout}\n{stderr}",
        out.status
    );

    // | scenario | percore-hello | percore-server |
    let header = stdout
        .lines()
        .find(|l| l.starts_with("| scenario |"))
        .expect("a table header");
    let column = header
        .split('|')
        .position(|c| c.trim() == "percore-hello")
        .expect("a percore-hello column");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("| plaintext |"))
        .expect("a plaintext row");
    let cell = row
        .split('|')
        .nth(column)
        .expect("a percore-hello cell")
        .trim();
    let rps = cell.split(" req/s").next().expect("req/s in the cell");
    let value: f64 = match rps.strip_suffix('M').or(rps.strip_suffix('k')) {
        Some(n) => n.parse().expect("a number"),
        None => rps
            .parse()
            .unwrap_or_else(|_| panic!("no req/s in {cell:?}")),
    };
    assert!(value > 0.0, "plaintext req/s is zero: {cell:?}");
    for scenario in ["json", "pipelined", "idle"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("| {scenario} |"))),
            "no {scenario} row"
        );
    }
}
