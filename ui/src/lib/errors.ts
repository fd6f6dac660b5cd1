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
      return { key: "error.BridgeFailure", params: { detail: error.detail } };
    case "LinkEmpty":
    case "LinkTooLong":
    case "NotALink":
    case "LinkMissingServer":
    case "InsecureTransport":
    case "PasswordInLink":
    case "InvalidRoom":
      return { key: `error.${error.code}`, params: {} };
  }
}
