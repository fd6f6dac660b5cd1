//! Remembered room passwords: only in the operating system's keyring (the Secret Service on Linux,
//! the login keychain on macOS, the Credential Manager on Windows), only when the user asks, never
//! when the administrator's policy forbids it, never in a file of ours. Without a reachable keyring the user is told and nothing is remembered.

use std::sync::Once;

/// The keyring "service" our entries live under.
const SERVICE: &str = "org.runde.Runde";

/// Why a password could not be remembered or recalled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No keyring is reachable (no desktop session, locked, not supported here).
    #[error("the system keyring cannot be used: {reason}")]
    Unavailable {
        /// What the system said.
        reason: String,
    },
    /// The administrator's policy forbids remembering passwords.
    #[error("your administrator's policy does not allow remembering passwords")]
    ForbiddenByPolicy,
}

static STORE: Once = Once::new();

fn unavailable(e: impl std::fmt::Display) -> SecretError {
    SecretError::Unavailable {
        reason: e.to_string(),
    }
}

/// Use the system's keyring for this process.
fn ensure_store() -> Result<(), SecretError> {
    let mut result = Ok(());
    STORE.call_once(|| {
        #[cfg(target_os = "linux")]
        match zbus_secret_service_keyring_store::Store::new() {
            Ok(store) => keyring_core::set_default_store(store),
            Err(e) => result = Err(unavailable(e)),
        }
        #[cfg(target_os = "macos")]
        match apple_native_keyring_store::keychain::Store::new() {
            Ok(store) => keyring_core::set_default_store(store),
            Err(e) => result = Err(unavailable(e)),
        }
        #[cfg(windows)]
        match windows_native_keyring_store::Store::new() {
            Ok(store) => keyring_core::set_default_store(store),
            Err(e) => result = Err(unavailable(e)),
        }
        #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
        {
            result = Err(unavailable("no keyring is supported on this system"));
        }
    });
    result?;
    keyring_core::get_default_store()
        .map(|_| ())
        .ok_or_else(|| unavailable("no keyring store"))
}

/// The keyring account for a room on a server.
fn account(origin: &str, room: &str) -> String {
    format!("{origin}#{room}")
}

fn entry(origin: &str, room: &str) -> Result<keyring_core::Entry, SecretError> {
    ensure_store()?;
    keyring_core::Entry::new(SERVICE, &account(origin, room)).map_err(unavailable)
}

/// Remember a room's password (the caller checked that the user asked for it).
pub fn remember(
    origin: &str,
    room: &str,
    password: &str,
    forbidden_by_policy: bool,
) -> Result<(), SecretError> {
    if forbidden_by_policy {
        return Err(SecretError::ForbiddenByPolicy);
    }
    entry(origin, room)?
        .set_password(password)
        .map_err(unavailable)
}

/// The remembered password for a room, if any.
pub fn recall(origin: &str, room: &str) -> Result<Option<String>, SecretError> {
    match entry(origin, room)?.get_password() {
        Ok(password) => Ok(Some(password)),
        Err(keyring_core::Error::NoEntry) => Ok(None),
        Err(e) => Err(unavailable(e)),
    }
}

/// Forget a room's password (nothing to do if none was remembered).
pub fn forget(origin: &str, room: &str) -> Result<(), SecretError> {
    match entry(origin, room)?.delete_credential() {
        Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
        Err(e) => Err(unavailable(e)),
    }
}
