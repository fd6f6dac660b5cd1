//! A browser participant: Debian's Chromium, headless, driven through chromedriver, running
//! Debian's janus.js on a page served by the test itself, with files as its camera and
//! microphone.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::process::{ChildGuard, find_program, free_port, wait_until};
use crate::webdriver::Session;
use crate::{Result, err};

/// Files the page needs: our page, and the system's janus.js and adapter.js.
fn page_file(page_dir: &Path, name: &str) -> Option<PathBuf> {
    match name {
        "index.html" | "sframe.js" | "sframe-worker.js" | "recorder-worklet.js" => {
            Some(page_dir.join(name))
        }
        "janus.js" => Some(PathBuf::from(
            "/usr/share/javascript/janus-gateway/janus.js",
        )),
        "adapter.js" => Some(PathBuf::from(
            "/usr/share/javascript/webrtc-adapter/adapter.js",
        )),
        _ => None,
    }
}

/// Serve the page on loopback from a thread; returns the port.
fn serve(page_dir: PathBuf) -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| err("page server", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| err("page server", e))?
        .port();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(std::io::Result::ok) {
            let mut reader = BufReader::new(&stream);
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // Read the headers to their end so the client sees a complete exchange.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let name = path.trim_start_matches('/').split('?').next().unwrap_or("");
            let body = page_file(&page_dir, name).and_then(|p| std::fs::read(p).ok());
            let mut stream = &stream;
            let _ = match body {
                Some(body) => {
                    let kind = if name.ends_with(".js") {
                        "text/javascript"
                    } else {
                        "text/html"
                    };
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    stream
                        .write_all(head.as_bytes())
                        .and_then(|()| stream.write_all(&body))
                }
                None => stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"),
            };
        }
    });
    Ok(port)
}

/// What the interop page does besides joining (see `janus/page/index.html`).
#[derive(Debug, Clone, Default)]
pub struct PageOptions {
    /// Seal and open every frame with Runde's end-to-end scheme, with this call key.
    pub call_key: Option<[u8; 32]>,
    /// Publish nothing; only subscribe (a listener).
    pub listen_only: bool,
    /// Record this many seconds of the first remote participant's sound, as played, into
    /// `results.recording` (48 kHz mono, 16-bit, base64).
    pub record_seconds: Option<u32>,
    /// Read the first remote video frame by frame: when each arrived into `results.video.times`
    /// (wall clock, ms), and every this-many-th frame kept as I420 for
    /// [`Browser::video_sample`].
    pub frames_every: Option<u32>,
    /// Publish sound only, from the microphone with the browser's default voice processing (as
    /// a person's browser would), and no camera.
    pub audio_only: bool,
}

/// A running Chromium (headless, or on an X display) with its driver.
pub struct Browser {
    session: Session,
    page_port: u16,
    driver: ChildGuard,
}

impl Browser {
    /// Start Chromium with `audio` (WAV) and `video` (Y4M) as its microphone and camera, and open
    /// the interop page for `room` on the Janus WebSocket `ws`. With `call_key` the page seals and
    /// opens every frame with Runde's end-to-end scheme.
    #[allow(clippy::too_many_arguments)]
    pub fn join(
        dir: &Path,
        page_dir: &Path,
        ws: &str,
        room: u64,
        pin: &str,
        audio: &Path,
        video: &Path,
        call_key: Option<&[u8; 32]>,
    ) -> Result<Self> {
        let browser = Self::start(dir, page_dir, audio, video, None)?;
        let options = PageOptions {
            call_key: call_key.copied(),
            ..PageOptions::default()
        };
        browser.open(ws, room, pin, &options)?;
        Ok(browser)
    }

    /// Start Chromium with `audio` (WAV) and `video` (Y4M) as its microphone and camera: headless,
    /// or with windows on the X display `display` (drawing what it shows, as a user's would).
    pub fn start(
        dir: &Path,
        page_dir: &Path,
        audio: &Path,
        video: &Path,
        display: Option<&str>,
    ) -> Result<Self> {
        Self::start_with_args(dir, page_dir, audio, video, display, &[])
    }

    /// [`start`](Self::start) with more command-line switches for Chromium.
    pub fn start_with_args(
        dir: &Path,
        page_dir: &Path,
        audio: &Path,
        video: &Path,
        display: Option<&str>,
        extra: &[&str],
    ) -> Result<Self> {
        let mut args = vec![
            "--use-fake-device-for-media-stream".to_owned(),
            format!("--use-file-for-fake-audio-capture={}", audio.display()),
            format!("--use-file-for-fake-video-capture={}", video.display()),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        Self::launch(dir, page_dir, args, &[], display)
    }

    /// Start a headless Chromium whose microphone and speaker are real sound devices: those of
    /// the PulseAudio server that `env` (`PULSE_SERVER`, `PULSE_SOURCE`, `PULSE_SINK`) names, as
    /// [`crate::sound::SoundServer::env`] gives it. It has no camera; open the page with
    /// [`PageOptions::audio_only`].
    pub fn start_with_sound_server(
        dir: &Path,
        page_dir: &Path,
        env: &[(String, String)],
    ) -> Result<Self> {
        Self::launch(dir, page_dir, Vec::new(), env, None)
    }

    fn launch(
        dir: &Path,
        page_dir: &Path,
        media: Vec<String>,
        env: &[(String, String)],
        display: Option<&str>,
    ) -> Result<Self> {
        let chromium = find_program("chromium")?;
        let chromedriver = find_program("chromedriver")?;
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("chromedriver.log"))
            .map_err(|e| err("chromedriver log", e))?;
        let mut command = Command::new(chromedriver);
        command
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                dir.join("chromedriver-verbose.log").display()
            ))
            .arg("--verbose")
            .stdout(log.try_clone().map_err(|e| err("chromedriver log", e))?)
            .stderr(log)
            .stdin(Stdio::null());
        if let Some(display) = display {
            command.env("DISPLAY", display);
        }
        // Chromium inherits the driver's environment (its audio service reads `PULSE_*`).
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let mut driver = ChildGuard::spawn("chromedriver", &mut command)?;
        wait_until("chromedriver to listen", Duration::from_secs(10), || {
            driver.ensure_running()?;
            Ok(std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ()))
        })?;
        let profile = dir.join("chromium-profile");
        let mut args = vec![
            "--remote-debugging-pipe".to_owned(),
            "--no-sandbox".into(),
            "--use-fake-ui-for-media-stream".into(),
            "--autoplay-policy=no-user-gesture-required".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--disable-features=WebRtcHideLocalIpsWithMdns".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        args.extend(media);
        if display.is_none() {
            args.extend(["--headless=new".to_owned(), "--disable-gpu".into()]);
        } else {
            args.push("--window-size=1024,700".into());
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args}
        }}});
        let session = Session::create(&format!("http://127.0.0.1:{port}"), capabilities)?;
        let page_port = serve(page_dir.to_path_buf())?;
        Ok(Self {
            session,
            page_port,
            driver,
        })
    }

    /// Open the interop page for `room` on the Janus WebSocket `ws` (joining it).
    pub fn open(&self, ws: &str, room: u64, pin: &str, options: &PageOptions) -> Result<()> {
        let mut query = format!("ws={ws}&room={room}&pin={}", pin.replace(' ', "%20"));
        if let Some(key) = &options.call_key {
            query.push_str("&key=");
            for b in key {
                query.push_str(&format!("{b:02x}"));
            }
        }
        if options.listen_only {
            query.push_str("&listen=1");
        }
        if options.audio_only {
            query.push_str("&audio_only=1");
        }
        if let Some(seconds) = options.record_seconds {
            query.push_str(&format!("&record={seconds}"));
        }
        if let Some(every) = options.frames_every {
            query.push_str(&format!("&frames={every}"));
        }
        self.session.navigate(&format!(
            "http://127.0.0.1:{}/index.html?{query}",
            self.page_port
        ))
    }

    /// Leave the room (the page is unloaded; Janus sees the WebSocket close).
    pub fn leave(&self) -> Result<()> {
        self.session.navigate("about:blank")
    }

    /// The page's `window.results`.
    pub fn results(&self) -> Result<Value> {
        self.session.execute("return window.results;", json!([]))
    }

    /// Kept video frame `i` (see [`PageOptions::frames_every`]): `{index, at, width, height,
    /// data}`, `data` the I420 planes in base64; `null` past the last. One at a time: each is
    /// about half a megabyte over WebDriver.
    pub fn video_sample(&self, i: usize) -> Result<Value> {
        self.session.execute(
            "return window.videoSample ? window.videoSample(arguments[0]) : null;",
            json!([i]),
        )
    }

    /// The driver's process id (Chromium and all its processes run under it).
    pub fn driver_pid(&self) -> u32 {
        self.driver.pid()
    }
}
