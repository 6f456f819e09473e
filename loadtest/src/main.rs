//! The load-test harness (its own issue fills this in). For now the method
//! and the commands are in BENCHMARKS.md and loadtest/pipeline.lua.

fn main() {
    eprintln!("percore-loadtest: not implemented yet; see BENCHMARKS.md for the manual method");
    std::process::exit(2);
}
