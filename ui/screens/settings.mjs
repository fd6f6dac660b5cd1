// The settings: trusted servers, the administrator's policy, locked privacy choices, notes about
// broken files, saving, and the language.
import assert from "node:assert/strict";
import { test, waitText } from "./harness.mjs";
import { servers, settings, settingsView } from "./fixtures.mjs";

async function openSettings(t, view, options = {}) {
  const app = await t.open({ ...options, answers: { settings: [{ value: view }], ...options.answers } });
  await app.id("open-settings").click();
  await app.id("settings").waitFor();
  await app.id("settings-save").waitFor();
  return app;
}

test("settings: the list of servers", async (t) => {
  const app = await openSettings(t, settingsView({ servers }));
  assert.equal(await app.id("server").count(), 3);
  const admin = app.page.locator('[data-testid="server"][data-added-by="admin"]');
  await waitText(admin, "set by your administrator");
  assert.equal(await admin.getByTestId("server-forget").count(), 0, "the administrator's server cannot be removed here");
  const blocked = app.page.locator('[data-testid="server"][data-policy="blocked"]');
  await waitText(blocked.getByTestId("server-policy"), "blocked");
  await waitText(blocked, "none: any key a trusted authority vouches for");
  await waitText(app.id("policy"), "No policy applies on this computer");
  await app.check("settings-servers", { focus: true });
  await blocked.getByTestId("server-unblock").click();
  assert.deepEqual(await app.invoked("change_server"), { origin: "wss://old.example:8443", label: "Old server", policy: "ask" });
});

test("settings: the administrator's policy enforced, privacy locked", async (t) => {
  const policy = {
    systemPath: "/etc/runde/policy.json",
    sources: ["/etc/runde/policy.json"],
    onlyPresetServers: true,
    forbidRememberingPasswords: true,
    lockSettings: true,
    servers: ["Beratung Nord (wss://meet.beratung-nord.example:443)"],
  };
  const app = await openSettings(t, settingsView({ servers, policy, privacyLocked: true }));
  await waitText(app.id("privacy-locked"), "Your administrator has fixed these choices.");
  for (const id of ["privacy-remember", "privacy-microphone", "privacy-camera"]) {
    assert.equal(await app.id(id).isDisabled(), true, `${id} is locked`);
  }
  const policyText = app.id("policy");
  await waitText(policyText, "From: /etc/runde/policy.json");
  await waitText(policyText, "Only the servers your administrator listed can be joined.");
  await waitText(policyText, "Room passwords are never remembered.");
  await waitText(policyText, "Trusted servers and privacy choices cannot be changed.");
  // Nothing to rename, block or forget while the policy locks the list.
  assert.equal(await app.id("server-label").count(), 0);
  assert.equal(await app.id("server-forget").count(), 0);
  await app.check("settings-policy-locked", { focus: true });
});

test("settings: notes about files that could not be read", async (t) => {
  const notes = [
    { kind: "recovered", file: "servers", backup: "servers.json.broken-1767225600", reason: "trailing comma at line 4" },
    { kind: "newer", found: 7 },
  ];
  const app = await openSettings(t, settingsView({ notes }));
  await waitText(app.page.locator('[data-testid="settings"] [data-kind="recovered"]'), "servers.json.broken-1767225600");
  await waitText(app.page.locator('[data-testid="settings"] [data-kind="newer"]'), "format 7");
  await waitText(app.page.locator("main"), "No servers yet.");
  await app.check("settings-broken-files");
});

test("settings: saving, and a failure to save said in words", async (t) => {
  const app = await openSettings(t, settingsView(), {
    answers: {
      save_settings: [{ error: { code: "SettingsFailed", detail: "disk full" } }, { value: settingsView() }],
    },
  });
  await app.id("settings-name").fill("Ada");
  await app.id("privacy-microphone").check();
  await app.id("settings-save").click();
  await waitText(app.id("settings-error"), "Runde cannot read or save your settings (disk full).");
  await app.check("settings-save-failed");
  await app.id("settings-save").click();
  await waitText(app.id("settings-saved"), "Saved.");
  const saved = (await app.invoked("save_settings", 2)).settings;
  assert.equal(saved.displayName, "Ada");
  assert.equal(saved.privacy.microphoneOnJoin, true);
  await app.id("settings-close").click();
  await app.id("link-input").waitFor();
});

test("settings: choosing German switches the whole window", async (t) => {
  const german = settingsView({ settings: { ...settings, language: "german" }, servers });
  const app = await openSettings(t, settingsView({ servers }), { answers: { save_settings: [{ value: german }] } });
  await app.id("language-german").check();
  await app.id("settings-save").click();
  assert.equal((await app.invoked("save_settings")).settings.language, "german");
  await waitText(app.page.getByRole("heading", { level: 1 }), "Einstellungen");
  assert.equal(await app.page.evaluate(() => document.documentElement.lang), "de");
  await app.check("de-settings", { focus: true });
});

test("settings: updates forbidden by the administrator", async (t) => {
  const policy = { ...settingsView().policy, sources: ["/etc/runde/policy.json"], forbidUpdates: true };
  const app = await openSettings(t, settingsView({ policy }), {
    answers: { update_status: [{ value: { state: "forbidden" } }] },
  });
  await waitText(app.id("update-state"), "Your administrator does not allow update checks.");
  assert.equal(await app.id("updates-switch").isDisabled(), true);
  assert.equal(await app.id("update-check").count(), 0);
  await waitText(app.id("policy"), "Runde does not look for updates.");
  await app.check("settings-updates-forbidden", { focus: true });
});

test("settings: updates on, a newer version found, a download that does not verify", async (t) => {
  const on = settingsView({ settings: { ...settings, privacy: { ...settings.privacy, lookForUpdates: true } } });
  const app = await openSettings(t, on, {
    answers: {
      update_status: [{ value: { state: "notChecked" } }],
      check_for_updates: [{ value: { state: "available", version: "0.2.0", current: "0.1.0" } }],
      download_update: [
        {
          value: {
            state: "failed",
            error: { code: "BadSignature", detail: "The signature was created with a different key than the one provided" },
          },
        },
      ],
    },
  });
  assert.equal(await app.id("updates-switch").isChecked(), true);
  await app.id("update-check").click();
  await waitText(app.id("update-state"), "Runde 0.2.0 is available (you have 0.1.0).");
  await app.check("settings-update-available", { focus: true });
  await app.id("update-download").click();
  await waitText(app.id("update-state"), "not signed with Runde’s release key");
  await app.check("settings-update-bad-signature");
});
