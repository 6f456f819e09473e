//! Where the worker sweep puts the server and the load generator: the
//! machine's physical cores (from sysfs), one CPU of each of the top
//! `workers` cores for the server, every CPU of the other cores for the
//! client. An SMT sibling of a server core is left idle (giving it to wrk
//! would have the client steal the server's core), and a sweep step that
//! leaves the client no core is not run.
//!
//! Also the busy share of a set of CPUs over a run, from `/proc/stat`, so a
//! figure made with the client at 100% shows itself as client-bound.

use std::collections::BTreeMap;
use std::fs;

/// The CPUs this process may use (its affinity, as a cpuset or `taskset`
/// sets it) grouped by physical core (package, core id), cores in the
/// order of their first CPU. Without topology files (some containers),
/// each CPU is its own core.
pub fn physical_cores() -> Vec<Vec<usize>> {
    let mut cores: Vec<((u32, u32), Vec<usize>)> = Vec::new();
    for cpu in crate::procfs::allowed_cpus() {
        let read = |f: &str| {
            fs::read_to_string(format!("/sys/devices/system/cpu/cpu{cpu}/topology/{f}"))
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
        };
        let key = match (read("physical_package_id"), read("core_id")) {
            (Some(p), Some(c)) => (p, c),
            _ => (u32::MAX, cpu as u32),
        };
        match cores.iter_mut().find(|(k, _)| *k == key) {
            Some((_, cpus)) => cpus.push(cpu),
            None => cores.push((key, vec![cpu])),
        }
    }
    cores.into_iter().map(|(_, cpus)| cpus).collect()
}

/// The server's and the client's CPUs for a sweep step of `workers`: one
/// CPU of each of the last `workers` cores, and all CPUs of the cores
/// before them. `None` when fewer than `workers + 1` cores exist.
pub fn sweep_cpus(cores: &[Vec<usize>], workers: usize) -> Option<(Vec<usize>, Vec<usize>)> {
    if workers == 0 || cores.len() < workers + 1 {
        return None;
    }
    let split = cores.len() - workers;
    let server = cores[split..].iter().map(|c| c[0]).collect();
    let client = cores[..split].iter().flatten().copied().collect();
    Some((server, client))
}

/// Busy and total clock ticks of each CPU, from `/proc/stat`.
#[derive(Debug, Clone, Default)]
pub struct CpuTicks(BTreeMap<usize, (u64, u64)>);

impl CpuTicks {
    /// The counters now.
    pub fn sample() -> CpuTicks {
        let text = fs::read_to_string("/proc/stat").unwrap_or_default();
        CpuTicks::parse(&text)
    }

    fn parse(text: &str) -> CpuTicks {
        let mut all = BTreeMap::new();
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let Some(cpu) = fields
                .next()
                .and_then(|n| n.strip_prefix("cpu"))
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            // user nice system idle iowait irq softirq steal (guest* are
            // inside user and nice).
            let v: Vec<u64> = fields.take(8).filter_map(|f| f.parse().ok()).collect();
            if v.len() < 8 {
                continue;
            }
            let total: u64 = v.iter().sum();
            let idle = v[3] + v[4];
            all.insert(cpu, (total - idle, total));
        }
        CpuTicks(all)
    }

    /// The share of time (0..=1) `cpus` were busy since `earlier`, averaged
    /// over the set; `None` if no tick passed.
    pub fn busy_since(&self, earlier: &CpuTicks, cpus: &[usize]) -> Option<f64> {
        let (mut busy, mut total) = (0u64, 0u64);
        for cpu in cpus {
            let (Some(now), Some(then)) = (self.0.get(cpu), earlier.0.get(cpu)) else {
                continue;
            };
            busy += now.0.saturating_sub(then.0);
            total += now.1.saturating_sub(then.1);
        }
        (total > 0).then(|| busy as f64 / total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_gets_the_top_cores_and_the_client_the_rest() {
        // 4 cores with SMT siblings (0,4) (1,5) (2,6) (3,7).
        let cores = vec![vec![0, 4], vec![1, 5], vec![2, 6], vec![3, 7]];
        assert_eq!(
            sweep_cpus(&cores, 1),
            Some((vec![3], vec![0, 4, 1, 5, 2, 6]))
        );
        assert_eq!(sweep_cpus(&cores, 3), Some((vec![1, 2, 3], vec![0, 4])));
        assert_eq!(sweep_cpus(&cores, 4), None, "no core left for the client");
        // This machine's shape: two single-thread cores.
        assert_eq!(sweep_cpus(&[vec![0], vec![1]], 1), Some((vec![1], vec![0])));
        assert_eq!(sweep_cpus(&[vec![0], vec![1]], 2), None);
    }

    #[test]
    fn busy_share_counts_everything_but_idle_and_iowait() {
        let before = CpuTicks::parse(
            "cpu  1 1 1 1 1 1 1 1\ncpu0 10 0 10 80 0 0 0 0 0 0\ncpu1 0 0 0 100 0 0 0 0\n",
        );
        let after = CpuTicks::parse("cpu0 40 0 20 120 10 5 5 0 0 0\ncpu1 50 0 0 150 0 0 0 0\n");
        // cpu0: busy +30+10+5+5 = 50 of 100 ticks; cpu1: 50 of 100.
        assert_eq!(after.busy_since(&before, &[0]), Some(0.5));
        assert_eq!(after.busy_since(&before, &[0, 1]), Some(0.5));
        assert_eq!(after.busy_since(&before, &[7]), None);
        let idle = CpuTicks::parse("cpu0 40 0 20 220 10 5 5 0 0 0\n");
        assert_eq!(idle.busy_since(&after, &[0]), Some(0.0));
    }

    #[test]
    fn this_machine_has_at_least_one_core() {
        let cores = physical_cores();
        assert!(!cores.is_empty());
        assert!(cores.iter().all(|c| !c.is_empty()));
    }
}
