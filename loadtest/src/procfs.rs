//! /proc sampling of a server: its process and every descendant (nginx's
//! workers are children of its master), summed.
//!
//! - CPU: `utime + stime` (fields 14 and 15 of `/proc/PID/stat`, all threads
//!   of the process included) in clock ticks, converted with `sysconf(_SC_CLK_TCK)`.
//! - Memory: `VmRSS` (now) and `VmHWM` (peak) from `/proc/PID/status`, in KiB.
//!
//! A process that exits between listing and reading is skipped, not an error.

use std::fs;
use std::time::Duration;

/// The server's process and all its descendants, found by scanning /proc for
/// parent pids (works whatever the kernel's CONFIG_PROC_CHILDREN).
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(stat) = read_stat(pid) {
                parents.push((pid, stat.ppid));
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    tree
}

/// The fields of /proc/PID/stat this harness needs.
struct Stat {
    ppid: u32,
    ticks: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split
    // after the last ')'. The rest starts at field 3 (state).
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|s| s.parse::<u64>().ok());
    Some(Stat {
        ppid: field(4)? as u32,
        ticks: field(14)? + field(15)?,
    })
}

/// Clock ticks per second for /proc/PID/stat times.
fn clock_ticks() -> u64 {
    // SAFETY: sysconf reads a constant of the C library; no memory is shared.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// CPU time (user + system) used so far by the server and its descendants.
pub fn cpu_time(root: u32) -> Duration {
    let ticks: u64 = process_tree(root)
        .into_iter()
        .filter_map(read_stat)
        .map(|s| s.ticks)
        .sum();
    Duration::from_micros(ticks * 1_000_000 / clock_ticks())
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// Resident memory now, summed over the process tree, in KiB.
pub fn rss_kib(root: u32) -> u64 {
    process_tree(root)
        .into_iter()
        .filter_map(|p| status_kib(p, "VmRSS:"))
        .sum()
}

/// Peak resident memory (each process's high-water mark), summed, in KiB.
pub fn peak_rss_kib(root: u32) -> u64 {
    process_tree(root)
        .into_iter()
        .filter_map(|p| status_kib(p, "VmHWM:"))
        .sum()
}

/// The CPUs this process may run on (its affinity mask), in order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `set` is a plain bitmask owned by this frame; sched_getaffinity
    // writes at most size_of::<cpu_set_t>() bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![0];
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Raise RLIMIT_NOFILE's soft limit to the hard limit, for the idle-memory
/// scenario's 10,000 sockets; servers spawned afterwards inherit it.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is owned by this frame; the kernel only reads or writes it.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// `CPU model, N cores, kernel` of this machine, for the report.
pub fn machine() -> crate::report::Machine {
    let cpu_model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    // Every CPU of the machine, not this process's affinity (it is pinned,
    // and some glibc versions answer _SC_NPROCESSORS_ONLN from the affinity).
    let cores = fs::read_to_string("/proc/cpuinfo")
        .map(|t| t.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(1)
        .max(1);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    crate::report::Machine {
        cpu_model,
        cores,
        kernel,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_measurable() {
        let me = std::process::id();
        assert!(process_tree(me).contains(&me));
        assert!(rss_kib(me) > 0 && peak_rss_kib(me) > 0);
        // Own process only: other tests' children come and go in the tree.
        let rss = status_kib(me, "VmRSS:").unwrap();
        assert!(status_kib(me, "VmHWM:").unwrap() >= rss);
        let _ = cpu_time(me);
        assert!(!allowed_cpus().is_empty());
    }

    #[test]
    fn children_are_in_the_tree() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let tree = process_tree(std::process::id());
        let _ = child.kill();
        let _ = child.wait();
        assert!(tree.contains(&child.id()));
    }
}
