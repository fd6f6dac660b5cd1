//! The real app binary, driven like a person would: type, click, read what Rust answered.
//!
//! Not on macOS: Apple's WKWebView has no WebDriver, so tauri-driver does not exist there.
#![cfg(not(target_os = "macos"))]

use runde_e2e::desktop::DesktopApp;

mod updates;

type TestResult = runde_e2e::Result<()>;

/// A typed link goes to the Rust engine through the `check_link` command; the answer it shows
/// (the endpoint's server in punycode, the room) can only have come from the engine.
#[test]
fn home_checks_a_pasted_link_through_the_engine() -> TestResult {
    let app = DesktopApp::launch("home_checks_a_pasted_link")?;
    let s = &app.session;
    let input = s.find("[data-testid=link-input]")?;
    s.type_text(&input, "runde://mееt.example.org:8989/janus?room=4711")?;
    s.click(&s.find("[data-testid=check-link]")?)?;

    let server = s.text(&s.find("[data-testid=report-server]")?)?;
    assert_eq!(server, "xn--mt-nlca.example.org:8989");
    assert_eq!(s.text(&s.find("[data-testid=report-room]")?)?, "4711");
    assert_eq!(
        s.text(&s.find("[data-testid=report-tls]")?)?,
        "encrypted to the server (TLS)"
    );
    // Never met: the engine looked only at this computer's list and says so.
    assert_eq!(
        s.attribute(&s.find("[data-testid=report-known]")?, "data-state")?
            .as_deref(),
        Some("unknown")
    );
    app.screenshot("link-report")?;

    // The same from the clipboard: read only when asked, then checked by the engine.
    let clipboard = app.set_clipboard("https://meet.example.org/janus?room=815")?;
    s.click(&s.find("[data-testid=paste-link]")?)?;
    runde_e2e::process::wait_until(
        "the pasted link's report",
        std::time::Duration::from_secs(10),
        || Ok((s.text(&s.find("[data-testid=report-room]")?)? == "815").then_some(())),
    )?;
    drop(clipboard);
    assert_eq!(
        s.property(&input, "value")?,
        "https://meet.example.org/janus?room=815"
    );
    Ok(())
}

/// One Runde per user session: starting it again with a link (as a browser does for a `runde://`
/// link) hands the link to the running window, which shows and checks it; the second start exits
/// at once. Linux finds the running one on the session bus: the test gives the app a private one.
#[cfg(target_os = "linux")]
#[test]
fn a_second_start_hands_its_link_to_the_running_window() -> TestResult {
    use runde_e2e::process::{ChildGuard, wait_until};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let bus = runde_e2e::session_bus::SessionBus::start()?;
    let address = bus.address().to_owned();
    let app = DesktopApp::launch_with_env(
        "app_second_start",
        &[],
        &[("DBUS_SESSION_BUS_ADDRESS", &address)],
        |_| Ok(()),
    )?;
    let s = &app.session;
    let input = s.find("[data-testid=link-input]")?;
    assert_eq!(s.property(&input, "value")?, "");

    let link = "runde://meet.example.org/janus?room=2718";
    let home = app.home();
    let started = Instant::now();
    let mut second = Command::new(runde_e2e::desktop::app_binary()?);
    second
        .arg(link)
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_RUNTIME_DIR", home.join("runtime"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(display) = app.display() {
        second.env("DISPLAY", display);
    }
    let mut second = ChildGuard::spawn("second runde", &mut second)?;
    let status = second.wait_timeout(Duration::from_secs(20))?;
    println!(
        "the second start exited after {:?}: {status:?}",
        started.elapsed()
    );
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    wait_until(
        "the running window to show the link",
        Duration::from_secs(10),
        || Ok((s.text(&s.find("[data-testid=report-room]")?)? == "2718").then_some(())),
    )?;
    assert_eq!(s.property(&input, "value")?, link);
    app.screenshot("second-start-link")?;
    assert!(app.log()?.contains("Runde was started again"));
    Ok(())
}

/// A link with a password is refused by the engine, the field is cleared, the secret never
/// reaches a log, and the cleaned link can be used.
#[test]
fn a_password_in_a_link_is_refused_and_never_logged() -> TestResult {
    const SECRET: &str = "Geheim-93817";
    let app = DesktopApp::launch("password_in_link")?;
    let s = &app.session;
    let input = s.find("[data-testid=link-input]")?;
    s.type_text(
        &input,
        &format!("https://meet.example.org/janus?room=5&pin={SECRET}"),
    )?;
    s.click(&s.find("[data-testid=check-link]")?)?;

    let alert = s.find("[data-testid=link-error]")?;
    assert_eq!(
        s.attribute(&alert, "data-code")?.as_deref(),
        Some("PasswordInLink")
    );
    assert_eq!(s.property(&input, "value")?, "");
    app.screenshot("password-refused")?;

    s.click(&s.find("[data-testid=use-clean-link]")?)?;
    assert_eq!(
        s.property(&input, "value")?,
        "https://meet.example.org/janus?room=5"
    );
    s.click(&s.find("[data-testid=check-link]")?)?;
    assert_eq!(s.text(&s.find("[data-testid=report-room]")?)?, "5");

    let log = app.log()?;
    // The log did capture the app's own debug output, so the secret's absence means something.
    assert!(
        log.contains("checking a pasted link"),
        "app log not captured:\n{log}"
    );
    assert!(!log.contains(SECRET), "the secret reached the app's log");
    Ok(())
}

/// The UI switches to German, and the engine's answer is shown in German too.
#[test]
fn the_ui_speaks_german() -> TestResult {
    let app = DesktopApp::launch("ui_speaks_german")?;
    let s = &app.session;
    s.click(&s.find("[data-testid=lang-switch]")?)?;
    let button = s.find("[data-testid=check-link]")?;
    assert_eq!(s.text(&button)?, "Link prüfen");
    s.click(&button)?;
    let alert = s.find("[data-testid=link-error]")?;
    assert_eq!(
        s.attribute(&alert, "data-code")?.as_deref(),
        Some("LinkEmpty")
    );
    assert!(
        s.text(&alert)?
            .contains("Bitte fügen Sie zuerst einen Link ein.")
    );
    app.screenshot("german")?;
    Ok(())
}

/// The window loads nothing that is not built into the app, runs no inline script, and may call
/// only the commands its capability grants. The probe target is a listener of this test on
/// loopback, so the test can also see that no request was even attempted.
#[test]
fn the_webview_is_locked_down() -> TestResult {
    use std::net::TcpListener;
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| runde_e2e::err("bind", e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| runde_e2e::err("listener", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| runde_e2e::err("listener", e))?
        .port();

    let app = DesktopApp::launch("webview_locked_down")?;
    let s = &app.session;
    s.find("[data-testid=link-input]")?;
    let outcome = s.execute_async(
        r#"
        const [port, done] = arguments;
        const seen = new Set();
        const finish = () => done({ seen: [...seen].sort(), inlineRan: !!window.__inlineRan });
        document.addEventListener("securitypolicyviolation", (e) => {
          seen.add(e.effectiveDirective);
          if (seen.size >= 3) finish();
        });
        const img = new Image();
        img.src = `http://127.0.0.1:${port}/probe.png`;
        document.body.appendChild(img);
        fetch(`http://127.0.0.1:${port}/probe`).catch(() => {});
        const script = document.createElement("script");
        script.textContent = "window.__inlineRan = true";
        document.body.appendChild(script);
        // Only reached when the policy is missing: then report what was (not) blocked.
        setTimeout(finish, 5000);
        "#,
        serde_json::json!([port]),
    )?;
    assert_eq!(
        outcome["seen"],
        serde_json::json!(["connect-src", "img-src", "script-src-elem"])
    );
    assert_eq!(outcome["inlineRan"], false);
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the webview reached out to the probe listener: {other:?}"),
    }

    let outcome = s.invoke_refused("plugin:app|version")?;
    assert!(outcome.is_none(), "not refused: {outcome:?}");
    Ok(())
}

/// The whole path a person takes: the real app, under Xvfb, joins a real Janus room (in a private
/// network namespace) where `runde-cli` publishes a moving test pattern and a tone. The remote
/// tile must show moving pictures, the indicator bar the states the server proves, and leaving
/// must end the call for the other side too.
#[test]
fn the_app_joins_a_janus_room_and_shows_the_other_side() -> TestResult {
    use runde_e2e::cli::CliClient;
    use runde_e2e::janus::{JanusServer, RoomSpec};
    use runde_e2e::process::wait_until;
    use std::time::Duration;

    const ROOM: u64 = 4242;
    const PIN: &str = "Kreis-7731";
    if !runde_e2e::netns::enter("the_app_joins_a_janus_room_and_shows_the_other_side")? {
        return Ok(());
    }
    let dir = runde_e2e::artifacts::dir("app-janus-call")?;
    let janus = JanusServer::start(&dir, &[RoomSpec::with_pin(ROOM, PIN)])?;
    let pin_file = dir.join("pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).map_err(|e| runde_e2e::err("pin", e))?;
    let mut bob = CliClient::spawn(
        "bob",
        &[
            "join",
            &janus.link(ROOM),
            "--json",
            "--name",
            "Bob",
            "--password-file",
            &pin_file.display().to_string(),
            "--audio-in",
            "tone:440",
            "--video-in",
            "pattern:640x360@15",
            "--duration",
            "120",
        ],
    )?;
    bob.keep_output_in(&dir);
    bob.wait_event("joined", Duration::from_secs(20), |e| {
        e["event"] == "joined"
    })?;

    // Started with the link (as `runde <link>` or a `runde://` link does): the link is shown and
    // checked, and joining still waits for the user.
    let link = janus.link(ROOM);
    // No microphone or camera here: the app's defaults are a synthetic tone and test pattern.
    // Push to talk is on in the settings.
    // A desktop session bus with a real notification service on it, for the recording change.
    let bus = runde_e2e::session_bus::SessionBus::start()?;
    let app = DesktopApp::launch_with_env(
        "app_joins_janus",
        &[&link],
        &[
            ("RUNDE_SYNTHETIC_DEVICES", "1"),
            ("DBUS_SESSION_BUS_ADDRESS", bus.address()),
        ],
        |home| {
            let folder = home.join("config/runde");
            std::fs::create_dir_all(&folder).map_err(|e| runde_e2e::err("settings", e))?;
            std::fs::write(
                folder.join("settings.json"),
                r#"{"version": 1, "settings": {"pushToTalk": "Control+Shift+Space"}}"#,
            )
            .map_err(|e| runde_e2e::err("settings", e))
        },
    )?;
    let s = &app.session;
    assert_eq!(
        s.text(&s.find("[data-testid=report-room]")?)?,
        ROOM.to_string()
    );
    assert_eq!(
        s.property(&s.find("[data-testid=link-input]")?, "value")?,
        link.as_str()
    );
    assert!(
        bob.events()
            .iter()
            .all(|e| e["event"] != "participantJoined"),
        "nobody joined yet"
    );
    s.type_text(&s.find("[data-testid=password-input]")?, PIN)?;
    s.type_text(&s.find("[data-testid=name-input]")?, "Ada Quillfeather")?;
    s.click(&s.find("[data-testid=join]")?)?;
    s.find("[data-testid=call]")?;

    // Bob's tile, by his name, with pictures being drawn.
    let frames = || -> runde_e2e::Result<u64> {
        let v = s.execute(
            "const c = document.querySelector('[data-testid=tile] canvas');\
             return c ? Number(c.drawnFrames || 0) : 0;",
            serde_json::json!([]),
        )?;
        Ok(v.as_u64().unwrap_or(0))
    };
    wait_until(
        "Bob's pictures to be drawn",
        Duration::from_secs(20),
        || Ok((frames()? >= 10).then_some(())),
    )?;
    assert_eq!(s.text(&s.find("[data-testid=tile-name]")?)?, "Bob");
    let first = app.screenshot("call-1")?;
    let drawn_before = frames()?;
    wait_until("more pictures", Duration::from_secs(10), || {
        Ok((frames()? >= drawn_before + 15).then_some(()))
    })?;
    let second = app.screenshot("call-2")?;
    // Compare the tile's picture on screen (the canvas's rectangle in the screenshots).
    let rect = s.execute(
        "const r = document.querySelector('[data-testid=tile] canvas').getBoundingClientRect();\
         const k = window.devicePixelRatio || 1;\
         return [r.left * k, r.top * k, r.width * k, r.height * k].map(Math.round);",
        serde_json::json!([]),
    )?;
    let n = |i: usize| rect[i].as_u64().unwrap_or(0) as u32;
    let (x, y, w, h) = (n(0), n(1), n(2), n(3));
    assert!(w > 100 && h > 50, "the tile is on screen: {rect}");
    let a = runde_e2e::analysis::Picture::open(&first)?.region(x, y, w, h);
    let b = runde_e2e::analysis::Picture::open(&second)?.region(x, y, w, h);
    let distinct: std::collections::BTreeSet<[u8; 3]> = a.iter().copied().collect();
    assert!(
        distinct.len() > 50,
        "the tile shows a picture, not a flat colour"
    );
    let changed = a.iter().zip(&b).filter(|(p, q)| p != q).count();
    println!(
        "tile {w}×{h}: {changed} of {} pixels changed between screenshots",
        a.len()
    );
    assert!(
        changed > a.len() / 100,
        "the remote tile must show moving video"
    );

    // The indicators, as the server proves them: a public room not set to record, plain
    // transport encryption, an operator nobody declared.
    let state = |id: &str, attr: &str| -> runde_e2e::Result<Option<String>> {
        s.attribute(&s.find(&format!("[data-testid={id}]"))?, attr)
    };
    wait_until(
        "the room's settings to be read",
        Duration::from_secs(10),
        || {
            Ok((state("indicator-recording", "data-reason")?.as_deref()
                == Some("serverCannotTell"))
            .then_some(()))
        },
    )?;
    assert_eq!(
        state("indicator-recording", "data-state")?.as_deref(),
        Some("notAnnounced")
    );
    assert_eq!(
        state("indicator-encryption", "data-state")?.as_deref(),
        Some("transportOnly")
    );
    assert_eq!(
        state("indicator-operator", "data-source")?.as_deref(),
        Some("unknown")
    );

    // The room's owner turns recording on, then off: the indicator follows, and each change also
    // reaches the desktop's notification service, in the indicator's words.
    let display = app
        .display()
        .ok_or_else(|| runde_e2e::err("display", "the app has no display of its own"))?
        .to_owned();
    let notifications = runde_e2e::session_bus::NotificationService::start(&bus, &display, &dir)?;
    let mut owner = runde_e2e::janus::RoomOwner::connect(&janus)?;
    for (record, shown, summary, words) in [
        (
            true,
            "roomSetToRecord",
            "Attention: recording “Room records”",
            "Assume you are recorded.",
        ),
        (
            false,
            "notAnnounced",
            "Recording: “Not announced”",
            "cannot tell whether anyone records",
        ),
    ] {
        owner.set_recording(ROOM, record)?;
        wait_until("the recording indicator", Duration::from_secs(10), || {
            Ok(
                (state("indicator-recording", "data-state")?.as_deref() == Some(shown))
                    .then_some(()),
            )
        })?;
        let notice = wait_until("the notification", Duration::from_secs(10), || {
            Ok(notifications
                .received()?
                .into_iter()
                .find(|n| n.summary == summary))
        })?;
        println!("notification: {notice:?}");
        assert!(notice.body.contains(words), "{notice:?}");
    }
    let received = notifications.received()?;
    assert_eq!(
        received.len(),
        2,
        "one notification per change: {received:?}"
    );
    // dunst takes keys of its own (Control+Shift+Space closes all its notifications): it goes
    // before the push-to-talk keys below.
    drop(notifications);

    // Decoded vs drawn, per tile, as the engine counts them.
    let stats = s.execute_async(
        "const done = arguments[arguments.length - 1];\
         window.__TAURI_INTERNALS__.invoke('video_stats').then(done, (e) => done({ error: String(e) }));",
        serde_json::json!([]),
    )?;
    println!("video per tile: {stats}");
    let tile = &stats[0];
    assert!(tile["drawn"].as_u64().unwrap_or(0) >= 25, "{stats}");
    let field = |name: &str| tile[name].as_u64().unwrap_or(0);
    assert!(field("sent") >= field("drawn"), "{stats}");
    assert!(field("drawn") >= field("skipped"), "{stats}");
    // One picture in the canvas per screen refresh: on an idle machine 30 pictures a second
    // never come two to a refresh.
    assert!(field("skipped") * 10 <= field("drawn"), "{stats}");
    // Bob sends his 360p picture at 180p too (simulcast). His tile is large: the app asks for
    // 360p, and it arrives. Read from the app's log, not from the size arriving at one moment:
    // on a loaded machine Bob's sender may drop his 360p layer again (then the server rightly
    // forwards 180p, and the app asks again).
    let bob_arrives_at = |height: u64| -> runde_e2e::Result<Option<()>> {
        let stats = s.execute_async(
            "const done = arguments[arguments.length - 1];\
             window.__TAURI_INTERNALS__.invoke('video_stats').then(done, (e) => done({ error: String(e) }));",
            serde_json::json!([]),
        )?;
        let bob_tile = stats
            .as_array()
            .and_then(|tiles| tiles.iter().find(|t| t["participant"] != "self"))
            .cloned()
            .unwrap_or_default();
        Ok((bob_tile["receivedHeight"].as_u64() == Some(height)).then_some(()))
    };
    let arrived_at_360p = || -> runde_e2e::Result<Option<()>> {
        let log = app.log()?;
        let asked = log
            .lines()
            .any(|l| l.contains("simulcast layer asked for") && l.contains("layer=1"));
        let arrived = log
            .lines()
            .any(|l| l.contains("their picture's size changed") && l.contains("height=360"));
        Ok((asked && arrived).then_some(()))
    };
    wait_until(
        "the app to ask for Bob's picture at 360p and receive it",
        Duration::from_secs(15),
        arrived_at_360p,
    )?;
    // The app's log is plain text when it does not go to a terminal.
    let log = app.log()?;
    let coloured: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("runde_") && l.contains('\u{1b}'))
        .take(3)
        .collect();
    assert!(
        coloured.is_empty(),
        "colour codes in the app's log: {coloured:?}"
    );

    // The statistics panel shows the same counts to the user.
    s.click(&s.find("[data-testid=stats-toggle]")?)?;
    let row = s.find("[data-testid=stats-row]")?;
    assert!(s.text(&row)?.starts_with("Bob"), "{}", s.text(&row)?);

    // Microphone and camera were left off on the join form: nothing is sent until Ada turns them
    // on, and then mute reaches Bob. The buttons show what the engine reports, not what was
    // clicked.
    let ada = bob
        .events()
        .into_iter()
        .find(|e| {
            e["event"] == "participantJoined" && e["participant"]["name"] == "Ada Quillfeather"
        })
        .and_then(|e| e["participant"]["id"].as_str().map(str::to_owned))
        .ok_or_else(|| runde_e2e::err("Ada", "Bob never saw Ada join"))?;
    let pressed = |id: &str| state(id, "aria-pressed");
    assert_eq!(pressed("mute")?.as_deref(), Some("true"), "joined muted");
    assert_eq!(
        pressed("camera")?.as_deref(),
        Some("true"),
        "joined with the camera off"
    );
    let ada_speaks = |e: &serde_json::Value, speaking: bool| {
        e["event"] == "speaking" && e["participant"] == ada.as_str() && e["speaking"] == speaking
    };
    assert!(
        !bob.events().iter().any(|e| ada_speaks(e, true)),
        "Bob heard Ada before she unmuted"
    );
    let before = bob.events().len();
    s.click(&s.find("[data-testid=mute]")?)?;
    wait_until("the app to report unmuted", Duration::from_secs(10), || {
        Ok((pressed("mute")?.as_deref() == Some("false")).then_some(()))
    })?;
    bob.wait_event_from(before, "Bob hears Ada", Duration::from_secs(10), |e| {
        ada_speaks(e, true)
    })?;
    let before = bob.events().len();
    s.click(&s.find("[data-testid=mute]")?)?;
    bob.wait_event_from(before, "Ada muted for Bob", Duration::from_secs(10), |e| {
        ada_speaks(e, false)
    })?;
    assert_eq!(pressed("mute")?.as_deref(), Some("true"));
    // Push to talk: holding the keys speaks, letting go mutes again — a system-wide shortcut.
    assert!(
        s.text(&s.find("[data-testid=push-to-talk]")?)?
            .contains("Control+Shift+Space")
    );
    let before = bob.events().len();
    app.key("ctrl+shift+space", true)?;
    bob.wait_event_from(
        before,
        "Bob hears Ada (push to talk)",
        Duration::from_secs(10),
        |e| ada_speaks(e, true),
    )?;
    assert_eq!(pressed("mute")?.as_deref(), Some("false"));
    let before = bob.events().len();
    app.key("ctrl+shift+space", false)?;
    bob.wait_event_from(before, "Ada muted again", Duration::from_secs(10), |e| {
        ada_speaks(e, false)
    })?;
    wait_until("the app to report muted", Duration::from_secs(10), || {
        Ok((pressed("mute")?.as_deref() == Some("true")).then_some(()))
    })?;

    s.click(&s.find("[data-testid=camera]")?)?;
    bob.wait_event("Bob sees Ada's picture", Duration::from_secs(15), |e| {
        e["event"] == "mediaStarted" && e["participant"] == ada.as_str() && e["kind"] == "video"
    })?;
    assert_eq!(pressed("camera")?.as_deref(), Some("false"));
    s.find("[data-testid=canvas-self]")?;
    app.screenshot("call-camera-on")?;
    // A small window with our own picture beside Bob's: his tile is a thumbnail now, and the app
    // asks the server for his 180p layer.
    s.set_window_size(640, 480)?;
    wait_until(
        "Bob's picture to arrive at 180p in a small tile",
        Duration::from_secs(15),
        || bob_arrives_at(180),
    )?;
    app.screenshot("call-small-window")?;

    // Leaving ends the call here and Bob sees Ada go.
    let before = bob.events().len();
    s.click(&s.find("[data-testid=leave]")?)?;
    assert_eq!(state("call-ended", "data-reason")?.as_deref(), Some("left"));
    bob.wait_event_from(before, "Ada left", Duration::from_secs(10), |e| {
        e["event"] == "participantLeft"
    })?;
    app.screenshot("call-ended")?;
    let log = app.log()?;
    assert!(
        !log.contains(PIN),
        "the room password reached the app's log"
    );
    assert!(
        !log.contains("Quillfeather") && !log.contains("Bob"),
        "a display name reached the app's log"
    );
    bob.save_output(&dir);
    Ok(())
}

/// The check before a call needs no link and no server: the microphone and camera stay off until
/// turned on, the meter shows the engine's level, the preview shows the camera, and the echo test
/// brings the picture back through the whole engine (encode, WebRTC on 127.0.0.1, decode).
/// The app in an end-to-end encrypted call with runde-cli, in a room that requires it: the
/// passphrase typed on the join form, the indicator at "end-to-end" once both sides' media opens,
/// the same safety code on both sides; then a passphrase change typed in the call — Bob shows as
/// "old passphrase" until he changes too, and both end with the same new code.
#[test]
fn the_app_joins_an_end_to_end_encrypted_call_and_changes_the_passphrase() -> TestResult {
    use runde_e2e::cli::CliClient;
    use runde_e2e::janus::{JanusServer, RoomSpec};
    use runde_e2e::process::wait_until;
    use std::time::Duration;

    const ROOM: u64 = 4343;
    const PIN: &str = "Kreis-7731";
    const OLD: &str = "Kaffee Kanne Kuchen Kerze";
    const NEW: &str = "Milch Zucker Loeffel Teller";
    if !runde_e2e::netns::enter(
        "the_app_joins_an_end_to_end_encrypted_call_and_changes_the_passphrase",
    )? {
        return Ok(());
    }
    let dir = runde_e2e::artifacts::dir("app-e2ee-call")?;
    let janus = JanusServer::start(&dir, &[RoomSpec::with_pin(ROOM, PIN).requiring_e2ee()])?;
    let file = |name: &str, text: &str| -> runde_e2e::Result<String> {
        let path = dir.join(name);
        std::fs::write(&path, format!("{text}\n")).map_err(|e| runde_e2e::err(name, e))?;
        Ok(path.display().to_string())
    };
    let (pin, old, new) = (file("pin", PIN)?, file("old", OLD)?, file("new", NEW)?);
    let link = janus.link(ROOM);
    let mut bob = CliClient::spawn(
        "bob",
        &[
            "join",
            &link,
            "--json",
            "--name",
            "Bob",
            "--password-file",
            &pin,
            "--e2ee-passphrase-file",
            &old,
            "--e2ee-next-passphrase-file",
            &new,
            "--audio-in",
            "tone:440",
            "--video-in",
            "pattern:640x360@15",
            "--duration",
            "120",
        ],
    )?;
    bob.keep_output_in(&dir);
    let wait = Duration::from_secs(20);
    let code_at = |bob: &mut CliClient, generation: u64| -> runde_e2e::Result<String> {
        let e = bob.wait_event("Bob's safety code", wait, |e| {
            e["event"] == "endToEnd" && e["generation"] == generation
        })?;
        Ok(e["safetyCode"].as_str().unwrap_or_default().to_owned())
    };
    let bob_code = code_at(&mut bob, 0)?;

    let app = DesktopApp::launch_with_env(
        "app_e2ee",
        &[&link],
        &[("RUNDE_SYNTHETIC_DEVICES", "1")],
        |_| Ok(()),
    )?;
    let s = &app.session;
    s.type_text(&s.find("[data-testid=password-input]")?, PIN)?;
    s.type_text(&s.find("[data-testid=e2ee-input]")?, OLD)?;
    s.type_text(&s.find("[data-testid=name-input]")?, "Ada")?;
    s.click(&s.find("[data-testid=join]")?)?;
    s.find("[data-testid=call]")?;
    let encryption = || -> runde_e2e::Result<Option<String>> {
        s.attribute(&s.find("[data-testid=indicator-encryption]")?, "data-state")
    };
    wait_until("the indicator at end to end", wait, || {
        Ok((encryption()?.as_deref() == Some("endToEnd")).then_some(()))
    })?;
    let safety = || s.text(&s.find("[data-testid=safety-code]")?);
    assert!(safety()?.contains(&bob_code), "{} / {bob_code}", safety()?);
    // Bob opens what the app sends (it joined muted with the camera off: both on now), and
    // draws nothing that did not open.
    s.click(&s.find("[data-testid=mute]")?)?;
    s.click(&s.find("[data-testid=camera]")?)?;
    let app_id = bob.wait_event("the app joins", wait, |e| e["event"] == "participantJoined")?
        ["participant"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    bob.wait_event("Bob opens the app's media", wait, |e| {
        e["event"] == "decryption" && e["participant"] == app_id.as_str() && e["decrypting"] == true
    })?;
    bob.wait_event("Bob sees the app's picture", wait, |e| {
        e["event"] == "mediaStarted" && e["participant"] == app_id.as_str() && e["kind"] == "video"
    })?;
    // The whole call from the top (the clicks above scrolled it), for the user guide.
    s.execute("window.scrollTo(0, 0); return null;", serde_json::json!([]))?;
    app.screenshot("e2ee-call")?;

    // The app changes first: Bob's media still uses the old passphrase.
    s.click(&s.find("[data-testid=change-passphrase]")?)?;
    s.type_text(&s.find("[data-testid=new-passphrase]")?, NEW)?;
    s.click(&s.find("[data-testid=apply-passphrase]")?)?;
    s.find("[data-testid=passphrase-changed]")?;
    s.find("[data-testid=tile-previous-key]")?;
    wait_until("the indicator at partly", wait, || {
        Ok((encryption()?.as_deref() == Some("mixed")).then_some(()))
    })?;
    app.screenshot("e2ee-previous-key")?;
    bob.change_passphrase()?;
    let new_code = code_at(&mut bob, 1)?;
    assert_ne!(new_code, bob_code);
    wait_until("the indicator back at end to end", wait, || {
        Ok((encryption()?.as_deref() == Some("endToEnd")).then_some(()))
    })?;
    assert_eq!(s.count("[data-testid=tile-previous-key]")?, 0);
    assert!(safety()?.contains(&new_code), "{} / {new_code}", safety()?);
    bob.interrupt()?;
    bob.wait_exit(wait)?;
    bob.save_output(&dir);
    Ok(())
}

#[test]
fn the_check_before_a_call_echoes_through_the_engine_without_a_server() -> TestResult {
    use runde_e2e::process::wait_until;
    use std::time::Duration;

    let app = DesktopApp::launch_with_env(
        "device_check",
        &[],
        &[("RUNDE_SYNTHETIC_DEVICES", "1")],
        |_| Ok(()),
    )?;
    let s = &app.session;
    s.click(&s.find("[data-testid=open-check]")?)?;
    let level = s.find("[data-testid=level]")?;
    let microphone = s.find("[data-testid=check-microphone-on]")?;
    wait_until("the check to start", Duration::from_secs(10), || {
        Ok((s.property(&microphone, "disabled")? == false).then_some(()))
    })?;
    // Privacy by default: both off, the meter still.
    assert_eq!(s.property(&microphone, "checked")?, false);
    assert_eq!(
        s.property(&s.find("[data-testid=check-camera-on]")?, "checked")?,
        false
    );
    assert_eq!(s.attribute(&level, "data-level")?.as_deref(), Some("0.00"));

    s.click(&microphone)?;
    wait_until("the meter to move", Duration::from_secs(10), || {
        let value: f64 = s
            .attribute(&level, "data-level")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Ok((value > 0.5).then_some(()))
    })?;
    s.click(&s.find("[data-testid=check-camera-on]")?)?;
    let frames = |id: &str| -> runde_e2e::Result<u64> {
        let v = s.execute(
            &format!(
                "const c = document.querySelector('[data-testid={id}]');\
                 return c ? Number(c.drawnFrames || 0) : 0;"
            ),
            serde_json::json!([]),
        )?;
        Ok(v.as_u64().unwrap_or(0))
    };
    wait_until("the camera preview", Duration::from_secs(10), || {
        Ok((frames("preview-self")? >= 5).then_some(()))
    })?;

    s.click(&s.find("[data-testid=echo]")?)?;
    let echo = s.find("[data-testid=echo-state]")?;
    wait_until("the echo test to run", Duration::from_secs(15), || {
        Ok((s.attribute(&echo, "data-state")?.as_deref() == Some("running")).then_some(()))
    })?;
    wait_until(
        "the picture back through the engine",
        Duration::from_secs(15),
        || Ok((frames("preview-echo")? >= 10).then_some(())),
    )?;
    s.execute(
        "document.querySelector('[data-testid=echo-state]').scrollIntoView();",
        serde_json::json!([]),
    )?;
    app.screenshot("device-check")?;

    // Done: the check closes its devices and the join form keeps the choices.
    s.click(&s.find("[data-testid=close-check]")?)?;
    s.find("[data-testid=open-check]")?;
    Ok(())
}

/// Settings survive a restart, and a settings file that cannot be read is kept, explained and
/// never silently replaced: the app starts with defaults and shows where the old file went.
#[test]
fn settings_are_saved_and_a_broken_file_is_kept_and_explained() -> TestResult {
    const BROKEN: &str = "{\"version\": 1, \"settings\": {\"language\": ";
    let app = DesktopApp::launch_with_home("settings_saved_and_recovered", |home| {
        let folder = home.join("config/runde");
        std::fs::create_dir_all(&folder).map_err(|e| runde_e2e::err("settings", e))?;
        std::fs::write(folder.join("settings.json"), BROKEN)
            .map_err(|e| runde_e2e::err("settings", e))
    })?;
    let s = &app.session;
    // Told at once, on the first screen.
    let note = s.find("[data-testid=settings-note]")?;
    assert_eq!(
        s.attribute(&note, "data-kind")?.as_deref(),
        Some("recovered")
    );
    assert!(s.text(&note)?.contains("settings.unreadable-1.json"));
    let folder = app.home().join("config/runde");
    let kept = std::fs::read_to_string(folder.join("settings.unreadable-1.json"))
        .map_err(|e| runde_e2e::err("backup", e))?;
    assert_eq!(kept, BROKEN, "the unreadable file is kept byte for byte");
    app.screenshot("settings-recovered")?;
    s.click(&s.find("[data-testid=open-settings]")?)?;

    // Privacy is the default: nothing to remember, microphone and camera off.
    for id in ["privacy-remember", "privacy-microphone", "privacy-camera"] {
        let boxed = s.find(&format!("[data-testid={id}]"))?;
        assert_eq!(s.property(&boxed, "checked")?, false, "{id}");
    }
    s.click(&s.find("[data-testid=language-german]")?)?;
    s.click(&s.find("[data-testid=settings-save]")?)?;
    s.find("[data-testid=settings-saved]")?;
    assert_eq!(
        s.text(&s.find("[data-testid=settings-save]")?)?,
        "Speichern"
    );
    let saved = std::fs::read_to_string(folder.join("settings.json"))
        .map_err(|e| runde_e2e::err("settings", e))?;
    let saved: serde_json::Value =
        serde_json::from_str(&saved).map_err(|e| runde_e2e::err("settings", e))?;
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["settings"]["language"], "german");
    app.screenshot("settings-german")?;
    Ok(())
}
