//! Child processes that are stopped, by PID, when their guard is dropped.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::{Result, err};

/// A running child process; dropping the guard stops it (SIGTERM, then SIGKILL after a grace period).
pub struct ChildGuard {
    name: String,
    child: Child,
}

impl ChildGuard {
    /// Spawn `command`, naming it for error messages.
    pub fn spawn(name: &str, command: &mut Command) -> Result<Self> {
        let child = command
            .spawn()
            .map_err(|e| err(&format!("could not start {name}"), e))?;
        Ok(Self {
            name: name.to_owned(),
            child,
        })
    }

    /// Its standard input, if it was piped (once).
    pub fn take_stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.child.stdin.take()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child itself, e.g. to take its stdout.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Wait for it to exit, at most `timeout`; `None` if it is still running then.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<std::process::ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(Some(status)),
                Ok(None) if Instant::now() >= deadline => return Ok(None),
                // Polling a child's exit: no event to wait on without a thread per child.
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(err(&self.name, e)),
            }
        }
    }

    /// Fail if the process has already exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(err(&self.name, format!("exited early ({status})"))),
            Err(e) => Err(err(&self.name, e)),
        }
    }

    fn terminate(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        #[cfg(unix)]
        {
            // SIGTERM first so the program can clean up; only this PID, never a pattern.
            let _ = Command::new("kill")
                .args(["-TERM", &self.pid().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Find a program on `PATH` (and in `$CARGO_HOME/bin`, where cargo-installed tools live).
pub fn find_program(name: &str) -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    } else if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    let exe = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    dirs.iter()
        .map(|d| d.join(&exe))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            err(
                name,
                "not found on PATH; `cargo xtask test` installs everything the tests need",
            )
        })
}

/// Find a system tool: on `PATH`, or in `/usr/sbin` (not on every user's `PATH`). `package`
/// names the Debian package that provides it, for the error.
pub fn find_system_program(name: &str, package: &str) -> Result<PathBuf> {
    find_program(name).or_else(|_| {
        let sbin = PathBuf::from("/usr/sbin").join(name);
        if sbin.is_file() {
            Ok(sbin)
        } else {
            Err(err(name, format!("not found (package {package})")))
        }
    })
}

/// Run a system tool to completion in `dir` (or here); its standard output, or an error with the
/// command line and what the tool said.
pub fn run_tool(
    name: &str,
    package: &str,
    args: &[&str],
    dir: Option<&std::path::Path>,
) -> Result<String> {
    let mut command = Command::new(find_system_program(name, package)?);
    command.args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let output = command.output().map_err(|e| err(name, e))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(err(
            &format!("{name} {}", args.join(" ")),
            String::from_utf8_lossy(&output.stderr).trim(),
        ))
    }
}

/// Poll `check` until it yields a value or `timeout` passes. `what` names the awaited state.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(err(
                "timed out",
                format!("waiting for {what} ({timeout:?})"),
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A TCP port on loopback that is free right now.
pub fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| err("no free port", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| err("no free port", e))
}
