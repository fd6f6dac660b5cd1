import type { BridgeFailure, UserError } from "./bindings";
import type { MessageKey } from "./messages";

/** The translated message for an error code, with its placeholders. Exhaustive over the codes. */
export function errorMessage(error: UserError | BridgeFailure): {
  key: MessageKey;
  params: Record<string, string>;
} {
  switch (error.code) {
    case "UnsupportedScheme":
      return { key: "error.UnsupportedScheme", params: { scheme: error.scheme } };
    case "BridgeFailure":
    case "ServerUnreachable":
    case "TlsFailed":
    case "NotAConferenceServer":
    case "JoinRefused":
    case "ServerLost":
    case "ProtocolError":
    case "MediaFailed":
    case "MediaPathLost":
    case "MediaBlocked":
    case "TrustStoreFailed":
    case "PolicyUnreadable":
    case "PasswordNotRemembered":
    case "SettingsFailed":
    case "ShortcutUnavailable":
    case "E2eeUnavailable":
      return { key: `error.${error.code}`, params: { detail: error.detail } };
    case "ServerBlocked":
    case "NotAllowedByPolicy":
      return { key: `error.${error.code}`, params: { origin: error.origin } };
    case "NewServer":
    case "ServerKeyChanged":
    case "ServerNotTrusted":
      return { key: `error.${error.code}`, params: {} };
    case "LinkEmpty":
    case "LinkTooLong":
    case "NotALink":
    case "LinkMissingServer":
    case "InsecureTransport":
    case "PasswordInLink":
    case "InvalidRoom":
    case "LinkWithoutRoom":
    case "PasswordRequired":
    case "WrongPassword":
    case "RoomNotFound":
    case "RoomFull":
    case "AlreadyInCall":
    case "SettingsLocked":
    case "E2eeRequired":
      return { key: `error.${error.code}`, params: {} };
  }
}
