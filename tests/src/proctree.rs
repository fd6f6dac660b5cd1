//! CPU time and memory of a process and everything it started, read from `/proc` (Linux).

use std::collections::BTreeMap;

use crate::{Result, err};

/// One process: its name, parent and CPU time so far.
#[derive(Debug, Clone)]
pub struct ProcessSample {
    /// The command name (`comm`).
    pub name: String,
    /// Its parent.
    pub parent: u32,
    /// User plus system time, in clock ticks.
    pub ticks: u64,
}

/// Every process now, by PID.
pub fn all() -> BTreeMap<u32, ProcessSample> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid … utime stime …": comm may hold spaces, so split at the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let num = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        out.insert(
            pid,
            ProcessSample {
                name,
                parent: num(1) as u32,
                ticks: num(11) + num(12),
            },
        );
    }
    out
}

/// `root` and all its descendants in a snapshot.
pub fn tree(snapshot: &BTreeMap<u32, ProcessSample>, root: u32) -> Vec<u32> {
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            snapshot
                .iter()
                .filter(|(_, p)| p.parent == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    found.retain(|pid| snapshot.contains_key(pid));
    found
}

/// The first descendant of `root` with this command name.
pub fn find(root: u32, name: &str) -> Result<u32> {
    let snapshot = all();
    tree(&snapshot, root)
        .into_iter()
        .find(|pid| snapshot.get(pid).is_some_and(|p| p.name == name))
        .ok_or_else(|| err(name, format!("no such process under {root}")))
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless configured otherwise).
pub fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Proportional set size of a process in KiB (`/proc/<pid>/smaps_rollup`).
pub fn pss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// What a process tree used over a window.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// CPU time over the window, in % of one core (200 % is both cores of a 2-core machine).
    pub cpu_percent: f64,
    /// Proportional set size of the whole tree at the end of the window, in MiB.
    pub pss_mib: f64,
    /// Processes in the tree at the end.
    pub processes: usize,
}

/// Measure `root` and its descendants over `window`: CPU per process as the difference of its
/// ticks (a process started during the window counts from zero, one that ended is left out),
/// memory as the sum of PSS at the end. `skip` names processes not to count (e.g. a driver
/// that only starts the measured program).
pub fn usage(root: u32, window: std::time::Duration, skip: &[&str]) -> Usage {
    let before = all();
    let started = std::time::Instant::now();
    std::thread::sleep(window);
    let after = all();
    let elapsed = started.elapsed().as_secs_f64();
    let members: Vec<u32> = tree(&after, root)
        .into_iter()
        .filter(|pid| {
            after
                .get(pid)
                .is_some_and(|p| !skip.contains(&p.name.as_str()))
        })
        .collect();
    let ticks: u64 = members
        .iter()
        .filter_map(|pid| {
            let now = after.get(pid)?.ticks;
            Some(now.saturating_sub(before.get(pid).map_or(0, |b| b.ticks)))
        })
        .sum();
    Usage {
        cpu_percent: ticks as f64 / ticks_per_second() as f64 / elapsed * 100.0,
        pss_mib: members.iter().map(|pid| pss_kib(*pid)).sum::<u64>() as f64 / 1024.0,
        processes: members.len(),
    }
}
