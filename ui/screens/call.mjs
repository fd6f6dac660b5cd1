// The call: tiles in grid and speaker layout, pins, badges, the three indicators and their
// explanations, a recording change, statistics, shortcuts, the end.
import assert from "node:assert/strict";
import { test, waitText } from "./harness.mjs";
import { indicators } from "./fixtures.mjs";
import { joinCall, picturesDrawn } from "./flows.mjs";

/** A call with four others: Ada speaking, Grace on a weak connection, one without a name. */
async function busyCall(t, options) {
  const app = await t.open(options);
  await joinCall(app);
  await app.callEvents(
    { event: "speaking", participant: "2", speaking: true },
    { event: "quality", participant: "3", quality: "poor", audioLostPercent: 21 },
    { event: "trackRemoved", participant: "4", kind: "audio" },
  );
  // Our own picture and three others' come over the loopback video socket.
  await picturesDrawn(app, 4);
  return app;
}

test("call: grid with several participants, speaking, muted and weak-connection badges", async (t) => {
  const app = await busyCall(t);
  assert.equal(await app.id("tiles").getAttribute("data-layout"), "grid");
  assert.equal(await app.id("tile").count(), 4);
  const ada = app.page.locator('[data-testid="tile"][data-participant="2"]');
  assert.equal(await ada.getAttribute("data-speaking"), "true");
  // Said in words, not only by the coloured frame.
  await waitText(ada, "speaking");
  await waitText(app.page.locator('[data-testid="tile"][data-participant="4"]'), "microphone off");
  await waitText(app.id("tile-quality"), "Very weak connection");
  await waitText(app.id("tile-quality"), "21 % of their sound was lost");
  await waitText(app.page.locator('[data-testid="tile"][data-participant="5"]'), "Unnamed participant");
  await waitText(app.id("connection"), "Connected");
  await app.check("call-grid", { focus: true });
});

test("call: speaker layout, pinning an interpreter", async (t) => {
  const app = await busyCall(t);
  await app.id("layout-speaker").click();
  assert.equal(await app.id("layout-speaker").getAttribute("aria-pressed"), "true");
  assert.equal(await app.id("layout-grid").getAttribute("aria-pressed"), "false");
  // The last speaker is large.
  await app.page.locator('[data-testid="tile"][data-participant="2"].featured').waitFor();
  await app.check("call-speaker");
  const interpreter = app.page.locator('[data-testid="tile"][data-participant="4"]');
  await interpreter.getByTestId("pin").click();
  await app.page.locator('[data-testid="tile"][data-participant="4"].featured[data-pinned="true"]').waitFor();
  await waitText(interpreter, "pinned");
  assert.equal(await interpreter.getByTestId("pin").getAttribute("aria-pressed"), "true");
  // Pinned comes first.
  assert.equal(await app.id("tile").first().getAttribute("data-participant"), "4");
  assert.equal(await app.page.locator(".tile.featured").count(), 1);
  await app.check("call-speaker-pinned", { focus: true });
});

test("call: every indicator's explanation opens by keyboard", async (t) => {
  const app = await busyCall(t);
  const explained = [
    ["recording", "This server cannot tell whether anyone records."],
    ["encryption", "the server decrypts them to pass them on"],
    ["operator", "Self-declared by the server. Nobody has checked it."],
  ];
  for (const [which, words] of explained) {
    const chip = app.id(`indicator-${which}`).getByRole("button");
    await chip.focus();
    await app.page.keyboard.press("Enter");
    assert.equal(await chip.getAttribute("aria-expanded"), "true");
    await waitText(app.id(`explain-${which}`), words);
    await app.check(`call-explain-${which}`);
  }
  await app.page.keyboard.press("Enter");
  assert.equal(await app.id("explain-operator").count(), 0);
});

test("call: indicator states are told in words, not only by colour", async (t) => {
  const app = await busyCall(t);
  const recording = app.id("indicator-recording");
  const seen = new Set();
  for (const [state, reason, words] of [
    ["active", "roomRecordFlagOn", "Recording now"],
    ["roomSetToRecord", "roomRecordFlagOn", "Room records"],
    ["notAnnounced", "serverCannotTell", "Not announced"],
    ["off", "notYetKnown", "Not recorded"],
  ]) {
    await app.callEvents({ event: "indicators", indicators: { ...indicators, recording: { state, reason } }, recordingChange: null });
    await app.page.locator(`[data-testid="indicator-recording"][data-state="${state}"]`).waitFor();
    const text = (await recording.innerText()).trim();
    assert.ok(text.includes(words), `recording ${state} reads "${text}"`);
    seen.add(text);
  }
  assert.equal(seen.size, 4, "each recording state reads differently");
  for (const [state, words] of [["transportOnly", "To the server only"], ["mixed", "Partly end-to-end"], ["endToEnd", "End-to-end"]]) {
    await app.callEvents({
      event: "indicators",
      indicators: { ...indicators, encryption: { state, reason: "serverDecryptsMedia", notProven: [] } },
      recordingChange: null,
    });
    await app.page.locator(`[data-testid="indicator-encryption"][data-state="${state}"]`).waitFor();
    assert.ok((await app.id("indicator-encryption").innerText()).includes(words));
  }
  await app.callEvents({ event: "indicators", indicators: { ...indicators, operator: { source: "unknown", name: null } }, recordingChange: null });
  await waitText(app.id("indicator-operator"), "unknown");
  // Toggle buttons say their state in words too: the same words pressed and not pressed would
  // leave only the colour to tell.
  const toggles = [
    app.id("mute"),
    app.id("camera"),
    app.id("layout-speaker"),
    app.page.locator('[data-testid="tile"][data-participant="3"]').getByTestId("pin"),
  ];
  for (const button of toggles) {
    const before = { pressed: await button.getAttribute("aria-pressed"), text: (await button.innerText()).trim() };
    await button.click();
    await button.and(app.page.locator(`[aria-pressed="${before.pressed === "true" ? "false" : "true"}"]`)).waitFor();
    const text = (await button.innerText()).trim();
    assert.notEqual(text, before.text, `"${before.text}" reads the same pressed and not pressed`);
  }
});

test("call: a recording change is announced at once", async (t) => {
  const app = await busyCall(t);
  await app.callEvents({
    event: "indicators",
    indicators: { ...indicators, recording: { state: "roomSetToRecord", reason: "roomRecordFlagOn" } },
    recordingChange: "raised",
  });
  const announcement = app.id("recording-announcement");
  assert.equal(await announcement.getAttribute("role"), "alert");
  await waitText(announcement, "Attention: recording status is now “Room records”.");
  await app.check("call-recording-raised");
});

test("call: the statistics panel", async (t) => {
  const app = await busyCall(t);
  await app.id("stats-toggle").click();
  assert.equal(await app.id("stats-toggle").getAttribute("aria-expanded"), "true");
  const ada = app.page.locator('[data-testid="stats-row"][data-participant="2"]');
  await waitText(ada, "Ada Lovelace");
  await waitText(ada, "909");
  await app.check("call-stats", { focus: true });
});

test("call: end-to-end encrypted — safety code, advice after someone left, changing the passphrase", async (t) => {
  const app = await busyCall(t);
  await app.callEvents(
    { event: "endToEnd", safetyCode: "01234 56789 01234 56789", generation: 0 },
    {
      event: "indicators",
      indicators: { ...indicators, encryption: { state: "mixed", reason: "someCannotBeDecrypted", notProven: ["Grace"] } },
      recordingChange: null,
    },
    { event: "decryption", participant: "3", decrypting: false, previousKey: false },
    { event: "newPassphraseAdvised", left: "Mallory" },
  );
  await waitText(app.id("safety-code"), "01234 56789 01234 56789");
  await waitText(app.id("passphrase-advice"), "Mallory left and knows the passphrase");
  await waitText(app.id("tile-cannot-decrypt"), "cannot decrypt");
  await app.id("indicator-encryption").locator("button").click();
  await waitText(app.id("encryption-not-proven"), "Not proven end to end: Grace.");
  // The form opens by keyboard, its field is labelled, and it goes to the engine.
  await app.id("change-passphrase").focus();
  await app.page.keyboard.press("Enter");
  await app.id("new-passphrase").fill("Milch Zucker Loeffel Teller");
  await app.check("call-e2ee-change-passphrase", { focus: true });
  await app.id("apply-passphrase").click();
  await app.id("passphrase-form").waitFor({ state: "detached" });
  await app.callEvents(
    { event: "endToEnd", safetyCode: "98765 43210 98765 43210", generation: 1 },
    { event: "decryption", participant: "2", decrypting: true, previousKey: true },
  );
  await waitText(app.id("tile-previous-key"), "old passphrase");
  await waitText(app.id("safety-code"), "98765 43210 98765 43210");
  await app.check("call-e2ee-previous-key");
});

test("call: M mutes and V turns the camera off, by the keyboard", async (t) => {
  const app = await busyCall(t);
  await app.page.locator('[data-testid="mute"][aria-pressed="false"]').waitFor();
  await app.page.locator("body").press("m");
  assert.deepEqual(await app.invoked("set_microphone_muted"), { muted: true });
  await app.page.locator('[data-testid="mute"][aria-pressed="true"]').waitFor();
  await waitText(app.id("mute"), "Unmute");
  await app.page.keyboard.press("v");
  assert.deepEqual(await app.invoked("set_camera_off"), { off: true });
  await waitText(app.id("camera"), "Turn camera on");
  // Our own tile now says there is no picture.
  await waitText(app.id("tile-self"), "No video");
  await app.page.keyboard.press("M");
  assert.deepEqual(await app.invoked("set_microphone_muted", 2), { muted: false });
  await waitText(app.id("mute"), "Mute");
  await app.check("call-muted-camera-off");
});

test("call: a problem on the way, an interrupted connection, and the end", async (t) => {
  const app = await busyCall(t);
  await app.callEvents(
    { event: "warning", error: { code: "ShortcutUnavailable", detail: "F8 is taken" } },
    { event: "connection", state: "interrupted" },
  );
  await waitText(app.id("connection"), "Connection interrupted");
  await waitText(app.page.locator(".warning"), "The push-to-talk key cannot be used (F8 is taken)");
  await app.check("call-interrupted");
  await app.callEvents({ event: "ended", reason: { kind: "lost", error: { code: "ServerLost", detail: "no answer for 20 s" } } });
  const ended = app.id("call-ended");
  await waitText(ended, "The connection to the server was lost (no answer for 20 s).");
  await app.check("call-ended-lost", { focus: true });
  await app.id("back-home").click();
  await app.id("link-input").waitFor();
});

test("call: reconnecting after the server was lost, and back; then after the media connection broke", async (t) => {
  const app = await busyCall(t);
  await app.callEvents(
    { event: "connection", state: "reconnecting" },
    {
      event: "indicators",
      indicators: {
        recording: { state: "notAnnounced", reason: "connectionLost" },
        encryption: { state: "transportOnly", reason: "serverDecryptsMedia", notProven: [] },
        operator: { source: "selfDeclared", name: "Beratung Nord e.V." },
      },
      recordingChange: null,
    },
    { event: "reconnecting", attempt: 3, sinceMs: 1500, error: { code: "ServerLost", detail: "closed" } },
  );
  await waitText(app.id("connection"), "Reconnecting…");
  await waitText(app.id("reconnecting-detail"), "attempt 3");
  await app.check("call-reconnecting");
  await app.callEvents(
    { event: "rejoined", me: "9", afterMs: 3500, attempts: 4 },
    { event: "connection", state: "connected" },
  );
  await waitText(app.id("connection"), "Connected");
  assert.equal(await app.id("reconnecting-detail").count(), 0);
  // The network under the call changed: it is the connection for sound and picture that broke,
  // and the line says so rather than blaming the server.
  await app.callEvents(
    { event: "connection", state: "reconnecting" },
    {
      event: "reconnecting",
      attempt: 1,
      sinceMs: 0,
      error: { code: "MediaPathLost", detail: "this computer's address 192.0.2.7 went away" },
    },
  );
  await waitText(app.id("reconnecting-detail"), "sound and picture broke");
  assert.equal(await app.page.getByText("connection to the server was lost").count(), 0);
});

test("call: leaving", async (t) => {
  const app = await busyCall(t);
  await app.id("leave").click();
  await app.invoked("leave");
  await waitText(app.id("call-ended"), "You left the call.");
  await app.check("call-ended-left");
});

test("call (dark)", async (t) => {
  const app = await busyCall(t, { colorScheme: "dark" });
  await app.id("indicator-recording").getByRole("button").click();
  await app.check("call-grid-dark", { focus: true });
});

test("call (German): indicators, badges and an explanation", async (t) => {
  const app = await busyCall(t, { locale: "de-DE" });
  await waitText(app.id("indicator-recording"), "Nicht angekündigt");
  await waitText(app.page.locator('[data-testid="tile"][data-participant="2"]'), "spricht");
  await waitText(app.page.locator('[data-testid="tile"][data-participant="4"]'), "Mikrofon aus");
  await app.id("indicator-encryption").getByRole("button").click();
  await waitText(app.id("explain-encryption"), "Server");
  await app.check("de-call-grid", { focus: true });
  await app.callEvents({ event: "ended", reason: { kind: "kicked" } });
  await waitText(app.id("call-ended"), "Das Gespräch ist beendet");
  await app.check("de-call-ended");
});
