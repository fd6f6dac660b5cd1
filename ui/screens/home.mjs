// The first screen: the link, its report, the join form, a server's first contact, errors.
import assert from "node:assert/strict";
import { test, waitText } from "./harness.mjs";
import { LINK, review, settingsView } from "./fixtures.mjs";
import { checkLink } from "./flows.mjs";

test("home: empty, in light and dark", async (t) => {
  const app = await t.open();
  await waitText(app.page.getByRole("heading", { level: 1 }), "Join a conversation");
  assert.equal(await app.page.evaluate(() => document.documentElement.lang), "en");
  await app.check("home-empty", { focus: true });
  const dark = await t.open({ colorScheme: "dark" });
  await dark.check("home-empty-dark", { focus: true });
});

test("home: a checked link shows what it says and the join form", async (t) => {
  const app = await t.open();
  await checkLink(app);
  assert.equal(await app.id("report-server").textContent(), "meet.example.org");
  assert.equal(await app.id("report-room").textContent(), "1234");
  assert.deepEqual((await app.calls()).find((c) => c.cmd === "check_link").args, { link: LINK });
  // Privacy by default: microphone and camera start off.
  assert.equal(await app.id("use-microphone").isChecked(), false);
  assert.equal(await app.id("use-camera").isChecked(), false);
  await app.check("home-link-checked", { focus: true });
});

test("home: a known server lets the user straight into the call", async (t) => {
  const app = await t.open();
  await checkLink(app);
  await app.id("name-input").fill("  Ada ");
  await app.id("join").click();
  await app.id("call").waitFor();
  const request = (await app.invoked("join")).request;
  assert.deepEqual(
    { ...request },
    {
      link: LINK,
      password: null,
      displayName: "Ada",
      acceptNewServer: false,
      rememberPassword: false,
      microphone: false,
      camera: false,
      e2eePassphrase: null,
    },
  );
});

test("home: first contact shows the certificate and the self-declared operator, trusts on request", async (t) => {
  const app = await t.open({ answers: { join: [{ error: { code: "NewServer", review } }, { value: null }] } });
  await checkLink(app);
  await app.id("join").click();
  const shown = app.id("review");
  await shown.waitFor();
  assert.equal(await shown.getAttribute("data-kind"), "NewServer");
  await waitText(shown, "Runde has not met this server before");
  assert.equal(await app.id("review-key").textContent(), review.keySha256);
  await waitText(app.id("review-self-declared"), "Self-declared");
  await waitText(app.id("review-statement"), "Beratung Nord e.V.");
  await waitText(shown, "CN=Example Test CA");
  await app.check("home-review-new-server", { focus: true });
  await app.id("review-trust").click();
  await app.id("call").waitFor();
  const joins = (await app.calls()).filter((c) => c.cmd === "join").map((c) => c.args.request.acceptNewServer);
  assert.deepEqual(joins, [false, true]);
});

test("home: a server whose key changed is blocked and cannot be trusted from here", async (t) => {
  const app = await t.open({ answers: { join: [{ error: { code: "ServerKeyChanged", review: { ...review, operatorStatement: null } } }] } });
  await checkLink(app);
  await app.id("join").click();
  const shown = app.id("review");
  await shown.waitFor();
  await waitText(shown, "This server’s key has changed — the call was blocked");
  await waitText(shown, "The server publishes no statement about its operator.");
  assert.equal(await app.id("review-trust").count(), 0);
  await app.check("home-review-key-changed", { focus: true });
  await app.id("review-cancel").click();
  await app.id("join-form").waitFor();
});

test("home: a server no authority vouches for asks for a review", async (t) => {
  const app = await t.open({ answers: { join: [{ error: { code: "ServerNotTrusted", review } }] } });
  await checkLink(app);
  await app.id("join").click();
  await waitText(app.id("review"), "No authority your computer trusts vouches for this server");
  await app.check("home-review-not-trusted");
});

test("home: a link that carried a password is refused, emptied, and offered without it", async (t) => {
  const clean = "https://meet.example.org/janus?room=1234";
  const app = await t.open({ answers: { check_link: [{ error: { code: "PasswordInLink", withoutSecret: clean } }, { value: null }] } });
  await checkLink(app, `${clean}&pin=4711`);
  const alert = app.id("link-error");
  assert.equal(await alert.getAttribute("role"), "alert");
  await waitText(alert, "Runde never takes passwords from links");
  assert.equal(await app.id("link-input").inputValue(), "");
  await app.check("home-password-in-link", { focus: true });
  await app.id("use-clean-link").click();
  assert.equal(await app.id("link-input").inputValue(), clean);
  assert.equal(await app.id("link-error").count(), 0);
});

test("home: a wrong password keeps the form, says so and puts the cursor back", async (t) => {
  const app = await t.open({ answers: { join: [{ error: { code: "WrongPassword" } }, { value: null }] } });
  await checkLink(app);
  await app.id("password-input").fill("wrong");
  await app.id("join").click();
  const alert = app.id("join-error");
  await waitText(alert, "The password was not accepted.");
  await waitText(alert, "Please check the password");
  assert.equal(await app.id("join-form").count(), 1);
  assert.equal(await app.id("password-input").getAttribute("aria-invalid"), "true");
  assert.equal(await app.page.evaluate(() => document.activeElement?.id), "password");
  await app.check("home-wrong-password");
  await app.page.keyboard.type("right");
  await app.page.keyboard.press("Enter");
  await app.id("call").waitFor();
  const passwords = (await app.calls()).filter((c) => c.cmd === "join").map((c) => c.args.request.password);
  assert.deepEqual(passwords, ["wrong", "right"]);
});

test("home: join errors are said in words and leave the form usable", async (t) => {
  const errors = [
    [{ code: "PasswordRequired" }, "This room needs a password."],
    [{ code: "RoomNotFound" }, "This room does not exist on the server."],
    [{ code: "RoomFull" }, "The room is full."],
    [{ code: "ServerUnreachable", detail: "connection refused" }, "The server cannot be reached."],
    [{ code: "ServerBlocked", origin: "wss://meet.example.org:443" }, "You blocked this server (wss://meet.example.org:443)."],
    [{ code: "NotAllowedByPolicy", origin: "wss://meet.example.org:443" }, "Your administrator’s policy does not allow this server"],
    [{ code: "TlsFailed", detail: "certificate expired" }, "A secure connection to the server could not be made"],
    ["command join not found", "Runde’s engine did not answer (command join not found)."],
  ];
  const app = await t.open({ answers: { join: errors.map(([error]) => ({ error })) } });
  await checkLink(app);
  for (const [error, words] of errors) {
    await app.id("join").click();
    const alert = app.id("join-error");
    await alert.and(app.page.locator(`[data-code="${error.code ?? "BridgeFailure"}"]`)).waitFor();
    await waitText(alert, words);
    await app.check(`home-join-error-${error.code ?? "BridgeFailure"}`);
  }
  assert.equal(await app.id("join").isEnabled(), true);
});

test("home: link errors", async (t) => {
  const app = await t.open({
    answers: {
      check_link: [{ error: { code: "NotALink" } }, { error: { code: "InsecureTransport" } }, { error: { code: "LinkWithoutRoom" } }],
    },
  });
  for (const [code, words] of [
    ["NotALink", "This is not a link."],
    ["InsecureTransport", "unencrypted connection to another computer"],
    ["LinkWithoutRoom", "names a server but no room"],
  ]) {
    await checkLink(app, "meet");
    await app.page.locator(`[data-testid="link-error"][data-code="${code}"]`).waitFor();
    await waitText(app.id("link-error"), words);
  }
  await app.check("home-link-error");
});

test("home: pasting with an empty clipboard says so; a link on it is checked", async (t) => {
  const app = await t.open({ answers: { clipboard_text: [{ value: null }, { value: LINK }] } });
  await app.id("paste-link").click();
  await waitText(app.id("paste-empty"), "The clipboard holds no text.");
  await app.check("home-paste-empty");
  await app.id("paste-link").click();
  await app.id("link-report").waitFor();
  assert.equal(await app.id("link-input").inputValue(), LINK);
});

test("home: a link Runde was started with is checked, not joined", async (t) => {
  const app = await t.open({ answers: { startup_link: [{ value: LINK }] } });
  await app.id("link-report").waitFor();
  assert.equal(await app.id("link-input").inputValue(), LINK);
  assert.ok(!(await app.calls()).some((c) => c.cmd === "join"));
});

test("home: the whole way into a call by keyboard alone", async (t) => {
  const app = await t.open();
  const { keyboard } = app.page;
  await keyboard.press("Tab"); // the settings
  await keyboard.press("Tab"); // the language
  await keyboard.press("Tab"); // the link
  assert.equal(await app.page.evaluate(() => document.activeElement?.id), "link");
  await keyboard.type(LINK);
  await keyboard.press("Enter");
  await app.id("join-form").waitFor();
  for (let i = 0; i < 5; i++) await keyboard.press("Tab"); // check, paste, password, e2ee, name
  assert.equal(await app.page.evaluate(() => document.activeElement?.id), "display-name");
  await keyboard.type("Ada");
  await keyboard.press("Tab");
  await keyboard.press("Space"); // the microphone
  assert.equal(await app.id("use-microphone").isChecked(), true);
  await keyboard.press("Enter");
  await app.id("call").waitFor();
  const request = (await app.invoked("join")).request;
  assert.equal(request.displayName, "Ada");
  assert.equal(request.microphone, true);
});

test("home: the check before a call", async (t) => {
  const app = await t.open();
  await app.id("open-check").click();
  await app.invoked("start_check");
  await app.checkEvents(
    { event: "sending", microphone: "on", camera: "on" },
    { event: "level", microphone: 0.42 },
    { event: "echo", state: "running", tile: "echo" },
  );
  await app.page.locator('[data-testid="level"][aria-valuenow="42"]').waitFor();
  await waitText(app.id("echo-state"), "Echo test running");
  await app.page.waitForFunction(() =>
    [...document.querySelectorAll(".previews canvas")].filter((c) => (c.drawnFrames ?? 0) > 0).length === 2,
  );
  await app.check("home-device-check", { focus: true });
  await app.id("close-check").click();
  await app.invoked("stop_check");
});

test("home: notes about settings files that could not be read, at start", async (t) => {
  const notes = [
    { kind: "recovered", file: "settings", backup: "settings.json.broken-1", reason: "expected value at line 1" },
    { kind: "newer", found: 3 },
  ];
  const app = await t.open({ answers: { settings: [{ value: settingsView({ notes }) }] } });
  await waitText(app.page.locator('[data-testid="settings-note"][data-kind="recovered"]'), "settings.json.broken-1");
  await waitText(app.page.locator('[data-testid="settings-note"][data-kind="newer"]'), "format 3");
  await app.check("home-settings-notes");
});

test("home (German): first contact and a wrong password", async (t) => {
  const app = await t.open({
    locale: "de-DE",
    answers: { join: [{ error: { code: "NewServer", review } }, { error: { code: "WrongPassword" } }] },
  });
  await waitText(app.page.getByRole("heading", { level: 1 }), "An einem Gespräch teilnehmen");
  assert.equal(await app.page.evaluate(() => document.documentElement.lang), "de");
  await app.check("de-home-empty", { focus: true });
  await checkLink(app);
  await app.id("join").click();
  await waitText(app.id("review-self-declared"), "Selbst");
  await app.check("de-home-review-new-server");
  await app.id("review-trust").click();
  await waitText(app.id("join-error"), "Das Passwort wurde nicht angenommen.");
  await app.check("de-home-wrong-password");
});
