// Component behaviour with Tauri's IPC replaced by its official test double; the real round trip
// through the Rust engine is covered by the end-to-end test in tests/.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import Home from "./Home.svelte";
import { i18n } from "../lib/i18n.svelte";

const calls: { cmd: string; args: unknown }[] = [];

beforeEach(() => {
  i18n.lang = "en";
  calls.length = 0;
});
afterEach(() => {
  cleanup();
  clearMocks();
});

async function submit(link: string) {
  const input = screen.getByTestId("link-input") as HTMLInputElement;
  await fireEvent.input(input, { target: { value: link } });
  await fireEvent.click(screen.getByTestId("check-link"));
  return input;
}

describe("Home", () => {
  it("shows the report the engine returns", async () => {
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      return { server: "meet.example.org", endpoint: "wss://meet.example.org/j", room: "7", tls: true };
    });
    render(Home);
    await submit("https://meet.example.org/j?room=7");
    expect(await screen.findByTestId("report-server")).toHaveProperty("textContent", "meet.example.org");
    expect(screen.getByTestId("report-room").textContent).toBe("7");
    expect(calls).toEqual([{ cmd: "check_link", args: { link: "https://meet.example.org/j?room=7" } }]);
  });

  it("clears a refused link that held a password and offers the cleaned one", async () => {
    mockIPC(() => {
      throw { code: "PasswordInLink", withoutSecret: "https://meet.example.org/?room=1" };
    });
    render(Home);
    const input = await submit("https://meet.example.org/?room=1&pin=4711");
    const alert = await screen.findByTestId("link-error");
    expect(alert.dataset.code).toBe("PasswordInLink");
    expect(input.value).toBe("");
    await fireEvent.click(screen.getByTestId("use-clean-link"));
    expect(input.value).toBe("https://meet.example.org/?room=1");
    expect(screen.queryByTestId("link-error")).toBeNull();
  });

  it("reports a broken bridge instead of failing silently", async () => {
    mockIPC(() => {
      throw "command check_link not found";
    });
    render(Home);
    await submit("https://meet.example.org/?room=1");
    const alert = await screen.findByTestId("link-error");
    expect(alert.dataset.code).toBe("BridgeFailure");
    expect(alert.textContent).toContain("command check_link not found");
  });
});
