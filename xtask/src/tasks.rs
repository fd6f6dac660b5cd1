//! The commands themselves: run, test, bindings, dev.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use crate::exec::{self, Result};
use crate::node::Node;
use crate::report::{Outcome, Report};
use crate::{checks, installer, setup};

fn build_ui(node: &Node) -> Result<()> {
    exec::run(&mut node.npm(&["run", "build"]))
}

fn app_path(release: bool) -> std::path::PathBuf {
    let profile = if release { "release" } else { "debug" };
    let exe = if cfg!(windows) { "runde.exe" } else { "runde" };
    exec::root().join("target").join(profile).join(exe)
}

fn cli_path() -> std::path::PathBuf {
    let exe = if cfg!(windows) {
        "runde-cli.exe"
    } else {
        "runde-cli"
    };
    exec::root().join("target").join("debug").join(exe)
}

/// Build the UI and the app, then start it and wait until it is closed. On Linux, with `demo`,
/// the app opens a demo call: a local Janus on a private network with a participant who shows a
/// test picture and speaks (`runde-demo`).
pub fn run(release: bool, demo: bool) -> Result<()> {
    let node = setup::ensure(setup::Purpose::Run)?;
    println!("==> building the UI");
    build_ui(&node)?;
    let demo = demo && cfg!(target_os = "linux");
    println!("==> building Runde");
    let mut build = exec::cargo();
    build.args(["build", "--locked", "-p", "runde"]);
    if demo {
        build.args([
            "-p",
            "runde-cli",
            "-p",
            "runde-e2e",
            "--bin",
            "runde-demo",
            "--bin",
            "runde",
            "--bin",
            "runde-cli",
        ]);
    }
    if release {
        build.arg("--release");
    }
    exec::run(&mut build)?;
    if cfg!(target_os = "linux")
        && std::env::var_os("DISPLAY").is_none()
        && std::env::var_os("WAYLAND_DISPLAY").is_none()
    {
        return Err(
            "Runde is built, but there is no display to show it on (no DISPLAY or \
                    WAYLAND_DISPLAY). Run it from a desktop session, or under `xvfb-run`."
                .into(),
        );
    }
    if demo {
        println!("==> starting Runde with a demo call (close the window to end it)");
        let profile = if release { "release" } else { "debug" };
        let target = exec::root().join("target").join(profile);
        return exec::run(
            Command::new(target.join("runde-demo"))
                .env("RUNDE_APP_BINARY", app_path(release))
                .env("RUNDE_CLI_BINARY", target.join("runde-cli")),
        );
    }
    println!("==> starting Runde");
    exec::run(&mut Command::new(app_path(release)))
}

/// Every check and test, with a summary at the end.
pub fn test() -> ExitCode {
    let start = Instant::now();
    let mut report = Report::default();
    let mut node = None;
    let set_up = report.step("set-up (system packages, npm, cargo tools)", |_| {
        node = Some(setup::ensure(setup::Purpose::Test)?);
        Ok(Outcome::Passed)
    });
    let Some(node) = node.filter(|_| set_up) else {
        return report.finish(start.elapsed());
    };
    report.step("rustfmt", |_| {
        exec::run(exec::cargo().args(["fmt", "--all", "--check"])).map(|()| Outcome::Passed)
    });
    report.step("crate layering (ARCHITECTURE.md)", |_| {
        checks::layers().map(|()| Outcome::Passed)
    });
    report.step("no telemetry in Rust or npm packages", |_| {
        checks::no_telemetry().map(|()| Outcome::Passed)
    });
    report.step("npm licenses", |_| {
        checks::npm_licenses().map(|()| Outcome::Passed)
    });
    report.step("UI type check (svelte-check)", |_| {
        exec::run(&mut node.npm(&["run", "check"])).map(|()| Outcome::Passed)
    });
    report.step("UI unit tests (vitest)", |r| {
        let mut cmd = node.npm(&["run", "test"]);
        cmd.env("NO_COLOR", "1");
        exec::run_streaming(&mut cmd, |l| r.count_tests(l)).map(|()| Outcome::Passed)
    });
    let ui_built = report.step("UI build (vite)", |_| {
        build_ui(&node).map(|()| Outcome::Passed)
    });
    if ui_built {
        report.step("UI screens in Chromium (axe-core, keyboard)", |r| {
            let mut cmd = node.npm(&["run", "screens"]);
            cmd.env(
                "RUNDE_SCREENS_OUT",
                exec::root().join("target/test-artifacts/screens"),
            );
            exec::run_streaming(&mut cmd, |l| r.count_tests(l)).map(|()| Outcome::Passed)
        });
        rust_steps(&mut report, &node);
    }
    deny_steps(&mut report, &node);
    report.finish(start.elapsed())
}

fn rust_steps(report: &mut Report, node: &Node) {
    report.step("clippy -D warnings", |_| {
        exec::run(exec::cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]))
        .map(|()| Outcome::Passed)
    });
    let built = report.step("build the app and runde-cli (debug)", |_| {
        exec::run(exec::cargo().args(["build", "--locked", "-p", "runde", "-p", "runde-cli"]))
            .map(|()| Outcome::Passed)
    });
    if cfg!(target_os = "macos") {
        println!(
            "  note: the app's WebDriver tests cannot run on macOS (no WebDriver for WKWebView)"
        );
    }
    if built {
        report.step("Rust tests, incl. the app end-to-end", |r| {
            let mut cmd = exec::cargo();
            cmd.args(["test", "--workspace", "--locked", "--no-fail-fast"])
                .env("RUNDE_APP_BINARY", app_path(false))
                .env("RUNDE_CLI_BINARY", cli_path())
                .env("RUNDE_PESQ_PYTHON", setup::pesq_python());
            exec::run_streaming(&mut cmd, |l| r.count_tests(l)).map(|()| Outcome::Passed)
        });
        if cfg!(target_os = "linux") {
            // Short runs of the end-to-end benchmarks (debug build, a few seconds per scenario), so
            // that the harnesses cannot rot; `cargo xtask bench` runs them in full.
            for (step, bench) in [
                ("video path benchmark, short run", "video_path"),
                (
                    "Runde beside Chromium benchmark, short run",
                    "versus_browser",
                ),
            ] {
                report.step(step, |_| {
                    exec::run_streaming(
                        exec::cargo()
                            .args(["test", "--locked", "-p", "runde-e2e", "--bench", bench])
                            .env("RUNDE_BENCH_QUICK", "1")
                            .env("RUNDE_APP_BINARY", app_path(false))
                            .env("RUNDE_CLI_BINARY", cli_path())
                            .env("RUNDE_PESQ_PYTHON", setup::pesq_python()),
                        |_| {},
                    )
                    .map(|()| Outcome::Passed)
                });
            }
            report.step("Linux .deb in a clean Debian 12 root", |_| {
                installer::test(node)
            });
        }
    }
}

fn deny_steps(report: &mut Report, node: &Node) {
    report.step("cargo deny: bans, licenses, sources", |_| {
        exec::run(exec::cargo().args([
            "deny",
            "--log-level",
            "error",
            "check",
            "bans",
            "licenses",
            "sources",
        ]))
        .map(|()| Outcome::Passed)
    });
    report.step("security advisories (RustSec, npm audit)", |_| {
        advisories(node)
    });
}

/// Advisories need a database from the network; when it cannot be fetched, say so plainly.
fn advisories(node: &Node) -> Result<Outcome> {
    let mut unavailable = Vec::new();
    let mut lines = Vec::new();
    let rust = exec::run_streaming(exec::cargo().args(["deny", "check", "advisories"]), |l| {
        lines.push(l.to_owned())
    });
    if let Err(e) = rust {
        if lines
            .iter()
            .any(|l| l.contains("failed to fetch advisory database"))
        {
            unavailable.push("the RustSec advisory database could not be fetched (offline?)");
        } else {
            return Err(e);
        }
    }
    let mut npm_lines = Vec::new();
    let npm = exec::run_streaming(&mut node.npm(&["audit", "--audit-level=high"]), |l| {
        npm_lines.push(l.to_owned())
    });
    if let Err(e) = npm {
        if npm_lines
            .iter()
            .any(|l| l.contains("found") && l.contains("vulnerabilit"))
        {
            return Err(e);
        }
        unavailable.push("npm audit could not reach its advisory service");
    }
    if unavailable.is_empty() {
        Ok(Outcome::Passed)
    } else {
        for u in &unavailable {
            println!("  ADVISORIES NOT CHECKED: {u}");
        }
        Ok(Outcome::Unavailable(unavailable.join("; ")))
    }
}

/// Release installers for this system with the Tauri bundler, then their sizes. `args`: bundle
/// types (comma or space separated), then after `--` anything for `tauri build` (e.g. `--config`
/// with signing settings in CI).
pub fn package(args: &[&str]) -> Result<()> {
    let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
    let (bundles, extra) = (&args[..split], args.get(split + 1..).unwrap_or_default());
    let default = if cfg!(target_os = "macos") {
        "app,dmg"
    } else if cfg!(windows) {
        "msi,nsis"
    } else {
        "deb,rpm"
    };
    let bundles = if bundles.is_empty() {
        default.to_owned()
    } else {
        bundles.join(",")
    };
    let node = setup::ensure(setup::Purpose::Run)?;
    let mut build = node.npm(&["run", "tauri", "--", "build", "--ci", "--bundles", &bundles]);
    build.args(extra);
    // The CLI runs in ui/ (npm) and would look for the app only below it.
    build.env("TAURI_APP_PATH", exec::root().join("src-tauri"));
    exec::run(&mut build)?;
    installer_sizes(&exec::target_dir().join("release/bundle"))
}

/// Print every installer under `dir` with its size, for docs/BENCHMARKS.md.
fn installer_sizes(dir: &std::path::Path) -> Result<()> {
    const INSTALLERS: &[&str] = &["deb", "rpm", "AppImage", "dmg", "msi", "exe"];
    println!("==> installers");
    for kind in std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
    {
        for file in std::fs::read_dir(kind.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = file.path();
            let is_installer = path
                .extension()
                .is_some_and(|x| INSTALLERS.iter().any(|i| x == *i));
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            if is_installer {
                println!(
                    "  {:>12} bytes  {:>6.2} MiB  {}",
                    size,
                    size as f64 / 1_048_576.0,
                    path.display()
                );
            }
        }
    }
    Ok(())
}

/// Only the installer step of `test`, with what it needs: the UI, the debug app, the clean root.
pub fn installer() -> Result<()> {
    let node = crate::node::ensure()?;
    crate::clean_root::ensure()?;
    build_ui(&node)?;
    // As the test's build step does (the same features, so nothing is built twice).
    exec::run(exec::cargo().args(["build", "--locked", "-p", "runde", "-p", "runde-cli"]))?;
    match installer::test(&node)? {
        Outcome::Passed => Ok(()),
        Outcome::Unavailable(why) | Outcome::Failed(why) => Err(why),
    }
}

/// Regenerate the TypeScript bindings from the Rust types.
pub fn bindings() -> Result<()> {
    exec::run(
        exec::cargo()
            .args(["test", "--locked", "-p", "runde", "--lib", "bindings"])
            .env("RUNDE_BLESS_BINDINGS", "1"),
    )
}

/// The app against the Vite dev server: UI changes show up without a rebuild.
pub fn dev() -> Result<()> {
    let node = setup::ensure(setup::Purpose::Run)?;
    let mut vite = node
        .npm(&["run", "dev"])
        .spawn()
        .map_err(|e| format!("could not start the Vite dev server: {e}"))?;
    let ready = (0..200).any(|_| {
        let up = std::net::TcpStream::connect(("127.0.0.1", 5173)).is_ok();
        if !up {
            std::thread::sleep(Duration::from_millis(50));
        }
        up
    });
    let outcome = if ready {
        exec::run(exec::cargo().args(["run", "-p", "runde", "--no-default-features"]))
    } else {
        Err("the Vite dev server did not start on 127.0.0.1:5173".into())
    };
    let _ = vite.kill();
    let _ = vite.wait();
    outcome
}

/// Benchmarks that print numbers: the media stages' speed, and speech quality under loss.
pub fn bench() -> Result<()> {
    let node = setup::ensure(setup::Purpose::Test)?;
    println!("==> media stages (release build, one thread)");
    exec::run(exec::cargo().args(["bench", "--locked", "-p", "runde-media", "--bench", "media"]))?;
    println!("==> speech under packet loss (WB-PESQ)");
    exec::run(
        exec::cargo()
            .args([
                "test",
                "--locked",
                "-p",
                "runde-media",
                "--test",
                "loss_pesq",
            ])
            .env("RUNDE_PESQ_PYTHON", setup::pesq_python()),
    )?;
    println!(
        "==> Runde beside Chromium: join time, mouth-to-ear latency, speech and video under loss, jitter and a bottleneck, CPU and memory (release build, real Janus behind a userspace wire, private network namespaces; about 30 minutes)"
    );
    build_ui(&node)?;
    exec::run(exec::cargo().args([
        "build",
        "--locked",
        "--release",
        "-p",
        "runde-cli",
        "-p",
        "runde",
    ]))?;
    let cli = exec::root().join("target/release").join(if cfg!(windows) {
        "runde-cli.exe"
    } else {
        "runde-cli"
    });
    // The end-to-end benchmarks run the release binaries.
    let e2e_bench = |name: &str| {
        exec::run(
            exec::cargo()
                .args(["bench", "--locked", "-p", "runde-e2e", "--bench", name])
                .env("RUNDE_CLI_BINARY", &cli)
                .env("RUNDE_APP_BINARY", app_path(true))
                .env("RUNDE_PESQ_PYTHON", setup::pesq_python()),
        )
    };
    e2e_bench("versus_browser")?;
    println!(
        "==> video to the screen in the real app (release build, Xvfb, private network namespace)"
    );
    e2e_bench("video_path")
}
