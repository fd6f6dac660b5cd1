// The call screen driven by engine events through the real Channel class; the IPC is the
// official test double. What it shows comes only from those events.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import Call from "./Call.svelte";
import { CallState } from "../lib/call.svelte";
import { i18n } from "../lib/i18n.svelte";
import { emptySettingsView } from "../lib/test-fixtures";
import type { Indicators } from "../lib/bindings";

const commands: string[] = [];
const calls: { cmd: string; args: unknown }[] = [];
beforeEach(() => {
  i18n.lang = "en";
  commands.length = 0;
  calls.length = 0;
  mockIPC((cmd, args) => {
    commands.push(cmd);
    calls.push({ cmd, args });
    if (cmd === "video_endpoint") return { url: "ws://127.0.0.1:9/video/test" };
    if (cmd === "video_stats") return [{ participant: "2", shown: 300, replaced: 2, sent: 298, drawn: 298 }];
    if (cmd === "devices")
      return { microphones: [{ id: "usb", name: "USB headset", isDefault: false }], speakers: [], cameras: [], problems: [] };
    if (cmd === "settings" || cmd === "save_settings") return emptySettingsView();
    return null;
  });
});
afterEach(() => {
  cleanup();
  clearMocks();
});

const recordingOn: Indicators = {
  recording: { state: "roomSetToRecord", reason: "roomRecordFlagOn" },
  encryption: { state: "transportOnly", reason: "serverDecryptsMedia", notProven: [] },
  operator: { source: "selfDeclared", name: "Beratung Nord e.V." },
};

describe("Call", () => {
  it("shows people, the indicators and announces a recording change", async () => {
    const call = new CallState(true, false);
    render(Call, { call, onclose: () => {} });
    call.handle({ event: "joined", me: "1", participants: [{ id: "2", name: "Ada", publishing: true }] });
    call.handle({ event: "speaking", participant: "2", speaking: true });
    call.handle({ event: "indicators", indicators: recordingOn, recordingChange: "raised" });
    await waitFor(() => expect(screen.getByTestId("tile-name").textContent).toBe("Ada"));
    expect(screen.getByTestId("tile").dataset.speaking).toBe("true");
    expect(screen.getByTestId("indicator-recording").dataset.state).toBe("roomSetToRecord");
    expect(screen.getByTestId("indicator-operator").textContent).toContain("Beratung Nord e.V.");
    const announcement = screen.getByTestId("recording-announcement");
    expect(announcement.getAttribute("role")).toBe("alert");
    expect(announcement.textContent).toContain("Room records");
    expect(announcement.dataset.change).toBe("raised");
  });

  it("says in words that it is reconnecting, in English and German", async () => {
    const call = new CallState(true, false);
    render(Call, { call, onclose: () => {} });
    call.handle({ event: "joined", me: "1", participants: [] });
    call.handle({ event: "connection", state: "reconnecting" });
    call.handle({ event: "reconnecting", attempt: 2, sinceMs: 600, error: { code: "ServerLost", detail: "closed" } });
    await waitFor(() => expect(screen.getByTestId("connection").textContent).toContain("Reconnecting…"));
    expect(screen.getByTestId("connection").dataset.state).toBe("reconnecting");
    expect(screen.getByTestId("reconnecting-detail").textContent).toContain("attempt 2");
    i18n.lang = "de";
    await waitFor(() =>
      expect(screen.getByTestId("connection").textContent).toContain("Verbindung wird wiederhergestellt…"),
    );
    call.handle({ event: "rejoined", me: "5", afterMs: 2100, attempts: 3 });
    call.handle({ event: "connection", state: "connected" });
    await waitFor(() => expect(screen.queryByTestId("reconnecting-detail")).toBeNull());
    expect(screen.getByTestId("connection").textContent).toContain("Verbunden");
  });

  it("asks the engine to mute and shows what the engine then sends; a missing camera cannot be turned on", async () => {
    const call = new CallState(true, false);
    render(Call, { call, onclose: () => {} });
    call.handle({ event: "sending", microphone: "on", camera: "unavailable" });
    const mute = screen.getByTestId("mute");
    await fireEvent.click(mute);
    await waitFor(() => expect(commands).toContain("set_microphone_muted"));
    // Nothing changes until the engine says so.
    expect(mute.getAttribute("aria-pressed")).toBe("false");
    call.handle({ event: "sending", microphone: "off", camera: "unavailable" });
    await waitFor(() => expect(mute.getAttribute("aria-pressed")).toBe("true"));
    expect((screen.getByTestId("camera") as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.click(screen.getByTestId("leave"));
    await waitFor(() => expect(commands).toContain("leave"));
  });

  it("turns on a camera that was off at the start (privacy by default)", async () => {
    const call = new CallState(false, false);
    render(Call, { call, onclose: () => {} });
    call.handle({ event: "sending", microphone: "off", camera: "off" });
    const camera = screen.getByTestId("camera") as HTMLButtonElement;
    await waitFor(() => expect(camera.disabled).toBe(false));
    expect(camera.getAttribute("aria-pressed")).toBe("true");
    await fireEvent.click(camera);
    await waitFor(() => expect(commands).toContain("set_camera_off"));
    // The camera could not be opened: the engine keeps it off and says why.
    call.handle({ event: "warning", error: { code: "MediaFailed", detail: "no such camera" } });
    expect(camera.getAttribute("aria-pressed")).toBe("true");
  });

  it("shows a weak connection on the participant's tile in words, with how much was lost", async () => {
    const call = new CallState(false, false);
    render(Call, { call, onclose: () => {} });
    call.handle({ event: "joined", me: "1", participants: [{ id: "2", name: "Ada", publishing: true }] });
    call.handle({ event: "quality", participant: "2", quality: "poor", audioLostPercent: 21 });
    const badge = await screen.findByTestId("tile-quality");
    expect(badge.dataset.quality).toBe("poor");
    expect(badge.textContent).toContain("Very weak connection");
    expect(badge.textContent).toContain("21 % of their sound was lost");
    call.handle({ event: "quality", participant: "2", quality: "good", audioLostPercent: 0 });
    await waitFor(() => expect(screen.queryByTestId("tile-quality")).toBeNull());
  });

  it("switches a device in the call, remembers it, and says when a device stops working", async () => {
    const call = new CallState(true, false);
    render(Call, { call, onclose: () => {} });
    await fireEvent.click(screen.getByTestId("devices"));
    const choose = (await screen.findByTestId("call-choose-microphone")) as HTMLSelectElement;
    await waitFor(() => expect(choose.options.length).toBe(2));
    choose.selectedIndex = 1;
    await fireEvent.change(choose);
    await waitFor(() => expect(commands).toContain("save_settings"));
    expect(calls.find((c) => c.cmd === "switch_device")?.args).toEqual({ device: "microphone", id: "usb" });
    call.handle({ event: "deviceChanged", device: "microphone", inUse: true, name: "usb", reason: null });
    expect((await screen.findByTestId("device-notice")).textContent).toContain("Microphone: now using usb.");
    call.handle({ event: "deviceChanged", device: "microphone", inUse: false, name: "usb", reason: "unplugged" });
    await waitFor(() => expect(screen.getByTestId("device-notice").dataset.inUse).toBe("false"));
    expect(screen.getByTestId("device-notice").textContent).toContain("stopped working: unplugged");
  });

  it("shows who cannot be decrypted, and the encryption indicator says why it is only partly end to end", async () => {
    const call = new CallState(false, false);
    render(Call, { call, onclose: () => {} });
    call.handle({ event: "joined", me: "1", participants: [{ id: "2", name: "Ada", publishing: true }] });
    call.handle({
      event: "indicators",
      indicators: {
        ...recordingOn,
        encryption: { state: "mixed", reason: "someCannotBeDecrypted", notProven: ["Ada"] },
      },
      recordingChange: null,
    });
    call.handle({ event: "decryption", participant: "2", decrypting: false, previousKey: false });
    const badge = await screen.findByTestId("tile-cannot-decrypt");
    expect(badge.textContent).toContain("cannot decrypt");
    expect(screen.getByTestId("indicator-encryption").dataset.state).toBe("mixed");
    // The indicator names who is not proven.
    await fireEvent.click(screen.getByTestId("indicator-encryption").querySelector("button")!);
    expect((await screen.findByTestId("encryption-not-proven")).textContent).toBe("Not proven end to end: Ada.");
    call.handle({ event: "decryption", participant: "2", decrypting: true, previousKey: false });
    await waitFor(() => expect(screen.queryByTestId("tile-cannot-decrypt")).toBeNull());
  });

  it("shows the safety code of an end-to-end encrypted call", async () => {
    const call = new CallState(false, false);
    render(Call, { call, onclose: () => {} });
    call.handle({ event: "endToEnd", safetyCode: "01234 56789 01234 56789", generation: 0 });
    const code = await screen.findByTestId("safety-code");
    expect(code.textContent).toContain("Safety code: 01234 56789 01234 56789");
    expect(code.textContent).toContain("the same code means the same key");
  });

  it("advises a new passphrase when someone leaves, changes it, and shows who is still on the old one", async () => {
    const call = new CallState(false, false);
    render(Call, { call, onclose: () => {} });
    call.handle({ event: "joined", me: "1", participants: [{ id: "2", name: "Ada", publishing: true }] });
    call.handle({ event: "endToEnd", safetyCode: "01234 56789 01234 56789", generation: 0 });
    call.handle({ event: "newPassphraseAdvised", left: "Mallory" });
    expect((await screen.findByTestId("passphrase-advice")).textContent).toContain("Mallory left and knows the passphrase");
    await fireEvent.click(screen.getByTestId("change-passphrase"));
    const field = (await screen.findByTestId("new-passphrase")) as HTMLInputElement;
    expect(field.type).toBe("password");
    expect((screen.getByTestId("apply-passphrase") as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.input(field, { target: { value: "Neue Kanne Neuer Kuchen" } });
    await fireEvent.submit(screen.getByTestId("passphrase-form"));
    await waitFor(() => expect(commands).toContain("change_passphrase"));
    expect(calls.find((c) => c.cmd === "change_passphrase")?.args).toEqual({ passphrase: "Neue Kanne Neuer Kuchen" });
    await waitFor(() => expect(screen.queryByTestId("passphrase-form")).toBeNull());
    // The engine confirms with the new code; the advice is done; Ada has not switched yet.
    call.handle({ event: "endToEnd", safetyCode: "98765 43210 98765 43210", generation: 1 });
    call.handle({ event: "decryption", participant: "2", decrypting: true, previousKey: true });
    await waitFor(() => expect(screen.getByTestId("safety-code").textContent).toContain("98765 43210 98765 43210"));
    expect(screen.getByTestId("passphrase-changed")).toBeTruthy();
    expect(screen.queryByTestId("passphrase-advice")).toBeNull();
    expect((await screen.findByTestId("tile-previous-key")).textContent).toContain("old passphrase");
    call.handle({ event: "decryption", participant: "2", decrypting: true, previousKey: false });
    await waitFor(() => expect(screen.queryByTestId("tile-previous-key")).toBeNull());
  });

  it("says why a new passphrase was not taken", async () => {
    clearMocks();
    mockIPC((cmd) => {
      if (cmd === "change_passphrase") throw { code: "E2eeUnavailable", detail: "the passphrase is too short (at least 12 characters)" };
      if (cmd === "video_endpoint") return { url: "ws://127.0.0.1:9/video/test" };
      if (cmd === "video_stats") return [];
      if (cmd === "settings") return emptySettingsView();
      return null;
    });
    const call = new CallState(false, false);
    render(Call, { call, onclose: () => {} });
    call.handle({ event: "endToEnd", safetyCode: "01234 56789 01234 56789", generation: 0 });
    await fireEvent.click(await screen.findByTestId("change-passphrase"));
    await fireEvent.input(await screen.findByTestId("new-passphrase"), { target: { value: "short" } });
    await fireEvent.submit(screen.getByTestId("passphrase-form"));
    expect((await screen.findByTestId("passphrase-error")).textContent).toContain("too short");
  });

  it("says why the call ended and goes back", async () => {
    const call = new CallState(false, false);
    let closed = false;
    render(Call, { call, onclose: () => (closed = true) });
    call.handle({ event: "ended", reason: { kind: "lost", error: { code: "ServerLost", detail: "closed" } } });
    const ended = await screen.findByTestId("call-ended");
    expect(ended.dataset.reason).toBe("lost");
    expect(ended.textContent).toContain("connection to the server was lost");
    await fireEvent.click(screen.getByTestId("back-home"));
    expect(closed).toBe(true);
    // The indicator bar stays visible even after the end.
    expect(screen.getByTestId("indicator-bar")).toBeTruthy();
  });

  it("shows pictures received and drawn per participant on request", async () => {
    const call = new CallState(false, false);
    render(Call, { call, onclose: () => {} });
    call.handle({ event: "joined", me: "1", participants: [{ id: "2", name: "Ada", publishing: true }] });
    await fireEvent.click(screen.getByTestId("stats-toggle"));
    const row = await screen.findByTestId("stats-row");
    expect(row.textContent).toContain("Ada");
    expect([...row.querySelectorAll("td")].map((c) => c.textContent)).toEqual(["300", "298", "2"]);
  });
});
