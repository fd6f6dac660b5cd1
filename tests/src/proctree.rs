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

/// The command name and the fields after it of a `/proc/.../stat` file ("pid (comm) state ppid
/// … utime stime …"; comm may hold spaces and parentheses, so it ends at the last ')').
fn read_stat(path: &str) -> Option<(String, Vec<u64>)> {
    let stat = std::fs::read_to_string(path).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let fields = stat
        .get(close + 2..)?
        .split_whitespace()
        .map(|f| f.parse::<u64>().unwrap_or(0))
        .collect();
    Some((stat.get(open + 1..close)?.to_owned(), fields))
}

/// Field `i` after the command name (1: parent, 11: utime, 12: stime; 0, the state, is a letter
/// and reads as 0).
fn field(fields: &[u64], i: usize) -> u64 {
    fields.get(i).copied().unwrap_or(0)
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
        let Some((name, fields)) = read_stat(&format!("/proc/{pid}/stat")) else {
            continue;
        };
        out.insert(
            pid,
            ProcessSample {
                name,
                parent: field(&fields, 1) as u32,
                ticks: field(&fields, 11) + field(&fields, 12),
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

/// CPU time of every thread of `pid` so far, in clock ticks, by thread id, with the thread's name.
fn threads(pid: u32) -> BTreeMap<u32, (String, u64)> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Some((name, fields)) = read_stat(&format!("/proc/{pid}/task/{tid}/stat")) else {
            continue;
        };
        out.insert(tid, (name, field(&fields, 11) + field(&fields, 12)));
    }
    out
}

/// One thread's share of a window.
#[derive(Debug, Clone)]
pub struct ThreadUsage {
    /// The process's command name.
    pub process: String,
    /// The thread's name.
    pub thread: String,
    /// CPU time over the window, in % of one core.
    pub cpu_percent: f64,
}

/// What a process tree used over a window.
#[derive(Debug, Clone)]
pub struct Usage {
    /// CPU time over the window, in % of one core (200 % is both cores of a 2-core machine).
    pub cpu_percent: f64,
    /// Proportional set size of the whole tree at the end of the window, in MiB.
    pub pss_mib: f64,
    /// Processes in the tree at the end.
    pub processes: usize,
    /// The busiest threads of the tree, busiest first (at most eight): where the time goes, and
    /// whether one thread is saturated (100 % of one core).
    pub busiest_threads: Vec<ThreadUsage>,
}

/// Measure `root` and its descendants over `window`: CPU per process as the difference of its
/// ticks (a process started during the window counts from zero, one that ended is left out),
/// memory as the sum of PSS at the end. `skip` names processes not to count (e.g. a driver
/// that only starts the measured program).
pub fn usage(root: u32, window: std::time::Duration, skip: &[&str]) -> Usage {
    let before = all();
    let threads_before: BTreeMap<u32, BTreeMap<u32, (String, u64)>> = tree(&before, root)
        .into_iter()
        .map(|pid| (pid, threads(pid)))
        .collect();
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
    let percent = |ticks: u64| ticks as f64 / ticks_per_second() as f64 / elapsed * 100.0;
    let mut busiest: Vec<ThreadUsage> = members
        .iter()
        .flat_map(|&pid| {
            let process = after.get(&pid).map(|p| p.name.clone()).unwrap_or_default();
            let earlier = threads_before.get(&pid).cloned().unwrap_or_default();
            threads(pid)
                .into_iter()
                .map(move |(tid, (thread, now))| ThreadUsage {
                    process: process.clone(),
                    thread,
                    cpu_percent: percent(
                        now.saturating_sub(earlier.get(&tid).map_or(0, |(_, t)| *t)),
                    ),
                })
        })
        .collect();
    busiest.sort_by(|a, b| b.cpu_percent.total_cmp(&a.cpu_percent));
    busiest.truncate(8);
    Usage {
        busiest_threads: busiest,
        cpu_percent: percent(ticks),
        pss_mib: members.iter().map(|pid| pss_kib(*pid)).sum::<u64>() as f64 / 1024.0,
        processes: members.len(),
    }
}
