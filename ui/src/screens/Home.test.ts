// Component behaviour with Tauri's IPC replaced by its official test double; the real round trip
// through the Rust engine is covered by the end-to-end test in tests/.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
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
      if (cmd === "startup_link") return null;
      calls.push({ cmd, args });
      return { server: "meet.example.org", endpoint: "wss://meet.example.org/j", room: "7", tls: true };
    });
    render(Home);
    await submit("https://meet.example.org/j?room=7");
    expect(await screen.findByTestId("report-server")).toHaveProperty("textContent", "meet.example.org");
    expect(screen.getByTestId("report-room").textContent).toBe("7");
    expect(calls).toEqual([{ cmd: "check_link", args: { link: "https://meet.example.org/j?room=7" } }]);
  });

  it("pastes a link from the clipboard only when asked, and checks it", async () => {
    let clipboard: string | null = null;
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      if (cmd === "startup_link") return null;
      if (cmd === "clipboard_text") return clipboard;
      return { server: "meet.example.org", endpoint: "wss://meet.example.org/j", room: "7", tls: true };
    });
    render(Home);
    await waitFor(() => expect(calls.map((c) => c.cmd)).toEqual(["startup_link"]));
    await fireEvent.click(screen.getByTestId("paste-link"));
    expect(await screen.findByTestId("paste-empty")).toBeTruthy();
    clipboard = "https://meet.example.org/j?room=7";
    await fireEvent.click(screen.getByTestId("paste-link"));
    expect(await screen.findByTestId("report-room")).toHaveProperty("textContent", "7");
    expect((screen.getByTestId("link-input") as HTMLInputElement).value).toBe(clipboard);
    expect(calls.map((c) => c.cmd)).toEqual(["startup_link", "clipboard_text", "clipboard_text", "check_link"]);
    expect(screen.queryByTestId("paste-empty")).toBeNull();
  });

  it("says what this computer knows about the link's server before anything is sent", async () => {
    mockIPC((cmd) => {
      if (cmd === "startup_link") return null;
      return {
        server: "meet.example.org",
        endpoint: "wss://meet.example.org/j",
        room: "7",
        tls: true,
        known: { state: "trusted", label: "Verein", family: "janus", operator: "Verein e.V.", byAdmin: false },
      };
    });
    render(Home);
    await submit("https://meet.example.org/j?room=7");
    const known = await screen.findByTestId("report-known");
    expect(known.dataset.state).toBe("trusted");
    expect(known.textContent).toContain("trusted by you: “Verein”");
    expect(known.textContent).toContain("run by Verein e.V. (as declared)");
  });

  it("says when the administrator does not allow the link's server", async () => {
    mockIPC((cmd) => {
      if (cmd === "startup_link") return null;
      return { server: "x.example", endpoint: "wss://x.example/j", room: "7", tls: true, known: { state: "notAllowed" } };
    });
    render(Home);
    await submit("https://x.example/j?room=7");
    expect((await screen.findByTestId("report-known")).textContent).toContain("not allowed by your administrator");
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

  describe("joining", () => {
    const report = { server: "meet.example.org", endpoint: "wss://meet.example.org/j", room: "7", tls: true };
    const review = {
      origin: "wss://meet.example.org:443",
      subject: "CN=meet.example.org",
      issuer: "CN=Test CA",
      organisation: null,
      notBefore: 1767225600,
      notAfter: 1798761600,
      keySha256: "k3yH4sh=",
      trustedBySystem: false,
      operatorStatement: {
        name: "Beratung Nord e.V.",
        legalEntity: null,
        country: "DE",
        contact: null,
        privacyPolicyUrl: null,
        dataProcessingAgreementUrl: null,
        recordingPolicy: "never",
        logRetentionDays: 7,
      },
    };

    async function fillAndJoin(password: string) {
      await submit("https://meet.example.org/j?room=7");
      await screen.findByTestId("join-form");
      await fireEvent.input(screen.getByTestId("password-input"), { target: { value: password } });
      await fireEvent.input(screen.getByTestId("name-input"), { target: { value: " Ada " } });
      await fireEvent.click(screen.getByTestId("join"));
    }

    it("keeps the form after a wrong password, says so and lets the user retry", async () => {
      let attempts = 0;
      mockIPC((cmd, args) => {
        if (cmd === "startup_link") return null;
      calls.push({ cmd, args });
        if (cmd === "check_link") return report;
        attempts += 1;
        if (attempts === 1) throw { code: "WrongPassword" };
        return null;
      });
      let joined = 0;
      render(Home, { onjoined: () => (joined += 1) });
      await fillAndJoin("wrong");
      const alert = await screen.findByTestId("join-error");
      expect(alert.dataset.code).toBe("WrongPassword");
      const field = screen.getByTestId("password-input") as HTMLInputElement;
      expect(field.getAttribute("aria-invalid")).toBe("true");
      expect(document.activeElement).toBe(field);
      await fireEvent.input(field, { target: { value: "right" } });
      await fireEvent.click(screen.getByTestId("join"));
      await waitFor(() => expect(joined).toBe(1));
      const joins = calls.filter((c) => c.cmd === "join").map((c) => (c.args as { request: Record<string, unknown> }).request);
      expect(joins.map((r) => r.password)).toEqual(["wrong", "right"]);
      expect(joins[0]).toMatchObject({
        displayName: "Ada",
        microphone: false,
        camera: false,
        acceptNewServer: false,
        rememberPassword: false,
        e2eePassphrase: null,
      });
    });

    it("shows a new server for review, labels its statement self-declared, and pins it only on request", async () => {
      mockIPC((cmd, args) => {
        if (cmd === "startup_link") return null;
      calls.push({ cmd, args });
        if (cmd === "check_link") return report;
        const request = (args as { request: { acceptNewServer: boolean } }).request;
        if (!request.acceptNewServer) throw { code: "NewServer", review };
        return null;
      });
      let joined = 0;
      render(Home, { onjoined: () => (joined += 1) });
      await fillAndJoin("");
      const panel = await screen.findByTestId("review");
      expect(panel.dataset.kind).toBe("NewServer");
      expect(screen.getByTestId("review-key").textContent).toBe("k3yH4sh=");
      expect(screen.getByTestId("review-self-declared").textContent).toContain("nobody has checked");
      expect(screen.getByTestId("review-statement").textContent).toContain("Beratung Nord e.V.");
      expect(joined).toBe(0);
      await fireEvent.click(screen.getByTestId("review-trust"));
      await waitFor(() => expect(joined).toBe(1));
      const joins = calls.filter((c) => c.cmd === "join").map((c) => (c.args as { request: Record<string, unknown> }).request);
      expect(joins.map((r) => r.acceptNewServer)).toEqual([false, true]);
      expect(joins[0]?.password).toBeNull();
    });

    it("offers no way to trust a server whose key changed", async () => {
      mockIPC((cmd) => {
        if (cmd === "check_link") return report;
        throw { code: "ServerKeyChanged", review };
      });
      render(Home);
      await fillAndJoin("");
      const panel = await screen.findByTestId("review");
      expect(panel.dataset.kind).toBe("ServerKeyChanged");
      expect(screen.queryByTestId("review-trust")).toBeNull();
      await fireEvent.click(screen.getByTestId("review-cancel"));
      expect(screen.queryByTestId("review")).toBeNull();
      expect(screen.getByTestId("join-form")).toBeTruthy();
    });
  });

  it("checks the link Runde was started with, and does not join by itself", async () => {
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      if (cmd === "startup_link") return "https://meet.example.org/j?room=7";
      return { server: "meet.example.org", endpoint: "wss://meet.example.org/j", room: "7", tls: true };
    });
    render(Home);
    expect((await screen.findByTestId("report-room")).textContent).toBe("7");
    expect((screen.getByTestId("link-input") as HTMLInputElement).value).toBe("https://meet.example.org/j?room=7");
    expect(calls.map((c) => c.cmd)).toEqual(["startup_link", "check_link"]);
    expect(screen.getByTestId("join-form")).toBeTruthy();
  });
});
