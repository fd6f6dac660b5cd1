//! `runde-cli` as a participant: started with arguments, its JSON-lines output collected while it
//! runs, stopped by PID.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::desktop::cli_binary;
use crate::process::{ChildGuard, wait_until};
use crate::{Error, Result, err};

/// A running `runde-cli`.
pub struct CliClient {
    name: String,
    guard: ChildGuard,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    /// Where its output is saved when it is dropped (a test that fails early keeps it too).
    keep_in: Option<std::path::PathBuf>,
}

fn collect(
    stream: impl std::io::Read + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream)
            .lines()
            .map_while(std::io::Result::ok)
        {
            if let Ok(mut lines) = into.lock() {
                lines.push(line);
            }
        }
    })
}

impl CliClient {
    /// `runde-cli join <link> --json` as `name` (also its label, lower-cased), with the room
    /// password from `password_file`, for `seconds`, and `media` options.
    pub fn join(
        link: &str,
        password_file: &str,
        name: &str,
        seconds: u32,
        media: &[&str],
    ) -> Result<Self> {
        Self::join_with_env(link, password_file, name, seconds, media, &[])
    }

    /// Like [`join`](Self::join), with extra environment variables.
    pub fn join_with_env(
        link: &str,
        password_file: &str,
        name: &str,
        seconds: u32,
        media: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let seconds = seconds.to_string();
        let mut args = vec![
            "join",
            link,
            "--json",
            "--name",
            name,
            "--password-file",
            password_file,
            "--duration",
            &seconds,
        ];
        args.extend_from_slice(media);
        Self::spawn_with_env(&name.to_lowercase(), &args, env)
    }

    /// Start `runde-cli <args>`; `name` labels it in failures, and in the files
    /// [`save_output`](Self::save_output) writes.
    pub fn spawn(name: &str, args: &[&str]) -> Result<Self> {
        Self::spawn_with_env(name, args, &[])
    }

    /// Like [`spawn`](Self::spawn), with extra environment variables.
    pub fn spawn_with_env(name: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Self> {
        let mut command = Command::new(cli_binary()?);
        command
            .args(args)
            // The most verbose logging: tests check that no secret reaches it (benchmarks may
            // ask for less in `env`).
            .env("RUNDE_LOG", "trace")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut guard = ChildGuard::spawn(name, &mut command)?;
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let child = guard.child_mut();
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(collect(out, stdout.clone()));
        }
        if let Some(errout) = child.stderr.take() {
            readers.push(collect(errout, stderr.clone()));
        }
        Ok(Self {
            name: name.to_owned(),
            guard,
            stdout,
            stderr,
            readers,
            keep_in: None,
        })
    }

    /// Everything printed so far on standard output.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Everything printed so far on standard error.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The JSON events printed so far.
    pub fn events(&self) -> Vec<Value> {
        self.stdout()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The call's statistics, printed when it ends (`stats`).
    pub fn stats(&self) -> Result<Value> {
        self.events()
            .into_iter()
            .find(|e| e["event"] == "stats")
            .ok_or_else(|| err(&self.name, "no statistics at the end"))
    }

    /// Wait until an event matching `what` was printed, and return it.
    pub fn wait_event(
        &mut self,
        label: &str,
        timeout: Duration,
        what: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        self.wait_event_from(0, label, timeout, what)
    }

    /// Like [`wait_event`](Self::wait_event), looking only at events after the first `skip`.
    pub fn wait_event_from(
        &mut self,
        skip: usize,
        label: &str,
        timeout: Duration,
        what: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let name = self.name.clone();
        let waited = wait_until(&format!("{name}: {label}"), timeout, || {
            if let Some(event) = self.events().into_iter().skip(skip).find(|e| what(e)) {
                return Ok(Some(event));
            }
            if self.exited()?.is_some() {
                return Err(err(
                    &name,
                    format!(
                        "exited before {label}; stdout: {:?}; stderr: {:?}",
                        self.stdout(),
                        self.stderr()
                    ),
                ));
            }
            Ok(None)
        });
        // A client that is still running but never got there says what it did meanwhile.
        waited.map_err(|e| match self.exited() {
            Ok(None) => {
                let last = |lines: Vec<String>| {
                    let from = lines.len().saturating_sub(8);
                    lines[from..].to_vec()
                };
                Error(format!(
                    "{e}; its last output: {:?}; its last log lines: {:?}",
                    last(self.stdout()),
                    last(self.stderr())
                ))
            }
            _ => e,
        })
    }

    fn exited(&mut self) -> Result<Option<ExitStatus>> {
        self.guard
            .child_mut()
            .try_wait()
            .map_err(|e| err(&self.name, e))
    }

    /// Ask it to leave the call, as Ctrl-C in a terminal does (SIGINT to its PID).
    pub fn interrupt(&self) -> Result<()> {
        self.signal("INT")
    }

    /// Ask it to change to its next end-to-end passphrase (SIGUSR1 to its PID).
    pub fn change_passphrase(&self) -> Result<()> {
        self.signal("USR1")
    }

    fn signal(&self, name: &str) -> Result<()> {
        let kill = crate::process::find_program("kill")?;
        let status = Command::new(kill)
            .args([&format!("-{name}"), &self.guard.pid().to_string()])
            .status()
            .map_err(|e| err(&self.name, e))?;
        if status.success() {
            Ok(())
        } else {
            Err(err(&self.name, format!("kill -{name} failed: {status}")))
        }
    }

    /// Wait for the process to end by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let name = self.name.clone();
        let status = wait_until(&format!("{name} to exit"), timeout, || self.exited())?;
        // The pipes are closed now: the readers take the last lines and end.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Ok(status)
    }

    /// Its label (the lower-cased name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Save the output in `dir` when this client is dropped, however the test ends (a test that
    /// returns an error early drops it without reaching its own `save_output`).
    pub fn keep_output_in(&mut self, dir: &Path) {
        self.keep_in = Some(dir.to_owned());
    }

    /// Keep the output next to the test's other artifacts.
    pub fn save_output(&self, dir: &Path) {
        let _ = std::fs::write(
            dir.join(format!("{}.out", self.name)),
            self.stdout().join("\n"),
        );
        let _ = std::fs::write(
            dir.join(format!("{}.err", self.name)),
            self.stderr().join("\n"),
        );
    }
}

/// Run `runde-cli <args>` to the end (at most `timeout`): exit status, stdout, stderr.
pub fn run(args: &[&str], timeout: Duration) -> Result<(ExitStatus, Vec<String>, Vec<String>)> {
    let mut client = CliClient::spawn("runde-cli", args)?;
    let status = client.wait_exit(timeout)?;
    Ok((status, client.stdout(), client.stderr()))
}

impl Drop for CliClient {
    fn drop(&mut self) {
        if let Some(dir) = self.keep_in.take() {
            self.save_output(&dir);
        }
    }
}
