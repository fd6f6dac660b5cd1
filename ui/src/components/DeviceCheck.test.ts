// The check before a call, driven by the engine's check events through the real Channel class.
// What it shows comes only from those events; the switches and buttons only ask.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import DeviceCheck from "./DeviceCheck.svelte";
import { i18n } from "../lib/i18n.svelte";
import { emptySettingsView } from "../lib/test-fixtures";
import type { Channel, CheckEvent, DeviceList, SettingsView } from "../lib/bindings";

const devices: DeviceList = {
  microphones: [{ id: "mic-a", name: "Headset microphone", isDefault: true }],
  speakers: [{ id: "spk-a", name: "Headphones", isDefault: true }],
  cameras: [],
  problems: [],
};

const view = emptySettingsView();

let calls: { cmd: string; args: Record<string, unknown> }[] = [];
let events: Channel<CheckEvent> | null = null;
const send = (event: CheckEvent) => events?.onmessage(event);

beforeEach(() => {
  i18n.lang = "en";
  calls = [];
  events = null;
  mockIPC((cmd, args) => {
    calls.push({ cmd, args: (args ?? {}) as Record<string, unknown> });
    if (cmd === "devices") return devices;
    if (cmd === "settings" || cmd === "save_settings") return view;
    if (cmd === "video_endpoint") return { url: "ws://127.0.0.1:9/video/test" };
    if (cmd === "start_check") events = (args as { events: Channel<CheckEvent> }).events;
    return null;
  });
});
afterEach(() => {
  cleanup();
  clearMocks();
});

describe("DeviceCheck", () => {
  it("starts with the microphone and camera off, shows the level only from the engine, and says when a device is missing", async () => {
    render(DeviceCheck, { microphone: false, camera: false });
    await waitFor(() => expect(events).not.toBeNull());
    const start = calls.find((c) => c.cmd === "start_check");
    expect(start?.args.request).toEqual({ microphone: false, camera: false });
    send({ event: "sending", microphone: "off", camera: "unavailable" });
    expect(await screen.findByTestId("no-camera")).toBeTruthy();
    const micOn = screen.getByTestId("check-microphone-on") as HTMLInputElement;
    const cameraOn = screen.getByTestId("check-camera-on") as HTMLInputElement;
    await waitFor(() => expect(micOn.disabled).toBe(false));
    expect(micOn.checked).toBe(false);
    expect(cameraOn.disabled).toBe(true);
    expect(screen.getByTestId("level").getAttribute("aria-valuetext")).toBe("The microphone is off.");

    await fireEvent.click(micOn);
    await waitFor(() => expect(calls.some((c) => c.cmd === "check_action")).toBe(true));
    expect(calls.find((c) => c.cmd === "check_action")?.args.action).toEqual({ action: "microphone", on: true });
    send({ event: "sending", microphone: "on", camera: "unavailable" });
    send({ event: "level", microphone: 0.83 });
    await waitFor(() => expect(screen.getByTestId("level").getAttribute("aria-valuenow")).toBe("83"));
    expect(micOn.checked).toBe(true);
  });

  it("runs the echo test and plays the test sound on request", async () => {
    render(DeviceCheck, { microphone: true, camera: false });
    await waitFor(() => expect(events).not.toBeNull());
    send({ event: "sending", microphone: "on", camera: "off" });
    const echo = screen.getByTestId("echo");
    await waitFor(() => expect((echo as HTMLButtonElement).disabled).toBe(false));
    await fireEvent.click(echo);
    await waitFor(() =>
      expect(calls.filter((c) => c.cmd === "check_action").map((c) => c.args.action)).toContainEqual({
        action: "echo",
        on: true,
      }),
    );
    // The button asked; only the engine's event says it runs.
    expect(screen.getByTestId("echo-state").dataset.state).toBe("off");
    send({ event: "echo", state: "running", tile: "0" });
    await waitFor(() => expect(screen.getByTestId("echo-state").dataset.state).toBe("running"));
    expect(echo.getAttribute("aria-pressed")).toBe("true");
    expect(screen.getByTestId("echo-state").textContent).toContain("you will hear yourself");
    await fireEvent.click(screen.getByTestId("test-sound"));
    await waitFor(() =>
      expect(calls.filter((c) => c.cmd === "check_action").map((c) => c.args.action)).toContainEqual({
        action: "testSound",
      }),
    );
  });

  it("switches a device and remembers the choice in the settings", async () => {
    render(DeviceCheck, {});
    await waitFor(() => expect(events).not.toBeNull());
    const choose = (await screen.findByTestId("choose-microphone")) as HTMLSelectElement;
    await fireEvent.change(choose, { target: { value: "mic-a" } });
    await waitFor(() => expect(calls.some((c) => c.cmd === "save_settings")).toBe(true));
    expect(calls.find((c) => c.cmd === "check_action")?.args.action).toEqual({
      action: "switch",
      device: "microphone",
      id: "mic-a",
    });
    const saved = calls.find((c) => c.cmd === "save_settings")?.args.settings as SettingsView["settings"];
    expect(saved.devices.microphone).toBe("mic-a");
  });

  it("explains a failure in words, in German too", async () => {
    i18n.lang = "de";
    render(DeviceCheck, {});
    await waitFor(() => expect(events).not.toBeNull());
    send({ event: "warning", error: { code: "MediaFailed", detail: "device busy" } });
    const error = await screen.findByTestId("check-error");
    expect(error.dataset.code).toBe("MediaFailed");
    expect(error.textContent).toContain("device busy");
    expect(screen.getByRole("heading", { level: 2 }).textContent).toBe("Mikrofon, Lautsprecher und Kamera prüfen");
  });
});
