// What the engine answers in the screen tests: plausible values of the types in
// src/lib/bindings.ts. Names and servers are made up; nothing here points outside this machine
// (the example domains are never contacted: the page may only reach 127.0.0.1).

export const LINK = "https://meet.example.org/janus?room=1234";

export const report = {
  server: "meet.example.org",
  endpoint: "wss://meet.example.org/janus",
  room: "1234",
  tls: true,
  known: { state: "unknown" },
};

/** What a server presents at first contact (or with a changed key). */
export const review = {
  origin: "wss://meet.example.org:443",
  subject: "CN=meet.example.org",
  issuer: "CN=Example Test CA",
  organisation: null,
  notBefore: 1767225600,
  notAfter: 1798761600,
  keySha256: "q5Y0Hq3mV6VnZl0oJ8d0n1Yt3cQk9m3f6Q7xk1yq0vE=",
  trustedBySystem: false,
  operatorStatement: {
    name: "Beratung Nord e.V.",
    legalEntity: "Beratung Nord e.V., Amtsgericht Kiel VR 1234",
    country: "DE",
    contact: "datenschutz@beratung-nord.example",
    privacyPolicyUrl: "https://beratung-nord.example/datenschutz",
    dataProcessingAgreementUrl: null,
    recordingPolicy: "We never record.",
    logRetentionDays: 7,
  },
};

export const settings = {
  language: "system",
  devices: { microphone: null, speaker: null, camera: null },
  privacy: { rememberPasswords: true, callHistory: false, microphoneOnJoin: false, cameraOnJoin: false, lookForUpdates: false },
  displayName: null,
  pushToTalk: null,
};

export const noPolicy = {
  systemPath: "/etc/runde/policy.json",
  sources: [],
  onlyPresetServers: false,
  forbidRememberingPasswords: false,
  lockSettings: false,
  servers: [],
  forbidUpdates: false,
  updateSource: null,
};

export const servers = [
  {
    label: "Beratung Nord",
    origin: "wss://meet.beratung-nord.example:443",
    family: "janus",
    operator: "Beratung Nord e.V.",
    pins: ["AAAAq5Y0Hq3mV6VnZl0oJ8d0n1Yt3cQk9m3f6Q7xk1E="],
    policy: "trusted",
    addedAt: 0,
    addedBy: "admin",
  },
  {
    label: "Sportverein",
    origin: "wss://video.sportverein.example:443",
    family: "janus",
    operator: null,
    pins: ["BBBBq5Y0Hq3mV6VnZl0oJ8d0n1Yt3cQk9m3f6Q7xk1E="],
    policy: "trusted",
    addedAt: 1767225600,
    addedBy: "userReview",
  },
  {
    label: "Old server",
    origin: "wss://old.example:8443",
    family: "janus",
    operator: "Someone",
    pins: [],
    policy: "blocked",
    addedAt: 1735689600,
    addedBy: "user",
  },
];

/** The settings screen's data; `overrides` replaces whole fields. */
export function settingsView(overrides = {}) {
  return { settings, servers: [], policy: noPolicy, privacyLocked: false, notes: [], ...overrides };
}

export const deviceList = {
  microphones: [
    { id: "hw:0", name: "Built-in microphone", isDefault: true },
    { id: "usb-headset", name: "USB headset", isDefault: false },
  ],
  speakers: [{ id: "hw:0", name: "Built-in speakers", isDefault: true }],
  cameras: [{ id: "/dev/video0", name: "Integrated camera", isDefault: true }],
  problems: [],
};

export const people = [
  { id: "2", name: "Ada Lovelace", publishing: true },
  { id: "3", name: "Grace Hopper", publishing: true },
  { id: "4", name: "Dolmetscherin (DGS)", publishing: true },
  { id: "5", name: null, publishing: false },
];

export const indicators = {
  recording: { state: "notAnnounced", reason: "serverCannotTell" },
  encryption: { state: "transportOnly", reason: "serverDecryptsMedia", notProven: [] },
  operator: { source: "selfDeclared", name: "Beratung Nord e.V." },
};

/**
 * The answers every test starts from (see ipc-mock.mjs): a first start with no link, an engine
 * that checks links and lets the user in. Tests replace single commands.
 */
export function defaultAnswers(videoUrl) {
  const ok = (value = null) => [{ value }];
  return {
    startup_link: ok(null),
    settings: ok(settingsView()),
    devices: ok(deviceList),
    check_link: ok(report),
    join: ok(),
    leave: ok(),
    set_microphone_muted: ok(),
    set_camera_off: ok(),
    switch_device: ok(),
    change_passphrase: ok(),
    video_endpoint: ok({ url: videoUrl }),
    video_stats: ok([
      { participant: "2", shown: 912, replaced: 3, sent: 909, drawn: 909 },
      { participant: "3", shown: 450, replaced: 0, sent: 450, drawn: 449 },
    ]),
    save_settings: ok(settingsView()),
    change_server: ok(settingsView()),
    forget_server: ok(settingsView()),
    clipboard_text: ok(null),
    start_check: ok(),
    check_action: ok(),
    stop_check: ok(),
    update_status: ok({ state: "off" }),
    check_for_updates: ok({ state: "upToDate", current: "0.1.0" }),
    download_update: ok({ state: "failed", error: { code: "NothingToDownload" } }),
  };
}
