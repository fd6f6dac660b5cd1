//! Runde's developer commands. Run them through cargo from anywhere in the repository:
//!
//! * `cargo xtask run` — install what building needs, build the UI and the app, start Runde.
//! * `cargo xtask test` — install what the tests need, then run every check and test, with a summary.
//! * `cargo xtask setup [run|test]` — only the installation part.
//! * `cargo xtask bench` — benchmarks that print numbers (docs/BENCHMARKS.md).
//! * `cargo xtask package [bundles]` — release installers for this system, with their sizes.
//! * `cargo xtask installer` — only the installer test of `test`: the .deb in a clean Debian root.
//! * `cargo xtask bindings` — regenerate the TypeScript bindings in `ui/src/lib/bindings.ts`.
//! * `cargo xtask dev` — the app against the Vite dev server, for UI work with hot reload.
#![allow(clippy::print_stdout)]

mod checks;
mod clean_root;
mod exec;
mod installer;
mod node;
mod report;
mod setup;
mod tasks;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

  run [--release]     build and start Runde (installs what building needs)
  test                run every check and test (installs what the tests need)
  setup [run|test]    only install what `run` or `test` needs (default: test)
  package [bundles] [-- tauri build args]
                      release installers for this system (Linux: deb,rpm; macOS: app,dmg;
                      Windows: msi,nsis) with their sizes; e.g. `package appimage`
  installer           build the .deb and test it in a clean Debian 12 root (Linux, as root)
  bench               run the benchmarks and print their numbers (docs/BENCHMARKS.md)
  bindings            regenerate ui/src/lib/bindings.ts from the Rust types
  dev                 start the app against the Vite dev server (hot reload)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = match args.as_slice() {
        ["run"] => tasks::run(false, true),
        ["run", "--release"] => tasks::run(true, true),
        ["run", "--plain"] => tasks::run(false, false),
        ["run", "--release", "--plain"] | ["run", "--plain", "--release"] => {
            tasks::run(true, false)
        }
        ["test"] => return tasks::test(),
        ["setup"] | ["setup", "test"] => setup::ensure(setup::Purpose::Test).map(|_| ()),
        ["setup", "run"] => setup::ensure(setup::Purpose::Run).map(|_| ()),
        ["installer"] => tasks::installer(),
        ["package", rest @ ..] => tasks::package(rest),
        ["bindings"] => tasks::bindings(),
        ["bench"] => tasks::bench(),
        ["dev"] => tasks::dev(),
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
