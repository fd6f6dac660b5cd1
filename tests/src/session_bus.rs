//! A desktop session's D-Bus of the test's own, and a real notification service on it (dunst), so
//! that what the app hands to the system (a second start, a notification) is seen where a desktop
//! would see it, and tests running side by side never meet.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{ChildGuard, find_program, wait_until};
use crate::{Result, err};

/// `dbus-daemon --session` of the test's own.
pub struct SessionBus {
    address: String,
    _daemon: ChildGuard,
}

impl SessionBus {
    /// Start it and wait for its address.
    pub fn start() -> Result<Self> {
        let mut daemon = ChildGuard::spawn(
            "dbus-daemon",
            Command::new(find_program("dbus-daemon")?)
                .args(["--session", "--nofork", "--print-address=1"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        )?;
        let stdout = daemon
            .child_mut()
            .stdout
            .take()
            .ok_or_else(|| err("dbus-daemon", "no stdout"))?;
        let mut address = String::new();
        BufReader::new(stdout)
            .read_line(&mut address)
            .map_err(|e| err("dbus-daemon", e))?;
        let address = address.trim().to_owned();
        if address.is_empty() {
            return Err(err("dbus-daemon", "printed no address"));
        }
        Ok(Self {
            address,
            _daemon: daemon,
        })
    }

    /// `DBUS_SESSION_BUS_ADDRESS` for programs on this bus.
    pub fn address(&self) -> &str {
        &self.address
    }
}

/// One notification as the service received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Which program sent it.
    pub app: String,
    /// Its title.
    pub summary: String,
    /// Its text.
    pub body: String,
}

/// dunst, the notification service of many Linux desktops, on `bus` and `display`.
pub struct NotificationService {
    bus: String,
    _dunst: ChildGuard,
}

impl NotificationService {
    /// Start it and wait until it answers on the bus.
    pub fn start(bus: &SessionBus, display: &str, dir: &std::path::Path) -> Result<Self> {
        let config = dir.join("dunstrc");
        std::fs::write(&config, "[global]\n    history_length = 100\n")
            .map_err(|e| err("dunstrc", e))?;
        let log = std::fs::File::create(dir.join("dunst.log")).map_err(|e| err("dunst log", e))?;
        let dunst = ChildGuard::spawn(
            "dunst",
            Command::new(find_program("dunst")?)
                .arg("-conf")
                .arg(&config)
                .env("DISPLAY", display)
                .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
                .stdout(Stdio::null())
                .stderr(log),
        )?;
        let service = Self {
            bus: bus.address().to_owned(),
            _dunst: dunst,
        };
        // Asked without starting anything: only a running dunst owns the name.
        wait_until(
            "the notification service on the bus",
            Duration::from_secs(10),
            || service.owns_name(),
        )?;
        Ok(service)
    }

    fn owns_name(&self) -> Result<Option<()>> {
        let out = self.dbus_send(&[
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            "string:org.freedesktop.Notifications",
        ])?;
        Ok(out.contains("boolean true").then_some(()))
    }

    fn dbus_send(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["--session", "--print-reply"];
        all.extend_from_slice(args);
        let output = Command::new(find_program("dbus-send")?)
            .args(&all)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .output()
            .map_err(|e| err("dbus-send", e))?;
        if !output.status.success() {
            return Err(err(
                "dbus-send",
                String::from_utf8_lossy(&output.stderr).trim(),
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Every notification received so far, oldest first (shown ones are closed first, which
    /// moves them into dunst's history).
    pub fn received(&self) -> Result<Vec<Notification>> {
        let ctl = |args: &[&str]| {
            let output = Command::new(find_program("dunstctl")?)
                .args(args)
                .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
                .output()
                .map_err(|e| err("dunstctl", e))?;
            if output.status.success() {
                Ok(String::from_utf8_lossy(&output.stdout).into_owned())
            } else {
                Err(err(
                    &format!("dunstctl {}", args.join(" ")),
                    String::from_utf8_lossy(&output.stderr).trim(),
                ))
            }
        };
        ctl(&["close-all"])?;
        let history: serde_json::Value =
            serde_json::from_str(&ctl(&["history"])?).map_err(|e| err("dunstctl history", e))?;
        let field = |n: &serde_json::Value, key: &str| {
            n[key]["data"].as_str().unwrap_or_default().to_owned()
        };
        let mut all: Vec<(i64, Notification)> = history["data"][0]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|n| {
                        (
                            n["id"]["data"].as_i64().unwrap_or(0),
                            Notification {
                                app: field(n, "appname"),
                                summary: field(n, "summary"),
                                body: field(n, "body"),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        all.sort_by_key(|(id, _)| *id);
        Ok(all.into_iter().map(|(_, n)| n).collect())
    }
}
