//! `runde-cli probe` and `runde-cli join`.

use std::future::Future;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use runde_call::{
    AudioIn, AudioOut, CallEvent, JoinOptions, MediaChoice, MediaSummary, Secret, ServerReview,
    TlsSettings, TrustOptions, UserError, VideoIn, VideoOut,
};

/// The trusted-server store in the system's configuration folder.
fn runde_trust_dir() -> Option<PathBuf> {
    runde_call::trust_dir()
}

fn print_review(review: &ServerReview) {
    eprintln!("  server:      {}", review.origin);
    eprintln!("  certificate: {}", review.subject);
    eprintln!("  issued by:   {}", review.issuer);
    if let Some(o) = &review.organisation {
        let vouched = if review.trusted_by_system {
            "vouched for by the issuer"
        } else {
            "not vouched for by anyone"
        };
        eprintln!("  organisation: {o} ({vouched})");
    }
    eprintln!("  key (SHA-256): {}", review.key_sha256);
    if let Some(statement) = &review.operator_statement {
        eprintln!(
            "  operator (self-declared by the server): {}",
            statement.name
        );
        for (label, value) in [
            ("legal entity", &statement.legal_entity),
            ("country", &statement.country),
            ("contact", &statement.contact),
            ("privacy policy", &statement.privacy_policy_url),
            ("recording", &statement.recording_policy),
        ] {
            if let Some(value) = value {
                eprintln!("    {label}: {value}");
            }
        }
        if let Some(days) = statement.log_retention_days {
            eprintln!("    logs kept: {days} days");
        }
    } else {
        eprintln!("  operator: the server publishes no statement about who runs it");
    }
}

use crate::exit_code;

/// Wrong passwords a terminal user may type before giving up.
const PROMPT_ATTEMPTS: usize = 3;

/// Where the password comes from.
#[derive(Debug)]
enum PasswordSource {
    None,
    File(PathBuf),
    Stdin,
}

/// `join`'s options.
#[derive(Debug)]
pub struct Options {
    link: String,
    name: String,
    password: PasswordSource,
    duration: Option<Duration>,
    json: bool,
    media: MediaChoice,
    trust: TrustOptions,
    remember_password: bool,
    /// How long to keep trying to rejoin when the server connection is lost during the call.
    rejoin_for: Duration,
    /// A file whose first line is the end-to-end passphrase.
    e2ee: Option<PathBuf>,
    /// Where the next passphrase is, taken up on SIGUSR1.
    e2ee_next: Option<PathBuf>,
    /// TURN servers to relay media through.
    turn: crate::turn::TurnOptions,
    /// The others' pictures are shown in tiles of this size (`Some(None)`: not shown at all):
    /// it decides which simulcast layer, and how many of its frames, are asked for.
    tile: Option<Option<(u32, u32)>>,
}

/// `<w>x<h>` in pixels, each 2 to 8192.
fn picture_size(option: &str, value: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{option} {value}: <width>x<height> in pixels");
    let (w, h) = value.split_once('x').ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    if !((2..=8192).contains(&w) && (2..=8192).contains(&h)) {
        return Err(bad());
    }
    Ok((w, h))
}

/// `mic`, `mic:<device>` and the like: `Some(None)` for the default device.
fn device(value: &str, word: &str) -> Option<Option<String>> {
    if value == word {
        return Some(None);
    }
    value
        .strip_prefix(word)
        .and_then(|rest| rest.strip_prefix(':'))
        .map(|name| Some(name.to_owned()))
}

fn audio_in(value: &str) -> Result<AudioIn, String> {
    if let Some(id) = device(value, "mic") {
        return Ok(AudioIn::Microphone(id));
    }
    if value == "tone" {
        return Ok(AudioIn::Tone { hz: 440.0 });
    }
    if let Some(hz) = value.strip_prefix("tone:") {
        let hz: f64 = hz
            .parse()
            .map_err(|_| format!("--audio-in {value}: not a frequency"))?;
        if !(20.0..=20_000.0).contains(&hz) {
            return Err(format!("--audio-in {value}: 20 to 20000 Hz"));
        }
        return Ok(AudioIn::Tone { hz });
    }
    Ok(AudioIn::Wav(value.into()))
}

fn video_in(value: &str) -> Result<VideoIn, String> {
    let pattern = |spec: &str| -> Option<VideoIn> {
        let (size, fps) = spec.split_once('@').unwrap_or((spec, "30"));
        let (w, h) = size.split_once('x')?;
        let (width, height, fps) = (w.parse().ok()?, h.parse().ok()?, fps.parse().ok()?);
        let valid = (16..=3840).contains(&width)
            && (16..=2160).contains(&height)
            && width % 2 == 0
            && height % 2 == 0
            && (1..=60).contains(&fps);
        valid.then_some(VideoIn::Pattern { width, height, fps })
    };
    if let Some(id) = device(value, "camera") {
        return Ok(VideoIn::Camera(id));
    }
    match value {
        "pattern" => Ok(VideoIn::Pattern {
            width: 640,
            height: 360,
            fps: 30,
        }),
        _ => match value.strip_prefix("pattern:") {
            Some(spec) => pattern(spec)
                .ok_or_else(|| format!("--video-in {value}: use pattern:WIDTHxHEIGHT@FPS")),
            // Several IVF files, comma-separated: simulcast layers, smallest first.
            None if value.split(',').all(|f| f.ends_with(".ivf")) => Ok(VideoIn::Ivf(
                value.split(',').map(std::path::PathBuf::from).collect(),
            )),
            None => Ok(VideoIn::Y4m(value.into())),
        },
    }
}

impl Options {
    /// Parse the words after `join <link>`.
    pub fn parse(link: &str, args: &[&str]) -> Result<Self, String> {
        let mut options = Self {
            link: link.to_owned(),
            name: "Runde CLI".into(),
            password: PasswordSource::None,
            duration: None,
            json: false,
            media: MediaChoice::default(),
            trust: TrustOptions {
                store: runde_trust_dir(),
                accept_new_server: false,
                extra_policies: Vec::new(),
            },
            remember_password: false,
            e2ee: None,
            e2ee_next: None,
            rejoin_for: runde_call::REJOIN_FOR,
            turn: crate::turn::TurnOptions::default(),
            tile: None,
        };
        let mut video_out_times = None;
        let mut video_out_size = None;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .map(|v| (*v).to_owned())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            if options.turn.take(arg, || value(arg))? {
                continue;
            }
            match *arg {
                "--name" => options.name = value("--name")?,
                "--password-file" => {
                    options.password = PasswordSource::File(value("--password-file")?.into());
                }
                "--password-stdin" => options.password = PasswordSource::Stdin,
                "--duration" => {
                    let seconds: f64 = value("--duration")?
                        .parse()
                        .map_err(|_| "--duration takes seconds".to_owned())?;
                    if !(seconds.is_finite() && seconds > 0.0) {
                        return Err("--duration takes a positive number of seconds".into());
                    }
                    options.duration = Some(Duration::from_secs_f64(seconds));
                }
                "--rejoin-for" => {
                    let seconds: f64 = value("--rejoin-for")?
                        .parse()
                        .map_err(|_| "--rejoin-for takes seconds".to_owned())?;
                    if !(seconds.is_finite() && (0.0..=86_400.0).contains(&seconds)) {
                        return Err("--rejoin-for takes 0 to 86400 seconds".into());
                    }
                    options.rejoin_for = Duration::from_secs_f64(seconds);
                }
                "--json" => options.json = true,
                "--send-only" => options.media.send_only = true,
                "--single-layer" => options.media.single_layer = true,
                "--tile" => {
                    options.tile = Some(match value("--tile")?.as_str() {
                        "hidden" => None,
                        size => Some(picture_size("--tile", size)?),
                    })
                }
                "--e2ee-next-passphrase-file" => {
                    options.e2ee_next = Some(value("--e2ee-next-passphrase-file")?.into());
                }
                "--e2ee-passphrase-file" => {
                    options.e2ee = Some(value("--e2ee-passphrase-file")?.into());
                }
                "--trust-store" => options.trust.store = Some(value("--trust-store")?.into()),
                "--accept-new-server" => options.trust.accept_new_server = true,
                "--remember-password" => options.remember_password = true,
                "--policy-file" => options
                    .trust
                    .extra_policies
                    .push(value("--policy-file")?.into()),
                "--audio-in" => options.media.audio_in = audio_in(&value("--audio-in")?)?,
                "--video-in" => options.media.video_in = video_in(&value("--video-in")?)?,
                "--audio-out" => {
                    let out = value("--audio-out")?;
                    options.media.audio_out = match device(&out, "speaker") {
                        Some(id) => AudioOut::Speaker(id),
                        None => AudioOut::Wav(out.into()),
                    };
                }
                "--video-out" => {
                    options.media.video_out = VideoOut::Y4m {
                        path: value("--video-out")?.into(),
                        times: None,
                        size: None,
                    };
                }
                "--video-out-times" => video_out_times = Some(value("--video-out-times")?.into()),
                "--video-out-size" => {
                    video_out_size = Some(picture_size(
                        "--video-out-size",
                        &value("--video-out-size")?,
                    )?);
                }
                "--password" | "--pin" => {
                    return Err(
                        "passwords are not taken from the command line (other users can read it); \
                         use --password-file, --password-stdin or the prompt"
                            .into(),
                    );
                }
                other => return Err(format!("unknown option {other}")),
            }
        }
        options.turn.check()?;
        if let Some(file) = video_out_times {
            match &mut options.media.video_out {
                VideoOut::Y4m { times, .. } => *times = Some(file),
                _ => return Err("--video-out-times needs --video-out".into()),
            }
        }
        if let Some(wanted) = video_out_size {
            match &mut options.media.video_out {
                VideoOut::Y4m { size, .. } => *size = Some(wanted),
                _ => return Err("--video-out-size needs --video-out".into()),
            }
        }
        Ok(options)
    }
}

/// Run a future on a runtime made for it.
pub fn run_async(future: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(future),
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `probe <link>`.
pub async fn probe(link: &str) -> ExitCode {
    match runde_call::probe_server(link, &TlsSettings::default()).await {
        Ok(report) => {
            println!("family:  {}", report.family);
            println!("server:  {}", report.name);
            println!("version: {}", report.version);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn fail(error: &UserError) -> ExitCode {
    eprintln!("error: {error}");
    exit_code(error)
}

fn read_password(source: &PasswordSource) -> Result<Option<Secret>, UserError> {
    let trim = |s: &str| s.trim_end_matches(['\r', '\n']).to_owned();
    match source {
        PasswordSource::None => Ok(None),
        PasswordSource::File(path) => std::fs::read_to_string(path)
            .map(|text| Some(Secret::new(trim(text.lines().next().unwrap_or_default()))))
            .map_err(|e| UserError::MediaFailed {
                detail: format!("cannot read the password file {}: {e}", path.display()),
            }),
        PasswordSource::Stdin => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| UserError::MediaFailed {
                    detail: format!("cannot read the password from standard input: {e}"),
                })?;
            Ok(Some(Secret::new(trim(&line))))
        }
    }
}

fn prompt(error: &UserError) -> Option<Secret> {
    eprintln!("{error}");
    rpassword::prompt_password("Room password: ")
        .ok()
        .map(Secret::new)
}

/// `join <link> …`.
pub async fn join(options: Options) -> ExitCode {
    let password = match read_password(&options.password) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let e2ee = match options.e2ee.as_deref().map(read_passphrase).transpose() {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let turn = match options.turn.servers() {
        Ok(turn) => turn,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let can_prompt =
        matches!(options.password, PasswordSource::None) && std::io::stdin().is_terminal();
    let mut attempt = runde_call::join(JoinOptions {
        link: options.link.clone(),
        password,
        display_name: options.name.clone(),
        trust: options.trust.clone(),
        media: options.media.clone(),
        remember_password: options.remember_password,
        e2ee,
        rejoin_for: options.rejoin_for,
        turn,
    })
    .await;
    let mut prompts = 0;
    let mut call = loop {
        match attempt {
            Ok(call) => break call,
            Err(failure) => {
                let error = failure.error.clone();
                let retry = failure.into_retry();
                match retry {
                    Some(retry) if can_prompt && prompts < PROMPT_ATTEMPTS => {
                        prompts += 1;
                        let password = prompt(&error);
                        attempt = retry.with_password(password).await;
                    }
                    Some(retry) => {
                        retry.cancel().await;
                        return report_failure(&options, &error);
                    }
                    None => return report_failure(&options, &error),
                }
            }
        }
    };

    match options.tile {
        Some(Some(size)) => call.set_tile_for_others(size),
        Some(None) => call.set_tiles(std::collections::HashMap::new()),
        None => {}
    }
    let deadline = options.duration.map(|d| tokio::time::Instant::now() + d);
    let mut code = ExitCode::SUCCESS;
    // A passphrase change (on SIGUSR1) goes to the call from a task of its own: the loop below
    // waits only for the call's events (and the end), so that no event is dropped while the call
    // is handling it.
    let _changes = AbortOnDrop(tokio::spawn(change_passphrases(
        call.controls(),
        options.e2ee_next.clone(),
        options.json,
    )));
    // One listener for the whole call: a Ctrl-C that comes while an event is being printed is
    // not lost (a listener made anew for each event would miss it, and the call would go on).
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let event = tokio::select! {
            event = call.next_event() => event,
            () = until(deadline) => break,
            _ = &mut interrupted => break,
        };
        let Some(event) = event else {
            return code;
        };
        print_event(options.json, &event);
        if let CallEvent::Ended { reason } = &event {
            if let runde_call::EndReason::Lost { error } = reason {
                code = exit_code(error);
            }
            let summary = call.leave().await;
            print_summary(&options, &summary);
            return code;
        }
    }
    let summary = call.leave().await;
    print_event(
        options.json,
        &CallEvent::Ended {
            reason: runde_call::EndReason::Left,
        },
    );
    print_summary(&options, &summary);
    code
}

fn print_summary(options: &Options, summary: &MediaSummary) {
    if options.json {
        let line = serde_json::json!({
            "event": "stats",
            "participants": summary.participants,
            "retransmissionsReceived": summary.retransmissions_received,
        });
        println!("{line}");
        return;
    }
    for p in &summary.participants {
        println!(
            "from {}: audio {} packets ({} lost, {} ms concealed), video {} frames shown of {} decoded, {} freezes",
            p.participant,
            p.audio_packets_received,
            p.audio_packets_lost,
            p.audio_concealed_ms,
            p.video_frames_shown,
            p.video_frames_decoded,
            p.video_freezes
        );
    }
    if summary.retransmissions_received > 0 {
        println!(
            "video packets retransmitted by the server: {}",
            summary.retransmissions_received
        );
    }
}

/// The first line of a passphrase file.
fn read_passphrase(path: &std::path::Path) -> Result<Secret, UserError> {
    std::fs::read_to_string(path)
        .map(|text| {
            Secret::new(
                text.lines()
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches('\r'),
            )
        })
        .map_err(|e| UserError::E2eeUnavailable {
            detail: format!("cannot read the passphrase file {}: {e}", path.display()),
        })
}

/// Requests to change the passphrase: SIGUSR1 on Unix (none elsewhere).
/// Change the end-to-end passphrase to the one in `next` (`--e2ee-next-passphrase-file`) each
/// time SIGUSR1 comes; a change that fails is printed as a warning.
async fn change_passphrases(
    controls: runde_call::CallControls,
    next: Option<std::path::PathBuf>,
    json: bool,
) {
    #[cfg(unix)]
    {
        let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
        else {
            return;
        };
        while signal.recv().await.is_some() {
            let changed = match next.as_deref() {
                Some(path) => match read_passphrase(path) {
                    Ok(passphrase) => controls.change_passphrase(passphrase).await,
                    Err(e) => Err(e),
                },
                None => Err(UserError::E2eeUnavailable {
                    detail: "no --e2ee-next-passphrase-file was given".into(),
                }),
            };
            if let Err(error) = changed {
                print_event(json, &CallEvent::Warning { error });
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (controls, next, json);
}

/// A task that ends with its handle.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn report_failure(options: &Options, error: &UserError) -> ExitCode {
    match error {
        UserError::NewServer { review } => {
            eprintln!("Runde has not met this server before:");
            print_review(review);
            eprintln!("If this is the server you expect, join again with --accept-new-server.");
        }
        UserError::ServerNotTrusted { review } => {
            eprintln!("No authority your system trusts vouches for this server:");
            print_review(review);
            eprintln!(
                "Only if you checked the key with the operator: join again with --accept-new-server."
            );
        }
        UserError::ServerKeyChanged { review } => {
            eprintln!("The server presented a different key than the one you trusted:");
            print_review(review);
            eprintln!("Someone may be listening in. Ask the operator before trusting the new key.");
        }
        _ => {}
    }
    if options.json {
        let line = serde_json::json!({"event": "joinFailed", "error": error});
        println!("{line}");
    }
    fail(error)
}

fn print_event(json: bool, event: &CallEvent) {
    if json {
        match serde_json::to_string(event) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("error: cannot print an event: {e}"),
        }
        return;
    }
    let name = |id: &str| id.to_owned();
    match event {
        CallEvent::Joined { me, participants } => {
            println!("joined as {me}; {} others here", participants.len());
            for p in participants {
                println!("  {} ({})", p.name.as_deref().unwrap_or("(no name)"), p.id);
            }
        }
        CallEvent::ParticipantJoined { participant } => println!(
            "{} joined ({})",
            participant.name.as_deref().unwrap_or("(no name)"),
            participant.id
        ),
        CallEvent::ParticipantLeft { id } => println!("{} left", name(id)),
        CallEvent::TrackAdded { participant, kind } => {
            println!("{kind:?} from {participant} available");
        }
        CallEvent::TrackRemoved { participant, kind } => {
            println!("{kind:?} from {participant} gone");
        }
        CallEvent::MediaStarted {
            participant,
            kind,
            after_ms,
        } => println!("{kind:?} from {participant} playing, {after_ms} ms after joining started"),
        CallEvent::Speaking {
            participant,
            speaking,
        } => println!(
            "{participant} {}",
            if *speaking { "speaks" } else { "is quiet" }
        ),
        CallEvent::DeviceChanged {
            device,
            in_use,
            name,
            reason,
        } => match (in_use, reason) {
            (true, _) => println!("{device}: now {name}"),
            (false, reason) => println!(
                "{device} {name} stopped working ({}); the call goes on",
                reason.as_deref().unwrap_or("no reason given")
            ),
        },
        CallEvent::Connection { state } => println!("media connection: {state:?}"),
        CallEvent::Indicators {
            indicators,
            recording_change,
        } => println!(
            "{}recording: {:?} ({:?}) · encryption: {:?} · operator: {}",
            match recording_change {
                Some(runde_call::indicators::RecordingChange::Raised) => "(!) ",
                Some(runde_call::indicators::RecordingChange::Lowered) => "(-) ",
                None => "",
            },
            indicators.recording.state,
            indicators.recording.reason,
            indicators.encryption.state,
            indicators.operator.name.as_deref().unwrap_or("unknown")
        ),
        CallEvent::Quality {
            participant,
            quality,
            audio_lost_percent,
        } => {
            println!("{participant}: reception {quality:?} ({audio_lost_percent} % of sound lost)")
        }
        CallEvent::Sending { microphone, camera } => {
            println!("sending: microphone {microphone:?} · camera {camera:?}");
        }
        CallEvent::Decryption {
            participant,
            decrypting,
            previous_key,
        } => println!(
            "{participant}: {}",
            match (decrypting, previous_key) {
                (true, false) => "decrypting with the call key",
                (true, true) => "decrypting only with the previous passphrase's key",
                (false, _) => "cannot decrypt",
            }
        ),
        CallEvent::EndToEnd {
            safety_code,
            generation,
        } => {
            let changed = if *generation > 0 {
                " (new passphrase)"
            } else {
                ""
            };
            println!(
                "end-to-end encrypted{changed}; safety code {safety_code} (compare it with the others)"
            );
        }
        CallEvent::NewPassphraseAdvised { left } => println!(
            "{left} left and knows the passphrase: agree on a new one to keep them out of the rest of the call"
        ),
        CallEvent::PushToTalk { keys } => println!("push to talk: hold {keys}"),
        CallEvent::Reconnecting {
            attempt, since_ms, ..
        } => println!(
            "connection to the server lost {:.1} s ago; rejoining (attempt {attempt})",
            *since_ms as f64 / 1000.0
        ),
        CallEvent::Rejoined {
            after_ms, attempts, ..
        } => println!(
            "back in the call after {:.1} s ({attempts} attempts)",
            *after_ms as f64 / 1000.0
        ),
        CallEvent::Warning { error } => println!("warning: {error}"),
        CallEvent::Ended { reason } => println!("call ended: {reason:?}"),
    }
}

/// `policy [--policy-file <path>]...`: what the administrator's policy enforces.
pub fn policy(args: &[&str]) -> ExitCode {
    let mut extra = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match (*arg, args.next()) {
            ("--policy-file", Some(path)) => extra.push(PathBuf::from(path)),
            _ => {
                eprintln!("usage: runde-cli policy [--policy-file <path>]...");
                return ExitCode::from(2);
            }
        }
    }
    match runde_call::admin_policy(&extra) {
        Ok(report) => {
            if report.sources.is_empty() {
                println!("no administrator's policy applies ({})", report.system_path);
                return ExitCode::SUCCESS;
            }
            println!("policy from: {}", report.sources.join(", "));
            println!(
                "only preset servers:         {}",
                report.only_preset_servers
            );
            println!(
                "passwords may be remembered: {}",
                !report.forbid_remembering_passwords
            );
            println!("settings locked:             {}", report.lock_settings);
            println!("update checks allowed:       {}", !report.forbid_updates);
            if let Some(source) = &report.update_source {
                println!("update source:               {source}");
            }
            for server in &report.servers {
                println!("preset: {server}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}
