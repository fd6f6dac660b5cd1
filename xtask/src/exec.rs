//! Running programs: echo the command, run it in a folder, fail with the command in the message.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Result type for xtask steps: an error is a sentence for the person at the terminal.
pub type Result<T> = std::result::Result<T, String>;

/// The repository root (the folder holding the workspace `Cargo.toml`).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Cargo's target folder: `$CARGO_TARGET_DIR`, or `target/` in the repository.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Print a command before running it, the way a person would type it.
fn show(cmd: &Command) {
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    println!(
        "  $ {} {}",
        cmd.get_program().to_string_lossy(),
        args.join(" ")
    );
}

/// Run a command to completion, inheriting the terminal.
pub fn run(cmd: &mut Command) -> Result<()> {
    show(cmd);
    let status = cmd
        .status()
        .map_err(|e| format!("could not start {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{:?} failed ({status})", cmd.get_program()))
    }
}

/// A test step silent for this long is stuck: no test of ours runs this long without a line
/// (cargo prints each test's result, libtest warns at 60 s).
const STALL: Duration = Duration::from_secs(8 * 60);

/// Run a command, printing its output as it comes and handing every line to `on_line`.
///
/// A command that prints nothing for [`STALL`] is taken as hung: the threads of every process
/// it started are printed (with gdb, so that the log says where each one waits), those
/// processes are stopped, and the step fails. A hung test then costs minutes, not the whole run.
pub fn run_streaming(cmd: &mut Command, on_line: impl FnMut(&str)) -> Result<()> {
    run_streaming_within(cmd, STALL, on_line)
}

fn run_streaming_within(
    cmd: &mut Command,
    stall: Duration,
    mut on_line: impl FnMut(&str),
) -> Result<()> {
    show(cmd);
    // stderr joins stdout so that the order stays readable and test summaries are seen.
    let (reader, writer) = std::io::pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
    let writer2 = writer
        .try_clone()
        .map_err(|e| format!("cannot create a pipe: {e}"))?;
    let mut child = cmd
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer2))
        .spawn()
        .map_err(|e| format!("could not start {:?}: {e}", cmd.get_program()))?;
    // Drop our copies of the write end (held inside `cmd`) so the read ends at the child's exit.
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // The last lines before a silence say which test hangs; they go into the error.
    let mut last = std::collections::VecDeque::new();
    loop {
        match lines.recv_timeout(stall) {
            Ok(line) => {
                println!("{line}");
                on_line(&line);
                if last.len() == 3 {
                    last.pop_front();
                }
                last.push_back(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let stopped = stop_stalled(child.id(), stall);
                let _ = child.kill();
                let _ = child.wait();
                let last: Vec<_> = last.into_iter().collect();
                return Err(format!(
                    "{:?} printed nothing for {} s and was stopped ({stopped} processes); \
                     the threads of each are printed above; its last lines: {}",
                    cmd.get_program(),
                    stall.as_secs(),
                    last.join(" | ")
                ));
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{:?} failed ({status})", cmd.get_program()))
    }
}

/// Print where every thread of `command` and what it started waits, then stop them all
/// (children before parents, so that no test's helper outlives it). Returns how many were stopped.
fn stop_stalled(command: u32, stall: Duration) -> usize {
    // The command itself too: a hung `cargo test` holds the test binary it waits for.
    let tree = process_tree(command);
    println!(
        "==> stuck: no output for {} s; where each process waits",
        stall.as_secs()
    );
    for pid in &tree {
        let name = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .map(|c| c.replace('\0', " "))
            .unwrap_or_default();
        println!("--- process {pid}: {}", name.trim());
        // Only our own programs: their threads are what we can read and fix (a browser or
        // server a test started would bury them in pages of its own threads).
        let ours = std::fs::read_link(format!("/proc/{pid}/exe"))
            .is_ok_and(|exe| exe.starts_with(target_dir()) || exe.starts_with(root()));
        if !ours {
            continue;
        }
        let gdb = Command::new("gdb")
            .args(["-batch", "-nx", "-p", &pid.to_string()])
            .args(["-ex", "thread apply all bt 30"])
            .stdin(Stdio::null())
            .output();
        match gdb {
            Ok(out) => println!("{}", String::from_utf8_lossy(&out.stdout)),
            Err(e) => println!("(gdb could not run: {e})"),
        }
    }
    for pid in tree.iter().rev() {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    // A killed process is gone once it is reaped or a zombie; look until then, for a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tree.iter().any(|pid| running(*pid)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    tree.len()
}

/// A process's state letter and parent, from `/proc/PID/stat` ("pid (name) state ppid ...";
/// the name may hold spaces and parentheses, so it is read from the last `)`).
fn stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether process `pid` exists and is not a zombie.
fn running(pid: u32) -> bool {
    stat(pid).is_some_and(|(state, _)| state != 'Z')
}

/// `root` and every process it started, directly or further down, parents before children.
fn process_tree(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .filter_map(|pid| Some((pid, stat(pid)?.1)))
        .collect();
    let mut tree = vec![root];
    let mut i = 0;
    while let Some(&parent) = tree.get(i) {
        tree.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    tree
}

/// Run a command quietly and return its stdout, or `None` if it cannot run or fails.
pub fn output(program: impl AsRef<OsStr>, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `cargo` as the one running this xtask (respects rustup's choice of toolchain).
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root());
    cmd
}

/// Whether a program can be found on `PATH`.
pub fn on_path(program: &str) -> bool {
    find_on_path(program).is_some()
}

/// The full path of a program on `PATH`.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let exts: &[&str] = if cfg!(windows) {
        &[".exe", ".cmd", ".bat", ""]
    } else {
        &[""]
    };
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        exts.iter()
            .map(|ext| dir.join(format!("{program}{ext}")))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_command_is_stopped_with_everything_it_started() {
        // The shell starts a child that would outlive it; both must be gone afterwards.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; sleep 600 & echo $! ; wait"]);
        let mut seen = Vec::new();
        let result = run_streaming_within(&mut cmd, Duration::from_secs(2), |l| {
            seen.push(l.to_owned())
        });
        let error = result.expect_err("a silent command fails");
        assert!(error.contains("printed nothing for 2 s"), "{error}");
        assert_eq!(seen.first().map(String::as_str), Some("started"));
        let sleeper: u32 = seen[1].parse().expect("the child's pid");
        assert!(
            error.ends_with(&format!("its last lines: started | {sleeper}")),
            "{error}"
        );
        // Stopped with SIGKILL and reaped by its parent's end (or by init): no longer running.
        assert!(!running(sleeper), "the child still runs");
    }

    #[test]
    fn a_command_that_speaks_runs_to_its_end() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one; echo two"]);
        let mut seen = Vec::new();
        run_streaming_within(&mut cmd, Duration::from_secs(60), |l| {
            seen.push(l.to_owned())
        })
        .expect("it succeeds");
        assert_eq!(seen, ["one", "two"]);
    }
}
