//! The real Runde app on a virtual display, driven through tauri-driver and WebKitWebDriver.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::process::{ChildGuard, find_program, free_port, wait_until};
use crate::webdriver::Session;
use crate::{Result, artifacts, err};

/// The app binary under test: `$RUNDE_APP_BINARY`, or the workspace's debug build.
pub fn app_binary() -> Result<PathBuf> {
    built_binary("RUNDE_APP_BINARY", "runde")
}

/// The headless client under test: `$RUNDE_CLI_BINARY`, or the workspace's debug build.
pub fn cli_binary() -> Result<PathBuf> {
    built_binary("RUNDE_CLI_BINARY", "runde-cli")
}

fn built_binary(variable: &str, name: &str) -> Result<PathBuf> {
    let path = match std::env::var_os(variable) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/debug")
            .join(format!("{name}{}", std::env::consts::EXE_SUFFIX)),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(err(
            &path.display().to_string(),
            "not built; `cargo xtask test` builds it before the tests",
        ))
    }
}

/// An X server of our own, on a display number it picks itself (Linux). Elsewhere the app opens on
/// the desktop of the session running the tests.
pub struct VirtualDisplay {
    display: Option<String>,
    _xvfb: Option<ChildGuard>,
}

impl VirtualDisplay {
    /// Start Xvfb and wait until it reports its display number; on Windows, use the desktop.
    pub fn start() -> Result<Self> {
        if cfg!(target_os = "linux") {
            Self::xvfb()
        } else {
            Ok(Self {
                display: None,
                _xvfb: None,
            })
        }
    }

    fn xvfb() -> Result<Self> {
        let xvfb = find_program("Xvfb")?;
        let mut guard = ChildGuard::spawn(
            "Xvfb",
            Command::new(xvfb)
                // -displayfd 1: Xvfb picks a free display and writes its number to stdout once ready.
                .args([
                    "-displayfd",
                    "1",
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-nolisten",
                    "tcp",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        )?;
        let stdout = guard
            .child_mut()
            .stdout
            .take()
            .ok_or_else(|| err("Xvfb", "no stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| err("Xvfb", e))?;
        let number: u32 = line
            .trim()
            .parse()
            .map_err(|_| err("Xvfb", format!("did not report a display (got {line:?})")))?;
        Ok(Self {
            display: Some(format!(":{number}")),
            _xvfb: Some(guard),
        })
    }

    /// The `DISPLAY` value, on systems with X11.
    pub fn display(&self) -> Option<&str> {
        self.display.as_deref()
    }
}

/// The running app, with everything it needs; dropping it stops all of it.
pub struct DesktopApp {
    /// The WebDriver session that controls the app's webview.
    pub session: Session,
    /// Folder for this test's screenshots and logs.
    pub artifacts: PathBuf,
    driver_log: PathBuf,
    _driver: ChildGuard,
    _display: VirtualDisplay,
}

impl DesktopApp {
    /// Put `text` on the clipboard of the app's display, as another program would (xclip). The
    /// clipboard's owner must keep running while the app reads it: drop the guard afterwards.
    pub fn set_clipboard(&self, text: &str) -> Result<ChildGuard> {
        use std::io::Write;
        let display = self
            ._display
            .display()
            .ok_or_else(|| err("clipboard", "this platform has no virtual display"))?;
        let mut owner = ChildGuard::spawn(
            "xclip",
            Command::new(crate::process::find_system_program("xclip", "xclip")?)
                .env("DISPLAY", display)
                .args(["-selection", "clipboard", "-quiet"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )?;
        let mut stdin = owner.take_stdin().ok_or_else(|| err("xclip", "no input"))?;
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| err("xclip", e))?;
        drop(stdin);
        // xclip owns the clipboard once it has read everything: wait until it answers.
        let xclip = crate::process::find_system_program("xclip", "xclip")?;
        wait_until(
            "the clipboard to hold the text",
            Duration::from_secs(5),
            || {
                let out = Command::new(&xclip)
                    .env("DISPLAY", display)
                    .args(["-o", "-selection", "clipboard"])
                    .output()
                    .map_err(|e| err("xclip", e))?;
                Ok((out.stdout == text.as_bytes()).then_some(()))
            },
        )?;
        Ok(owner)
    }

    /// Press (`true`) or release keys on the app's display, as a person would (xdotool), e.g.
    /// `"ctrl+shift+space"`. A system-wide shortcut sees them whichever window has the focus.
    pub fn key(&self, keys: &str, down: bool) -> Result<()> {
        let display = self
            ._display
            .display()
            .ok_or_else(|| err("keys", "this platform has no virtual display to type on"))?;
        let status = Command::new(crate::process::find_system_program("xdotool", "xdotool")?)
            .env("DISPLAY", display)
            .arg(if down { "keydown" } else { "keyup" })
            .arg(keys)
            .status()
            .map_err(|e| err("xdotool", e))?;
        if status.success() {
            Ok(())
        } else {
            Err(err("xdotool", format!("{keys}: {status}")))
        }
    }

    /// Launch the app for the named test, with a fresh home folder and its own display.
    pub fn launch(test: &str) -> Result<Self> {
        Self::launch_with_home(test, |_| Ok(()))
    }

    /// Like [`launch`](Self::launch), after `prepare` has put files into the fresh home folder
    /// (e.g. settings under `<home>/config/runde/`).
    pub fn launch_with_home(test: &str, prepare: impl FnOnce(&Path) -> Result<()>) -> Result<Self> {
        Self::launch_with(test, &[], prepare)
    }

    /// Like [`launch_with_home`](Self::launch_with_home), with arguments for the app.
    pub fn launch_with(
        test: &str,
        args: &[&str],
        prepare: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<Self> {
        Self::launch_with_env(test, args, &[], prepare)
    }

    /// Like [`launch_with`](Self::launch_with), with extra environment variables for the app.
    pub fn launch_with_env(
        test: &str,
        args: &[&str],
        env: &[(&str, &str)],
        prepare: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<Self> {
        let app = app_binary()?;
        let artifacts = artifacts::dir(test)?;
        let home = artifacts.join("home");
        for sub in ["config", "data", "cache", "runtime"] {
            std::fs::create_dir_all(home.join(sub)).map_err(|e| err("home", e))?;
        }
        prepare(&home)?;
        let display = VirtualDisplay::start()?;
        let (driver, port, driver_log) = start_driver(&artifacts, display.display(), env)?;
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "wry",
                "tauri:options": { "application": app, "args": args }
            }}
        });
        let session = Session::create(&format!("http://127.0.0.1:{port}"), capabilities)?;
        session.set_implicit_wait(Duration::from_secs(10))?;
        Ok(Self {
            session,
            artifacts,
            driver_log,
            _driver: driver,
            _display: display,
        })
    }

    /// The X display the app's window is on (`None` on Windows).
    pub fn display(&self) -> Option<&str> {
        self._display.display()
    }

    /// The app's home folder.
    pub fn home(&self) -> PathBuf {
        self.artifacts.join("home")
    }

    /// Save a screenshot of the window (after the current state has been painted).
    pub fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self.session.screenshot_after_paint()?;
        if !png.starts_with(b"\x89PNG") {
            return Err(err("screenshot", "not a PNG"));
        }
        let path = self.artifacts.join(format!("{name}.png"));
        std::fs::write(&path, png).map_err(|e| err("screenshot", e))?;
        Ok(path)
    }

    /// The PID of the app (`runde`), which tauri-driver's native driver started.
    pub fn app_pid(&self) -> Result<u32> {
        crate::proctree::find(self._driver.pid(), "runde")
    }

    /// Everything the app and its drivers wrote to stdout and stderr so far.
    pub fn log(&self) -> Result<String> {
        std::fs::read_to_string(&self.driver_log).map_err(|e| err("driver log", e))
    }
}

/// Start tauri-driver (which starts WebKitWebDriver, which starts the app) on free ports.
fn start_driver(
    artifacts: &Path,
    display: Option<&str>,
    env: &[(&str, &str)],
) -> Result<(ChildGuard, u16, PathBuf)> {
    let tauri_driver = find_program("tauri-driver")?;
    // The platform's own WebDriver for its webview: WebKitGTK's on Linux, Edge's on Windows.
    let native = find_program(if cfg!(windows) {
        "msedgedriver"
    } else {
        "WebKitWebDriver"
    })?;
    let (port, native_port) = (free_port()?, free_port()?);
    let home = artifacts.join("home");
    let log_path = artifacts.join("app.log");
    let log = File::create(&log_path).map_err(|e| err("log", e))?;
    let log2 = log.try_clone().map_err(|e| err("log", e))?;
    let mut command = Command::new(tauri_driver);
    if let Some(display) = display {
        command.env("DISPLAY", display);
    }
    // One Runde per D-Bus session: apps of tests running side by side must not find each other
    // through a session bus the test run happens to have. A test that wants one gives its own.
    command.env_remove("DBUS_SESSION_BUS_ADDRESS");
    command.envs(env.iter().copied());
    let mut driver = ChildGuard::spawn(
        "tauri-driver",
        command
            .arg("--port")
            .arg(port.to_string())
            .arg("--native-port")
            .arg(native_port.to_string())
            .arg("--native-driver")
            .arg(native)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("XDG_RUNTIME_DIR", home.join("runtime"))
            .env("RUNDE_LOG", "debug")
            .env("NO_AT_BRIDGE", "1")
            .env("LIBGL_ALWAYS_SOFTWARE", "1")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2),
    )?;
    // tauri-driver starts the platform driver, then listens itself; a session request that
    // arrives before the platform driver listens fails, so wait for both.
    wait_until(
        "tauri-driver and its native driver to listen",
        Duration::from_secs(30),
        || {
            driver.ensure_running()?;
            let up = |p: u16| std::net::TcpStream::connect(("127.0.0.1", p)).is_ok();
            Ok((up(port) && up(native_port)).then_some(()))
        },
    )?;
    Ok((driver, port, log_path))
}
