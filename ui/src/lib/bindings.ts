// Generated from the Rust types in src-tauri by `cargo xtask bindings`. Do not edit by hand.
import { Channel, invoke } from "@tauri-apps/api/core";
export { Channel };

/** A failure of the bridge itself (not an error the engine reported). */
export type BridgeFailure = { code: "BridgeFailure"; detail: string };

/** What a command returns: its value, or an error the UI shows by its code. */
export type CommandResult<T> = { ok: true; value: T } | { ok: false; error: UserError | BridgeFailure };

async function call<T>(name: string, args: Record<string, unknown>): Promise<CommandResult<T>> {
  try {
    return { ok: true, value: await invoke<T>(name, args) };
  } catch (e) {
    if (typeof e === "object" && e !== null && "code" in e) {
      return { ok: false, error: e as UserError };
    }
    return { ok: false, error: { code: "BridgeFailure", detail: String(e) } };
  }
}

export type LinkReport = { 
/**
 * The server as people recognise it: host, and port when not the default.
 */
server: string, 
/**
 * The signalling endpoint Runde would connect to.
 */
endpoint: string, 
/**
 * The room the link names, if it names one.
 */
room: string | null, 
/**
 * Whether the connection to the server is TLS-protected. False only for loopback servers.
 */
tls: boolean, 
/**
 * What this computer knows about the server (trusted, blocked …); `None` when not looked up.
 */
known: KnownServer | null, };

export type SelfDeclaredOperator = { 
/**
 * The operator's name.
 */
name: string, 
/**
 * The legal entity responsible.
 */
legalEntity: string | null, 
/**
 * Country of establishment.
 */
country: string | null, 
/**
 * How to reach them.
 */
contact: string | null, 
/**
 * Privacy policy.
 */
privacyPolicyUrl: string | null, 
/**
 * Data-processing agreement.
 */
dataProcessingAgreementUrl: string | null, 
/**
 * Their recording policy, in their words.
 */
recordingPolicy: string | null, 
/**
 * How long connection logs are kept, in days.
 */
logRetentionDays: number | null, };

export type ServerReview = { 
/**
 * Scheme, host and port.
 */
origin: string, 
/**
 * Who the certificate is for.
 */
subject: string, 
/**
 * Who signed it.
 */
issuer: string, 
/**
 * The organisation in the certificate, if any (vouched for by the issuer only when
 * `trusted_by_system`).
 */
organisation: string | null, 
/**
 * Valid from (seconds since 1970, UTC).
 */
notBefore: number, 
/**
 * Valid until (seconds since 1970, UTC).
 */
notAfter: number, 
/**
 * SHA-256 of the server's public key (base64): what gets pinned.
 */
keySha256: string, 
/**
 * Whether an authority the system trusts vouches for the certificate.
 */
trustedBySystem: boolean, 
/**
 * What the server says about its operator (self-declared), if it publishes a statement.
 */
operatorStatement: SelfDeclaredOperator | null, };

export type UserError = { "code": "LinkEmpty" } | { "code": "LinkTooLong" } | { "code": "NotALink" } | { "code": "UnsupportedScheme", 
/**
 * The scheme that was given.
 */
scheme: string, } | { "code": "LinkMissingServer" } | { "code": "InsecureTransport" } | { "code": "PasswordInLink", 
/**
 * The link with the secret removed.
 */
withoutSecret: string, } | { "code": "InvalidRoom" } | { "code": "LinkWithoutRoom" } | { "code": "ServerUnreachable", 
/**
 * What went wrong, for the details view.
 */
detail: string, } | { "code": "TlsFailed", 
/**
 * What went wrong.
 */
detail: string, } | { "code": "NotAConferenceServer", 
/**
 * What it did instead.
 */
detail: string, } | { "code": "PasswordRequired" } | { "code": "WrongPassword" } | { "code": "RoomNotFound" } | { "code": "RoomFull" } | { "code": "JoinRefused", 
/**
 * The server's words and code.
 */
detail: string, } | { "code": "ServerLost", 
/**
 * What happened.
 */
detail: string, } | { "code": "ProtocolError", 
/**
 * What was unexpected.
 */
detail: string, } | { "code": "ServerBlocked", 
/**
 * Scheme, host and port.
 */
origin: string, } | { "code": "NewServer", 
/**
 * What to show.
 */
review: ServerReview, } | { "code": "ServerKeyChanged", 
/**
 * The certificate it presented now.
 */
review: ServerReview, } | { "code": "ServerNotTrusted", 
/**
 * What it presented, for a review.
 */
review: ServerReview, } | { "code": "NotAllowedByPolicy", 
/**
 * Scheme, host and port.
 */
origin: string, } | { "code": "PolicyUnreadable", 
/**
 * Which file and what is wrong.
 */
detail: string, } | { "code": "PasswordNotRemembered", 
/**
 * Why.
 */
detail: string, } | { "code": "SettingsFailed", 
/**
 * What went wrong.
 */
detail: string, } | { "code": "SettingsLocked" } | { "code": "AlreadyInCall" } | { "code": "E2eeRequired" } | { "code": "E2eeUnavailable", 
/**
 * Why.
 */
detail: string, } | { "code": "ShortcutUnavailable", 
/**
 * Why.
 */
detail: string, } | { "code": "TrustStoreFailed", 
/**
 * What went wrong.
 */
detail: string, } | { "code": "MediaFailed", 
/**
 * What went wrong.
 */
detail: string, } | { "code": "MediaPathLost", 
/**
 * What broke.
 */
detail: string, } | { "code": "MediaBlocked", 
/**
 * What was tried.
 */
detail: string, };

export type JoinRequest = { 
/**
 * The link as pasted.
 */
link: string, 
/**
 * The room password, if the user typed one.
 */
password: string | null, 
/**
 * The name others see.
 */
displayName: string, 
/**
 * The user reviewed this server at first contact and trusts it: pin its key.
 */
acceptNewServer: boolean, 
/**
 * Remember the password in the system keyring once the server accepted it.
 */
rememberPassword: boolean, 
/**
 * Send our microphone.
 */
microphone: boolean, 
/**
 * Send our camera.
 */
camera: boolean, 
/**
 * End-to-end encrypt the call with the key from this passphrase (not the room password;
 * empty or absent: no end-to-end encryption).
 */
e2eePassphrase: string | null, };

export type CallEvent = { "event": "joined", 
/**
 * Our own id.
 */
me: string, 
/**
 * Everyone else.
 */
participants: Array<ParticipantInfo>, } | { "event": "participantJoined", 
/**
 * Who.
 */
participant: ParticipantInfo, } | { "event": "participantLeft", 
/**
 * Their id.
 */
id: string, } | { "event": "trackAdded", 
/**
 * Whose.
 */
participant: string, 
/**
 * Which kind.
 */
kind: TrackKind, } | { "event": "trackRemoved", 
/**
 * Whose.
 */
participant: string, 
/**
 * Which kind.
 */
kind: TrackKind, } | { "event": "mediaStarted", 
/**
 * Whose.
 */
participant: string, 
/**
 * Which kind.
 */
kind: TrackKind, 
/**
 * Milliseconds since the join started.
 */
afterMs: number, } | { "event": "speaking", 
/**
 * Who.
 */
participant: string, 
/**
 * Talking now.
 */
speaking: boolean, } | { "event": "indicators", 
/**
 * All three, as they are now.
 */
indicators: Indicators, 
/**
 * Set when the recording state changed (not only its reason): the UI announces it
 * visibly and to screen readers; the engine has already played the sound cue.
 */
recordingChange: RecordingChange | null, } | { "event": "decryption", 
/**
 * Whose media.
 */
participant: string, 
/**
 * Decrypting now.
 */
decrypting: boolean, 
/**
 * Only with the key before the last passphrase change: they have not switched yet.
 */
previousKey: boolean, } | { "event": "quality", 
/**
 * Whose media.
 */
participant: string, 
/**
 * How well it arrives now.
 */
quality: Quality, 
/**
 * The share of their sound lost or late in the last window, in percent.
 */
audioLostPercent: number, } | { "event": "connection", 
/**
 * The state now.
 */
state: ConnectionState, } | { "event": "deviceChanged", 
/**
 * "microphone", "speaker" or "camera".
 */
device: string, 
/**
 * Now in use (`true`) or lost (`false`).
 */
inUse: boolean, 
/**
 * The device's name.
 */
name: string, 
/**
 * Why it was lost, in the system's words.
 */
reason: string | null, } | { "event": "sending", 
/**
 * Our microphone.
 */
microphone: SendState, 
/**
 * Our camera (or other picture source).
 */
camera: SendState, } | { "event": "endToEnd", 
/**
 * 20 digits in four groups of five.
 */
safetyCode: string, 
/**
 * How many times the passphrase was changed in this call.
 */
generation: number, } | { "event": "newPassphraseAdvised", 
/**
 * Who left, by display name.
 */
left: string, } | { "event": "pushToTalk", 
/**
 * The key combination, as set.
 */
keys: string, } | { "event": "reconnecting", 
/**
 * Which attempt this is (1: the first, made at once).
 */
attempt: number, 
/**
 * Milliseconds since the connection was lost.
 */
sinceMs: number, 
/**
 * Why the connection is gone (or why the last attempt failed).
 */
error: UserError, } | { "event": "rejoined", 
/**
 * Our new id.
 */
me: string, 
/**
 * Milliseconds from the loss to being back in the room.
 */
afterMs: number, 
/**
 * How many attempts it took.
 */
attempts: number, } | { "event": "warning", 
/**
 * What.
 */
error: UserError, } | { "event": "ended", 
/**
 * Why.
 */
reason: EndReason, };

export type ParticipantInfo = { 
/**
 * The server's id for them.
 */
id: string, 
/**
 * The name they chose, if any.
 */
name: string | null, 
/**
 * Whether they send media.
 */
publishing: boolean, };

export type TrackKind = "audio" | "video";

export type ConnectionState = "connecting" | "connected" | "interrupted" | "failed" | "reconnecting";

export type EndReason = { "kind": "left" } | { "kind": "kicked" } | { "kind": "roomClosed" } | { "kind": "lost", 
/**
 * What happened.
 */
error: UserError, };

export type Indicators = { 
/**
 * Whether anyone may be recording.
 */
recording: RecordingIndicator, 
/**
 * Who can see and hear the media.
 */
encryption: EncryptionIndicator, 
/**
 * Who runs the server.
 */
operator: OperatorIndicator, };

export type RecordingIndicator = { 
/**
 * The state.
 */
state: RecordingState, 
/**
 * Why.
 */
reason: RecordingReason, };

export type RecordingState = "active" | "roomSetToRecord" | "notAnnounced" | "off";

export type RecordingReason = "notYetKnown" | "roomRecordFlagOn" | "serverCannotTell" | "privateRoom" | "connectionLost";

export type RecordingChange = "raised" | "lowered";

export type EncryptionIndicator = { 
/**
 * The state.
 */
state: EncryptionState, 
/**
 * Why.
 */
reason: EncryptionReason, 
/**
 * In a mixed call, who: the participants whose media is not proven end to end (cannot be
 * decrypted, still on the previous key, or not arrived yet), by display name.
 */
notProven: Array<string>, };

export type EncryptionState = "transportOnly" | "mixed" | "endToEnd";

export type EncryptionReason = "serverDecryptsMedia" | "allStreamsOpenWithCallKey" | "someCannotBeDecrypted" | "notYetProven" | "someOnPreviousKey";

export type OperatorIndicator = { 
/**
 * How we know.
 */
source: OperatorSource, 
/**
 * The operator's name, when known.
 */
name: string | null, };

export type OperatorSource = "declaredByAdmin" | "declaredByUser" | "certificateOrganisation" | "selfDeclared" | "unknown";

export type VideoEndpoint = { 
/**
 * `ws://127.0.0.1:<port>/video/<key>`.
 */
url: string, };

export type TileStats = { 
/**
 * Whose tile ("self" for our own camera).
 */
participant: string, 
/**
 * Pictures playout handed over.
 */
shown: number, 
/**
 * Pictures replaced by newer ones before they could be sent.
 */
replaced: number, 
/**
 * Pictures sent to the page.
 */
sent: number, 
/**
 * Pictures the page drew.
 */
drawn: number, 
/**
 * Of the pictures drawn, those the next one overwrote before the screen refreshed: never
 * seen.
 */
skipped: number, 
/**
 * The last picture's size as received, before it was scaled to the tile (the simulcast
 * layer the server forwards); 0 × 0 before any.
 */
receivedWidth: number, 
/**
 * See `received_width`.
 */
receivedHeight: number, };

export type DeviceList = { 
/**
 * Microphones.
 */
microphones: Array<DeviceEntry>, 
/**
 * Speakers and headphones.
 */
speakers: Array<DeviceEntry>, 
/**
 * Cameras.
 */
cameras: Array<DeviceEntry>, 
/**
 * What could not be listed, in the system's words.
 */
problems: Array<string>, };

export type DeviceEntry = { 
/**
 * What to open it with.
 */
id: string, 
/**
 * Its name, to show.
 */
name: string, 
/**
 * The system's default of its kind.
 */
isDefault: boolean, };

export type SettingsView = { 
/**
 * The user's settings.
 */
settings: Settings, 
/**
 * The trusted-server list: the administrator's presets first, then the user's.
 */
servers: Array<ServerEntry>, 
/**
 * What the administrator's policy enforces.
 */
policy: PolicyReport, 
/**
 * The privacy choices are locked by the policy.
 */
privacyLocked: boolean, 
/**
 * Notes about the files.
 */
notes: Array<SettingsNote>, };

export type Settings = { 
/**
 * The app's language.
 */
language: LanguageChoice, 
/**
 * Devices.
 */
devices: DeviceChoice, 
/**
 * Privacy.
 */
privacy: PrivacyChoice, 
/**
 * The name to offer when joining (pseudonyms are fine); `None` asks every time.
 */
displayName: string | null, 
/**
 * Push to talk: while muted in a call, holding this key combination (e.g.
 * `"Control+Shift+Space"`) speaks, even when Runde's window is in the background. `None`
 * (the default): off, and no key is taken from other programs.
 */
pushToTalk: string | null, };

export type LanguageChoice = "system" | "english" | "german";

export type DeviceChoice = { 
/**
 * Microphone id.
 */
microphone: string | null, 
/**
 * Speaker id.
 */
speaker: string | null, 
/**
 * Camera id.
 */
camera: string | null, };

export type PrivacyChoice = { 
/**
 * Offer to remember room passwords (in the system keyring).
 */
rememberPasswords: boolean, 
/**
 * Keep a list of past calls.
 */
callHistory: boolean, 
/**
 * Join with the microphone on.
 */
microphoneOnJoin: boolean, 
/**
 * Join with the camera on.
 */
cameraOnJoin: boolean, 
/**
 * Look for a newer Runde (at each start and when asked): the only request Runde makes on
 * its own, so it is off until the user turns it on (and the administrator can forbid it).
 */
lookForUpdates: boolean, };

export type ServerEntry = { 
/**
 * What the user calls it.
 */
label: string, 
/**
 * Scheme, host and port.
 */
origin: string, 
/**
 * Server family, e.g. "janus".
 */
family: string, 
/**
 * Who runs it, as declared by the user or the administrator.
 */
operator: string | null, 
/**
 * Accepted key fingerprints (SHA-256 of the public key, base64).
 */
pins: Array<string>, 
/**
 * How it is treated.
 */
policy: ServerPolicy, 
/**
 * When it was added, seconds since 1970.
 */
addedAt: number, 
/**
 * Who added it.
 */
addedBy: ServerAddedBy, };

export type ServerPolicy = "trusted" | "ask" | "blocked";

export type ServerAddedBy = "userReview" | "user" | "admin";

export type SettingsNote = { "kind": "recovered", 
/**
 * Which file: "settings" or "servers".
 */
file: string, 
/**
 * Where the unreadable file is now.
 */
backup: string, 
/**
 * What was wrong.
 */
reason: string, } | { "kind": "newer", 
/**
 * The format version found.
 */
found: number, };

export type PolicyReport = { 
/**
 * Where the system policy is looked for.
 */
systemPath: string, 
/**
 * The files that apply.
 */
sources: Array<string>, 
/**
 * Only preset servers may be joined.
 */
onlyPresetServers: boolean, 
/**
 * Room passwords must not be remembered.
 */
forbidRememberingPasswords: boolean, 
/**
 * Settings cannot be changed.
 */
lockSettings: boolean, 
/**
 * Preset servers, as "label (origin)".
 */
servers: Array<string>, 
/**
 * Update checks are forbidden.
 */
forbidUpdates: boolean, 
/**
 * The administrator's mirror for updates, if any.
 */
updateSource: string | null, };

export type SendState = "unavailable" | "off" | "on";

export type KnownServer = { "state": "unknown" } | { "state": "trusted", 
/**
 * What the user (or the administrator) calls it.
 */
label: string, 
/**
 * The server family, e.g. "janus".
 */
family: string, 
/**
 * Who operates it, as declared by the user or the administrator.
 */
operator: string | null, 
/**
 * Set by the administrator's policy (the user cannot change it).
 */
byAdmin: boolean, } | { "state": "blocked" } | { "state": "notAllowed" };

export type Quality = "good" | "reduced" | "poor";

export type CheckRequest = { 
/**
 * Start with the microphone on.
 */
microphone: boolean, 
/**
 * Start with the camera on.
 */
camera: boolean, };

export type CheckAction = { "action": "microphone", on: boolean, } | { "action": "camera", on: boolean, } | { "action": "switch", device: DeviceKind, id: string | null, } | { "action": "testSound" } | { "action": "echo", on: boolean, };

export type DeviceKind = "microphone" | "speaker" | "camera";

export type CheckEvent = { "event": "level", 
/**
 * The level.
 */
microphone: number, } | { "event": "sending", 
/**
 * The microphone.
 */
microphone: SendState, 
/**
 * The camera.
 */
camera: SendState, } | { "event": "echo", 
/**
 * Its state now.
 */
state: EchoState, 
/**
 * The tile that shows the picture that came back ([`ECHO_VIEW`]).
 */
tile: string, } | { "event": "deviceChanged", 
/**
 * "microphone", "speaker" or "camera".
 */
device: string, 
/**
 * Now in use (`true`) or lost (`false`).
 */
inUse: boolean, 
/**
 * The device's name.
 */
name: string, 
/**
 * Why it was lost, in the system's words.
 */
reason: string | null, } | { "event": "warning", 
/**
 * What.
 */
error: UserError, };

export type EchoState = "off" | "starting" | "running" | "failed" | "unavailable";

export type UpdateState = { "state": "policyUnreadable", 
/**
 * Why.
 */
detail: string, } | { "state": "forbidden" } | { "state": "noSource" } | { "state": "off" } | { "state": "notChecked" } | { "state": "checking" } | { "state": "upToDate", 
/**
 * This Runde's version.
 */
current: string, } | { "state": "available", 
/**
 * The version offered.
 */
version: string, 
/**
 * This Runde's version.
 */
current: string, } | { "state": "downloading", 
/**
 * The version offered.
 */
version: string, } | { "state": "verifiedUsePackageManager", 
/**
 * The verified version.
 */
version: string, } | { "state": "installed", 
/**
 * The installed version.
 */
version: string, } | { "state": "failed", 
/**
 * Why.
 */
error: UpdateError, };

export type UpdateError = { "code": "Unreachable", 
/**
 * What happened.
 */
detail: string, } | { "code": "BadManifest", 
/**
 * What is wrong with it.
 */
detail: string, } | { "code": "NotForThisSystem" } | { "code": "BadSignature", 
/**
 * What the check said.
 */
detail: string, } | { "code": "InsecureSource" } | { "code": "InstallFailed", 
/**
 * What happened.
 */
detail: string, } | { "code": "NothingToDownload" };

/** Check a pasted link without contacting any server. */
export function checkLink(link: string): Promise<CommandResult<LinkReport>> {
  return call<LinkReport>("check_link", { link });
}

/** Join a room; the call's events arrive on `events`. */
export function join(request: JoinRequest, events: Channel<CallEvent>): Promise<CommandResult<null>> {
  return call<null>("join", { request, events });
}

/** Leave the call. */
export function leave(): Promise<CommandResult<null>> {
  return call<null>("leave", {  });
}

/** Mute or unmute our microphone. */
export function setMicrophoneMuted(muted: boolean): Promise<CommandResult<null>> {
  return call<null>("set_microphone_muted", { muted });
}

/** Turn our camera's picture off or on. */
export function setCameraOff(off: boolean): Promise<CommandResult<null>> {
  return call<null>("set_camera_off", { off });
}

/** Where the page gets video pictures. */
export function videoEndpoint(): Promise<CommandResult<VideoEndpoint>> {
  return call<VideoEndpoint>("video_endpoint", {  });
}

/** Decoded, sent and drawn pictures per tile. */
export function videoStats(): Promise<CommandResult<TileStats[]>> {
  return call<TileStats[]>("video_stats", {  });
}

/** The microphones, speakers and cameras there are now. */
export function devices(): Promise<CommandResult<DeviceList>> {
  return call<DeviceList>("devices", {  });
}

/** The settings screen: settings, trusted servers, the administrator's policy. */
export function settings(): Promise<CommandResult<SettingsView>> {
  return call<SettingsView>("settings", {  });
}

/** Save the user's settings. */
export function saveSettings(settings: Settings): Promise<CommandResult<SettingsView>> {
  return call<SettingsView>("save_settings", { settings });
}

/** Rename a trusted server or change how it is treated. */
export function changeServer(origin: string, label: string, policy: ServerPolicy): Promise<CommandResult<SettingsView>> {
  return call<SettingsView>("change_server", { origin, label, policy });
}

/** The link Runde was started with, once. */
export function startupLink(): Promise<CommandResult<string | null>> {
  return call<string | null>("startup_link", {  });
}

/** Remove a server from the list. */
export function forgetServer(origin: string): Promise<CommandResult<SettingsView>> {
  return call<SettingsView>("forget_server", { origin });
}

/** Start the check before a call; its events arrive on `events`. */
export function startCheck(request: CheckRequest, events: Channel<CheckEvent>): Promise<CommandResult<null>> {
  return call<null>("start_check", { request, events });
}

/** Change something in the running check. */
export function checkAction(action: CheckAction): Promise<CommandResult<null>> {
  return call<null>("check_action", { action });
}

/** End the check and close its devices. */
export function stopCheck(): Promise<CommandResult<null>> {
  return call<null>("stop_check", {  });
}

/** The text on the clipboard (read only when the user pastes a link). */
export function clipboardText(): Promise<CommandResult<string | null>> {
  return call<string | null>("clipboard_text", {  });
}

/** Use another microphone, speaker or camera in the call. */
export function switchDevice(device: DeviceKind, id: string | null): Promise<CommandResult<null>> {
  return call<null>("switch_device", { device, id });
}

/** Change the call's end-to-end passphrase (everyone still in the call agreed on a new one). */
export function changePassphrase(passphrase: string): Promise<CommandResult<null>> {
  return call<null>("change_passphrase", { passphrase });
}

/** What the settings screen shows about updates. */
export function updateStatus(): Promise<CommandResult<UpdateState>> {
  return call<UpdateState>("update_status", {  });
}

/** Look for a newer Runde now (only when the user and the policy allow it); each state also arrives on `events`. */
export function checkForUpdates(events: Channel<UpdateState>): Promise<CommandResult<UpdateState>> {
  return call<UpdateState>("check_for_updates", { events });
}

/** Download the version found, verify its signature, then install it or say to use the package manager. */
export function downloadUpdate(events: Channel<UpdateState>): Promise<CommandResult<UpdateState>> {
  return call<UpdateState>("download_update", { events });
}
