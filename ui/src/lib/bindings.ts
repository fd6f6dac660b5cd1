// Generated from the Rust types in src-tauri by `cargo xtask bindings`. Do not edit by hand.
import { invoke } from "@tauri-apps/api/core";

/** A failure of the bridge itself (not an error the engine reported). */
export type BridgeFailure = { code: "BridgeFailure"; detail: string };

/** What a command returns: its value, or an error the UI shows by its code. */
export type CommandResult<T> = { ok: true; value: T } | { ok: false; error: UserError | BridgeFailure };

async function call<T>(name: string, args: Record<string, unknown>): Promise<CommandResult<T>> {
  try {
    return { ok: true, value: await invoke<T>(name, args) };
  } catch (e) {
    if (typeof e === "object" && e !== null && "code" in e) {
      return { ok: false, error: e as UserError };
    }
    return { ok: false, error: { code: "BridgeFailure", detail: String(e) } };
  }
}

export type LinkReport = { 
/**
 * The server as people recognise it: host, and port when not the default.
 */
server: string, 
/**
 * The signalling endpoint Runde would connect to.
 */
endpoint: string, 
/**
 * The room the link names, if it names one.
 */
room: string | null, 
/**
 * Whether the connection to the server is TLS-protected. False only for loopback servers.
 */
tls: boolean, };

export type SelfDeclaredOperator = { 
/**
 * The operator's name.
 */
name: string, 
/**
 * The legal entity responsible.
 */
legalEntity: string | null, 
/**
 * Country of establishment.
 */
country: string | null, 
/**
 * How to reach them.
 */
contact: string | null, 
/**
 * Privacy policy.
 */
privacyPolicyUrl: string | null, 
/**
 * Data-processing agreement.
 */
dataProcessingAgreementUrl: string | null, 
/**
 * Their recording policy, in their words.
 */
recordingPolicy: string | null, 
/**
 * How long connection logs are kept, in days.
 */
logRetentionDays: number | null, };

export type ServerReview = { 
/**
 * Scheme, host and port.
 */
origin: string, 
/**
 * Who the certificate is for.
 */
subject: string, 
/**
 * Who signed it.
 */
issuer: string, 
/**
 * The organisation in the certificate, if any (vouched for by the issuer only when
 * `trusted_by_system`).
 */
organisation: string | null, 
/**
 * Valid from (seconds since 1970, UTC).
 */
notBefore: number, 
/**
 * Valid until (seconds since 1970, UTC).
 */
notAfter: number, 
/**
 * SHA-256 of the server's public key (base64): what gets pinned.
 */
keySha256: string, 
/**
 * Whether an authority the system trusts vouches for the certificate.
 */
trustedBySystem: boolean, 
/**
 * What the server says about its operator (self-declared), if it publishes a statement.
 */
operatorStatement: SelfDeclaredOperator | null, };

export type UserError = { "code": "LinkEmpty" } | { "code": "LinkTooLong" } | { "code": "NotALink" } | { "code": "UnsupportedScheme", 
/**
 * The scheme that was given.
 */
scheme: string, } | { "code": "LinkMissingServer" } | { "code": "InsecureTransport" } | { "code": "PasswordInLink", 
/**
 * The link with the secret removed.
 */
withoutSecret: string, } | { "code": "InvalidRoom" } | { "code": "LinkWithoutRoom" } | { "code": "ServerUnreachable", 
/**
 * What went wrong, for the details view.
 */
detail: string, } | { "code": "TlsFailed", 
/**
 * What went wrong.
 */
detail: string, } | { "code": "NotAConferenceServer", 
/**
 * What it did instead.
 */
detail: string, } | { "code": "PasswordRequired" } | { "code": "WrongPassword" } | { "code": "RoomNotFound" } | { "code": "RoomFull" } | { "code": "JoinRefused", 
/**
 * The server's words and code.
 */
detail: string, } | { "code": "ServerLost", 
/**
 * What happened.
 */
detail: string, } | { "code": "ProtocolError", 
/**
 * What was unexpected.
 */
detail: string, } | { "code": "ServerBlocked", 
/**
 * Scheme, host and port.
 */
origin: string, } | { "code": "NewServer", 
/**
 * What to show.
 */
review: ServerReview, } | { "code": "ServerKeyChanged", 
/**
 * The certificate it presented now.
 */
review: ServerReview, } | { "code": "ServerNotTrusted", 
/**
 * What it presented, for a review.
 */
review: ServerReview, } | { "code": "NotAllowedByPolicy", 
/**
 * Scheme, host and port.
 */
origin: string, } | { "code": "PolicyUnreadable", 
/**
 * Which file and what is wrong.
 */
detail: string, } | { "code": "PasswordNotRemembered", 
/**
 * Why.
 */
detail: string, } | { "code": "TrustStoreFailed", 
/**
 * What went wrong.
 */
detail: string, } | { "code": "MediaFailed", 
/**
 * What went wrong.
 */
detail: string, };

/** Check a pasted link without contacting any server. */
export function checkLink(link: string): Promise<CommandResult<LinkReport>> {
  return call<LinkReport>("check_link", { link });
}
