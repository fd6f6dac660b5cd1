import { describe, expect, it } from "vitest";
import type { BridgeFailure, ServerReview, UserError } from "./bindings";
import { errorMessage } from "./errors";
import { i18n } from "./i18n.svelte";

const review: ServerReview = {
  origin: "wss://meet.example.org:443",
  subject: "CN=meet.example.org",
  issuer: "CN=Test CA",
  organisation: null,
  notBefore: 0,
  notAfter: 1,
  keySha256: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
  trustedBySystem: false,
  operatorStatement: null,
};

const everyError: (UserError | BridgeFailure)[] = [
  { code: "LinkEmpty" },
  { code: "LinkTooLong" },
  { code: "NotALink" },
  { code: "UnsupportedScheme", scheme: "ftp" },
  { code: "LinkMissingServer" },
  { code: "InsecureTransport" },
  { code: "PasswordInLink", withoutSecret: "https://meet.example.org/?room=1" },
  { code: "InvalidRoom" },
  { code: "LinkWithoutRoom" },
  { code: "ServerUnreachable", detail: "connection refused" },
  { code: "TlsFailed", detail: "unknown issuer" },
  { code: "NotAConferenceServer", detail: "it answered HTTP 404" },
  { code: "PasswordRequired" },
  { code: "WrongPassword" },
  { code: "RoomNotFound" },
  { code: "RoomFull" },
  { code: "JoinRefused", detail: "banned (499)" },
  { code: "ServerLost", detail: "keepalive timeout" },
  { code: "ProtocolError", detail: "no answer" },
  { code: "MediaFailed", detail: "no microphone" },
  { code: "MediaPathLost", detail: "this computer's address 192.0.2.7 went away" },
  { code: "MediaBlocked", detail: "no TURN server configured" },
  { code: "ServerBlocked", origin: "wss://meet.example.org:443" },
  { code: "NewServer", review },
  { code: "ServerKeyChanged", review },
  { code: "ServerNotTrusted", review },
  { code: "TrustStoreFailed", detail: "read-only folder" },
  { code: "PasswordNotRemembered", detail: "no keyring" },
  { code: "AlreadyInCall" },
  { code: "SettingsFailed", detail: "read-only folder" },
  { code: "SettingsLocked" },
  { code: "NotAllowedByPolicy", origin: "wss://meet.example.org:443" },
  { code: "PolicyUnreadable", detail: "/etc/runde/policy.json: expected value" },
  { code: "BridgeFailure", detail: "ipc closed" },
];

describe("error messages", () => {
  it.each(["en", "de"] as const)("every code has a complete %s message", (lang) => {
    i18n.lang = lang;
    for (const error of everyError) {
      const { key, params } = errorMessage(error);
      const text = i18n.t(key, params);
      expect(text, error.code).not.toMatch(/\{\w+\}/);
      expect(text.length, error.code).toBeGreaterThan(10);
    }
  });

  it("never shows the cleaned link inside the message text", () => {
    const { key, params } = errorMessage(everyError[6] as UserError);
    expect(i18n.t(key, params)).not.toContain("meet.example.org");
  });
});
