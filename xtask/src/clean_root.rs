//! A clean Debian 12 root for the installer test: `debootstrap --variant=minbase` plus exactly the
//! packages the .deb's `Depends` names (read from `src-tauri/tauri.conf.json`), nothing else. The
//! test installs Runde's .deb into a copy of it and starts the app there, which proves that the
//! declared dependencies are enough. Made once in the set-up and kept under the target folder; a
//! stamp holds the package list it was made for, so a change of `Depends` makes it again.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::exec::{self, Result};

/// The cached root, made by [`ensure`].
pub fn path() -> PathBuf {
    exec::target_dir().join("installer-root/bookworm")
}

fn stamp_path() -> PathBuf {
    exec::target_dir().join("installer-root/bookworm.stamp")
}

/// Why the installer test cannot run on this machine, if it cannot.
pub fn unavailable() -> Option<&'static str> {
    if !cfg!(target_os = "linux") {
        return Some("the .deb test runs on Linux only");
    }
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    if !os_release.lines().any(|l| l == "VERSION_CODENAME=bookworm") {
        return Some("the clean Debian 12 root is made from a Debian 12 host's own mirror");
    }
    if exec::output("id", &["-u"]).is_none_or(|u| u.trim() != "0") {
        return Some("debootstrap and dpkg in a private root need root");
    }
    None
}

/// The packages the .deb depends on, as `tauri.conf.json` declares them (names only).
pub fn declared_depends() -> Result<Vec<String>> {
    let path = exec::root().join("src-tauri/tauri.conf.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let list = config["bundle"]["linux"]["deb"]["depends"]
        .as_array()
        .ok_or("tauri.conf.json has no bundle.linux.deb.depends")?;
    list.iter()
        .map(|d| {
            d.as_str()
                .map(package_name)
                .ok_or("a Depends entry is not a string".into())
        })
        .collect()
}

/// `libvpx7 (>= 1.12)` → `libvpx7`; of alternatives (`a | b`) the first.
fn package_name(entry: &str) -> String {
    let first = entry.split('|').next().unwrap_or_default();
    first
        .split(['(', ' '])
        .find(|w| !w.is_empty())
        .unwrap_or_default()
        .to_owned()
}

/// Make the clean root unless the cached one was made for the same package list.
pub fn ensure() -> Result<()> {
    if let Some(why) = unavailable() {
        println!("  clean Debian root for the .deb test: not made ({why})");
        return Ok(());
    }
    if ready()? {
        println!("  clean Debian root for the .deb test: cached");
        return Ok(());
    }
    let started = std::time::Instant::now();
    let depends = declared_depends()?;
    let building = exec::target_dir().join("installer-root/bookworm.partial");
    remove(&building)?;
    remove(&path())?;
    let (mirror, security) = mirrors();
    exec::run(
        Command::new("debootstrap")
            .args(["--variant=minbase", "bookworm"])
            .arg(&building)
            .arg(&mirror),
    )?;
    let sources = format!(
        "deb {mirror} bookworm main\ndeb {mirror} bookworm-updates main\ndeb {security} bookworm-security main\n"
    );
    write(&building.join("etc/apt/sources.list"), &sources)?;
    let etc_resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
    std::fs::write(building.join("etc/resolv.conf"), etc_resolv)
        .map_err(|e| format!("resolv.conf: {e}"))?;
    install_depends(&building, &depends)?;
    std::fs::rename(&building, path())
        .map_err(|e| format!("cannot move the clean root in place: {e}"))?;
    write(&stamp_path(), &depends.join(" "))?;
    println!(
        "  clean Debian root made in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Whether the cached root exists and was made for the `Depends` declared now.
pub fn ready() -> Result<bool> {
    let stamp = declared_depends()?.join(" ");
    Ok(path().join("usr/bin").is_dir()
        && std::fs::read_to_string(stamp_path()).is_ok_and(|s| s == stamp))
}

/// `apt-get install` the declared dependencies inside the root (a private mount namespace with
/// bubblewrap, so nothing is mounted on this machine), then drop apt's lists and downloads.
fn install_depends(root: &Path, depends: &[String]) -> Result<()> {
    // Only while setting up: dpkg without fsync is several times faster, and a half-made root is
    // thrown away anyway. Removed again below, so the root is like anyone's.
    let unsafe_io = root.join("etc/dpkg/dpkg.cfg.d/runde-setup-unsafe-io");
    write(&unsafe_io, "force-unsafe-io\n")?;
    let script = format!(
        "apt-get update -q && apt-get install -y -q --no-install-recommends {} && apt-get clean \
         && rm -rf /var/lib/apt/lists/*",
        depends.join(" ")
    );
    exec::run(in_root(root).args(["sh", "-c", &script]))?;
    std::fs::remove_file(&unsafe_io).map_err(|e| format!("{}: {e}", unsafe_io.display()))
}

/// A command run inside `root` as its `/`, in a private mount namespace (bubblewrap): `/proc` and
/// `/dev` are the namespace's own and vanish with it, so nothing needs unmounting afterwards.
pub fn in_root(root: &Path) -> Command {
    let mut cmd = Command::new("bwrap");
    cmd.arg("--bind")
        .arg(root)
        .args(["/", "--proc", "/proc", "--dev", "/dev", "--die-with-parent"])
        .args([
            "--setenv",
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ])
        .args([
            "--setenv",
            "DEBIAN_FRONTEND",
            "noninteractive",
            "--setenv",
            "LANG",
            "C.UTF-8",
        ]);
    cmd
}

/// The Debian mirror and security mirror this machine's apt uses (so CI and developer machines
/// download from where they already may), or Debian's own.
fn mirrors() -> (String, String) {
    let mut text = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".sources") || name.ends_with(".list") {
                text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
                text.push('\n');
            }
        }
    }
    let uris = debian_uris(&text);
    let mirror = uris
        .iter()
        .find(|u| !u.contains("security") && u.trim_end_matches('/').ends_with("/debian"));
    let security = uris
        .iter()
        .find(|u| u.trim_end_matches('/').ends_with("/debian-security"));
    (
        mirror
            .cloned()
            .unwrap_or_else(|| "http://deb.debian.org/debian".into()),
        security
            .cloned()
            .unwrap_or_else(|| "http://deb.debian.org/debian-security".into()),
    )
}

/// Every repository address in apt sources, one-line (`deb [opts] URI suite …`) or deb822 (`URIs:`).
fn debian_uris(text: &str) -> Vec<String> {
    let mut uris = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("URIs:") {
            uris.extend(rest.split_whitespace().map(str::to_owned));
        } else if let Some(rest) = line.strip_prefix("deb ") {
            let mut words = rest.split_whitespace();
            let mut word = words.next();
            if word.is_some_and(|w| w.starts_with('[')) {
                // Options: `[a=b]` or `[ a=b c=d ]`; the address follows the closing bracket.
                if !word.is_some_and(|w| w.ends_with(']')) {
                    words.find(|w| w.ends_with(']'));
                }
                word = words.next();
            }
            uris.extend(word.map(str::to_owned));
        }
    }
    uris
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Remove a folder tree if it exists.
pub fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("cannot remove {}: {e}", path.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_lose_versions_and_alternatives() {
        assert_eq!(package_name("libvpx7 (>= 1.12.0)"), "libvpx7");
        assert_eq!(
            package_name("libasound2 | liboss4-salsa-asound2"),
            "libasound2"
        );
        assert_eq!(package_name("libopus0"), "libopus0");
    }

    #[test]
    fn mirrors_are_read_from_both_source_formats() {
        let text = "deb [signed-by=/k.gpg] http://m.example/debian bookworm main\n\
                    deb [ arch=amd64 trusted=yes ] http://n.example/debian bookworm main\n\
                    Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n";
        assert_eq!(
            debian_uris(text),
            [
                "http://m.example/debian",
                "http://n.example/debian",
                "http://deb.debian.org/debian-security"
            ]
        );
    }
}
