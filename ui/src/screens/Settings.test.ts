import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import Settings from "./Settings.svelte";
import { i18n } from "../lib/i18n.svelte";
import { defaultSettings } from "../lib/test-fixtures";
import type { SettingsView, UpdateState } from "../lib/bindings";

function view(overrides: Partial<SettingsView> = {}): SettingsView {
  return {
    settings: defaultSettings(),
    servers: [
      {
        label: "Beratung",
        origin: "wss://meet.beratung.example:443",
        family: "janus",
        operator: "Beratung Nord e.V.",
        pins: ["AAAA"],
        policy: "trusted",
        addedAt: 0,
        addedBy: "admin",
      },
      {
        label: "Verein",
        origin: "wss://verein.example:443",
        family: "janus",
        operator: null,
        pins: ["BBBB"],
        policy: "trusted",
        addedAt: 1767225600,
        addedBy: "userReview",
      },
    ],
    policy: {
      systemPath: "/etc/runde/policy.json",
      sources: ["/etc/runde/policy.json"],
      onlyPresetServers: false,
      forbidRememberingPasswords: true,
      lockSettings: false,
      servers: [],
      forbidUpdates: false,
      updateSource: null,
    },
    privacyLocked: false,
    notes: [],
    ...overrides,
  };
}

const calls: { cmd: string; args: unknown }[] = [];
beforeEach(() => {
  i18n.lang = "en";
  calls.length = 0;
});
afterEach(() => {
  cleanup();
  clearMocks();
});

function engine(current: SettingsView, updates: UpdateState[] = [{ state: "off" }]) {
  // Each update command answers with the next state in `updates` (the last one repeats).
  const nextUpdate = () => (updates.length > 1 ? updates.shift() : updates[0]);
  mockIPC((cmd, args) => {
    calls.push({ cmd, args });
    switch (cmd) {
      case "update_status":
      case "check_for_updates":
      case "download_update":
        return nextUpdate();
      case "settings":
        return current;
      case "devices":
        return { microphones: [{ id: "alsa:hw1", name: "USB mic", isDefault: false }], speakers: [], cameras: [], problems: [] };
      case "save_settings":
        current = { ...current, settings: (args as { settings: SettingsView["settings"] }).settings };
        return current;
      case "forget_server":
        current = { ...current, servers: current.servers.filter((s) => s.origin !== (args as { origin: string }).origin) };
        return current;
      default:
        throw { code: "SettingsLocked" };
    }
  });
}

describe("Settings", () => {
  it("shows the administrator's servers as fixed and lets the user manage their own", async () => {
    engine(view());
    render(Settings, { onclose: () => {} });
    const servers = await screen.findAllByTestId("server");
    expect(servers.map((s) => s.dataset.addedBy)).toEqual(["admin", "userReview"]);
    expect(servers[0]!.querySelector("[data-testid=server-forget]")).toBeNull();
    expect(servers[0]!.textContent).toContain("set by your administrator");
    expect(screen.getAllByTestId("server-pins").map((p) => p.textContent)).toEqual(["AAAA", "BBBB"]);
    await fireEvent.click(servers[1]!.querySelector("[data-testid=server-forget]")!);
    await waitFor(() => expect(screen.getAllByTestId("server")).toHaveLength(1));
    expect(calls.find((c) => c.cmd === "forget_server")?.args).toEqual({ origin: "wss://verein.example:443" });
    expect(screen.getByTestId("policy").textContent).toContain("never remembered");
  });

  it("saves the language and applies it", async () => {
    engine(view());
    render(Settings, { onclose: () => {} });
    await fireEvent.click(await screen.findByTestId("language-german"));
    await fireEvent.click(screen.getByTestId("settings-save"));
    await screen.findByTestId("settings-saved");
    const saved = calls.find((c) => c.cmd === "save_settings")?.args as { settings: SettingsView["settings"] };
    expect(saved.settings.language).toBe("german");
    expect(i18n.lang).toBe("de");
  });

  it("turns push to talk on with a key combination (off by default)", async () => {
    engine(view());
    render(Settings, { onclose: () => {} });
    const select = (await screen.findByTestId("select-push-to-talk")) as HTMLSelectElement;
    expect(select.selectedOptions[0]?.textContent).toBe("Off");
    select.selectedIndex = [...select.options].findIndex((o) => o.textContent === "F8");
    await fireEvent.change(select);
    await fireEvent.click(screen.getByTestId("settings-save"));
    await screen.findByTestId("settings-saved");
    const saved = calls.find((c) => c.cmd === "save_settings")?.args as { settings: SettingsView["settings"] };
    expect(saved.settings.pushToTalk).toBe("F8");
  });

  it("explains locked choices and a recovered file", async () => {
    engine(
      view({
        privacyLocked: true,
        notes: [{ kind: "recovered", file: "settings", backup: "/home/a/.config/runde/settings.unreadable-1.json", reason: "it is not valid JSON" }],
      }),
    );
    render(Settings, { onclose: () => {} });
    expect((await screen.findByTestId("privacy-locked")).textContent).toContain("administrator");
    expect((screen.getByTestId("privacy-camera") as HTMLInputElement).closest("fieldset")?.disabled).toBe(true);
    const note = screen.getByTestId("settings-note");
    expect(note.textContent).toContain("settings.unreadable-1.json");
    expect(note.textContent).toContain("nothing was deleted");
  });

  it("shows the update switch disabled, with the reason, when the administrator forbids updates", async () => {
    engine(view(), [{ state: "forbidden" }]);
    render(Settings, { onclose: () => {} });
    const state = await screen.findByTestId("update-state");
    expect(state.dataset.state).toBe("forbidden");
    expect(state.textContent).toContain("Your administrator does not allow update checks.");
    expect((screen.getByTestId("updates-switch") as HTMLInputElement).disabled).toBe(true);
    expect(screen.queryByTestId("update-check")).toBeNull();
  });

  it("turns update checks on, checks and shows a verified download as Rust reports it", async () => {
    engine(view(), [
      { state: "off" },
      { state: "notChecked" },
      { state: "available", version: "0.2.0", current: "0.1.0" },
      { state: "verifiedUsePackageManager", version: "0.2.0" },
    ]);
    render(Settings, { onclose: () => {} });
    const toggle = (await screen.findByTestId("updates-switch")) as HTMLInputElement;
    await waitFor(() => expect(toggle.disabled).toBe(false));
    expect(toggle.checked).toBe(false);
    expect(screen.queryByTestId("update-check")).toBeNull();
    await fireEvent.click(toggle);
    await waitFor(() => expect(screen.getByTestId("update-state").dataset.state).toBe("notChecked"));
    const saved = calls.find((c) => c.cmd === "save_settings")?.args as { settings: SettingsView["settings"] };
    expect(saved.settings.privacy.lookForUpdates).toBe(true);
    await fireEvent.click(screen.getByTestId("update-check"));
    await waitFor(() => expect(screen.getByTestId("update-state").textContent).toContain("Runde 0.2.0 is available (you have 0.1.0)."));
    await fireEvent.click(screen.getByTestId("update-download"));
    await waitFor(() => expect(screen.getByTestId("update-state").dataset.state).toBe("verifiedUsePackageManager"));
    expect(screen.getByTestId("update-state").textContent).toContain("package manager");
  });
});
