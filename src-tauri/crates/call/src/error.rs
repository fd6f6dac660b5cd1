//! Errors the user can act on. They cross into the UI as a `code` plus data, and the UI shows a
//! translated message for each code; the UI never matches on message text.

use serde::Serialize;

/// An error the user can do something about. Serialises as `{ "code": "...", ...fields }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(tag = "code", rename_all_fields = "camelCase")]
pub enum UserError {
    /// Nothing was pasted.
    #[error("the link is empty")]
    LinkEmpty,
    /// The pasted text is longer than any real link.
    #[error("the link is too long")]
    LinkTooLong,
    /// The pasted text is not a link.
    #[error("this is not a link")]
    NotALink,
    /// The link's scheme is not one Runde joins through.
    #[error("links starting with '{scheme}:' cannot be joined")]
    UnsupportedScheme {
        /// The scheme that was given.
        scheme: String,
    },
    /// The link names no server.
    #[error("the link names no server")]
    LinkMissingServer,
    /// Unencrypted transport to another machine.
    #[error("the link uses an unencrypted connection to another machine")]
    InsecureTransport,
    /// The link carried a password or access code; it was not used.
    #[error("the link contains a password; enter it in the password field instead")]
    PasswordInLink {
        /// The link with the secret removed.
        without_secret: String,
    },
    /// The room named by the link is not a valid room identifier.
    #[error("the room name in the link is not valid")]
    InvalidRoom,
    /// The link names a server but no room, and the server needs one.
    #[error("the link names no room")]
    LinkWithoutRoom,
    /// The server cannot be reached.
    #[error("the server cannot be reached: {detail}")]
    ServerUnreachable {
        /// What went wrong, for the details view.
        detail: String,
    },
    /// A secure connection could not be made (certificate not trusted, wrong name, ...).
    #[error("a secure connection to the server failed: {detail}")]
    TlsFailed {
        /// What went wrong.
        detail: String,
    },
    /// Something answers at the link, but not a conferencing server Runde speaks.
    #[error("this is not a conferencing server Runde can talk to: {detail}")]
    NotAConferenceServer {
        /// What it did instead.
        detail: String,
    },
    /// The room needs a password and none was given.
    #[error("this room needs a password")]
    PasswordRequired,
    /// The password was not accepted.
    #[error("the password is wrong")]
    WrongPassword,
    /// The server has no such room.
    #[error("there is no such room on this server")]
    RoomNotFound,
    /// The room is full.
    #[error("the room is full")]
    RoomFull,
    /// The server refused for another reason, in its own words.
    #[error("the server refused: {detail}")]
    JoinRefused {
        /// The server's words and code.
        detail: String,
    },
    /// The connection to the server was lost during the call.
    #[error("the connection to the server was lost: {detail}")]
    ServerLost {
        /// What happened.
        detail: String,
    },
    /// The server said something Runde does not understand.
    #[error("the server sent something unexpected: {detail}")]
    ProtocolError {
        /// What was unexpected.
        detail: String,
    },
    /// The server is on the blocked list.
    #[error("you blocked the server {origin}")]
    ServerBlocked {
        /// Scheme, host and port.
        origin: String,
    },
    /// Runde has not met this server before: review it, then trust it or cancel.
    #[error("this server is new to Runde; review it before joining")]
    NewServer {
        /// What to show.
        review: Box<crate::trust::ServerReview>,
    },
    /// The server presented a different key than the one trusted: the call was blocked.
    #[error("the server's key changed; the call was blocked")]
    ServerKeyChanged {
        /// The certificate it presented now.
        review: Box<crate::trust::ServerReview>,
    },
    /// No authority the system trusts vouches for the server's certificate.
    #[error("no trusted authority vouches for this server")]
    ServerNotTrusted {
        /// What it presented, for a review.
        review: Box<crate::trust::ServerReview>,
    },
    /// The administrator's policy does not allow this server (or adding servers).
    #[error("your administrator's policy does not allow the server {origin}")]
    NotAllowedByPolicy {
        /// Scheme, host and port.
        origin: String,
    },
    /// The administrator's policy file exists but cannot be used; Runde does not join.
    #[error("{detail}")]
    PolicyUnreadable {
        /// Which file and what is wrong.
        detail: String,
    },
    /// The password was accepted but could not be remembered (no keyring, or the policy forbids it).
    #[error("the password could not be remembered: {detail}")]
    PasswordNotRemembered {
        /// Why.
        detail: String,
    },
    /// The settings cannot be read or saved.
    #[error("your settings cannot be used: {detail}")]
    SettingsFailed {
        /// What went wrong.
        detail: String,
    },
    /// The administrator's policy does not allow this change.
    #[error("your administrator's policy does not allow this change")]
    SettingsLocked,
    /// A call is already going on; leave it first.
    #[error("you are already in a call; leave it first")]
    AlreadyInCall,
    /// The room accepts only end-to-end encrypted media, and no end-to-end passphrase was given.
    #[error("this room requires end-to-end encryption: join with its end-to-end passphrase")]
    E2eeRequired,
    /// End-to-end encryption cannot be used as asked (e.g. the passphrase is too short).
    #[error("end-to-end encryption cannot be used: {detail}")]
    E2eeUnavailable {
        /// Why.
        detail: String,
    },
    /// The push-to-talk key combination cannot be used (not a key combination, or another
    /// program holds it).
    #[error("the push-to-talk key cannot be used: {detail}")]
    ShortcutUnavailable {
        /// Why.
        detail: String,
    },
    /// The list of trusted servers cannot be read or saved.
    #[error("the list of trusted servers cannot be used: {detail}")]
    TrustStoreFailed {
        /// What went wrong.
        detail: String,
    },
    /// A microphone, speaker, camera or media file could not be used.
    #[error("a media device could not be used: {detail}")]
    MediaFailed {
        /// What went wrong.
        detail: String,
    },
    /// The connection that carries sound and picture broke while the call was on: this
    /// computer's address went away, or the network stopped carrying it. Not a device problem.
    #[error("the connection for sound and picture broke: {detail}")]
    MediaPathLost {
        /// What broke.
        detail: String,
    },
    /// The server answered, but no sound or picture got through to it: the network blocks media
    /// (often all UDP), and no TURN server relayed it.
    #[error(
        "no sound or picture got through to the server; this network may block calls: {detail}"
    )]
    MediaBlocked {
        /// What was tried.
        detail: String,
    },
}

impl UserError {
    /// The stable code the UI translates, as it appears in the serialised form.
    pub fn code(&self) -> &'static str {
        match self {
            Self::LinkEmpty => "LinkEmpty",
            Self::LinkTooLong => "LinkTooLong",
            Self::NotALink => "NotALink",
            Self::UnsupportedScheme { .. } => "UnsupportedScheme",
            Self::LinkMissingServer => "LinkMissingServer",
            Self::InsecureTransport => "InsecureTransport",
            Self::PasswordInLink { .. } => "PasswordInLink",
            Self::InvalidRoom => "InvalidRoom",
            Self::LinkWithoutRoom => "LinkWithoutRoom",
            Self::ServerUnreachable { .. } => "ServerUnreachable",
            Self::TlsFailed { .. } => "TlsFailed",
            Self::NotAConferenceServer { .. } => "NotAConferenceServer",
            Self::PasswordRequired => "PasswordRequired",
            Self::WrongPassword => "WrongPassword",
            Self::RoomNotFound => "RoomNotFound",
            Self::RoomFull => "RoomFull",
            Self::JoinRefused { .. } => "JoinRefused",
            Self::ServerLost { .. } => "ServerLost",
            Self::ProtocolError { .. } => "ProtocolError",
            Self::MediaFailed { .. } => "MediaFailed",
            Self::MediaPathLost { .. } => "MediaPathLost",
            Self::MediaBlocked { .. } => "MediaBlocked",
            Self::ServerBlocked { .. } => "ServerBlocked",
            Self::NewServer { .. } => "NewServer",
            Self::ServerKeyChanged { .. } => "ServerKeyChanged",
            Self::ServerNotTrusted { .. } => "ServerNotTrusted",
            Self::TrustStoreFailed { .. } => "TrustStoreFailed",
            Self::PasswordNotRemembered { .. } => "PasswordNotRemembered",
            Self::AlreadyInCall => "AlreadyInCall",
            Self::ShortcutUnavailable { .. } => "ShortcutUnavailable",
            Self::E2eeUnavailable { .. } => "E2eeUnavailable",
            Self::E2eeRequired => "E2eeRequired",
            Self::SettingsFailed { .. } => "SettingsFailed",
            Self::SettingsLocked => "SettingsLocked",
            Self::NotAllowedByPolicy { .. } => "NotAllowedByPolicy",
            Self::PolicyUnreadable { .. } => "PolicyUnreadable",
        }
    }

    /// Whether typing another password can fix it (the join can be retried in place).
    pub fn is_password_problem(&self) -> bool {
        matches!(self, Self::PasswordRequired | Self::WrongPassword)
    }
}

impl UserError {
    /// A connection error for the server at `origin`.
    pub fn from_connect(e: runde_connect::ConnectError, origin: &str) -> Self {
        use runde_connect::ConnectError as C;
        match e {
            C::Unreachable { reason } => Self::ServerUnreachable { detail: reason },
            C::Tls { reason } => Self::TlsFailed { detail: reason },
            C::NotAConferenceServer { reason } => Self::NotAConferenceServer { detail: reason },
            C::KeyChanged { presented } => Self::ServerKeyChanged {
                review: Box::new(crate::trust::ServerReview::new(origin, &presented)),
            },
            C::UntrustedCertificate { presented } => Self::ServerNotTrusted {
                review: Box::new(crate::trust::ServerReview::new(origin, &presented)),
            },
        }
    }
}

impl From<runde_connect::janus::JoinError> for UserError {
    fn from(e: runde_connect::janus::JoinError) -> Self {
        use runde_connect::janus::JoinError as J;
        match e {
            J::PasswordRequired => Self::PasswordRequired,
            J::WrongPassword => Self::WrongPassword,
            J::RoomNotFound => Self::RoomNotFound,
            J::RoomFull => Self::RoomFull,
            J::Refused { code, reason } => Self::JoinRefused {
                detail: format!("{reason} ({code})"),
            },
        }
    }
}

impl From<runde_connect::LinkError> for UserError {
    fn from(e: runde_connect::LinkError) -> Self {
        use runde_connect::LinkError as L;
        match e {
            L::Empty => Self::LinkEmpty,
            L::TooLong { .. } => Self::LinkTooLong,
            L::NotALink => Self::NotALink,
            L::UnsupportedScheme { scheme } => Self::UnsupportedScheme { scheme },
            L::MissingHost => Self::LinkMissingServer,
            L::InsecureTransport => Self::InsecureTransport,
            L::PasswordInLink { without_secret } => Self::PasswordInLink { without_secret },
            L::InvalidRoom => Self::InvalidRoom,
        }
    }
}
