//! Installing what building and testing Runde need: system packages, Node.js and the UI's npm
//! packages (from the committed lockfile), and cargo tools at pinned versions. Idempotent: when
//! everything is present it only looks, which takes about a second.

use std::process::Command;

use crate::exec::{self, Result};
use crate::node::{self, Node};

/// What the set-up is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Build and start the app.
    Run,
    /// Run every check and test.
    Test,
}

/// Debian/Ubuntu packages needed to build the app and the media engine.
const APT_BUILD: &[&str] = &[
    "build-essential",
    "pkg-config",
    "file",
    "cmake",
    "libwebkit2gtk-4.1-dev",
    "libxdo-dev",
    "libssl-dev",
    "librsvg2-dev",
    "libasound2-dev",
    "libv4l-dev",
    "libclang-dev",
    "libvpx-dev",
    "libopus-dev",
];

/// What `cargo xtask run` needs on top of building on Linux: the demo call (a local Janus in a
/// private network, a participant who speaks).
const APT_DEMO: &[&str] = &["janus", "espeak-ng", "iproute2", "util-linux"];

/// Debian/Ubuntu packages the tests need on top: a virtual display and WebDriver for the app, a
/// real Janus server and a Chromium peer, private test networks, and synthetic speech.
const APT_TEST: &[&str] = &[
    "xvfb",
    "xdotool",
    "xclip",
    "webkit2gtk-driver",
    "janus",
    "janus-tools",
    "libjs-janus-gateway",
    "libjs-webrtc-adapter",
    "nginx-light",
    "gnome-keyring",
    "dbus-daemon",
    "dbus-bin",
    // A real notification service for the app's system notifications (dunst and dunstctl).
    "dunst",
    // Where a hung test waits: `cargo xtask test` prints every thread before stopping it.
    "gdb",
    "openssl",
    "chromium",
    "chromium-driver",
    "nftables",
    "iproute2",
    // TURN over TCP and TLS on networks that let only port 443 through.
    "coturn",
    "espeak-ng",
    "sox",
    "ffmpeg",
    // Mouth-to-ear latency: a private sound server paces both clients' devices in real time.
    "pulseaudio",
    "pulseaudio-utils",
    "libasound2-plugins",
    "python3",
    "python3-venv",
    "python3-dev",
    // The installer test: a clean Debian root to install the .deb into, a private mount namespace
    // to run it in, and the validators of the desktop entry and AppStream metadata.
    "debootstrap",
    "bubblewrap",
    "desktop-file-utils",
    "appstream",
];

/// The speech-quality tests score with WB-PESQ from the Python package index, pinned.
const PESQ_PACKAGES: &[&str] = &["numpy==2.4.6", "pesq==0.0.4"];

/// Cargo tools, pinned. tauri-driver is Tauri 2's (the registry's newest is a 3.0 alpha).
pub const CARGO_TOOLS: &[(&str, &str)] = &[("tauri-driver", "2.1.0"), ("cargo-deny", "0.20.2")];

/// Install whatever is missing for `purpose`; returns how to run Node.js.
pub fn ensure(purpose: Purpose) -> Result<Node> {
    println!("==> checking what this machine has");
    system_packages(purpose)?;
    let node = node::ensure()?;
    npm_packages(&node)?;
    if purpose == Purpose::Test {
        cargo_tools()?;
        pesq()?;
        // Needs the network the first time; without it only the installer test fails, and says why.
        if let Err(e) = crate::clean_root::ensure() {
            println!("  clean Debian root for the .deb test NOT made: {e}");
        }
    }
    Ok(node)
}

fn system_packages(purpose: Purpose) -> Result<()> {
    if cfg!(target_os = "linux") {
        if exec::on_path("dpkg-query") && exec::on_path("apt-get") {
            return apt(purpose);
        }
        println!(
            "  not a Debian/Ubuntu system: install the equivalents of these packages yourself:\n    {}",
            wanted_apt(purpose).join(" ")
        );
        return Ok(());
    }
    if cfg!(target_os = "macos") && exec::output("xcode-select", &["-p"]).is_none() {
        return Err(
            "the Xcode command line tools are missing: run `xcode-select --install`".into(),
        );
    }
    // Windows: MSVC build tools and WebView2 are prerequisites documented in the README; a missing
    // one shows up as a clear build error from cargo.
    Ok(())
}

fn wanted_apt(purpose: Purpose) -> Vec<&'static str> {
    let mut wanted = APT_BUILD.to_vec();
    wanted.extend_from_slice(APT_DEMO);
    if purpose == Purpose::Test {
        wanted.extend_from_slice(APT_TEST);
    }
    let node_ok = exec::output("node", &["--version"]).is_some_and(|v| {
        let v = v.trim().trim_start_matches('v');
        let mut it = v.split('.').filter_map(|p| p.parse::<u32>().ok());
        (it.next().unwrap_or(0), it.next().unwrap_or(0)) >= (20, 19)
    });
    if !node_ok {
        // The project-local Node.js comes through pip.
        wanted.extend_from_slice(&["python3", "python3-pip"]);
    }
    wanted
}

fn apt(purpose: Purpose) -> Result<()> {
    let wanted = wanted_apt(purpose);
    let missing = missing_debs(&wanted);
    if missing.is_empty() {
        println!("  system packages: all {} present", wanted.len());
        return Ok(());
    }
    println!(
        "  installing {} system packages: {}",
        missing.len(),
        missing.join(" ")
    );
    let root = exec::output("id", &["-u"]).is_some_and(|u| u.trim() == "0");
    let sudo = |program: &str| {
        if root {
            Command::new(program)
        } else {
            let mut c = Command::new("sudo");
            c.arg(program);
            c
        }
    };
    if !root && !exec::on_path("sudo") {
        return Err(format!(
            "not root and no sudo: install these packages as root, then run again:\n  apt-get install {}",
            missing.join(" ")
        ));
    }
    exec::run(sudo("apt-get").args(["update", "-q"]))?;
    exec::run(
        sudo("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing),
    )?;
    let still = missing_debs(&wanted);
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "these packages did not install: {}",
            still.join(" ")
        ))
    }
}

/// Packages of `wanted` that dpkg does not list as installed.
fn missing_debs<'a>(wanted: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["-W", "-f", "${Package} ${db:Status-Abbrev}\n"];
    args.extend_from_slice(wanted);
    // dpkg-query exits non-zero when some package is unknown, but still prints the known ones.
    let out = Command::new("dpkg-query").args(&args).output();
    let listed = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    wanted
        .iter()
        .copied()
        .filter(|pkg| {
            !listed.lines().any(|l| {
                let mut parts = l.split_whitespace();
                let name = parts.next().unwrap_or_default();
                let name = name.split(':').next().unwrap_or_default();
                name == *pkg && parts.next() == Some("ii")
            })
        })
        .collect()
}

/// `npm ci` from the committed lockfile, unless node_modules already matches it.
fn npm_packages(node: &Node) -> Result<()> {
    let ui = exec::root().join("ui");
    let lock = std::fs::read(ui.join("package-lock.json"))
        .map_err(|e| format!("ui/package-lock.json: {e}"))?;
    let stamp = ui.join("node_modules/.runde-installed-lock");
    if std::fs::read(&stamp).is_ok_and(|s| s == lock) {
        println!("  npm packages: match ui/package-lock.json");
        return Ok(());
    }
    exec::run(&mut node.npm(&["ci", "--no-audit", "--no-fund", "--loglevel=error"]))?;
    std::fs::write(&stamp, lock).map_err(|e| format!("{}: {e}", stamp.display()))
}

fn cargo_tools() -> Result<()> {
    let list = exec::output(
        std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
        &["install", "--list"],
    )
    .unwrap_or_default();
    for (tool, version) in CARGO_TOOLS {
        if *tool == "tauri-driver" && cfg!(target_os = "macos") {
            continue; // no WebDriver for macOS's WKWebView; see README
        }
        if list.lines().any(|l| l == format!("{tool} v{version}:")) {
            println!("  {tool} {version}: installed");
            continue;
        }
        exec::run(exec::cargo().args(["install", "--locked", "--version", version, tool]))?;
    }
    Ok(())
}

/// The Python that has PESQ: `target/tools/pesq-venv`.
pub fn pesq_python() -> std::path::PathBuf {
    let venv = exec::root().join("target/tools/pesq-venv");
    if cfg!(windows) {
        venv.join("Scripts/python.exe")
    } else {
        venv.join("bin/python")
    }
}

/// A virtual environment with the PESQ scorer, unless it is already there and working.
fn pesq() -> Result<()> {
    let python = pesq_python();
    if exec::output(&python, &["-c", "import pesq, numpy"]).is_some() {
        println!("  PESQ scorer: installed");
        return Ok(());
    }
    let system = ["python3", "python"]
        .into_iter()
        .find(|p| exec::on_path(p))
        .ok_or("Python 3 is needed for the speech-quality (PESQ) tests")?;
    let venv = exec::root().join("target/tools/pesq-venv");
    exec::run(Command::new(system).args(["-m", "venv"]).arg(&venv))?;
    exec::run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PESQ_PACKAGES),
    )
}
