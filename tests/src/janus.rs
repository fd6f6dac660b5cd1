//! A throw-away Janus VideoRoom server for one test: Debian's `janus`, started from a private
//! configuration folder (only the VideoRoom plugin and the WebSocket transport), its WebSocket on
//! the namespace's loopback, ICE only on the test network's server interface. Stopped by PID when
//! dropped; its log stays in the test's artifact folder.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::netns::{SERVER_ADDR, SERVER_IF};
use crate::process::{ChildGuard, find_program, free_port, wait_until};
use crate::wire::{SERVER_TUN, ServerHost, TcpRelay};
use crate::{Result, err};

/// The secret that lets the test change its rooms (`edit`, `enable_recording`) like an owner.
pub const ROOM_SECRET: &str = "runde-test-room-secret";

/// A room configured on the server.
#[derive(Debug, Clone)]
pub struct RoomSpec {
    /// Numeric room id.
    pub id: u64,
    /// The room's pin (password), if any.
    pub pin: Option<String>,
    /// Most publishers at once.
    pub publishers: u32,
    /// Record everyone who publishes (`record = true`).
    pub record: bool,
    /// Keep the room out of the public list (`is_private = true`).
    pub private: bool,
    /// Refuse publishers whose offer does not claim end-to-end encryption (`require_e2ee`).
    pub require_e2ee: bool,
}

impl RoomSpec {
    /// A room with a pin and room for six publishers.
    pub fn with_pin(id: u64, pin: &str) -> Self {
        Self {
            id,
            pin: Some(pin.to_owned()),
            publishers: 6,
            record: false,
            require_e2ee: false,
            private: false,
        }
    }

    /// The same, requiring end-to-end encryption.
    pub fn requiring_e2ee(mut self) -> Self {
        self.require_e2ee = true;
        self
    }

    /// The same, set to record.
    pub fn recording(mut self) -> Self {
        self.record = true;
        self
    }

    /// The same, not in the public room list.
    pub fn private(mut self) -> Self {
        self.private = true;
        self
    }
}

/// A running Janus.
pub struct JanusServer {
    guard: Option<ChildGuard>,
    port: u16,
    log: PathBuf,
    recordings: PathBuf,
    /// The configuration folder and the WebSocket's address, for a restart.
    conf: PathBuf,
    ws_addr: SocketAddr,
    starts: u32,
    /// Loopback relay to a Janus behind the wire (dropped after Janus).
    _relay: Option<TcpRelay>,
}

impl JanusServer {
    /// Write a configuration into `dir` and start Janus with it; returns once its WebSocket
    /// accepts connections.
    pub fn start(dir: &Path, rooms: &[RoomSpec]) -> Result<Self> {
        let janus = Command::new(find_program("janus")?);
        let port = free_port()?;
        Self::launch(dir, rooms, janus, SERVER_IF, "127.0.0.1", port, None)
    }

    /// Like [`JanusServer::start`], on the server host behind a [`crate::wire::Wire`]: ICE only
    /// on its wire device, the WebSocket on its wire address. [`JanusServer::ws_url`] and
    /// [`JanusServer::link`] still name 127.0.0.1: a relay there forwards to the server host,
    /// so signalling crosses the wire as media does. Drop it before the wire.
    pub fn start_on(host: &ServerHost, dir: &Path, rooms: &[RoomSpec]) -> Result<Self> {
        Self::start_on_relayed_from(host, dir, rooms, None)
    }

    /// Like [`JanusServer::start_on`], but signalling does not cross the wire: the relay on
    /// 127.0.0.1 connects to Janus from inside the server host. Only media takes the wire, so a
    /// change of the client side's address breaks the media paths and leaves the server
    /// connection as it was (as when a network drops media while the signalling connection
    /// holds).
    pub fn start_on_beside_the_wire(
        host: &ServerHost,
        dir: &Path,
        rooms: &[RoomSpec],
    ) -> Result<Self> {
        Self::start_on_relayed_from(host, dir, rooms, Some(host.netns_path()))
    }

    /// Janus on the server host, its WebSocket reached through a relay on 127.0.0.1 that
    /// connects from `relay_netns` (`None`: from here, across the wire).
    fn start_on_relayed_from(
        host: &ServerHost,
        dir: &Path,
        rooms: &[RoomSpec],
        relay_netns: Option<String>,
    ) -> Result<Self> {
        let janus = host.command(find_program("janus")?)?;
        // The server host's own namespace: nothing else listens there.
        let port = 8188;
        let server = SERVER_ADDR.parse().map_err(|e| err("server address", e))?;
        let relay = TcpRelay::start_from(SocketAddr::new(server, port), relay_netns)?;
        Self::launch(
            dir,
            rooms,
            janus,
            SERVER_TUN,
            SERVER_ADDR,
            port,
            Some(relay),
        )
    }

    /// Write the configuration (ICE on `iface`, WebSocket on `ws_ip:port`) and run `command`
    /// (Janus, perhaps behind nsenter) with it until the WebSocket accepts connections.
    fn launch(
        dir: &Path,
        rooms: &[RoomSpec],
        command: Command,
        iface: &str,
        ws_ip: &str,
        port: u16,
        relay: Option<TcpRelay>,
    ) -> Result<Self> {
        let libdir = plugin_root()?;
        let conf = dir.join("janus-conf");
        let rec = dir.join("janus-recordings");
        for d in [&conf, &rec] {
            fs::create_dir_all(d).map_err(|e| err("janus config folder", e))?;
        }
        let write = |name: &str, text: String| {
            fs::write(conf.join(name), text).map_err(|e| err("janus config", e))
        };
        write(
            "janus.jcfg",
            format!(
                r#"general: {{
    configs_folder = "{conf}"
    plugins_folder = "{lib}/plugins"
    transports_folder = "{lib}/transports"
    events_folder = "{lib}/events"
    loggers_folder = "{lib}/loggers"
    debug_level = 4
    admin_secret = "runde-test-admin"
    session_timeout = 60
    protected_folders = []
}}
media: {{
    rtp_port_range = "20000-30000"
}}
nat: {{
    nice_debug = false
    ice_enforce_list = "{iface}"
    ignore_mdns = true
}}
plugins: {{
    disable = "libjanus_audiobridge.so,libjanus_duktape.so,libjanus_echotest.so,libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_streaming.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_voicemail.so"
}}
transports: {{
    disable = "libjanus_http.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so"
}}
loggers: {{
    disable = "libjanus_jsonlog.so"
}}
events: {{
    broadcast = false
}}
"#,
                conf = conf.display(),
                lib = libdir.display(),
                iface = iface,
            ),
        )?;
        write(
            "janus.transport.websockets.jcfg",
            format!(
                "general: {{\n    json = \"compact\"\n    ws = true\n    ws_port = {port}\n    ws_ip = \"{ws_ip}\"\n    wss = false\n}}\nadmin: {{\n    admin_ws = false\n    admin_wss = false\n}}\n"
            ),
        )?;
        let mut videoroom = String::from("general: {\n    admin_key = \"runde-test-admin\"\n}\n");
        for room in rooms {
            let pin = room
                .pin
                .as_ref()
                .map(|p| format!("    pin = \"{p}\"\n"))
                .unwrap_or_default();
            let _ = write!(
                videoroom,
                "room-{id}: {{\n    description = \"Runde test room {id}\"\n{pin}    publishers = {pubs}\n    audiocodec = \"opus\"\n    videocodec = \"vp8\"\n    notify_joining = true\n    audiolevel_event = true\n    audio_active_packets = 25\n    audio_level_average = 40\n    record = {record}\n    is_private = {private}\n    require_e2ee = {e2ee}\n    secret = \"{ROOM_SECRET}\"\n    rec_dir = \"{rec}\"\n}}\n",
                id = room.id,
                pubs = room.publishers,
                record = room.record,
                e2ee = room.require_e2ee,
                private = room.private,
                rec = rec.display(),
            );
        }
        write("janus.plugin.videoroom.jcfg", videoroom)?;

        let log = dir.join("janus.log");
        let addr = SocketAddr::new(ws_ip.parse().map_err(|e| err("janus ws_ip", e))?, port);
        let guard = run_janus(command, &conf, &log, addr)?;
        Ok(Self {
            guard: Some(guard),
            port: relay.as_ref().map_or(port, TcpRelay::port),
            log,
            recordings: rec,
            conf,
            ws_addr: addr,
            starts: 1,
            _relay: relay,
        })
    }

    /// Start Janus again after [`kill`](Self::kill), as an operator restarts a crashed server:
    /// the same configuration folder, the same WebSocket port. Returns once its WebSocket
    /// accepts connections; its log goes to `janus-<n>.log` beside the first one. (For a server
    /// behind a wire: [`restart_on`](Self::restart_on).)
    pub fn restart(&mut self) -> Result<()> {
        if self._relay.is_some() {
            return Err(err("janus restart", "behind a wire: restart_on"));
        }
        self.relaunch(Command::new(find_program("janus")?))
    }

    /// [`restart`](Self::restart) for a server started with [`start_on`](Self::start_on) that
    /// `host`.
    pub fn restart_on(&mut self, host: &ServerHost) -> Result<()> {
        if self._relay.is_none() {
            return Err(err("janus restart", "not behind a wire: restart"));
        }
        self.relaunch(host.command(find_program("janus")?)?)
    }

    fn relaunch(&mut self, command: Command) -> Result<()> {
        if self.guard.is_some() {
            return Err(err("janus restart", "Janus is still running"));
        }
        self.starts += 1;
        let log = self
            .log
            .with_file_name(format!("janus-{}.log", self.starts));
        self.guard = Some(run_janus(command, &self.conf, &log, self.ws_addr)?);
        self.log = log;
        Ok(())
    }

    /// The WebSocket URL (inside the test's namespace).
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/janus", self.port)
    }

    /// A link to `room` as an operator would hand it out (loopback, so plain http is allowed).
    pub fn link(&self, room: u64) -> String {
        format!("http://127.0.0.1:{}/janus?room={room}", self.port)
    }

    /// The WebSocket port (on the namespace's loopback).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where Janus's own WebSocket listens (for a server behind a wire: on the server host,
    /// behind the relay).
    pub fn ws_addr(&self) -> SocketAddr {
        self.ws_addr
    }

    /// The server's log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The folder rooms that record write their `.mjr` files to.
    pub fn recordings(&self) -> &Path {
        &self.recordings
    }

    /// Kill the server at once (SIGKILL), as a crash or a pulled cable would end it.
    pub fn kill(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            let _ = guard.child_mut().kill();
            let _ = guard.child_mut().wait();
        }
    }
}

/// Run `command` (Janus) with the configuration in `conf`, its output into `log`, until its
/// WebSocket at `addr` accepts connections.
fn run_janus(
    mut command: Command,
    conf: &Path,
    log: &Path,
    addr: SocketAddr,
) -> Result<ChildGuard> {
    let log_file = fs::File::create(log).map_err(|e| err("janus log", e))?;
    command
        .arg("-F")
        .arg(conf)
        .args(["-o", "-D"])
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().map_err(|e| err("janus log", e))?)
        .stderr(log_file);
    let mut guard = ChildGuard::spawn("janus", &mut command)?;
    wait_until(
        "Janus's WebSocket to accept",
        Duration::from_secs(10),
        || {
            guard.ensure_running()?;
            Ok(TcpStream::connect_timeout(&addr, Duration::from_secs(1))
                .ok()
                .map(|_| ()))
        },
    )
    .map_err(|e| err(&format!("janus (log: {})", log.display()), e))?;
    Ok(guard)
}

/// Where Debian installs Janus's plugins and transports.
fn plugin_root() -> Result<PathBuf> {
    let candidates = fs::read_dir("/usr/lib")
        .map_err(|e| err("/usr/lib", e))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path().join("janus"))
        .filter(|p| p.join("plugins/libjanus_videoroom.so").is_file());
    candidates.into_iter().next().ok_or_else(|| {
        err(
            "janus",
            "VideoRoom plugin not found under /usr/lib/*/janus (package janus)",
        )
    })
}

/// The room's owner, changing it while people are in it: Janus requests over its own WebSocket.
pub struct RoomOwner {
    socket: tungstenite::WebSocket<std::net::TcpStream>,
    session: u64,
    handle: u64,
}

impl RoomOwner {
    /// Connect to the server as the owner.
    pub fn connect(server: &JanusServer) -> Result<Self> {
        use tungstenite::client::IntoClientRequest;
        let mut request = server
            .ws_url()
            .into_client_request()
            .map_err(|e| err("owner", e))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            tungstenite::http::HeaderValue::from_static("janus-protocol"),
        );
        let stream = TcpStream::connect(("127.0.0.1", server.port)).map_err(|e| err("owner", e))?;
        let (socket, _) = tungstenite::client(request, stream).map_err(|e| err("owner", e))?;
        let mut owner = Self {
            socket,
            session: 0,
            handle: 0,
        };
        owner.session = owner.call(serde_json::json!({"janus": "create"}))?["data"]["id"]
            .as_u64()
            .ok_or_else(|| err("owner", "no session"))?;
        let attach = serde_json::json!({"janus": "attach", "plugin": "janus.plugin.videoroom",
            "session_id": owner.session});
        owner.handle = owner.call(attach)?["data"]["id"]
            .as_u64()
            .ok_or_else(|| err("owner", "no handle"))?;
        Ok(owner)
    }

    /// Send a request and return the reply with the same transaction (skipping acks and events).
    fn call(&mut self, mut request: serde_json::Value) -> Result<serde_json::Value> {
        request["transaction"] = serde_json::json!("owner");
        self.socket
            .send(tungstenite::Message::text(request.to_string()))
            .map_err(|e| err("owner", e))?;
        loop {
            let message = self.socket.read().map_err(|e| err("owner", e))?;
            let Ok(text) = message.into_text() else {
                continue;
            };
            let reply: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| err("owner", e))?;
            if reply["transaction"] == "owner" && reply["janus"] != "ack" {
                return Ok(reply);
            }
        }
    }

    /// Turn the room's recording on or off (`enable_recording`); Janus tells no participant.
    pub fn set_recording(&mut self, room: u64, record: bool) -> Result<()> {
        let body = serde_json::json!({"request": "enable_recording", "room": room,
            "secret": ROOM_SECRET, "record": record});
        let reply = self.call(
            serde_json::json!({"janus": "message", "session_id": self.session,
            "handle_id": self.handle, "body": body}),
        )?;
        let data = &reply["plugindata"]["data"];
        if data["error_code"].is_null() {
            Ok(())
        } else {
            Err(err("enable_recording", data))
        }
    }
}

/// One stream Janus recorded (`.mjr`), turned back into media with janus-pp-rec and ffmpeg as an
/// operator with the recordings folder would.
#[derive(Debug)]
pub struct Recording {
    /// The recorded file.
    pub mjr: PathBuf,
    /// The publisher it belongs to (from the file name Janus gives it).
    pub participant: String,
    /// `"audio"` or `"video"`.
    pub kind: &'static str,
    /// The decoded media (WAV for audio, Y4M for video), or why there is none.
    pub decoded: std::result::Result<PathBuf, String>,
}

/// Every recording in `folder`, each decoded into `out` (both tools are the operator's own:
/// janus-pp-rec from janus-tools, then ffmpeg).
pub fn decode_recordings(folder: &Path, out: &Path) -> Result<Vec<Recording>> {
    fs::create_dir_all(out).map_err(|e| err("recordings output", e))?;
    let mut found = Vec::new();
    for entry in fs::read_dir(folder).map_err(|e| err("recordings folder", e))? {
        let mjr = entry.map_err(|e| err("recordings folder", e))?.path();
        if mjr.extension().is_none_or(|e| e != "mjr") {
            continue;
        }
        let stem = mjr
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let participant = stem
            .split_once("-user-")
            .and_then(|(_, rest)| rest.split('-').next())
            .unwrap_or_default()
            .to_owned();
        let run = |program: &str, args: &[&OsStr]| -> std::result::Result<String, String> {
            let output = Command::new(program)
                .args(args)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("{program}: {e}"))?;
            let text = String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr);
            if output.status.success() {
                Ok(text)
            } else {
                Err(format!("{program} {}: {text}", output.status))
            }
        };
        let header = run("janus-pp-rec", &[OsStr::new("--json"), mjr.as_os_str()])
            .map_err(|e| err("janus-pp-rec --json", e))?;
        // The header is the last JSON object janus-pp-rec prints.
        let json: serde_json::Value = header
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l.trim()).ok())
            .ok_or_else(|| err("janus-pp-rec header", &header))?;
        let kind = if json["t"] == "v" { "video" } else { "audio" };
        let (packed, decoded, format) = if kind == "video" {
            (
                out.join(format!("{stem}.webm")),
                out.join(format!("{stem}.y4m")),
                "yuv4mpegpipe",
            )
        } else {
            (
                out.join(format!("{stem}.opus")),
                out.join(format!("{stem}.wav")),
                "wav",
            )
        };
        let mut ffmpeg: Vec<&OsStr> = vec![
            OsStr::new("-y"),
            OsStr::new("-v"),
            OsStr::new("error"),
            OsStr::new("-i"),
            packed.as_os_str(),
        ];
        if kind == "video" {
            // One picture per recorded frame (no duplicates to fill a guessed frame rate).
            ffmpeg.extend([
                OsStr::new("-pix_fmt"),
                OsStr::new("yuv420p"),
                OsStr::new("-fps_mode"),
                OsStr::new("passthrough"),
            ]);
        } else {
            ffmpeg.extend([
                OsStr::new("-ac"),
                OsStr::new("1"),
                OsStr::new("-ar"),
                OsStr::new("48000"),
            ]);
        }
        ffmpeg.extend([OsStr::new("-f"), format.as_ref(), decoded.as_os_str()]);
        let result = run("janus-pp-rec", &[mjr.as_os_str(), packed.as_os_str()])
            .and_then(|_| run("ffmpeg", &ffmpeg))
            .map(|_| decoded);
        found.push(Recording {
            mjr,
            participant,
            kind,
            decoded: result,
        });
    }
    found.sort_by(|a, b| a.mjr.cmp(&b.mjr));
    Ok(found)
}
