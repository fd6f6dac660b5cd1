//! The opt-in updater in the real app, against an update source on loopback that this test
//! runs, with releases signed by a key the test makes (Tauri's format: minisign).
//!
//! The app reads the test's source and key through its debug-build-only seam
//! (`RUNDE_DEBUG_UPDATE_ENDPOINT`, `RUNDE_DEBUG_UPDATE_PUBKEY`), and a policy file through
//! `RUNDE_DEBUG_POLICY_FILE`; release builds read neither.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use runde_e2e::desktop::DesktopApp;
use runde_e2e::process::wait_until;
use runde_e2e::update_server::UpdateServer;
use runde_e2e::webdriver::Session;
use runde_e2e::{Result, err};

type TestResult = Result<()>;

/// The version the test's source offers (the app is 0.1.0).
const OFFERED: &str = "0.2.0";
/// Where the manifest is.
const MANIFEST: &str = "/runde/latest.json";
/// Where the payload is.
const PAYLOAD: &str = "/runde/Runde_0.2.0.tar.gz";
/// Something only the payload contains, to look for on disk afterwards.
const MARKER: &[u8] = b"runde-update-payload-7f3c91";

/// A signing key made for this test; its secret half must never reach the app or its log.
struct TestKey {
    pair: minisign::KeyPair,
}

impl TestKey {
    fn new() -> Result<Self> {
        let pair = minisign::KeyPair::generate_unencrypted_keypair().map_err(|e| err("key", e))?;
        Ok(Self { pair })
    }

    /// The public key as Tauri's updater takes it: the base64 of the minisign key file.
    fn public(&self) -> Result<String> {
        let text = self
            .pair
            .pk
            .to_box()
            .map_err(|e| err("key", e))?
            .to_string();
        Ok(base64::engine::general_purpose::STANDARD.encode(text))
    }

    /// The secret key's text (to prove it never reaches the log).
    fn secret_text(&self) -> Result<String> {
        let text = self
            .pair
            .sk
            .to_box(None)
            .map_err(|e| err("key", e))?
            .to_string();
        // The key line itself, without the comment line.
        text.lines()
            .nth(1)
            .map(str::to_owned)
            .ok_or_else(|| err("key", "no key line"))
    }

    /// A signature of `data` as Tauri's updater takes it: the base64 of the `.sig` file.
    fn sign(&self, data: &[u8]) -> Result<String> {
        let signature = minisign::sign(
            Some(&self.pair.pk),
            &self.pair.sk,
            std::io::Cursor::new(data),
            Some("Runde 0.2.0 (test)"),
            None,
        )
        .map_err(|e| err("sign", e))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(signature.to_string()))
    }
}

fn payload() -> Vec<u8> {
    let mut data = MARKER.to_vec();
    data.extend((0..64 * 1024).map(|i| (i % 251) as u8));
    data
}

/// A `latest.json` offering `OFFERED` for every system, with `signature` for the payload.
fn manifest(server: &UpdateServer, signature: &str) -> String {
    manifest_at(&server.url(PAYLOAD), signature)
}

/// The same with the payload at `url`.
fn manifest_at(url: &str, signature: &str) -> String {
    let entry = serde_json::json!({ "url": url, "signature": signature });
    let platforms: serde_json::Map<String, serde_json::Value> = [
        "linux-x86_64",
        "linux-aarch64",
        "windows-x86_64",
        "windows-aarch64",
        "darwin-x86_64",
        "darwin-aarch64",
    ]
    .iter()
    .map(|p| ((*p).to_owned(), entry.clone()))
    .collect();
    serde_json::json!({
        "version": OFFERED,
        "notes": "A test release.",
        "pub_date": "2026-12-01T00:00:00Z",
        "platforms": platforms,
    })
    .to_string()
}

fn launch(
    test: &str,
    server: &UpdateServer,
    key: &TestKey,
    policy: Option<&Path>,
    prepare: impl FnOnce(&Path) -> Result<()>,
) -> Result<DesktopApp> {
    launch_with(test, &server.url(MANIFEST), key, policy, &[], prepare)
}

/// Like [`launch`], with the build's update source at `endpoint` and more environment.
fn launch_with(
    test: &str,
    endpoint: &str,
    key: &TestKey,
    policy: Option<&Path>,
    more: &[(&str, &str)],
    prepare: impl FnOnce(&Path) -> Result<()>,
) -> Result<DesktopApp> {
    let public = key.public()?;
    let policy = policy.map(|p| p.display().to_string());
    let mut env = vec![
        ("RUNDE_DEBUG_UPDATE_ENDPOINT", endpoint),
        ("RUNDE_DEBUG_UPDATE_PUBKEY", public.as_str()),
    ];
    if let Some(policy) = &policy {
        env.push(("RUNDE_DEBUG_POLICY_FILE", policy.as_str()));
    }
    env.extend_from_slice(more);
    DesktopApp::launch_with_env(test, &[], &env, prepare)
}

/// Open the settings and wait until the update state Rust reports is `state`.
fn open_settings(s: &Session) -> Result<()> {
    s.click(&s.find("[data-testid=open-settings]")?)?;
    s.find("[data-testid=update-state]")?;
    Ok(())
}

/// Bring the updates section into the window, for a screenshot of it.
fn show_updates(s: &Session) -> Result<()> {
    s.execute(
        "document.querySelector('[data-testid=updates]').scrollIntoView({ block: 'center' })",
        serde_json::json!([]),
    )?;
    Ok(())
}

fn wait_state(s: &Session, state: &str, timeout: Duration) -> Result<()> {
    wait_until(&format!("the update state {state}"), timeout, || {
        let el = s.find("[data-testid=update-state]")?;
        Ok((s.attribute(&el, "data-state")?.as_deref() == Some(state)).then_some(()))
    })
}

/// Call the check command directly, as a page that skipped the UI's own rules would: the engine
/// must still refuse. Returns the state it answered with.
fn invoke_check(s: &Session) -> Result<serde_json::Value> {
    s.execute_async(
        r#"
        const done = arguments[arguments.length - 1];
        const t = window.__TAURI_INTERNALS__;
        const channel = "__CHANNEL__:" + t.transformCallback(() => {});
        t.invoke("check_for_updates", { events: channel }).then(
          (state) => done(state),
          (e) => done({ invokeFailed: String(e) }),
        );
        "#,
        serde_json::json!([]),
    )
}

fn write_settings(home: &Path, look_for_updates: bool) -> Result<()> {
    let folder = home.join("config/runde");
    std::fs::create_dir_all(&folder).map_err(|e| err("settings", e))?;
    let text = serde_json::json!({
        "version": 1,
        "settings": { "privacy": { "lookForUpdates": look_for_updates } },
    });
    std::fs::write(folder.join("settings.json"), text.to_string()).map_err(|e| err("settings", e))
}

/// Off by default: the settings say so, and even a direct call of the check command makes no
/// request. A policy that forbids updates wins over a user who turned them on: the switch is
/// disabled with the reason, and again not one request reaches the source.
#[test]
fn updates_are_off_by_default_and_a_forbidding_policy_sends_nothing() -> TestResult {
    let server = UpdateServer::start()?;
    let key = TestKey::new()?;
    server.put(MANIFEST, manifest(&server, &key.sign(&payload())?));
    server.put(PAYLOAD, payload());

    let app = launch("updates_off_by_default", &server, &key, None, |_| Ok(()))?;
    let s = &app.session;
    open_settings(s)?;
    wait_state(s, "off", Duration::from_secs(10))?;
    let switch = s.find("[data-testid=updates-switch]")?;
    assert_eq!(s.property(&switch, "checked")?, false);
    assert_eq!(s.count("[data-testid=update-check]")?, 0);
    assert_eq!(invoke_check(s)?["state"], "off");
    // Nor can the page reach the updater plugin itself, past the engine's rules.
    let outcome = s.invoke_refused("plugin:updater|check")?;
    assert!(outcome.is_none(), "not refused: {outcome:?}");
    show_updates(s)?;
    app.screenshot("updates-off")?;
    drop(app);
    assert_eq!(
        server.seen(),
        Vec::new(),
        "no request while updates are off"
    );

    let dir = runde_e2e::artifacts::dir("updates_forbidden_policy")?;
    let policy = dir.join("policy.json");
    std::fs::write(&policy, r#"{"version": 1, "updates": "forbidden"}"#)
        .map_err(|e| err("policy", e))?;
    let app = launch("updates_forbidden", &server, &key, Some(&policy), |home| {
        write_settings(home, true)
    })?;
    let s = &app.session;
    open_settings(s)?;
    wait_state(s, "forbidden", Duration::from_secs(10))?;
    let state = s.find("[data-testid=update-state]")?;
    assert!(
        s.text(&state)?
            .contains("Your administrator does not allow update checks."),
        "{}",
        s.text(&state)?
    );
    let switch = s.find("[data-testid=updates-switch]")?;
    assert_eq!(s.property(&switch, "disabled")?, true);
    assert_eq!(s.count("[data-testid=update-check]")?, 0);
    assert_eq!(invoke_check(s)?["state"], "forbidden");
    assert!(
        s.text(&s.find("[data-testid=policy]")?)?
            .contains("Runde does not look for updates.")
    );
    show_updates(s)?;
    app.screenshot("updates-forbidden")?;
    drop(app);
    assert_eq!(
        server.seen(),
        Vec::new(),
        "no request while the policy forbids updates"
    );
    Ok(())
}

/// Opted in, the app finds the newer version; a download whose signature does not verify (the
/// payload changed on the way, or signed with another key) is refused with a clear error and
/// nothing kept; a correctly signed one is verified, and this Runde (not an AppImage) is told
/// to update with the package manager. The secret key never reaches the log.
#[test]
fn an_opted_in_update_is_found_and_only_a_verified_download_is_accepted() -> TestResult {
    let server = UpdateServer::start()?;
    let key = TestKey::new()?;
    let other = TestKey::new()?;
    let genuine = payload();
    let mut tampered = genuine.clone();
    if let Some(byte) = tampered.last_mut() {
        *byte ^= 0x01;
    }
    server.put(MANIFEST, manifest(&server, &key.sign(&genuine)?));
    server.put(PAYLOAD, tampered);

    let app = launch("updates_verified", &server, &key, None, |_| Ok(()))?;
    let s = &app.session;
    open_settings(s)?;
    wait_state(s, "off", Duration::from_secs(10))?;
    s.click(&s.find("[data-testid=updates-switch]")?)?;
    wait_state(s, "notChecked", Duration::from_secs(10))?;
    let saved = std::fs::read_to_string(app.home().join("config/runde/settings.json"))
        .map_err(|e| err("settings", e))?;
    assert!(saved.contains("\"lookForUpdates\": true"), "{saved}");

    let check_and_download = |expect: &str| -> Result<String> {
        s.click(&s.find("[data-testid=update-check]")?)?;
        wait_state(s, "available", Duration::from_secs(30))?;
        let text = s.text(&s.find("[data-testid=update-state]")?)?;
        assert!(
            text.contains("Runde 0.2.0 is available (you have 0.1.0)."),
            "{text}"
        );
        s.click(&s.find("[data-testid=update-download]")?)?;
        wait_state(s, expect, Duration::from_secs(30))?;
        s.text(&s.find("[data-testid=update-state]")?)
    };

    // The payload was changed on the way.
    let text = check_and_download("failed")?;
    let state = s.find("[data-testid=update-state]")?;
    assert_eq!(
        s.attribute(&state, "data-code")?.as_deref(),
        Some("BadSignature")
    );
    assert!(
        text.contains("not signed with Runde’s release key"),
        "{text}"
    );
    assert!(text.contains("Nothing was installed or kept."), "{text}");
    show_updates(s)?;
    app.screenshot("update-tampered")?;

    // Signed, but with a key that is not Runde's.
    server.put(PAYLOAD, genuine.clone());
    server.put(MANIFEST, manifest(&server, &other.sign(&genuine)?));
    check_and_download("failed")?;
    let state = s.find("[data-testid=update-state]")?;
    assert_eq!(
        s.attribute(&state, "data-code")?.as_deref(),
        Some("BadSignature")
    );

    // Genuine.
    server.put(MANIFEST, manifest(&server, &key.sign(&genuine)?));
    let text = check_and_download("verifiedUsePackageManager")?;
    assert!(text.contains("Runde 0.2.0 is verified"), "{text}");
    assert!(text.contains("package manager"), "{text}");
    show_updates(s)?;
    app.screenshot("update-verified")?;

    // Exactly what was asked for, three times over, and nothing about the user in it.
    let seen = server.seen();
    let paths: Vec<&str> = seen.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, [MANIFEST, PAYLOAD].repeat(3), "{seen:#?}");
    for request in &seen {
        assert_eq!(request.method, "GET");
        let agent = request.headers.iter().find(|(n, _)| n == "user-agent");
        assert_eq!(agent.map(|(_, v)| v.as_str()), Some("Runde"), "{request:?}");
    }
    std::fs::write(
        app.artifacts.join("update-requests.txt"),
        format!("{seen:#?}"),
    )
    .map_err(|e| err("artifacts", e))?;

    let log = app.log()?;
    assert!(
        log.contains("looking for updates"),
        "app log not captured:\n{log}"
    );
    assert!(
        !log.contains(&key.secret_text()?),
        "the signing key reached the log"
    );
    assert!(
        !log.contains(&other.secret_text()?),
        "a signing key reached the log"
    );
    let home = app.home();
    drop(app);
    assert_eq!(
        files_containing(&home, MARKER)?,
        Vec::<String>::new(),
        "a download was kept"
    );
    Ok(())
}

/// Turned on, Runde looks once at start, by itself: the settings show the version found, and the
/// source saw exactly one request, for the manifest (nothing is downloaded unasked).
#[test]
fn an_opted_in_runde_looks_once_at_start() -> TestResult {
    let server = UpdateServer::start()?;
    let key = TestKey::new()?;
    server.put(MANIFEST, manifest(&server, &key.sign(&payload())?));
    server.put(PAYLOAD, payload());
    let app = launch("updates_at_start", &server, &key, None, |home| {
        write_settings(home, true)
    })?;
    let s = &app.session;
    open_settings(s)?;
    wait_state(s, "available", Duration::from_secs(30))?;
    let paths: Vec<String> = server.seen().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, [MANIFEST], "one request, for the manifest");
    Ok(())
}

/// An administrator's mirror, over HTTPS (nginx with a certificate from the test's own authority,
/// which the app trusts through `SSL_CERT_FILE`), replaces the build's source: every request goes
/// there and none to the build's own; the download is still checked against the build's key.
#[cfg(target_os = "linux")]
#[test]
fn an_administrators_mirror_over_https_is_used_with_the_builds_key() -> TestResult {
    use runde_e2e::tls_proxy::{TestCa, TlsProxy};
    let dir = runde_e2e::artifacts::dir("updates_mirror_setup")?;
    let mirror = UpdateServer::start()?;
    let build_source = UpdateServer::start()?;
    let ca = TestCa::new(&dir.join("ca"))?;
    let cert = ca.server("mirror", "Schule")?;
    let proxy = TlsProxy::start(&dir.join("nginx"), &cert, mirror.port())?;
    let https = |path: &str| format!("https://127.0.0.1:{}{path}", proxy.port());
    let key = TestKey::new()?;
    let genuine = payload();
    mirror.put(MANIFEST, manifest_at(&https(PAYLOAD), &key.sign(&genuine)?));
    mirror.put(PAYLOAD, genuine);
    let policy = dir.join("policy.json");
    let rule = serde_json::json!({ "version": 1, "updateSource": https(MANIFEST) });
    std::fs::write(&policy, rule.to_string()).map_err(|e| err("policy", e))?;

    let ca_file = ca.certificate().display().to_string();
    let app = launch_with(
        "updates_mirror",
        &build_source.url(MANIFEST),
        &key,
        Some(&policy),
        &[("SSL_CERT_FILE", ca_file.as_str())],
        |home| write_settings(home, true),
    )?;
    let s = &app.session;
    open_settings(s)?;
    // The check at start went to the mirror.
    wait_state(s, "available", Duration::from_secs(30))?;
    let policy_text = s.text(&s.find("[data-testid=policy]")?)?;
    assert!(policy_text.contains(&https(MANIFEST)), "{policy_text}");
    s.click(&s.find("[data-testid=update-download]")?)?;
    wait_state(s, "verifiedUsePackageManager", Duration::from_secs(30))?;
    show_updates(s)?;
    app.screenshot("update-from-mirror")?;
    let paths: Vec<String> = mirror.seen().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, [MANIFEST, PAYLOAD], "both through the mirror");
    assert_eq!(
        build_source.seen(),
        Vec::new(),
        "nothing to the build's own source"
    );
    Ok(())
}

/// Files under `dir` that contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).map_err(|e| err("walk", e))? {
            let path = entry.map_err(|e| err("walk", e))?.path();
            if path.is_dir() {
                folders.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                found.push(path.display().to_string());
            }
        }
    }
    Ok(found)
}
