//! percore-loadtest: drives wrk and oha against percore and its peers.
//!
//! One module per concern:
//! - [`targets`]: what each server is, availability, start (pinned, wait for
//!   the port) and stop (SIGTERM, wait, SIGKILL only after a deadline);
//! - [`scenarios`]: the scenarios and one measured run of (scenario, target);
//! - [`wrk`], [`oha`]: the load generators, run and parsed;
//! - [`idle`]: the idle keep-alive memory scenario, a Rust client;
//! - [`procfs`]: CPU time and RSS of a server's process tree from /proc;
//! - [`topology`]: physical cores, the sweep's CPU sets, CPU busy shares;
//! - [`report`]: medians, the markdown table, the JSON dump;
//! - [`chart`]: the SVG chart;
//! - [`soak`]: `--soak MINUTES`, mixed traffic and resource sampling.
//!
//! `main.rs` is the CLI and the round loop.

pub mod chart;
pub mod idle;
pub mod oha;
pub mod procfs;
pub mod report;
pub mod scenarios;
pub mod soak;
pub mod targets;
pub mod topology;
pub mod wrk;

/// Default CPU split of `allowed` into (server, client): on two CPUs the
/// server gets the second and the load generator the first; on more, the
/// server gets the upper half. On one CPU both share it.
pub fn default_cpus(allowed: &[usize]) -> (Vec<usize>, Vec<usize>) {
    match allowed.len() {
        0 => (vec![0], vec![0]),
        1 => (allowed.to_vec(), allowed.to_vec()),
        n => {
            let half = n / 2;
            (allowed[half..].to_vec(), allowed[..half].to_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_split() {
        assert_eq!(default_cpus(&[0, 1]), (vec![1], vec![0]));
        assert_eq!(default_cpus(&[0, 1, 2, 3]), (vec![2, 3], vec![0, 1]));
        assert_eq!(default_cpus(&[5]), (vec![5], vec![5]));
        let many: Vec<usize> = (0..64).collect();
        let (s, c) = default_cpus(&many);
        assert_eq!((s.len(), c.len(), s[0]), (32, 32, 32));
    }
}
