// Values of the engine's types that several component tests need: the settings as a fresh
// install has them (privacy by default: everything off).
import type { Settings, SettingsView } from "./bindings";

export function defaultSettings(): Settings {
  return {
    language: "system",
    devices: { microphone: null, speaker: null, camera: null },
    privacy: { rememberPasswords: false, callHistory: false, microphoneOnJoin: false, cameraOnJoin: false, lookForUpdates: false },
    displayName: null,
    pushToTalk: null,
  };
}

/** The settings screen's data with no servers, no policy and no notes. */
export function emptySettingsView(): SettingsView {
  return {
    settings: defaultSettings(),
    servers: [],
    policy: { systemPath: "", sources: [], onlyPresetServers: false, forbidRememberingPasswords: false, lockSettings: false, servers: [], forbidUpdates: false, updateSource: null },
    privacyLocked: false,
    notes: [],
  };
}
