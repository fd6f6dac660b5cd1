//! A throw-away sound server that paces audio in real time, for measuring mouth-to-ear latency.
//!
//! ALSA's file plugin (what the other tests use) free-runs at 100× real time, so nothing measured
//! through it is a delay a person would hear. Here a private PulseAudio (Debian's, on its own
//! socket in the test's folder, no D-Bus, no hardware) runs one stereo null sink, `room`, paced by
//! the server's clock, and maps it into a mouth and an ear:
//!
//! ```text
//!   markers ──► sink "mouthplay" ──► room, left ──► source "mouth" ──► the sender's microphone
//!   the receiver's speaker ──► sink "ear" ──────► room, right
//!   recorder ◄── room.monitor (left: what the sender's microphone hears, right: what the
//!                              receiver plays out — one stream, one clock)
//! ```
//!
//! Everything else a client plays goes to `void`, which nobody hears. A mouth-to-ear latency is
//! the distance from a marker on the left channel to the same marker on the right channel of the
//! one recording, so no two clocks have to agree.
//!
//! Runde reaches the server through ALSA's `pulse` plugin ([`SoundServer::alsa_config`]);
//! Chromium through libpulse, steered by the `PULSE_*` environment ([`SoundServer::env`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{ChildGuard, find_system_program, wait_until};
use crate::{Result, err};

/// Where a client's sound goes or comes from on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// The sender's microphone: the markers (left channel of `room`).
    Mouth,
    /// The receiver's speaker (right channel of `room`).
    Ear,
    /// Heard by nobody.
    Void,
}

impl Port {
    fn name(self) -> &'static str {
        match self {
            Self::Mouth => "mouth",
            Self::Ear => "ear",
            Self::Void => "void",
        }
    }
}

/// A running PulseAudio with the mouth/ear rig; stopped by PID when dropped.
pub struct SoundServer {
    guard: ChildGuard,
    socket: PathBuf,
    home: PathBuf,
}

impl SoundServer {
    /// Start a server whose socket and state live in `dir`; returns once the rig is loaded.
    pub fn start(dir: &Path) -> Result<Self> {
        let pulseaudio = find_system_program("pulseaudio", "pulseaudio")?;
        let home = dir.join("pulse");
        fs::create_dir_all(&home).map_err(|e| err("sound server folder", e))?;
        let socket = home.join("native");
        // A Unix socket path has at most 107 bytes.
        if socket.as_os_str().len() > 100 {
            return Err(err(
                "sound server",
                format!("socket path too long: {}", socket.display()),
            ));
        }
        let script = home.join("rig.pa");
        fs::write(
            &script,
            format!(
                "load-module module-native-protocol-unix socket={socket} auth-anonymous=1\n\
                 load-module module-null-sink sink_name=room channels=2 rate=48000 format=s16le\n\
                 load-module module-remap-sink sink_name=mouthplay master=room channels=1 channel_map=mono master_channel_map=front-left remix=no\n\
                 load-module module-remap-sink sink_name=ear master=room channels=1 channel_map=mono master_channel_map=front-right remix=no\n\
                 load-module module-remap-source source_name=mouth master=room.monitor channels=1 channel_map=mono master_channel_map=front-left remix=no\n\
                 load-module module-null-sink sink_name=void channels=2 rate=48000\n\
                 set-default-sink void\n\
                 set-default-source mouth\n",
                socket = socket.display()
            ),
        )
        .map_err(|e| err("sound server script", e))?;
        let log = fs::File::create(home.join("pulseaudio.log"))
            .map_err(|e| err("sound server log", e))?;
        let mut command = Command::new(pulseaudio);
        command
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--system=no",
                "--disallow-exit",
                "--log-target=stderr",
                "--log-level=notice",
                "-F",
            ])
            .arg(&script)
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", &home)
            .env("PULSE_RUNTIME_PATH", &home)
            .env("XDG_CONFIG_HOME", &home)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| err("sound server log", e))?)
            .stderr(log);
        let guard = ChildGuard::spawn("pulseaudio", &mut command)?;
        let mut server = Self {
            guard,
            socket,
            home,
        };
        // Ready when the last piece of the rig is there.
        wait_until("the sound server's rig", Duration::from_secs(10), || {
            server.guard.ensure_running()?;
            let sources = server
                .pactl(&["list", "short", "sources"])
                .unwrap_or_default();
            Ok(sources.contains("\tmouth\t").then_some(()))
        })
        .map_err(|e| {
            err(
                &format!("pulseaudio (log: {})", server.log_path().display()),
                e,
            )
        })?;
        Ok(server)
    }

    /// The environment a libpulse client (Chromium) needs to use this server with `source` as
    /// its default microphone and `sink` as its default speaker.
    pub fn env(&self, source: Port, sink: Port) -> Vec<(String, String)> {
        vec![
            (
                "PULSE_SERVER".into(),
                format!("unix:{}", self.socket.display()),
            ),
            ("PULSE_SOURCE".into(), source.name().into()),
            ("PULSE_SINK".into(), sink.name().into()),
            // No cookie, no autospawned server of the user's own.
            (
                "PULSE_COOKIE".into(),
                self.home.join("cookie").display().to_string(),
            ),
        ]
    }

    /// An ALSA configuration (for `ALSA_CONFIG_PATH`) whose default device captures from
    /// `source` and plays into `sink` on this server, through ALSA's `pulse` plugin.
    pub fn alsa_config(&self, path: &Path, source: Port, sink: Port) -> Result<String> {
        let server = format!("unix:{}", self.socket.display());
        fs::write(
            path,
            format!(
                "pcm.!default {{ type asym; capture.pcm \"rig_in\"; playback.pcm \"rig_out\" }}\n\
                 pcm.rig_in {{ type pulse; server \"{server}\"; device \"{source}\" }}\n\
                 pcm.rig_out {{ type pulse; server \"{server}\"; device \"{sink}\" }}\n\
                 ctl.!default {{ type pulse; server \"{server}\" }}\n",
                source = source.name(),
                sink = sink.name(),
            ),
        )
        .map_err(|e| err("ALSA config", e))?;
        Ok(format!("/usr/share/alsa/alsa.conf:{}", path.display()))
    }

    fn client(&self, program: &str) -> Result<Command> {
        let mut command = Command::new(find_system_program(program, "pulseaudio-utils")?);
        command
            .env("PULSE_SERVER", format!("unix:{}", self.socket.display()))
            .env("HOME", &self.home);
        Ok(command)
    }

    fn pactl(&self, args: &[&str]) -> Result<String> {
        let out = self
            .client("pactl")?
            .args(args)
            .output()
            .map_err(|e| err("pactl", e))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(err("pactl", String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// Start recording `room` (left: the mouth, right: the ear) as raw 48 kHz stereo 16-bit
    /// samples into `path`, until the recorder is dropped.
    pub fn record(&self, path: &Path) -> Result<Recorder> {
        let file = fs::File::create(path).map_err(|e| err("recording", e))?;
        let mut command = self.client("parec")?;
        command
            .args([
                "--raw",
                "--device=room.monitor",
                "--rate=48000",
                "--channels=2",
                "--format=s16le",
                "--latency-msec=20",
            ])
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(Stdio::null());
        Ok(Recorder {
            guard: ChildGuard::spawn("parec", &mut command)?,
            path: path.to_path_buf(),
        })
    }

    /// Play the WAV file `wav` into the mouth (in real time); the guard ends when it is done.
    pub fn play_into_mouth(&self, wav: &Path) -> Result<ChildGuard> {
        let mut command = self.client("paplay")?;
        command
            .arg("--device=mouthplay")
            .arg(wav)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        ChildGuard::spawn("paplay", &mut command)
    }

    /// The server's own log (for diagnosing a client that found no device).
    pub fn log_path(&self) -> PathBuf {
        self.home.join("pulseaudio.log")
    }

    /// Fail if the server has stopped.
    pub fn ensure_running(&mut self) -> Result<()> {
        self.guard.ensure_running()
    }
}

/// A running recording of the rig.
pub struct Recorder {
    guard: ChildGuard,
    path: PathBuf,
}

impl Recorder {
    /// Stop and return the two channels (mouth, ear) as samples in −1..1.
    pub fn finish(self) -> Result<(Vec<f32>, Vec<f32>)> {
        let path = self.path.clone();
        drop(self.guard);
        let bytes = fs::read(&path).map_err(|e| err("recording", e))?;
        let mut mouth = Vec::with_capacity(bytes.len() / 4);
        let mut ear = Vec::with_capacity(bytes.len() / 4);
        for frame in bytes.chunks_exact(4) {
            mouth.push(f32::from(i16::from_le_bytes([frame[0], frame[1]])) / 32768.0);
            ear.push(f32::from(i16::from_le_bytes([frame[2], frame[3]])) / 32768.0);
        }
        Ok((mouth, ear))
    }
}
