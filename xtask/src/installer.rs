//! The Linux installer test: build the .deb with the Tauri bundler, install it into a copy of the
//! clean Debian root (`clean_root`), check that the binary finds every library there and prints
//! its version, start it for real under Xvfb and take a screenshot, then purge it and check that
//! nothing the package installed is left — only the user's data in the test's home folder.
//!
//! Everything inside the root runs in a private mount namespace (bubblewrap) without network:
//! nothing is mounted on this machine, and the app cannot reach anything but its own loopback.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::clean_root::{self, in_root};
use crate::exec::{self, Result};
use crate::node::Node;
use crate::report::Outcome;

/// The home folder of the person who starts Runde inside the root (created empty by the test).
const HOME: &str = "home/tester";
/// A screenshot with fewer distinct colours than this is a blank or half-drawn window.
const MIN_COLOURS: usize = 200;
const SCREEN: (u32, u32) = (1280, 800);
/// How long the window may take to appear and draw (a debug build under a software renderer).
const WINDOW_TIMEOUT: Duration = Duration::from_secs(90);

/// Folders whose new files after a purge belong to the package manager or to logs, not to Runde.
const SYSTEM_STATE: &[&str] = &["var/lib/dpkg/", "var/log/", "var/cache/"];

/// The test step. `Unavailable` on machines where it cannot run (not Debian 12, not root).
pub fn test(node: &Node) -> Result<Outcome> {
    if let Some(why) = clean_root::unavailable() {
        return Ok(Outcome::Unavailable(why.into()));
    }
    if !clean_root::ready()? {
        return Err(
            "the clean Debian root is missing or was made for other Depends: the set-up \
                    could not make it (its output says why)"
                .into(),
        );
    }
    let mut clock = Phases::default();
    validate_metadata()?;
    clock.done("desktop file and AppStream metadata valid");
    let deb = bundle_deb(node)?;
    clock.done("built the .deb");
    check_control(&deb)?;
    let package = package_files(&deb)?;
    check_contents(&package)?;
    let work = exec::target_dir().join("installer-test");
    let root = fresh_root(&work, &deb)?;
    clock.done("copied the clean root");
    let before = files_in(&root)?;
    run_in(&root, &["dpkg", "-i", "/tmp/runde.deb"])?;
    clock.done("installed");
    check_libraries(&root)?;
    check_version(&root, &deb)?;
    let artifacts = artifacts_dir()?;
    launch_and_screenshot(&root, &artifacts)?;
    clock.done("started under Xvfb, screenshot taken");
    run_in(&root, &["dpkg", "--purge", "runde"])?;
    check_leftovers(&before, &files_in(&root)?, &package)?;
    clock.done("purged, nothing left behind");
    clean_root::remove(&work)?;
    Ok(Outcome::Passed)
}

/// Prints how long each phase took, for docs/BENCHMARKS.md and for CI's time budget.
struct Phases(Instant);

impl Default for Phases {
    fn default() -> Self {
        Self(Instant::now())
    }
}

impl Phases {
    #[allow(clippy::print_stdout)]
    fn done(&mut self, what: &str) {
        println!("  {what} ({:.1} s)", self.0.elapsed().as_secs_f64());
        self.0 = Instant::now();
    }
}

/// The desktop entry and AppStream metadata that the .deb, the .rpm and the Flatpak all install.
fn validate_metadata() -> Result<()> {
    let linux = exec::root().join("installers/linux");
    exec::run(Command::new("desktop-file-validate").arg(linux.join("org.runde.Runde.desktop")))?;
    exec::run(
        Command::new("appstreamcli")
            .args(["validate", "--no-net", "--explain"])
            .arg(linux.join("org.runde.Runde.metainfo.xml")),
    )
}

/// `tauri bundle --debug --bundles deb`: packages the debug build the earlier step made.
fn bundle_deb(node: &Node) -> Result<PathBuf> {
    let dir = exec::target_dir().join("debug/bundle/deb");
    clean_root::remove(&dir)?;
    let mut bundle = node.npm(&[
        "run",
        "tauri",
        "--",
        "bundle",
        "--debug",
        "--bundles",
        "deb",
        "--ci",
    ]);
    // The CLI runs in ui/ (npm) and would look for the app only below it.
    bundle.env("TAURI_APP_PATH", exec::root().join("src-tauri"));
    exec::run(&mut bundle)?;
    let mut debs = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"));
    debs.next()
        .ok_or_else(|| format!("no .deb in {}", dir.display()))
}

/// The .deb's `Depends` must be exactly what tauri.conf.json declares (the clean root has those).
fn check_control(deb: &Path) -> Result<()> {
    let field = output(Command::new("dpkg-deb").arg("-f").arg(deb).arg("Depends"))?;
    let actual: BTreeSet<String> = field
        .split(',')
        .map(|d| {
            d.trim()
                .split([' ', '('])
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .filter(|d| !d.is_empty())
        .collect();
    let declared: BTreeSet<String> = clean_root::declared_depends()?.into_iter().collect();
    if actual == declared {
        Ok(())
    } else {
        Err(format!(
            "the .deb depends on {actual:?}, but tauri.conf.json declares {declared:?} (the bundler \
             added or dropped some; declare them all so the clean root has them)"
        ))
    }
}

/// The menu entry, AppStream metadata and icon named after the app id are in the package (the
/// bundler's own desktop entry is named differently; see installers/README.md).
fn check_contents(package: &[String]) -> Result<()> {
    let wanted = [
        "usr/bin/runde",
        "usr/share/applications/org.runde.Runde.desktop",
        "usr/share/metainfo/org.runde.Runde.metainfo.xml",
        "usr/share/icons/hicolor/scalable/apps/org.runde.Runde.svg",
    ];
    let missing: Vec<&str> = wanted
        .into_iter()
        .filter(|w| !package.iter().any(|f| f == w))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("the .deb lacks {missing:?}"))
    }
}

/// A fresh copy of the cached clean root, with the .deb and an empty home folder in it.
fn fresh_root(work: &Path, deb: &Path) -> Result<PathBuf> {
    clean_root::remove(work)?;
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let root = work.join("root");
    exec::run(
        Command::new("cp")
            .args(["-a", "--reflink=auto"])
            .arg(clean_root::path())
            .arg(&root),
    )?;
    for dir in [HOME, "tmp/.X11-unix"] {
        std::fs::create_dir_all(root.join(dir)).map_err(|e| format!("{dir}: {e}"))?;
    }
    std::fs::copy(deb, root.join("tmp/runde.deb")).map_err(|e| format!("copying the .deb: {e}"))?;
    Ok(root)
}

/// A command inside the root, as root with all capabilities (as dpkg runs), without network.
fn run_in(root: &Path, args: &[&str]) -> Result<()> {
    exec::run(
        in_root(root)
            .args(["--unshare-net", "--cap-add", "ALL", "--"])
            .args(args),
    )
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .map_err(|e| format!("could not start {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!(
            "{:?} failed ({}): {}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every library the installed binary links must be found in the root.
#[allow(clippy::print_stdout)]
fn check_libraries(root: &Path) -> Result<()> {
    let ldd = output(in_root(root).args(["--unshare-net", "--", "ldd", "/usr/bin/runde"]))?;
    let missing: Vec<&str> = ldd
        .lines()
        .filter(|l| l.contains("not found"))
        .map(str::trim)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "libraries the .deb's Depends do not bring: {}",
            missing.join("; ")
        ));
    }
    println!("  ldd: all {} libraries found", ldd.lines().count());
    Ok(())
}

/// `runde --version` prints the package's version and exits, without a display or network.
fn check_version(root: &Path, deb: &Path) -> Result<()> {
    let version = output(Command::new("dpkg-deb").arg("-f").arg(deb).arg("Version"))?;
    let printed = output(in_root(root).args(["--unshare-net", "--", "runde", "--version"]))?;
    let wanted = format!("runde {}", version.trim());
    if printed.trim() == wanted {
        Ok(())
    } else {
        Err(format!(
            "`runde --version` printed {printed:?}, expected {wanted:?}"
        ))
    }
}

fn artifacts_dir() -> Result<PathBuf> {
    let base = std::env::var_os("RUNDE_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| exec::root().join("target/test-artifacts"));
    let dir = base.join("installer");
    clean_root::remove(&dir)?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// Start the installed app under Xvfb (on this machine; the root gets only its socket), wait for
/// its window, and poll screenshots until one shows a drawn window.
fn launch_and_screenshot(root: &Path, artifacts: &Path) -> Result<()> {
    let mut xvfb = Xvfb::start()?;
    let log =
        std::fs::File::create(artifacts.join("app.log")).map_err(|e| format!("app.log: {e}"))?;
    let mut app = Running(
        app_command(root, &xvfb.display)
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("could not start bwrap: {e}"))?,
    );
    let outcome = wait_for_window(&xvfb.display, &mut app.0).and_then(|()| {
        wait_for_drawing(&xvfb.display, &mut app.0, &artifacts.join("deb-launch.png"))
    });
    drop(app);
    xvfb.stop();
    outcome.map_err(|e| {
        format!(
            "{e} (the app's output: {})",
            artifacts.join("app.log").display()
        )
    })
}

/// The app inside the root: a fresh home, synthetic microphone and camera, no network, its own
/// process namespace (all of it ends when bwrap is killed), `/tmp` in memory with the X socket.
fn app_command(root: &Path, display: &str) -> Command {
    let mut cmd = in_root(root);
    cmd.env_clear()
        .args(["--unshare-net", "--unshare-pid", "--tmpfs", "/tmp"])
        .args(["--ro-bind", "/tmp/.X11-unix", "/tmp/.X11-unix"])
        .args(["--perms", "0700", "--dir", "/tmp/runtime"])
        .args([
            "--setenv",
            "HOME",
            &format!("/{HOME}"),
            "--setenv",
            "DISPLAY",
            display,
        ])
        .args([
            "--setenv",
            "XDG_RUNTIME_DIR",
            "/tmp/runtime",
            "--setenv",
            "RUNDE_SYNTHETIC_DEVICES",
            "1",
        ])
        .args(["--chdir", &format!("/{HOME}"), "--", "runde"]);
    cmd
}

/// Kills the sandbox (and with it every process inside) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn exited(app: &mut Child) -> Result<()> {
    match app.try_wait() {
        Ok(Some(status)) => Err(format!(
            "the app exited before drawing its window ({status})"
        )),
        _ => Ok(()),
    }
}

/// Poll until a visible window named "Runde" exists.
fn wait_for_window(display: &str, app: &mut Child) -> Result<()> {
    let deadline = Instant::now() + WINDOW_TIMEOUT;
    while Instant::now() < deadline {
        exited(app)?;
        let found = Command::new("xdotool")
            .args(["search", "--onlyvisible", "--name", "^Runde$"])
            .env("DISPLAY", display)
            .output()
            .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
        if found {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!(
        "no window named Runde appeared within {} s",
        WINDOW_TIMEOUT.as_secs()
    ))
}

/// Poll screenshots until one has at least `MIN_COLOURS` colours; keep it as a PNG.
#[allow(clippy::print_stdout)]
fn wait_for_drawing(display: &str, app: &mut Child, png: &Path) -> Result<()> {
    let deadline = Instant::now() + WINDOW_TIMEOUT;
    let mut colours = 0;
    while Instant::now() < deadline {
        exited(app)?;
        colours = distinct_colours(&screenshot(display, png)?);
        if colours >= MIN_COLOURS {
            println!(
                "  screenshot: {colours} distinct colours, saved as {}",
                png.display()
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(format!(
        "the window stayed blank: {colours} distinct colours after {} s",
        WINDOW_TIMEOUT.as_secs()
    ))
}

/// One frame of the whole screen: raw RGB on stdout, and the same frame as a PNG.
fn screenshot(display: &str, png: &Path) -> Result<Vec<u8>> {
    let size = format!("{}x{}", SCREEN.0, SCREEN.1);
    let out = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-f",
            "x11grab",
            "-video_size",
            &size,
            "-i",
            display,
        ])
        .args([
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "pipe:1",
        ])
        .args(["-frames:v", "1", "-update", "1", "-y"])
        .arg(png)
        .output()
        .map_err(|e| format!("could not start ffmpeg: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ffmpeg could not grab the screen: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

fn distinct_colours(rgb: &[u8]) -> usize {
    rgb.chunks_exact(3)
        .map(|p| (p[0], p[1], p[2]))
        .collect::<BTreeSet<_>>()
        .len()
}

/// A virtual display on this machine, on a free display number Xvfb picks itself.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Result<Self> {
        let screen = format!("{}x{}x24", SCREEN.0, SCREEN.1);
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                &screen,
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("could not start Xvfb: {e}"))?;
        let mut line = String::new();
        // -displayfd: Xvfb writes its display number once it accepts connections.
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        match line.trim().parse::<u32>() {
            Ok(n) => Ok(Self {
                child,
                display: format!(":{n}"),
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("Xvfb did not report a display (got {line:?})"))
            }
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every path in the root (relative, folders end in `/`), apart from the kernel's and the
/// namespace's own (`proc`, `sys`, `dev`).
fn files_in(root: &Path) -> Result<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let dir = root.join(&rel);
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = rel.join(entry.file_name());
            let name = path.to_string_lossy().into_owned();
            if ["proc", "sys", "dev"].contains(&name.as_str()) {
                continue;
            }
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir {
                found.insert(format!("{name}/"));
                pending.push(path);
            } else {
                found.insert(name);
            }
        }
    }
    Ok(found)
}

/// The files (not folders) the .deb installs, relative to `/`.
fn package_files(deb: &Path) -> Result<Vec<String>> {
    let mut listing = String::new();
    let mut child = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("dpkg-deb: {e}"))?;
    let tar = Command::new("tar")
        .args(["-t", "-f", "-"])
        .stdin(child.stdout.take().ok_or("dpkg-deb: no output")?)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("tar: {e}"))?;
    tar.stdout
        .ok_or("tar: no output")?
        .read_to_string(&mut listing)
        .map_err(|e| format!("tar: {e}"))?;
    let _ = child.wait();
    Ok(listing
        .lines()
        .map(|l| l.trim_start_matches("./").to_owned())
        .filter(|l| !l.is_empty() && !l.ends_with('/'))
        .collect())
}

/// After the purge: none of the package's files remain, nothing new appeared outside the user's
/// home folder and the package manager's own state, and nothing that was there before is gone.
#[allow(clippy::print_stdout)]
fn check_leftovers(
    before: &BTreeSet<String>,
    after: &BTreeSet<String>,
    package: &[String],
) -> Result<()> {
    let remaining: Vec<&String> = package.iter().filter(|f| after.contains(*f)).collect();
    let new: Vec<&String> = after.difference(before).collect();
    let (user_data, rest): (Vec<&String>, Vec<&String>) = new
        .into_iter()
        .partition(|p| p.starts_with(&format!("{HOME}/")));
    let foreign: Vec<&String> = rest
        .into_iter()
        .filter(|p| !SYSTEM_STATE.iter().any(|s| p.starts_with(s)))
        .collect();
    let gone: Vec<&String> = before
        .difference(after)
        .filter(|p| !SYSTEM_STATE.iter().any(|s| p.starts_with(s)))
        .collect();
    if !remaining.is_empty() || !foreign.is_empty() || !gone.is_empty() {
        return Err(format!(
            "after `dpkg --purge runde`: package files left {remaining:?}; new files outside the \
             user's home {foreign:?}; files that were there before and are gone {gone:?}"
        ));
    }
    println!(
        "  purge: none of the package's {} files left; user data that stays in the home folder: {}",
        package.len(),
        user_data_summary(&user_data)
    );
    Ok(())
}

/// The user's data by folder, two levels below the home (`.local/share/org.runde.Runde/`, …).
fn user_data_summary(paths: &[&String]) -> String {
    let folders: BTreeSet<String> = paths
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&format!("{HOME}/")).unwrap_or(p);
            rel.split_inclusive('/').take(3).collect::<String>()
        })
        .filter(|f| f.ends_with('/') && f.matches('/').count() == 3)
        .collect();
    if folders.is_empty() {
        return "none".into();
    }
    let list: Vec<String> = folders.into_iter().collect();
    format!("{} ({} files and folders)", list.join(", "), paths.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(paths: &[&str]) -> BTreeSet<String> {
        paths.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn user_data_and_dpkg_state_may_stay_but_package_files_may_not() {
        let before = set(&["usr/", "usr/bin/", "var/lib/dpkg/status"]);
        let package = vec!["usr/bin/runde".to_owned()];
        let after = set(&[
            "usr/",
            "usr/bin/",
            "var/lib/dpkg/status",
            "var/lib/dpkg/status-old",
            "home/tester/.config/",
        ]);
        assert!(check_leftovers(&before, &after, &package).is_ok());

        let left = set(&["usr/", "usr/bin/", "usr/bin/runde", "var/lib/dpkg/status"]);
        assert!(check_leftovers(&before, &left, &package).is_err());
        let foreign = set(&["usr/", "usr/bin/", "usr/share/", "var/lib/dpkg/status"]);
        assert!(check_leftovers(&before, &foreign, &package).is_err());
        let gone = set(&["usr/", "var/lib/dpkg/status"]);
        assert!(check_leftovers(&before, &gone, &package).is_err());
    }

    #[test]
    fn user_data_is_summarised_by_folder() {
        let paths = set(&[
            "home/tester/.local/",
            "home/tester/.local/share/",
            "home/tester/.local/share/org.runde.Runde/",
            "home/tester/.local/share/org.runde.Runde/storage/salt",
        ]);
        let refs: Vec<&String> = paths.iter().collect();
        assert_eq!(
            user_data_summary(&refs),
            ".local/share/org.runde.Runde/ (4 files and folders)"
        );
    }

    #[test]
    fn colours_are_counted_once() {
        assert_eq!(distinct_colours(&[0, 0, 0, 0, 0, 0, 255, 0, 0]), 2);
    }
}
