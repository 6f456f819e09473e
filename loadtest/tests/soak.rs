//! `percore-loadtest --soak` end to end, shortened to 15 s: percore-server
//! with TLS, a plain one and the proxy example under every kind of traffic
//! the long soak sends (RELIABILITY.md runs it for 30 minutes). Passes only
//! if every valid request got its whole, correct answer, no 5xx, every bad
//! request a 4xx, no server died or logged an error, and every connection
//! closed once the clients left. (Flatness of RSS and descriptors is judged
//! on runs of 5 minutes or more; here it is only reported.) Needs the
//! openssl CLI for the test certificates, as the TLS tests do.

use std::path::Path;
use std::process::Command;

#[test]
fn a_short_soak_loses_nothing_and_leaves_no_connection_open() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("loadtest/ has a parent");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = Command::new(&cargo)
        .current_dir(repo)
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "percore-server",
            "-p",
            "percore-examples",
            "--bin",
            "percore-server",
            "--bin",
            "proxy",
        ])
        .status()
        .expect("run cargo build");
    assert!(build.success(), "cargo build --release failed");
    let out = Command::new(env!("CARGO_BIN_EXE_percore-loadtest"))
        .current_dir(repo)
        .args(["--soak", "0.25", "--no-build"])
        .output()
        .expect("run percore-loadtest --soak");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    assert!(out.status.success(), "the soak failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(": PASS"), "{stdout}");
    assert!(stdout.contains(" 0 5xx, 0 failed"), "{stdout}");
}
