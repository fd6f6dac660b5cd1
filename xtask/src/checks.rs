//! Checks over the dependency graphs that no off-the-shelf tool does for us: the layering of our
//! own crates, a name-based ban on telemetry in both the Rust and the npm graphs, and the licenses
//! of the UI's npm packages.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::exec::{self, Result};

/// Which of our crates each crate may depend on (ARCHITECTURE.md, "Layers"). A crate that is not
/// listed here may depend on none of them; any other dependency on a `runde-*` crate fails.
const ALLOWED: &[(&str, &[&str])] = &[
    ("runde-media", &[]),
    ("runde-connect", &[]),
    ("runde-trust", &[]),
    ("runde-e2ee", &[]),
    (
        "runde-call",
        &["runde-media", "runde-connect", "runde-trust", "runde-e2ee"],
    ),
    ("runde-cli", &["runde-call"]),
    ("runde", &["runde-call"]),
    // The end-to-end tests drive the real binaries; they use the media crate's measuring tools
    // (correlation, frame stamps, WAV and Y4M readers) to judge what came out, and the end-to-end
    // crate to hand the call key to the browser peer, nothing else.
    ("runde-e2e", &["runde-media", "runde-e2ee"]),
    ("xtask", &[]),
];

/// Words that mark telemetry, crash reporting or analytics in a package name. Matched against the
/// name's parts (split at `-`, `_`, `/`, `@`), so `unicode-segmentation` does not match `segment`.
const BANNED_WORDS: &[&str] = &[
    "sentry",
    "bugsnag",
    "datadog",
    "dogstatsd",
    "posthog",
    "amplitude",
    "mixpanel",
    "rudderstack",
    "rudderanalytics",
    "firebase",
    "crashlytics",
    "aptabase",
    "telemetry",
    "analytics",
    "appcenter",
    "newrelic",
    "rollbar",
    "honeybadger",
    "raygun",
    "opentelemetry",
    "segment",
    "minidumper",
    "crashpad",
    "breakpad",
    "logrocket",
    "hotjar",
    "gtag",
    "smartlook",
    "heap",
];

/// The licenses the UI's npm packages may carry (any one branch of an `OR` must be all allowed).
const NPM_LICENSES: &[&str] = &[
    "MIT",
    "ISC",
    "Apache-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "0BSD",
    "MPL-2.0",
    "CC0-1.0",
    "BlueOak-1.0.0",
    "Python-2.0",
    "CC-BY-4.0",
    "Unlicense",
];

/// `cargo metadata` for the whole workspace, all targets and features.
fn metadata() -> Result<Value> {
    let out = exec::cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--all-features",
            "--locked",
        ])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))
}

/// Our crates may depend only on the crates their layer allows.
pub fn layers() -> Result<()> {
    let meta = metadata()?;
    let members: Vec<&Value> = meta["packages"]
        .as_array()
        .map(|p| p.iter().filter(|p| p["source"].is_null()).collect())
        .unwrap_or_default();
    let ours: Vec<&str> = members.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut problems = Vec::new();
    for package in &members {
        let name = package["name"].as_str().unwrap_or_default();
        let Some((_, allowed)) = ALLOWED.iter().find(|(n, _)| *n == name) else {
            problems.push(format!("{name} has no entry in xtask's layer table"));
            continue;
        };
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let dep = dep["name"].as_str().unwrap_or_default();
            if ours.contains(&dep) && !allowed.contains(&dep) {
                problems.push(format!("{name} must not depend on {dep}"));
            }
        }
    }
    report("layering", &problems)?;
    println!(
        "  {} crates, every dependency points the allowed way",
        members.len()
    );
    Ok(())
}

fn report(what: &str, problems: &[String]) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{what}:\n    {}", problems.join("\n    ")))
    }
}

/// The banned word a package name contains, if any.
pub fn banned_word(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split(['-', '_', '/', '@', '.']).collect();
    BANNED_WORDS
        .iter()
        .copied()
        .find(|word| parts.contains(word))
}

/// No package in either graph is named after telemetry, crash reporting or analytics.
pub fn no_telemetry() -> Result<()> {
    let meta = metadata()?;
    let mut names: Vec<String> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    let crates = names.len();
    let npm = npm_packages()?;
    names.extend(npm.keys().cloned());
    let problems: Vec<String> = names
        .iter()
        .filter_map(|n| banned_word(n).map(|w| format!("{n} (\"{w}\")")))
        .collect();
    report("telemetry, crash reporting or analytics package", &problems)?;
    println!(
        "  {crates} crates and {} npm packages, none of them telemetry",
        npm.len()
    );
    Ok(())
}

/// Every npm package in `ui/package-lock.json`, with its declared license.
fn npm_packages() -> Result<BTreeMap<String, String>> {
    let path = exec::root().join("ui/package-lock.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let lock: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = BTreeMap::new();
    for (key, pkg) in lock["packages"].as_object().into_iter().flatten() {
        let Some(name) = key
            .rsplit("node_modules/")
            .next()
            .filter(|_| !key.is_empty())
        else {
            continue;
        };
        let license = pkg["license"].as_str().unwrap_or("(none)").to_owned();
        out.insert(name.to_owned(), license);
    }
    Ok(out)
}

/// Whether an SPDX expression is satisfied by the allowed list (no nested parentheses in npm).
pub fn license_allowed(expr: &str, allowed: &[&str]) -> bool {
    let expr = expr.trim().trim_start_matches('(').trim_end_matches(')');
    expr.split(" OR ").any(|branch| {
        branch
            .split(" AND ")
            .map(|t| t.trim().trim_start_matches('(').trim_end_matches(')'))
            .all(|t| allowed.contains(&t))
    })
}

/// Every npm package carries an allowed license.
pub fn npm_licenses() -> Result<()> {
    let packages = npm_packages()?;
    let problems: Vec<String> = packages
        .iter()
        .filter(|(_, l)| !license_allowed(l, NPM_LICENSES))
        .map(|(n, l)| format!("{n}: {l}"))
        .collect();
    report(
        "npm package with a license not on the list in xtask/src/checks.rs",
        &problems,
    )?;
    println!("  {} npm packages, all licenses allowed", packages.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banned_words_match_name_parts_only() {
        assert_eq!(banned_word("sentry-core"), Some("sentry"));
        assert_eq!(banned_word("@sentry/browser"), Some("sentry"));
        assert_eq!(banned_word("posthog-js"), Some("posthog"));
        assert_eq!(banned_word("opentelemetry_sdk"), Some("opentelemetry"));
        assert_eq!(banned_word("@vercel/analytics"), Some("analytics"));
        assert_eq!(banned_word("unicode-segmentation"), None);
        assert_eq!(banned_word("tauri"), None);
        assert_eq!(banned_word("heapless"), None);
    }

    #[test]
    fn spdx_expressions() {
        let allowed = ["MIT", "Apache-2.0"];
        assert!(license_allowed("MIT", &allowed));
        assert!(license_allowed("(MIT OR GPL-3.0)", &allowed));
        assert!(license_allowed("Apache-2.0 AND MIT", &allowed));
        assert!(!license_allowed("GPL-3.0", &allowed));
        assert!(!license_allowed("MIT AND GPL-3.0", &allowed));
        assert!(!license_allowed("(none)", &allowed));
    }
}
