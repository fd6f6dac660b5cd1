//! TypeScript bindings for the UI, generated from the Rust types and the command list.
//!
//! The test below renders `ui/src/lib/bindings.ts` and fails when the checked-in file differs, so a
//! change on either side cannot drift. Regenerate with `cargo xtask bindings`
//! (sets `RUNDE_BLESS_BINDINGS=1`).

use std::path::PathBuf;

use runde_call::PolicyReport;
use runde_call::devices::{DeviceEntry, DeviceList};
use runde_call::indicators::{
    EncryptionIndicator, EncryptionReason, EncryptionState, Indicators, OperatorIndicator,
    OperatorSource, RecordingChange, RecordingIndicator, RecordingReason, RecordingState,
};
use runde_call::settings::{
    DeviceChoice, LanguageChoice, PrivacyChoice, ServerAddedBy, ServerEntry, ServerPolicy,
    Settings, SettingsNote, SettingsView,
};
use runde_call::{
    CallEvent, ConnectionState, EndReason, LinkReport, ParticipantInfo, SelfDeclaredOperator,
    ServerReview, TrackKind, UserError,
};
use ts_rs::{Config, TS};

use crate::check_task::CheckAction;
use crate::commands::{CheckRequest, JoinRequest};
use crate::video_server::{TileStats, VideoEndpoint};
use runde_call::check::{CheckEvent, EchoState};
use runde_call::devices::DeviceKind;
use runde_call::quality::Quality;
use runde_call::updates::{UpdateError, UpdateState};
use runde_call::{KnownServer, SendState};

/// One command as the UI sees it.
struct CommandSig {
    /// The Rust name, as registered with Tauri.
    name: &'static str,
    /// Doc comment for the generated function.
    doc: &'static str,
    /// Argument names (camelCase, as Tauri expects them) and TypeScript types.
    args: Vec<(&'static str, String)>,
    /// TypeScript type of the success value.
    ok: String,
}

fn commands(cfg: &Config) -> Vec<CommandSig> {
    let unit = "null".to_owned();
    let boolean = bool::inline(cfg);
    vec![
        CommandSig {
            name: "check_link",
            doc: "Check a pasted link without contacting any server.",
            args: vec![("link", String::inline(cfg))],
            ok: LinkReport::name(cfg),
        },
        CommandSig {
            name: "join",
            doc: "Join a room; the call's events arrive on `events`.",
            args: vec![
                ("request", JoinRequest::name(cfg)),
                ("events", format!("Channel<{}>", CallEvent::name(cfg))),
            ],
            ok: unit.clone(),
        },
        CommandSig {
            name: "leave",
            doc: "Leave the call.",
            args: vec![],
            ok: unit.clone(),
        },
        CommandSig {
            name: "set_microphone_muted",
            doc: "Mute or unmute our microphone.",
            args: vec![("muted", boolean.clone())],
            ok: unit.clone(),
        },
        CommandSig {
            name: "set_camera_off",
            doc: "Turn our camera's picture off or on.",
            args: vec![("off", boolean)],
            ok: unit.clone(),
        },
        CommandSig {
            name: "video_endpoint",
            doc: "Where the page gets video pictures.",
            args: vec![],
            ok: VideoEndpoint::name(cfg),
        },
        CommandSig {
            name: "video_stats",
            doc: "Decoded, sent and drawn pictures per tile.",
            args: vec![],
            ok: format!("{}[]", TileStats::name(cfg)),
        },
        CommandSig {
            name: "devices",
            doc: "The microphones, speakers and cameras there are now.",
            args: vec![],
            ok: DeviceList::name(cfg),
        },
        CommandSig {
            name: "settings",
            doc: "The settings screen: settings, trusted servers, the administrator's policy.",
            args: vec![],
            ok: SettingsView::name(cfg),
        },
        CommandSig {
            name: "save_settings",
            doc: "Save the user's settings.",
            args: vec![("settings", Settings::name(cfg))],
            ok: SettingsView::name(cfg),
        },
        CommandSig {
            name: "change_server",
            doc: "Rename a trusted server or change how it is treated.",
            args: vec![
                ("origin", String::inline(cfg)),
                ("label", String::inline(cfg)),
                ("policy", ServerPolicy::name(cfg)),
            ],
            ok: SettingsView::name(cfg),
        },
        CommandSig {
            name: "startup_link",
            doc: "The link Runde was started with, once.",
            args: vec![],
            ok: "string | null".to_owned(),
        },
        CommandSig {
            name: "forget_server",
            doc: "Remove a server from the list.",
            args: vec![("origin", String::inline(cfg))],
            ok: SettingsView::name(cfg),
        },
        CommandSig {
            name: "start_check",
            doc: "Start the check before a call; its events arrive on `events`.",
            args: vec![
                ("request", CheckRequest::name(cfg)),
                ("events", format!("Channel<{}>", CheckEvent::name(cfg))),
            ],
            ok: unit.clone(),
        },
        CommandSig {
            name: "check_action",
            doc: "Change something in the running check.",
            args: vec![("action", CheckAction::name(cfg))],
            ok: unit.clone(),
        },
        CommandSig {
            name: "stop_check",
            doc: "End the check and close its devices.",
            args: vec![],
            ok: unit,
        },
        CommandSig {
            name: "clipboard_text",
            doc: "The text on the clipboard (read only when the user pastes a link).",
            args: vec![],
            ok: "string | null".to_owned(),
        },
        CommandSig {
            name: "switch_device",
            doc: "Use another microphone, speaker or camera in the call.",
            args: vec![
                ("device", DeviceKind::name(cfg)),
                ("id", "string | null".to_owned()),
            ],
            ok: "null".to_owned(),
        },
        CommandSig {
            name: "change_passphrase",
            doc: "Change the call's end-to-end passphrase (everyone still in the call agreed on a new one).",
            args: vec![("passphrase", "string".to_owned())],
            ok: "null".to_owned(),
        },
        CommandSig {
            name: "update_status",
            doc: "What the settings screen shows about updates.",
            args: vec![],
            ok: UpdateState::name(cfg),
        },
        CommandSig {
            name: "check_for_updates",
            doc: "Look for a newer Runde now (only when the user and the policy allow it); each state also arrives on `events`.",
            args: vec![("events", format!("Channel<{}>", UpdateState::name(cfg)))],
            ok: UpdateState::name(cfg),
        },
        CommandSig {
            name: "download_update",
            doc: "Download the version found, verify its signature, then install it or say to use the package manager.",
            args: vec![("events", format!("Channel<{}>", UpdateState::name(cfg)))],
            ok: UpdateState::name(cfg),
        },
    ]
}

fn declarations(cfg: &Config) -> Vec<String> {
    vec![
        LinkReport::decl(cfg),
        SelfDeclaredOperator::decl(cfg),
        ServerReview::decl(cfg),
        UserError::decl(cfg),
        JoinRequest::decl(cfg),
        CallEvent::decl(cfg),
        ParticipantInfo::decl(cfg),
        TrackKind::decl(cfg),
        ConnectionState::decl(cfg),
        EndReason::decl(cfg),
        Indicators::decl(cfg),
        RecordingIndicator::decl(cfg),
        RecordingState::decl(cfg),
        RecordingReason::decl(cfg),
        RecordingChange::decl(cfg),
        EncryptionIndicator::decl(cfg),
        EncryptionState::decl(cfg),
        EncryptionReason::decl(cfg),
        OperatorIndicator::decl(cfg),
        OperatorSource::decl(cfg),
        VideoEndpoint::decl(cfg),
        TileStats::decl(cfg),
        DeviceList::decl(cfg),
        DeviceEntry::decl(cfg),
        SettingsView::decl(cfg),
        Settings::decl(cfg),
        LanguageChoice::decl(cfg),
        DeviceChoice::decl(cfg),
        PrivacyChoice::decl(cfg),
        ServerEntry::decl(cfg),
        ServerPolicy::decl(cfg),
        ServerAddedBy::decl(cfg),
        SettingsNote::decl(cfg),
        PolicyReport::decl(cfg),
        SendState::decl(cfg),
        KnownServer::decl(cfg),
        Quality::decl(cfg),
        CheckRequest::decl(cfg),
        CheckAction::decl(cfg),
        DeviceKind::decl(cfg),
        CheckEvent::decl(cfg),
        EchoState::decl(cfg),
        UpdateState::decl(cfg),
        UpdateError::decl(cfg),
    ]
}

const HEADER: &str = "\
// Generated from the Rust types in src-tauri by `cargo xtask bindings`. Do not edit by hand.
import { Channel, invoke } from \"@tauri-apps/api/core\";\nexport { Channel };

/** A failure of the bridge itself (not an error the engine reported). */
export type BridgeFailure = { code: \"BridgeFailure\"; detail: string };

/** What a command returns: its value, or an error the UI shows by its code. */
export type CommandResult<T> = { ok: true; value: T } | { ok: false; error: UserError | BridgeFailure };

async function call<T>(name: string, args: Record<string, unknown>): Promise<CommandResult<T>> {
  try {
    return { ok: true, value: await invoke<T>(name, args) };
  } catch (e) {
    if (typeof e === \"object\" && e !== null && \"code\" in e) {
      return { ok: false, error: e as UserError };
    }
    return { ok: false, error: { code: \"BridgeFailure\", detail: String(e) } };
  }
}
";

fn camel_case(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        match c {
            '_' => upper = true,
            _ if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            _ => out.push(c),
        }
    }
    out
}

fn render_command(c: &CommandSig) -> String {
    let params: Vec<String> = c.args.iter().map(|(n, t)| format!("{n}: {t}")).collect();
    let names: Vec<&str> = c.args.iter().map(|(n, _)| *n).collect();
    format!(
        "\n/** {doc} */\nexport function {f}({params}): Promise<CommandResult<{ok}>> {{\n  \
         return call<{ok}>(\"{name}\", {{ {names} }});\n}}\n",
        doc = c.doc,
        f = camel_case(c.name),
        params = params.join(", "),
        ok = c.ok,
        name = c.name,
        names = names.join(", "),
    )
}

fn render() -> String {
    let cfg = Config::new();
    let mut out = String::from(HEADER);
    for decl in declarations(&cfg) {
        out.push_str(&format!("\nexport {decl}\n"));
    }
    for c in commands(&cfg) {
        out.push_str(&render_command(&c));
    }
    out
}

fn bindings_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/src/lib/bindings.ts")
}

#[test]
fn every_registered_command_has_a_binding() {
    let cfg = Config::new();
    let bound: Vec<&str> = commands(&cfg).iter().map(|c| c.name).collect();
    assert_eq!(bound, crate::COMMAND_NAMES);
}

#[test]
fn checked_in_bindings_are_current() -> std::io::Result<()> {
    let path = bindings_path();
    let fresh = render();
    if std::env::var_os("RUNDE_BLESS_BINDINGS").is_some() {
        return std::fs::write(&path, fresh);
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "{} is out of date: run `cargo xtask bindings`",
        path.display()
    );
    Ok(())
}
